//! The binary form of a batch submission: `POST /v1/transfers/batch` with
//! `Content-Type: application/octet-stream` (docs/PROTOCOL.md §3.4, "Binary form of a batch").
//!
//! Why a second form: a client already holds each transfer's canonical bytes (it signs them), and
//! decoding JSON (bech32 addresses, hex signatures, decimal strings) is the largest cost of a
//! submission after the signature check itself (profile in testnet/BENCHMARKS.md). The body is the
//! transfers' canonical encodings, each behind its length:
//!
//! ```text
//! body   = record+                      (1 ..= api.max_batch_transfers records)
//! record = length (u16, big-endian) || signed_transfer (PROTOCOL.md §3.3, `length` bytes)
//! ```
//!
//! A record's length is 1 ..= [`SignedTransfer::MAX_BYTES`]; the bytes must decode canonically
//! (version byte, no trailing bytes), exactly as a consensus request payload must. The answer is
//! the JSON one of the JSON form, one result per record, in order.

use bftledger_crypto::encoding::{DecodeError, Versioned};
use bftledger_ledger::SignedTransfer;

/// The media type of the binary form.
pub const CONTENT_TYPE: &str = "application/octet-stream";

/// Bytes of a record's length prefix.
pub const LENGTH_PREFIX_BYTES: usize = 2;

/// Why a binary batch body was refused (HTTP 400 `bad_transfer_bytes`; the record's index and
/// byte offset say where).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinaryBatchError {
    /// The body is empty.
    #[error("the body holds no transfer")]
    Empty,
    /// More records than a batch may hold.
    #[error("a batch holds 1..={max} transfers; this one has more")]
    TooMany {
        /// `api.max_batch_transfers`.
        max: usize,
    },
    /// The body ends inside a length prefix.
    #[error("record {index} at byte {offset}: the body ends inside its 2-byte length")]
    TruncatedLength {
        /// The record's position (from 0).
        index: usize,
        /// Where its length prefix starts.
        offset: usize,
    },
    /// A length outside 1 ..= [`SignedTransfer::MAX_BYTES`].
    #[error("record {index} at byte {offset}: length {len} is outside 1..={max}")]
    BadLength {
        /// The record's position (from 0).
        index: usize,
        /// Where its length prefix starts.
        offset: usize,
        /// The length it gives.
        len: usize,
        /// [`SignedTransfer::MAX_BYTES`].
        max: usize,
    },
    /// The body ends before the record's bytes do.
    #[error("record {index} at byte {offset}: {len} bytes announced, {left} left in the body")]
    Truncated {
        /// The record's position (from 0).
        index: usize,
        /// Where its length prefix starts.
        offset: usize,
        /// The length it gives.
        len: usize,
        /// Bytes left after the prefix.
        left: usize,
    },
    /// The record's bytes are not a canonical signed transfer.
    #[error("record {index} at byte {offset}: {error}")]
    Decode {
        /// The record's position (from 0).
        index: usize,
        /// Where its length prefix starts.
        offset: usize,
        /// What the decoder found.
        error: DecodeError,
    },
}

/// Decodes a binary batch body of at most `max_transfers` records.
pub fn decode(body: &[u8], max_transfers: usize) -> Result<Vec<SignedTransfer>, BinaryBatchError> {
    if body.is_empty() {
        return Err(BinaryBatchError::Empty);
    }
    let mut transfers = Vec::new();
    let mut offset = 0;
    while offset < body.len() {
        let index = transfers.len();
        if index == max_transfers {
            return Err(BinaryBatchError::TooMany { max: max_transfers });
        }
        let Some(prefix) = body.get(offset..offset + LENGTH_PREFIX_BYTES) else {
            return Err(BinaryBatchError::TruncatedLength { index, offset });
        };
        let len = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
        let max = SignedTransfer::MAX_BYTES;
        if len == 0 || len > max {
            return Err(BinaryBatchError::BadLength {
                index,
                offset,
                len,
                max,
            });
        }
        let start = offset + LENGTH_PREFIX_BYTES;
        let Some(bytes) = body.get(start..start + len) else {
            let left = body.len() - start;
            return Err(BinaryBatchError::Truncated {
                index,
                offset,
                len,
                left,
            });
        };
        let transfer =
            SignedTransfer::from_bytes(bytes).map_err(|error| BinaryBatchError::Decode {
                index,
                offset,
                error,
            })?;
        transfers.push(transfer);
        offset = start + len;
    }
    Ok(transfers)
}

