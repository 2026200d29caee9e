//! Frames of the consensus protocol between nodes (the p2p layer carries them as opaque bytes).
//!
//! Besides consensus messages, nodes forward client transfers: a transfer accepted by a node's
//! API is sent to every validator (the primary, which orders it, and the backups, which keep it
//! pending so their view-change timers watch the primary, and so a new primary already holds
//! it after a view change: PBFT §4.1's client multicast, done by the node). A node receiving
//! forwarded transfers re-checks them in its own mempool (nothing from a peer is trusted) and
//! never forwards them again.

use bftledger_consensus::SignedMessage;
use bftledger_crypto::encoding::{DecodeError, Versioned};
use bftledger_ledger::SignedTransfer;
use serde::{Deserialize, Serialize};

/// One frame on the consensus protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// A consensus message.
    Consensus(SignedMessage),
    /// Client transfers forwarded by the node that received them.
    Forward(Vec<SignedTransfer>),
}

impl Versioned for Frame {
    const VERSION: u8 = 1;
    /// Hard cap; the configured `p2p.max_frame_bytes` (smaller) is enforced first.
    const MAX_BYTES: usize = 64 << 20;
}

impl Frame {
    /// Decodes a frame of at most `max_bytes`.
    pub fn decode(bytes: &[u8], max_bytes: usize) -> Result<Frame, DecodeError> {
        if bytes.len() > max_bytes {
            return Err(DecodeError::TooLarge {
                len: bytes.len(),
                max_bytes,
            });
        }
        Frame::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_not_panicking() {
        for bytes in [
            &[][..],
            &[1],
            &[1, 0],
            &[9, 9, 9],
            &[1, 1, 200, 200, 200, 200, 200],
        ] {
            assert!(Frame::decode(bytes, 1024).is_err(), "{bytes:?}");
        }
        assert!(matches!(
            Frame::decode(&[0; 2048], 1024),
            Err(DecodeError::TooLarge { .. })
        ));
        let f = Frame::Forward(vec![]);
        assert_eq!(Frame::decode(&f.to_bytes(), 1024).unwrap(), f);
    }
}
