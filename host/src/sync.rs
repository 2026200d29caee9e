//! State transfer (catch-up) over the p2p sync protocol.
//!
//! **Protocol** (request/response, [`SyncRequest`] → [`SyncResponse`], both [`Versioned`]):
//! `Status` (a peer's height and state root), `Blocks { from, max }` (consecutive blocks with
//! their commit certificates, bounded by count and by response bytes) and `Snapshot { height }`
//! (the accounts at a height, for a peer that cannot serve old blocks).
//!
//! **Trust**: nothing a peer sends is believed; what does not check out is a typed refusal
//! ([`FetchError`], [`crate::SnapshotRefusal`]) and the fetcher asks another peer.
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
//! **When** (the node's sync worker; the simulator's fetcher): when the core asks ([`bftledger_consensus::FetchState`]: a stable
//! checkpoint beyond what we executed), and when a node notices it is not advancing while a peer
//! is ahead (after a restart, blocks committed while it was down). Blocks applied this way are
//! reported to the core later, when it hands the same sequence numbers out (the host then
//! checks the batch digest and reports the stored block hash instead of executing again).

use crate::certified::{verify_certified, CertifiedBlockError};
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::{Digest, PublicKey};
use bftledger_ledger::{CertifiedBlock, Region, SnapshotPart, Store};
use serde::{Deserialize, Serialize};

/// Why a peer's answer to a blocks request was refused (the fetcher then asks another peer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The answer does not decode as a sync response.
    #[error("undecodable response")]
    Undecodable,
    /// No blocks, or more than asked for.
    #[error("{count} blocks for a request of {max}")]
    BlockCount {
        /// Blocks in the answer.
        count: usize,
        /// Most asked for.
        max: u64,
    },
    /// A block at another height than due (answers are consecutive from the height asked).
    #[error("block {got} where {expected} was due")]
    WrongHeight {
        /// The height due.
        expected: u64,
        /// The block's height.
        got: u64,
    },
    /// A block is not certified by the genesis validators.
    #[error("block {height}: {error}")]
    Uncertified {
        /// The block's height.
        height: u64,
        /// Why.
        error: CertifiedBlockError,
    },
}

/// Checks a peer's answer to `Blocks { from, max }` (rules 1 and 2 of the module docs; rule 3 is
/// the store's, when the host applies them). `Ok(None)`: the peer answered something else
/// (unavailable, a status), not a lie.
pub fn check_blocks(
    validators: &[PublicKey],
    from: u64,
    max: u64,
    response: &[u8],
    max_response_bytes: usize,
) -> Result<Option<Vec<CertifiedBlock>>, FetchError> {
    let blocks = match decode_response(response, max_response_bytes) {
        Some(SyncResponse::Blocks(blocks)) => blocks,
        Some(_) => return Ok(None),
        None => return Err(FetchError::Undecodable),
    };
    if blocks.is_empty() || blocks.len() as u64 > max {
        return Err(FetchError::BlockCount {
            count: blocks.len(),
            max,
        });
    }
    for (i, b) in blocks.iter().enumerate() {
        let expected = from + i as u64;
        if b.block.height != expected {
            return Err(FetchError::WrongHeight {
                expected,
                got: b.block.height,
            });
        }
        verify_certified(validators, &b.block, &b.certificate).map_err(|error| {
            FetchError::Uncertified {
                height: expected,
                error,
            }
        })?;
    }
    Ok(Some(blocks))
}

/// Largest answer carrying one part of a snapshot: the part's own limit and the response's
/// envelope. A node's limit on sync answers must be at least this, or state transfer could
/// never complete.
pub const MAX_PART_RESPONSE_BYTES: usize = <SnapshotPart as Versioned>::MAX_BYTES + 1024;

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
    /// One region of the state at `height` (`bftledger_ledger::snapshot_part`).
    SnapshotPart {
        /// The height.
        height: u64,
        /// The region.
        region: Region,
    },
}

impl Versioned for SyncRequest {
    /// Version 2: the state is fetched in parts (a region each), not as one snapshot.
    const VERSION: u8 = 2;
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
    /// A part of the state at a height.
    SnapshotPart(Box<SnapshotPart>),
    /// The peer cannot serve this request (e.g. blocks below the snapshot it started from).
    Unavailable,
}

impl Versioned for SyncResponse {
    /// Version 3: parts of the state instead of whole snapshots.
    const VERSION: u8 = 3;
    const MAX_BYTES: usize = 256 << 20;
}

/// Answers a peer's sync request from our store. `max_response_bytes` bounds a blocks answer.
pub fn answer(
    store: &Store,
    request: &[u8],
    max_blocks: u64,
    max_response_bytes: usize,
) -> Vec<u8> {
    let Ok(request) = SyncRequest::from_bytes(request) else {
        return SyncResponse::Unavailable.to_bytes();
    };
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
        SyncRequest::SnapshotPart { height, region } => match store.export_part(height, &region) {
            Ok(part) => SyncResponse::SnapshotPart(Box::new(part)),
            Err(_) => SyncResponse::Unavailable,
        },
    };
    response.to_bytes()
}

