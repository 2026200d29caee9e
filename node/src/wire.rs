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

/// Bytes a [`Frame::Consensus`] adds to the [`SignedMessage::to_bytes`] it carries: both start
/// with a version byte; the frame then has its variant tag (a one-byte varint) where the
/// message's version byte was. Checked against the real encoding in the tests.
pub const CONSENSUS_FRAME_OVERHEAD_BYTES: usize = 1;

/// The frame size that carries a consensus message of `message_bytes` (`p2p.max_frame_bytes` must
/// hold this for `consensus.max_message_bytes`).
pub const fn consensus_frame_bytes(message_bytes: usize) -> usize {
    message_bytes.saturating_add(CONSENSUS_FRAME_OVERHEAD_BYTES)
}

impl Frame {
    /// Decodes a frame of at most `max_frame_bytes` (`p2p.max_frame_bytes`); a consensus frame
    /// must also carry a message of at most `max_message_bytes` (`consensus.max_message_bytes`,
    /// which the frame limit may exceed): a peer's message is held to the same limit as ours.
    pub fn decode(
        bytes: &[u8],
        max_frame_bytes: usize,
        max_message_bytes: usize,
    ) -> Result<Frame, DecodeError> {
        if bytes.len() > max_frame_bytes {
            return Err(DecodeError::TooLarge {
                len: bytes.len(),
                max_bytes: max_frame_bytes,
            });
        }
        let frame = Frame::from_bytes(bytes)?;
        if matches!(frame, Frame::Consensus(_))
            && bytes.len() > consensus_frame_bytes(max_message_bytes)
        {
            return Err(DecodeError::TooLarge {
                len: bytes.len() - CONSENSUS_FRAME_OVERHEAD_BYTES,
                max_bytes: max_message_bytes,
            });
        }
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A consensus config of four fixed validators (for the largest message of each kind).
    fn four_validators() -> bftledger_consensus::Config {
        let keys: Vec<_> = (1..=4u8)
            .map(|i| bftledger_crypto::SecretKey::from_bytes(&[i; 32]).public())
            .collect();
        bftledger_consensus::Config::new(keys)
    }

    /// The framing allowance is exact for every consensus message kind, from the smallest to
    /// one with a batch whose length prefix takes several bytes.
    #[test]
    fn consensus_frame_overhead_matches_the_encoding() {
        let config = four_validators();
        for message in bftledger_consensus::bounds::largest_messages(&config) {
            let bytes = message.to_bytes().len();
            let frame = Frame::Consensus(message).to_bytes().len();
            assert_eq!(frame, consensus_frame_bytes(bytes));
        }
    }

    #[test]
    fn garbage_is_refused_not_panicking() {
        for bytes in [
            &[][..],
            &[1],
            &[1, 0],
            &[9, 9, 9],
            &[1, 1, 200, 200, 200, 200, 200],
        ] {
            assert!(Frame::decode(bytes, 1024, 1024).is_err(), "{bytes:?}");
        }
        assert!(matches!(
            Frame::decode(&[0; 2048], 1024, 1024),
            Err(DecodeError::TooLarge { .. })
        ));
        let f = Frame::Forward(vec![]);
        assert_eq!(Frame::decode(&f.to_bytes(), 1024, 1024).unwrap(), f);
    }

    /// A consensus message above `consensus.max_message_bytes` is refused even when its frame is
    /// within `p2p.max_frame_bytes`: a Byzantine peer gets no larger messages in than we send.
    #[test]
    fn a_consensus_message_above_the_message_limit_is_refused_inside_a_legal_frame() {
        let config = four_validators();
        let message = bftledger_consensus::bounds::largest_messages(&config)
            .into_iter()
            .max_by_key(|m| m.to_bytes().len())
            .expect("messages");
        let len = message.to_bytes().len();
        let frame = Frame::Consensus(message).to_bytes();
        let big_frame_limit = frame.len() * 2;
        assert!(Frame::decode(&frame, big_frame_limit, len).is_ok());
        assert!(matches!(
            Frame::decode(&frame, big_frame_limit, len - 1),
            Err(DecodeError::TooLarge { len: l, max_bytes }) if l == len && max_bytes == len - 1
        ));
        // Forwards are bounded by their own count limit, not the message limit.
        let forward = Frame::Forward(vec![]).to_bytes();
        assert!(Frame::decode(&forward, 1024, 0).is_ok());
    }
}
