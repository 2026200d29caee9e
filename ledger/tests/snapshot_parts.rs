//! State transfer by parts (`bftledger_ledger::snapshot_part`): a lagging replica gathers the
//! state of a signed checkpoint region by region, each part checked on its own, and installs it.
//! Rule (TOCS'02 §5.3.2, state transfer; §6.2.2 fetches partitions of the state, each checked
//! against the digest of the level above): the replica moves only to a state bound to the
//! checkpoint digest; a part from a liar is refused alone, and the transfer resumes elsewhere.

mod common;

use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::Digest;
use bftledger_ledger::*;
use common::*;

/// A store whose genesis funds 40 accounts, after `blocks` blocks of payments among them.
fn source(blocks: u64) -> (Genesis, Store) {
    let g = genesis(&[1_000; 40]);
    let mut store = Store::in_backend(Box::new(MemoryBackend::new()), &g).unwrap();
    // As a validator's host does with its checkpoint interval: trees are kept at every height.
    store.keep_trees_every(1);
    for b in 0..blocks {
        let transfers = (0..8u8)
            .map(|i| transfer(i + 8 * b as u8 % 32, 39 - i, 1 + u64::from(i), 1))
            .collect();
        let input = BatchInput {
            batch_digest: Digest::of(&b.to_be_bytes()),
            transfers,
            certificate: vec![],
        };
        store.commit_batch(input, Signatures::Verify).unwrap();
    }
    (g, store)
}

/// Gathers the state at `height` from `donor` part by part; returns the assembly and the
/// number of parts.
fn gather(g: &Genesis, donor: &Store, height: u64) -> (SnapshotAssembly, usize) {
    let hash = donor.block_hash_at(height).unwrap().unwrap();
    let mut assembly = SnapshotAssembly::new(g, height, hash);
    let mut parts = 0;
    while let Some(region) = assembly.wanted().first().copied() {
        let part = donor.export_part(height, &region).unwrap();
        assert!(assembly.add(&part).unwrap(), "a wanted part is kept");
        parts += 1;
    }
    (assembly, parts)
}

#[test]
fn a_state_gathered_in_parts_installs_at_the_checkpoint() {
    let (g, donor) = source(3);
    for height in [2, 3] {
        let (assembly, parts) = gather(&g, &donor, height);
        assert_eq!(parts, 1, "40 accounts fit in one part");
        let snapshot = assembly.into_snapshot().unwrap();
        assert_eq!(snapshot, donor.export_snapshot(height).unwrap());
        let mut follower = Store::in_backend(Box::new(MemoryBackend::new()), &g).unwrap();
        let hash = donor.block_hash_at(height).unwrap().unwrap();
        follower
            .import_snapshot(&snapshot, &g, height, hash)
            .unwrap();
        assert_eq!(follower.latest_block_hash(), hash);
    }
}

#[test]
fn a_region_too_large_for_one_part_is_fetched_as_its_halves() {
    let (g, donor) = source(2);
    let height = donor.latest_height();
    let header = donor.header_at(height).unwrap().unwrap();
    let tree = donor.state().tree();
    // As a donor answers with a part limit of 3 accounts.
    let part = |region: Region| SnapshotPart {
        genesis_hash: g.hash(),
        header,
        region,
        content: tree.region(&region, 3),
    };
    let mut assembly = SnapshotAssembly::new(&g, height, header.hash());
    let mut parts = 0;
    while let Some(region) = assembly.wanted().first().copied() {
        assert!(assembly.add(&part(region)).unwrap());
        parts += 1;
    }
    assert!(parts > 40 / 3, "{parts} parts");
    assert_eq!(
        assembly.into_snapshot().unwrap(),
        donor.export_snapshot(height).unwrap()
    );
}

#[test]
fn parts_from_a_liar_are_refused_and_the_transfer_resumes_with_another_donor() {
    let (g, donor) = source(3);
    let hash = donor.block_hash_at(2).unwrap().unwrap();
    let mut assembly = SnapshotAssembly::new(&g, 2, hash);
    let genuine = donor.export_part(2, &Region::ALL).unwrap();

    let other_height = donor.export_part(3, &Region::ALL).unwrap();
    let mut richer = genuine.clone();
    if let RegionContent::Accounts { accounts, .. } = &mut richer.content {
        accounts[0].1.balance += 1;
    }
    let mut fewer = genuine.clone();
    if let RegionContent::Accounts { accounts, .. } = &mut fewer.content {
        accounts.pop();
    }
    let mut other_history = genuine.clone();
    other_history.header.prev_hash = Digest::of(b"another history");
    let mut other_chain = genuine.clone();
    other_chain.genesis_hash = Digest::of(b"another chain");
    /// What a liar served, and the refusal it must meet.
    type Case<'a> = (&'a str, &'a SnapshotPart, fn(&SnapshotError) -> bool);
    let cases: [Case; 5] = [
        ("other height", &other_height, |e| {
            matches!(
                e,
                SnapshotError::WrongHeight {
                    expected: 2,
                    got: 3
                }
            )
        }),
        ("balance", &richer, |e| matches!(e, SnapshotError::Proof(_))),
        ("missing account", &fewer, |e| {
            matches!(e, SnapshotError::Proof(_))
        }),
        ("other history", &other_history, |e| {
            matches!(e, SnapshotError::WrongBlockHash { height: 2, .. })
        }),
        ("other chain", &other_chain, |e| {
            matches!(e, SnapshotError::WrongGenesis { .. })
        }),
    ];
    for (what, part, expected) in cases {
        let err = assembly.add(part).unwrap_err();
        assert!(expected(&err), "{what}: {err}");
        assert_eq!(assembly.wanted(), [Region::ALL], "{what}: nothing kept");
    }
    // The genuine part completes it; the same part again is not wanted and changes nothing.
    assert!(assembly.add(&genuine).unwrap());
    assert!(!assembly.add(&genuine).unwrap());
    assert!(assembly.is_complete());
    assert_eq!(
        assembly.into_snapshot().unwrap(),
        donor.export_snapshot(2).unwrap()
    );
}

