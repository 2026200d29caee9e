//! The host's view of the simulated world ([`SimIo`], its `HostIo`): everything a host run does
//! outside itself is recorded, in order, as an [`Effect`], and carried out by the cluster once
//! the run returns (also when it returns because of a crash: what was sent before the crash
//! point has left). A scheduled crash strikes at the first crash point the run reaches.

use bftledger_consensus::message::batch_digest_of_request_digests;
use bftledger_consensus::{Event, Outbound, ReplicaId, SignedMessage, Target};
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::Digest;
use bftledger_host::{CrashPoint, FetchTarget, HostIo};
use bftledger_ledger::{Block, BlockHeader, SignedTransfer};

/// What the checkers need of a stored block.
#[derive(Debug)]
pub struct StoredBlock {
    pub height: u64,
    /// The consensus digest of the batch the block holds, recomputed from its transfers (not
    /// the block's own field: agreement is about what was ordered, the block's identity is
    /// checked apart, by its hash).
    pub batch_digest: Digest,
    /// The request digests (SHA-256 of each transfer's bytes, as the core computes them).
    pub transfer_ids: Vec<Digest>,
    pub state_root: Digest,
    pub hash: Digest,
    /// Transfers applied and rejected.
    pub applied: u64,
    pub rejected: u64,
    /// Executed by this replica, or applied from a peer's certified block.
    pub executed: bool,
}

/// One thing a host run did outside itself.
#[derive(Debug)]
pub enum Effect {
    Send(Outbound),
    Relay(ReplicaId, Vec<SignedTransfer>),
    Persisted,
    Stored(StoredBlock),
    AlreadyStored(u64),
    /// A snapshot was installed: height, state root, block hash.
    SnapshotInstalled(u64, Digest, Digest),
    FetchState(FetchTarget),
    StateTransferred(FetchTarget),
    Event(Event),
}

/// A host's io for one run.
pub struct SimIo {
    effects: Vec<Effect>,
    crash_at: Option<CrashPoint>,
}

impl SimIo {
    /// An io that crashes the host at `crash_at`, if set.
    pub fn new(crash_at: Option<CrashPoint>) -> SimIo {
        SimIo {
            effects: Vec::new(),
            crash_at,
        }
    }

    /// What the run did, in order.
    pub fn into_effects(self) -> Vec<Effect> {
        self.effects
    }
}

impl HostIo for SimIo {
    fn send(&mut self, to: Target, message: SignedMessage) {
        self.effects.push(Effect::Send(Outbound { to, message }));
    }

    fn relay(&mut self, to: ReplicaId, transfers: Vec<SignedTransfer>) {
        self.effects.push(Effect::Relay(to, transfers));
    }

    fn fetch_state(&mut self, target: FetchTarget) {
        self.effects.push(Effect::FetchState(target));
    }

    fn block_stored(&mut self, block: &Block, executed: bool) {
        let applied = block.receipts.iter().filter(|r| r.is_applied()).count() as u64;
        let request_digests: Vec<Digest> = block
            .transfers
            .iter()
            .map(|t| Digest::of(&t.to_bytes()))
            .collect();
        self.effects.push(Effect::Stored(StoredBlock {
            height: block.height,
            batch_digest: batch_digest_of_request_digests(&request_digests),
            transfer_ids: request_digests,
            state_root: block.state_root,
            hash: block.hash(),
            applied,
            rejected: block.receipts.len() as u64 - applied,
            executed,
        }));
    }

    fn already_stored(&mut self, seq: u64) {
        self.effects.push(Effect::AlreadyStored(seq));
    }

    fn snapshot_installed(&mut self, header: &BlockHeader) {
        self.effects.push(Effect::SnapshotInstalled(
            header.height,
            header.state_root,
            header.hash(),
        ));
    }

    fn state_transferred(&mut self, target: FetchTarget) {
        self.effects.push(Effect::StateTransferred(target));
    }

    fn event(&mut self, event: &Event) {
        self.effects.push(Effect::Event(event.clone()));
    }

    fn persisted(&mut self, _steps: usize) {
        self.effects.push(Effect::Persisted);
    }

    fn crash_at(&mut self, point: CrashPoint) -> bool {
        self.crash_at == Some(point)
    }
}
