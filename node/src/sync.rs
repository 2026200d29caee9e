//! State transfer (catch-up) over the p2p sync protocol.
//!
//! **Protocol** (request/response, [`SyncRequest`] → [`SyncResponse`], both [`Versioned`]):
//! `Status` (a peer's height and state root), `Blocks { from, max }` (consecutive blocks with
//! their commit certificates, bounded by count and by response bytes) and `Snapshot { height }`
//! (the accounts at a height, for a peer that cannot serve old blocks).
//!
//! **Trust**: nothing a peer sends is believed; what does not check out is a typed refusal
//! ([`worker::FetchError`], `SnapshotRefusal` in the driver) and the worker asks another peer.
//! A fetched block is applied only if
//! 1. it is at the height asked for (the answer is consecutive from the first height asked),
//! 2. it is certified ([`crate::certified::verify_certified`]: a quorum of genesis validators
//!    signed COMMIT for `seq == height` and the batch digest recomputed from its transfers), and
//! 3. re-executing its transfers on our state gives exactly its receipts and state root, and it
//!    extends our chain: `prev_hash` is our latest block hash (`Store::commit_block`).
//!
//! Every field of such a block is then fixed by the certificate or by our own chain, so its hash
//! is the one every correct replica has at that height (blocks hold no view, see
//! `bftledger_ledger::block`).
//!
//! A snapshot is installed only for the state transfer the core asked for
//! ([`bftledger_consensus::FetchState`]: checkpoint `(seq, d)` signed by at least f+1 validators,
//! where the checkpoint digest `d` is the hash of the block at height `seq`), only at height
//! `seq`, and only if its block header hashes to `d` and its accounts to that header's state
//! root (`Snapshot::verify`, called by `Store::import_snapshot`). Height, chain and state are
//! thereby all bound to what the validators signed.
//!
//! **When** ([`worker`]): when the core asks ([`bftledger_consensus::FetchState`]: a stable
//! checkpoint beyond what we executed), and when a node notices it is not advancing while a peer
//! is ahead (after a restart, blocks committed while it was down). Blocks applied this way are
//! reported to the core later, when it hands the same sequence numbers out (the driver then
//! checks the batch digest and reports the stored state root instead of executing again).

pub mod worker;

use crate::shared::Shared;
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::Digest;
use bftledger_ledger::{CertifiedBlock, Snapshot};
use serde::{Deserialize, Serialize};

/// A sync request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncRequest {
    /// The peer's height and state root.
    Status,
    /// Blocks `from ..` (at most `max`), with certificates.
    Blocks {
        /// First height wanted.
        from: u64,
        /// Most blocks wanted.
        max: u64,
    },
    /// The accounts at `height`.
    Snapshot {
        /// The height.
        height: u64,
    },
}

impl Versioned for SyncRequest {
    const VERSION: u8 = 1;
    const MAX_BYTES: usize = 64;
}

/// A sync response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    /// Height and state root.
    Status {
        /// Latest height.
        height: u64,
        /// State root after it.
        state_root: Digest,
    },
    /// Consecutive blocks from the requested height (possibly fewer than asked, never more).
    Blocks(Vec<CertifiedBlock>),
    /// A snapshot.
    Snapshot(Snapshot),
    /// The peer cannot serve this request (e.g. blocks below the snapshot it started from).
    Unavailable,
}

impl Versioned for SyncResponse {
    /// Version 2: blocks without a view, snapshots with a block header.
    const VERSION: u8 = 2;
    const MAX_BYTES: usize = 256 << 20;
}

/// Answers a peer's sync request from our store. `max_response_bytes` bounds a blocks answer.
pub fn answer(
    shared: &Shared,
    request: &[u8],
    max_blocks: u64,
    max_response_bytes: usize,
) -> Vec<u8> {
    let Ok(request) = SyncRequest::from_bytes(request) else {
        return SyncResponse::Unavailable.to_bytes();
    };
    let store = shared.store.read().expect("store lock poisoned");
    let response = match request {
        SyncRequest::Status => SyncResponse::Status {
            height: store.latest_height(),
            state_root: store.state_root(),
        },
        SyncRequest::Blocks { from, max } => {
            let mut blocks = Vec::new();
            let mut bytes = 0usize;
            let last = from.saturating_add(max.min(max_blocks)).saturating_sub(1);
            for h in from..=last.min(store.latest_height()) {
                match store.block(h) {
                    Ok(Some(b)) => {
                        bytes += b.to_bytes().len();
                        // Leave room for the envelope: stop before the response limit.
                        if bytes > max_response_bytes / 2 && !blocks.is_empty() {
                            break;
                        }
                        blocks.push(b);
                    }
                    _ => break,
                }
            }
            if blocks.is_empty() {
                SyncResponse::Unavailable
            } else {
                SyncResponse::Blocks(blocks)
            }
        }
        SyncRequest::Snapshot { height } => match store.export_snapshot(height) {
            Ok(s) => SyncResponse::Snapshot(s),
            Err(_) => SyncResponse::Unavailable,
        },
    };
    response.to_bytes()
}

