//! The [`Host`]: the one place where the consensus core's output contract is honoured, for the
//! node's driver and the simulator alike.
//!
//! Inputs are queued ([`Host::push`]) and stepped in groups (**group commit**, [`Host::run`]):
//! up to `group_limit` inputs are stepped, the persist ops of all their outputs go to the ledger
//! store's consensus column in **one** atomic, synced write, and only then are the outputs
//! released. A crash before that write loses the whole group's state changes *and* everything
//! they would have sent or executed, which is the same as the group never having arrived: peers
//! retransmit. For each [`Output`] of a group, strictly in this order:
//! 1. **persist**: durable in the group's write; only then does [`Output::persisted`] release the
//!    rest (the types enforce it);
//! 2. **send**: messages to the network ([`HostIo::send`], best effort: the core retransmits),
//!    and pending requests relayed to the primary ([`HostIo::relay`], TOCS'02 §4.4);
//! 3. **execute**: each committed batch becomes the next block, stored atomically with its
//!    commit certificate; `Input::Executed { seq, state_root }` is queued for the core, where the
//!    digest reported is the **block hash** (the checkpoint digest, defined in
//!    `bftledger_ledger::block`: it commits to the height, the chain before it and the state
//!    root, and is the same on every correct replica because a block holds no view);
//! 4. **fetch_state**: done at once if the ledger already holds the checkpoint, else a goal for
//!    whoever fetches state ([`HostIo::fetch_state`]: the node's sync worker, the simulator's
//!    fetcher); what they fetch comes back through [`Host::apply_blocks`] and
//!    [`Host::install_snapshot`];
//! 5. **events** ([`HostIo::event`]).
//!
//! Queued reports are fed before the next external input, so the core sees them in order. A
//! block that is already stored (applied by catch-up, or before a crash) is not executed again:
//! its batch digest must equal the committed one (anything else would be a safety violation,
//! and panics with both digests), and its stored block hash is reported.
//!
//! The host does no IO of its own beyond the store, reads no clock and draws no random number:
//! the node wraps it in tokio tasks and libp2p, the simulator in a seeded world.

use crate::ledger_app::LedgerApp;
use crate::state_transfer::{self, FetchTarget, PartOutcome, SnapshotRefusal};
use crate::verified::{SharedVerified, VerifiedTransfers};
use bftledger_consensus::{
    Actions, CommittedBatch, Event, FetchState, Input, Mutant, Output, PersistOp, Progress,
    Replica, ReplicaId, SignedMessage, Target,
};
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::Digest;
use bftledger_ledger::{
    decode_payload, BatchInput, Block, BlockHeader, CertifiedBlock, ConsensusOp, Genesis,
    Signatures, SignedTransfer, Snapshot, SnapshotAssembly, SnapshotPart, Store, StoreError,
};
use std::collections::VecDeque;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Most inputs (consensus messages, reports, ticks) stepped before their persist ops are written
/// in one synced batch. Bounds the latency a group adds to its first input, and the memory of
/// held-back outputs; under load one fsync then covers up to this many steps instead of one.
pub const MAX_GROUP_INPUTS: usize = 256;

/// A point in the host's work where the simulator may crash the replica ([`HostIo::crash_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrashPoint {
    /// Inputs of a group were stepped; its persist write has not happened.
    BeforePersist,
    /// The group's persist write is durable; none of its messages has left.
    BeforeSend,
    /// A committed batch is durably a block; the core has not been told.
    AfterExecute,
}

/// Why the host stopped.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The store failed: the replica cannot go on safely.
    #[error("ledger store failed: {0}")]
    Store(#[from] StoreError),
    /// [`HostIo::crash_at`] asked for a crash (the simulator): drop the host.
    #[error("crashed at {0:?}")]
    Crashed(CrashPoint),
}

