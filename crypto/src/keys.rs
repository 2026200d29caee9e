//! ed25519 keys and signatures with a domain-separation tag per purpose.
//!
//! A signature is always made over `domain.tag() || message`. Tags are fixed, distinct and end
//! in a NUL byte, so no tag is a prefix of another: bytes signed for [`Domain::Transfer`] can
//! never verify as a [`Domain::Consensus`] message, whatever the message bytes are.

use crate::Digest;
use curve25519_dalek::edwards::EdwardsPoint;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use zeroize::Zeroizing;

/// What a signature is for. Each purpose has its own tag, mixed into every signed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Domain {
    /// A client's transfer of funds.
    Transfer,
    /// A validator's consensus message (pre-prepare, prepare, commit, checkpoint, view change,
    /// new view).
    Consensus,
}

impl Domain {
    /// The bytes prepended to every message signed for this purpose.
    pub const fn tag(self) -> &'static [u8] {
        match self {
            Domain::Transfer => b"bftledger/transfer/v1\0",
            Domain::Consensus => b"bftledger/consensus/v1\0",
        }
    }

    pub(crate) fn tagged(self, message: &[u8]) -> Vec<u8> {
        let tag = self.tag();
        let mut out = Vec::with_capacity(tag.len() + message.len());
        out.extend_from_slice(tag);
        out.extend_from_slice(message);
        out
    }
}

/// Why a key or a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The 32 bytes do not decode to a point on the curve.
    #[error("public key is not a valid ed25519 point")]
    InvalidPublicKey,
    /// The key is of small order: anyone could forge signatures for it, so it is refused.
    #[error("public key has small order and is refused")]
    WeakPublicKey,
    /// The signature does not verify (strictly) for this key, message and purpose.
    #[error("signature does not verify for this key, message and purpose")]
    BadSignature,
}

/// An ed25519 signing key. Zeroized on drop; its `Debug` form never shows the secret.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A fresh key from the operating system's random source.
    ///
    /// # Panics
    /// If the operating system has no working random source: no key can be made safely then.
    pub fn generate() -> SecretKey {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).expect("the operating system's random source failed");
        SecretKey::from_bytes(&seed)
    }

    /// The key with this 32-byte seed.
    pub fn from_bytes(seed: &[u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(seed))
    }

    /// The 32-byte seed; wiped from memory when the returned value is dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey::from_verifying_key(self.0.verifying_key())
    }

    /// Signs `message` for `domain`.
    pub fn sign(&self, domain: Domain, message: &[u8]) -> Signature {
        Signature(self.0.sign(&domain.tagged(message)).to_bytes())
    }

    /// Another valid signature of `message` for `domain`: ed25519 signatures are not unique
    /// (any nonce gives one), and a malicious client can make as many as it likes. With the
    /// feature `second-signature` only, for the simulator's adversary: the nonce is derived
    /// from `salt` instead of the key, which is safe only because each salt signs one message.
    #[cfg(feature = "second-signature")]
    pub fn sign_again(&self, domain: Domain, message: &[u8], salt: [u8; 32]) -> Signature {
        use ed25519_dalek::hazmat::{raw_sign, ExpandedSecretKey};
        let mut expanded = ExpandedSecretKey::from(&self.0.to_bytes());
        expanded.hash_prefix = salt;
        let tagged = domain.tagged(message);
        let signature = raw_sign::<sha2::Sha512>(&expanded, &tagged, &self.0.verifying_key());
        Signature(signature.to_bytes())
    }
}

impl Clone for SecretKey {
    fn clone(&self) -> Self {
        SecretKey::from_bytes(&self.to_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(<redacted>, public {})", self.public())
    }
}

/// An ed25519 public key that passed strict checks: a canonically encoded point, not of small
/// order.
///
/// Displayed as its [`crate::Address`]; ordered and hashed by its bytes.
#[derive(Clone, Copy)]
pub struct PublicKey {
    bytes: [u8; 32],
    key: VerifyingKey,
}

impl PublicKey {
    fn from_verifying_key(key: VerifyingKey) -> PublicKey {
        PublicKey {
            bytes: key.to_bytes(),
            key,
        }
    }

    /// Parses 32 bytes, refusing invalid or non-canonically encoded points and small-order
    /// ("weak") keys.
    ///
    /// Keys that passed are remembered per thread ([`crate::key_memo`]), so decoding a key seen
    /// recently costs a lookup instead of a point decompression; the verdict is the same.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, CryptoError> {
        let key = crate::key_memo::decode_with(bytes, || {
            if !crate::batch::canonical_encoding(bytes) {
                return Err(CryptoError::InvalidPublicKey);
            }
            let key = VerifyingKey::from_bytes(bytes).map_err(|_| CryptoError::InvalidPublicKey)?;
            if key.is_weak() {
                return Err(CryptoError::WeakPublicKey);
            }
            Ok(key)
        })?;
        Ok(PublicKey::from_verifying_key(key))
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// A short, stable identifier for logs: the first 8 hex characters of the key.
    pub fn short(&self) -> String {
        hex::encode(&self.bytes[..4])
    }

