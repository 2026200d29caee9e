//! The replica: its state, construction, recovery, status getters and [`Replica::step`], which
//! only dispatches to the handlers of `normal_case`, `checkpoint` and `view_change`.

use crate::application::Application;
use crate::checkpoint::checkpoints::Checkpoints;
use crate::config::Config;
use crate::durable::{self, VoteKind};
use crate::error::Rejection;
use crate::log::Log;
use crate::message::{Batch, CheckpointProof, Message, Request, SignedMessage};
use crate::mutants::Mutant;
use crate::quorum::Quorum;
use crate::requests::{AddError, PendingRequest, RequestPool};
use crate::step_io::{Input, Output, Target, ViewChangeCause};
use crate::timer::Timers;
use crate::view_change::view_changes::ViewChanges;
use crate::{ReplicaId, SeqNum, View};
use bftledger_crypto::{Digest, SecretKey};
use std::collections::BTreeMap;

/// Normal operation or changing view (§4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Normal operation in the current view.
    Normal,
    /// Sent VIEW-CHANGE for `target`; waiting for its NEW-VIEW.
    ViewChanging {
        /// The view being changed to.
        target: View,
    },
}

/// What the running view-change timer waits for (§4.4: the request that started it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Awaited {
    /// A pending client request, by identity.
    Request(Digest),
    /// A pre-prepared slot not yet executed (no request pending, e.g. a null batch).
    Slot(SeqNum),
}

/// One PBFT replica as a deterministic state machine (see the crate docs for the driver loop).
pub struct Replica<A: Application> {
    pub(crate) config: Config,
    pub(crate) quorum: Quorum,
    pub(crate) id: ReplicaId,
    pub(crate) key: SecretKey,
    pub(crate) app: A,
    /// The last view entered (normal operation happened or happens in it).
    pub(crate) view: View,
    pub(crate) status: Status,
    pub(crate) log: Log,
    /// Primary: the last seq assigned in this view.
    pub(crate) last_assigned: SeqNum,
    /// Last seq handed out for execution.
    pub(crate) last_executed: SeqNum,
    /// Last seq whose execution the application reported.
    pub(crate) last_reported: SeqNum,
    /// Stable checkpoint, floor, fetch and checkpoint votes (§4.3).
    pub(crate) checkpoints: Checkpoints,
    pub(crate) requests: RequestPool,
    /// Received, refused and own view changes, and the installing NEW-VIEW (§4.4).
    pub(crate) view_changes: ViewChanges,
    /// Highest view each peer was seen in (authenticated normal-case messages).
    pub(crate) peer_views: BTreeMap<ReplicaId, View>,
    /// Own signed votes: (seq, view, kind) -> digest. Persisted before sending.
    pub(crate) own_votes: BTreeMap<(SeqNum, View, VoteKind), Digest>,
    /// Batches made durable (`B` entries: seq -> digest -> batch), mirrored in memory so they
    /// can be deleted at garbage collection and served to FETCH-BATCH requests (at most two per
    /// seq of the window: the one voted for last and the one of the prepared certificate).
    pub(crate) durable_batches: BTreeMap<SeqNum, BTreeMap<Digest, Batch>>,
    pub(crate) timers: Timers,
    /// What the view-change timer waits for while in normal status.
    pub(crate) awaited: Option<Awaited>,
    /// Per peer: certificate relays still allowed in this retransmission period.
    pub(crate) relay_budget: Vec<usize>,
    /// Rounds of FETCH-BATCH requests sent so far: rotates which peers are asked.
    pub(crate) batch_fetch_round: u64,
    pub(crate) rejections: BTreeMap<&'static str, u64>,
}

