//! The host's side of state transfer: which fetched state may be installed, and when the
//! transfer the core asked for is complete ([`crate::Host`] reports it to the core then).
//!
//! **Rule** (TOCS'02 §5.3.2, state transfer; our checkpoint digest is the block hash, see
//! `bftledger_ledger::block`): the ledger only ever moves to a state bound to a checkpoint the
//! core proved with validators' signatures. A snapshot is installed only for the state transfer
//! under way (the core's [`FetchState`]), at its height, and only if its header hashes to its
//! digest ([`install_snapshot`]; the state arrives in parts, each checked against it first:
//! `bftledger_ledger::snapshot_part`); the transfer is reported complete only once the ledger's block
//! hash at that height is the checkpoint digest ([`checkpoint_reached`]).

use bftledger_consensus::FetchState;
use bftledger_crypto::Digest;
use bftledger_ledger::{Genesis, Region, Snapshot, SnapshotError, Store, StoreError};

/// A checkpoint to reach (from the core's `FetchState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchTarget {
    /// Checkpoint seq.
    pub seq: u64,
    /// Its digest, signed by at least f+1 validators in CHECKPOINT: the hash of the block at
    /// height `seq` (see `bftledger_ledger::block`).
    pub block_hash: Digest,
}

/// Why the driver refused a snapshot the sync worker fetched (the worker asks another peer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotRefusal {
    /// It was fetched for a checkpoint that is not the state transfer under way: installing it
    /// would leave the ledger at a height the core did not ask for.
    #[error("snapshot for checkpoint {seq}, the state transfer under way is for {pending:?}")]
    NotPending {
        /// The checkpoint it was fetched for.
        seq: u64,
        /// The checkpoint of the state transfer under way, if any.
        pending: Option<u64>,
    },
    /// The ledger already reached the checkpoint (by blocks) while it was fetched.
    #[error("snapshot for checkpoint {seq}, the ledger is already at height {height}")]
    Reached {
        /// The checkpoint.
        seq: u64,
        /// The ledger's height.
        height: u64,
    },
    /// It does not verify against the checkpoint (wrong height, block hash, accounts...).
    #[error("{0}")]
    Invalid(SnapshotError),
}

/// The checkpoint of a state transfer the core asked for.
pub(crate) fn target_of(fetch: &FetchState) -> FetchTarget {
    FetchTarget {
        seq: fetch.seq,
        block_hash: fetch.state_root,
    }
}

/// Installs `snapshot`, fetched for `target`, if `target` is the state transfer under way
/// (`pending`) and the snapshot verifies against it (`Store::import_snapshot`, which calls the
/// one owner of the checks, `Snapshot::verify`). The outer error is a store failure (fatal:
/// the node cannot go on safely); the inner one a typed refusal, after which nothing changed.
pub fn install_snapshot(
    store: &mut Store,
    genesis: &Genesis,
    snapshot: &Snapshot,
    target: FetchTarget,
    pending: Option<FetchTarget>,
) -> Result<Result<(), SnapshotRefusal>, StoreError> {
    if let Err(refusal) = check_wanted(store, target, pending) {
        return Ok(Err(refusal));
    }
    match store.import_snapshot(snapshot, genesis, target.seq, target.block_hash) {
        Ok(()) => Ok(Ok(())),
        Err(StoreError::Snapshot(e)) => Ok(Err(SnapshotRefusal::Invalid(e))),
        Err(e) => Err(e),
    }
}

/// Whether state fetched for `target` is still wanted: `target` is the state transfer under
/// way (`pending`) and the ledger has not reached it (the one owner of these two checks, for
/// parts and for the whole snapshot).
pub fn check_wanted(
    store: &Store,
    target: FetchTarget,
    pending: Option<FetchTarget>,
) -> Result<(), SnapshotRefusal> {
    if pending != Some(target) {
        return Err(SnapshotRefusal::NotPending {
            seq: target.seq,
            pending: pending.map(|p| p.seq),
        });
    }
    if store.latest_height() >= target.seq {
        return Err(SnapshotRefusal::Reached {
            seq: target.seq,
            height: store.latest_height(),
        });
    }
    Ok(())
}

/// What became of a part of a snapshot the host accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartOutcome {
    /// Kept (or already held); these regions are still wanted, the next first.
    Wanted(Vec<Region>),
    /// It completed the state, which is installed: the transfer is done.
    Installed,
}

