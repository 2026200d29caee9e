//! What goes into [`crate::Replica::step`] and what comes out.
//!
//! **Persist before send, in the types.** [`Output`] hides its sends: the only way to reach
//! them is [`Output::persisted`], which consumes the output and is to be called once the
//! [`PersistOp`]s (readable through [`Output::persist`] / [`Output::take_persist`]) are durable
//! and synced. Like raft-rs's `Ready`/`advance`, the order is a protocol the compiler walks the
//! driver through: persist → [`Actions::send`] → [`Actions::execute`] → [`Actions::fetch_state`]
//! → [`Actions::events`].

use crate::error::Rejection;
use crate::message::{Batch, CheckpointProof, CommitCertificate, Request, SignedMessage};
use crate::{ReplicaId, SeqNum, View};
use bftledger_crypto::Digest;

/// One input to the state machine.
#[derive(Debug, Clone)]
pub enum Input {
    /// A message from a peer, already decoded (size-limited) by the driver. Its signature is
    /// checked by the replica.
    Message(SignedMessage),
    /// Requests from clients to order. At the primary they are batched; at a backup they are
    /// kept pending (so the view-change timer can catch a primary that ignores them) and the
    /// node is expected to forward them to the primary.
    ClientRequests(Vec<Request>),
    /// One unit of logical time passed.
    Tick,
    /// The application executed batch `seq` (handed out in [`Actions::execute`]); its state
    /// digest is `state_root`. Report every seq, in order.
    ///
    /// This digest is what CHECKPOINT(seq, d) signs (§4.3) and what a state transfer must match,
    /// so it must be a deterministic function of the requests executed up to `seq`, equal on
    /// every correct replica. The bftledger node reports the hash of the ledger block at height
    /// `seq` (`bftledger_ledger::block`: it commits to the height, the chain before it and the
    /// state root), so a checkpoint fixes all three for external verifiers.
    Executed {
        /// Executed seq.
        seq: SeqNum,
        /// The application's state digest after it (the node's block hash).
        state_root: Digest,
    },
    /// The driver installed the state of the stable checkpoint it was asked to fetch
    /// ([`Actions::fetch_state`]).
    StateTransferred {
        /// The checkpoint seq.
        seq: SeqNum,
        /// Its state root.
        state_root: Digest,
    },
}

/// A write to the durable ordered key-value store of the consensus layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersistOp {
    /// Insert or overwrite.
    Put {
        /// Key.
        key: Vec<u8>,
        /// Value.
        value: Vec<u8>,
    },
    /// Remove (no error if absent).
    Delete {
        /// Key.
        key: Vec<u8>,
    },
}

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Every other replica.
    All,
    /// One replica.
    One(ReplicaId),
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    /// Destination.
    pub to: Target,
    /// The signed message.
    pub message: SignedMessage,
}

/// A committed batch to execute. Seqs strictly increase across outputs; each seq appears once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedBatch {
    /// View in which it committed.
    pub view: View,
    /// Sequence number (= ledger height).
    pub seq: SeqNum,
    /// Batch digest.
    pub digest: Digest,
    /// The requests (empty for a null batch from a view change).
    pub requests: Batch,
    /// `requests[i].digest()`, as the core computed them (the driver need not hash again).
    pub request_digests: Vec<Digest>,
    /// The requests' identities ([`Application::request_ids`]).
    pub request_ids: Vec<Digest>,
    /// 2f+1 commits proving it.
    pub certificate: CommitCertificate,
}

/// A request to the driver: fetch the application state of a checkpoint from peers (blocks
/// with commit certificates or a snapshot), check it against `state_root` (the state digest of
/// [`Input::Executed`]) **at height `seq`**, install it, then report [`Input::StateTransferred`].
/// Repeated every `retransmit_ticks` while outstanding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchState {
    /// Checkpoint seq.
    pub seq: SeqNum,
    /// Expected state root.
    pub state_root: Digest,
    /// Checkpoint signatures for (seq, state_root): at least f+1 ([`CheckpointProof::verify_weak`],
    /// one correct replica vouches for the root), 2f+1 when the checkpoint is stable.
    pub proof: CheckpointProof,
}

/// Requests for the primary, from a backup that waits on them (§4.4: "the backup relays the
/// request to the primary"): a request some validator received but the primary did not (a lost
/// forward, or a forwarder that skipped the primary) is then ordered instead of causing a view
/// change. Each pending request is relayed at most once per retransmission period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRelay {
    /// The primary of the current view.
    pub to: ReplicaId,
    /// The requests.
    pub requests: Vec<Request>,
}

/// Why a replica started a view change (§4.4, §4.5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewChangeCause {
    /// The view-change timer expired: a request or slot waited too long, or the previous view
    /// change did not complete.
    Timeout,
    /// The primary signed something no correct primary signs (the rejection's kind): the
    /// replica accuses it at once.
    PrimaryFaulty(&'static str),
    /// f+1 replicas are in higher views: at least one correct replica moved on (§4.5.2).
    JoinedHigherView,
}

impl ViewChangeCause {
    /// A stable snake_case word for logs and metric labels.
    pub fn kind(self) -> &'static str {
        match self {
            ViewChangeCause::Timeout => "timeout",
            ViewChangeCause::PrimaryFaulty(_) => "primary_faulty",
            ViewChangeCause::JoinedHigherView => "joined_higher_view",
        }
    }
}

