//! Account proofs: the JSON form a node serves (`GET /v1/accounts/{address}?proof=true`) and the
//! local check `bftledger balance ADDR --verify` makes of it.
//!
//! Which root is trusted: a commit certificate covers only a batch digest, so it says nothing
//! about balances. The **stable checkpoint** does: 2f+1 validators signed CHECKPOINT(seq, d),
//! where d is the hash of the block at height seq, and that block's header holds the state root
//! after it (`bftledger_ledger::block`). A proof is therefore at the stable checkpoint's height,
//! which trails the tip by at most the checkpoint interval plus the time to collect the
//! signatures. Only the genesis validator set is trusted; everything else is checked:
//!
//! 1. the certificate decodes, is for a height above 0, and 2f+1 distinct genesis validators
//!    signed CHECKPOINT(height, d) in it;
//! 2. d is the hash of the served header, and the header's height is the proof's height;
//! 3. the sibling hashes lead from the account's leaf (or from what shows its absence) to the
//!    header's state root (`bftledger_ledger::state_tree`).

use crate::api::types::{AccountProofBody, ProofTerminal};
use bftledger_consensus::{CertificateError, CheckpointProof, Quorum};
use bftledger_crypto::encoding::{DecodeError, Versioned};
use bftledger_crypto::{Digest, PublicKey};
use bftledger_ledger::{Account, AccountProof, ProvenAccount, Terminal};

/// The JSON form of a proof the store made.
pub fn body_of(proven: &ProvenAccount) -> AccountProofBody {
    AccountProofBody {
        height: proven.checkpoint.height,
        balance: proven.account.balance,
        nonce: proven.account.nonce,
        header: proven.header,
        checkpoint_certificate: hex::encode(&proven.checkpoint.certificate),
        siblings: proven.proof.siblings.clone(),
        terminal: match proven.proof.terminal {
            Terminal::Account => ProofTerminal::Account,
            Terminal::Empty => ProofTerminal::Empty,
            Terminal::OtherAccount { key, account } => ProofTerminal::OtherAccount {
                key: hex::encode(key),
                balance: account.balance,
                nonce: account.nonce,
            },
        },
    }
}

/// What was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAccount {
    /// The checkpoint height the account was proven at.
    pub height: u64,
    /// The account's record there (the default record: it does not exist).
    pub account: Account,
    /// The state root it was proven under.
    pub state_root: Digest,
    /// Replicas whose CHECKPOINT signatures were checked.
    pub signers: Vec<u32>,
    /// Signatures needed (2f+1).
    pub quorum: usize,
}

/// Why an account proof does not verify.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AccountProofError {
    /// The certificate is not hex.
    #[error("the checkpoint certificate is not hex: {0}")]
    NotHex(hex::FromHexError),
    /// The certificate does not decode.
    #[error("the checkpoint certificate does not decode: {0}")]
    Malformed(DecodeError),
    /// The certificate is for height 0, which no signature covers.
    #[error("the checkpoint certificate is for height 0 (the genesis), which proves nothing")]
    Genesis,
    /// The certificate, the header and the proof disagree on the height.
    #[error(
        "heights disagree: the proof says {stated}, the certificate {certified}, the header {header}"
    )]
    WrongHeight {
        /// The proof's height.
        stated: u64,
        /// The certificate's seq.
        certified: u64,
        /// The header's height.
        header: u64,
    },
    /// The signatures are not a quorum of the genesis validators.
    #[error("the checkpoint certificate does not verify: {0}")]
    Certificate(CertificateError),
    /// The certificate signs another block than the served header.
    #[error("the validators signed block hash {signed}, the served header hashes to {served}")]
    WrongBlock {
        /// What the certificate signs.
        signed: Digest,
        /// The served header's hash.
        served: Digest,
    },
    /// A key in the proof is not 32 bytes of hex.
    #[error("the proof's other account key is not 64 hex characters")]
    BadKey,
    /// The Merkle proof does not hold.
    #[error("the account proof does not hold: {0}")]
    Proof(#[from] bftledger_ledger::ProofError),
}

