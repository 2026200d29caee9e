//! The canonical encoding of everything bftledger signs, sends or stores.
//!
//! **Choice**: [postcard](https://docs.rs/postcard) 1.x (serde-based, stable wire format
//! specification since 1.0, actively maintained, no `unsafe` in decoding paths we use). bincode
//! was considered and rejected: its maintainers stopped development in 2025.
//!
//! **Rules**, enforced by [`decode`]:
//! * every decode has a size limit in bytes, checked *before* any parsing, so a decoder never
//!   allocates more than a small multiple of the limit (postcard reads lengths from the input and
//!   fails when the input is shorter than a claimed length);
//! * the whole input must be consumed (no trailing bytes);
//! * the input must be the canonical encoding of the value it decodes to (re-encoding gives the
//!   same bytes), so one value has exactly one encoding and hashes of encodings identify values;
//! * a [`Versioned`] type's encoding starts with a one-byte format version, so formats can evolve
//!   and an old node refuses a new format with a clear error instead of misreading it.
//!
//! Decoding arbitrary bytes returns an error, never panics (property-tested below).

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Input longer than the limit for this type.
    #[error("encoded value is {len} bytes, the limit is {max_bytes} bytes")]
    TooLarge {
        /// Input length in bytes.
        len: usize,
        /// The limit in bytes.
        max_bytes: usize,
    },
    /// The version byte is not the one this build understands.
    #[error("unsupported format version {found} (this build reads version {expected})")]
    UnknownVersion {
        /// Version byte found.
        found: u8,
        /// Version expected.
        expected: u8,
    },
    /// The input is empty where a version byte was expected.
    #[error("empty input")]
    Empty,
    /// The bytes do not parse as the expected type.
    #[error("malformed encoding: {0}")]
    Malformed(postcard::Error),
    /// A value was decoded but bytes remain after it.
    #[error("{count} unexpected trailing bytes")]
    TrailingBytes {
        /// Number of bytes left over.
        count: usize,
    },
    /// The bytes decode, but are not the canonical encoding of that value.
    #[error("non-canonical encoding")]
    NonCanonical,
}

/// Encodes `value` canonically (no version byte).
///
/// # Panics
/// Only if `value`'s `Serialize` impl asks for something postcard cannot express (a sequence
/// of unknown length): a programming error in that type, not bad input.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value)
        .unwrap_or_else(|e| panic!("type cannot be encoded canonically with postcard: {e}"))
}

/// Decodes exactly one canonically encoded `T` from `bytes`, which must be at most `max_bytes`.
pub fn decode<T: Serialize + DeserializeOwned>(
    bytes: &[u8],
    max_bytes: usize,
) -> Result<T, DecodeError> {
    if bytes.len() > max_bytes {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max_bytes,
        });
    }
    let (value, rest) = postcard::take_from_bytes::<T>(bytes).map_err(DecodeError::Malformed)?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes { count: rest.len() });
    }
    if encode(&value) != bytes {
        return Err(DecodeError::NonCanonical);
    }
    Ok(value)
}

/// A type with a versioned canonical encoding and a size limit.
///
/// Implement it for every type that crosses a trust boundary (network, disk, API).
pub trait Versioned: Serialize + DeserializeOwned {
    /// The format version, written as the first byte. Change it on any incompatible change.
    const VERSION: u8;
    /// Largest accepted encoding in bytes, version byte included.
    const MAX_BYTES: usize;

    /// The version byte followed by the canonical encoding.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![Self::VERSION];
        out.extend_from_slice(&encode(self));
        out
    }

    /// Decodes what [`Versioned::to_bytes`] wrote, enforcing every rule of this module.
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > Self::MAX_BYTES {
            return Err(DecodeError::TooLarge {
                len: bytes.len(),
                max_bytes: Self::MAX_BYTES,
            });
        }
        let (&version, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
        if version != Self::VERSION {
            return Err(DecodeError::UnknownVersion {
                found: version,
                expected: Self::VERSION,
            });
        }
        decode(body, Self::MAX_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Sample {
        id: u64,
        amount: u64,
        memo: Option<String>,
        parts: Vec<Vec<u8>>,
        digest: crate::Digest,
    }

    impl Versioned for Sample {
        const VERSION: u8 = 3;
        const MAX_BYTES: usize = 4096;
    }

    fn sample() -> impl Strategy<Value = Sample> {
        (
            any::<u64>(),
            any::<u64>(),
            proptest::option::of("[a-z]{0,20}"),
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8),
            any::<[u8; 32]>(),
        )
            .prop_map(|(id, amount, memo, parts, d)| Sample {
                id,
                amount,
                memo,
                parts,
                digest: crate::Digest(d),
            })
    }

    proptest! {
        #[test]
        fn round_trip(value in sample()) {
            let bytes = value.to_bytes();
            prop_assert_eq!(bytes[0], 3);
            prop_assert_eq!(Sample::from_bytes(&bytes).unwrap(), value);
        }

        /// Arbitrary bytes never panic; whatever decodes re-encodes to the same bytes.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(value) = Sample::from_bytes(&bytes) {
                prop_assert_eq!(value.to_bytes(), bytes);
            }
        }

        /// Corrupting one byte of a valid encoding never panics and never yields the original
        /// bytes' value under a different encoding.
        #[test]
        fn bit_flips_never_panic(value in sample(), pos in any::<usize>(), flip in 1u8..=255) {
            let mut bytes = value.to_bytes();
            let pos = pos % bytes.len();
            bytes[pos] ^= flip;
            if let Ok(decoded) = Sample::from_bytes(&bytes) {
                prop_assert_eq!(decoded.to_bytes(), bytes);
            }
        }
    }

    #[test]
    fn over_limit_input_is_rejected_before_parsing() {
        let bytes = vec![3u8; Sample::MAX_BYTES + 1];
        assert_eq!(
            Sample::from_bytes(&bytes),
            Err(DecodeError::TooLarge {
                len: Sample::MAX_BYTES + 1,
                max_bytes: Sample::MAX_BYTES
            })
        );
    }

    #[test]
    fn huge_claimed_length_does_not_allocate_it() {
        // A Vec<u8> whose varint length claims ~2^63 bytes, in a 12-byte input.
        let mut bytes = vec![0xff; 9];
        bytes.push(0x7f);
        let result: Result<Vec<u8>, _> = decode(&bytes, 64);
        assert!(matches!(result, Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn wrong_version_trailing_bytes_and_non_canonical_are_rejected() {
        let value = Sample {
            id: 1,
            amount: 2,
            memo: None,
            parts: vec![],
            digest: crate::Digest::ZERO,
        };
        let mut bytes = value.to_bytes();
        bytes[0] = 4;
        assert_eq!(
            Sample::from_bytes(&bytes),
            Err(DecodeError::UnknownVersion {
                found: 4,
                expected: 3
            })
        );
        assert_eq!(Sample::from_bytes(&[]), Err(DecodeError::Empty));
        let mut trailing = value.to_bytes();
        trailing.push(0);
        assert_eq!(
            Sample::from_bytes(&trailing),
            Err(DecodeError::TrailingBytes { count: 1 })
        );
        // u64 value 1 written as an overlong varint (0x81 0x00) instead of 0x01.
        let overlong = [0x81u8, 0x00];
        let result: Result<u64, _> = decode(&overlong, 16);
        assert!(
            matches!(
                result,
                Err(DecodeError::NonCanonical) | Err(DecodeError::Malformed(_))
            ),
            "{result:?}"
        );
    }
}
