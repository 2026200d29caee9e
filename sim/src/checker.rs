//! Safety checkers, fed by the cluster after every step. They watch correct replicas only:
//! a Byzantine replica may do anything.
//!
//! - **agreement**: no two correct replicas execute different batches at one sequence number;
//! - **exactly-once, in order**: each correct replica executes seq `last + 1` and nothing else
//!   (a state transfer jumps forward to a stable checkpoint; a restart resumes after the durable
//!   application state);
//! - **equal state at equal seq**: the application state roots after seq are equal;
//! - **one block hash per height**: every correct replica has the same block hash at every height
//!   (executed or installed by state transfer); the hash chains the blocks, so this is also "one
//!   hash chain" (issue 11 item 10: a view in the block identity breaks it across view changes);
//! - **genuine requests only**: every executed request was signed by a simulated client;
//! - **no conflicting signatures**: a correct replica never signs two different digests for one
//!   `(kind, view, seq)` — across crash-restarts too, which is what persisting votes is for;
//!   likewise never two different view-changes (or new-views) for one view;
//! - **complete prepared sets** (§4.4): a correct replica's VIEW-CHANGE carries a prepared
//!   certificate, of at least that view, for every seq above its reported checkpoint it sent a
//!   COMMIT for (a forgotten certificate is caught when it is signed, before it forks anything);
//! - **no false accusation**: the cluster reports a correct replica that holds a correct
//!   primary provably faulty (`ViewChangeCause::PrimaryFaulty`).
//!
//! The first violation stops the seed; later ones would mostly be echoes of it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use bftledger_crypto::Digest;

/// What broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ViolationKind {
    /// Two correct replicas executed different batches at one seq.
    Agreement,
    /// A correct replica executed a seq twice, skipped one, or went backwards.
    ExecutionOrder,
    /// Two correct replicas have different application states after one seq.
    StateDivergence,
    /// Two correct replicas have different block hashes at one height.
    BlockHashDivergence,
    /// A request no client signed was executed.
    ForgedRequestExecuted,
    /// A correct replica signed two different digests for one (kind, view, seq).
    ConflictingSignature,
    /// A state transfer installed a state that does not match what correct replicas executed.
    StateTransferMismatch,
    /// The consensus core panicked (an internal invariant broke).
    Panic,
    /// A correct replica's VIEW-CHANGE lacks a prepared certificate (of at least the view it
    /// committed in) for a seq above its reported checkpoint that it sent a COMMIT for (§4.4).
    IncompletePreparedSet,
    /// A correct replica held a correct primary provably faulty and started a view change
    /// (only a faulty primary signs what a correct replica takes as proof, OSDI'99 §4.4).
    FalseAccusation,
    /// After the heal the cluster settled in a view with a correct primary, and a correct
    /// replica later entered another view: f Byzantine replicas replaced a correct primary.
    CorrectPrimaryReplaced,
    /// A correct replica still waits on a request its application applied long ago (its
    /// view-change timer would accuse a correct primary).
    StalePending,
}

/// One broken property, with enough detail to start debugging from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Simulated time when it was seen.
    pub tick: u64,
    /// What broke.
    pub kind: ViolationKind,
    /// The values involved.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} at tick {}: {}", self.kind, self.tick, self.detail)
    }
}

/// A message kind a replica signs with a `(view, seq, digest)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SignedKind {
    /// Primary's proposal.
    PrePrepare,
    /// Backup's prepare vote.
    Prepare,
    /// Commit vote.
    Commit,
    /// Checkpoint (view is not part of it: use 0).
    Checkpoint,
    /// View-change for a view (seq 0; digest of its signed part).
    ViewChange,
    /// New-view of a view (seq 0; digest of its signed part).
    NewView,
}

/// The checkers' memory for one seed.
#[derive(Debug)]
pub struct Checker {
    correct: Vec<bool>,
    /// seq -> (batch digest, request digests, first correct replica to execute it).
    executed: BTreeMap<u64, (Digest, Vec<Digest>, usize)>,
    /// seq -> (state root after seq, first correct replica to report it).
    roots: BTreeMap<u64, (Digest, usize)>,
    /// height -> (block hash, first correct replica to report it).
    blocks: BTreeMap<u64, (Digest, usize)>,
    /// Per correct replica, the last seq it executed or installed.
    last_executed: Vec<u64>,
    /// (replica, kind, view, seq) -> digest signed.
    signed: HashMap<(usize, SignedKind, u64, u64), Digest>,
    genuine_requests: HashSet<Digest>,
    /// (replica, seq) -> highest view in which the correct replica sent a COMMIT for seq (it
    /// prepared there, so its VIEW-CHANGEs must carry a certificate of at least that view).
    committed_in: BTreeMap<(usize, u64), u64>,
    violation: Option<Violation>,
}

