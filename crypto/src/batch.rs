//! Signature verification: one cofactored equation for single and batch verification, and batch
//! verification that names the bad items when a batch fails.
//!
//! **Why our own equation.** ed25519 verifiers disagree on edge cases ("Taming the many EdDSAs",
//! Chalkias et al. 2020). ed25519-dalek 3.0's `verify_strict` and its `verify_batch` both check the
//! cofactorless equation, but the batch version multiplies each signature by a coefficient, so a
//! signature whose `R` has a torsion component is accepted or refused depending on the *other*
//! items in its batch. In a BFT system that is a consensus split: a transfer checked alone in one
//! replica's mempool and inside a proposed batch at another must get the same verdict. We verify
//! with the **cofactored** equation `[8]([s]B - R - [k]A) = 0` (as ZIP-215 does), alone and in
//! batches; a signature is then accepted in a batch exactly when it is accepted alone (up to a
//! 2^-128 chance of a bad batch passing, from the 128-bit coefficients).
//!
//! **Strict encodings** on top of the equation: `s < ℓ`, `R` and the key canonically encoded,
//! neither of small order (keys are checked when a [`PublicKey`] is built).
//!
//! **Speed.** A batch of n costs one multiscalar multiplication of 2n + 1 points instead of n
//! double-scalar multiplications: about twice as fast per signature for large batches (run
//! `cargo run --release -p bftledger-crypto --example sigbench`). Every replica checks every client
//! signature of every proposed batch (ARCHITECTURE §2), so this matters.
//!
//! The coefficients are derived from a hash of every item (Fiat–Shamir), so verification is
//! deterministic: the same batch gets the same answer on every replica, and nobody can choose
//! signatures after seeing the coefficients.

use crate::{Domain, PublicKey, Signature};
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest as _, Sha512};

/// Tag of the hash that derives batch coefficients.
const BATCH_COEFFICIENT_TAG: &[u8] = b"bftledger/batch-verify-coefficients/v1\0";

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
    #[cfg(feature = "verdict-memo")]
    if crate::verdict_memo::all_good(domain, items) {
        return Ok(());
    }
    let decoded: Option<Vec<Equation>> = items
        .iter()
        .map(|i| Equation::new(domain, i.signer, i.message, i.signature))
        .collect();
    let all_hold = match decoded {
        Some(equations) if equations.len() > 1 => holds_together(&equations),
        // Zero or one item, or some item malformed: check one by one.
        _ => false,
    };
    if all_hold || items.is_empty() {
        #[cfg(feature = "verdict-memo")]
        crate::verdict_memo::remember_good(domain, items);
        return Ok(());
    }
    let bad: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, i)| !verify_one(domain, i.signer, i.message, i.signature))
        .map(|(pos, _)| pos)
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(BatchError { bad })
    }
}

/// Verifies one signature with the cofactored equation (see the module doc).
pub(crate) fn verify_one(
    domain: Domain,
    signer: &PublicKey,
    message: &[u8],
    signature: &Signature,
) -> bool {
    #[cfg(feature = "verdict-memo")]
    return crate::verdict_memo::through(domain, signer, message, signature, || {
        check_one(domain, signer, message, signature)
    });
    #[cfg(not(feature = "verdict-memo"))]
    check_one(domain, signer, message, signature)
}

/// The cofactored equation for one signature, computed.
fn check_one(domain: Domain, signer: &PublicKey, message: &[u8], signature: &Signature) -> bool {
    let Some(eq) = Equation::new(domain, signer, message, signature) else {
        return false;
    };
    let sb_minus_ka = EdwardsPoint::vartime_double_scalar_mul_basepoint(&eq.k, &-eq.a, &eq.s);
    (sb_minus_ka - eq.r).mul_by_cofactor().is_identity()
}