impl<A: Application> Replica<A> {
    /// A fresh replica at view 0, nothing executed.
    ///
    /// # Panics
    /// If `config` is invalid, `id` is not a validator or `key` is not `validators[id]`'s key:
    /// the host must check these at start-up (see [`Config::validate`]). An invalid config
    /// reaching the core is a bug of the host, so this asserts the very same `validate()` and
    /// panics with every problem it lists.
    pub fn new(config: Config, id: ReplicaId, key: SecretKey, app: A) -> Replica<A> {
        if let Err(e) = config.validate() {
            panic!(
                "invalid consensus config reached the core (the host must validate it first): {e}"
            );
        }
        assert!(
            (id as usize) < config.n(),
            "replica id {id} is not a validator (n = {})",
            config.n()
        );
        assert!(
            config.validators[id as usize] == key.public(),
            "the secret key is not validator {id}'s key"
        );
        let n = config.n();
        let quorum = Quorum::from_config(&config);
        let checkpoints = Checkpoints::new(
            config.settings.checkpoint_interval_seqs,
            quorum.checkpoint_votes_needed(),
            (config.settings.watermark_window_seqs / config.settings.checkpoint_interval_seqs)
                as usize
                + n
                + 1,
        );
        Replica {
            quorum,
            config,
            id,
            key,
            app,
            view: 0,
            status: Status::Normal,
            log: Log::default(),
            last_assigned: 0,
            last_executed: 0,
            last_reported: 0,
            checkpoints,
            requests: RequestPool::default(),
            view_changes: ViewChanges::default(),
            peer_views: BTreeMap::new(),
            own_votes: BTreeMap::new(),
            durable_batches: BTreeMap::new(),
            timers: Timers::default(),
            awaited: None,
            relay_budget: vec![crate::config::RETRANSMIT_SLOTS_PER_PEER; n],
            batch_fetch_round: 0,
            rejections: BTreeMap::new(),
        }
    }

    /// Feeds one input; returns what to persist, then send, execute and fetch.
    pub fn step(&mut self, input: Input) -> Output {
        let mut out = Output::default();
        match input {
            Input::Message(message) => self.on_message(message, &mut out),
            Input::ClientRequests(requests) => self.on_client_requests(requests, &mut out),
            Input::Tick => self.on_tick(&mut out),
            Input::Executed { seq, state_root } => self.on_executed(seq, state_root, &mut out),
            Input::StateTransferred { seq, state_root } => {
                self.on_state_transferred(seq, state_root, &mut out)
            }
        }
        self.propose_ready(&mut out);
        self.update_request_timer(&mut out);
        self.count_rejections(&out);
        out
    }

    /// Authenticates a peer message, then hands it to its handler.
    fn on_message(&mut self, signed: SignedMessage, out: &mut Output) {
        let from = signed.from;
        if let Err(reason) = self.authenticate(&signed) {
            out.reject(Some(from), reason);
            return;
        }
        let SignedMessage {
            message, signature, ..
        } = signed;
        match message {
            Message::PrePrepare { pre_prepare, batch } => {
                self.on_pre_prepare(from, pre_prepare, batch, signature, out)
            }
            Message::Prepare(prepare) => self.on_prepare(from, prepare, signature, out),
            Message::Commit(commit) => self.on_commit(from, commit, signature, out),
            Message::Checkpoint(checkpoint) => self.on_checkpoint(from, checkpoint, signature, out),
            Message::ViewChange(view_change) => {
                self.on_view_change(from, view_change, signature, out)
            }
            Message::NewView(new_view) => self.on_new_view(from, new_view, signature, out),
            Message::FetchBatch(fetch) => self.on_fetch_batch(from, fetch, out),
        }
    }

    /// Sender is a validator other than us and the signature is valid (checked once here).
    fn authenticate(&self, signed: &SignedMessage) -> Result<(), Rejection> {
        let from = signed.from;
        if from as usize >= self.config.n() {
            return Err(Rejection::UnknownSender { from });
        }
        // Own pre-prepares come back relayed by peers when this replica (a restarted primary)
        // lacks their batch; anything else claiming to be from us is refused.
        let relayed_own = matches!(signed.message, Message::PrePrepare { .. });
        if from == self.id && !relayed_own {
            return Err(Rejection::FromSelf { from });
        }
        signed
            .verify(&self.config.validators)
            .map_err(|_| Rejection::BadSignature { from })
    }