impl Checker {
    /// Checkers for a cluster where `correct[i]` says whether replica `i` is correct.
    pub fn new(correct: Vec<bool>) -> Checker {
        let replicas = correct.len();
        Checker {
            correct,
            executed: BTreeMap::new(),
            roots: BTreeMap::new(),
            blocks: BTreeMap::new(),
            last_executed: vec![0; replicas],
            signed: HashMap::new(),
            genuine_requests: HashSet::new(),
            committed_in: BTreeMap::new(),
            violation: None,
        }
    }

    /// The first violation seen, if any.
    pub fn violation(&self) -> Option<&Violation> {
        self.violation.as_ref()
    }

    /// Records a violation found elsewhere (a panic, a stall).
    pub fn report(&mut self, tick: u64, kind: ViolationKind, detail: String) {
        if self.violation.is_none() {
            self.violation = Some(Violation { tick, kind, detail });
        }
    }

    /// Whether replica `replica` is watched.
    pub fn is_correct(&self, replica: usize) -> bool {
        self.correct[replica]
    }

    /// Registers a request a client signed.
    pub fn client_request(&mut self, digest: Digest) {
        self.genuine_requests.insert(digest);
    }

    /// A correct replica executed batch `seq` with digest `digest` and these request digests.
    pub fn on_execute(
        &mut self,
        tick: u64,
        replica: usize,
        seq: u64,
        digest: Digest,
        requests: &[Digest],
    ) {
        if !self.correct[replica] {
            return;
        }
        let last = self.last_executed[replica];
        if seq != last + 1 {
            let detail = format!("replica {replica} executed seq {seq} after seq {last}");
            return self.report(tick, ViolationKind::ExecutionOrder, detail);
        }
        self.last_executed[replica] = seq;
        if let Some(forged) = requests.iter().find(|d| !self.genuine_requests.contains(d)) {
            let detail = format!(
                "replica {replica} executed request {forged} at seq {seq}, signed by no client"
            );
            return self.report(tick, ViolationKind::ForgedRequestExecuted, detail);
        }
        match self.executed.get(&seq) {
            None => {
                self.executed
                    .insert(seq, (digest, requests.to_vec(), replica));
            }
            Some((first_digest, first_requests, first)) => {
                if *first_digest != digest || first_requests.as_slice() != requests {
                    let detail = format!(
                        "seq {seq}: replica {first} executed batch {first_digest} ({} requests), \
                         replica {replica} executed batch {digest} ({} requests)",
                        first_requests.len(),
                        requests.len()
                    );
                    self.report(tick, ViolationKind::Agreement, detail);
                }
            }
        }
    }

    /// A restarted correct replica was handed batch `seq` again, at or below its durable
    /// application height: it must be the batch executed at `seq` before.
    pub fn on_reexecute(
        &mut self,
        tick: u64,
        replica: usize,
        seq: u64,
        digest: Digest,
        requests: &[Digest],
    ) {
        if !self.correct[replica] {
            return;
        }
        if let Some((first_digest, first_requests, first)) = self.executed.get(&seq) {
            if *first_digest != digest || first_requests.as_slice() != requests {
                let detail = format!(
                    "seq {seq}: replica {first} executed batch {first_digest}, \
                     restarted replica {replica} was handed batch {digest} again"
                );
                self.report(tick, ViolationKind::Agreement, detail);
            }
        }
    }

    /// A correct replica's application state after `seq` has root `root`.
    pub fn on_state(&mut self, tick: u64, replica: usize, seq: u64, root: Digest) {
        if !self.correct[replica] {
            return;
        }
        match self.roots.get(&seq) {
            None => {
                self.roots.insert(seq, (root, replica));
            }
            Some((first_root, first)) if *first_root != root => {
                let detail = format!("after seq {seq}: replica {first} has root {first_root}, replica {replica} has {root}");
                self.report(tick, ViolationKind::StateDivergence, detail);
            }
            Some(_) => {}
        }
    }

