//! Byzantine replicas: a real [`bftledger_consensus::Replica`] (so it has its key, follows the
//! views and knows what to say) whose outgoing messages a [`Strategy`] rewrites before they
//! reach the network. Everything a strategy sends is signed through the consensus message
//! constructors ([`SignedMessage::sign`]) with the Byzantine replica's own key, except forged
//! messages, which claim another replica's id and so carry a signature that cannot verify.
//!
//! Strategies (the seed picks one per Byzantine replica):
//! - `Silent`: sends nothing;
//! - `Equivocate`: as primary, sends one batch to some backups and a different (valid) batch to
//!   the others, and commits each side's digest to that side; as backup, prepares and commits
//!   every digest it saw proposed for a slot, a different one to each half;
//! - `ConflictingVotes`: each prepare/commit/checkpoint goes out with the true digest to some
//!   replicas and a made-up digest to others; a pre-prepare it relays for another primary (a
//!   retransmission or a FETCH-BATCH answer) goes out to some with another batch under the
//!   primary's genuine signature (the batch is unsigned: it must be refused by digest and never
//!   count against the primary);
//! - `ForgeSignatures`: sends its messages, plus copies claiming to be from another replica
//!   (signed with the wrong key, or with garbage);
//! - `ReplayOld`: sends its messages, and re-sends old messages it received (old views, old
//!   seqs) to random replicas;
//! - `InvalidBatches`: as primary, proposes batches with a request no client signed, or that
//!   does not decode;
//! - `Censor`: ignores every request of one victim client (its replica never proposes them),
//!   while the others' requests keep executing (OSDI'99 §4.4's timer must still replace it);
//! - `ViewChangeLiar`: its VIEW-CHANGEs omit some or all of its prepared certificates (a lie
//!   by omission, re-signed with its own key);
//! - `CheckpointSplitter`: signs correct checkpoints but sends each to only f replicas, so
//!   that with one correct signer they hold f+1 votes (enough to fetch, not to be stable);
//! - `ForkHunter`: `CheckpointSplitter` and `ViewChangeLiar` together (the safety-holes issue's
//!   fork: fetches on f+1 votes, then a view change built from VIEW-CHANGEs that omit
//!   certificates);
//! - `BatchSwapper`: re-sends the primary's genuine signed PRE-PREPAREs to the other backups
//!   with a junk oversized batch (the unsigned part) and joins a view change at once, trying to
//!   make correct backups accuse a correct primary;
//! - `NewViewForger`: as the new primary, sends the honest NEW-VIEW, or to each backup one
//!   built from a different (valid) choice of 2f+1 VIEW-CHANGEs, or (to all or to half of the
//!   backups) one whose O-set re-proposes a seq with the null batch (invalid: O does not
//!   follow from V);
//! - `Twins` (Bano et al. 2020): not a rewriting strategy; the cluster runs a second honest
//!   instance with the same key, and each correct replica talks to one of the two instances
//!   (`crate::twins`), so equivocation appears in every message kind;
//! - `Mixed`: picks one of the rewriting strategies above per message.
//!
//! Every Byzantine host but a `Silent` one forwards client requests to every replica except the
//! primary of its view (a selective forwarder), where a correct host forwards to all.

use std::collections::BTreeMap;

use bftledger_consensus::{
    batch_digest, compute_o_set, null_digest, Message, NewView, Outbound, PrePrepare, Request,
    SignedMessage, SignedPrePrepare, SignedViewChange, Target,
};
use bftledger_crypto::{Digest, SecretKey, Signature};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::bank;

/// How a Byzantine replica misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Strategy {
    /// Sends nothing.
    Silent,
    /// Different batches to different backups; votes for everything.
    Equivocate,
    /// Votes for made-up digests towards some replicas.
    ConflictingVotes,
    /// Impersonates other replicas (signatures that cannot verify).
    ForgeSignatures,
    /// Replays old messages.
    ReplayOld,
    /// Proposes batches with forged or malformed requests.
    InvalidBatches,
    /// As primary, never proposes one client's requests.
    Censor,
    /// VIEW-CHANGEs that omit prepared certificates.
    ViewChangeLiar,
    /// Checkpoints sent to f replicas only.
    CheckpointSplitter,
    /// `CheckpointSplitter` and `ViewChangeLiar` at once.
    ForkHunter,
    /// Genuine PRE-PREPAREs relayed with junk batches, and an eager VIEW-CHANGE.
    BatchSwapper,
    /// As new primary, a different NEW-VIEW to each backup (valid or with a forged O-set).
    NewViewForger,
    /// Two honest instances with one key, each talking to its own side of the cluster.
    Twins,
    /// One of the rewriting strategies, drawn per message.
    Mixed,
}

