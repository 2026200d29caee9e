//! Blocks: one per committed consensus batch, with its receipts and the state root after it.
//!
//! Block height == consensus sequence number, from 1, consecutive; a null batch (from a view
//! change) becomes an empty block. The **block hash** is SHA-256 of `Block::to_bytes()` and
//! excludes the commit certificate: each replica may hold a different 2f+1 set of commits for
//! the same block, so the certificate is stored alongside ([`CertifiedBlock`]), as opaque bytes
//! (the consensus crate's `CommitCertificate` encoding; the ledger never interprets them).

use crate::state::Receipt;
use crate::transfer::SignedTransfer;
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::Digest;
use serde::{Deserialize, Serialize};

/// Most transfers in one block.
pub const MAX_BLOCK_TRANSFERS: usize = 8_192;
/// Largest commit certificate, in bytes (256 validators x ~70 bytes, with room to spare).
pub const MAX_CERTIFICATE_BYTES: usize = 64 << 10;

/// An executed block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// Height == the consensus sequence number of the batch.
    pub height: u64,
    /// The consensus view in which the batch committed.
    pub view: u64,
    /// The consensus digest of the batch (what the commit certificate's signatures cover).
    pub batch_digest: Digest,
    /// Hash of the block at `height - 1`; for height 1, the genesis hash.
    pub prev_hash: Digest,
    /// The batch's transfers, in consensus order.
    pub transfers: Vec<SignedTransfer>,
    /// One receipt per transfer, same order.
    pub receipts: Vec<Receipt>,
    /// The state root after executing this block.
    pub state_root: Digest,
}

impl Versioned for Block {
    const VERSION: u8 = 1;
    /// Header (~ 1 + 10 + 10 + 3 x 33 + 2 x 3) plus [`MAX_BLOCK_TRANSFERS`] transfers of at most
    /// 576 bytes and receipts of at most 32 bytes, rounded up: 5 MiB.
    const MAX_BYTES: usize = 5 << 20;
}

impl Block {
    /// The block hash (certificate excluded).
    pub fn hash(&self) -> Digest {
        Digest::of(&self.to_bytes())
    }
}

/// A block with the commit certificate that finalised it, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertifiedBlock {
    /// The block.
    pub block: Block,
    /// The commit certificate (opaque bytes, at most [`MAX_CERTIFICATE_BYTES`]).
    pub certificate: Vec<u8>,
}

impl Versioned for CertifiedBlock {
    const VERSION: u8 = 1;
    /// A block plus a certificate.
    const MAX_BYTES: usize = Block::MAX_BYTES + MAX_CERTIFICATE_BYTES + 16;
}