    /// A correct replica's block at height `height` has hash `hash` (executed, or installed by
    /// state transfer).
    pub fn on_block(&mut self, tick: u64, replica: usize, height: u64, hash: Digest) {
        if !self.correct[replica] {
            return;
        }
        match self.blocks.get(&height) {
            None => {
                self.blocks.insert(height, (hash, replica));
            }
            Some((first_hash, first)) if *first_hash != hash => {
                let detail = format!(
                    "height {height}: replica {first} has block {first_hash}, replica {replica} has {hash}"
                );
                self.report(tick, ViolationKind::BlockHashDivergence, detail);
            }
            Some(_) => {}
        }
    }

    /// A correct replica installed a snapshot at `seq` with root `root` by state transfer.
    pub fn on_state_transfer(&mut self, tick: u64, replica: usize, seq: u64, root: Digest) {
        if !self.correct[replica] {
            return;
        }
        let last = self.last_executed[replica];
        if seq <= last {
            let detail = format!(
                "replica {replica} transferred state to seq {seq}, but had executed up to {last}"
            );
            return self.report(tick, ViolationKind::ExecutionOrder, detail);
        }
        if let Some((first_root, first)) = self.roots.get(&seq) {
            if *first_root != root {
                let detail = format!("replica {replica} installed root {root} at seq {seq}; replica {first} has {first_root}");
                return self.report(tick, ViolationKind::StateTransferMismatch, detail);
            }
        }
        self.last_executed[replica] = seq;
        self.on_state(tick, replica, seq, root);
    }

    /// A correct replica restarted from its durable application state at `seq`. Anything it
    /// executes next must be `seq + 1`.
    pub fn on_restart(&mut self, replica: usize, seq: u64) {
        if self.correct[replica] {
            assert_eq!(
                self.last_executed[replica], seq,
                "the application state is durable"
            );
        }
    }

    /// A correct replica signed `digest` for `(kind, view, seq)`.
    pub fn on_signed(
        &mut self,
        tick: u64,
        replica: usize,
        kind: SignedKind,
        view: u64,
        seq: u64,
        digest: Digest,
    ) {
        if !self.correct[replica] {
            return;
        }
        let previous = *self
            .signed
            .entry((replica, kind, view, seq))
            .or_insert(digest);
        if previous != digest {
            let detail = format!("replica {replica} signed {kind:?} view {view} seq {seq} for {previous} and for {digest}");
            self.report(tick, ViolationKind::ConflictingSignature, detail);
        }
    }

    /// A correct replica sent COMMIT(view, seq): it had prepared seq in view (§4.2).
    pub fn on_commit_sent(&mut self, replica: usize, view: u64, seq: u64) {
        if !self.correct[replica] {
            return;
        }
        let highest = self.committed_in.entry((replica, seq)).or_insert(view);
        *highest = (*highest).max(view);
    }

    /// A correct replica sent VIEW-CHANGE(new_view, stable checkpoint, P) (§4.4): P must hold,
    /// for every seq in (stable, stable + window] it sent a COMMIT for in a view below
    /// new_view, a prepared certificate of that view or a later one. A certificate forgotten
    /// (by a fetch, a crash that lost a write, a send before persist) lets the new primary
    /// re-propose a committed seq.
    pub fn on_view_change_sent(
        &mut self,
        tick: u64,
        replica: usize,
        view_change: &bftledger_consensus::ViewChange,
        window: u64,
    ) {
        if !self.correct[replica] {
            return;
        }
        let (low, new_view) = (view_change.stable.seq, view_change.new_view);
        let high = low.saturating_add(window);
        let carried: BTreeMap<u64, u64> = view_change
            .prepared
            .iter()
            .map(|c| (c.pre_prepare.seq, c.pre_prepare.view))
            .collect();
        let missing = self
            .committed_in
            .range((replica, low + 1)..=(replica, high))
            .find(|(&(_, seq), &view)| {
                view < new_view && carried.get(&seq).is_none_or(|&have| have < view)
            });
        if let Some((&(_, seq), &view)) = missing {
            let detail = format!(
                "replica {replica}'s VIEW-CHANGE to view {new_view} reports checkpoint {low} and \
                 carries {:?} for seq {seq}, but it committed seq {seq} in view {view}",
                carried.get(&seq)
            );
            self.report(tick, ViolationKind::IncompletePreparedSet, detail);
        }
    }