/// Every strategy, for drawing and for coverage reports (`Mixed` last).
pub const STRATEGIES: [Strategy; 14] = [
    Strategy::Silent,
    Strategy::Equivocate,
    Strategy::ConflictingVotes,
    Strategy::ForgeSignatures,
    Strategy::ReplayOld,
    Strategy::InvalidBatches,
    Strategy::Censor,
    Strategy::ViewChangeLiar,
    Strategy::CheckpointSplitter,
    Strategy::ForkHunter,
    Strategy::BatchSwapper,
    Strategy::NewViewForger,
    Strategy::Twins,
    Strategy::Mixed,
];

/// The strategies `Mixed` draws from per message: those that rewrite messages (every strategy
/// but the last two, `Twins` and `Mixed`).
fn per_message() -> &'static [Strategy] {
    let rewriting = &STRATEGIES[..STRATEGIES.len() - 2];
    debug_assert!(!rewriting.contains(&Strategy::Twins) && !rewriting.contains(&Strategy::Mixed));
    rewriting
}

/// Sequence numbers an `InvalidBatches` primary jumps ahead by, now and then: beyond any
/// watermark window of the simulator (no correct backup may accept such a slot).
const SEQ_JUMP: u64 = 1 << 10;

/// PRE-PREPAREs (the latest) whose relay a `BatchSwapper` remembers, so as to relay each once.
const SWAPPED_PROPOSALS_KEPT: usize = 1024;

/// VIEW-CHANGEs a `NewViewForger` keeps, per view, for building other NEW-VIEWs.
const VIEW_CHANGES_KEPT: usize = 16;
/// Views (the highest) whose VIEW-CHANGEs a `NewViewForger` keeps.
const VIEWS_KEPT: usize = 8;

/// The client whose requests a `Censor` primary leaves out.
pub const CENSORED_CLIENT: usize = 0;

/// Old messages kept for replay, at most.
const REPLAY_BUFFER_MAX: usize = 256;

impl Strategy {
    /// Draws a strategy uniformly.
    pub fn draw(rng: &mut ChaCha8Rng) -> Strategy {
        *STRATEGIES.choose(rng).expect("nonempty")
    }
}

/// How a Byzantine replica serves state transfer ([`Byzantine::donor_role`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DonorRole {
    /// Answers with its snapshot, like a correct replica.
    Honest,
    /// Never answers.
    Silent,
    /// Withholds, or serves another height or a tampered state.
    Liar,
}

/// A message the Byzantine replica wants on the wire.
#[derive(Clone, Debug)]
pub struct Send {
    /// Destination replica.
    pub to: usize,
    /// The message.
    pub message: SignedMessage,
}

/// The state a Byzantine strategy keeps beside its replica.
pub struct Byzantine {
    strategy: Strategy,
    id: u32,
    n: usize,
    key: SecretKey,
    /// Messages received, for replay (bounded).
    received: Vec<SignedMessage>,
    /// Batches seen proposed per (view, seq), for voting on all of them.
    proposals: BTreeMap<(u64, u64), Vec<Digest>>,
    /// Messages sent by this replica's strategy so far.
    pub sent: u64,
    /// Sends decided while observing received messages (see [`Byzantine::take_injected`]).
    injected: Vec<Send>,
    /// Views for which `BatchSwapper` already sent its eager VIEW-CHANGE.
    swapped_views: std::collections::BTreeSet<u64>,
    /// (view, seq, digest) of the PRE-PREPAREs `BatchSwapper` relayed on receiving them: each
    /// once. Relaying every copy made two swappers relay each other's relays without end (n = 7
    /// seed 2012: the same PRE-PREPARE delivered 10^5 times per tick, growing with duplication).
    swapped_proposals: std::collections::BTreeSet<(u64, u64, Digest)>,
    /// VIEW-CHANGEs received, per target view (`NewViewForger`; bounded).
    view_changes: BTreeMap<u64, Vec<SignedViewChange>>,
}

