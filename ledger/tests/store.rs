//! The RocksDB store: atomic blocks, reopen, queries, typed open errors, blocks from peers,
//! snapshots, and the consensus column family.

mod common;

use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::Digest;
use bftledger_ledger::*;
use common::*;
use std::path::Path;

fn batch(view: u64, transfers: Vec<SignedTransfer>) -> BatchInput {
    let certificate = format!("certificate for view {view}").into_bytes();
    BatchInput {
        view,
        batch_digest: Digest::of(&view.to_be_bytes()),
        transfers,
        certificate,
    }
}

/// Commits three blocks: a payment, an empty block, then a block with rejections.
fn fill(store: &mut Store) -> Vec<Block> {
    let b1 = store
        .commit_batch(
            batch(0, vec![transfer(0, 1, 10, 1), transfer(0, 2, 20, 2)]),
            Signatures::Verify,
        )
        .unwrap();
    let b2 = store
        .commit_batch(batch(1, vec![]), Signatures::Verify)
        .unwrap();
    let b3 = store
        .commit_batch(
            batch(
                1,
                vec![
                    transfer(0, 1, 10, 1),
                    transfer(1, 2, 1_000, 1),
                    transfer(1, 3, 5, 1),
                ],
            ),
            Signatures::Verify,
        )
        .unwrap();
    vec![b1, b2, b3]
}

#[test]
fn blocks_survive_reopen_and_queries_answer() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(&[1_000]);
    let mut store = Store::create(dir.path(), &g).unwrap();
    assert_eq!(store.latest_height(), 0);
    assert_eq!(store.latest_block_hash(), g.hash());
    let blocks = fill(&mut store);
    assert_eq!(blocks[0].prev_hash, g.hash());
    assert_eq!(blocks[1].prev_hash, blocks[0].hash());
    assert_eq!(blocks[2].prev_hash, blocks[1].hash());
    let root = store.state_root();
    drop(store);

    let store = Store::open(dir.path(), &g).unwrap();
    assert_eq!(store.latest_height(), 3);
    assert_eq!(store.state_root(), root);
    assert_eq!(store.latest_block_hash(), blocks[2].hash());
    assert_eq!(
        store.account(&public(0)),
        Account {
            balance: 970,
            nonce: 2
        }
    );
    assert_eq!(
        store.account(&public(1)),
        Account {
            balance: 5,
            nonce: 1
        }
    );
    assert_eq!(
        store.account(&public(3)),
        Account {
            balance: 5,
            nonce: 0
        }
    );
    assert_eq!(store.account(&public(9)), Account::default());

    let stored = store.block(3).unwrap().unwrap();
    assert_eq!(stored.block, blocks[2]);
    assert_eq!(stored.certificate, b"certificate for view 1");
    assert!(store.block(2).unwrap().unwrap().block.transfers.is_empty());
    assert!(store.block(4).unwrap().is_none());

    let paid = store
        .transfer(&transfer(0, 2, 20, 2).id())
        .unwrap()
        .unwrap();
    assert_eq!(paid.status(), TransferStatus::Committed);
    assert_eq!((paid.height, paid.position), (1, 1));
    assert_eq!(paid.block_hash, blocks[0].hash());
    assert_eq!(paid.certificate, b"certificate for view 0");
    assert_eq!(paid.batch_digest, blocks[0].batch_digest);

    let poor = store
        .transfer(&transfer(1, 2, 1_000, 1).id())
        .unwrap()
        .unwrap();
    assert_eq!(
        poor.status(),
        TransferStatus::Rejected(RejectReason::InsufficientFunds {
            balance: 10,
            amount: 1_000
        })
    );
    assert_eq!((poor.height, poor.position), (3, 1));
    assert!(store
        .transfer(&transfer(5, 6, 1, 1).id())
        .unwrap()
        .is_none());
}

