//! Fetching the batch of a pre-prepare held without it (safety-holes issue, item 8).
//!
//! VIEW-CHANGE and NEW-VIEW carry digests only, so a replica can enter a view with O-set
//! entries whose batches it does not hold (the new primary included: it signs the O-set from
//! the certificates' digests). As OSDI'99 §4.4 puts it, "a replica may be missing some request
//! message m ... It can obtain missing information from another replica". Here:
//!
//! * **Request.** Every slot of the current view that holds a signed pre-prepare but no batch is
//!   asked for with a signed [`FetchBatch`] carrying that pre-prepare and its primary's
//!   signature: on entering the view, then every retransmission period until the batch arrives.
//!   Each round asks f+1 peers per slot (at least one of any f+1 is correct), rotating through
//!   all peers from round to round, so every correct holder is asked within
//!   ceil((n-1)/(f+1)) rounds; no peer gets more requests per round than its relay budget.
//! * **Answer.** Any replica holding a batch with that digest for that seq (a log slot of any
//!   view, a prepared certificate, or a durable `B` entry, mirrored in memory) relays
//!   `PrePrepare { pre_prepare, batch }` under the primary's signature from the request, within
//!   the requester's relay budget of the period ([`Replica::take_relay_budget`]: a flood of
//!   requests costs the responder a signature check each and at most
//!   `RETRANSMIT_SLOTS_PER_PEER` batches per period). It need not be in that view.
//! * **Acceptance.** The relay is an ordinary relayed pre-prepare: the primary's signature is
//!   checked on arrival, then the batch against the signed digest *before anything else*
//!   (`attach_batch`, `can_accept_pre_prepare`); a batch that does not match was attached by the
//!   relayer and is rejected without accusing anybody (item 5). A forged signature in a request
//!   only makes its own sender reject the answer. A backup then prepares the slot.
//!
//! **Why some correct replica has the batch.** A non-null O-set entry (n, d) of NEW-VIEW(v) is
//! the digest of a prepared certificate (v', n, d) in a VIEW-CHANGE of V (§4.4). Its signers
//! are a strong quorum: the primary of v' and q - 1 backups, q >= 2f+1; at most f are faulty, so
//! at least f+1 are correct and at least f >= 1 of those are backups. A correct backup signs
//! PREPARE(v', n, d) only for a batch it holds: in the normal case it accepted the pre-prepare
//! with a batch matching d, and for an O-set entry `enter_view` and `attach_batch` prepare only
//! once the batch is there. The same output makes the batch durable before the PREPARE leaves
//! ([`Replica::persist_batch`]: persist, then send), so a crash does not lose it
//! ([`Replica::recover`] reads the `B` entries back). It keeps the batch until the seq is
//! garbage collected at a stable checkpoint at or above n — whoever still needs n then catches
//! up through that checkpoint (§4.3, state transfer) — or until it votes for another digest
//! at n in a later view; `persist_batch` then still keeps the batch of its own prepared
//! certificate for n. (What this leaves open: if every correct signer of a certificate missed
//! its completion, later voted another digest for n, and only a faulty replica reports the
//! certificate, no correct replica holds d; the slot then does not prepare, and the view-change
//! timer moves on to a view whose V may not contain that certificate. The batches attached to
//! VIEW-CHANGEs before had the same gap: the faulty reporter could leave them out.)

use crate::application::Application;
use crate::config::RETRANSMIT_SLOTS_PER_PEER;
use crate::durable::{delete_batch, put_batch};
use crate::message::{null_digest, Batch, FetchBatch, Message, PrePrepare, SignedMessage};
use crate::mutants::Mutant;
use crate::replica::{Replica, Status};
use crate::step_io::{Output, Target};
use crate::{ReplicaId, SeqNum, View};
use bftledger_crypto::{Digest, Signature};

impl<A: Application> Replica<A> {
    /// The batch with `digest` for `seq`, if this replica holds it: in a log slot (of any
    /// view), with a prepared certificate, or made durable (`B` entries).
    pub(crate) fn held_batch(&self, seq: SeqNum, digest: &Digest) -> Option<Batch> {
        self.log.find_batch(seq, digest).or_else(|| {
            self.durable_batches
                .get(&seq)
                .and_then(|batches| batches.get(digest))
                .cloned()
        })
    }