impl Byzantine {
    /// A Byzantine driver for replica `id` of `n`, holding its key.
    pub fn new(strategy: Strategy, id: u32, n: usize, key: SecretKey) -> Byzantine {
        Byzantine {
            strategy,
            id,
            n,
            key,
            received: Vec::new(),
            proposals: BTreeMap::new(),
            sent: 0,
            injected: Vec::new(),
            swapped_views: std::collections::BTreeSet::new(),
            swapped_proposals: std::collections::BTreeSet::new(),
            view_changes: BTreeMap::new(),
        }
    }

    /// Messages this replica decided to send on receiving something (not in reply to its own
    /// replica's output): the cluster sends them after the delivery.
    pub fn take_injected(&mut self) -> Vec<Send> {
        self.sent += self.injected.len() as u64;
        std::mem::take(&mut self.injected)
    }

    /// The strategy.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// Watches a message the replica received (for replay, for voting on every proposal, and
    /// for `BatchSwapper`'s relays).
    pub fn observe(&mut self, message: &SignedMessage) {
        if self.strategy == Strategy::BatchSwapper {
            self.swap_batch(message);
        }
        if let Message::PrePrepare { pre_prepare, .. } = &message.message {
            let seen = self
                .proposals
                .entry((pre_prepare.view, pre_prepare.seq))
                .or_default();
            if !seen.contains(&pre_prepare.digest) && seen.len() < 4 {
                seen.push(pre_prepare.digest);
            }
            while self.proposals.len() > 256 {
                self.proposals.pop_first();
            }
        }
        let forges = matches!(self.strategy, Strategy::NewViewForger | Strategy::Mixed);
        if let (Message::ViewChange(view_change), true) = (&message.message, forges) {
            let kept = self.view_changes.entry(view_change.new_view).or_default();
            if kept.len() < VIEW_CHANGES_KEPT && kept.iter().all(|k| k.from != message.from) {
                kept.push(SignedViewChange {
                    from: message.from,
                    view_change: view_change.clone(),
                    signature: message.signature,
                });
            }
            while self.view_changes.len() > VIEWS_KEPT {
                self.view_changes.pop_first();
            }
        }
        if self.received.len() < REPLAY_BUFFER_MAX {
            self.received.push(message.clone());
        }
    }

    /// Rewrites the replica's outgoing messages according to the strategy.
    pub fn rewrite(&mut self, rng: &mut ChaCha8Rng, outbound: Vec<Outbound>) -> Vec<Send> {
        let mut sends = Vec::new();
        for out in outbound {
            let strategy = match self.strategy {
                Strategy::Mixed => *per_message().choose(rng).expect("nonempty"),
                other => other,
            };
            let targets = self.targets(out.to);
            match strategy {
                Strategy::Silent => {}
                Strategy::Equivocate => self.equivocate(rng, out.message, &targets, &mut sends),
                Strategy::ConflictingVotes => self.conflict(rng, out.message, &targets, &mut sends),
                Strategy::ForgeSignatures => self.forge(rng, out.message, &targets, &mut sends),
                Strategy::ReplayOld => self.replay(rng, out.message, &targets, &mut sends),
                Strategy::InvalidBatches => {
                    self.invalid_batch(rng, out.message, &targets, &mut sends)
                }
                Strategy::Censor => Self::to_all(&out.message, &targets, &mut sends),
                Strategy::ViewChangeLiar => {
                    self.lie_in_view_change(rng, out.message, &targets, &mut sends)
                }
                Strategy::CheckpointSplitter => {
                    self.split_checkpoint(rng, out.message, &targets, &mut sends)
                }
                Strategy::ForkHunter => match out.message.message {
                    Message::Checkpoint(_) => {
                        self.split_checkpoint(rng, out.message, &targets, &mut sends)
                    }
                    _ => self.lie_in_view_change(rng, out.message, &targets, &mut sends),
                },
                Strategy::BatchSwapper => self.swap_relayed(out.message, &targets, &mut sends),
                Strategy::NewViewForger => {
                    self.forge_new_views(rng, out.message, &targets, &mut sends)
                }
                Strategy::Twins => Self::to_all(&out.message, &targets, &mut sends),
                Strategy::Mixed => unreachable!("drawn above"),
            }
        }
        self.sent += sends.len() as u64;
        sends
    }

