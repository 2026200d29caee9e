//! Untrusted input: every message is checked (validator sender, valid signature, sizes,
//! canonical encoding), a bad one is a typed rejection and never a panic, and a flooding
//! Byzantine peer cannot make a replica's memory grow without bound (ARCHITECTURE §2).

mod common;

use bftledger_consensus::{
    batch_digest, CertificateError, Checkpoint, CheckpointProof, Commit, CommitCertificate, Input,
    Message, Prepare, Rejection, SignedMessage,
};
use bftledger_crypto::encoding::{DecodeError, Versioned};
use bftledger_crypto::{Digest, Signature};
use common::{batch_of, keys, pre_prepare, rejections, sig_for, view_change, Single};

fn prepare(seq: u64) -> Message {
    Message::Prepare(Prepare {
        view: 0,
        seq,
        digest: Digest([1; 32]),
    })
}

/// A sender id that is not a validator is rejected before anything else.
#[test]
fn unknown_sender_is_rejected() {
    let mut s = Single::new(4, 1);
    let mut m = s.sign(2, prepare(1));
    m.from = 9;
    let a = s.input(Input::Message(m));
    assert_eq!(rejections(&a), vec![Rejection::UnknownSender { from: 9 }]);
}

/// A forged or tampered message (signature does not verify for the claimed sender) is
/// rejected with `BadSignature`; so is one signed by another validator.
#[test]
fn forged_and_tampered_messages_are_rejected() {
    let mut s = Single::new(4, 1);
    let mut tampered = s.sign(2, prepare(1));
    if let Message::Prepare(p) = &mut tampered.message {
        p.seq = 2;
    }
    let a = s.input(Input::Message(tampered));
    assert_eq!(rejections(&a), vec![Rejection::BadSignature { from: 2 }]);
    let mut impersonated = s.sign(3, prepare(1));
    impersonated.from = 2;
    let a = s.input(Input::Message(impersonated));
    assert_eq!(rejections(&a), vec![Rejection::BadSignature { from: 2 }]);
    let zero = SignedMessage {
        from: 2,
        message: prepare(1),
        signature: Signature([0; 64]),
    };
    let a = s.input(Input::Message(zero));
    assert_eq!(rejections(&a), vec![Rejection::BadSignature { from: 2 }]);
}

/// A message claiming to be from the replica itself is refused (replay of its own traffic).
#[test]
fn message_from_self_is_rejected() {
    let mut s = Single::new(4, 1);
    let a = s.deliver(1, prepare(1));
    assert_eq!(rejections(&a), vec![Rejection::FromSelf { from: 1 }]);
}

/// Decoding is size-limited before parsing, strict and canonical; garbage never panics.
#[test]
fn decoding_is_bounded_and_strict() {
    let s = Single::new(4, 1);
    let b = batch_of(&["a", "b"]);
    let m = s.sign(0, pre_prepare(0, 1, &b));
    let bytes = m.to_bytes();
    assert_eq!(SignedMessage::decode(&bytes, 1 << 20).unwrap(), m);
    assert!(matches!(
        SignedMessage::decode(&bytes, 10),
        Err(DecodeError::TooLarge { max_bytes: 10, .. })
    ));
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(SignedMessage::decode(&trailing, 1 << 20).is_err());
    // Deterministic pseudo-random garbage and every truncation / single-byte flip.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for len in 0..300 {
        let garbage: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let _ = SignedMessage::decode(&garbage, 1 << 20);
    }
    for cut in 0..bytes.len() {
        assert!(SignedMessage::decode(&bytes[..cut], 1 << 20).is_err());
    }
    for pos in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[pos] ^= 0x5a;
        if let Ok(decoded) = SignedMessage::decode(&flipped, 1 << 20) {
            assert_eq!(decoded.to_bytes(), flipped, "canonical");
        }
    }
}

