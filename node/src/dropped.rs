//! Transfers this node accepted and then let go of before ordering, with the reason, so that
//! `GET /v1/transfers/{id}` says "dropped: why" instead of "not found".
//!
//! Why: a transfer answered 202 must end in a block (applied, or rejected with a receipt) or be
//! reported as dropped; a client that polls a transfer which silently vanished cannot tell a
//! slow ledger from a lost transfer. A dropped transfer was never ordered, so the client may
//! submit the very same signed transfer again.

use bftledger_crypto::Digest;
use std::collections::{HashMap, VecDeque};

/// Most dropped transfers remembered (the oldest are forgotten first).
pub const MAX_DROPPED_REMEMBERED: usize = 100_000;

/// Why an accepted transfer was let go of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Its sender's earlier nonce did not arrive within the nonce-gap hold: ordered, it could
    /// only be rejected (`NonceGap`).
    NonceGap,
    /// Its sender's nonce was already used by another transfer: ordered, it could only be
    /// rejected (`NonceReplayed`).
    NonceUsed,
    /// The node caught up by state transfer, and the core forgot its pending requests. Since
    /// the pool hands those over again (`Mempool::requeue_handed_over`) no transfer is dropped
    /// for this; the code stays so that clients' tables of reasons stay valid.
    StateTransfer,
    /// Forgotten to bound the in-flight set (more in flight than the node remembers).
    Evicted,
}

impl DropReason {
    /// Every reason, in a fixed order (metrics).
    pub const ALL: [DropReason; 4] = [
        DropReason::NonceGap,
        DropReason::NonceUsed,
        DropReason::StateTransfer,
        DropReason::Evicted,
    ];

    /// A stable snake_case code (API, metric labels).
    pub fn code(self) -> &'static str {
        match self {
            DropReason::NonceGap => "nonce_gap",
            DropReason::NonceUsed => "nonce_used",
            DropReason::StateTransfer => "state_transfer",
            DropReason::Evicted => "evicted",
        }
    }

    /// One sentence for the client.
    pub fn explain(self) -> &'static str {
        match self {
            DropReason::NonceGap => {
                "its sender's previous nonce did not reach this node in time; submit the \
                 earlier transfers, then this one again"
            }
            DropReason::NonceUsed => {
                "another transfer of its sender with the same nonce was executed first"
            }
            DropReason::StateTransfer => {
                "the node caught up from its peers and forgot what it had not ordered yet; \
                 submit it again"
            }
            DropReason::Evicted => "too many transfers were in flight; submit it again",
        }
    }
}

/// The registry: bounded, oldest forgotten first.
#[derive(Debug, Default)]
pub struct Dropped {
    reasons: HashMap<Digest, DropReason>,
    order: VecDeque<Digest>,
}

impl Dropped {
    /// Remembers that `id` was dropped for `reason`.
    pub fn record(&mut self, id: Digest, reason: DropReason) {
        if self.reasons.insert(id, reason).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > MAX_DROPPED_REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.reasons.remove(&old);
            }
        }
    }

    /// Why `id` was dropped, if it was (and is still remembered).
    pub fn reason(&self, id: &Digest) -> Option<DropReason> {
        self.reasons.get(id).copied()
    }

    /// `id` was accepted again (resubmitted): no longer dropped.
    pub fn readmitted(&mut self, id: &Digest) {
        self.reasons.remove(id);
    }

    /// Transfers remembered.
    pub fn len(&self) -> usize {
        self.reasons.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.reasons.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_latest_drops_with_their_reason_and_forgets_readmitted_ones() {
        let mut dropped = Dropped::default();
        let id = |n: u32| Digest::of(&n.to_le_bytes());
        for n in 0..(MAX_DROPPED_REMEMBERED as u32 + 10) {
            dropped.record(id(n), DropReason::NonceGap);
        }
        assert_eq!(dropped.len(), MAX_DROPPED_REMEMBERED);
        assert_eq!(dropped.reason(&id(0)), None, "the oldest are forgotten");
        let last = id(MAX_DROPPED_REMEMBERED as u32 + 9);
        assert_eq!(dropped.reason(&last), Some(DropReason::NonceGap));
        dropped.record(last, DropReason::StateTransfer);
        assert_eq!(dropped.reason(&last), Some(DropReason::StateTransfer));
        dropped.readmitted(&last);
        assert_eq!(dropped.reason(&last), None);
    }
}