    fn targets(&self, to: Target) -> Vec<usize> {
        match to {
            Target::All => (0..self.n).filter(|&r| r != self.id as usize).collect(),
            Target::One(r) => vec![r as usize],
        }
    }

    fn sign(&self, message: Message) -> SignedMessage {
        SignedMessage::sign(self.id, message, &self.key)
    }

    fn to_all(message: &SignedMessage, targets: &[usize], sends: &mut Vec<Send>) {
        sends.extend(targets.iter().map(|&to| Send {
            to,
            message: message.clone(),
        }));
    }

    /// Splits `targets` in two random halves (each possibly empty when there is one target).
    fn split(rng: &mut ChaCha8Rng, targets: &[usize]) -> (Vec<usize>, Vec<usize>) {
        let mut shuffled = targets.to_vec();
        shuffled.shuffle(rng);
        let cut = rng.random_range(0..=shuffled.len());
        let second = shuffled.split_off(cut);
        (shuffled, second)
    }

    /// Sends `first` to one random part of `targets` and `second` to the rest.
    fn equivocate_between(
        rng: &mut ChaCha8Rng,
        targets: &[usize],
        first: &SignedMessage,
        second: &SignedMessage,
        sends: &mut Vec<Send>,
    ) {
        let (a, b) = Self::split(rng, targets);
        Self::to_all(first, &a, sends);
        Self::to_all(second, &b, sends);
    }

    /// A different valid batch: the same requests minus one, or reversed, or empty.
    fn other_batch(rng: &mut ChaCha8Rng, batch: &[Request]) -> Vec<Request> {
        let mut other = batch.to_vec();
        match rng.random_range(0..3) {
            0 if other.len() > 1 => other.reverse(),
            1 if !other.is_empty() => {
                let drop = rng.random_range(0..other.len());
                other.remove(drop);
            }
            _ => other.clear(),
        }
        if batch_digest(&other) == batch_digest(batch) {
            other.clear();
        }
        other
    }

    fn pre_prepare(&self, template: PrePrepare, batch: Vec<Request>) -> SignedMessage {
        let pre_prepare = PrePrepare {
            digest: batch_digest(&batch),
            ..template
        };
        self.sign(Message::PrePrepare {
            pre_prepare,
            batch: batch.into(),
        })
    }

    fn commit_for(&self, view: u64, seq: u64, digest: Digest) -> SignedMessage {
        self.sign(Message::Commit(bftledger_consensus::Commit {
            view,
            seq,
            digest,
        }))
    }

    fn equivocate(
        &self,
        rng: &mut ChaCha8Rng,
        message: SignedMessage,
        targets: &[usize],
        sends: &mut Vec<Send>,
    ) {
        match &message.message {
            Message::PrePrepare { pre_prepare, batch } => {
                let (a, b) = Self::split(rng, targets);
                let other = self.pre_prepare(*pre_prepare, Self::other_batch(rng, batch));
                let Message::PrePrepare {
                    pre_prepare: other_pp,
                    ..
                } = &other.message
                else {
                    unreachable!("built above")
                };
                let commit_a =
                    self.commit_for(pre_prepare.view, pre_prepare.seq, pre_prepare.digest);
                let commit_b = self.commit_for(other_pp.view, other_pp.seq, other_pp.digest);
                Self::to_all(&message, &a, sends);
                Self::to_all(&commit_a, &a, sends);
                Self::to_all(&other, &b, sends);
                Self::to_all(&commit_b, &b, sends);
            }
            Message::Prepare(p) => {
                let digests = self
                    .proposals
                    .get(&(p.view, p.seq))
                    .cloned()
                    .unwrap_or_default();
                let (a, b) = Self::split(rng, targets);
                Self::to_all(&message, &a, sends);
                for digest in digests.into_iter().filter(|d| *d != p.digest) {
                    let prepare = self.sign(Message::Prepare(bftledger_consensus::Prepare {
                        digest,
                        ..*p
                    }));
                    let commit = self.commit_for(p.view, p.seq, digest);
                    Self::to_all(&prepare, &b, sends);
                    Self::to_all(&commit, &b, sends);
                }
            }
            _ => Self::to_all(&message, targets, sends),
        }
    }

