//! The driver: one tokio task that owns the replica's [`Host`] (core, ledger and the order of
//! persist → send → execute, see `bftledger_host::host`), feeds it inputs and carries its
//! effects to the network, the mempool, the sync worker, the metrics and the log.
//!
//! Inputs: consensus frames from peers ([`Frame::Consensus`]), client transfers (from the
//! mempool, filled by the API and by peers' [`Frame::Forward`]), ticks (every
//! `driver.tick_interval_ms`), and blocks or snapshots the sync worker fetched and verified.
//! Every input ready at once (up to [`MAX_GROUP_INPUTS`]) is stepped as one group, whose persist
//! ops the host writes in one synced batch (group commit).

use crate::admission;
use crate::config::NodeConfig;
use crate::mempool::{Origin, Pending};
use crate::metrics::ReasonLabel;
use crate::node_state::NodeState;
use crate::p2p::{P2pEvent, P2pHandle};
use crate::phases::{PhaseClock, SlotTimes};
use crate::sync_worker::Fetched;
use crate::wire::Frame;
use bftledger_consensus::{Event, Input, Progress, ReplicaId, Request, SignedMessage, Target};
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::PublicKey;
use bftledger_host::{
    FetchTarget, Host, HostError, HostIo, PartOutcome, SharedVerified, MAX_GROUP_INPUTS,
};
use bftledger_ledger::{Block, Receipt, SignedTransfer, StoreError};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{debug, info, info_span, warn};

/// How often (in ticks) the p2p counters are copied into the metrics.
const P2P_STATS_EVERY_TICKS: u64 = 50;

/// Why the driver stopped.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The store failed to write: the node cannot go on safely.
    #[error("ledger store failed: {0}")]
    Store(#[from] StoreError),
    /// The p2p layer stopped.
    #[error("the p2p network task stopped")]
    NetworkStopped,
    /// The sync worker stopped.
    #[error("the sync worker stopped")]
    SyncStopped,
}

impl From<HostError> for DriverError {
    fn from(error: HostError) -> Self {
        match error {
            HostError::Store(e) => DriverError::Store(e),
            HostError::Crashed(point) => {
                unreachable!("the node never asks its host to crash (at {point:?})")
            }
        }
    }
}

/// The driver of one node.
pub struct Driver {
    host: Host,
    io: NodeIo,
    events: mpsc::Receiver<P2pEvent>,
    config: NodeConfig,
    /// Verified blocks and snapshots from the sync worker.
    fetched: mpsc::Receiver<Fetched>,
    /// Transfers already decoded and checked on this node (for the metrics).
    verified: SharedVerified,
}

/// The driver's ends of the channels to the sync worker ([`crate::sync_worker`]).
pub struct SyncChannels {
    /// Goals to the worker.
    pub targets: mpsc::Sender<FetchTarget>,
    /// Material from the worker.
    pub fetched: mpsc::Receiver<Fetched>,
}

/// The host's surroundings in a node: p2p, mempool, sync worker, metrics and log.
struct NodeIo {
    shared: Arc<NodeState>,
    p2p: P2pHandle,
    validators: Vec<PublicKey>,
    /// Goals for the sync worker.
    sync_targets: mpsc::Sender<FetchTarget>,
    /// When the slots not yet stored reached their phases.
    phases: PhaseClock,
}

impl Driver {
    /// A driver for `host`, talking through `p2p`.
    pub fn new(
        shared: Arc<NodeState>,
        host: Host,
        p2p: P2pHandle,
        events: mpsc::Receiver<P2pEvent>,
        sync: SyncChannels,
        config: NodeConfig,
    ) -> Driver {
        let validators = shared.genesis.validator_keys();
        let verified = shared
            .mempool
            .lock()
            .expect("mempool lock poisoned")
            .verified();
        Driver {
            verified,
            host,
            io: NodeIo {
                shared,
                p2p,
                validators,
                sync_targets: sync.targets,
                phases: PhaseClock::default(),
            },
            events,
            config,
            fetched: sync.fetched,
        }
    }

    fn shared(&self) -> &Arc<NodeState> {
        &self.io.shared
    }

