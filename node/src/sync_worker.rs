//! The sync worker: a task beside the driver that fetches and verifies blocks (or a snapshot)
//! from peers, and hands them to the driver, which applies them.
//!
//! It runs apart from the driver so that waiting on the network never stalls consensus: a
//! driver blocked on a peer's answer would not answer that peer's own requests, and two such
//! drivers would wait on each other until their requests time out.
//!
//! It works towards a **goal**: the stable checkpoint the core asked for ([`FetchTarget`], kept
//! until reached), or, when this node's height has not moved for a poll interval, the highest
//! height its peers report (a node restarted after missing blocks catches up without waiting
//! for the next checkpoint). Peers' claimed heights are only hints: every block is verified
//! ([`bftledger_host::sync::check_blocks`]) here, then re-executed by the store in the host;
//! a snapshot, fetched in parts (a region of the account tree each, split while too large), is
//! verified part by part by the host against the goal's checkpoint digest, which keeps the
//! verified parts, so a transfer interrupted by a failing peer resumes with the next. The protocol and
//! its checks are `bftledger_host::sync`, which the simulator runs too. A peer whose
//! answer is refused ([`FetchError`], or the driver's refusal of a snapshot) is passed over for
//! the next one.

use crate::node_state::NodeState;
use crate::p2p::P2pHandle;
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::PublicKey;
use bftledger_host::sync::{
    check_blocks, check_part, decode_response, FetchError, SyncRequest, SyncResponse,
};
use bftledger_host::{FetchTarget, PartOutcome, SnapshotRefusal};
use bftledger_ledger::{CertifiedBlock, Region, SnapshotPart};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

/// Verified material for the driver to apply; `applied` answers how many blocks it applied
/// (0 if it refused them), `outcome` what became of a part of a snapshot.
#[derive(Debug)]
pub enum Fetched {
    /// Consecutive blocks, certificates verified.
    Blocks {
        /// The blocks, ascending.
        blocks: Vec<CertifiedBlock>,
        /// The peer that served them.
        peer: PublicKey,
        /// How many were applied.
        applied: oneshot::Sender<u64>,
    },
    /// A part of the state of a target checkpoint (the host checks it against `target`).
    SnapshotPart {
        /// The part.
        part: Box<SnapshotPart>,
        /// The checkpoint it is for.
        target: FetchTarget,
        /// The peer that served it.
        peer: PublicKey,
        /// What the host made of it: the regions still wanted, installed, or refused.
        outcome: oneshot::Sender<Result<PartOutcome, SnapshotRefusal>>,
    },
}

/// Limits of the worker.
#[derive(Debug, Clone, Copy)]
pub struct WorkerLimits {
    /// Most blocks per request.
    pub max_blocks_per_request: u64,
    /// Largest response accepted, in bytes.
    pub max_response_bytes: usize,
    /// Poll period.
    pub poll_interval: Duration,
}

/// The worker.
pub struct SyncWorker {
    shared: Arc<NodeState>,
    p2p: P2pHandle,
    validators: Vec<PublicKey>,
    limits: WorkerLimits,
    targets: mpsc::Receiver<FetchTarget>,
    out: mpsc::Sender<Fetched>,
}

impl SyncWorker {
    /// A worker; `targets` come from the driver, `out` goes to it.
    pub fn new(
        shared: Arc<NodeState>,
        p2p: P2pHandle,
        limits: WorkerLimits,
        targets: mpsc::Receiver<FetchTarget>,
        out: mpsc::Sender<Fetched>,
    ) -> SyncWorker {
        let validators = shared.genesis.validator_keys();
        SyncWorker {
            shared,
            p2p,
            validators,
            limits,
            targets,
            out,
        }
    }

    fn height(&self) -> u64 {
        self.shared.stored_height()
    }

    /// Runs until the driver goes away.
    pub async fn run(mut self) {
        let mut poll = tokio::time::interval(self.limits.poll_interval);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut target: Option<FetchTarget> = None;
        let mut last_height = self.height();
        loop {
            tokio::select! {
                t = self.targets.recv() => match t {
                    Some(t) if target.is_none_or(|old| t.seq > old.seq) => target = Some(t),
                    Some(_) => {}
                    None => return,
                },
                _ = poll.tick() => {}
            }
            let height = self.height();
            if target.is_some_and(|t| height >= t.seq) {
                target = None;
            }
            let goal = match target {
                Some(t) => Some(t.seq),
                None => {
                    let stalled = height == last_height;
                    last_height = height;
                    if stalled {
                        self.highest_peer().await.filter(|&g| g > height)
                    } else {
                        None
                    }
                }
            };
            if let Some(goal) = goal {
                self.catch_up(goal, target).await;
                last_height = self.height();
            }
            if self.out.is_closed() {
                return;
            }
        }
    }

    async fn catch_up(&mut self, goal: u64, target: Option<FetchTarget>) {
        self.shared.syncing.store(true, Ordering::Relaxed);
        info!(height = self.height(), goal, "catching up from peers");
        let reached = self.fetch_blocks(goal).await;
        if !reached {
            if let Some(t) = target {
                warn!(goal, "blocks unavailable from peers; trying a snapshot");
                self.fetch_snapshot(t).await;
            }
        }
        self.shared.syncing.store(false, Ordering::Relaxed);
    }