    fn conflict(
        &self,
        rng: &mut ChaCha8Rng,
        message: SignedMessage,
        targets: &[usize],
        sends: &mut Vec<Send>,
    ) {
        if let Message::PrePrepare { pre_prepare, batch } = &message.message {
            if message.from != self.id {
                let swapped = SignedMessage {
                    message: Message::PrePrepare {
                        pre_prepare: *pre_prepare,
                        batch: Self::other_batch(rng, batch).into(),
                    },
                    ..message.clone()
                };
                Self::equivocate_between(rng, targets, &message, &swapped, sends);
                return;
            }
        }
        let junk = Digest(rng.random());
        let altered = match &message.message {
            Message::Prepare(p) => Some(Message::Prepare(bftledger_consensus::Prepare {
                digest: junk,
                ..*p
            })),
            Message::Commit(c) => Some(Message::Commit(bftledger_consensus::Commit {
                digest: junk,
                ..*c
            })),
            Message::Checkpoint(c) => Some(Message::Checkpoint(bftledger_consensus::Checkpoint {
                state_root: junk,
                ..*c
            })),
            _ => None,
        };
        match altered {
            Some(altered) => {
                let altered = self.sign(altered);
                Self::equivocate_between(rng, targets, &message, &altered, sends);
            }
            None => Self::to_all(&message, targets, sends),
        }
    }

    fn forge(
        &self,
        rng: &mut ChaCha8Rng,
        message: SignedMessage,
        targets: &[usize],
        sends: &mut Vec<Send>,
    ) {
        Self::to_all(&message, targets, sends);
        if !rng.random_ratio(1, 3) {
            return;
        }
        let Some(&victim) = targets.choose(rng) else {
            return;
        };
        // Claim to be some replica other than ourselves (possibly the receiver itself).
        let claimed = (self.id as usize + rng.random_range(1..self.n)) % self.n;
        let signature = if rng.random_bool(0.5) {
            SignedMessage::sign(claimed as u32, message.message.clone(), &self.key).signature
        } else {
            Signature(std::array::from_fn(|_| rng.random()))
        };
        let forged = SignedMessage {
            from: claimed as u32,
            message: message.message,
            signature,
        };
        sends.push(Send {
            to: victim,
            message: forged,
        });
    }

    fn replay(
        &self,
        rng: &mut ChaCha8Rng,
        message: SignedMessage,
        targets: &[usize],
        sends: &mut Vec<Send>,
    ) {
        Self::to_all(&message, targets, sends);
        // One old message per four sends: enough to hit every stale-message rule without
        // drowning the run in signature checks.
        if rng.random_ratio(1, 4) {
            let Some(old) = self.received.choose(rng) else {
                return;
            };
            // Replayed to anyone but its signer (who would just see its own message).
            let others: Vec<usize> = targets
                .iter()
                .copied()
                .filter(|&t| t != old.from as usize)
                .collect();
            let Some(&to) = others.choose(rng) else {
                return;
            };
            sends.push(Send {
                to,
                message: old.clone(),
            });
        }
    }

    fn invalid_batch(
        &self,
        rng: &mut ChaCha8Rng,
        message: SignedMessage,
        targets: &[usize],
        sends: &mut Vec<Send>,
    ) {
        let Message::PrePrepare { pre_prepare, batch } = &message.message else {
            return Self::to_all(&message, targets, sends);
        };
        let mut bad = batch.to_vec();
        let junk = if rng.random_bool(0.5) {
            // Signed by nobody: a well-formed transfer with a garbage signature.
            bank::request(&bank::forged_transfer(rng))
        } else {
            Request {
                payload: vec![0xff; rng.random_range(0..8)],
            }
        };
        let at = rng.random_range(0..=bad.len());
        bad.insert(at, junk);
        let mut template = *pre_prepare;
        if rng.random_ratio(1, 4) {
            // A valid batch far beyond the high watermark (§4.2: h < n <= H).
            template.seq += SEQ_JUMP;
            bad = batch.to_vec();
        }
        let proposal = self.pre_prepare(template, bad);
        Self::to_all(&proposal, targets, sends);
    }