#[test]
fn a_replay_never_hides_where_a_transfer_was_applied() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(&[1_000, 0]);
    let mut store = Store::create(dir.path(), &g).unwrap();
    let early = transfer(1, 0, 5, 1); // rejected first: account 1 has nothing yet
    store
        .commit_batch(
            batch(0, vec![early.clone(), early.clone()]),
            Signatures::Verify,
        )
        .unwrap();
    let rejected = store.transfer(&early.id()).unwrap().unwrap();
    assert_eq!(
        (rejected.height, rejected.position),
        (1, 0),
        "first rejection is indexed"
    );
    let t = transfer(0, 1, 10, 1);
    store
        .commit_batch(batch(0, vec![t.clone(), early.clone()]), Signatures::Verify)
        .unwrap();
    store
        .commit_batch(batch(0, vec![t.clone(), early.clone()]), Signatures::Verify)
        .unwrap();
    let record = store.transfer(&t.id()).unwrap().unwrap();
    assert_eq!(
        (record.height, record.status()),
        (2, TransferStatus::Committed)
    );
    let record = store.transfer(&early.id()).unwrap().unwrap();
    assert_eq!(
        (record.height, record.status()),
        (2, TransferStatus::Committed),
        "applied later"
    );
}

#[test]
fn open_errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(&[1_000]);
    let path = dir.path().join("db");
    assert!(matches!(
        Store::open(&path, &g),
        Err(StoreError::Missing { .. })
    ));
    let store = Store::create(&path, &g).unwrap();
    assert!(matches!(
        Store::create(&path, &g),
        Err(StoreError::AlreadyExists { .. })
    ));
    let locked = Store::open(&path, &g).unwrap_err();
    assert!(matches!(locked, StoreError::Locked { .. }), "{locked}");
    drop(store);
    let other = genesis(&[2_000]);
    assert!(matches!(
        Store::open(&path, &other),
        Err(StoreError::GenesisMismatch { .. })
    ));
    assert!(Store::open(&path, &g).is_ok());
    let reopened = Store::open_or_create(&path, &g).unwrap();
    assert_eq!(reopened.latest_height(), 0);
    // Parents are created; a leftover half-made `.creating` directory is discarded.
    let nested = dir.path().join("a/b/ledger");
    std::fs::create_dir_all(dir.path().join("a/b/ledger.creating/junk")).unwrap();
    assert_eq!(
        Store::open_or_create(&nested, &g).unwrap().latest_height(),
        0
    );
    assert!(!dir.path().join("a/b/ledger.creating").exists());
    // A non-empty directory that is not a database is refused, not overwritten.
    let occupied = dir.path().join("occupied");
    std::fs::create_dir_all(&occupied).unwrap();
    std::fs::write(occupied.join("notes.txt"), b"keep me").unwrap();
    let err = Store::open_or_create(&occupied, &g).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    assert!(occupied.join("notes.txt").exists());
    assert!(!dir.path().join("occupied.creating").exists());
}

/// Writes raw bytes into a column family behind the store's back.
fn poke(path: &Path, cf: &str, key: &[u8], value: Option<&[u8]>) {
    let names = ["blocks", "transfers", "accounts", "meta", "consensus"];
    let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), path, names).unwrap();
    let handle = db.cf_handle(cf).unwrap();
    match value {
        Some(v) => db.put_cf(handle, key, v).unwrap(),
        None => db.delete_cf(handle, key).unwrap(),
    }
}

#[test]
fn corruption_is_detected_at_open_never_a_panic() {
    let g = genesis(&[1_000]);
    let setup = || {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::create(dir.path(), &g).unwrap();
        fill(&mut store);
        dir
    };
    let expect_corrupt = |dir: &tempfile::TempDir, why: &str| {
        let err = Store::open(dir.path(), &g).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{why}: {err}");
    };
    // A changed balance: the recomputed root no longer matches (and supply breaks).
    let dir = setup();
    let forged = Account {
        balance: 999_999,
        nonce: 2,
    }
    .to_bytes();
    poke(dir.path(), "accounts", public(0).as_bytes(), Some(&forged));
    expect_corrupt(&dir, "forged balance");
    // An undecodable tip.
    let dir = setup();
    poke(dir.path(), "meta", b"tip", Some(b"\x01garbage"));
    expect_corrupt(&dir, "garbage tip");
    // The tip block is missing.
    let dir = setup();
    poke(dir.path(), "blocks", &3u64.to_be_bytes(), None);
    expect_corrupt(&dir, "missing tip block");
    // A block beyond the tip.
    let dir = setup();
    let block2 = Store::open(dir.path(), &g)
        .unwrap()
        .block(2)
        .unwrap()
        .unwrap()
        .to_bytes();
    poke(dir.path(), "blocks", &4u64.to_be_bytes(), Some(&block2));
    expect_corrupt(&dir, "block beyond tip");
    // A directory that is not a RocksDB database at all.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("CURRENT"), b"MANIFEST-999999\n").unwrap();
    let err = Store::open(dir.path(), &g).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { .. } | StoreError::Db(_)),
        "not a database: {err}"
    );
}

