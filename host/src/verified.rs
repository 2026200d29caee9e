//! Transfers this node has already decoded and checked, by request digest, so that a transfer
//! is decoded (two point decompressions) and signature-verified **once per node** instead of at
//! every stage of its path: admission to the mempool (API or a peer's forward), the consensus
//! `validate_batch` of a proposed batch, and execution.
//!
//! **Why this cannot split replicas**: an entry is keyed by the SHA-256 of the exact payload bytes
//! (the consensus request digest) and holds the transfer those bytes decode to, recorded only
//! after it passed the very checks `validate_batch` runs (canonical decoding, `check_fields` for
//! this chain, signature). Checking the same bytes again would give the same verdict, so a hit
//! changes the cost of `validate_batch`, never its result.
//!
//! **Bounded**: at most `capacity` entries (oldest evicted first); an evicted or unknown
//! transfer is simply decoded and verified again.

use bftledger_crypto::Digest;
use bftledger_ledger::SignedTransfer;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// A shared handle (the mempool fills it, the consensus application and the driver read it).
pub type SharedVerified = Arc<Mutex<VerifiedTransfers>>;

/// Decoded, checked transfers by request digest (see the module documentation).
#[derive(Debug)]
pub struct VerifiedTransfers {
    capacity: usize,
    /// Request digest -> (transfer, its transfer id, computed once on insertion).
    by_digest: HashMap<Digest, (SignedTransfer, Digest)>,
    /// Insertion order, for eviction; may name digests already removed (skipped).
    order: VecDeque<Digest>,
    hits: u64,
    misses: u64,
}

impl VerifiedTransfers {
    /// An empty cache holding at most `capacity` transfers.
    pub fn new(capacity: usize) -> VerifiedTransfers {
        assert!(
            capacity > 0,
            "verified-transfer cache capacity must be positive"
        );
        VerifiedTransfers {
            capacity,
            by_digest: HashMap::new(),
            order: VecDeque::new(),
            hits: 0,
            misses: 0,
        }
    }

    /// A shared, empty cache.
    pub fn shared(capacity: usize) -> SharedVerified {
        Arc::new(Mutex::new(VerifiedTransfers::new(capacity)))
    }

    /// Records that the payload with digest `digest` decodes to `transfer`, which passed the
    /// stateless checks (fields for this chain, signature).
    pub fn insert(&mut self, digest: Digest, transfer: SignedTransfer) {
        let id = transfer.id();
        if self.by_digest.insert(digest, (transfer, id)).is_some() {
            return;
        }
        self.order.push_back(digest);
        while self.by_digest.len() > self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.by_digest.remove(&old);
                }
                None => break,
            }
        }
        if self.order.len() > 2 * self.capacity {
            let live = &self.by_digest;
            self.order.retain(|d| live.contains_key(d));
        }
    }

    /// The checked transfer for `digest`, if known (counted as a hit or a miss).
    pub fn get(&mut self, digest: &Digest) -> Option<&SignedTransfer> {
        self.count(self.by_digest.contains_key(digest));
        self.by_digest.get(digest).map(|(t, _)| t)
    }

    /// The checked transfer for `digest`, if known (not counted, as [`Self::transfer_id`]).
    pub fn peek(&self, digest: &Digest) -> Option<&SignedTransfer> {
        self.by_digest.get(digest).map(|(t, _)| t)
    }

    /// The transfer id of the payload with digest `digest`, if known (not counted: consensus
    /// asks it for every request it identifies, see [`crate::LedgerApp`]).
    pub fn transfer_id(&self, digest: &Digest) -> Option<Digest> {
        self.by_digest.get(digest).map(|(_, id)| *id)
    }

    /// Takes the checked transfer for `digest` out (it was executed: not needed again).
    pub fn take(&mut self, digest: &Digest) -> Option<SignedTransfer> {
        let found = self.by_digest.remove(digest).map(|(t, _)| t);
        self.count(found.is_some());
        found
    }

    fn count(&mut self, hit: bool) {
        if hit {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
    }

    /// Transfers held.
    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }

    /// (hits, misses) of [`VerifiedTransfers::get`] and [`VerifiedTransfers::take`] so far.
    pub fn stats(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bftledger_crypto::encoding::Versioned;

    fn transfer(nonce: u64) -> (Digest, SignedTransfer) {
        let t = crate::fixtures::transfer("c", 1, nonce);
        (Digest::of(&t.to_bytes()), t)
    }

    #[test]
    fn holds_at_most_capacity_and_evicts_the_oldest() {
        let mut c = VerifiedTransfers::new(3);
        let items: Vec<_> = (1..=5).map(transfer).collect();
        for (d, t) in &items {
            c.insert(*d, t.clone());
        }
        assert_eq!(c.len(), 3);
        assert!(c.get(&items[0].0).is_none() && c.get(&items[1].0).is_none());
        for (d, t) in &items[2..] {
            assert_eq!(c.get(d), Some(t));
        }
        assert_eq!(c.stats(), (3, 2));
    }

    #[test]
    fn take_removes_and_reinsert_is_idempotent() {
        let mut c = VerifiedTransfers::new(2);
        let (d, t) = transfer(1);
        c.insert(d, t.clone());
        c.insert(d, t.clone());
        assert_eq!(c.len(), 1);
        assert_eq!(c.take(&d), Some(t));
        assert!(c.take(&d).is_none());
        assert!(c.is_empty());
    }

    #[test]
    fn order_queue_stays_bounded_under_churn() {
        let mut c = VerifiedTransfers::new(4);
        for n in 0..1_000 {
            let (d, t) = transfer(n);
            c.insert(d, t);
            if n % 2 == 0 {
                c.take(&d);
            }
        }
        assert!(c.len() <= 4);
        assert!(c.order.len() <= 2 * 4 + 1, "order queue {}", c.order.len());
    }
}