/// What the host needs from its surroundings: the network, observers, and (in the simulator)
/// crash injection. Calls are made in the order of the module docs.
pub trait HostIo {
    /// A consensus message to send.
    fn send(&mut self, to: Target, message: SignedMessage);
    /// Pending transfers to hand to the primary `to` (it may never have received them).
    fn relay(&mut self, to: ReplicaId, transfers: Vec<SignedTransfer>);
    /// The core asked for the state of a checkpoint the ledger does not hold: fetch it.
    fn fetch_state(&mut self, target: FetchTarget);
    /// A block was added to the ledger, by execution (`executed`) or by catch-up.
    fn block_stored(&mut self, block: &Block, executed: bool);
    /// The core handed out batch `seq` again (after a restart, or after catch-up applied its
    /// block): the stored block matched it and was not executed twice.
    fn already_stored(&mut self, seq: u64) {
        let _ = seq;
    }
    /// A snapshot verified against the checkpoint was installed: the ledger is now at its
    /// header's height (before the transfer is reported complete).
    fn snapshot_installed(&mut self, header: &BlockHeader) {
        let _ = header;
    }
    /// The state transfer to `target` completed (the core drops its pending requests).
    fn state_transferred(&mut self, target: FetchTarget);
    /// An event of the core.
    fn event(&mut self, event: &Event);
    /// Slots that reached a normal-case phase in a step whose votes are now durable (reported
    /// before that step's batches execute).
    fn progress(&mut self, progress: &[Progress]) {
        let _ = progress;
    }
    /// A group of `steps` steps was persisted in one write.
    fn persisted(&mut self, steps: usize) {
        let _ = steps;
    }
    /// Whether to crash at `point` (only the simulator says yes).
    fn crash_at(&mut self, point: CrashPoint) -> bool {
        let _ = point;
        false
    }
}

/// A replica's core and ledger, and the order between them (see the module docs).
pub struct Host {
    replica: Replica<LedgerApp>,
    store: Arc<RwLock<Store>>,
    genesis: Genesis,
    verified: SharedVerified,
    queued: VecDeque<Input>,
    /// A state transfer the core asked for that has not completed yet.
    pending_fetch: Option<FetchState>,
    /// The parts of a state fetched so far (for the transfer under way, or an older one until
    /// the next part shows the transfer changed).
    assembly: Option<SnapshotAssembly>,
    group_limit: usize,
    /// Run the core's invariant checks after every step (the simulator; costly).
    check_every_step: bool,
}

impl Host {
    /// A host for `replica` over `store`; `verified` is the cache `replica`'s application
    /// shares (the host takes executed transfers out of it).
    ///
    /// # Panics
    /// If the core executed beyond the ledger's height (the ledger is written before the core
    /// hears of a block, so that is a broken invariant), or `group_limit` is 0.
    pub fn new(
        replica: Replica<LedgerApp>,
        store: Arc<RwLock<Store>>,
        genesis: Genesis,
        verified: SharedVerified,
        group_limit: usize,
    ) -> Host {
        assert!(group_limit > 0, "a group holds at least one input");
        let host = Host {
            replica,
            store,
            genesis,
            verified,
            queued: VecDeque::new(),
            pending_fetch: None,
            assembly: None,
            group_limit,
            check_every_step: false,
        };
        let height = host.height();
        assert!(
            host.replica.last_executed() <= height,
            "the core executed seq {} but the ledger is at height {height}",
            host.replica.last_executed()
        );
        host.store_mut()
            .keep_trees_every(host.replica.config().settings.checkpoint_interval_seqs);
        // After a restart the core's stable checkpoint is below the ledger's height: the store
        // rebuilds that version from its blocks. A block it cannot read here is an error the
        // next execution or query meets and reports; until then accounts are only not provable.
        let _ = host.publish_stable_checkpoint();
        host
    }

    /// Hands the core's stable checkpoint to the ledger, which proves accounts at it (the 2f+1
    /// CHECKPOINT signatures over the block hash bind the state root a light client checks).
    fn publish_stable_checkpoint(&self) -> Result<(), HostError> {
        let proof = self.replica.stable_checkpoint();
        if proof.seq == 0 {
            return Ok(());
        }
        self.store_mut()
            .set_stable_checkpoint(proof.seq, proof.to_bytes())?;
        Ok(())
    }