    /// Runs until `shutdown` completes or a fatal error.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), DriverError> {
        tokio::pin!(shutdown);
        let mut tick =
            tokio::time::interval(Duration::from_millis(self.config.driver.tick_interval_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.publish();
        let shared = self.shared().clone();
        let mut ticks: u64 = 0;
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                event = self.events.recv() => {
                    let event = event.ok_or(DriverError::NetworkStopped)?;
                    self.on_p2p_event(event);
                    // Group commit: take every event already waiting, then step them together.
                    while self.host.queued() < MAX_GROUP_INPUTS {
                        match self.events.try_recv() {
                            Ok(event) => self.on_p2p_event(event),
                            Err(_) => break,
                        }
                    }
                    self.step()?;
                }
                () = shared.transfers_arrived.notified() => {
                    self.drain_mempool();
                    self.step()?;
                }
                _ = tick.tick() => {
                    ticks += 1;
                    if ticks.is_multiple_of(P2P_STATS_EVERY_TICKS) {
                        let m = &shared.metrics;
                        m.set_p2p(&self.io.p2p.stats());
                        let verified = self.verified().lock().expect("verified cache lock poisoned");
                        m.set_verified(&verified);
                        // Once a second, not per step: the budget sums the rate window.
                        m.admission_budget.set(shared.load.budget() as i64);
                        m.refresh_process();
                        let free = shared.disk.refresh();
                        m.data_disk_free_bytes.set(i64::try_from(free).unwrap_or(i64::MAX));
                    }
                    self.host.push(Input::Tick);
                    self.drain_mempool();
                    self.step()?;
                }
                fetched = self.fetched.recv() => match fetched {
                    Some(fetched) => self.on_fetched(fetched)?,
                    None => return Err(DriverError::SyncStopped),
                },
            }
        }
        info!("driver stopped");
        Ok(())
    }

    fn verified(&self) -> &SharedVerified {
        &self.verified
    }

    /// Steps the host with everything queued (store writes block this thread: tell tokio).
    fn step(&mut self) -> Result<(), DriverError> {
        let (host, io) = (&mut self.host, &mut self.io);
        tokio::task::block_in_place(|| host.run(io))?;
        self.publish();
        Ok(())
    }

    /// Applies verified material from the sync worker (the host completes a pending transfer).
    fn on_fetched(&mut self, fetched: Fetched) -> Result<(), DriverError> {
        let (host, io) = (&mut self.host, &mut self.io);
        match fetched {
            Fetched::Blocks {
                blocks,
                peer,
                applied,
            } => {
                let (n, refused) = tokio::task::block_in_place(|| host.apply_blocks(blocks, io))?;
                if let Some(e) = refused {
                    warn!(%peer, error = %e, "fetched block refused");
                }
                info!(%peer, blocks = n, height = host.height(), "blocks applied from peer");
                let _ = applied.send(n);
            }
            Fetched::SnapshotPart {
                part,
                target,
                peer,
                outcome,
            } => {
                let verdict =
                    tokio::task::block_in_place(|| host.add_snapshot_part(&part, target, io))?;
                match &verdict {
                    Ok(PartOutcome::Installed) => {
                        info!(%peer, height = target.seq, "snapshot installed");
                    }
                    Ok(PartOutcome::Wanted(regions)) => {
                        debug!(%peer, height = target.seq, wanted = regions.len(), "snapshot part kept");
                    }
                    Err(refusal) => {
                        io.shared.metrics.reject_message("snapshot_refused");
                        warn!(%peer, %refusal, "snapshot part refused");
                    }
                }
                let _ = outcome.send(verdict);
            }
        }
        self.publish();
        Ok(())
    }

    /// Whether a state transfer or a catch-up is under way.
    fn catching_up(&self) -> bool {
        self.host.pending_fetch().is_some() || self.shared().syncing.load(Ordering::Relaxed)
    }

    /// Publishes status for the API and metrics.
    fn publish(&self) {
        let replica = self.host.replica();
        let shared = self.shared();
        {
            let mut live = shared.live.write().expect("live lock poisoned");
            live.view = replica.view();
            live.primary = replica.primary();
            live.view_changing = replica.is_view_changing();
            live.stable_checkpoint = replica.stable_checkpoint().seq;
            live.catching_up = self.catching_up();
        }
        let m = &shared.metrics;
        m.view.set(replica.view() as i64);
        let tick_ms = self.config.driver.tick_interval_ms;
        let base_ms = replica.view_change_base_ticks().saturating_mul(tick_ms);
        m.view_change_timeout_ms
            .set(i64::try_from(base_ms).unwrap_or(i64::MAX));
        let wait_ms = replica.measured_waits().1.saturating_mul(tick_ms);
        m.view_change_wait_max_ms
            .set(i64::try_from(wait_ms).unwrap_or(i64::MAX));
        m.committed_height.set(self.host.height() as i64);
        m.catching_up.set(i64::from(self.catching_up()));
        let (size, drops) = {
            let mut mempool = shared.mempool.lock().expect("mempool lock poisoned");
            (mempool.len(), mempool.take_drop_counts())
        };
        m.mempool_size.set(size as i64);
        for (reason, count) in drops.into_iter().filter(|(_, n)| *n > 0) {
            m.transfers_dropped
                .get_or_create(&ReasonLabel {
                    reason: reason.code().into(),
                })
                .inc_by(count);
        }
        shared.load.set_core_pending(replica.pending_requests());
    }

    /// Handles one network event; a consensus message is queued for the next group.
    fn on_p2p_event(&mut self, event: P2pEvent) {
        match event {
            P2pEvent::Consensus { from, bytes } => self.on_frame(from, &bytes),
            P2pEvent::SyncRequest { bytes, reply, .. } => {
                let shared = self.shared().clone();
                let max_blocks = self.config.sync.max_blocks_per_request;
                let max_bytes = self.config.p2p.max_sync_response_bytes;
                tokio::task::spawn_blocking(move || {
                    let store = shared.store.read().expect("store lock poisoned");
                    let answer =
                        bftledger_host::sync::answer(&store, &bytes, max_blocks, max_bytes);
                    let _ = reply.send(answer);
                });
            }
            P2pEvent::PeerConnected(peer) | P2pEvent::PeerDisconnected(peer) => {
                let peers = self.io.p2p.connected_validators();
                debug!(%peer, connected = peers.len(), "peer connection changed");
                let shared = self.shared();
                shared.metrics.peers.set(peers.len() as i64);
                shared.live.write().expect("live lock poisoned").peers = peers;
            }
        }
    }

    fn on_frame(&mut self, from: PublicKey, bytes: &[u8]) {
        let shared = &self.io.shared;
        let (max_frame, max_message) = (
            self.config.p2p.max_frame_bytes,
            self.config.consensus.max_message_bytes,
        );
        match Frame::decode(bytes, max_frame, max_message) {
            Ok(Frame::Consensus(message)) => self.host.push(Input::Message(message)),
            Ok(Frame::Forward(transfers)) => {
                if transfers.len() > self.config.mempool.max_drain_transfers {
                    shared.metrics.reject_message("forward_too_large");
                    warn!(%from, count = transfers.len(), "oversized forward refused");
                    return;
                }
                // The same gate as the API's (refusals counted as `forwarded_<code>`).
                admission::admit(shared, transfers, Origin::Peer);
            }
            Err(e) => {
                shared.metrics.reject_message("undecodable");
                warn!(%from, error = %e, len = bytes.len(), "undecodable frame refused");
            }
        }
    }

    /// Queues waiting transfers for the core (as much as its pending pool has room for), and
    /// forwards the ones clients gave this node to the other validators.
    fn drain_mempool(&mut self) {
        let room = self
            .config
            .consensus
            .max_pending_requests
            .saturating_sub(self.host.replica().pending_requests())
            .min(self.config.mempool.max_drain_transfers);
        if room == 0 {
            return;
        }
        let shared = self.shared().clone();
        // Lock order store → mempool, as in the API.
        let drained: Vec<Pending> = {
            let store = shared.store.read().expect("store lock poisoned");
            shared
                .mempool
                .lock()
                .expect("mempool lock poisoned")
                .drain(room, |sender| store.account(sender).nonce)
        };
        if drained.is_empty() {
            return;
        }
        let forward: Vec<_> = drained
            .iter()
            .filter(|p| p.origin == Origin::Client)
            .map(|p| p.transfer.clone())
            .collect();
        if !forward.is_empty() {
            self.io.send_frame(Target::All, Frame::Forward(forward));
        }
        let requests = drained
            .into_iter()
            .map(|p| Request { payload: p.payload })
            .collect();
        self.host.push(Input::ClientRequests(requests));
    }
}