    /// Client requests: checked for size and duplicates (by identity), kept pending (§4.4
    /// timer), and queued for proposal at the primary.
    fn on_client_requests(&mut self, requests: Vec<Request>, out: &mut Output) {
        let is_primary = self.is_primary() && self.status == Status::Normal;
        let max_bytes = self.config.settings.max_request_bytes;
        let (requests, too_large): (Vec<Request>, Vec<Request>) = requests
            .into_iter()
            .partition(|r| r.payload.len() <= max_bytes);
        for r in too_large {
            let bytes = r.payload.len();
            out.reject(None, Rejection::RequestTooLarge { bytes, max_bytes });
        }
        let (digests, ids) = self.identify(&requests);
        let conflicts = self.conflict_keys(&requests, &digests);
        let keys = ids.into_iter().zip(digests).zip(conflicts);
        for (request, ((id, digest), conflict)) in requests.into_iter().zip(keys) {
            match self.requests.add(
                (id, digest, conflict),
                request,
                self.timers.now,
                self.config.settings.max_pending_requests,
                is_primary,
            ) {
                Ok(()) => {}
                Err(AddError::Duplicate) => {
                    out.reject(None, Rejection::DuplicateRequest { digest })
                }
                Err(AddError::Full) => out.reject(
                    None,
                    Rejection::PendingFull {
                        max: self.config.settings.max_pending_requests,
                    },
                ),
            }
        }
        if is_primary && self.timers.batch_deadline.is_none() && self.requests.has_queued() {
            self.timers.batch_deadline =
                Some(self.timers.now + self.config.settings.batch_delay_ticks);
        }
    }

    /// Logical time: fires the view-change timer, the batch timer and retransmission.
    fn on_tick(&mut self, out: &mut Output) {
        self.timers.now += 1;
        self.log.now = self.timers.now;
        if self.timers.view_change_expired() {
            self.timers.stop_view_change_timer();
            let next = self.current_target() + 1;
            self.start_view_change(next, ViewChangeCause::Timeout, out);
        }
        if self
            .timers
            .take_retransmit(self.config.settings.retransmit_ticks)
        {
            self.retransmit(out);
        }
    }

    /// §4.4: "a backup starts a timer when it receives a request and the timer is not already
    /// running. It stops the timer when it is no longer waiting to execute the request, but
    /// restarts it if at that point it is waiting to execute some other request."
    ///
    /// The timer waits for one thing, [`Awaited`]: the oldest pending request, or (with none
    /// pending) the lowest pre-prepared slot not yet executed. Executing *other* batches does
    /// not stop it, so a primary that keeps proposing empty or victim-free batches just under
    /// the timeout is still replaced (safety-holes issue, item 4). When the awaited request
    /// executes, the timer restarts with a full timeout for the next one. A backup that starts
    /// waiting on a request relays it to the primary, which may never have received it (§4.4;
    /// item 6).
    fn update_request_timer(&mut self, out: &mut Output) {
        if self.status != Status::Normal {
            self.awaited = None;
            return;
        }
        if self.config.mutated(Mutant::TimerStopsOnAnyExecution) {
            self.awaited = self.next_awaited();
            if self.awaited.is_none() {
                self.timers.stop_view_change_timer();
            }
        }
        let still_waiting = match self.awaited {
            Some(Awaited::Request(id)) => self.requests.is_pending(&id),
            // Executed, or replaced by a state transfer (its slot dropped): no longer awaited.
            Some(Awaited::Slot(seq)) => {
                seq > self.last_executed
                    && self.log.slot(seq).is_some_and(|s| s.pre_prepare.is_some())
            }
            None => false,
        };
        let running = self.timers.view_change_deadline.is_some();
        if running && still_waiting {
            return;
        }
        if running && self.awaited_executed() {
            self.timers
                .record_wait(self.config.settings.view_change_timeout_samples);
        }
        self.awaited = self.next_awaited();
        let (base, max) = self.timers.view_change_bounds(&self.config.settings);
        match self.awaited {
            None => self.timers.stop_view_change_timer(),
            Some(awaited) if running => {
                self.timers.restart_view_change_timer(base, max);
                self.relay_to_primary(Some(awaited), out);
            }
            Some(awaited) => {
                self.timers.ensure_view_change_timer(base, max);
                self.relay_to_primary(Some(awaited), out);
            }
        }
    }

    /// Whether what the timer waited for was executed (not dropped by the application; a state
    /// transfer forgets the running wait itself, `Timers::forget_wait`): only then is the wait a
    /// measure of the protocol (`timer.rs`).
    fn awaited_executed(&self) -> bool {
        match self.awaited {
            Some(Awaited::Request(id)) => self.requests.was_executed(&id),
            Some(Awaited::Slot(seq)) => seq <= self.last_executed,
            None => false,
        }
    }