    /// The core (read-only: it is stepped only through [`Host::run`]).
    pub fn replica(&self) -> &Replica<LedgerApp> {
        &self.replica
    }

    /// The ledger store.
    pub fn store(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().expect("store lock poisoned")
    }

    fn store_mut(&self) -> RwLockWriteGuard<'_, Store> {
        self.store.write().expect("store lock poisoned")
    }

    /// The ledger's height.
    pub fn height(&self) -> u64 {
        self.store().latest_height()
    }

    /// The state transfer under way, if any.
    pub fn pending_fetch(&self) -> Option<FetchTarget> {
        self.pending_fetch.as_ref().map(state_transfer::target_of)
    }

    /// Runs the core's invariant checks (`Replica::check_invariants`) after every step, as the
    /// simulator does; a broken invariant panics with the values.
    pub fn check_every_step(&mut self, on: bool) {
        self.check_every_step = on;
    }

    /// Queues an input for the next [`Host::run`].
    pub fn push(&mut self, input: Input) {
        self.queued.push_back(input);
    }

    /// Inputs waiting to be stepped.
    pub fn queued(&self) -> usize {
        self.queued.len()
    }

    /// Steps the core with every queued input, in order, in groups of at most `group_limit`:
    /// one synced write per group, then the group's outputs are honoured (which may queue
    /// reports for the next group).
    pub fn run(&mut self, io: &mut impl HostIo) -> Result<(), HostError> {
        while !self.queued.is_empty() {
            let mut outputs: Vec<Output> = Vec::new();
            let mut ops = Vec::new();
            while outputs.len() < self.group_limit {
                let Some(input) = self.queued.pop_front() else {
                    break;
                };
                let mut output = self.replica.step(input);
                if self.check_every_step {
                    self.replica.check_invariants();
                }
                ops.append(&mut output.take_persist());
                outputs.push(output);
            }
            if io.crash_at(CrashPoint::BeforePersist) {
                return Err(HostError::Crashed(CrashPoint::BeforePersist));
            }
            let steps = outputs.len();
            let released: Vec<Actions>;
            if self.replica.config().mutant == Some(Mutant::SendBeforePersist) {
                // The mutant `send-before-persist` (mutation testing only): sends, then writes.
                let mut actions: Vec<Actions> =
                    outputs.into_iter().map(Output::persisted).collect();
                for a in &mut actions {
                    send_all(std::mem::take(&mut a.send), io);
                }
                if io.crash_at(CrashPoint::BeforeSend) {
                    return Err(HostError::Crashed(CrashPoint::BeforeSend));
                }
                self.persist(ops, steps, io)?;
                released = actions;
            } else {
                self.persist(ops, steps, io)?;
                released = outputs.into_iter().map(Output::persisted).collect();
                if io.crash_at(CrashPoint::BeforeSend) {
                    return Err(HostError::Crashed(CrashPoint::BeforeSend));
                }
            }
            for actions in released {
                self.honour(actions, io)?;
            }
        }
        Ok(())
    }

    fn persist(
        &self,
        ops: Vec<PersistOp>,
        steps: usize,
        io: &mut impl HostIo,
    ) -> Result<(), HostError> {
        if ops.is_empty() {
            return Ok(());
        }
        let ops = ops.into_iter().map(|op| match op {
            PersistOp::Put { key, value } => ConsensusOp::Put { key, value },
            PersistOp::Delete { key } => ConsensusOp::Delete { key },
        });
        self.store().consensus_put_batch(ops)?;
        io.persisted(steps);
        Ok(())
    }

    /// Send → execute → fetch state → events, for an output whose persist ops are durable.
    fn honour(&mut self, actions: Actions, io: &mut impl HostIo) -> Result<(), HostError> {
        if !actions.progress.is_empty() {
            io.progress(&actions.progress);
        }
        send_all(actions.send, io);
        if let Some(relay) = actions.relay {
            // §4.4: pending requests the core waits on go to the primary. Payloads are this
            // replica's own pending requests, so they decode; one that does not is a bug.
            let transfers = {
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
            io.relay(relay.to, transfers);
        }
        for batch in actions.execute {
            let (seq, block_hash) = self.execute(batch, io)?;
            if io.crash_at(CrashPoint::AfterExecute) {
                return Err(HostError::Crashed(CrashPoint::AfterExecute));
            }
            // The core's `state_root` is the checkpoint digest: our block hash.
            self.queued.push_back(Input::Executed {
                seq,
                state_root: block_hash,
            });
        }
        if let Some(fetch) = actions.fetch_state {
            let target = state_transfer::target_of(&fetch);
            self.pending_fetch = Some(fetch);
            if !self.complete_state_transfer(io)? {
                io.fetch_state(target);
            }
        }
        for event in &actions.events {
            if matches!(event, Event::StableCheckpoint { .. }) {
                self.publish_stable_checkpoint()?;
            }
            io.event(event);
        }
        Ok(())
    }

    /// Executes a committed batch as the next block (or recognises it as already stored).
    /// Returns the height and the block hash.
    fn execute(
        &mut self,
        batch: CommittedBatch,
        io: &mut impl HostIo,
    ) -> Result<(u64, Digest), HostError> {
        let height = self.height();
        if batch.seq <= height {
            let hash = self.stored_block_hash(batch.seq, batch.digest)?;
            io.already_stored(batch.seq);
            return Ok((batch.seq, hash));
        }
        assert_eq!(
            batch.seq,
            height + 1,
            "the core handed out seq {} but the ledger is at height {height}",
            batch.seq
        );
        let mut input = {
            let mut verified = self.verified.lock().expect("verified cache lock poisoned");
            batch_input(&batch, &mut verified)
        };
        if self.replica.config().mutant == Some(Mutant::ViewInBlockHash) {
            // The old bug, for mutation testing only: the block records the view this replica
            // saw the batch commit in (here folded into its batch digest).
            let mut bytes = input.batch_digest.as_bytes().to_vec();
            bytes.extend_from_slice(&batch.view.to_be_bytes());
            input.batch_digest = Digest::of(&bytes);
        }
        let block = self
            .store_mut()
            .commit_batch(input, Signatures::AlreadyVerified)?;
        io.block_stored(&block, true);
        Ok((block.height, block.hash()))
    }

    /// The hash of an already stored block, after checking it holds the committed batch.
    fn stored_block_hash(&self, seq: u64, digest: Digest) -> Result<Digest, HostError> {
        let store = self.store();
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

    /// Reports the pending state transfer once the ledger reached it; true if reported.
    fn complete_state_transfer(&mut self, io: &mut impl HostIo) -> Result<bool, HostError> {
        let Some(target) = self.pending_fetch() else {
            return Ok(false);
        };
        if !state_transfer::checkpoint_reached(&self.store(), target)? {
            return Ok(false);
        }
        self.pending_fetch = None;
        self.assembly = None;
        io.state_transferred(target);
        self.queued.push_back(Input::StateTransferred {
            seq: target.seq,
            state_root: target.block_hash,
        });
        Ok(true)
    }

    /// Re-executes consecutive verified blocks (fetched by catch-up) on the ledger (the store
    /// checks receipts, state root and chaining); stops at the first refused one, then reports a
    /// state transfer they completed and steps the core. Returns how many were applied and the
    /// refusal that stopped them, if any.
    pub fn apply_blocks(
        &mut self,
        blocks: Vec<CertifiedBlock>,
        io: &mut impl HostIo,
    ) -> Result<(u64, Option<StoreError>), HostError> {
        let mut applied = 0;
        let mut refused = None;
        for certified in blocks {
            let height = self.height();
            if certified.block.height <= height {
                continue;
            }
            if certified.block.height != height + 1 {
                break;
            }
            let result = self
                .store_mut()
                .commit_block(&certified.block, &certified.certificate);
            match result {
                Ok(()) => {}
                Err(e) if e.is_refusal() => {
                    refused = Some(e);
                    break;
                }
                Err(e) => return Err(e.into()),
            }
            io.block_stored(&certified.block, false);
            applied += 1;
        }
        if self.complete_state_transfer(io)? {
            self.run(io)?;
        }
        Ok((applied, refused))
    }

    /// Takes `part` of the state fetched for `target`, if that is the state transfer under way
    /// and the part verifies against its checkpoint (`SnapshotAssembly::add`); once the parts
    /// cover the state, installs it ([`state_transfer::install_snapshot`]), reports the
    /// completed transfer and steps the core. Parts already verified are kept across refusals
    /// and donors (an interrupted transfer resumes); they are dropped when the transfer under
    /// way changes. The inner result is the typed refusal, after which nothing changed.
    pub fn add_snapshot_part(
        &mut self,
        part: &SnapshotPart,
        target: FetchTarget,
        io: &mut impl HostIo,
    ) -> Result<Result<PartOutcome, SnapshotRefusal>, HostError> {
        let (target, pending) = self.judged_against(target, &part.header);
        if let Err(refusal) = state_transfer::check_wanted(&self.store(), target, pending) {
            return Ok(Err(refusal));
        }
        let checkpoint = (target.seq, target.block_hash);
        let assembly = match &mut self.assembly {
            Some(a) if a.checkpoint() == checkpoint => a,
            other => other.insert(SnapshotAssembly::new(
                &self.genesis,
                target.seq,
                target.block_hash,
            )),
        };
        if let Err(e) = assembly.add(part) {
            return Ok(Err(SnapshotRefusal::Invalid(e)));
        }
        if !assembly.is_complete() {
            return Ok(Ok(PartOutcome::Wanted(assembly.wanted().to_vec())));
        }
        let snapshot = self
            .assembly
            .take()
            .and_then(SnapshotAssembly::into_snapshot)
            .expect("a complete assembly makes a snapshot");
        Ok(self
            .install_snapshot(&snapshot, target, io)?
            .map(|()| PartOutcome::Installed))
    }

    /// The checkpoint fetched state is judged against, and the transfer under way: `target`
    /// and the core's, except under the `UncheckedSnapshot` mutant (mutation testing only: the
    /// old behaviour, state judged against what its header claims about itself).
    fn judged_against(
        &self,
        target: FetchTarget,
        header: &BlockHeader,
    ) -> (FetchTarget, Option<FetchTarget>) {
        if self.replica.config().mutant == Some(Mutant::UncheckedSnapshot) {
            let claimed = FetchTarget {
                seq: header.height,
                block_hash: header.hash(),
            };
            return (claimed, Some(claimed));
        }
        (target, self.pending_fetch())
    }

    /// Installs `snapshot`, gathered for `target`, if that is the state transfer under way and
    /// it verifies ([`state_transfer::install_snapshot`]); then reports the completed transfer
    /// and steps the core.
    fn install_snapshot(
        &mut self,
        snapshot: &Snapshot,
        target: FetchTarget,
        io: &mut impl HostIo,
    ) -> Result<Result<(), SnapshotRefusal>, HostError> {
        let (target, pending) = self.judged_against(target, &snapshot.header);
        let verdict = state_transfer::install_snapshot(
            &mut self.store_mut(),
            &self.genesis,
            snapshot,
            target,
            pending,
        )?;
        if verdict.is_ok() {
            io.snapshot_installed(&snapshot.header);
            if self.complete_state_transfer(io)? {
                self.run(io)?;
            }
        }
        Ok(verdict)
    }
}

fn send_all(sends: Vec<bftledger_consensus::Outbound>, io: &mut impl HostIo) {
    for outbound in sends {
        io.send(outbound.to, outbound.message);
    }
}

/// The ledger's input for a committed batch: its transfers (taken from the cache of transfers
/// this replica already checked, else decoded), its digest and its certificate.
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
    use crate::fixtures::{certificate_in_view, genesis, transfer};
    use bftledger_consensus::{batch_digest, Request};
    use bftledger_ledger::MemoryBackend;

    /// Issue 11 item 10, at the host's execution path. Scenario (seen on the testnet): across a
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
            let mut store = Store::in_backend(Box::new(MemoryBackend::new()), &g).unwrap();
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
