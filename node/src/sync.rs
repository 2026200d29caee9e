//! State transfer (catch-up) over the p2p sync protocol.
//!
//! **Protocol** (request/response, [`SyncRequest`] → [`SyncResponse`], both [`Versioned`]):
//! `Status` (a peer's height and state root), `Blocks { from, max }` (consecutive blocks with
//! their commit certificates, bounded by count and by response bytes) and `Snapshot { height }`
//! (the accounts at a height, for a peer that cannot serve old blocks).
//!
//! **Trust**: nothing a peer sends is believed. A fetched block is applied only if
//! 1. its commit certificate carries 2f+1 valid COMMIT signatures of the genesis validators
//!    for `seq == height`, and
//! 2. the batch digest recomputed from its transfers equals the certified digest, and
//! 3. re-executing its transfers on our state gives exactly its receipts and state root
//!    (`Store::commit_block`), and it extends our chain (`prev_hash`).
//!
//! A snapshot is installed only at a stable checkpoint whose state root the consensus core
//! proved with 2f+1 checkpoint signatures (`FetchState`), and only if it hashes to that root.
//!
//! **When** ([`worker`]): when the core asks ([`bftledger_consensus::FetchState`]: a stable
//! checkpoint beyond what we executed), and when a node notices it is not advancing while a peer
//! is ahead (after a restart, blocks committed while it was down). Blocks applied this way are
//! reported to the core later, when it hands the same sequence numbers out (the driver then
//! checks the batch digest and reports the stored state root instead of executing again).

pub mod worker;

use crate::shared::Shared;
use bftledger_consensus::{batch_digest, CommitCertificate, Request};
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::{Digest, PublicKey};
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
    const VERSION: u8 = 1;
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

/// Checks a fetched block's certificate against the validators and its transfers (rules 1 and
/// 2 of the module doc). Re-execution (rule 3) is the store's.
pub fn verify_block(validators: &[PublicKey], block: &CertifiedBlock) -> Result<(), String> {
    let cert = CommitCertificate::decode(&block.certificate)
        .map_err(|e| format!("certificate does not decode: {e}"))?;
    cert.verify(validators)
        .map_err(|e| format!("certificate does not verify: {e}"))?;
    let height = block.block.height;
    if cert.seq != height {
        return Err(format!("certificate is for seq {}, not {height}", cert.seq));
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
    if computed != cert.digest || block.block.batch_digest != cert.digest {
        return Err(format!(
            "transfers hash to {computed}, block says {}, certificate commits {}",
            block.block.batch_digest, cert.digest
        ));
    }
    Ok(())
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
    use crate::config::NodeConfig;
    use crate::test_support::{certificate, genesis, key, shared, transfer};
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
            view: 0,
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

    #[test]
    fn served_blocks_verify_and_tampering_is_caught() {
        let (_dir, shared) = shared_with_block(&[0, 1, 2]);
        let validators = shared.genesis.validator_keys();
        let blocks = served_blocks(&shared);
        assert_eq!(blocks.len(), 1);
        verify_block(&validators, &blocks[0]).unwrap();
        // A transfer changed: the batch no longer matches the certificate.
        let mut changed = blocks[0].clone();
        changed.block.transfers[0].transfer.amount = 8;
        assert!(verify_block(&validators, &changed)
            .unwrap_err()
            .contains("hash to"));
        // Another validator set does not accept the signatures.
        let others: Vec<_> = (20..24).map(|i| key(i).public()).collect();
        assert!(verify_block(&others, &blocks[0]).is_err());
        // Garbage certificate.
        let mut garbage = blocks[0].clone();
        garbage.certificate = vec![1, 2, 3];
        assert!(verify_block(&validators, &garbage)
            .unwrap_err()
            .contains("decode"));
    }

    #[test]
    fn a_certificate_without_a_quorum_is_refused() {
        let (_dir, shared) = shared_with_block(&[0, 1]);
        let blocks = served_blocks(&shared);
        let err = verify_block(&shared.genesis.validator_keys(), &blocks[0]).unwrap_err();
        assert!(err.contains("does not verify"), "{err}");
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
        s.verify(&shared.genesis, 1, root).unwrap();
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
