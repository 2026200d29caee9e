//! A per-thread memo of recently decoded public keys.
//!
//! Decoding a public key decompresses a curve point: a field exponentiation (`pow2k`) that
//! profiling of a loaded node showed as its largest single cost, because the same few thousand
//! account keys are decoded again in every transfer that names them. The memo maps the 32 bytes of
//! a key that passed every check of [`crate::PublicKey::from_bytes`] to its decoded point, so a
//! repeated key costs a hash lookup.
//!
//! * **Transparent**: a pure function's results, keyed by the exact bytes; only keys that passed
//!   are kept, so a hit returns what decoding would. Rejected bytes are never remembered, and are
//!   checked in full every time.
//! * **Bounded**: two generations of at most [`GENERATION_KEYS`] keys each (about 230 bytes per
//!   key, so under 4 MiB per thread); when the current generation is full it becomes the previous
//!   one and the older is dropped. A key used in either generation is kept in the current one.
//!   Anyone can make valid keys, so a flood of fresh keys only turns hits back into decodes.
//! * **Per thread**: no lock, nothing shared between threads.

use crate::generations::Generations;
use ed25519_dalek::VerifyingKey;
use std::cell::RefCell;

/// Most keys in one generation.
pub const GENERATION_KEYS: usize = 8192;

thread_local! {
    static MEMO: RefCell<Generations<[u8; 32], VerifyingKey>> =
        RefCell::new(Generations::new(GENERATION_KEYS));
}

/// The decoded key for `bytes`: from the memo, or from `decode` (remembered if it succeeds).
pub(crate) fn decode_with<E>(
    bytes: &[u8; 32],
    decode: impl FnOnce() -> Result<VerifyingKey, E>,
) -> Result<VerifyingKey, E> {
    if let Some(key) = MEMO.with(|m| m.borrow_mut().get(bytes)) {
        return Ok(key);
    }
    let key = decode()?;
    MEMO.with(|m| m.borrow_mut().insert(*bytes, key));
    Ok(key)
}

/// Keys held by this thread's memo (tests).
#[cfg(test)]
pub(crate) fn len() -> usize {
    MEMO.with(|m| m.borrow().len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PublicKey, SecretKey};

    #[test]
    fn stays_within_two_generations() {
        for i in 0..(2 * GENERATION_KEYS + 100) as u32 {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&i.to_le_bytes());
            let public = SecretKey::from_bytes(&seed).public();
            PublicKey::from_bytes(public.as_bytes()).unwrap();
        }
        assert!(len() <= 2 * GENERATION_KEYS, "{} keys held", len());
    }

    #[test]
    fn a_remembered_key_decodes_to_the_same_key_and_bad_bytes_stay_bad() {
        let public = SecretKey::from_bytes(&[3; 32]).public();
        let first = PublicKey::from_bytes(public.as_bytes()).unwrap();
        let again = PublicKey::from_bytes(public.as_bytes()).unwrap();
        assert_eq!(first, again);
        assert_eq!(first.point(), public.point());
        // Not a point (y = 2 has no x on the curve), twice: refused both times.
        let mut bad = [0u8; 32];
        bad[0] = 2;
        assert!(PublicKey::from_bytes(&bad).is_err());
        assert!(PublicKey::from_bytes(&bad).is_err());
    }
}