/// Checks `body` for account `key` against the trusted `validators` (see the module docs).
pub fn verify(
    validators: &[PublicKey],
    key: &PublicKey,
    body: &AccountProofBody,
) -> Result<VerifiedAccount, AccountProofError> {
    let bytes = hex::decode(&body.checkpoint_certificate).map_err(AccountProofError::NotHex)?;
    let cert = CheckpointProof::from_bytes(&bytes).map_err(AccountProofError::Malformed)?;
    if cert.seq == 0 {
        return Err(AccountProofError::Genesis);
    }
    if cert.seq != body.height || body.header.height != body.height {
        return Err(AccountProofError::WrongHeight {
            stated: body.height,
            certified: cert.seq,
            header: body.header.height,
        });
    }
    cert.verify(validators)
        .map_err(AccountProofError::Certificate)?;
    let served = body.header.hash();
    if cert.state_root != served {
        return Err(AccountProofError::WrongBlock {
            signed: cert.state_root,
            served,
        });
    }
    let account = Account {
        balance: body.balance,
        nonce: body.nonce,
    };
    let proof = AccountProof {
        siblings: body.siblings.clone(),
        terminal: match &body.terminal {
            ProofTerminal::Account => Terminal::Account,
            ProofTerminal::Empty => Terminal::Empty,
            ProofTerminal::OtherAccount {
                key,
                balance,
                nonce,
            } => Terminal::OtherAccount {
                key: hex::decode(key)
                    .ok()
                    .and_then(|k| k.try_into().ok())
                    .ok_or(AccountProofError::BadKey)?,
                account: Account {
                    balance: *balance,
                    nonce: *nonce,
                },
            },
        },
    };
    proof.verify(&body.header.state_root, key.as_bytes(), &account)?;
    Ok(VerifiedAccount {
        height: body.height,
        account,
        state_root: body.header.state_root,
        signers: cert.signatures.iter().map(|(id, _)| *id).collect(),
        quorum: Quorum::new(validators.len()).strong(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{checkpoint_proof, key};
    use bftledger_ledger::{BlockHeader, StableCheckpoint, StateTree};

    /// Replica i is `key(i + 1)`, as in the host's fixtures.
    fn validators() -> Vec<PublicKey> {
        (1..=4u8).map(|i| key(i).public()).collect()
    }

    /// A tree of accounts 0..20 (balance 10 + i), a header at height 32 over its root, and a
    /// checkpoint certificate signed by `signers`; the proof of account `who`.
    fn served(who: u8, signers: &[u32]) -> (PublicKey, AccountProofBody) {
        let tree = StateTree::from_accounts((0..20u8).map(|i| {
            (
                *key(30 + i).public().as_bytes(),
                Account {
                    balance: 10 + u64::from(i),
                    nonce: 1,
                },
            )
        }));
        let header = BlockHeader {
            height: 32,
            prev_hash: Digest::of(b"prev"),
            batch_digest: Digest::of(b"batch"),
            receipts_digest: Digest::of(b"receipts"),
            state_root: tree.root(),
        };
        let cert = checkpoint_proof(signers, 32, header.hash());
        let account = key(30 + who).public();
        let (record, proof) = tree.prove(account.as_bytes());
        let proven = ProvenAccount {
            checkpoint: StableCheckpoint {
                height: 32,
                certificate: cert.to_bytes(),
            },
            header,
            account: record,
            proof,
        };
        (account, body_of(&proven))
    }

    #[test]
    fn a_proof_at_a_quorum_checkpoint_verifies_for_present_and_absent_accounts() {
        let (k, body) = served(3, &[0, 1, 2]);
        let v = verify(&validators(), &k, &body).unwrap();
        assert_eq!((v.height, v.account.balance, v.signers.len()), (32, 13, 3));
        let (k, body) = served(77, &[0, 2, 3]);
        assert!(verify(&validators(), &k, &body).unwrap().account.is_empty());
    }

    #[test]
    fn every_kind_of_tampering_is_refused() {
        let vals = validators();
        let (k, good) = served(3, &[0, 1, 2]);
        let refused = |body: &AccountProofBody| verify(&vals, &k, body).unwrap_err();
        let mut b = good.clone();
        b.balance += 1;
        assert!(matches!(refused(&b), AccountProofError::Proof(_)));
        let mut b = good.clone();
        b.siblings[1].0[5] ^= 1;
        assert!(matches!(refused(&b), AccountProofError::Proof(_)));
        let mut b = good.clone();
        b.header.state_root = Digest::of(b"another root");
        assert!(matches!(refused(&b), AccountProofError::WrongBlock { .. }));
        let mut b = good.clone();
        b.height = 48;
        assert!(matches!(refused(&b), AccountProofError::WrongHeight { .. }));
        let mut b = good.clone();
        b.checkpoint_certificate.replace_range(0..2, "zz");
        assert!(matches!(refused(&b), AccountProofError::NotHex(_)));
        let (_, short) = served(3, &[0, 1]);
        assert!(matches!(refused(&short), AccountProofError::Certificate(_)));
        // The proof of another account, presented for this one.
        let (_, other) = served(4, &[0, 1, 2]);
        assert!(matches!(refused(&other), AccountProofError::Proof(_)));
        // A certificate for the genesis height proves nothing.
        let mut b = good.clone();
        let genesis = CheckpointProof::genesis();
        b.checkpoint_certificate = hex::encode(genesis.to_bytes());
        assert!(matches!(refused(&b), AccountProofError::Genesis));
    }
}
