//! Retransmission: what a replica re-sends every `retransmit_ticks` so that message loss,
//! crashes and batches missing after a view change cannot stall it (TOCS'02 §5.2 keeps
//! retransmission out of the protocol proper; here it is explicit and bounded).

use crate::application::Application;
use crate::config::RETRANSMIT_SLOTS_PER_PEER;
use crate::durable::VoteKind;
use crate::message::{Commit, Message, PrePrepare, Prepare, SignedMessage};
use crate::replica::Replica;
use crate::step_io::{Output, Target};
use crate::{ReplicaId, SeqNum};
use bftledger_crypto::Digest;

impl<A: Application> Replica<A> {
    /// Retransmission (message loss, crashes), every `retransmit_ticks`:
    /// * an outstanding fetch request; own view-changes while changing view; own latest
    ///   checkpoint (so laggards can assemble a stable-checkpoint proof);
    /// * for each slot of the current view older than one period: to each peer whose commit for
    ///   it has not been seen, own pre-prepare / prepare / commit, and (backups) the primary's
    ///   signed pre-prepare with its batch to peers that have not prepared it;
    /// * FETCH-BATCH for slots holding a pre-prepare without its batch (O-set entries; see
    ///   `fetch_batch.rs`);
    /// * own commit votes for slots it lost (restart), so that peers relay the slot's
    ///   certificate and batch back (see [`Replica::on_commit`]).
    ///
    /// Bounded: per peer, at most `RETRANSMIT_SLOTS_PER_PEER` slots per period (a crashed peer
    /// must not cost L batches per period; a far-behind one catches up through checkpoints and
    /// state transfer).
    pub(crate) fn retransmit(&mut self, out: &mut Output) {
        self.relay_budget = vec![RETRANSMIT_SLOTS_PER_PEER; self.config.n()];
        self.resolve_lagging(out, true);
        self.repeat_fetch(out);
        if self.is_view_changing() {
            for vc in self.view_changes.own_signed() {
                out.push_send(Target::All, vc.clone());
            }
        }
        self.retransmit_checkpoints(out);
        if self.is_view_changing() {
            return;
        }
        self.retransmit_slots(out);
        self.fetch_missing_batches(out);
        self.resend_commits_after_restart(out);
        self.relay_to_primary(None, out);
    }

    /// Own latest checkpoint if above the stable one, and the stable checkpoint's proof as the
    /// signed checkpoint messages it is made of: one correct replica's retransmission is then
    /// enough for a laggard to assemble the 2f+1 proof and fetch state.
    fn retransmit_checkpoints(&self, out: &mut Output) {
        if let Some((seq, state_root)) = self.checkpoints.latest_own() {
            let checkpoint = crate::message::Checkpoint { seq, state_root };
            self.send(Target::All, Message::Checkpoint(checkpoint), out);
        }
        let stable = self.checkpoints.stable();
        let checkpoint = crate::message::Checkpoint {
            seq: stable.seq,
            state_root: stable.state_root,
        };
        for &(signer, signature) in &stable.signatures {
            let message = SignedMessage {
                from: signer,
                message: Message::Checkpoint(checkpoint),
                signature,
            };
            for to in (0..self.config.n() as ReplicaId).filter(|r| *r != signer && *r != self.id) {
                out.push_send(Target::One(to), message.clone());
            }
        }
    }

