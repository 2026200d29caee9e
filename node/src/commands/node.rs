//! `bftledger node --config F`: runs a validator until SIGINT/SIGTERM.
//!
//! Start-up: load the config and the genesis it names, and validate the config against the
//! genesis's validator set, once (every problem listed, see [`NodeConfig::load`]); load the key
//! (which must be a genesis validator); open the store; rebuild the replica from its durable
//! consensus state (so a restarted validator never contradicts a vote it sent); start p2p, the
//! API and the driver.

use crate::api;
use crate::cli::NodeArgs;
use crate::config::NodeConfig;
use crate::disk::DiskWatch;
use crate::driver::{Driver, SyncChannels};
use crate::error::{CliError, CliResult};
use crate::load::{self, Load};
use crate::mempool::{Mempool, MempoolLimits, Origin};
use crate::metrics::Metrics;
use crate::node_state::{Live, NodeState};
use crate::p2p;
use crate::sync_worker::{SyncWorker, WorkerLimits};
use bftledger_consensus::Replica;
use bftledger_crypto::{keyfile, Address, SecretKey};
use bftledger_host::{Host, LedgerApp, MAX_GROUP_INPUTS};
use bftledger_ledger::{Genesis, Store, StoreError};
use std::future::IntoFuture;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::Notify;
use tracing::{error, info};

/// Capacity of the channels between the driver and the sync worker (goals, fetched batches).
const SYNC_QUEUE: usize = 4;

/// Runs `node`.
pub fn run(args: &NodeArgs) -> CliResult {
    let (config, genesis) = NodeConfig::load(&args.config).map_err(CliError::usage)?;
    crate::logging::init(&config.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::failure)?;
    runtime.block_on(serve(config, genesis))
}

/// Everything loaded before the node starts.
struct Loaded {
    genesis: Genesis,
    key: SecretKey,
    replica_id: u32,
    store: Store,
}

fn load(config: &NodeConfig, genesis: Genesis) -> CliResult<Loaded> {
    let key = keyfile::read(&config.key_path).map_err(CliError::usage)?;
    let replica_id = genesis
        .validators
        .iter()
        .position(|v| v.public_key == key.public())
        .ok_or_else(|| {
            CliError::usage(format!(
                "key {} ({}) is not a validator of genesis {}",
                config.key_path.display(),
                Address::from(key.public()),
                config.genesis_path.display()
            ))
        })? as u32;
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| CliError::failure(format!("{}: {e}", config.data_dir.display())))?;
    let ledger_dir = config.data_dir.join("ledger");
    let store = Store::open_or_create(&ledger_dir, &genesis)
        .map_err(|e| cannot_open_store(&ledger_dir, &e))?;
    Ok(Loaded {
        genesis,
        key,
        replica_id,
        store,
    })
}

/// Why the node cannot start on the ledger database at `dir`, with what the operator can do.
/// The node never starts on a database it cannot trust: it would sign votes or serve blocks
/// that contradict what it did before.
fn cannot_open_store(dir: &Path, error: &StoreError) -> CliError {
    let advice = match error {
        StoreError::Corrupt { .. }
        | StoreError::Db(_)
        | StoreError::Io { .. }
        | StoreError::FormatVersion { .. } => damaged_database_advice(dir),
        StoreError::Locked { .. } => {
            "Another process has this data directory open: stop it (or give this node its own \
             `data_dir`) and start again."
                .to_string()
        }
        StoreError::GenesisMismatch { .. } => {
            "This data directory belongs to another chain: give the node the genesis it was \
             created with, or another `data_dir`."
                .to_string()
        }
        _ => String::new(),
    };
    CliError::failure(
        format!(
            "cannot open the ledger database {}: {error}\n{advice}",
            dir.display()
        )
        .trim_end(),
    )
}

/// What to do about a damaged ledger database (corrupt or truncated files, unreadable records).
fn damaged_database_advice(dir: &Path) -> String {
    format!(
        "The node refuses to start on a damaged database. Check the disk (`dmesg`, free space), \
         then move {dir} aside (keep it for diagnosis) and start the node again: it starts from \
         genesis and catches up from its peers. It then has no record of the votes it sent \
         before, so recover this way at most f validators at a time.",
        dir = dir.display()
    )
}