    fn lie_in_view_change(
        &self,
        rng: &mut ChaCha8Rng,
        message: SignedMessage,
        targets: &[usize],
        sends: &mut Vec<Send>,
    ) {
        let Message::ViewChange(view_change) = &message.message else {
            return Self::to_all(&message, targets, sends);
        };
        let mut lie = view_change.clone();
        if rng.random_bool(0.5) {
            lie.prepared.clear();
        } else {
            lie.prepared.retain(|_| rng.random_bool(0.5));
        }
        let lie = self.sign(Message::ViewChange(lie));
        Self::to_all(&lie, targets, sends);
    }

    fn split_checkpoint(
        &self,
        rng: &mut ChaCha8Rng,
        message: SignedMessage,
        targets: &[usize],
        sends: &mut Vec<Send>,
    ) {
        if !matches!(message.message, Message::Checkpoint(_)) {
            return Self::to_all(&message, targets, sends);
        }
        let f = (self.n - 1) / 3;
        let chosen: Vec<usize> = targets.choose_multiple(rng, f).copied().collect();
        Self::to_all(&message, &chosen, sends);
    }

    /// `BatchSwapper`: a PRE-PREPARE received from its primary goes on to every other replica
    /// with a junk batch too large to be legal (the signature covers only (v, n, d)), followed
    /// by an eager VIEW-CHANGE for the next view, so that one accusation makes f+1.
    fn swap_batch(&mut self, message: &SignedMessage) {
        let Message::PrePrepare { pre_prepare, .. } = &message.message else {
            return;
        };
        let key = (pre_prepare.view, pre_prepare.seq, pre_prepare.digest);
        if message.from == self.id || !self.swapped_proposals.insert(key) {
            return;
        }
        while self.swapped_proposals.len() > SWAPPED_PROPOSALS_KEPT {
            self.swapped_proposals.pop_first();
        }
        let others: Vec<usize> = (0..self.n)
            .filter(|&r| r != self.id as usize && r != message.from as usize)
            .collect();
        let mut injected = std::mem::take(&mut self.injected);
        self.swap_relayed(message.clone(), &others, &mut injected);
        self.injected = injected;
    }

    /// `BatchSwapper` on its replica's relays of the primary's PRE-PREPAREs (retransmission to
    /// peers that lack the slot, who have not accepted the genuine batch yet): the junk batch
    /// instead, and the eager VIEW-CHANGE. Anything else goes out unchanged.
    fn swap_relayed(&mut self, message: SignedMessage, targets: &[usize], sends: &mut Vec<Send>) {
        let Message::PrePrepare { pre_prepare, .. } = &message.message else {
            return Self::to_all(&message, targets, sends);
        };
        if message.from == self.id {
            return Self::to_all(&message, targets, sends);
        }
        let pre_prepare = *pre_prepare;
        let junk: Vec<Request> = (0..SWAPPED_BATCH_REQUESTS)
            .map(|i| Request {
                payload: vec![i as u8; 8],
            })
            .collect();
        let swapped = SignedMessage {
            message: Message::PrePrepare {
                pre_prepare,
                batch: junk.into(),
            },
            ..message
        };
        Self::to_all(&swapped, targets, sends);
        let next = pre_prepare.view + 1;
        if self.swapped_views.insert(next) {
            while self.swapped_views.len() > 64 {
                self.swapped_views.pop_first();
            }
            let view_change = bftledger_consensus::ViewChange {
                new_view: next,
                stable: bftledger_consensus::CheckpointProof::genesis(),
                prepared: Vec::new(),
            };
            let vc = self.sign(Message::ViewChange(view_change));
            let everyone: Vec<usize> = (0..self.n).filter(|&r| r != self.id as usize).collect();
            Self::to_all(&vc, &everyone, sends);
        }
    }