/// A commit certificate needs 2f+1 distinct validators with valid commit signatures.
#[test]
fn commit_certificate_verification() {
    let k = keys(4);
    let validators: Vec<_> = k.iter().map(|s| s.public()).collect();
    let digest = batch_digest(&batch_of(&["x"]));
    let commit = Commit {
        view: 0,
        seq: 1,
        digest,
    };
    let sigs: Vec<(u32, Signature)> = (0..3)
        .map(|r| (r, sig_for(&k, r, Message::Commit(commit))))
        .collect();
    let cert = CommitCertificate {
        view: 0,
        seq: 1,
        digest,
        commits: sigs.clone(),
    };
    assert_eq!(cert.verify(&validators), Ok(()));
    assert_eq!(
        CommitCertificate::from_bytes(&cert.to_bytes()).unwrap(),
        cert
    );
    let mut few = cert.clone();
    few.commits.pop();
    assert_eq!(
        few.verify(&validators),
        Err(CertificateError::TooFewSigners { have: 2, need: 3 })
    );
    let mut dup = cert.clone();
    dup.commits[2] = dup.commits[1];
    assert_eq!(
        dup.verify(&validators),
        Err(CertificateError::DuplicateSigner { id: 1 })
    );
    let mut unknown = cert.clone();
    unknown.commits[2].0 = 7;
    assert_eq!(
        unknown.verify(&validators),
        Err(CertificateError::UnknownSigner { id: 7 })
    );
    let mut wrong_seq = cert.clone();
    wrong_seq.seq = 2;
    assert!(matches!(
        wrong_seq.verify(&validators),
        Err(CertificateError::BadSignature { .. })
    ));
    // A prepare signature is not a commit signature (message kinds are distinct).
    let mut as_prepare = cert.clone();
    as_prepare.commits[0].1 = sig_for(
        &k,
        0,
        Message::Prepare(Prepare {
            view: 0,
            seq: 1,
            digest,
        }),
    );
    assert_eq!(
        as_prepare.verify(&validators),
        Err(CertificateError::BadSignature { id: 0 })
    );
}

/// A stable-checkpoint proof needs 2f+1 distinct valid signatures (genesis needs none).
#[test]
fn checkpoint_proof_verification() {
    let k = keys(4);
    let validators: Vec<_> = k.iter().map(|s| s.public()).collect();
    assert_eq!(CheckpointProof::genesis().verify(&validators), Ok(()));
    let mut proof = common::checkpoint_proof(&k, 8, Digest([3; 32]));
    assert_eq!(proof.verify(&validators), Ok(()));
    proof.state_root = Digest([4; 32]);
    assert!(proof.verify(&validators).is_err());
}

/// A flooding Byzantine peer (thousands of prepares, commits, checkpoints and view-changes for
/// every seq and view it can think of) leaves the replica's memory bounded: the log never
/// exceeds the window, at most one view-change per peer per view within `max_future_views`,
/// checkpoint votes bounded — `check_invariants()` asserts these bounds after every step — and
/// nothing panics.
#[test]
fn flooding_peer_cannot_exhaust_memory() {
    let mut s = Single::new(4, 1);
    let k = keys(4);
    for i in 0..3000u64 {
        let seq = i % 50;
        let view = i % 7;
        let digest = Digest([(i % 251) as u8; 32]);
        let m = match i % 5 {
            0 => Message::Prepare(Prepare { view, seq, digest }),
            1 => Message::Commit(Commit { view, seq, digest }),
            2 => Message::Checkpoint(Checkpoint {
                seq: seq * 4,
                state_root: digest,
            }),
            3 => {
                let vc = view_change(&k, 3, 1 + i % 20, CheckpointProof::genesis(), vec![]);
                s.input(Input::Message(vc));
                continue;
            }
            _ => pre_prepare(view, seq, &batch_of(&[&format!("f{i}")])),
        };
        s.deliver(3, m);
        assert!(s.replica.log_len() <= 8);
    }
    let total: u64 = s.replica.rejection_counts().values().sum();
    assert!(total > 1000, "most of the flood was rejected: {total}");
}