    /// The highest height a connected peer claims (unverified: only where to look).
    async fn highest_peer(&self) -> Option<u64> {
        let request = SyncRequest::Status.to_bytes();
        let asks = self.p2p.connected_validators().into_iter().map(|peer| {
            let p2p = self.p2p.clone();
            let request = request.clone();
            async move { p2p.request(peer, request).await.ok() }
        });
        let max = self.limits.max_response_bytes;
        futures::future::join_all(asks)
            .await
            .into_iter()
            .flatten()
            .filter_map(|bytes| match decode_response(&bytes, max) {
                Some(SyncResponse::Status { height, .. }) => Some(height),
                _ => None,
            })
            .max()
    }

    /// Fetches blocks up to `goal`, asking connected peers in turn; true once reached.
    async fn fetch_blocks(&mut self, goal: u64) -> bool {
        let peers = self.p2p.connected_validators();
        let mut failures = 0;
        let mut turn = 0;
        loop {
            let height = self.height();
            if height >= goal {
                return true;
            }
            if peers.is_empty() || failures >= peers.len() {
                return false;
            }
            let peer = peers[turn % peers.len()];
            turn += 1;
            let max = (goal - height).min(self.limits.max_blocks_per_request);
            match self.fetch_from(peer, height + 1, max).await {
                Ok(applied) if applied > 0 => failures = 0,
                Ok(_) => failures += 1,
                Err(reason) => {
                    warn!(%peer, %reason, "refused blocks from peer");
                    failures += 1;
                }
            }
        }
    }

    /// One request; verifies what comes back and hands it to the driver. Returns how many
    /// blocks the driver applied.
    async fn fetch_from(
        &mut self,
        peer: PublicKey,
        from: u64,
        max: u64,
    ) -> Result<u64, FetchError> {
        let request = SyncRequest::Blocks { from, max }.to_bytes();
        let bytes = match self.p2p.request(peer, request).await {
            Ok(bytes) => bytes,
            Err(e) => {
                debug!(%peer, error = %e, "sync request failed");
                return Ok(0);
            }
        };
        let Some(blocks) = check_blocks(
            &self.validators,
            from,
            max,
            &bytes,
            self.limits.max_response_bytes,
        )?
        else {
            return Ok(0);
        };
        let (applied, answer) = oneshot::channel();
        let fetched = Fetched::Blocks {
            blocks,
            peer,
            applied,
        };
        if self.out.send(fetched).await.is_err() {
            return Ok(0);
        }
        Ok(answer.await.unwrap_or(0))
    }

    /// Gathers the state of `target` part by part, asking the peers in turn (a part each, so a
    /// lying peer decides how at most its share of the regions is split: its splits are real
    /// nodes of the tree, but needless ones would cost the asker round trips), and gives up for
    /// this round once every peer failed in a row (the host keeps the verified parts, so the
    /// next round resumes where this one stopped).
    async fn fetch_snapshot(&mut self, target: FetchTarget) {
        let peers = self.p2p.connected_validators();
        // Until the host answers, the whole tree; then the host's list.
        let mut wanted = vec![Region::ALL];
        let mut failures = 0;
        let mut turn = 0;
        while let Some(&region) = wanted.first() {
            if peers.is_empty() || failures >= peers.len() {
                return;
            }
            let peer = peers[turn % peers.len()];
            match self.fetch_part(peer, target, region).await {
                Some(Ok(PartOutcome::Wanted(next))) => {
                    wanted = next;
                    failures = 0;
                    turn += 1;
                }
                Some(Ok(PartOutcome::Installed)) => return,
                Some(Err(SnapshotRefusal::NotPending { .. } | SnapshotRefusal::Reached { .. })) => {
                    return; // the transfer under way changed or completed
                }
                Some(Err(SnapshotRefusal::Invalid(_))) | None => {
                    failures += 1;
                    turn += 1;
                }
            }
        }
    }

    /// Asks `peer` for `region` of the state at `target` and hands the part to the driver;
    /// `None` if the peer did not answer with a part (or the driver is gone).
    async fn fetch_part(
        &mut self,
        peer: PublicKey,
        target: FetchTarget,
        region: Region,
    ) -> Option<Result<PartOutcome, SnapshotRefusal>> {
        let request = SyncRequest::SnapshotPart {
            height: target.seq,
            region,
        };
        let bytes = match self.p2p.request(peer, request.to_bytes()).await {
            Ok(bytes) => bytes,
            Err(e) => {
                debug!(%peer, error = %e, "snapshot part request failed");
                return None;
            }
        };
        let Some(part) = check_part(&region, &bytes, self.limits.max_response_bytes) else {
            debug!(%peer, "peer has no snapshot part of the region asked for");
            return None;
        };
        let (outcome, answer) = oneshot::channel();
        let fetched = Fetched::SnapshotPart {
            part,
            target,
            peer,
            outcome,
        };
        self.out.send(fetched).await.ok()?;
        answer.await.ok()
    }
}
