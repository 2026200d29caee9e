//! Blocks: one per committed consensus batch, with its receipts and the state root after it.
//!
//! Block height == consensus sequence number, from 1, consecutive; a null batch (from a view
//! change) becomes an empty block.
//!
//! # Block hash (how an external verifier recomputes it)
//!
//! A block is a deterministic function of what the validators agreed on: every correct replica
//! builds the same block, byte for byte, at a height, so blocks chained by `prev_hash` give one
//! hash chain that anyone may compare across validators. Nothing that may differ between correct
//! replicas is part of it: neither the view in which a replica saw the batch commit (across a
//! view change, replicas commit one batch at one seq in different views) nor the commit
//! certificate (each replica may hold a different 2f+1 set of commits). The certificate is stored
//! beside the block ([`CertifiedBlock`]) as opaque bytes (the consensus crate's
//! `CommitCertificate` encoding; the ledger never interprets them).
//!
//! The hash covers the block's [`BlockHeader`]:
//!
//! ```text
//! receipts_digest = SHA-256( "bftledger/block/receipts/v1" || postcard(receipts) )
//! block_hash      = SHA-256( "bftledger/block/header/v1" || height (u64, 8 bytes big-endian)
//!                            || prev_hash || batch_digest || receipts_digest || state_root )
//! ```
//!
//! (Tags are ASCII without quotes or terminator; digests are 32 bytes; `postcard(receipts)` is
//! the canonical encoding of the receipt list, see `bftledger_crypto::encoding`.) The transfers
//! are covered through `batch_digest`, the consensus digest of the batch, whose requests are the
//! transfers' canonical encodings: whoever takes a block from elsewhere recomputes it from the
//! transfers (the node's sync and `tx --verify` do). The state is covered through `state_root`
//! (its construction is in [`crate::state`]), the history through `prev_hash` (the genesis hash
//! for height 1).
//!
//! # Checkpoint digest
//!
//! The digest a validator reports to consensus after executing `seq` (`Input::Executed`), and so
//! signs in CHECKPOINT(seq, d) and expects of a state transfer, is **the hash of the block at
//! height `seq`**. A checkpoint that 2f+1 validators signed therefore fixes the height, the
//! whole chain before it and the accounts after it; a snapshot ([`crate::Snapshot`]) carries the
//! header of that block so that all three can be checked against the signed digest.

use crate::state::Receipt;
use crate::transfer::SignedTransfer;
use bftledger_crypto::encoding::{encode, Versioned};
use bftledger_crypto::Digest;
use serde::{Deserialize, Serialize};

/// Most transfers in one block.
pub const MAX_BLOCK_TRANSFERS: usize = 8_192;
/// Largest commit certificate, in bytes (256 validators x ~70 bytes, with room to spare).
pub const MAX_CERTIFICATE_BYTES: usize = 64 << 10;

const HEADER_TAG: &[u8] = b"bftledger/block/header/v1";
const RECEIPTS_TAG: &[u8] = b"bftledger/block/receipts/v1";

/// What a block hash commits to (see the module docs for the exact bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlockHeader {
    /// Height == the consensus sequence number of the batch.
    pub height: u64,
    /// Hash of the block at `height - 1`; for height 1, the genesis hash.
    pub prev_hash: Digest,
    /// The consensus digest of the batch (what the commit certificate's signatures cover).
    pub batch_digest: Digest,
    /// [`receipts_digest`] of the block's receipts.
    pub receipts_digest: Digest,
    /// The state root after executing the block.
    pub state_root: Digest,
}

impl Versioned for BlockHeader {
    const VERSION: u8 = 1;
    /// Version byte, a varint u64 (10) and four digests (33 each), rounded up.
    const MAX_BYTES: usize = 160;
}

impl BlockHeader {
    /// The block hash: the identity of the block and the checkpoint digest at its height.
    pub fn hash(&self) -> Digest {
        Digest::of_parts(&[
            HEADER_TAG,
            &self.height.to_be_bytes(),
            self.prev_hash.as_bytes(),
            self.batch_digest.as_bytes(),
            self.receipts_digest.as_bytes(),
            self.state_root.as_bytes(),
        ])
    }
}