/// The binary body for `transfers` (what [`decode`] reads).
pub fn encode(transfers: &[SignedTransfer]) -> Vec<u8> {
    let mut body = Vec::with_capacity(transfers.len() * 200);
    for t in transfers {
        let bytes = t.to_bytes();
        let len = u16::try_from(bytes.len()).expect("a signed transfer is at most MAX_BYTES long");
        body.extend_from_slice(&len.to_be_bytes());
        body.extend_from_slice(&bytes);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use bftledger_crypto::SecretKey;
    use bftledger_ledger::Transfer;

    fn transfer(nonce: u64, memo: Option<String>) -> SignedTransfer {
        let key = SecretKey::from_bytes(&[7; 32]);
        Transfer {
            chain_id: "binary-test".into(),
            from: key.public(),
            to: SecretKey::from_bytes(&[8; 32]).public(),
            amount: u64::MAX,
            nonce,
            memo,
        }
        .sign(&key)
    }

    #[test]
    fn a_batch_round_trips_and_keeps_its_order() {
        let batch = vec![transfer(1, None), transfer(2, Some("rent".into()))];
        assert_eq!(decode(&encode(&batch), 2), Ok(batch));
    }

    /// The largest legal record (a memo of the longest length the ledger takes) fits the
    /// length prefix and the decoder's limit.
    #[test]
    fn the_largest_transfer_fits_a_record() {
        let key = SecretKey::from_bytes(&[7; 32]);
        let largest = Transfer {
            chain_id: "c".repeat(bftledger_ledger::MAX_CHAIN_ID_BYTES),
            from: key.public(),
            to: SecretKey::from_bytes(&[8; 32]).public(),
            amount: u64::MAX,
            nonce: u64::MAX,
            memo: Some("m".repeat(bftledger_ledger::MAX_MEMO_BYTES)),
        }
        .sign(&key);
        let body = encode(std::slice::from_ref(&largest));
        assert!(body.len() - LENGTH_PREFIX_BYTES <= SignedTransfer::MAX_BYTES);
        assert_eq!(decode(&body, 1), Ok(vec![largest]));
    }

    #[test]
    fn malformed_bodies_are_refused_with_where() {
        let good = encode(&[transfer(1, None)]);
        let record_len = good.len();
        assert_eq!(decode(&[], 5), Err(BinaryBatchError::Empty));
        assert_eq!(
            decode(&[good.clone(), good.clone()].concat(), 1),
            Err(BinaryBatchError::TooMany { max: 1 })
        );
        let mut one_byte_more = good.clone();
        one_byte_more.push(0);
        assert_eq!(
            decode(&one_byte_more, 5),
            Err(BinaryBatchError::TruncatedLength {
                index: 1,
                offset: record_len
            })
        );
        assert!(matches!(
            decode(&[0, 0], 5),
            Err(BinaryBatchError::BadLength { len: 0, .. })
        ));
        let too_long = (SignedTransfer::MAX_BYTES as u16 + 1).to_be_bytes();
        assert!(matches!(
            decode(&too_long, 5),
            Err(BinaryBatchError::BadLength { index: 0, .. })
        ));
        assert!(matches!(
            decode(&good[..record_len - 1], 5),
            Err(BinaryBatchError::Truncated { index: 0, left, .. }) if left == record_len - 3
        ));
        // A wrong version byte, and a record one byte longer than its transfer (trailing byte).
        let mut bad_version = good.clone();
        bad_version[LENGTH_PREFIX_BYTES] ^= 0xff;
        assert!(matches!(
            decode(&bad_version, 5),
            Err(BinaryBatchError::Decode {
                error: DecodeError::UnknownVersion { .. },
                ..
            })
        ));
        let mut trailing = good[LENGTH_PREFIX_BYTES..].to_vec();
        trailing.push(0);
        let mut body = u16::try_from(trailing.len())
            .unwrap()
            .to_be_bytes()
            .to_vec();
        body.extend_from_slice(&trailing);
        assert!(matches!(
            decode(&body, 5),
            Err(BinaryBatchError::Decode {
                error: DecodeError::TrailingBytes { .. },
                ..
            })
        ));
    }
}