    /// What the view-change timer should wait for now: the oldest pending request, else the
    /// lowest pre-prepared slot above the last execution.
    fn next_awaited(&self) -> Option<Awaited> {
        if let Some(id) = self.requests.oldest_pending() {
            return Some(Awaited::Request(id));
        }
        self.log
            .slots_from(self.last_executed + 1)
            .find(|(_, slot)| slot.pre_prepare.is_some())
            .map(|(seq, _)| Awaited::Slot(seq))
    }

    /// §4.4: a backup waiting on requests relays them to the primary: the awaited request, and
    /// on retransmission (`awaited` = None) every pending request older than one
    /// retransmission period that is not in the log; each at most once per retransmission
    /// period and at most `max_batch_requests` per call.
    pub(crate) fn relay_to_primary(&mut self, awaited: Option<Awaited>, out: &mut Output) {
        if self.is_primary()
            || self.status != Status::Normal
            || self.config.mutated(Mutant::NoRequestRelay)
        {
            return;
        }
        let also = match awaited {
            Some(Awaited::Request(id)) => Some(id),
            _ => None,
        };
        let older_than = if awaited.is_some() {
            0
        } else {
            self.timers
                .now
                .saturating_sub(self.config.settings.retransmit_ticks)
        };
        let when = (
            self.view,
            self.timers.now,
            self.config.settings.retransmit_ticks,
        );
        let requests = self.requests.take_for_relay(
            when,
            older_than,
            also,
            self.config.settings.max_batch_requests,
        );
        out.relay(self.primary(), requests);
    }

    fn count_rejections(&mut self, out: &Output) {
        for event in out.events() {
            if let crate::step_io::Event::Rejected { reason, .. } = event {
                *self.rejections.entry(reason.kind()).or_insert(0) += 1;
            }
        }
    }

    // ----- helpers shared by the handlers -----

    /// The byte digests and the identities ([`Application::request_ids`]) of `requests`.
    pub(crate) fn identify(&self, requests: &[Request]) -> (Vec<Digest>, Vec<Digest>) {
        let digests: Vec<Digest> = requests.iter().map(Request::digest).collect();
        let ids = self.request_ids(requests, &digests);
        (digests, ids)
    }

    /// [`Application::request_ids`], checked: one identity per request.
    pub(crate) fn request_ids(&self, requests: &[Request], digests: &[Digest]) -> Vec<Digest> {
        if self.config.mutated(Mutant::RequestIdentityByBytes) {
            return digests.to_vec();
        }
        let ids = self.app.request_ids(requests, digests);
        assert_eq!(
            ids.len(),
            requests.len(),
            "Application::request_ids gave {} identities for {} requests",
            ids.len(),
            requests.len()
        );
        ids
    }

    /// [`Application::conflict_keys`], checked: one key (or none) per request.
    pub(crate) fn conflict_keys(
        &self,
        requests: &[Request],
        digests: &[Digest],
    ) -> Vec<Option<Digest>> {
        if self.config.mutated(Mutant::ConflictsStayPending) {
            return vec![None; requests.len()];
        }
        let keys = self.app.conflict_keys(requests, digests);
        assert_eq!(
            keys.len(),
            requests.len(),
            "Application::conflict_keys gave {} keys for {} requests",
            keys.len(),
            requests.len()
        );
        keys
    }

    /// Signs `message` as this replica.
    pub(crate) fn sign(&self, message: Message) -> SignedMessage {
        SignedMessage::sign(self.id, message, &self.key)
    }

    /// Signs and queues `message` for `to`.
    pub(crate) fn send(&self, to: Target, message: Message, out: &mut Output) -> SignedMessage {
        let signed = self.sign(message);
        out.push_send(to, signed.clone());
        signed
    }

    /// Records (and persists) an own vote, unless it would contradict an earlier one.
    /// Returns false on a conflict: the caller must not send.
    pub(crate) fn record_own_vote(
        &mut self,
        seq: SeqNum,
        view: View,
        kind: VoteKind,
        digest: Digest,
        out: &mut Output,
    ) -> bool {
        match self.own_votes.get(&(seq, view, kind)) {
            Some(d) if *d == digest => true,
            Some(_) => {
                out.reject(None, Rejection::OwnVoteConflict { view, seq });
                false
            }
            None => {
                self.own_votes.insert((seq, view, kind), digest);
                out.push_persist(durable::put_vote(seq, view, kind, digest));
                true
            }
        }
    }