    /// `NewViewForger`: one of four plans per NEW-VIEW: as built to all; to each backup one
    /// built from another valid choice of 2f+1 VIEW-CHANGEs; to all, or to a random half of
    /// the backups, one whose O-set re-proposes every non-null entry as the null batch
    /// (invalid: O must follow from V, and those entries may be committed somewhere).
    fn forge_new_views(
        &self,
        rng: &mut ChaCha8Rng,
        message: SignedMessage,
        targets: &[usize],
        sends: &mut Vec<Send>,
    ) {
        let Message::NewView(new_view) = &message.message else {
            return Self::to_all(&message, targets, sends);
        };
        let plan = rng.random_range(0..4);
        let forged = self
            .null_in_o(new_view)
            .map(|nv| self.sign(Message::NewView(nv)));
        for &to in targets {
            let chosen = match plan {
                0 => None,
                1 => self
                    .other_choice_of_v(rng, new_view)
                    .map(|nv| self.sign(Message::NewView(nv))),
                2 => forged.clone(),
                _ => forged.clone().filter(|_| rng.random_bool(0.5)),
            };
            let message = chosen.unwrap_or_else(|| message.clone());
            sends.push(Send { to, message });
        }
    }

    /// A NEW-VIEW from another valid V: its own VIEW-CHANGE and 2f others drawn from those it
    /// received, with the O-set recomputed from them (legal, but different per backup).
    fn other_choice_of_v(&self, rng: &mut ChaCha8Rng, new_view: &NewView) -> Option<NewView> {
        let own = new_view.view_changes.iter().find(|s| s.from == self.id)?;
        let others: Vec<&SignedViewChange> = self
            .view_changes
            .get(&new_view.view)?
            .iter()
            .filter(|s| s.from != self.id)
            .collect();
        let need = new_view.view_changes.len() - 1;
        if others.len() < need {
            return None;
        }
        let mut chosen = vec![own.clone()];
        chosen.extend(others.choose_multiple(rng, need).map(|s| (*s).clone()));
        let vcs: Vec<&bftledger_consensus::ViewChange> =
            chosen.iter().map(|s| &s.view_change).collect();
        let o_set = compute_o_set(new_view.view, &vcs);
        let pre_prepares = o_set
            .pre_prepares
            .iter()
            .map(|pp| self.sign_pre_prepare(*pp))
            .collect();
        Some(NewView {
            view: new_view.view,
            view_changes: chosen,
            pre_prepares,
        })
    }

    /// The NEW-VIEW with every non-null O-set entry re-proposed as the null batch (any of
    /// them may be committed at some correct replica and not yet at others).
    fn null_in_o(&self, new_view: &NewView) -> Option<NewView> {
        let mut forged = new_view.clone();
        let mut changed = false;
        for entry in forged.pre_prepares.iter_mut() {
            if entry.pre_prepare.digest != null_digest() {
                let mut pp = entry.pre_prepare;
                pp.digest = null_digest();
                *entry = self.sign_pre_prepare(pp);
                changed = true;
            }
        }
        changed.then_some(forged)
    }

    fn sign_pre_prepare(&self, pre_prepare: PrePrepare) -> SignedPrePrepare {
        SignedPrePrepare::sign(self.id, pre_prepare, &self.key)
    }

    /// How this replica answers a state-transfer request: a `Silent` one not at all, the
    /// instances of `Twins` honestly, every other strategy by lying or withholding.
    pub fn donor_role(&self) -> DonorRole {
        match self.strategy {
            Strategy::Silent => DonorRole::Silent,
            Strategy::Twins => DonorRole::Honest,
            _ => DonorRole::Liar,
        }
    }

    /// Whether the host forwards a client's request to replica `to` when `primary` is the
    /// primary of its view: a `Silent` one forwards nothing, the others all but the primary
    /// (a selective forwarder).
    pub fn forwards_to(&self, to: usize, primary: usize) -> bool {
        self.strategy != Strategy::Silent && to != primary
    }

    /// Whether this replica ignores a client request (a `Censor` never lets its replica see
    /// the victim's requests, relayed ones included, so it proposes everything else normally
    /// and its own state stays in step with the correct replicas).
    /// `client` is the simulated client that signed the request, if any.
    pub fn drops_request(&self, client: Option<usize>) -> bool {
        self.strategy == Strategy::Censor && client == Some(CENSORED_CLIENT)
    }
}

/// Requests in a `BatchSwapper` junk batch: more than any legal batch of the simulator.
const SWAPPED_BATCH_REQUESTS: usize = 64;