impl NodeIo {
    fn send_frame(&self, to: Target, frame: Frame) {
        let bytes = frame.to_bytes();
        let result = match to {
            Target::All => self.p2p.broadcast(bytes),
            Target::One(id) => match self.validators.get(id as usize) {
                Some(key) => self.p2p.send(*key, bytes),
                None => panic!(
                    "the core addressed replica {id}, n = {}",
                    self.validators.len()
                ),
            },
        };
        if let Err(e) = result {
            debug!(error = %e, "frame not sent");
        }
    }

    /// Metrics and mempool bookkeeping for a block's transfers; `times` are its slot's phase
    /// instants when it was executed here.
    fn account_block(&self, block: &Block, times: Option<SlotTimes>) {
        let m = &self.shared.metrics;
        let stored = Instant::now();
        if let Some(times) = times {
            for (phase, seconds) in times.durations(stored) {
                m.phase(phase, seconds);
            }
        }
        let pre_prepared = times.and_then(|t| t.pre_prepared);
        let mut mempool = self.shared.mempool.lock().expect("mempool lock poisoned");
        for (t, receipt) in block.transfers.iter().zip(&block.receipts) {
            let id = t.id();
            debug!(transfer = %id, height = block.height, %receipt, "transfer executed");
            if let Some(arrived) = mempool.executed(&id) {
                m.commit_latency_seconds
                    .observe(stored.saturating_duration_since(arrived).as_secs_f64());
                // A forward may reach a backup after the batch holding it: no order phase.
                if let Some(at) = pre_prepared.filter(|at| *at >= arrived) {
                    m.phase("order", (at - arrived).as_secs_f64());
                }
            }
            match receipt {
                Receipt::Applied => {
                    m.transfers_committed.inc();
                }
                Receipt::Rejected(reason) => {
                    m.reject_transfer(&format!("executed_{}", crate::api::reject_code(reason)))
                }
            }
        }
    }
}