    /// SHA-256 of the key bytes.
    pub fn digest(&self) -> Digest {
        Digest::of(&self.bytes)
    }

    /// Strict verification of a signature over `message` for `domain`: canonical encodings, no
    /// small-order points, and the cofactored equation that [`crate::verify_batch`] checks too,
    /// so a signature gets the same verdict alone and in any batch (see the `batch` module doc).
    pub fn verify(
        &self,
        domain: Domain,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        if crate::batch::verify_one(domain, self, message, signature) {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }

    pub(crate) fn point(&self) -> EdwardsPoint {
        self.key.to_edwards()
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for PublicKey {}
impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state)
    }
}
impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.bytes.cmp(&other.bytes)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", crate::Address::from(*self))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.short())
    }
}

/// A 64-byte ed25519 signature. Shown as hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    /// The raw 64 bytes.
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}..)", hex::encode(&self.0[..6]))
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

// ---- serde: raw bytes in binary formats (postcard), text in human-readable ones (JSON, TOML).

pub(crate) fn fixed_bytes<'de, D: Deserializer<'de>, const N: usize>(
    deserializer: D,
    what: &'static str,
) -> Result<[u8; N], D::Error> {
    if deserializer.is_human_readable() {
        let text = String::deserialize(deserializer)?;
        let mut out = [0u8; N];
        hex::decode_to_slice(text.trim(), &mut out)
            .map_err(|_| de::Error::custom(format!("{what} must be {} hex characters", 2 * N)))?;
        Ok(out)
    } else {
        struct V<const N: usize>(&'static str);
        impl<'de, const N: usize> de::Visitor<'de> for V<N> {
            type Value = [u8; N];
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{} as {N} bytes", self.0)
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
                v.try_into().map_err(|_| E::invalid_length(v.len(), &self))
            }
        }
        deserializer.deserialize_bytes(V::<N>(what))
    }
}

pub(crate) fn ser_bytes<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        serializer.serialize_str(&hex::encode(bytes))
    } else {
        serializer.serialize_bytes(bytes)
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ser_bytes(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        fixed_bytes::<D, 64>(deserializer, "a signature").map(Signature)
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.to_string())
        } else {
            serializer.serialize_bytes(&self.bytes)
        }
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            text.parse::<crate::Address>()
                .map(|a| a.public_key())
                .map_err(de::Error::custom)
        } else {
            let bytes = fixed_bytes::<D, 32>(deserializer, "a public key")?;
            PublicKey::from_bytes(&bytes).map_err(de::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second signature of one message verifies and differs from the first: two request
    /// bytes for one transfer (what the consensus request identity must see through).
    #[cfg(feature = "second-signature")]
    #[test]
    fn a_second_signature_of_one_message_verifies_and_differs() {
        let key = SecretKey::from_bytes(&[7; 32]);
        let first = key.sign(Domain::Transfer, b"pay bob 5");
        let second = key.sign_again(Domain::Transfer, b"pay bob 5", [1; 32]);
        assert_ne!(first, second);
        for s in [first, second] {
            key.public()
                .verify(Domain::Transfer, b"pay bob 5", &s)
                .unwrap();
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = SecretKey::from_bytes(&[7u8; 32]);
        let shown = format!("{key:?}");
        assert!(shown.contains("redacted"));
        assert!(!shown.contains(&hex::encode([7u8; 32])));
        assert!(!shown.contains("7, 7, 7"));
    }

    #[test]
    fn small_order_public_keys_are_refused() {
        // The identity point (y = 1) has order 1.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            PublicKey::from_bytes(&identity),
            Err(CryptoError::WeakPublicKey)
        );
    }

    #[test]
    fn non_canonical_signature_scalar_is_refused() {
        let key = SecretKey::from_bytes(&[1u8; 32]);
        let mut sig = key.sign(Domain::Transfer, b"m");
        // Add the group order L to s: same point equation, non-canonical encoding.
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for (s_byte, l_byte) in sig.0[32..].iter_mut().zip(l) {
            let v = *s_byte as u16 + l_byte as u16 + carry;
            *s_byte = v as u8;
            carry = v >> 8;
        }
        assert_eq!(
            key.public().verify(Domain::Transfer, b"m", &sig),
            Err(CryptoError::BadSignature)
        );
    }

    #[test]
    fn json_uses_addresses_and_hex_postcard_uses_bytes() {
        let key = SecretKey::from_bytes(&[3u8; 32]);
        let pk = key.public();
        let sig = key.sign(Domain::Transfer, b"m");
        let json = serde_json::to_string(&(pk, sig)).unwrap();
        assert!(json.starts_with("[\"bft1"), "{json}");
        let back: (PublicKey, Signature) = serde_json::from_str(&json).unwrap();
        assert_eq!(back, (pk, sig));
        let bin = postcard::to_allocvec(&(pk, sig)).unwrap();
        assert_eq!(bin.len(), 1 + 32 + 1 + 64);
        let back: (PublicKey, Signature) = postcard::from_bytes(&bin).unwrap();
        assert_eq!(back, (pk, sig));
    }
}