/// Whether the ledger holds the state of checkpoint `target`: it is at or beyond its height,
/// and its block at that height has the checkpoint digest as hash.
///
/// # Panics
/// If the ledger is beyond `target` without knowing its block (only a snapshot above the
/// checkpoint could do that, and [`install_snapshot`] installs none), or its block there has
/// another hash than 2f+1 (or f+1, one of them correct) validators signed: broken invariants,
/// the second a safety violation.
pub fn checkpoint_reached(store: &Store, target: FetchTarget) -> Result<bool, StoreError> {
    if store.latest_height() < target.seq {
        return Ok(false);
    }
    let hash = store.block_hash_at(target.seq)?.unwrap_or_else(|| {
        panic!(
            "the ledger is at height {} but does not know its block at checkpoint {}",
            store.latest_height(),
            target.seq
        )
    });
    assert_eq!(
        hash, target.block_hash,
        "SAFETY: our block hash at {} differs from the checkpoint digest",
        target.seq
    );
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{genesis, transfer};
    use bftledger_ledger::{BatchInput, Block, Signatures};
    use std::path::Path;

    const CHAIN: &str = "state-transfer";

    /// A peer's store with four blocks (a payment each), and the blocks.
    fn peer_with_blocks(dir: &Path) -> (Store, Vec<Block>) {
        let mut store = Store::create(dir, &genesis(CHAIN, 100)).unwrap();
        let blocks = (1..=4u64)
            .map(|nonce| {
                let input = BatchInput {
                    batch_digest: Digest::of(&nonce.to_be_bytes()),
                    transfers: vec![transfer(CHAIN, 1, nonce)],
                    certificate: vec![],
                };
                store.commit_batch(input, Signatures::Verify).unwrap()
            })
            .collect();
        (store, blocks)
    }

    /// Installs `snapshot` for `target`, the state transfer under way, on the store at `path`,
    /// then restarts (reopens the store) and asks whether the checkpoint is reached, as the
    /// driver does for the core's next `FetchState`.
    fn install_then_restart(
        path: &Path,
        snapshot: &Snapshot,
        target: FetchTarget,
    ) -> (Result<(), SnapshotRefusal>, bool, u64) {
        let g = genesis(CHAIN, 100);
        let mut store = Store::open_or_create(path, &g).unwrap();
        let verdict = install_snapshot(&mut store, &g, snapshot, target, Some(target)).unwrap();
        drop(store);
        let restarted = Store::open(path, &g).expect("the node's store reopens");
        let reached = checkpoint_reached(&restarted, target).expect("no store error");
        (verdict, reached, restarted.latest_height())
    }

    /// Issue 11 item 3. Scenario: the core asks for checkpoint 2 (signed by f+1 or 2f+1
    /// validators); a Byzantine peer serves the right accounts labelled with height 4, or a
    /// genuine snapshot of another height. Before the fix the driver installed it at the height it
    /// claimed and panicked in `complete_state_transfer` ("block ... below the ledger height but
    /// not stored") on every restart. Rule (TOCS'02 §5.3.2): a fetched state is installed only if
    /// it matches the checkpoint digest validators signed, here the block hash at the checkpoint's
    /// height; a bad one is a typed refusal, the store stays as it was and the node restarts.
    #[test]
    fn a_snapshot_of_another_height_is_refused_and_the_node_restarts_cleanly() {
        let (peer_dir, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (peer, blocks) = peer_with_blocks(peer_dir.path());
        let target = FetchTarget {
            seq: 2,
            block_hash: blocks[1].hash(),
        };
        let mut relabelled = peer.export_snapshot(2).unwrap();
        relabelled.header.height = 4;
        for (snapshot, got) in [
            (relabelled, 4),
            (peer.export_snapshot(4).unwrap(), 4),
            (peer.export_snapshot(1).unwrap(), 1),
        ] {
            let (verdict, reached, height) = install_then_restart(dir.path(), &snapshot, target);
            assert_eq!(
                verdict,
                Err(SnapshotRefusal::Invalid(SnapshotError::WrongHeight {
                    expected: 2,
                    got
                }))
            );
            assert_eq!((reached, height), (false, 0), "nothing changed");
        }
        // The genuine snapshot from another peer then completes the transfer.
        let genuine = peer.export_snapshot(2).unwrap();
        let (verdict, reached, height) = install_then_restart(dir.path(), &genuine, target);
        assert_eq!((verdict, reached, height), (Ok(()), true, 2));
    }

    /// Issue 11 item 3. Scenario: a Byzantine peer serves, for checkpoint 2, a snapshot at height
    /// 2 with the right accounts and a header of another history (`prev_hash`). Rule: the
    /// snapshot's header must hash to the signed checkpoint digest (TOCS'02 §4.3, §5.3.2).
    #[test]
    fn a_snapshot_with_a_wrong_block_hash_is_refused() {
        let (peer_dir, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (peer, blocks) = peer_with_blocks(peer_dir.path());
        let target = FetchTarget {
            seq: 2,
            block_hash: blocks[1].hash(),
        };
        let mut forged = peer.export_snapshot(2).unwrap();
        forged.header.prev_hash = Digest::ZERO;
        let (verdict, reached, height) = install_then_restart(dir.path(), &forged, target);
        assert!(
            matches!(
                verdict,
                Err(SnapshotRefusal::Invalid(SnapshotError::WrongBlockHash {
                    height: 2,
                    ..
                }))
            ),
            "{verdict:?}"
        );
        assert_eq!((reached, height), (false, 0));
    }

    /// A snapshot fetched for a checkpoint that is not the state transfer under way (the core
    /// moved on, or none is pending), or that the ledger already reached by blocks, is refused:
    /// the ledger never moves to a height the core did not ask for.
    #[test]
    fn only_the_state_transfer_under_way_installs_a_snapshot() {
        let (peer_dir, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (peer, blocks) = peer_with_blocks(peer_dir.path());
        let g = genesis(CHAIN, 100);
        let mut store = Store::create(dir.path(), &g).unwrap();
        let at = |seq: u64| FetchTarget {
            seq,
            block_hash: blocks[seq as usize - 1].hash(),
        };
        let snapshot = peer.export_snapshot(4).unwrap();
        for pending in [None, Some(at(2))] {
            assert_eq!(
                install_snapshot(&mut store, &g, &snapshot, at(4), pending).unwrap(),
                Err(SnapshotRefusal::NotPending {
                    seq: 4,
                    pending: pending.map(|p| p.seq)
                })
            );
        }
        assert_eq!(store.latest_height(), 0);
        let two = peer.export_snapshot(2).unwrap();
        install_snapshot(&mut store, &g, &two, at(2), Some(at(2)))
            .unwrap()
            .unwrap();
        assert!(checkpoint_reached(&store, at(2)).unwrap());
        assert_eq!(
            install_snapshot(&mut store, &g, &two, at(2), Some(at(2))).unwrap(),
            Err(SnapshotRefusal::Reached { seq: 2, height: 2 })
        );
    }
}