    /// The view this replica is in or moving to.
    pub(crate) fn current_target(&self) -> View {
        match self.status {
            Status::Normal => self.view,
            Status::ViewChanging { target } => target,
        }
    }

    /// Low watermark h: the stable checkpoint's seq (§4.3).
    pub fn low_watermark(&self) -> SeqNum {
        self.checkpoints.stable().seq
    }

    /// The bottom of the acceptance window: the stable checkpoint, or the highest 2f+1
    /// checkpoint fetched since, if higher (messages below it are useless: its state replaces
    /// them).
    pub(crate) fn window_low(&self) -> SeqNum {
        self.checkpoints.window_low()
    }

    /// High watermark H = base + L, where base is the stable checkpoint or the checkpoint being
    /// fetched, whichever is higher (§4.3).
    pub fn high_watermark(&self) -> SeqNum {
        self.window_low() + self.config.settings.watermark_window_seqs
    }

    /// Whether `seq` is in (low, high] (§4.2: h < n <= H).
    pub(crate) fn in_window(&self, seq: SeqNum) -> Result<(), Rejection> {
        let (low, high) = (self.window_low(), self.high_watermark());
        let beyond_high = seq > high && !self.config.mutated(Mutant::NoWatermarkCheck);
        if seq <= low || beyond_high {
            return Err(Rejection::OutsideWindow { seq, low, high });
        }
        Ok(())
    }

    // ----- status getters -----

    /// This replica's id.
    pub fn id(&self) -> ReplicaId {
        self.id
    }

    /// The current view (the last one entered).
    pub fn view(&self) -> View {
        self.view
    }

    /// Primary of the current view.
    pub fn primary(&self) -> ReplicaId {
        self.config.primary(self.view)
    }

    /// Whether this replica is the primary of the current view.
    pub fn is_primary(&self) -> bool {
        self.primary() == self.id
    }

    /// Last seq handed out for execution.
    pub fn last_executed(&self) -> SeqNum {
        self.last_executed
    }

    /// The stable checkpoint and its proof.
    pub fn stable_checkpoint(&self) -> &CheckpointProof {
        self.checkpoints.stable()
    }

    /// Whether a view change is in progress.
    pub fn is_view_changing(&self) -> bool {
        self.status != Status::Normal
    }

    /// Normal or view changing (with the target).
    pub fn status(&self) -> Status {
        self.status
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The application callback.
    pub fn app(&self) -> &A {
        &self.app
    }

    /// Client requests waiting to be ordered.
    pub fn pending_requests(&self) -> usize {
        self.requests.pending_len()
    }

    /// Whether the view-change timer runs: a request or a slot is awaited (§4.4), or a view
    /// change waits for its NEW-VIEW.
    pub fn view_change_timer_running(&self) -> bool {
        self.timers.view_change_deadline.is_some()
    }

    /// The oldest `max` pending client requests, oldest first (for diagnostics and tests: what
    /// a view-change timer would wait on).
    pub fn oldest_pending(&self, max: usize) -> Vec<PendingRequest> {
        self.requests.oldest(max)
    }

    /// Rejected inputs so far, by [`Rejection::kind`].
    pub fn rejection_counts(&self) -> &BTreeMap<&'static str, u64> {
        &self.rejections
    }

    /// The view-change timeout's adaptive base now, in ticks (before doubling; `timer.rs`).
    pub fn view_change_base_ticks(&self) -> u64 {
        self.timers.view_change_bounds(&self.config.settings).0
    }

    /// Waits measured in the current view (`timer.rs`): how many are held, and the longest, in
    /// ticks.
    pub fn measured_waits(&self) -> (usize, u64) {
        (self.timers.waits.len(), self.timers.waits.longest_ticks())
    }

    /// Logical time (ticks seen).
    pub fn now_ticks(&self) -> u64 {
        self.timers.now
    }

    /// Log slots held (bounded by the watermark window).
    pub fn log_len(&self) -> usize {
        self.log.len()
    }
}

impl<A: Application> std::fmt::Debug for Replica<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("id", &self.id)
            .field("view", &self.view)
            .field("status", &self.status)
            .field("last_executed", &self.last_executed)
            .field("log_len", &self.log.len())
            .field("checkpoints", &self.checkpoints)
            .finish()
    }
}
