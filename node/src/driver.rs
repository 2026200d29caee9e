//! The driver: one tokio task that owns the [`Replica`], feeds it inputs and honours its
//! outputs, in the order the consensus core prescribes.
//!
//! Inputs: consensus frames from peers ([`Frame::Consensus`]), client transfers (from the
//! mempool, filled by the API and by peers' [`Frame::Forward`]), ticks (every
//! `consensus.tick_interval_ms`), and the driver's own reports (`Executed`, `StateTransferred`).
//!
//! Inputs are stepped in groups (**group commit**): every input ready at once (up to
//! [`MAX_GROUP_INPUTS`]) is stepped, the persist ops of all their outputs go to the ledger store's
//! consensus column family in **one** synced write batch, and only then are the outputs released.
//! A crash before that write loses the whole group's state changes *and* everything they would
//! have sent or executed, which is the same as the group never having arrived: peers retransmit.
//! For each [`Output`] of a group, strictly in this order:
//! 1. **persist**: durable in the group's synced write; only then does [`Output::persisted`]
//!    release the rest (the types enforce it);
//! 2. **send**: frames to the p2p layer (best effort; the core retransmits);
//! 3. **execute**: each committed batch becomes the next block, stored atomically with its
//!    commit certificate; `Input::Executed { seq, state_root }` is queued for the core, where
//!    the digest reported is the **block hash** (the checkpoint digest, defined in
//!    `bftledger_ledger::block`: it commits to the height, the chain before it and the state
//!    root, and is the same on every correct replica because a block holds no view);
//! 4. **fetch_state**: a goal for the sync worker ([`crate::sync::worker`]), which fetches and
//!    verifies blocks off the driver's task; the driver applies them as they come and reports
//!    `Input::StateTransferred` once the ledger holds the checkpoint's state;
//! 5. **events**: metrics and logs.
//!
//! Queued inputs are fed before the next external input, so the core sees its reports in order.
//! A block that is already stored (applied by catch-up, or before a crash) is not executed again:
//! its batch digest must equal the committed one (anything else would be a safety violation,
//! and panics with both digests), and its stored block hash is reported.

use crate::config::NodeConfig;
use crate::mempool::{Origin, Pending};
use crate::p2p::{P2pEvent, P2pHandle};
use crate::shared::Shared;
use crate::sync;
use crate::sync::worker::{FetchTarget, Fetched};
use crate::verified::{SharedVerified, VerifiedTransfers};
use crate::wire::Frame;
use bftledger_consensus::{
    Actions, CommittedBatch, Event, FetchState, Input, Output, PersistOp, Replica, Request,
    RequestRelay, Target,
};
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::{Digest, PublicKey};
use bftledger_ledger::{decode_payload, BatchInput, ConsensusOp, Receipt, Signatures, StoreError};
use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{debug, info, info_span, warn};

use crate::app::LedgerApp;

mod state_transfer;

/// How often (in ticks) the p2p counters are copied into the metrics.
const P2P_STATS_EVERY_TICKS: u64 = 50;

/// Most inputs (consensus messages, reports, ticks) stepped before their persist ops are written
/// in one synced batch. Bounds the latency a group adds to its first input, and the memory of
/// held-back outputs; under load one fsync then covers up to this many steps instead of one.
pub const MAX_GROUP_INPUTS: usize = 256;

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

/// The driver of one node.
pub struct Driver {
    shared: Arc<Shared>,
    replica: Replica<LedgerApp>,
    p2p: P2pHandle,
    events: mpsc::Receiver<P2pEvent>,
    validators: Vec<PublicKey>,
    config: NodeConfig,
    queued: VecDeque<Input>,
    /// A state transfer the core asked for that has not completed yet.
    pending_fetch: Option<FetchState>,
    /// Goals for the sync worker.
    sync_targets: mpsc::Sender<FetchTarget>,
    /// Verified blocks and snapshots from the sync worker.
    fetched: mpsc::Receiver<Fetched>,
    /// Transfers already decoded and checked on this node (mempool, `validate_batch`).
    verified: SharedVerified,
}

/// The driver's ends of the channels to the sync worker ([`crate::sync::worker`]).
pub struct SyncChannels {
    /// Goals to the worker.
    pub targets: mpsc::Sender<FetchTarget>,
    /// Material from the worker.
    pub fetched: mpsc::Receiver<Fetched>,
}

impl Driver {
    /// A driver for `replica`, talking through `p2p`.
    pub fn new(
        shared: Arc<Shared>,
        replica: Replica<LedgerApp>,
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
        let height = shared.stored_height();
        assert!(
            replica.last_executed() <= height,
            "the core executed seq {} but the ledger is at height {height}",
            replica.last_executed()
        );
        Driver {
            shared,
            replica,
            p2p,
            events,
            validators,
            config,
            queued: VecDeque::new(),
            pending_fetch: None,
            sync_targets: sync.targets,
            fetched: sync.fetched,
            verified,
        }
    }