impl HostIo for NodeIo {
    fn send(&mut self, to: Target, message: SignedMessage) {
        self.send_frame(to, Frame::Consensus(message));
    }

    fn relay(&mut self, to: ReplicaId, transfers: Vec<SignedTransfer>) {
        self.shared
            .metrics
            .relayed_transfers
            .inc_by(transfers.len() as u64);
        self.send_frame(Target::One(to), Frame::Forward(transfers));
    }

    fn fetch_state(&mut self, target: FetchTarget) {
        info!(seq = target.seq, "state transfer requested");
        // A full queue means the worker already has goals; it keeps the highest.
        let _ = self.sync_targets.try_send(target);
    }

    fn block_stored(&mut self, block: &Block, executed: bool) {
        let times = self.phases.stored(block.height);
        self.account_block(block, times.filter(|_| executed));
        if executed {
            self.shared.load.executed(block.transfers.len());
            info!(
                height = block.height,
                transfers = block.transfers.len(),
                state_root = %block.state_root,
                block_hash = %block.hash(),
                "block committed"
            );
        }
    }

    fn state_transferred(&mut self, target: FetchTarget) {
        // The core drops its pending requests on a state transfer: hand them over again, except
        // those the transfer executed. Lock order store → mempool, as in the API.
        let shared = &self.shared;
        let store = shared.store.read().expect("store lock poisoned");
        shared
            .mempool
            .lock()
            .expect("mempool lock poisoned")
            .requeue_handed_over(|id| matches!(store.transfer(id), Ok(Some(_))));
        info!(seq = target.seq, "state transfer complete");
    }

    fn event(&mut self, event: &Event) {
        let m = &self.shared.metrics;
        match event {
            Event::Rejected { from, reason } => {
                m.reject_message(reason.kind());
                debug!(?from, %reason, "input rejected by the core");
            }
            Event::ViewChangeStarted { view, cause } => {
                m.view_change(cause.kind());
                warn!(view, ?cause, "view change started");
            }
            Event::ViewEntered { view, primary } => info!(view, primary, "entered view"),
            Event::StableCheckpoint { seq, state_root } => {
                info!(seq, block_hash = %state_root, "stable checkpoint")
            }
            Event::Proposed {
                view,
                seq,
                requests,
            } => {
                let _s = info_span!("propose", view, seq).entered();
                debug!(requests, "proposed batch");
            }
            other => debug!(?other, "consensus event"),
        }
    }

    fn progress(&mut self, progress: &[Progress]) {
        let now = Instant::now();
        for p in progress {
            self.phases.reached(p, now);
            debug!(view = p.view, seq = p.seq, phase = ?p.phase, "slot phase reached");
        }
    }

    fn persisted(&mut self, steps: usize) {
        let m = &self.shared.metrics;
        m.persist_groups.inc();
        m.persist_group_steps.inc_by(steps as u64);
    }
}