    /// The last seq replica `replica` executed or installed.
    pub fn last_executed(&self, replica: usize) -> u64 {
        self.last_executed[replica]
    }

    /// The highest seq any correct replica executed.
    pub fn highest_executed(&self) -> u64 {
        self.executed.keys().next_back().copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(x: u8) -> Digest {
        Digest([x; 32])
    }

    #[test]
    fn agreement_violation_is_found_and_byzantine_ignored() {
        let mut c = Checker::new(vec![true, true, false]);
        c.client_request(d(9));
        c.on_execute(1, 0, 1, d(1), &[d(9)]);
        c.on_execute(1, 2, 1, d(2), &[]);
        assert!(c.violation().is_none());
        c.on_execute(2, 1, 1, d(2), &[]);
        assert_eq!(
            c.violation().map(|v| v.kind),
            Some(ViolationKind::Agreement)
        );
    }

    #[test]
    fn order_state_and_signature_violations() {
        let mut c = Checker::new(vec![true, true]);
        c.on_execute(1, 0, 2, d(1), &[]);
        assert_eq!(
            c.violation().map(|v| v.kind),
            Some(ViolationKind::ExecutionOrder)
        );

        let mut c = Checker::new(vec![true, true]);
        c.on_state(1, 0, 1, d(1));
        c.on_state(1, 1, 1, d(2));
        assert_eq!(
            c.violation().map(|v| v.kind),
            Some(ViolationKind::StateDivergence)
        );

        let mut c = Checker::new(vec![true, true]);
        c.on_signed(1, 0, SignedKind::Prepare, 0, 1, d(1));
        c.on_signed(1, 0, SignedKind::Prepare, 1, 1, d(2));
        c.on_signed(1, 0, SignedKind::Prepare, 0, 1, d(1));
        assert!(c.violation().is_none());
        c.on_signed(1, 0, SignedKind::Prepare, 0, 1, d(3));
        assert_eq!(
            c.violation().map(|v| v.kind),
            Some(ViolationKind::ConflictingSignature)
        );

        let mut c = Checker::new(vec![true]);
        c.on_execute(1, 0, 1, d(1), &[d(7)]);
        assert_eq!(
            c.violation().map(|v| v.kind),
            Some(ViolationKind::ForgedRequestExecuted)
        );
    }

    #[test]
    fn block_hash_divergence_is_found_and_byzantine_ignored() {
        let mut c = Checker::new(vec![true, false, true]);
        c.on_block(1, 0, 1, d(1));
        c.on_block(1, 1, 1, d(2));
        c.on_block(2, 2, 1, d(1));
        c.on_block(2, 2, 2, d(3));
        assert!(c.violation().is_none());
        c.on_block(3, 0, 2, d(4));
        assert_eq!(
            c.violation().map(|v| v.kind),
            Some(ViolationKind::BlockHashDivergence)
        );
    }

    #[test]
    fn state_transfer_and_restart_checks() {
        let mut c = Checker::new(vec![true, true]);
        c.on_execute(1, 0, 1, d(1), &[]);
        c.on_state(1, 0, 1, d(10));
        c.on_reexecute(2, 0, 1, d(1), &[]);
        c.on_state_transfer(2, 1, 1, d(10));
        assert!(c.violation().is_none());
        assert_eq!(c.last_executed(1), 1);
        c.on_state_transfer(3, 1, 1, d(10));
        assert_eq!(
            c.violation().map(|v| v.kind),
            Some(ViolationKind::ExecutionOrder),
            "no going back"
        );

        let mut c = Checker::new(vec![true, true]);
        c.on_state(1, 0, 4, d(10));
        c.on_state_transfer(2, 1, 4, d(11));
        assert_eq!(
            c.violation().map(|v| v.kind),
            Some(ViolationKind::StateTransferMismatch)
        );

        let mut c = Checker::new(vec![true]);
        c.on_execute(1, 0, 1, d(1), &[]);
        c.on_reexecute(2, 0, 1, d(2), &[]);
        assert_eq!(
            c.violation().map(|v| v.kind),
            Some(ViolationKind::Agreement)
        );
    }
}
