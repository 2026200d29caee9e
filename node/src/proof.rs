//! Local verification of a transfer's commit proof, as `bftledger tx --verify` does it.
//!
//! Trust: only the **genesis validator set** is trusted (from a local genesis file, or from the
//! node but then pinned by a hash the user supplies). Everything the node sends is checked:
//!
//! 1. the commit certificate decodes, and 2f+1 distinct genesis validators signed
//!    COMMIT(view, seq, digest) (consensus `CommitCertificate::verify`);
//! 2. its `seq` is the block height;
//! 3. the block's batch digest, **recomputed** from the block's transfers, equals the
//!    certificate's digest (so the block's transfers are exactly the committed batch);
//! 4. the transfer is in that block at the stated position, with the stated receipt.
//!
//! The receipt itself is the deterministic outcome of executing the chain up to that block; the
//! certificate proves the batch order, not the receipt (a light client cannot re-execute).

use crate::api::types::{BlockResponse, CommittedTransfer};
use bftledger_consensus::{batch_digest, CertificateError, CommitCertificate, Quorum, Request};
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::{Digest, PublicKey};

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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The certificate is not hex or does not decode.
    #[error("the commit certificate does not decode: {0}")]
    Undecodable(String),
    /// The signatures do not make a quorum of genesis validators.
    #[error("the commit certificate does not verify against the genesis validators: {0}")]
    Certificate(CertificateError),
    /// The certificate is for another height.
    #[error("the certificate is for seq {cert_seq}, the block is at height {height}")]
    WrongSeq {
        /// Certificate's seq.
        cert_seq: u64,
        /// Block height.
        height: u64,
    },
    /// The block's transfers are not the certified batch.
    #[error("the block's transfers hash to {computed}, the certificate commits {certified}")]
    BatchMismatch {
        /// Recomputed from the block.
        computed: Digest,
        /// In the certificate.
        certified: Digest,
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
    let bytes =
        hex::decode(&block.certificate).map_err(|e| ProofError::Undecodable(e.to_string()))?;
    let cert =
        CommitCertificate::decode(&bytes).map_err(|e| ProofError::Undecodable(e.to_string()))?;
    cert.verify(validators).map_err(ProofError::Certificate)?;
    let height = block.block.height;
    if cert.seq != height || committed.height != height {
        return Err(ProofError::WrongSeq {
            cert_seq: cert.seq,
            height,
        });
    }
    let requests: Vec<Request> = block
        .block
        .transfers
        .iter()
        .map(|t| Request {
            payload: t.to_bytes(),
        })
        .collect();
    let computed = batch_digest(&requests);
    if computed != cert.digest {
        return Err(ProofError::BatchMismatch {
            computed,
            certified: cert.digest,
        });
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
            view: 0,
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
            Err(ProofError::Certificate(_))
        ));
        let (c, mut b) = proof(&[0, 1, 2]);
        b.block.transfers[0].transfer.amount = 4;
        assert!(matches!(
            verify(&validators(), &c, &b),
            Err(ProofError::BatchMismatch { .. })
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
            Err(ProofError::WrongSeq { .. })
        ));
        let (c, mut b) = proof(&[0, 1, 2]);
        b.certificate = "zz".into();
        assert!(matches!(
            verify(&validators(), &c, &b),
            Err(ProofError::Undecodable(_))
        ));
        let others: Vec<_> = (20..24).map(|i| key(i).public()).collect();
        let (c, b) = proof(&[0, 1, 2]);
        assert!(verify(&others, &c, &b).is_err());
    }
}
