//! Fixtures for tests of the host and of the crates above it (the node's tests use them too):
//! deterministic keys, a four-validator genesis, signed transfers and commit certificates.
//!
//! Keys: validator i (1..=4) is `key(i)` and has replica id i - 1; account `key(10)` is funded
//! and sends to `key(11)`.

use bftledger_consensus::{
    Checkpoint, CheckpointProof, Commit, CommitCertificate, Message, SignedMessage,
};
use bftledger_crypto::{Digest, SecretKey};
use bftledger_ledger::{Genesis, InitialBalance, SignedTransfer, Transfer, Validator};

/// The deterministic key number `n`.
pub fn key(n: u8) -> SecretKey {
    SecretKey::from_bytes(&[n; 32])
}

/// Genesis of `chain`: validators `key(1..=4)`, `key(10)` funded with `balance`.
pub fn genesis(chain: &str, balance: u64) -> Genesis {
    Genesis {
        chain_id: chain.into(),
        validators: (1..=4)
            .map(|i| Validator {
                public_key: key(i).public(),
                addresses: vec![],
            })
            .collect(),
        balances: vec![InitialBalance {
            account: key(10).public(),
            amount: balance,
        }],
    }
}

/// `key(10)` sends `amount` to `key(11)` on `chain` with `nonce`.
pub fn transfer(chain: &str, amount: u64, nonce: u64) -> SignedTransfer {
    Transfer {
        chain_id: chain.into(),
        from: key(10).public(),
        to: key(11).public(),
        amount,
        nonce,
        memo: None,
    }
    .sign(&key(10))
}

/// A checkpoint proof for (`seq`, `block_hash`) signed by replicas `signers`: what makes the
/// checkpoint stable, and what account proofs are checked against.
pub fn checkpoint_proof(signers: &[u32], seq: u64, block_hash: Digest) -> CheckpointProof {
    let checkpoint = Checkpoint {
        seq,
        state_root: block_hash,
    };
    CheckpointProof {
        seq,
        state_root: block_hash,
        signatures: signers
            .iter()
            .map(|&id| {
                let m =
                    SignedMessage::sign(id, Message::Checkpoint(checkpoint), &key(id as u8 + 1));
                (id, m.signature)
            })
            .collect(),
    }
}

/// A view-0 commit certificate for (`seq`, `digest`) signed by replicas `signers`.
pub fn certificate(signers: &[u32], seq: u64, digest: Digest) -> CommitCertificate {
    certificate_in_view(0, signers, seq, digest)
}

/// A commit certificate of `view` for (`seq`, `digest`) signed by replicas `signers`.
pub fn certificate_in_view(
    view: u64,
    signers: &[u32],
    seq: u64,
    digest: Digest,
) -> CommitCertificate {
    let commit = Commit { view, seq, digest };
    let commits = signers
        .iter()
        .map(|&id| {
            let m = SignedMessage::sign(id, Message::Commit(commit), &key(id as u8 + 1));
            (id, m.signature)
        })
        .collect();
    CommitCertificate {
        view,
        seq,
        digest,
        commits,
    }
}