#[test]
fn a_donor_refuses_what_is_no_part_and_reverts_nothing_on_request() {
    let (_, donor) = source(1);
    let bad = Region {
        prefix: [0x80; 32],
        depth: 1,
    };
    assert!(matches!(
        donor.export_part(1, &bad),
        Err(StoreError::Snapshot(SnapshotError::Unavailable { .. }))
    ));
    assert!(
        donor.export_part(0, &Region::ALL).is_err(),
        "no part at genesis"
    );
    assert!(
        donor.export_part(2, &Region::ALL).is_err(),
        "none above the tip"
    );
    // Below the tip, parts come only from the trees the store keeps: the checkpoints from one
    // below the stable checkpoint up. An asker naming any other height gets `Unavailable`,
    // never a revert of the state (whose cost the asker would choose).
    let g = genesis(&[1_000; 40]);
    let mut store = Store::in_backend(Box::new(MemoryBackend::new()), &g).unwrap();
    store.keep_trees_every(2);
    store.limit_part_accounts(5);
    for nonce in 1..=7 {
        let input = BatchInput {
            batch_digest: Digest::of(&[nonce as u8]),
            transfers: vec![transfer(0, 1, 1, nonce)],
            certificate: vec![],
        };
        store.commit_batch(input, Signatures::Verify).unwrap();
    }
    let unavailable = |store: &Store, h: u64| {
        matches!(
            store.export_part(h, &Region::ALL),
            Err(StoreError::Snapshot(SnapshotError::Unavailable { .. }))
        )
    };
    for h in [1, 3, 5] {
        assert!(
            unavailable(&store, h),
            "height {h} is no checkpoint: not kept"
        );
    }
    store.set_stable_checkpoint(4, vec![1]).unwrap();
    store.set_stable_checkpoint(6, vec![2]).unwrap();
    assert!(
        unavailable(&store, 2),
        "two checkpoints below the stable one"
    );
    for h in [4, 6, 7] {
        let (assembly, parts) = gather(&g, &store, h);
        assert!(parts > 40 / 5, "{parts} parts of at most 5 accounts");
        assert_eq!(
            assembly.into_snapshot().unwrap(),
            store.export_snapshot(h).unwrap(),
            "height {h}"
        );
    }
}

/// The largest legal part: [`MAX_PART_ACCOUNTS`] accounts with the largest records and a full
/// path of siblings fits its own limit, with room for the sync envelope; one account more is
/// refused before any proof is checked.
#[test]
fn the_largest_part_fits_its_limit_and_a_larger_one_is_refused() {
    let (g, donor) = source(1);
    let part = largest_part(&g, &donor, MAX_PART_ACCOUNTS);
    let bytes = part.to_bytes();
    assert!(
        bytes.len() + 1024 <= SnapshotPart::MAX_BYTES,
        "{} bytes, limit {}",
        bytes.len(),
        SnapshotPart::MAX_BYTES
    );
    assert_eq!(SnapshotPart::from_bytes(&bytes).unwrap(), part);
    let mut too_large = largest_part(&g, &donor, MAX_PART_ACCOUNTS + 1);
    too_large.region = Region::ALL;
    let mut assembly = SnapshotAssembly::new(&g, 1, too_large.header.hash());
    assert!(matches!(
        assembly.add(&too_large),
        Err(SnapshotError::TooManyAccounts { count, max: MAX_PART_ACCOUNTS })
            if count == MAX_PART_ACCOUNTS + 1
    ));
}

/// A part of `n` accounts with the largest records and a full path of siblings.
fn largest_part(g: &Genesis, donor: &Store, n: usize) -> SnapshotPart {
    let accounts = (0..n as u32)
        .map(|i| {
            let mut key = [0xffu8; 32];
            key[..4].copy_from_slice(&i.to_be_bytes());
            let record = Account {
                balance: u64::MAX,
                nonce: u64::MAX,
            };
            (key, record)
        })
        .collect();
    SnapshotPart {
        genesis_hash: g.hash(),
        header: donor.header_at(1).unwrap().unwrap(),
        region: Region {
            prefix: [0xff; 32],
            depth: 256,
        },
        content: RegionContent::Accounts {
            siblings: vec![Digest::of(b"sibling"); 256],
            accounts,
        },
    }
}