async fn serve(config: NodeConfig, genesis: Genesis) -> CliResult {
    let Loaded {
        genesis,
        key,
        replica_id,
        store,
    } = load(&config, genesis)?;
    // Validated by `NodeConfig::load`; `Replica::recover` asserts the same `validate()`.
    let consensus = config.consensus_config(genesis.validator_keys());
    let ledger_dir = config.data_dir.join("ledger");
    let durable = store
        .consensus_entries()
        .map_err(|e| cannot_open_store(&ledger_dir, &e))?;
    let mempool = Mempool::new(
        genesis.chain_id.clone(),
        MempoolLimits {
            max_transfers: config.mempool.max_transfers,
            max_seen_ids: config.mempool.max_seen_ids,
            nonce_gap_hold: Duration::from_millis(config.mempool.nonce_gap_hold_ms),
        },
    );
    let app = LedgerApp::with_verified(genesis.chain_id.clone(), mempool.verified());
    let replica =
        Replica::recover(consensus, replica_id, key.clone(), app, durable).map_err(|e| {
            CliError::failure(format!(
                "cannot recover consensus state from {}: {e}\n{}",
                ledger_dir.display(),
                damaged_database_advice(&ledger_dir)
            ))
        })?;
    let view = replica.view();
    let store = Arc::new(RwLock::new(store));
    let host = Host::new(
        replica,
        store.clone(),
        genesis.clone(),
        mempool.verified(),
        MAX_GROUP_INPUTS,
    );
    let (p2p, events) = p2p::spawn(&key, config.p2p_config(&genesis)).map_err(CliError::failure)?;
    let load_ceiling = load::ceiling(mempool.limit_for(Origin::Client), genesis.validators.len());
    let shared = Arc::new(NodeState {
        genesis_hash: genesis.hash(),
        validator: key.public(),
        replica_id,
        mempool: Mutex::new(mempool),
        genesis,
        store: store.clone(),
        transfers_arrived: Notify::new(),
        metrics: Metrics::new(),
        live: RwLock::new(Live::default()),
        api: config.api.clone(),
        syncing: AtomicBool::new(false),
        load: Load::new(load_ceiling),
        disk: DiskWatch::new(&config.data_dir),
    });
    let listener = tokio::net::TcpListener::bind(config.api.listen)
        .await
        .map_err(|e| CliError::failure(format!("cannot listen on {}: {e}", config.api.listen)))?;
    info!(
        validator = %Address::from(key.public()),
        replica_id,
        api = %config.api.listen,
        height = shared.store.read().expect("lock").latest_height(),
        view,
        "node started"
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let api_shutdown = {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let api_task = tokio::spawn(
        axum::serve(listener, api::router(shared.clone()))
            .with_graceful_shutdown(api_shutdown)
            .into_future(),
    );
    let (targets_tx, targets_rx) = tokio::sync::mpsc::channel(SYNC_QUEUE);
    let (fetched_tx, fetched_rx) = tokio::sync::mpsc::channel(SYNC_QUEUE);
    let worker = SyncWorker::new(
        shared.clone(),
        p2p.clone(),
        WorkerLimits {
            max_blocks_per_request: config.sync.max_blocks_per_request,
            max_response_bytes: config.p2p.max_sync_response_bytes,
            poll_interval: Duration::from_millis(config.sync.poll_interval_ms),
        },
        targets_rx,
        fetched_tx,
    );
    let worker_task = tokio::spawn(worker.run());
    let channels = SyncChannels {
        targets: targets_tx,
        fetched: fetched_rx,
    };
    let driver = Driver::new(shared, host, p2p.clone(), events, channels, config);
    let result = driver.run(shutdown_signal()).await;
    let _ = stop_tx.send(true);
    worker_task.abort();
    p2p.shutdown().await;
    let _ = api_task.await;
    match result {
        Ok(()) => {
            info!("node stopped");
            Ok(())
        }
        Err(e) => {
            error!(error = %e, "node failed");
            Err(CliError::failure(e))
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