    fn retransmit_slots(&self, out: &mut Output) {
        let n = self.config.n() as ReplicaId;
        let primary = self.primary();
        let mut per_peer = vec![0usize; n as usize];
        let old_enough = self
            .timers
            .now
            .saturating_sub(self.config.settings.retransmit_ticks);
        for (seq, slot) in self.log.slots() {
            let Some((pre_prepare, primary_signature)) = slot.pre_prepare else {
                continue;
            };
            if slot.view != self.view || slot.created_tick > old_enough {
                continue;
            }
            let digest = pre_prepare.digest;
            let view = slot.view;
            let own_prepare = (!self.is_primary() && slot.prepares.contains(self.id))
                .then(|| self.sign(Message::Prepare(Prepare { view, seq, digest })));
            let own_commit = slot
                .commits
                .contains(self.id)
                .then(|| self.sign(Message::Commit(Commit { view, seq, digest })));
            let pre_prepare_msg = slot.batch.as_ref().map(|batch| SignedMessage {
                from: primary,
                message: Message::PrePrepare {
                    pre_prepare,
                    batch: batch.clone(),
                },
                signature: primary_signature,
            });
            for to in 0..n {
                if to == self.id
                    || slot.commits.contains(to)
                    || per_peer[to as usize] >= RETRANSMIT_SLOTS_PER_PEER
                {
                    continue;
                }
                per_peer[to as usize] += 1;
                let lacks_batch = to != primary && !slot.prepares.contains(to);
                if let Some(pp) = pre_prepare_msg.as_ref().filter(|_| lacks_batch) {
                    out.push_send(Target::One(to), pp.clone());
                }
                for m in own_prepare.iter().chain(own_commit.iter()) {
                    out.push_send(Target::One(to), m.clone());
                }
            }
        }
    }

    /// Own commit votes for slots this replica cannot execute because it lost them (log lost
    /// in a restart): re-sending them tells peers to relay the slot's certificate and batch. A
    /// slot that holds its pre-prepare but not the batch is fetched with FETCH-BATCH instead.
    fn resend_commits_after_restart(&self, out: &mut Output) {
        let lost: Vec<(SeqNum, Digest)> = self
            .own_votes
            .iter()
            .filter(|((seq, view, kind), _)| {
                *kind == VoteKind::Commit
                    && *view == self.view
                    && *seq > self.last_executed
                    && self.log.slot(*seq).is_none_or(|s| s.pre_prepare.is_none())
            })
            .map(|((seq, _, _), digest)| (*seq, *digest))
            .take(RETRANSMIT_SLOTS_PER_PEER)
            .collect();
        for (seq, digest) in lost {
            let view = self.view;
            self.send(
                Target::All,
                Message::Commit(Commit { view, seq, digest }),
                out,
            );
        }
    }

    /// Spends one of `to`'s relays of this retransmission period (certificates, NEW-VIEWs,
    /// FETCH-BATCH answers):
    /// what a peer can make this replica send back is bounded per period, whatever it sends.
    pub(crate) fn take_relay_budget(&mut self, to: ReplicaId) -> bool {
        match self.relay_budget.get_mut(to as usize) {
            Some(budget) if *budget > 0 => {
                *budget -= 1;
                true
            }
            _ => false,
        }
    }

    /// A peer re-sent a commit we already have for a slot committed here: it has lost the slot
    /// (restart) or our messages for it. Relay the slot's certificate — the primary's signed
    /// pre-prepare with the batch, the prepares and the commits — to it, within its budget.
    pub(crate) fn relay_certificate(&mut self, to: ReplicaId, seq: SeqNum, out: &mut Output) {
        let committed = self.log.slot(seq).is_some_and(|s| s.committed);
        if !committed || !self.take_relay_budget(to) {
            return;
        }
        let Some(slot) = self.log.slot(seq) else {
            return;
        };
        let Some((pre_prepare, primary_signature)) = slot.pre_prepare else {
            return;
        };
        let PrePrepare { view, digest, .. } = pre_prepare;
        let primary = self.config.primary(view);
        if let Some(batch) = &slot.batch {
            let message = Message::PrePrepare {
                pre_prepare,
                batch: batch.clone(),
            };
            let signature = primary_signature;
            let from = primary;
            out.push_send(
                Target::One(to),
                SignedMessage {
                    from,
                    message,
                    signature,
                },
            );
        }
        let prepares = slot.prepares.iter_signed().map(|(from, d, signature)| {
            let message = Message::Prepare(Prepare { view, seq, digest });
            (
                from,
                *d,
                SignedMessage {
                    from,
                    message,
                    signature: *signature,
                },
            )
        });
        let commits = slot.commits.iter_signed().map(|(from, d, signature)| {
            let message = Message::Commit(Commit { view, seq, digest });
            (
                from,
                *d,
                SignedMessage {
                    from,
                    message,
                    signature: *signature,
                },
            )
        });
        for (from, d, message) in prepares.chain(commits) {
            if from != to && d == digest {
                out.push_send(Target::One(to), message);
            }
        }
    }
}
