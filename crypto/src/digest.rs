//! SHA-256 digests.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};
use std::fmt;

/// The longest input [`Digest::of_small`] takes: two 64-byte blocks less the 9 bytes of padding.
pub const SMALL_INPUT_MAX_BYTES: usize = 2 * 64 - 9;

/// SHA-256's initial hash value (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// A SHA-256 digest: the identity of a transfer, a batch, a block or a ledger state.
///
/// Displayed and parsed as 64 lower-case hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The all-zero digest, used where "nothing yet" must still be a digest (e.g. the parent of
    /// the first block).
    pub const ZERO: Digest = Digest([0; 32]);

    /// SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(Sha256::digest(bytes).into())
    }

    /// SHA-256 of at most [`SMALL_INPUT_MAX_BYTES`] bytes: the same digest as [`Digest::of`],
    /// padded in place and compressed directly (one or two blocks), without the streaming
    /// buffer. The account tree hashes a 71-byte leaf or an 87-byte node at every level of every
    /// changed path; there the buffer management cost a fifth as much again as the compression.
    ///
    /// # Panics
    /// If `bytes` is longer than [`SMALL_INPUT_MAX_BYTES`] (a caller's bug: callers hash
    /// fixed-size inputs).
    pub fn of_small(bytes: &[u8]) -> Digest {
        let len = bytes.len();
        assert!(
            len <= SMALL_INPUT_MAX_BYTES,
            "Digest::of_small takes at most {SMALL_INPUT_MAX_BYTES} bytes, got {len}"
        );
        let mut blocks = [[0u8; 64]; 2];
        // Padding: 0x80, zeros, the length in bits as a big-endian u64 ending the last block.
        let used = if len + 9 <= 64 { 1 } else { 2 };
        let flat = blocks.as_flattened_mut();
        flat[..len].copy_from_slice(bytes);
        flat[len] = 0x80;
        flat[used * 64 - 8..used * 64].copy_from_slice(&(len as u64 * 8).to_be_bytes());
        let mut state = SHA256_IV;
        sha2::block_api::compress256(&mut state, &blocks[..used]);
        let mut out = [0u8; 32];
        for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        Digest(out)
    }

    /// SHA-256 of several parts, each prefixed with its length (u64, big-endian) so that
    /// different splits of the same bytes give different digests.
    pub fn of_parts(parts: &[&[u8]]) -> Digest {
        let mut h = Sha256::new();
        for part in parts {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        Digest(h.finalize().into())
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex form (64 characters).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses the 64-character hex form.
    pub fn from_hex(text: &str) -> Result<Digest, DigestParseError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut out).map_err(|_| DigestParseError {
            input_len: text.len(),
        })?;
        Ok(Digest(out))
    }
}

/// A digest given as text was not 64 hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a digest is 64 hex characters; got {input_len} characters that do not form one")]
pub struct DigestParseError {
    /// Length of the rejected input, in characters.
    pub input_len: usize,
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::keys::ser_bytes(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::keys::fixed_bytes::<D, 32>(deserializer, "a digest").map(Digest)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Short form keeps logs and test failures readable.
        write!(f, "Digest({}..)", &self.to_hex()[..12])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_inputs_hash_as_the_streaming_hasher_does() {
        let bytes: Vec<u8> = (0..=SMALL_INPUT_MAX_BYTES as u8)
            .map(|i| i.wrapping_mul(37))
            .collect();
        for len in 0..=SMALL_INPUT_MAX_BYTES {
            assert_eq!(
                Digest::of_small(&bytes[..len]),
                Digest::of(&bytes[..len]),
                "length {len}"
            );
        }
        assert_eq!(Digest::of_small(b"abc"), Digest::of(b"abc"));
    }

    #[test]
    #[should_panic(expected = "at most 119 bytes, got 120")]
    fn a_small_input_has_a_limit() {
        Digest::of_small(&[0; SMALL_INPUT_MAX_BYTES + 1]);
    }

    #[test]
    fn known_answer_sha256_of_abc() {
        assert_eq!(
            Digest::of(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn parts_are_length_prefixed() {
        assert_ne!(
            Digest::of_parts(&[b"ab", b"c"]),
            Digest::of_parts(&[b"a", b"bc"])
        );
    }

    #[test]
    fn hex_round_trip_and_rejects_garbage() {
        let d = Digest::of(b"x");
        assert_eq!(Digest::from_hex(&d.to_hex()).unwrap(), d);
        assert!(Digest::from_hex("zz").is_err());
        assert!(Digest::from_hex(&d.to_hex()[1..]).is_err());
    }
}
