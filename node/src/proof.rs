//! Local verification of a transfer's commit proof, as `bftledger tx --verify` does it.
//!
//! Trust: only the **genesis validator set** is trusted (from a local genesis file, or from the
//! node but then pinned by a hash the user supplies). Everything the node sends is checked:
//!
//! 1. the block is certified ([`bftledger_host::verify_certified`]: 2f+1 distinct genesis
//!    validators signed COMMIT(view, seq, digest), `seq` is the block height, and the batch
//!    digest **recomputed** from the block's transfers is the certified one);
//! 2. the transfer's stated height is the block's, and the block hash the node states (in the
//!    transfer and beside the block) is the hash of the block it served;
//! 3. the transfer is in that block at the stated position, with the stated receipt.
//!
//! The receipt itself is the deterministic outcome of executing the chain up to that block; the
//! certificate proves the batch order, not the receipt (a light client cannot re-execute).

use crate::api::types::{BlockResponse, CommittedTransfer};
use bftledger_consensus::Quorum;
use bftledger_crypto::{Digest, PublicKey};
use bftledger_host::{verify_certified, CertifiedBlockError};

/// What was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// Signers of the certificate (replica ids).
    pub signers: Vec<u32>,
    /// Signatures needed (2f+1).
    pub quorum: usize,
    /// The committed sequence number (block height).
    pub seq: u64,
    /// The batch digest.
    pub digest: Digest,
}

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProofError {
    /// The certificate is not hex.
    #[error("the commit certificate is not hex: {0}")]
    NotHex(hex::FromHexError),
    /// The block is not certified by the genesis validators.
    #[error("{0}")]
    Block(#[from] CertifiedBlockError),
    /// The transfer is said to be at another height than the block's.
    #[error("the transfer is said to be at height {stated}, the block is at height {height}")]
    WrongHeight {
        /// The transfer's stated height.
        stated: u64,
        /// Block height.
        height: u64,
    },
    /// A block hash the node states is not the hash of the block it served.
    #[error("the node states block hash {stated}, the block it served hashes to {computed}")]
    WrongBlockHash {
        /// The hash the node stated.
        stated: Digest,
        /// The hash of the served block.
        computed: Digest,
    },
    /// The transfer or receipt is not where the node says.
    #[error("the block does not hold this transfer with this receipt at position {position}")]
    NotInBlock {
        /// Claimed position.
        position: u32,
    },
}

/// Checks `committed` (from `GET /v1/transfers/{id}`) against `block` (from
/// `GET /v1/blocks/{height}`) and the trusted `validators`.
pub fn verify(
    validators: &[PublicKey],
    committed: &CommittedTransfer,
    block: &BlockResponse,
) -> Result<VerifiedProof, ProofError> {
    let bytes = hex::decode(&block.certificate).map_err(ProofError::NotHex)?;
    let cert = verify_certified(validators, &block.block, &bytes)?;
    let height = block.block.height;
    if committed.height != height {
        return Err(ProofError::WrongHeight {
            stated: committed.height,
            height,
        });
    }
    let computed = block.block.hash();
    if let Some(&stated) = [block.hash, committed.block_hash]
        .iter()
        .find(|&&h| h != computed)
    {
        return Err(ProofError::WrongBlockHash { stated, computed });
    }
    let pos = committed.position as usize;
    let in_block = block.block.transfers.get(pos) == Some(&committed.transfer)
        && block.block.receipts.get(pos) == Some(&committed.receipt);
    if !in_block {
        return Err(ProofError::NotInBlock {
            position: committed.position,
        });
    }
    Ok(VerifiedProof {
        signers: cert.commits.iter().map(|(id, _)| *id).collect(),
        quorum: Quorum::new(validators.len()).strong(),
        seq: cert.seq,
        digest: cert.digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{certificate, key, transfer};
    use bftledger_consensus::{batch_digest, Request};
    use bftledger_crypto::encoding::Versioned;
    use bftledger_ledger::Block;

    /// A one-transfer block at height 1, certified by replicas `signers`.
    fn proof(signers: &[u32]) -> (CommittedTransfer, BlockResponse) {
        let t = transfer("c", 3, 1);
        let digest = batch_digest(&[Request {
            payload: t.to_bytes(),
        }]);
        let cert = certificate(signers, 1, digest);
        let block = Block {
            height: 1,
            batch_digest: digest,
            prev_hash: Digest::ZERO,
            transfers: vec![t.clone()],
            receipts: vec![bftledger_ledger::Receipt::Applied],
            state_root: Digest::ZERO,
        };
        let committed = CommittedTransfer {
            transfer: t,
            height: 1,
            position: 0,
            receipt: bftledger_ledger::Receipt::Applied,
            receipt_text: "applied".into(),
            block_hash: block.hash(),
            batch_digest: digest,
            certificate: hex::encode(cert.to_bytes()),
        };
        let response = BlockResponse {
            hash: block.hash(),
            block,
            certificate: hex::encode(cert.to_bytes()),
        };
        (committed, response)
    }

    fn validators() -> Vec<PublicKey> {
        (1..=4).map(|i| key(i).public()).collect()
    }

    #[test]
    fn a_quorum_certificate_for_the_block_verifies() {
        let (c, b) = proof(&[0, 2, 3]);
        let v = verify(&validators(), &c, &b).unwrap();
        assert_eq!((v.signers, v.quorum, v.seq), (vec![0, 2, 3], 3, 1));
    }

    #[test]
    fn every_kind_of_tampering_fails() {
        let (c, b) = proof(&[0, 1]);
        assert!(matches!(
            verify(&validators(), &c, &b),
            Err(ProofError::Block(CertifiedBlockError::Certificate(_)))
        ));
        let (c, mut b) = proof(&[0, 1, 2]);
        b.block.transfers[0].transfer.amount = 4;
        assert!(matches!(
            verify(&validators(), &c, &b),
            Err(ProofError::Block(CertifiedBlockError::BatchMismatch { .. }))
        ));
        // A node stating another block hash than the hash of the block it serves.
        let (mut c, b) = proof(&[0, 1, 2]);
        c.block_hash = Digest::ZERO;
        assert!(matches!(
            verify(&validators(), &c, &b),
            Err(ProofError::WrongBlockHash {
                stated: Digest::ZERO,
                ..
            })
        ));
        let (c, mut b) = proof(&[0, 1, 2]);
        b.block.state_root = Digest::of(b"another state");
        assert!(matches!(
            verify(&validators(), &c, &b),
            Err(ProofError::WrongBlockHash { .. })
        ));
        let (mut c, b) = proof(&[0, 1, 2]);
        c.height = 2;
        assert!(matches!(
            verify(&validators(), &c, &b),
            Err(ProofError::WrongHeight {
                stated: 2,
                height: 1
            })
        ));
        let (mut c, b) = proof(&[0, 1, 2]);
        c.receipt = bftledger_ledger::Receipt::Rejected(bftledger_ledger::RejectReason::NonceGap {
            expected: 1,
            got: 2,
        });
        assert!(matches!(
            verify(&validators(), &c, &b),
            Err(ProofError::NotInBlock { .. })
        ));
        let (c, mut b) = proof(&[0, 1, 2]);
        b.block.height = 2;
        assert!(matches!(
            verify(&validators(), &c, &b),
            Err(ProofError::Block(CertifiedBlockError::WrongSeq { .. }))
        ));
        let (c, mut b) = proof(&[0, 1, 2]);
        b.certificate = "zz".into();
        assert!(matches!(
            verify(&validators(), &c, &b),
            Err(ProofError::NotHex(_))
        ));
        let (c, mut b) = proof(&[0, 1, 2]);
        b.certificate = "0102".into();
        assert!(matches!(
            verify(&validators(), &c, &b),
            Err(ProofError::Block(CertifiedBlockError::Undecodable(_)))
        ));
        let others: Vec<_> = (20..24).map(|i| key(i).public()).collect();
        let (c, b) = proof(&[0, 1, 2]);
        assert!(verify(&others, &c, &b).is_err());
    }
}