    /// Requester: one round of FETCH-BATCH requests for the current view's slots that hold a
    /// pre-prepare without its batch (on entering a view and every retransmission period).
    /// Each slot is asked of f+1 peers; the peers asked rotate per slot and per round. At most
    /// as many slots per round as keep every peer within its relay budget.
    pub(crate) fn fetch_missing_batches(&mut self, out: &mut Output) {
        if self.status != Status::Normal || self.config.mutated(Mutant::NoBatchFetch) {
            return;
        }
        let peers: Vec<ReplicaId> = (0..self.config.n() as ReplicaId)
            .filter(|r| *r != self.id)
            .collect();
        let ask = self.quorum.weak().min(peers.len());
        let slots_max = RETRANSMIT_SLOTS_PER_PEER * peers.len() / ask;
        let missing: Vec<(PrePrepare, Signature)> = self
            .log
            .slots()
            .filter(|(_, slot)| slot.view == self.view && slot.batch.is_none())
            .filter_map(|(_, slot)| slot.pre_prepare)
            .take(slots_max)
            .collect();
        if missing.is_empty() {
            return;
        }
        let round = self.batch_fetch_round;
        self.batch_fetch_round = round.wrapping_add(1);
        let first = (round as usize).wrapping_mul(ask);
        for (i, (pre_prepare, primary_signature)) in missing.into_iter().enumerate() {
            assert!(
                pre_prepare.digest != null_digest(),
                "replica {}: null O-set entry at seq {} installed without the empty batch",
                self.id,
                pre_prepare.seq
            );
            let message = self.sign(Message::FetchBatch(FetchBatch {
                pre_prepare,
                primary_signature,
            }));
            for k in 0..ask {
                let to = peers[first.wrapping_add(i * ask + k) % peers.len()];
                out.push_send(Target::One(to), message.clone());
            }
        }
    }

    /// Responder: FETCH-BATCH from `from` (signature already checked). If this replica holds a
    /// batch with the requested digest for that seq, it relays the pre-prepare with the batch
    /// under the primary's signature from the request, within `from`'s relay budget. Nothing
    /// else is sent, stored or trusted: the requester checks the signature and the digest.
    pub(crate) fn on_fetch_batch(&mut self, from: ReplicaId, fetch: FetchBatch, out: &mut Output) {
        let FetchBatch {
            pre_prepare,
            primary_signature,
        } = fetch;
        let Some(batch) = self.held_batch(pre_prepare.seq, &pre_prepare.digest) else {
            return;
        };
        if !self.take_relay_budget(from) {
            return;
        }
        let relay = SignedMessage {
            from: self.config.primary(pre_prepare.view),
            message: Message::PrePrepare { pre_prepare, batch },
            signature: primary_signature,
        };
        out.push_send(Target::One(from), relay);
    }

    /// Makes a batch this replica votes for durable (once per (seq, digest)), dropping other
    /// durable batches of that seq except the one of its prepared certificate.
    pub(crate) fn persist_batch(&mut self, seq: SeqNum, view: View, out: &mut Output) {
        let Some(slot) = self.log.slot(seq).filter(|s| s.view == view) else {
            return;
        };
        let (Some((pre_prepare, signature)), Some(batch)) = (slot.pre_prepare, &slot.batch) else {
            return;
        };
        let digest = pre_prepare.digest;
        let batch = batch.clone();
        let certified = self
            .log
            .prepared()
            .find(|(c, _)| c.pre_prepare.seq == seq)
            .map(|(c, _)| c.pre_prepare.digest);
        let known = self.durable_batches.entry(seq).or_default();
        if known.contains_key(&digest) {
            return;
        }
        out.push_persist(put_batch(seq, &digest, view, &signature, &batch));
        known.insert(digest, batch);
        let stale: Vec<Digest> = known
            .keys()
            .filter(|d| **d != digest && Some(**d) != certified)
            .copied()
            .collect();
        for d in stale {
            known.remove(&d);
            out.push_persist(delete_batch(seq, &d));
        }
    }
}