/// Decodes a peer's answer to a request for `region` of a snapshot: the part, if the answer is
/// one and is for that region (a part of another region answers no question the asker put, so
/// it is dropped here, whatever it proves). The host checks everything else the part claims
/// (`Host::add_snapshot_part`).
pub fn check_part(region: &Region, bytes: &[u8], max_bytes: usize) -> Option<Box<SnapshotPart>> {
    match decode_response(bytes, max_bytes)? {
        SyncResponse::SnapshotPart(part) if part.region == *region => Some(part),
        _ => None,
    }
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
    use crate::fixtures::{certificate, genesis, key, transfer};
    use bftledger_consensus::{batch_digest, Request};
    use bftledger_ledger::{BatchInput, Genesis, MemoryBackend, Signatures, SnapshotAssembly};

    /// A store with one committed block (one transfer), its certificate signed by `signers`.
    fn store_with_block(signers: &[u32]) -> (Genesis, Store) {
        let genesis = genesis("sync-test", 100);
        let mut store = Store::in_backend(Box::new(MemoryBackend::new()), &genesis).unwrap();
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
        (genesis, store)
    }

    fn served_blocks(store: &Store) -> Vec<CertifiedBlock> {
        let request = SyncRequest::Blocks { from: 1, max: 10 }.to_bytes();
        match decode_response(&answer(store, &request, 64, 1 << 20), 1 << 20) {
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
        let (genesis, store) = store_with_block(&[0, 1, 2]);
        let validators = genesis.validator_keys();
        let blocks = served_blocks(&store);
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
        let (genesis, store) = store_with_block(&[0, 1]);
        let blocks = served_blocks(&store);
        let err = verify(&genesis.validator_keys(), &blocks[0]).unwrap_err();
        assert!(matches!(err, CertifiedBlockError::Certificate(_)), "{err}");
    }

    #[test]
    fn status_snapshot_part_and_unavailable_answers() {
        let (genesis, store) = store_with_block(&[0, 1, 2]);
        let root = store.state_root();
        let status = answer(&store, &SyncRequest::Status.to_bytes(), 64, 1 << 20);
        assert_eq!(
            decode_response(&status, 1 << 20),
            Some(SyncResponse::Status {
                height: 1,
                state_root: root
            })
        );
        let request = SyncRequest::SnapshotPart {
            height: 1,
            region: Region::ALL,
        };
        let answered = answer(&store, &request.to_bytes(), 64, 1 << 20);
        let half = Region::ALL.halves().unwrap()[0];
        assert!(
            check_part(&half, &answered, 1 << 20).is_none(),
            "a part of another region than asked is no answer"
        );
        let part = check_part(&Region::ALL, &answered, 1 << 20).expect("a snapshot part");
        let mut assembly = SnapshotAssembly::new(&genesis, 1, store.latest_block_hash());
        assert!(assembly.add(&part).unwrap());
        let s = assembly.into_snapshot().expect("one part holds this state");
        assert_eq!(s.header.state_root, root);
        let beyond = answer(
            &store,
            &SyncRequest::Blocks { from: 5, max: 1 }.to_bytes(),
            64,
            1 << 20,
        );
        assert_eq!(
            decode_response(&beyond, 1 << 20),
            Some(SyncResponse::Unavailable)
        );
        let garbage = answer(&store, &[9, 9, 9], 64, 1 << 20);
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
            SyncRequest::SnapshotPart {
                height: 16,
                region: Region::ALL.halves().unwrap()[1],
            },
        ] {
            assert_eq!(SyncRequest::from_bytes(&r.to_bytes()).unwrap(), r);
        }
        assert!(SyncRequest::from_bytes(&[1, 77]).is_err());
        assert!(decode_response(&[1, 200, 1], 1024).is_none());
        assert!(decode_response(&[0; 100], 10).is_none());
    }

    /// Every lie in an answer to `Blocks { from, max }` is a typed refusal, before anything
    /// is applied: garbage, no blocks or more than asked, a block at another height than due,
    /// a block whose certificate is not a quorum's; an honest "unavailable" is no lie.
    #[test]
    fn check_blocks_refuses_every_lie_with_its_reason() {
        let (genesis, store) = store_with_block(&[0, 1, 2]);
        let validators = genesis.validator_keys();
        let check =
            |from, max, response: &[u8]| check_blocks(&validators, from, max, response, 1 << 20);
        let honest = answer(
            &store,
            &SyncRequest::Blocks { from: 1, max: 4 }.to_bytes(),
            64,
            1 << 20,
        );
        assert_eq!(check(1, 4, &honest).unwrap().unwrap().len(), 1);
        assert_eq!(check(1, 4, &[7, 7, 7]), Err(FetchError::Undecodable));
        let unavailable = SyncResponse::Unavailable.to_bytes();
        assert_eq!(check(1, 4, &unavailable), Ok(None));
        let blocks = served_blocks(&store);
        let none = SyncResponse::Blocks(vec![]).to_bytes();
        assert_eq!(
            check(1, 4, &none),
            Err(FetchError::BlockCount { count: 0, max: 4 })
        );
        let two = SyncResponse::Blocks(vec![blocks[0].clone(), blocks[0].clone()]).to_bytes();
        assert_eq!(
            check(1, 1, &two),
            Err(FetchError::BlockCount { count: 2, max: 1 })
        );
        assert_eq!(
            check(2, 4, &honest),
            Err(FetchError::WrongHeight {
                expected: 2,
                got: 1
            })
        );
        let (_, weak) = store_with_block(&[0, 1]);
        let uncertified = answer(
            &weak,
            &SyncRequest::Blocks { from: 1, max: 4 }.to_bytes(),
            64,
            1 << 20,
        );
        assert!(matches!(
            check(1, 4, &uncertified),
            Err(FetchError::Uncertified { height: 1, .. })
        ));
    }
}
