//! Fixtures of the node's unit tests: the host's ([`bftledger_host::fixtures`]: keys, genesis,
//! transfers, certificates) and a [`NodeState`] around a fresh store.

use crate::config::ApiSection;
use crate::disk::DiskWatch;
use crate::load::Load;
use crate::mempool::{Mempool, MempoolLimits};
use crate::metrics::Metrics;
use crate::node_state::{Live, NodeState};
pub use bftledger_host::fixtures::*;
use bftledger_ledger::{Genesis, Store};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// The state of validator `key(1)` (replica 0) around `store`, with a mempool of
/// `max_transfers` that holds nonce gaps for `nonce_gap_hold`.
pub fn shared(
    genesis: Genesis,
    store: Store,
    max_transfers: usize,
    nonce_gap_hold: Duration,
    api: ApiSection,
) -> NodeState {
    NodeState {
        genesis_hash: genesis.hash(),
        validator: key(1).public(),
        replica_id: 0,
        mempool: Mutex::new(Mempool::new(
            genesis.chain_id.clone(),
            MempoolLimits {
                max_transfers,
                max_seen_ids: max_transfers,
                nonce_gap_hold,
            },
        )),
        genesis,
        store: Arc::new(RwLock::new(store)),
        transfers_arrived: tokio::sync::Notify::new(),
        metrics: Metrics::new(),
        live: RwLock::new(Live::default()),
        api,
        syncing: Default::default(),
        load: Load::new(max_transfers),
        disk: DiskWatch::new(&std::env::temp_dir()),
    }
}