#[test]
fn damaged_table_files_give_an_error_never_a_panic() {
    let g = genesis(&[1_000]);
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::create(dir.path(), &g).unwrap();
    fill(&mut store);
    drop(store);
    {
        // Flush every column family into table files, so that the damage below hits them.
        let names = ["blocks", "transfers", "accounts", "meta", "consensus"];
        let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), dir.path(), names).unwrap();
        for name in names {
            db.flush_cf(db.cf_handle(name).unwrap()).unwrap();
        }
    }
    let mut damaged = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "sst") {
            let mut bytes = std::fs::read(&path).unwrap();
            for b in bytes.iter_mut().take(64) {
                *b ^= 0xa5;
            }
            std::fs::write(&path, bytes).unwrap();
            damaged += 1;
        }
    }
    assert!(damaged > 0, "no table file was written");
    let err = Store::open(dir.path(), &g).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { .. } | StoreError::Db(_)),
        "damaged tables: {err}"
    );
}

#[test]
fn blocks_from_peers_are_re_executed_before_they_are_accepted() {
    let g = genesis(&[1_000]);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut source = Store::create(a.path(), &g).unwrap();
    let blocks = fill(&mut source);
    let mut follower = Store::create(b.path(), &g).unwrap();

    let mut wrong_receipt = blocks[0].clone();
    wrong_receipt.receipts[1] = Receipt::Rejected(RejectReason::InsufficientFunds {
        balance: 0,
        amount: 20,
    });
    let err = follower.commit_block(&wrong_receipt, b"cert").unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::BlockMismatch {
                what: "receipts",
                ..
            }
        ),
        "{err}"
    );
    // A peer's block with a forged transfer marked applied: re-execution verifies signatures.
    let mut forged = blocks[0].clone();
    forged.transfers[0].transfer.amount = 11;
    let err = follower.commit_block(&forged, b"cert").unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::BlockMismatch {
                what: "receipts",
                ..
            }
        ),
        "{err}"
    );
    let mut wrong_root = blocks[0].clone();
    wrong_root.state_root = Digest::ZERO;
    let err = follower.commit_block(&wrong_root, b"cert").unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::BlockMismatch {
                what: "state_root",
                ..
            }
        ),
        "{err}"
    );
    assert!(matches!(
        follower.commit_block(&blocks[1], b"cert"),
        Err(StoreError::WrongHeight {
            expected: 1,
            got: 2
        })
    ));
    assert_eq!(
        follower.latest_height(),
        0,
        "rejected blocks change nothing"
    );
    assert_eq!(follower.state_root(), State::from_genesis(&g).state_root());

    for block in &blocks {
        let cert = source.block(block.height).unwrap().unwrap().certificate;
        follower.commit_block(block, &cert).unwrap();
    }
    assert_eq!(follower.state_root(), source.state_root());
    assert_eq!(follower.latest_block_hash(), source.latest_block_hash());
}