/// Something that happened, for logs and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The primary proposed a batch.
    Proposed {
        /// View.
        view: View,
        /// Seq.
        seq: SeqNum,
        /// Requests in it.
        requests: usize,
    },
    /// A checkpoint became stable; the log below it was dropped.
    StableCheckpoint {
        /// Seq.
        seq: SeqNum,
        /// State root.
        state_root: Digest,
    },
    /// This replica started a view change.
    ViewChangeStarted {
        /// Target view.
        view: View,
        /// Why: an operator (and the simulator's false-accusation checker) must tell a timeout
        /// from a primary proven faulty by its own signature.
        cause: ViewChangeCause,
    },
    /// This replica (the new primary) sent a new-view.
    NewViewSent {
        /// View.
        view: View,
    },
    /// This replica entered a view (normal operation resumes).
    ViewEntered {
        /// View.
        view: View,
        /// Its primary.
        primary: ReplicaId,
    },
    /// State transfer completed.
    StateTransferred {
        /// Seq.
        seq: SeqNum,
    },
    /// An input was refused.
    Rejected {
        /// Sender, when the input was a message.
        from: Option<ReplicaId>,
        /// Why.
        reason: Rejection,
    },
}

/// Everything the driver must do after a step, except the sends, which are behind
/// [`Output::persisted`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Actions {
    /// Messages to send (only after the persist ops are durable).
    pub send: Vec<Outbound>,
    /// Committed batches to execute, in seq order.
    pub execute: Vec<CommittedBatch>,
    /// A stable checkpoint beyond what was executed: fetch its state.
    pub fetch_state: Option<FetchState>,
    /// Pending client requests this backup relays to the primary (§4.4): send them as client
    /// requests to replica `to` (the node's forward frame), after the persist ops, like sends.
    pub relay: Option<RequestRelay>,
    /// Events for logs and metrics.
    pub events: Vec<Event>,
    /// Slots that reached a phase in this step, for the driver's per-phase latencies.
    pub progress: Vec<Progress>,
}

/// The normal-case phases of a slot at this replica (§4.2), in the order they are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// The primary proposed the batch, or this backup accepted its PRE-PREPARE.
    PrePrepared,
    /// prepared(m, v, n, i): the pre-prepare and 2f matching PREPAREs.
    Prepared,
    /// committed-local(m, v, n, i): prepared and 2f+1 matching COMMITs.
    Committed,
}

/// Slot `seq` of view `view` reached `phase` at this replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// View.
    pub view: View,
    /// Seq.
    pub seq: SeqNum,
    /// The phase reached.
    pub phase: Phase,
}

/// The result of one step. Make [`Output::persist`] durable first, then call
/// [`Output::persisted`] to get the [`Actions`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[must_use = "the output carries messages to persist and send"]
pub struct Output {
    persist: Vec<PersistOp>,
    actions: Actions,
}

impl Output {
    /// The writes to make durable (in order, synced) before anything else.
    pub fn persist(&self) -> &[PersistOp] {
        &self.persist
    }

    /// Moves the persist ops out (e.g. into a write batch) without copying them.
    pub fn take_persist(&mut self) -> Vec<PersistOp> {
        std::mem::take(&mut self.persist)
    }

    /// Events, readable before persisting (for logging).
    pub fn events(&self) -> &[Event] {
        &self.actions.events
    }

    /// Declares the persist ops durable and returns the rest of the output.
    pub fn persisted(self) -> Actions {
        self.actions
    }

    /// Nothing to do at all.
    pub fn is_empty(&self) -> bool {
        self.persist.is_empty()
            && self.actions.send.is_empty()
            && self.actions.execute.is_empty()
            && self.actions.fetch_state.is_none()
            && self.actions.relay.is_none()
            && self.actions.events.is_empty()
            && self.actions.progress.is_empty()
    }

    pub(crate) fn push_persist(&mut self, op: PersistOp) {
        self.persist.push(op);
    }

    pub(crate) fn push_send(&mut self, to: Target, message: SignedMessage) {
        self.actions.send.push(Outbound { to, message });
    }

    pub(crate) fn push_execute(&mut self, batch: CommittedBatch) {
        if let Some(last) = self.actions.execute.last() {
            assert!(
                batch.seq == last.seq + 1,
                "execute order broken: {} after {}",
                batch.seq,
                last.seq
            );
        }
        self.actions.execute.push(batch);
    }

    pub(crate) fn relay(&mut self, to: ReplicaId, requests: Vec<Request>) {
        if requests.is_empty() {
            return;
        }
        match &mut self.actions.relay {
            Some(relay) if relay.to == to => relay.requests.extend(requests),
            slot => *slot = Some(RequestRelay { to, requests }),
        }
    }

    pub(crate) fn set_fetch_state(&mut self, fetch: FetchState) {
        self.actions.fetch_state = Some(fetch);
    }

    pub(crate) fn push_event(&mut self, event: Event) {
        self.actions.events.push(event);
    }

    pub(crate) fn progress(&mut self, view: View, seq: SeqNum, phase: Phase) {
        self.actions.progress.push(Progress { view, seq, phase });
    }

    pub(crate) fn reject(&mut self, from: Option<ReplicaId>, reason: Rejection) {
        self.actions.events.push(Event::Rejected { from, reason });
    }
}
