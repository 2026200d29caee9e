//! The message log: one slot per sequence number inside the watermark window, holding the
//! current view's pre-prepare, batch, prepares and commits, plus the prepared certificates
//! (highest view per seq) that view changes carry. Bounded: the replica inserts only seqs in
//! (low, high], and [`Log::collect_garbage`] drops everything at or below a stable checkpoint.

use crate::message::{Batch, PrePrepare, PreparedCertificate};
use crate::quorum::VoteSet;
use crate::{SeqNum, View};
use bftledger_crypto::{Digest, Signature};
use std::collections::BTreeMap;

/// What one replica knows about one sequence number in one view.
#[derive(Debug, Clone, Default)]
pub struct Slot {
    /// The view these votes belong to.
    pub view: View,
    /// The accepted pre-prepare and the primary's signature over it.
    pub pre_prepare: Option<(PrePrepare, Signature)>,
    /// The batch of the pre-prepare, if this replica has it.
    pub batch: Option<Batch>,
    /// Digests of the batch's requests (computed once, on acceptance).
    pub request_digests: Vec<Digest>,
    /// Identities of the batch's requests ([`crate::Application::request_ids`]).
    pub request_ids: Vec<Digest>,
    /// Prepares by backups (this replica's own included when it is a backup).
    pub prepares: VoteSet<Digest>,
    /// Commits (own included).
    pub commits: VoteSet<Digest>,
    /// prepared(m, v, n, i) holds (§4.2).
    pub prepared: bool,
    /// committed-local(m, v, n, i) holds (§4.2).
    pub committed: bool,
    /// Tick at which this slot was created (retransmission only helps slots older than one
    /// retransmission period, so a healthy pipeline never triggers it).
    pub created_tick: u64,
}

impl Slot {
    /// The digest of the accepted pre-prepare.
    pub fn digest(&self) -> Option<Digest> {
        self.pre_prepare.map(|(pp, _)| pp.digest)
    }
}

/// The log of slots and prepared certificates.
#[derive(Debug, Clone, Default)]
pub struct Log {
    /// Current tick (stamped on new slots).
    pub now: u64,
    slots: BTreeMap<SeqNum, Slot>,
    prepared: BTreeMap<SeqNum, (PreparedCertificate, Option<Batch>)>,
}

impl Log {
    /// The slot for `seq` in `view`, created (or reset, if it holds an older view) on demand.
    pub fn slot_mut(&mut self, seq: SeqNum, view: View) -> &mut Slot {
        let now = self.now;
        let slot = self.slots.entry(seq).or_insert_with(|| Slot {
            view,
            created_tick: now,
            ..Slot::default()
        });
        if slot.view < view {
            *slot = Slot {
                view,
                created_tick: now,
                ..Slot::default()
            };
        }
        slot
    }

    /// The slot for `seq`, if any.
    pub fn slot(&self, seq: SeqNum) -> Option<&Slot> {
        self.slots.get(&seq)
    }

    /// All slots, ascending.
    pub fn slots(&self) -> impl Iterator<Item = (SeqNum, &Slot)> {
        self.slots.iter().map(|(s, slot)| (*s, slot))
    }

    /// Slots from `seq` on, ascending.
    pub fn slots_from(&self, seq: SeqNum) -> impl Iterator<Item = (SeqNum, &Slot)> {
        self.slots.range(seq..).map(|(s, slot)| (*s, slot))
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Drops every slot (entering a new view: its O-set is installed afresh).
    pub fn clear_slots(&mut self) {
        self.slots.clear();
    }

    /// Records a prepared certificate if it is from a higher view than the one kept for its seq
    /// (§4.4: the P-set holds the highest-view certificate per seq). Returns whether it was kept.
    pub fn record_prepared(&mut self, cert: PreparedCertificate, batch: Option<Batch>) -> bool {
        let seq = cert.pre_prepare.seq;
        if let Some((old, old_batch)) = self.prepared.get_mut(&seq) {
            if old.pre_prepare.view >= cert.pre_prepare.view {
                if old_batch.is_none() && old.pre_prepare.digest == cert.pre_prepare.digest {
                    *old_batch = batch;
                }
                return false;
            }
        }
        self.prepared.insert(seq, (cert, batch));
        true
    }

    /// Prepared certificates, ascending by seq.
    pub fn prepared(&self) -> impl Iterator<Item = &(PreparedCertificate, Option<Batch>)> {
        self.prepared.values()
    }

    /// A batch with `digest` known to the log (slots or prepared certificates).
    pub fn find_batch(&self, seq: SeqNum, digest: &Digest) -> Option<Batch> {
        if let Some(slot) = self.slots.get(&seq) {
            if slot.digest().as_ref() == Some(digest) {
                if let Some(batch) = &slot.batch {
                    return Some(batch.clone());
                }
            }
        }
        match self.prepared.get(&seq) {
            Some((cert, Some(batch))) if cert.pre_prepare.digest == *digest => Some(batch.clone()),
            _ => None,
        }
    }

    /// §4.3: discards every slot and certificate at or below the stable checkpoint `seq`;
    /// returns the seqs of the discarded certificates (their durable copies go too).
    pub fn collect_garbage(&mut self, seq: SeqNum) -> Vec<SeqNum> {
        self.slots = self.slots.split_off(&(seq + 1));
        let kept = self.prepared.split_off(&(seq + 1));
        let dropped = std::mem::replace(&mut self.prepared, kept);
        dropped.into_keys().collect()
    }

    /// Drops the slots (not the prepared certificates) at or below `seq`: a state transfer to
    /// `seq` replaces them, while a VIEW-CHANGE may still need the certificates.
    pub fn drop_slots_upto(&mut self, seq: SeqNum) {
        self.slots = self.slots.split_off(&(seq + 1));
    }

    /// Lowest and highest seq held (slots and certificates), for invariant checks.
    pub fn seq_range(&self) -> Option<(SeqNum, SeqNum)> {
        let lows = [self.slots.keys().next(), self.prepared.keys().next()];
        let highs = [self.slots.keys().last(), self.prepared.keys().last()];
        let low = lows.iter().flatten().min().copied()?;
        let high = highs.iter().flatten().max().copied()?;
        Some((*low, *high))
    }
}
