//! Execution throughput of the ledger, printed as JSON (a benchmark, not a test).
//!
//! ```text
//! cargo run --release -p bftledger-ledger --bin ledger-bench -- [--accounts N] [--blocks B] [--block-transfers T]
//! ```
//!
//! Measures, excluding signature checks (transfers carry dummy signatures and are applied with
//! `Signatures::AlreadyVerified`, as consensus verifies them before a batch commits):
//! * `in_memory`: `State::apply` of blocks of T transfers, including the per-block state root;
//! * `rocksdb`: `Store::commit_batch` of the same blocks: execution, block encoding and hashing,
//!   transfer ids and index, changed accounts, and one synced RocksDB write batch per block;
//! * for reference, `State::apply` with batch signature verification (`Signatures::Verify`) on
//!   the first 10 blocks, and the disk's write+fsync latency for a block-sized file;
//! * the process's resident memory after building the state and at the end;
//! * `reopen_seconds`: opening the store again, as a restart does (every account read, the tree
//!   built from them, the consistency checks).
//!
//! `--accounts` goes up to 10,000,000: the first 100,000 (what a genesis may hold) are in the
//! genesis, the rest are created by funding blocks before the measured ones (not timed), so the
//! measured blocks run against a state of exactly N accounts. Every measured transfer picks its
//! sender and recipient uniformly among all N, the worst case for caches.

use bftledger_crypto::{Digest, PublicKey, SecretKey, Signature};
use bftledger_ledger::genesis::MAX_GENESIS_ACCOUNTS;
use bftledger_ledger::{
    BatchInput, Genesis, InitialBalance, Signatures, SignedTransfer, State, Store, Transfer,
    Validator,
};
use std::time::Instant;

/// The node's allocator (`node/src/main.rs`), so that execution is measured as the node runs it:
/// at 1M accounts glibc's malloc made the in-memory path about 15 % slower.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Most accounts a run may create (`--accounts`): ten million, about 4 GiB of keys and
/// transfers on top of the state itself.
const MAX_ACCOUNTS: usize = 10_000_000;
/// What each account past the genesis receives, in minor units (a genesis account funds at most
/// `MAX_ACCOUNTS / MAX_GENESIS_ACCOUNTS` = 100 of them from its 10^9).
const FUNDING_AMOUNT: u64 = 1_000_000;

struct Args {
    accounts: usize,
    blocks: usize,
    block_transfers: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        accounts: 10_000,
        blocks: 200,
        block_transfers: 1_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let value: usize = value
            .parse()
            .map_err(|_| format!("{flag}: not a number: {value}"))?;
        match flag.as_str() {
            "--accounts" => args.accounts = value.clamp(2, MAX_ACCOUNTS),
            "--blocks" => args.blocks = value.max(1),
            "--block-transfers" => args.block_transfers = value.clamp(1, 8_192),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(args)
}

fn genesis(keys: &[PublicKey]) -> Genesis {
    let genesis = Genesis {
        chain_id: "bench".into(),
        validators: (0..4u8)
            .map(|i| Validator {
                public_key: SecretKey::from_bytes(&[200 + i; 32]).public(),
                addresses: vec![],
            })
            .collect(),
        balances: keys
            .iter()
            .map(|k| InitialBalance {
                account: *k,
                amount: 1_000_000_000,
            })
            .collect(),
    };
    genesis.validate().expect("bench genesis is valid");
    genesis
}

/// Deterministic random transfers (xorshift), each the sender's next nonce after `nonces`.
fn blocks(keys: &[PublicKey], args: &Args, mut nonces: Vec<u64>) -> Vec<Vec<SignedTransfer>> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..args.blocks)
        .map(|_| {
            (0..args.block_transfers)
                .map(|_| {
                    let from = (next() % keys.len() as u64) as usize;
                    let to = (from + 1 + (next() % (keys.len() as u64 - 1)) as usize) % keys.len();
                    nonces[from] += 1;
                    unsigned(keys[from], keys[to], 1 + next() % 100, nonces[from])
                })
                .collect()
        })
        .collect()
}

