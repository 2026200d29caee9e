//! Crash consistency (issue 4): a child process writing blocks is SIGKILLed at random points,
//! many times; after every kill the store reopens consistent — the last block is complete, the
//! state root recomputed from the accounts matches, the supply is conserved, heights only grow —
//! and at the end every block re-executes from genesis to the stored state roots.
//!
//! The child is this test binary itself, re-run with `CHILD_DIR_ENV` set (see
//! `crash_child_writer`). Replay a run with `BFTLEDGER_CRASH_SEED=<seed>`.

mod common;

use bftledger_ledger::*;
use common::*;
use rand::{Rng, SeedableRng};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_DIR_ENV: &str = "BFTLEDGER_CRASH_CHILD_DIR";
/// The line the child prints once its store is open.
const READY: &str = "crash-child-ready";
const ACCOUNTS: u8 = 16;
const TRANSFERS_PER_BLOCK: u64 = 64;
const ROUNDS: usize = 25;
const TOTAL_TIME_MAX: Duration = Duration::from_secs(25);
const READY_TIMEOUT: Duration = Duration::from_secs(20);

fn crash_genesis() -> Genesis {
    genesis(&[1_000_000_000; ACCOUNTS as usize])
}

/// The child: opens (or creates) the store and writes blocks until it is killed.
#[test]
#[ignore = "child process of killed_writers_always_leave_a_consistent_store"]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return;
    };
    let g = crash_genesis();
    let mut store = Store::open_or_create(Path::new(&dir), &g).expect("child opens the store");
    println!("{READY}");
    loop {
        let height = store.latest_height() + 1;
        let mut nonces: Vec<u64> = (0..ACCOUNTS)
            .map(|i| store.account(&public(i)).nonce)
            .collect();
        let transfers = (0..TRANSFERS_PER_BLOCK)
            .map(|i| {
                let from = ((height * 7 + i) % u64::from(ACCOUNTS)) as u8;
                let to = ((height * 3 + i * 5 + 1) % u64::from(ACCOUNTS)) as u8;
                let to = if to == from { (to + 1) % ACCOUNTS } else { to };
                nonces[from as usize] += 1;
                // Every 10th transfer is a replay, so blocks carry rejections too.
                let nonce = if i % 10 == 9 {
                    1
                } else {
                    nonces[from as usize]
                };
                if i % 10 == 9 {
                    nonces[from as usize] -= 1;
                }
                transfer(from, to, 1 + (height + i) % 1_000, nonce)
            })
            .collect();
        let input = BatchInput {
            batch_digest: bftledger_crypto::Digest::of(&height.to_be_bytes()),
            transfers,
            certificate: vec![height as u8; 200],
        };
        store
            .commit_batch(input, Signatures::AlreadyVerified)
            .expect("child commits");
    }
}

/// Waits for the child's ready line (libtest may print it after other text on the same line).
fn wait_until_ready(child: &mut std::process::Child) -> bool {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let ready = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.contains(READY));
        let _ = tx.send(ready);
    });
    rx.recv_timeout(READY_TIMEOUT).unwrap_or(false)
}

/// What a reopened store must satisfy; returns its height.
fn check_reopened(dir: &Path, g: &Genesis, previous_height: u64, checked_up_to: &mut u64) -> u64 {
    let store = Store::open(dir, g).unwrap_or_else(|e| panic!("reopen after SIGKILL failed: {e}"));
    let height = store.latest_height();
    assert!(
        height >= previous_height,
        "height went back from {previous_height} to {height}"
    );
    let state = store.state();
    assert_eq!(
        state_root_of(state.accounts()),
        store.state_root(),
        "root recomputation"
    );
    let supply: u128 = state.accounts().map(|(_, a)| u128::from(a.balance)).sum();
    assert_eq!(supply, u128::from(g.supply()), "supply");
    let mut prev_hash = match *checked_up_to {
        0 => g.hash(),
        h => store.block(h).unwrap().unwrap().block.hash(),
    };
    for h in *checked_up_to + 1..=height {
        let certified = store
            .block(h)
            .unwrap()
            .unwrap_or_else(|| panic!("block {h} missing"));
        let block = &certified.block;
        assert_eq!(block.prev_hash, prev_hash, "block {h} does not link");
        assert_eq!(
            block.transfers.len(),
            TRANSFERS_PER_BLOCK as usize,
            "block {h} incomplete"
        );
        assert_eq!(block.receipts.len(), block.transfers.len());
        assert_eq!(certified.certificate, vec![h as u8; 200]);
        prev_hash = block.hash();
    }
    assert_eq!(prev_hash, store.latest_block_hash());
    assert!(store.block(height + 1).unwrap().is_none());
    *checked_up_to = height;
    height
}

/// Re-executes every stored block from genesis and compares receipts and state roots.
fn replay_from_genesis(dir: &Path, g: &Genesis) {
    let store = Store::open(dir, g).unwrap();
    let mut state = State::from_genesis(g);
    for h in 1..=store.latest_height() {
        let block = store.block(h).unwrap().unwrap().block;
        let receipts = state.apply(h, &block.transfers, Signatures::Verify);
        assert_eq!(receipts, block.receipts, "receipts of block {h}");
        assert_eq!(
            state.state_root(),
            block.state_root,
            "state root of block {h}"
        );
    }
    assert_eq!(state.state_root(), store.state_root());
}

#[test]
fn killed_writers_always_leave_a_consistent_store() {
    let seed: u64 = std::env::var("BFTLEDGER_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    println!("crash test seed: {seed} (replay with BFTLEDGER_CRASH_SEED={seed})");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let g = crash_genesis();
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let (mut height, mut checked_up_to, mut progressed) = (0, 0, 0);
    for round in 0..ROUNDS {
        if started.elapsed() > TOTAL_TIME_MAX {
            println!("time budget reached after {round} rounds");
            break;
        }
        let mut child = Command::new(&exe)
            .args([
                "crash_child_writer",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the child writer");
        // One round in four kills at a random time from the start (possibly while the child
        // creates or opens the store); the others once it is writing blocks, so that progress
        // does not depend on how loaded the machine is.
        if rng.random_range(0..4) == 0 {
            std::thread::sleep(Duration::from_millis(rng.random_range(0..300)));
        } else {
            if !wait_until_ready(&mut child) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the child did not open its store within {READY_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(rng.random_range(5..200)));
        }
        child.kill().expect("SIGKILL the child"); // Child::kill sends SIGKILL on Unix
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "the child must die of the signal, not exit: {status}"
        );
        if !path.join("CURRENT").exists() {
            continue; // killed before it created the database
        }
        let new_height = check_reopened(&path, &g, height, &mut checked_up_to);
        progressed += usize::from(new_height > height);
        height = new_height;
    }
    println!("final height {height}, {progressed} rounds made progress");
    assert!(
        height > 0 && progressed >= 3,
        "the child barely wrote anything (height {height})"
    );
    replay_from_genesis(&path, &g);
}
