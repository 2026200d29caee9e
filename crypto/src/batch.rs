//! Batch verification of many signatures at once, naming the bad ones when the batch fails.
//!
//! Verifying a batch costs roughly half of verifying each signature alone (measured ~2x on this
//! project's machines), which matters because every replica checks every client signature of
//! every proposed batch (ARCHITECTURE §2).
//!
//! Consistency with [`PublicKey::verify`]: keys are strict already (weak keys cannot be built),
//! and each signature's `s` must be canonical and its `R` must not be of small order before it
//! enters the batch. The batch equation itself is the cofactored one, which can differ from
//! strict single verification only for signatures deliberately crafted with mixed-order `R`
//! by their own signer. Replicas always verify the same batch with the same function, so they
//! still agree; when the batch fails, each item is re-checked with strict single verification.

use crate::{Domain, PublicKey, Signature};
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::scalar::Scalar;

/// One signed item to verify: who signed, what, and the signature.
#[derive(Debug, Clone, Copy)]
pub struct BatchItem<'a> {
    /// The claimed signer.
    pub signer: &'a PublicKey,
    /// The message as the signer saw it (without the domain tag; that is added here).
    pub message: &'a [u8],
    /// The signature to check.
    pub signature: &'a Signature,
}

/// A batch did not verify; `bad` lists the positions (0-based, ascending) of every item whose
/// signature is invalid. It is never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} of the batch's signatures do not verify (positions {bad:?})", bad.len())]
pub struct BatchError {
    /// Positions of the invalid items.
    pub bad: Vec<usize>,
}

/// Verifies all `items` for `domain`. An empty batch verifies.
pub fn verify_batch(domain: Domain, items: &[BatchItem<'_>]) -> Result<(), BatchError> {
    if items.is_empty() {
        return Ok(());
    }
    if items.len() == 1 || !items.iter().all(|i| well_formed(i.signature)) {
        return individually(domain, items);
    }
    let tagged: Vec<Vec<u8>> = items.iter().map(|i| domain.tagged(i.message)).collect();
    let messages: Vec<&[u8]> = tagged.iter().map(Vec::as_slice).collect();
    let signatures: Vec<ed25519_dalek::Signature> = items
        .iter()
        .map(|i| ed25519_dalek::Signature::from_bytes(&i.signature.0))
        .collect();
    let keys: Vec<ed25519_dalek::VerifyingKey> =
        items.iter().map(|i| *i.signer.verifying_key()).collect();
    match ed25519_dalek::verify_batch(&messages, &signatures, &keys) {
        Ok(()) => Ok(()),
        Err(_) => individually(domain, items),
    }
}

/// `s` canonical and `R` a valid point not of small order: what strict verification demands
/// beyond the equation.
fn well_formed(signature: &Signature) -> bool {
    let mut r = [0u8; 32];
    let mut s = [0u8; 32];
    r.copy_from_slice(&signature.0[..32]);
    s.copy_from_slice(&signature.0[32..]);
    let s_ok = bool::from(Scalar::from_canonical_bytes(s).is_some());
    let r_ok = CompressedEdwardsY(r)
        .decompress()
        .is_some_and(|p| !p.is_small_order());
    s_ok && r_ok
}

fn individually(domain: Domain, items: &[BatchItem<'_>]) -> Result<(), BatchError> {
    let bad: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, i)| i.signer.verify(domain, i.message, i.signature).is_err())
        .map(|(pos, _)| pos)
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(BatchError { bad })
    }
}