/// The digest of a block's receipts, as its header carries it.
pub fn receipts_digest(receipts: &[Receipt]) -> Digest {
    Digest::of_parts(&[RECEIPTS_TAG, &encode(receipts)])
}

/// An executed block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// Height == the consensus sequence number of the batch.
    pub height: u64,
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
    /// Version 2: the view is no longer part of a block (version 1 held the view of this
    /// replica's commit, so correct replicas built different blocks for one batch).
    const VERSION: u8 = 2;
    /// Header (~ 1 + 10 + 3 x 33 + 2 x 3) plus [`MAX_BLOCK_TRANSFERS`] transfers of at most
    /// 576 bytes and receipts of at most 32 bytes, rounded up: 5 MiB.
    const MAX_BYTES: usize = 5 << 20;
}

impl Block {
    /// The header the block hash covers.
    pub fn header(&self) -> BlockHeader {
        BlockHeader {
            height: self.height,
            prev_hash: self.prev_hash,
            batch_digest: self.batch_digest,
            receipts_digest: receipts_digest(&self.receipts),
            state_root: self.state_root,
        }
    }

    /// The block hash (certificate excluded): [`BlockHeader::hash`] of [`Block::header`].
    pub fn hash(&self) -> Digest {
        self.header().hash()
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
    /// Version 2: [`Block`] version 2 inside.
    const VERSION: u8 = 2;
    /// A block plus a certificate.
    const MAX_BYTES: usize = Block::MAX_BYTES + MAX_CERTIFICATE_BYTES + 16;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::RejectReason;

    fn header() -> BlockHeader {
        BlockHeader {
            height: 7,
            prev_hash: Digest([1; 32]),
            batch_digest: Digest([2; 32]),
            receipts_digest: receipts_digest(&[Receipt::Applied]),
            state_root: Digest([3; 32]),
        }
    }

    /// The hash is exactly the construction the module docs give external verifiers: the
    /// tagged, length-prefixed parts (`Digest::of_parts`), fixed here byte by byte.
    #[test]
    fn the_block_hash_is_the_documented_construction() {
        let h = header();
        let mut bytes = Vec::new();
        for part in [
            HEADER_TAG,
            &7u64.to_be_bytes()[..],
            &[1; 32][..],
            &[2; 32][..],
            h.receipts_digest.as_bytes(),
            &[3; 32][..],
        ] {
            bytes.extend_from_slice(&(part.len() as u64).to_be_bytes());
            bytes.extend_from_slice(part);
        }
        assert_eq!(h.hash(), Digest::of(&bytes));
        let mut receipts = Vec::new();
        for part in [RECEIPTS_TAG, &[1u8, 0][..]] {
            receipts.extend_from_slice(&(part.len() as u64).to_be_bytes());
            receipts.extend_from_slice(part);
        }
        assert_eq!(
            h.receipts_digest,
            Digest::of(&receipts),
            "postcard: length 1, variant 0"
        );
    }

    /// Every header field is bound by the hash; the receipts are bound through their digest.
    #[test]
    fn every_field_changes_the_hash() {
        let h = header();
        let changed = [
            BlockHeader { height: 8, ..h },
            BlockHeader {
                prev_hash: Digest::ZERO,
                ..h
            },
            BlockHeader {
                batch_digest: Digest::ZERO,
                ..h
            },
            BlockHeader {
                receipts_digest: receipts_digest(&[Receipt::Rejected(RejectReason::NonceGap {
                    expected: 1,
                    got: 2,
                })]),
                ..h
            },
            BlockHeader {
                state_root: Digest::ZERO,
                ..h
            },
        ];
        for other in changed {
            assert_ne!(other.hash(), h.hash(), "{other:?}");
        }
        assert_ne!(receipts_digest(&[]), receipts_digest(&[Receipt::Applied]));
    }
}