fn unsigned(from: PublicKey, to: PublicKey, amount: u64, nonce: u64) -> SignedTransfer {
    SignedTransfer {
        transfer: Transfer {
            chain_id: "bench".into(),
            from,
            to,
            amount,
            nonce,
            memo: None,
        },
        signature: Signature([0; 64]),
    }
}

/// The accounts past what a genesis may hold ([`MAX_GENESIS_ACCOUNTS`]) are created by transfers
/// from the genesis accounts, in blocks of `block_transfers`; returns those blocks and every
/// account's last used nonce after them.
fn funding(
    keys: &[PublicKey],
    in_genesis: usize,
    block_transfers: usize,
) -> (Vec<Vec<SignedTransfer>>, Vec<u64>) {
    let mut nonces = vec![0u64; keys.len()];
    let transfers: Vec<SignedTransfer> = (in_genesis..keys.len())
        .map(|i| {
            let from = i % in_genesis;
            nonces[from] += 1;
            unsigned(keys[from], keys[i], FUNDING_AMOUNT, nonces[from])
        })
        .collect();
    let blocks = transfers
        .chunks(block_transfers)
        .map(<[_]>::to_vec)
        .collect();
    (blocks, nonces)
}

/// Signs up to 10 blocks for real and applies them with `Signatures::Verify`, for reference:
/// (blocks, transfers/s).
fn with_signatures(
    funded: &State,
    keys: &[PublicKey],
    blocks: &[Vec<SignedTransfer>],
) -> (usize, u64) {
    let senders: std::collections::HashSet<[u8; 32]> = blocks
        .iter()
        .flatten()
        .map(|t| *t.transfer.from.as_bytes())
        .collect();
    let by_key: std::collections::HashMap<[u8; 32], SecretKey> = keys
        .iter()
        .enumerate()
        .filter(|(_, k)| senders.contains(k.as_bytes()))
        .map(|(i, k)| (*k.as_bytes(), secret(i)))
        .collect();
    let signed: Vec<Vec<SignedTransfer>> = blocks
        .iter()
        .map(|b| {
            b.iter()
                .map(|t| t.transfer.clone().sign(&by_key[t.transfer.from.as_bytes()]))
                .collect()
        })
        .collect();
    let mut state = funded.clone();
    let started = Instant::now();
    for block in &signed {
        let receipts = state.apply(state.height() + 1, block, Signatures::Verify);
        assert!(receipts.iter().all(|r| r.is_applied()));
    }
    let count = signed.iter().map(Vec::len).sum();
    (
        signed.len(),
        per_second(count, started.elapsed().as_secs_f64()),
    )
}

