//! The state of a running node that its tasks share: the driver (the only writer of the ledger), the
//! HTTP API and the sync worker (readers), behind an `Arc`.

use crate::config::ApiSection;
use crate::disk::DiskWatch;
use crate::load::Load;
use crate::mempool::Mempool;
use crate::metrics::Metrics;
use bftledger_consensus::Quorum;
use bftledger_crypto::{Digest, PublicKey};
use bftledger_ledger::{Genesis, Store};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::Notify;

/// What the driver publishes after each step, for `/v1/status` and `/health/ready`.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Current view.
    pub view: u64,
    /// Primary of the current view.
    pub primary: u32,
    /// Whether a view change is under way.
    pub view_changing: bool,
    /// Last stable checkpoint.
    pub stable_checkpoint: u64,
    /// Connected validators.
    pub peers: Vec<PublicKey>,
    /// Whether a state transfer is under way.
    pub catching_up: bool,
}

/// What the node's tasks share; one per running node, behind an `Arc`.
pub struct NodeState {
    /// The genesis.
    pub genesis: Genesis,
    /// Its hash.
    pub genesis_hash: Digest,
    /// This validator's key.
    pub validator: PublicKey,
    /// This validator's replica id.
    pub replica_id: u32,
    /// The ledger. The driver's host writes (one block at a time); the API reads.
    pub store: Arc<RwLock<Store>>,
    /// Client transfers waiting for the core.
    pub mempool: Mutex<Mempool>,
    /// Wakes the driver when transfers arrive.
    pub transfers_arrived: Notify,
    /// Metrics.
    pub metrics: Metrics,
    /// Published by the driver.
    pub live: RwLock<Live>,
    /// API limits.
    pub api: ApiSection,
    /// Set by the sync worker while it catches up.
    pub syncing: AtomicBool,
    /// The commit rate and backlog that admission refuses overload by.
    pub load: Load,
    /// The data disk's free space (admission and readiness stop below its threshold).
    pub disk: DiskWatch,
}

impl NodeState {
    /// Height of the last block in the ledger store.
    pub fn stored_height(&self) -> u64 {
        self.store
            .read()
            .expect("store lock poisoned")
            .latest_height()
    }

    /// The validators' count needed for a strong quorum ([`Quorum::strong`]).
    pub fn quorum(&self) -> usize {
        Quorum::new(self.genesis.validators.len()).strong()
    }

    /// Ready: connected to enough validators to form a quorum with itself, not catching up, and
    /// room on the data disk.
    pub fn is_ready(&self) -> bool {
        let live = self.live.read().expect("live lock poisoned");
        live.peers.len() + 1 >= self.quorum()
            && !live.catching_up
            && !self.syncing.load(Ordering::Relaxed)
            && self.disk.low().is_none()
    }
}
