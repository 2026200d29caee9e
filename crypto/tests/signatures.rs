//! Property tests of signing, domain separation and batch verification.

use bftledger_crypto::{verify_batch, BatchItem, Domain, SecretKey, Signature};
use proptest::prelude::*;

fn key(seed: u8) -> SecretKey {
    SecretKey::from_bytes(&[seed; 32])
}

proptest! {
    #[test]
    fn sign_verify_round_trip(seed in any::<[u8; 32]>(), msg in proptest::collection::vec(any::<u8>(), 0..256)) {
        let k = SecretKey::from_bytes(&seed);
        let sig = k.sign(Domain::Transfer, &msg);
        prop_assert!(k.public().verify(Domain::Transfer, &msg, &sig).is_ok());
    }

    /// A signature made for one purpose never verifies for another (replay across purposes).
    #[test]
    fn cross_purpose_replay_is_rejected(seed in any::<[u8; 32]>(), msg in proptest::collection::vec(any::<u8>(), 0..256)) {
        let k = SecretKey::from_bytes(&seed);
        let as_transfer = k.sign(Domain::Transfer, &msg);
        let as_consensus = k.sign(Domain::Consensus, &msg);
        prop_assert!(k.public().verify(Domain::Consensus, &msg, &as_transfer).is_err());
        prop_assert!(k.public().verify(Domain::Transfer, &msg, &as_consensus).is_err());
    }

    #[test]
    fn tampered_message_or_wrong_key_is_rejected(seed in any::<[u8; 32]>(), msg in proptest::collection::vec(any::<u8>(), 1..64), pos in any::<usize>()) {
        let k = SecretKey::from_bytes(&seed);
        let sig = k.sign(Domain::Transfer, &msg);
        let mut tampered = msg.clone();
        let pos = pos % tampered.len();
        tampered[pos] ^= 1;
        prop_assert!(k.public().verify(Domain::Transfer, &tampered, &sig).is_err());
        let other = SecretKey::from_bytes(&[seed[0].wrapping_add(1); 32]);
        prop_assume!(other.public() != k.public());
        prop_assert!(other.public().verify(Domain::Transfer, &msg, &sig).is_err());
    }

    /// Batch verification accepts a good batch and, when some items are bad, names exactly them.
    #[test]
    fn batch_verification_pinpoints_bad_signatures(n in 1usize..40, bad_mask in any::<u64>()) {
        let keys: Vec<SecretKey> = (0..n).map(|i| key(i as u8)).collect();
        let publics: Vec<_> = keys.iter().map(|k| k.public()).collect();
        let msgs: Vec<Vec<u8>> = (0..n).map(|i| format!("transfer {i}").into_bytes()).collect();
        let mut sigs: Vec<Signature> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(Domain::Transfer, m)).collect();
        let mut expected_bad = vec![];
        for (i, sig) in sigs.iter_mut().enumerate() {
            if bad_mask >> (i % 64) & 1 == 1 && i % 3 == 0 {
                sig.0[10] ^= 0x40;
                expected_bad.push(i);
            }
        }
        let items: Vec<BatchItem> = (0..n).map(|i| BatchItem { signer: &publics[i], message: &msgs[i], signature: &sigs[i] }).collect();
        let result = verify_batch(Domain::Transfer, &items);
        if expected_bad.is_empty() {
            prop_assert!(result.is_ok());
        } else {
            prop_assert_eq!(result.unwrap_err().bad, expected_bad);
        }
    }
}

#[test]
fn batch_with_a_signature_for_another_purpose_fails_on_that_item() {
    let keys: Vec<SecretKey> = (0..8).map(key).collect();
    let publics: Vec<_> = keys.iter().map(|k| k.public()).collect();
    let msg = b"same bytes";
    let sigs: Vec<Signature> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let domain = if i == 5 {
                Domain::Consensus
            } else {
                Domain::Transfer
            };
            k.sign(domain, msg)
        })
        .collect();
    let items: Vec<BatchItem> = (0..8)
        .map(|i| BatchItem {
            signer: &publics[i],
            message: msg,
            signature: &sigs[i],
        })
        .collect();
    assert_eq!(
        verify_batch(Domain::Transfer, &items).unwrap_err().bad,
        vec![5]
    );
    assert!(verify_batch(Domain::Transfer, &[]).is_ok());
}

#[test]
fn swapped_signers_are_caught() {
    let (a, b) = (key(1), key(2));
    let (pa, pb) = (a.public(), b.public());
    let sa = a.sign(Domain::Transfer, b"x");
    let sb = b.sign(Domain::Transfer, b"x");
    let items = [
        BatchItem {
            signer: &pa,
            message: b"x",
            signature: &sb,
        },
        BatchItem {
            signer: &pb,
            message: b"x",
            signature: &sa,
        },
    ];
    assert_eq!(
        verify_batch(Domain::Transfer, &items).unwrap_err().bad,
        vec![0, 1]
    );
}

/// A signature whose `R` carries a torsion component (R = rB + T, T of order 8) satisfies the
/// cofactored equation but not the cofactorless one. Implementations that use one equation alone
/// and the other in batches disagree on it, which would let a crafted transfer split replicas.
/// Ours must give one verdict, alone and in any batch.
#[test]
fn mixed_order_signature_gets_the_same_verdict_alone_and_in_batches() {
    use curve25519_dalek::constants::EIGHT_TORSION;
    use curve25519_dalek::edwards::EdwardsPoint;
    use curve25519_dalek::scalar::Scalar;
    use sha2::{Digest as _, Sha512};

    let a = Scalar::from(0x1234_5678_9abc_u64);
    let public_point = EdwardsPoint::mul_base(&a);
    let signer = bftledger_crypto::PublicKey::from_bytes(&public_point.compress().to_bytes())
        .expect("a multiple of the base point is a valid key");
    let message = b"crafted transfer";
    let mut tagged = Domain::Transfer.tag().to_vec();
    tagged.extend_from_slice(message);
    let r = Scalar::from(0x42_u64);
    let r_point = EdwardsPoint::mul_base(&r) + EIGHT_TORSION[1];
    let r_bytes = r_point.compress().to_bytes();
    let mut h = Sha512::new();
    h.update(r_bytes);
    h.update(public_point.compress().to_bytes());
    h.update(&tagged);
    let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    let s = r + k * a;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&r_bytes);
    sig[32..].copy_from_slice(&s.to_bytes());
    let crafted = Signature(sig);

    let alone = signer.verify(Domain::Transfer, message, &crafted).is_ok();
    let honest_keys: Vec<SecretKey> = (10..16).map(key).collect();
    let honest_publics: Vec<_> = honest_keys.iter().map(|k| k.public()).collect();
    let honest_sigs: Vec<Signature> = honest_keys
        .iter()
        .map(|k| k.sign(Domain::Transfer, message))
        .collect();
    let mut items: Vec<BatchItem> = (0..honest_keys.len())
        .map(|i| BatchItem {
            signer: &honest_publics[i],
            message,
            signature: &honest_sigs[i],
        })
        .collect();
    items.insert(
        3,
        BatchItem {
            signer: &signer,
            message,
            signature: &crafted,
        },
    );
    let in_batch = verify_batch(Domain::Transfer, &items);
    let in_batch_ok = match &in_batch {
        Ok(()) => true,
        Err(e) => {
            assert_eq!(e.bad, vec![3], "only the crafted item may be blamed");
            false
        }
    };
    assert_eq!(alone, in_batch_ok, "single and batch verification disagree");
    // Our semantics are the cofactored equation (as ZIP-215), so it is accepted.
    assert!(alone);
}