/// Decodes a sync response, bounded by `max_bytes`.
pub fn decode_response(bytes: &[u8], max_bytes: usize) -> Option<SyncResponse> {
    if bytes.len() > max_bytes {
        return None;
    }
    SyncResponse::from_bytes(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certified::{verify_certified, CertifiedBlockError};
    use crate::config::NodeConfig;
    use crate::test_support::{certificate, genesis, key, shared, transfer};
    use bftledger_consensus::{batch_digest, Request};
    use bftledger_crypto::PublicKey;
    use bftledger_ledger::{BatchInput, Signatures, Store};

    /// A store with one committed block (one transfer), its certificate signed by `signers`.
    fn shared_with_block(signers: &[u32]) -> (tempfile::TempDir, Shared) {
        let dir = tempfile::tempdir().unwrap();
        let genesis = genesis("sync-test", 100);
        let mut store = Store::open_or_create(&dir.path().join("ledger"), &genesis).unwrap();
        let t = transfer("sync-test", 7, 1);
        let digest = batch_digest(&[Request {
            payload: t.to_bytes(),
        }]);
        let input = BatchInput {
            batch_digest: digest,
            transfers: vec![t],
            certificate: certificate(signers, 1, digest).to_bytes(),
        };
        store.commit_batch(input, Signatures::Verify).unwrap();
        let api = NodeConfig::local_default(1, 2).api;
        let shared = shared(genesis, store, 10, std::time::Duration::ZERO, api);
        (dir, shared)
    }

    fn served_blocks(shared: &Shared) -> Vec<CertifiedBlock> {
        let request = SyncRequest::Blocks { from: 1, max: 10 }.to_bytes();
        match decode_response(&answer(shared, &request, 64, 1 << 20), 1 << 20) {
            Some(SyncResponse::Blocks(blocks)) => blocks,
            other => panic!("{other:?}"),
        }
    }

    fn verify(
        validators: &[PublicKey],
        b: &CertifiedBlock,
    ) -> Result<bftledger_consensus::CommitCertificate, CertifiedBlockError> {
        verify_certified(validators, &b.block, &b.certificate)
    }

    #[test]
    fn served_blocks_verify_and_tampering_is_caught() {
        let (_dir, shared) = shared_with_block(&[0, 1, 2]);
        let validators = shared.genesis.validator_keys();
        let blocks = served_blocks(&shared);
        assert_eq!(blocks.len(), 1);
        verify(&validators, &blocks[0]).unwrap();
        // A transfer changed: the batch no longer matches the certificate.
        let mut changed = blocks[0].clone();
        changed.block.transfers[0].transfer.amount = 8;
        assert!(matches!(
            verify(&validators, &changed),
            Err(CertifiedBlockError::BatchMismatch { .. })
        ));
        // The block names another batch than its (certified) transfers.
        let mut renamed = blocks[0].clone();
        renamed.block.batch_digest = Digest::ZERO;
        assert!(matches!(
            verify(&validators, &renamed),
            Err(CertifiedBlockError::DigestMismatch {
                named: Digest::ZERO,
                ..
            })
        ));
        // A certified block relabelled with another height.
        let mut moved = blocks[0].clone();
        moved.block.height = 2;
        assert!(matches!(
            verify(&validators, &moved),
            Err(CertifiedBlockError::WrongSeq {
                cert_seq: 1,
                height: 2
            })
        ));
        // Another validator set does not accept the signatures.
        let others: Vec<_> = (20..24).map(|i| key(i).public()).collect();
        assert!(matches!(
            verify(&others, &blocks[0]),
            Err(CertifiedBlockError::Certificate(_))
        ));
        // Garbage certificate.
        let mut garbage = blocks[0].clone();
        garbage.certificate = vec![1, 2, 3];
        assert!(matches!(
            verify(&validators, &garbage),
            Err(CertifiedBlockError::Undecodable(_))
        ));
    }

    #[test]
    fn a_certificate_without_a_quorum_is_refused() {
        let (_dir, shared) = shared_with_block(&[0, 1]);
        let blocks = served_blocks(&shared);
        let err = verify(&shared.genesis.validator_keys(), &blocks[0]).unwrap_err();
        assert!(matches!(err, CertifiedBlockError::Certificate(_)), "{err}");
    }

    #[test]
    fn status_snapshot_and_unavailable_answers() {
        let (_dir, shared) = shared_with_block(&[0, 1, 2]);
        let root = shared.store.read().unwrap().state_root();
        let status = answer(&shared, &SyncRequest::Status.to_bytes(), 64, 1 << 20);
        assert_eq!(
            decode_response(&status, 1 << 20),
            Some(SyncResponse::Status {
                height: 1,
                state_root: root
            })
        );
        let snap = answer(
            &shared,
            &SyncRequest::Snapshot { height: 1 }.to_bytes(),
            64,
            1 << 20,
        );
        let Some(SyncResponse::Snapshot(s)) = decode_response(&snap, 1 << 20) else {
            panic!("no snapshot");
        };
        let block_hash = shared.store.read().unwrap().latest_block_hash();
        s.verify(&shared.genesis, 1, block_hash).unwrap();
        assert_eq!(s.header.state_root, root);
        let beyond = answer(
            &shared,
            &SyncRequest::Blocks { from: 5, max: 1 }.to_bytes(),
            64,
            1 << 20,
        );
        assert_eq!(
            decode_response(&beyond, 1 << 20),
            Some(SyncResponse::Unavailable)
        );
        let garbage = answer(&shared, &[9, 9, 9], 64, 1 << 20);
        assert_eq!(
            decode_response(&garbage, 1 << 20),
            Some(SyncResponse::Unavailable)
        );
    }

    #[test]
    fn requests_round_trip_and_garbage_is_refused() {
        for r in [
            SyncRequest::Status,
            SyncRequest::Blocks { from: 3, max: 64 },
            SyncRequest::Snapshot { height: 16 },
        ] {
            assert_eq!(SyncRequest::from_bytes(&r.to_bytes()).unwrap(), r);
        }
        assert!(SyncRequest::from_bytes(&[1, 77]).is_err());
        assert!(decode_response(&[1, 200, 1], 1024).is_none());
        assert!(decode_response(&[0; 100], 10).is_none());
    }
}
