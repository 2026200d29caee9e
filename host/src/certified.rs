//! The one check of a block against its commit certificate, for every block this node or its
//! CLI takes from elsewhere: blocks fetched from a peer by sync ([`crate::sync`]) and the block
//! `tx --verify` checks a transfer against (the node's `proof` module). One owner, so the two can never
//! disagree on what a certified block is.
//!
//! A block is certified for a trusted validator set when
//! 1. its commit certificate decodes and a quorum of distinct validators signed
//!    COMMIT(view, seq, digest) (consensus `CommitCertificate::verify`; the view is whichever the
//!    certificate's signers committed in, and is not part of the block);
//! 2. the certificate's `seq` is the block's height;
//! 3. the batch digest **recomputed** from the block's transfers, and the digest the block
//!    names, both equal the certificate's digest (so the transfers are exactly the committed
//!    batch).
//!
//! What the certificate does not cover (receipts, state root, `prev_hash`) is the outcome of
//! executing the chain: sync re-executes the block (`Store::commit_block`), a light client
//! cannot and says so.

use bftledger_consensus::{batch_digest, CertificateError, CommitCertificate, Request};
use bftledger_crypto::encoding::{DecodeError, Versioned};
use bftledger_crypto::{Digest, PublicKey};
use bftledger_ledger::Block;

/// Why a block is not certified (every field comes from untrusted input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertifiedBlockError {
    /// The certificate bytes do not decode.
    #[error("the commit certificate does not decode: {0}")]
    Undecodable(DecodeError),
    /// The signatures do not make a quorum of the validators.
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
        /// Recomputed from the block's transfers.
        computed: Digest,
        /// In the certificate.
        certified: Digest,
    },
    /// The block names another batch digest than the certified one.
    #[error("the block names batch {named}, the certificate commits {certified}")]
    DigestMismatch {
        /// The block's `batch_digest`.
        named: Digest,
        /// In the certificate.
        certified: Digest,
    },
}

/// Checks that `certificate` certifies `block` for `validators` (rules 1-3 of the module docs);
/// returns the decoded certificate.
pub fn verify_certified(
    validators: &[PublicKey],
    block: &Block,
    certificate: &[u8],
) -> Result<CommitCertificate, CertifiedBlockError> {
    let cert = CommitCertificate::decode(certificate).map_err(CertifiedBlockError::Undecodable)?;
    cert.verify(validators)
        .map_err(CertifiedBlockError::Certificate)?;
    if cert.seq != block.height {
        return Err(CertifiedBlockError::WrongSeq {
            cert_seq: cert.seq,
            height: block.height,
        });
    }
    let requests: Vec<Request> = block
        .transfers
        .iter()
        .map(|t| Request {
            payload: t.to_bytes(),
        })
        .collect();
    let computed = batch_digest(&requests);
    if computed != cert.digest {
        return Err(CertifiedBlockError::BatchMismatch {
            computed,
            certified: cert.digest,
        });
    }
    if block.batch_digest != cert.digest {
        return Err(CertifiedBlockError::DigestMismatch {
            named: block.batch_digest,
            certified: cert.digest,
        });
    }
    Ok(cert)
}