#[test]
fn snapshots_round_trip_and_tampering_is_rejected() {
    let g = genesis(&[1_000]);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut source = Store::create(a.path(), &g).unwrap();
    let blocks = fill(&mut source);

    // At the latest height, and at an earlier one (later blocks reverted).
    let latest = source.export_snapshot(3).unwrap();
    assert_eq!(latest.state_root, source.state_root());
    let at_one = source.export_snapshot(1).unwrap();
    assert_eq!(at_one.state_root, blocks[0].state_root);
    assert_eq!(at_one.block_hash, blocks[0].hash());
    assert!(matches!(
        source.export_snapshot(4),
        Err(StoreError::Snapshot(SnapshotError::Unavailable {
            height: 4,
            latest: 3
        }))
    ));

    let bytes = at_one.to_bytes();
    let decoded = Snapshot::decode(&bytes).unwrap();
    let state = decoded.verify(&g, 1, blocks[0].state_root).unwrap();
    assert_eq!(state.state_root(), blocks[0].state_root);

    let tampered = |f: &dyn Fn(&mut Snapshot)| {
        let mut s = at_one.clone();
        f(&mut s);
        s.verify(&g, 1, blocks[0].state_root).unwrap_err()
    };
    // Moving value between accounts keeps the supply, but not the root.
    assert!(matches!(
        tampered(&|s| {
            s.accounts[0].1.balance -= 1;
            s.accounts[1].1.balance += 1;
        }),
        SnapshotError::RootMismatch { .. }
    ));
    assert!(matches!(
        tampered(&|s| s.accounts[0].1.balance += 1),
        SnapshotError::SupplyMismatch { .. }
    ));
    assert!(matches!(
        tampered(&|s| s.accounts[0].1.nonce += 1),
        SnapshotError::RootMismatch { .. }
    ));
    assert!(matches!(
        tampered(&|s| s.accounts.swap(0, 1)),
        SnapshotError::Unsorted { position: 1 }
    ));
    assert!(matches!(
        tampered(&|s| s.height = 2),
        SnapshotError::WrongHeight {
            expected: 1,
            got: 2
        }
    ));
    assert!(matches!(
        tampered(&|s| s.genesis_hash = Digest::ZERO),
        SnapshotError::WrongGenesis { .. }
    ));
    assert!(matches!(
        tampered(&|s| s.state_root = Digest::ZERO),
        SnapshotError::RootMismatch { .. }
    ));
    assert!(matches!(
        at_one.verify(&g, 1, blocks[2].state_root),
        Err(SnapshotError::RootMismatch { .. })
    ));
    // Byte-level tampering: never a panic, never accepted.
    for pos in 0..bytes.len() {
        let mut evil = bytes.clone();
        evil[pos] ^= 0x01;
        if let Ok(mut s) = Snapshot::decode(&evil) {
            if s.verify(&g, 1, blocks[0].state_root).is_ok() {
                // Only the block-hash hint is outside the state root (documented on the field).
                s.block_hash = at_one.block_hash;
                assert_eq!(s, at_one, "byte {pos} changed a verified snapshot");
            }
        }
    }

    // Import into a fresh replica, then both execute the same next block.
    let mut follower = Store::create(b.path(), &g).unwrap();
    let err = follower
        .import_snapshot(&latest, &g, blocks[0].state_root)
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Snapshot(SnapshotError::RootMismatch { .. })
        ),
        "{err}"
    );
    follower
        .import_snapshot(&latest, &g, source.state_root())
        .unwrap();
    assert_eq!(follower.latest_height(), 3);
    let next = batch(2, vec![transfer(2, 4, 3, 1)]);
    let want = source
        .commit_batch(next.clone(), Signatures::Verify)
        .unwrap();
    let got = follower.commit_batch(next, Signatures::Verify).unwrap();
    assert_eq!(got, want);
    drop(follower);
    let follower = Store::open(b.path(), &g).unwrap();
    assert_eq!(follower.state_root(), source.state_root());
    assert!(
        follower.block(3).unwrap().is_none(),
        "blocks before the snapshot were not fetched"
    );
    assert!(matches!(
        follower.export_snapshot(2),
        Err(StoreError::Snapshot(SnapshotError::Unavailable { .. }))
    ));
    assert_eq!(follower.export_snapshot(3).unwrap(), latest);
}

#[test]
fn the_consensus_column_family_is_durable_and_ordered() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(&[1]);
    let store = Store::create(dir.path(), &g).unwrap();
    store
        .consensus_put_batch([
            ConsensusOp::Put {
                key: b"view".to_vec(),
                value: b"7".to_vec(),
            },
            ConsensusOp::Put {
                key: b"a".to_vec(),
                value: b"1".to_vec(),
            },
            ConsensusOp::Put {
                key: b"gone".to_vec(),
                value: b"x".to_vec(),
            },
        ])
        .unwrap();
    store
        .consensus_put_batch([ConsensusOp::Delete {
            key: b"gone".to_vec(),
        }])
        .unwrap();
    drop(store);
    let store = Store::open(dir.path(), &g).unwrap();
    assert_eq!(
        store.consensus_entries().unwrap(),
        vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"view".to_vec(), b"7".to_vec())
        ]
    );
}

#[test]
fn limits_are_enforced_with_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis(&[1]);
    let mut store = Store::create(dir.path(), &g).unwrap();
    let mut input = batch(0, vec![]);
    input.certificate = vec![0; MAX_CERTIFICATE_BYTES + 1];
    assert!(matches!(
        store.commit_batch(input, Signatures::Verify),
        Err(StoreError::TooLarge { .. })
    ));
    assert_eq!(store.latest_height(), 0);
}