/// The bench's deterministic key of account `i`.
fn secret(i: usize) -> SecretKey {
    let mut seed = [7u8; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    SecretKey::from_bytes(&seed)
}

/// The public keys of accounts `0..n`, derived on every core (a million take seconds).
fn public_keys(n: usize) -> Vec<PublicKey> {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let chunk = n.div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = (0..n)
            .step_by(chunk.max(1))
            .map(|start| {
                s.spawn(move || {
                    (start..(start + chunk).min(n))
                        .map(|i| secret(i).public())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("key derivation thread"))
            .collect()
    })
}

/// This process's resident memory now and at its peak, in MiB (`/proc/self/status`; zeros
/// where it is not readable).
fn memory() -> serde_json::Value {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    };
    serde_json::json!({ "rss_mib": field("VmRSS:"), "peak_rss_mib": field("VmHWM:") })
}

/// Mean time to write `bytes` to a file and fsync it, in ms: the floor of a synced block write.
fn fsync_probe_ms(dir: &std::path::Path, bytes: usize) -> f64 {
    use std::io::Write;
    let path = dir.join("fsync-probe");
    let data = vec![0x5au8; bytes];
    let rounds = 20;
    let started = Instant::now();
    for _ in 0..rounds {
        let mut file = std::fs::File::create(&path).expect("probe file");
        file.write_all(&data).expect("probe write");
        file.sync_all().expect("probe fsync");
    }
    started.elapsed().as_secs_f64() * 1e3 / f64::from(rounds)
}

fn per_second(count: usize, seconds: f64) -> u64 {
    (count as f64 / seconds) as u64
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("ledger-bench: {e}");
        std::process::exit(2)
    });
    let keys = public_keys(args.accounts);
    let in_genesis = args.accounts.min(MAX_GENESIS_ACCOUNTS);
    let genesis = genesis(&keys[..in_genesis]);
    let (funding, nonces) = funding(&keys, in_genesis, args.block_transfers);
    let blocks = blocks(&keys, &args, nonces);
    let total = args.blocks * args.block_transfers;

    let started = Instant::now();
    let mut state = State::from_genesis(&genesis);
    for block in &funding {
        let receipts = state.apply(state.height() + 1, block, Signatures::AlreadyVerified);
        assert!(receipts.iter().all(|r| r.is_applied()), "funding applies");
    }
    let state_build_s = started.elapsed().as_secs_f64();
    assert_eq!(state.account_count(), args.accounts);
    let rss_state = memory();

    let verified = with_signatures(&state, &keys, &blocks[..blocks.len().min(10)]);
    drop(keys);

    let started = Instant::now();
    for block in &blocks {
        let receipts = state.apply(state.height() + 1, block, Signatures::AlreadyVerified);
        assert!(receipts.iter().all(|r| r.is_applied()));
    }
    let in_memory_s = started.elapsed().as_secs_f64();

    let dir = std::env::temp_dir().join(format!("bftledger-ledger-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut store = Store::create(&dir, &genesis).expect("create the bench store");
    for (i, block) in funding.into_iter().enumerate() {
        let input = BatchInput {
            batch_digest: Digest::of(format!("funding {i}").as_bytes()),
            transfers: block,
            certificate: vec![0; 300],
        };
        store
            .commit_batch(input, Signatures::AlreadyVerified)
            .expect("commit a funding block");
    }
    let started = Instant::now();
    let mut slowest_ms = 0f64;
    for (i, block) in blocks.into_iter().enumerate() {
        let t = Instant::now();
        let input = BatchInput {
            batch_digest: Digest::of(&(i as u64).to_be_bytes()),
            transfers: block,
            certificate: vec![0; 300],
        };
        store
            .commit_batch(input, Signatures::AlreadyVerified)
            .expect("commit");
        slowest_ms = slowest_ms.max(t.elapsed().as_secs_f64() * 1e3);
    }
    let rocksdb_s = started.elapsed().as_secs_f64();
    assert_eq!(store.state_root(), state.state_root());
    drop(store);
    // What a restart costs: reading every account and building the tree from them.
    let started = Instant::now();
    let reopened = Store::open(&dir, &genesis).expect("reopen the bench store");
    let reopen_s = started.elapsed().as_secs_f64();
    assert_eq!(reopened.state_root(), state.state_root());
    drop(reopened);
    let fsync_ms = fsync_probe_ms(&dir, 200 * args.block_transfers);
    let _ = std::fs::remove_dir_all(&dir);

    let report = serde_json::json!({
        "benchmark": "ledger execution (signature checks excluded)",
        "accounts": args.accounts,
        "blocks": args.blocks,
        "block_transfers": args.block_transfers,
        "accounts_created_by_funding_blocks": args.accounts - in_genesis,
        "state_build_seconds": state_build_s,
        "memory_after_building_the_state": rss_state,
        "memory_at_end": memory(),
        "in_memory": {
            "seconds": in_memory_s,
            "transfers_per_s": per_second(total, in_memory_s),
        },
        "in_memory_with_batch_signature_verification": {
            "blocks": verified.0,
            "transfers_per_s": verified.1,
        },
        "rocksdb": {
            "seconds": rocksdb_s,
            "transfers_per_s": per_second(total, rocksdb_s),
            "blocks_per_s": per_second(args.blocks, rocksdb_s),
            "mean_block_ms": rocksdb_s * 1e3 / args.blocks as f64,
            "max_block_ms": slowest_ms,
            "synced_write_per_block": true,
            "reopen_seconds": reopen_s,
        },
        "disk": {
            "mean_ms_to_write_and_fsync_a_block_sized_file": fsync_ms,
        },
    });
    println!("{report:#}");
}