/// The parts of one verification equation `[s]B = R + [k]A`.
struct Equation {
    r: EdwardsPoint,
    a: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

impl Equation {
    /// Decodes a signature, refusing non-canonical `s`, non-canonical or small-order `R`.
    fn new(
        domain: Domain,
        signer: &PublicKey,
        message: &[u8],
        signature: &Signature,
    ) -> Option<Equation> {
        let mut r_bytes = [0u8; 32];
        let mut s_bytes = [0u8; 32];
        r_bytes.copy_from_slice(&signature.0[..32]);
        s_bytes.copy_from_slice(&signature.0[32..]);
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
        let r = canonical_point(&r_bytes)?;
        if r.is_small_order() {
            return None;
        }
        let mut h = Sha512::new();
        h.update(r_bytes);
        h.update(signer.as_bytes());
        h.update(domain.tag());
        h.update(message);
        let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        Some(Equation {
            r,
            a: signer.point(),
            s,
            k,
        })
    }
}

/// Whether every equation holds, checked as one random linear combination:
/// `[8]( -(Σ z_i s_i) B + Σ z_i R_i + Σ (z_i k_i) A_i ) = 0`.
fn holds_together(equations: &[Equation]) -> bool {
    let z = coefficients(equations);
    let b_coefficient: Scalar = -equations
        .iter()
        .zip(&z)
        .map(|(eq, z)| z * eq.s)
        .sum::<Scalar>();
    let scalars = std::iter::once(b_coefficient)
        .chain(z.iter().copied())
        .chain(equations.iter().zip(&z).map(|(eq, z)| z * eq.k));
    let points = std::iter::once(ED25519_BASEPOINT_POINT)
        .chain(equations.iter().map(|eq| eq.r))
        .chain(equations.iter().map(|eq| eq.a));
    EdwardsPoint::vartime_multiscalar_mul(scalars, points)
        .mul_by_cofactor()
        .is_identity()
}

/// 128-bit coefficients derived from every item's challenge `k` (which commits to R, A and the
/// message) and `s`.
fn coefficients(equations: &[Equation]) -> Vec<Scalar> {
    let mut transcript = Sha512::new();
    transcript.update(BATCH_COEFFICIENT_TAG);
    transcript.update((equations.len() as u64).to_le_bytes());
    for eq in equations {
        transcript.update(eq.k.as_bytes());
        transcript.update(eq.s.as_bytes());
    }
    let seed = transcript.finalize();
    (0..equations.len() as u64)
        .map(|i| {
            let mut h = Sha512::new();
            h.update(seed);
            h.update(i.to_le_bytes());
            let wide = h.finalize();
            let mut z = [0u8; 16];
            z.copy_from_slice(&wide[..16]);
            Scalar::from(u128::from_le_bytes(z))
        })
        .collect()
}

/// Decodes `bytes` if it is the canonical encoding of a curve point.
pub(crate) fn canonical_point(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    if !canonical_encoding(bytes) {
        return None;
    }
    CompressedEdwardsY(*bytes).decompress()
}

/// Whether `bytes` is a canonical point encoding, judged on the bytes alone: `y < p` and no sign
/// bit on `x = 0` (which happens exactly for `y = 1` and `y = p - 1`).
///
/// Equivalent to "decompress, compress again, compare" (a property test checks this) without
/// the field inversion that re-compression costs: profiling a loaded node showed field
/// exponentiations (inversions and square roots in point decoding) taking half of its CPU.
pub(crate) fn canonical_encoding(bytes: &[u8; 32]) -> bool {
    let sign = bytes[31] >> 7;
    let mut y = *bytes;
    y[31] &= 0x7f;
    let all_ff = y[1..31].iter().all(|&b| b == 0xff);
    // p = 2^255 - 19: little-endian 0xed, 0xff x 30, 0x7f.
    if y[31] == 0x7f && all_ff && y[0] >= 0xed {
        return false;
    }
    if sign == 1 {
        let y_is_one = y[0] == 1 && y[1..].iter().all(|&b| b == 0);
        let y_is_p_minus_one = y[0] == 0xec && all_ff && y[31] == 0x7f;
        if y_is_one || y_is_p_minus_one {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reference definition: decoding then re-encoding gives the same bytes.
    fn round_trips(bytes: &[u8; 32]) -> Option<bool> {
        CompressedEdwardsY(*bytes)
            .decompress()
            .map(|p| p.compress().to_bytes() == *bytes)
    }

    fn check(bytes: [u8; 32]) {
        if let Some(reference) = round_trips(&bytes) {
            assert_eq!(canonical_encoding(&bytes), reference, "{bytes:02x?}");
        }
    }

    #[test]
    fn byte_check_matches_round_trip_on_edge_cases() {
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        for low in 0xe0..=0xffu8 {
            for sign in [0u8, 0x80] {
                let mut b = p;
                b[0] = low;
                b[31] |= sign;
                check(b);
            }
        }
        for y0 in [0u8, 1, 2] {
            for sign in [0u8, 0x80] {
                let mut b = [0u8; 32];
                b[0] = y0;
                b[31] = sign;
                check(b);
            }
        }
    }

    proptest! {
        #[test]
        fn byte_check_matches_round_trip(bytes in any::<[u8; 32]>()) {
            check(bytes);
        }

        #[test]
        fn byte_check_matches_round_trip_on_points(seed in any::<u64>(), sign in any::<bool>()) {
            let mut b = EdwardsPoint::mul_base(&Scalar::from(seed)).compress().to_bytes();
            if sign { b[31] ^= 0x80; }
            check(b);
        }
    }
}