    /// Runs until `shutdown` completes or a fatal error.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), DriverError> {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(Duration::from_millis(
            self.config.consensus.tick_interval_ms,
        ));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.publish();
        let shared = self.shared.clone();
        let mut ticks: u64 = 0;
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                event = self.events.recv() => {
                    let event = event.ok_or(DriverError::NetworkStopped)?;
                    self.on_p2p_event(event);
                    // Group commit: take every event already waiting, then step them together.
                    while self.queued.len() < MAX_GROUP_INPUTS {
                        match self.events.try_recv() {
                            Ok(event) => self.on_p2p_event(event),
                            Err(_) => break,
                        }
                    }
                    self.feed_queued()?;
                }
                () = shared.transfers_arrived.notified() => {
                    self.drain_mempool();
                    self.feed_queued()?;
                }
                _ = tick.tick() => {
                    ticks += 1;
                    if ticks.is_multiple_of(P2P_STATS_EVERY_TICKS) {
                        self.shared.metrics.set_p2p(&self.p2p.stats());
                        let verified = self.verified.lock().expect("verified cache lock poisoned");
                        self.shared.metrics.set_verified(&verified);
                    }
                    self.queued.push_back(Input::Tick);
                    self.drain_mempool();
                    self.feed_queued()?;
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

    /// Steps the core with every queued input, in order, in groups of at most
    /// [`MAX_GROUP_INPUTS`]: one synced write per group, then the group's outputs are honoured
    /// (which may queue reports for the next group).
    fn feed_queued(&mut self) -> Result<(), DriverError> {
        while !self.queued.is_empty() {
            let mut outputs: Vec<Output> = Vec::new();
            let mut ops = Vec::new();
            while outputs.len() < MAX_GROUP_INPUTS {
                let Some(input) = self.queued.pop_front() else {
                    break;
                };
                let mut output = self.replica.step(input);
                ops.append(&mut output.take_persist());
                outputs.push(output);
            }
            if !ops.is_empty() {
                self.shared.metrics.persist_groups.inc();
                self.shared
                    .metrics
                    .persist_group_steps
                    .inc_by(outputs.len() as u64);
                self.persist(ops)?;
            }
            for output in outputs {
                self.honour(output.persisted())?;
            }
        }
        self.publish();
        Ok(())
    }

    /// Send → execute → fetch state → events, for an output whose persist ops are durable.
    fn honour(&mut self, actions: Actions) -> Result<(), DriverError> {
        for outbound in actions.send {
            self.send_frame(outbound.to, Frame::Consensus(outbound.message));
        }
        if let Some(relay) = actions.relay {
            self.relay_to_primary(relay);
        }
        for batch in actions.execute {
            let (seq, block_hash) = self.execute(batch)?;
            // The core's `state_root` is the checkpoint digest: our block hash.
            self.queued.push_back(Input::Executed {
                seq,
                state_root: block_hash,
            });
        }
        if let Some(fetch) = actions.fetch_state {
            self.request_state(fetch)?;
        }
        for event in &actions.events {
            self.record(event);
        }
        Ok(())
    }

    /// §4.4: pending requests the core waits on go to the primary as a forward (it may never
    /// have received them: a lost frame, or a forwarder that skipped it). Payloads are this
    /// node's own pending requests, so they decode; one that does not is a bug.
    fn relay_to_primary(&self, relay: RequestRelay) {
        let transfers: Vec<_> = {
            let mut cache = self.verified.lock().expect("verified cache lock poisoned");
            relay
                .requests
                .iter()
                .map(|request| {
                    cache
                        .get(&request.digest())
                        .cloned()
                        .or_else(|| decode_payload(&request.payload).ok())
                        .expect("a pending request the core relays decodes as a transfer")
                })
                .collect()
        };
        self.shared
            .metrics
            .relayed_transfers
            .inc_by(transfers.len() as u64);
        self.send_frame(Target::One(relay.to), Frame::Forward(transfers));
    }

    fn persist(&self, ops: Vec<PersistOp>) -> Result<(), DriverError> {
        let ops = ops.into_iter().map(|op| match op {
            PersistOp::Put { key, value } => ConsensusOp::Put { key, value },
            PersistOp::Delete { key } => ConsensusOp::Delete { key },
        });
        let store = self.shared.store.read().expect("store lock poisoned");
        tokio::task::block_in_place(|| store.consensus_put_batch(ops))?;
        Ok(())
    }

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

    /// Executes a committed batch as the next block (or recognises it as already stored).
    /// Returns the height and the block hash.
    fn execute(&mut self, batch: CommittedBatch) -> Result<(u64, Digest), DriverError> {
        let span = info_span!("execute", view = batch.view, seq = batch.seq);
        let _entered = span.enter();
        let height = self.shared.stored_height();
        if batch.seq <= height {
            return Ok((batch.seq, self.stored_block_hash(batch.seq, batch.digest)?));
        }
        assert_eq!(
            batch.seq,
            height + 1,
            "the core handed out seq {} but the ledger is at height {height}",
            batch.seq
        );
        let input = {
            let mut verified = self.verified.lock().expect("verified cache lock poisoned");
            batch_input(&batch, &mut verified)
        };
        let block = {
            let mut store = self.shared.store.write().expect("store lock poisoned");
            tokio::task::block_in_place(|| store.commit_batch(input, Signatures::AlreadyVerified))?
        };
        self.account_block(&block.transfers, &block.receipts);
        let hash = block.hash();
        info!(
            height = block.height,
            transfers = block.transfers.len(),
            state_root = %block.state_root,
            block_hash = %hash,
            "block committed"
        );
        Ok((block.height, hash))
    }

    /// The hash of an already stored block, after checking it holds the committed batch.
    fn stored_block_hash(&self, seq: u64, digest: Digest) -> Result<Digest, DriverError> {
        let store = self.shared.store.read().expect("store lock poisoned");
        let stored = store.block(seq)?.unwrap_or_else(|| {
            panic!(
                "the core handed out seq {seq}, below the ledger height {} but not stored \
                 (skipped by a state transfer to a later checkpoint)",
                store.latest_height()
            )
        });
        assert_eq!(
            stored.block.batch_digest, digest,
            "SAFETY: block {seq} stored with batch {} but consensus committed {digest}",
            stored.block.batch_digest
        );
        Ok(stored.block.hash())
    }

    /// Metrics and mempool bookkeeping for a block's transfers.
    fn account_block(&self, transfers: &[bftledger_ledger::SignedTransfer], receipts: &[Receipt]) {
        let mut mempool = self.shared.mempool.lock().expect("mempool lock poisoned");
        for (t, receipt) in transfers.iter().zip(receipts) {
            if let Some(arrived) = mempool.executed(&t.id()) {
                self.shared
                    .metrics
                    .commit_latency_seconds
                    .observe(arrived.elapsed().as_secs_f64());
            }
            match receipt {
                Receipt::Applied => {
                    self.shared.metrics.transfers_committed.inc();
                }
                Receipt::Rejected(reason) => self
                    .shared
                    .metrics
                    .reject_transfer(&format!("executed_{}", crate::api::reject_code(reason))),
            }
        }
    }

    fn record(&self, event: &Event) {
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

    /// Publishes status for the API and metrics.
    fn publish(&self) {
        let stable = self.replica.stable_checkpoint().seq;
        {
            let mut live = self.shared.live.write().expect("live lock poisoned");
            live.view = self.replica.view();
            live.primary = self.replica.primary();
            live.view_changing = self.replica.is_view_changing();
            live.stable_checkpoint = stable;
            live.catching_up = self.catching_up();
        }
        let m = &self.shared.metrics;
        m.view.set(self.replica.view() as i64);
        let height = self.shared.stored_height();
        m.committed_height.set(height as i64);
        m.catching_up.set(i64::from(self.catching_up()));
        let size = self
            .shared
            .mempool
            .lock()
            .expect("mempool lock poisoned")
            .len();
        m.mempool_size.set(size as i64);
    }

    /// Handles one network event; a consensus message is queued for the next group.
    fn on_p2p_event(&mut self, event: P2pEvent) {
        match event {
            P2pEvent::Consensus { from, bytes } => self.on_frame(from, &bytes),
            P2pEvent::SyncRequest { bytes, reply, .. } => {
                let shared = self.shared.clone();
                let max_blocks = self.config.sync.max_blocks_per_request;
                let max_bytes = self.config.p2p.max_sync_response_bytes;
                tokio::task::spawn_blocking(move || {
                    let _ = reply.send(sync::answer(&shared, &bytes, max_blocks, max_bytes));
                });
            }
            P2pEvent::PeerConnected(peer) | P2pEvent::PeerDisconnected(peer) => {
                let peers = self.p2p.connected_validators();
                debug!(%peer, connected = peers.len(), "peer connection changed");
                self.shared.metrics.peers.set(peers.len() as i64);
                self.shared.live.write().expect("live lock poisoned").peers = peers;
            }
        }
    }

    fn on_frame(&mut self, from: PublicKey, bytes: &[u8]) {
        match Frame::decode(bytes, self.config.p2p.max_frame_bytes) {
            Ok(Frame::Consensus(message)) => self.queued.push_back(Input::Message(message)),
            Ok(Frame::Forward(transfers)) => {
                if transfers.len() > self.config.mempool.max_drain_transfers {
                    self.shared.metrics.reject_message("forward_too_large");
                    warn!(%from, count = transfers.len(), "oversized forward refused");
                    return;
                }
                let results = self
                    .shared
                    .mempool
                    .lock()
                    .expect("mempool lock poisoned")
                    .admit(transfers, Origin::Peer);
                // Counted apart from the API's refusals: a forwarded transfer dropped here was
                // already accepted by another validator, and its client was not told.
                for e in results.iter().filter_map(|r| r.as_ref().err()) {
                    let reason = format!("forwarded_{}", e.code());
                    self.shared.metrics.reject_transfer(&reason);
                }
            }
            Err(e) => {
                self.shared.metrics.reject_message("undecodable");
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
            .saturating_sub(self.replica.pending_requests())
            .min(self.config.mempool.max_drain_transfers);
        if room == 0 {
            return;
        }
        // Lock order store → mempool, as in the API.
        let drained: Vec<Pending> = {
            let store = self.shared.store.read().expect("store lock poisoned");
            self.shared
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
            self.send_frame(Target::All, Frame::Forward(forward));
        }
        let requests = drained
            .into_iter()
            .map(|p| Request { payload: p.payload })
            .collect();
        self.queued.push_back(Input::ClientRequests(requests));
    }
}

/// The ledger's input for a committed batch: its transfers (taken from the cache of transfers
/// this node already checked, else decoded), its digest and its certificate.
///
/// The view the batch committed in is deliberately not part of it: replicas commit one batch at
/// one seq in different views across a view change, and the block must be the same on all of
/// them (see `bftledger_ledger::block`); the view stays in the certificate.
///
/// # Panics
/// If a request is not a transfer: `validate_batch` accepted the batch on this replica before
/// it prepared it, so that is a broken invariant.
pub fn batch_input(batch: &CommittedBatch, verified: &mut VerifiedTransfers) -> BatchInput {
    let transfers = batch
        .requests
        .iter()
        .zip(&batch.request_digests)
        .enumerate()
        .map(|(i, (r, digest))| match verified.take(digest) {
            Some(t) => t,
            None => decode_payload(&r.payload).unwrap_or_else(|e| {
                panic!(
                    "committed batch {} holds request {i} that is not a transfer ({e}); \
                     validate_batch accepted it",
                    batch.seq
                )
            }),
        })
        .collect();
    // Signatures were batch-verified by `validate_batch` before this replica prepared the
    // batch (and by at least f+1 correct replicas before it could commit).
    BatchInput {
        batch_digest: batch.digest,
        transfers,
        certificate: batch.certificate.to_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{certificate_in_view, genesis, transfer};
    use bftledger_consensus::batch_digest;
    use bftledger_ledger::Store;

    /// Issue 11 item 10, at the node's execution path. Scenario (seen on the testnet): across a
    /// view change, two validators commit seq 1 in view 6 and the third in view 7, same batch;
    /// each executes the `CommittedBatch` its core hands out. Before the fix the view went into
    /// the block, so their block hashes (and, chained by `prev_hash`, every later one) differed.
    /// Rule: a block is a deterministic function of what was agreed (TOCS'02 §4.2: replicas agree
    /// on (seq, batch), not on the view each commits in); the certificate keeps the view.
    #[test]
    fn one_batch_committed_in_two_views_gives_one_block_hash() {
        let g = genesis("views", 100);
        let requests = vec![Request {
            payload: transfer("views", 5, 1).to_bytes(),
        }];
        let digest = batch_digest(&requests);
        let committed_in = |view: u64| CommittedBatch {
            view,
            seq: 1,
            digest,
            request_digests: requests.iter().map(Request::digest).collect(),
            request_ids: requests.iter().map(Request::digest).collect(),
            requests: requests.clone().into(),
            certificate: certificate_in_view(view, &[0, 1, 2], 1, digest),
        };
        let mut hashes = Vec::new();
        for view in [6, 7] {
            let dir = tempfile::tempdir().unwrap();
            let mut store = Store::create(dir.path(), &g).unwrap();
            let mut verified = VerifiedTransfers::new(8);
            let input = batch_input(&committed_in(view), &mut verified);
            let block = store.commit_batch(input, Signatures::Verify).unwrap();
            let stored = store.block(1).unwrap().unwrap();
            assert_eq!(
                bftledger_consensus::CommitCertificate::decode(&stored.certificate)
                    .unwrap()
                    .view,
                view,
                "the certificate beside the block keeps the view"
            );
            hashes.push(block.hash());
        }
        assert_eq!(hashes[0], hashes[1]);
    }
}
