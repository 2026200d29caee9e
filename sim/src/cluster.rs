//! A whole cluster of real replicas in one process, driven by one seed.
//!
//! Each replica is the node's own [`Host`] (`bftledger_host`): the consensus core, the real
//! ledger on an in-memory store (`bftledger_ledger::MemoryBackend`, the same store code a node
//! runs on RocksDB), group commit, persist → send → execute, already-stored blocks after a
//! restart, and state transfer through the node's sync protocol. The simulator supplies only
//! what surrounds a node: the network (lossy, delayed, partitioned, with Byzantine peers and
//! twins), clients, clocks and crashes ([`effects`] is the host's view of that world).
//!
//! Each tick: apply the fault events due, let clients submit or retransmit, deliver every packet
//! due, tick every running replica, and ask peers for state where a transfer is under way
//! ([`fetch`]). The host runs the core's invariant checks after every step; the checkers see
//! every block, state root and signed vote of a correct replica as it happens.
//!
//! **Crash-restart.** A crash is scheduled for a tick; it strikes the replica inside its next
//! host run at one of the host's crash points (`bftledger_host::CrashPoint`: before the group's
//! persist write, after it and before any message leaves, or after a block is stored and before
//! the core hears of it), or, if no such step comes within `CRASH_WINDOW_TICKS`, at the end of a
//! tick. Volatile state and undelivered packets to it are lost; every store write that
//! completed survives (each is atomic). A restart reopens the store (with the node's consistency
//! checks) and rebuilds the replica with `Replica::recover` from the consensus column.
//!
//! **Liveness.** At `heal_at_tick` every fault ends (Byzantine replicas keep misbehaving).
//! Clients keep submitting for `submit_after_heal_ticks` more and re-send anything fewer than
//! f+1 correct replicas applied. Within `liveness_ticks` after the heal, every transfer ever
//! submitted must be applied (its sender's nonce reached) on every correct replica's ledger,
//! else the seed stalls.

mod clients;
mod effects;
mod fetch;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, RwLock};

use bftledger_consensus::{
    Config, Event, Input, Message, Replica, Request, SignedMessage, Target, ViewChangeCause,
};
use bftledger_crypto::encoding::encode;
use bftledger_crypto::{Digest, SecretKey};
use bftledger_host::sync::SyncRequest;
use bftledger_host::{CrashPoint, Host, HostError, LedgerApp, VerifiedTransfers};
use bftledger_ledger::{Genesis, MemoryBackend, Store};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::bank::{self, Bank};
use crate::byzantine::{Byzantine, Send};
use crate::checker::{Checker, SignedKind, ViolationKind};
use crate::faults::{FaultEvent, FaultKnobs, FaultPlan};
use crate::network::{Endpoint, LinkFaults, Network};
use crate::tla_trace::TlaTrace;
use crate::twins::TwinRoutes;
use crate::{Mutant, SeedStats, SimOptions};
use clients::Submitted;
use effects::{Effect, SimIo};

/// Most accounts in a part of a snapshot a simulated store serves: the simulator's few
/// accounts move in several parts, so splits, half-done transfers and their resumption (from
/// other donors, some lying) run as on a state of millions of accounts.
pub(crate) const PART_ACCOUNTS: usize = 12;
/// A pending request its replica's ledger applied this many of the replica's ticks ago
/// is stale: it will never be ordered again (hosts drop applied requests), so its view-change
/// timer fires against a correct primary.
const STALE_PENDING_TICKS: u64 = 200;
/// Pending requests the stale check looks at per replica (the oldest).
const MAX_PENDING_REPORTED: usize = 64;
/// A scheduled crash waits this long for its crash point, then strikes at the end of a tick.
const CRASH_WINDOW_TICKS: u64 = 30;
/// Transfers a replica's verified-transfer cache holds.
const VERIFIED_CACHE_TRANSFERS: usize = 4_096;

/// What travels on the simulated network.
#[derive(Clone, Debug)]
enum Envelope {
    Consensus(SignedMessage),
    /// From a client: the receiving host forwards it to its peers once, as the node does.
    Client(Request),
    /// A client request from a peer (its forward, or the core's relay): not forwarded again.
    Forwarded(Request),
    /// A state-transfer request of the sync protocol.
    SyncRequest(SyncRequest),
    /// The answer to `request` (the transport pairs them, as libp2p's request-response does).
    SyncResponse {
        request: SyncRequest,
        bytes: Vec<u8>,
    },
}

/// One replica slot: the running host (if up) and everything durable about it.
struct Node {
    /// The replica id this slot runs (a twin's second instance shares it).
    id: u32,
    key: SecretKey,
    host: Option<Host>,
    /// The store's durable contents (survive a crash; the host's store is reopened on them).
    disk: MemoryBackend,
    /// A state transfer the host asked for and has not finished ([`fetch`]).
    fetch: Option<fetch::Fetch>,
    /// Set for Byzantine replicas.
    byzantine: Option<Byzantine>,
    /// A crash is due at this point of the replica's next host run (or at the end of the tick).
    crash_pending: Option<(CrashPoint, u64)>,
    /// Thousandths of a tick this instance's clock has run beyond its last `Input::Tick`.
    clock_per_mille: u64,
}

/// The whole simulated world of one seed.
pub struct Cluster {
    seed: u64,
    options: SimOptions,
    rng: ChaCha8Rng,
    config: Config,
    genesis: Genesis,
    bank: Bank,
    /// One per slot: the replicas, then the second instances of twins (`crate::twins`).
    nodes: Vec<Node>,
    routes: TwinRoutes,
    network: Network<Envelope>,
    /// Each client's next nonce (ledger nonces start at 1).
    next_nonce: Vec<u64>,
    /// Each client's transfer in flight (an index into `submitted`), if any.
    in_flight: Vec<Option<usize>>,
    submitted: Vec<Submitted>,
    checker: Checker,
    plan: FaultPlan,
    now: u64,
    stats: SeedStats,
    /// Stable checkpoint seqs seen at correct replicas.
    stable_seen: BTreeSet<u64>,
    /// Coverage marks: how often rare paths ran.
    coverage: BTreeMap<String, u64>,
    /// The view in which the cluster settled after the heal, if it did ([`Cluster::note_settled`]).
    settled_view: Option<u64>,
    /// What correct replicas did, for trace validation against the TLA+ spec, if asked for
    /// ([`Cluster::record_tla_trace`]).
    tla: Option<TlaTrace>,
}

/// The outcome of one seed.
#[derive(Clone, Debug)]
pub struct SeedOutcome {
    /// The seed.
    pub seed: u64,
    /// A broken safety property, if any (the first one).
    pub violation: Option<crate::checker::Violation>,
    /// A liveness failure: what was still missing when the bound ran out.
    pub stall: Option<String>,
    /// Counters.
    pub stats: SeedStats,
    /// Coverage marks (rare paths taken, rejection kinds, Byzantine strategies).
    pub coverage: BTreeMap<String, u64>,
}

impl SeedOutcome {
    /// Whether a checker caught something (a safety violation or a stall).
    pub fn failed(&self) -> bool {
        self.violation.is_some() || self.stall.is_some()
    }
}

/// Packets one seed may deliver (a seed delivers about 10^3 to 10^5): beyond it the run stops
/// as a stall.
pub const MAX_DELIVERED_PER_SEED: u64 = 5_000_000;

impl Cluster {
    /// Builds the cluster for `seed`: keys, genesis, configuration, fault plan, replicas.
    pub fn new(seed: u64, options: SimOptions) -> Cluster {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = options.replicas;
        let keys: Vec<SecretKey> = (0..n)
            .map(|_| SecretKey::from_bytes(&rng.random()))
            .collect();
        let bank = Bank::new(&mut rng);
        let validators: Vec<_> = keys.iter().map(SecretKey::public).collect();
        let genesis = bank.genesis(&validators);
        let config = sim_config(validators, options.mutant);
        let knobs = FaultKnobs {
            replicas: n,
            byzantine: options.byzantine,
            fault_ticks: rng.random_range(options.fault_ticks / 2..=options.fault_ticks),
            delay_ticks_max: 8,
            crashes: options.crashes,
        };
        let plan = FaultPlan::draw(&mut rng, knobs);
        let routes = TwinRoutes::new(n, plan.twinned());
        let correct = (0..routes.slots())
            .map(|slot| !plan.is_byzantine(routes.instance(slot).0))
            .collect();
        // Endpoint `slots` is the clients' side of the network.
        let network = Network::new(routes.slots() + 1, plan.link_faults);
        let mut cluster = Cluster {
            seed,
            options,
            rng,
            config,
            genesis,
            bank,
            nodes: Vec::new(),
            routes,
            network,
            next_nonce: vec![1; bank::CLIENTS],
            in_flight: vec![None; bank::CLIENTS],
            submitted: Vec::new(),
            checker: Checker::new(correct),
            plan,
            now: 0,
            stats: SeedStats::default(),
            stable_seen: BTreeSet::new(),
            coverage: BTreeMap::new(),
            settled_view: None,
            tla: None,
        };
        for slot in 0..cluster.routes.slots() {
            let (id, _) = cluster.routes.instance(slot);
            let key = keys[id].clone();
            let byzantine = cluster.plan.byzantine[id]
                .map(|strategy| Byzantine::new(strategy, id as u32, n, key.clone()));
            cluster.nodes.push(Node {
                id: id as u32,
                key,
                host: None,
                disk: MemoryBackend::new(),
                fetch: None,
                byzantine,
                crash_pending: None,
                clock_per_mille: 0,
            });
            cluster.restart(slot);
        }
        cluster
    }

    fn trace(&self, line: impl FnOnce() -> String) {
        if self.options.trace {
            println!("t={:<6} {}", self.now, line());
        }
    }

    /// Replicas (validators).
    fn n(&self) -> usize {
        self.config.n()
    }

    /// Running instances: the replicas and twins' second instances.
    fn slots(&self) -> usize {
        self.nodes.len()
    }

    /// The clients' network endpoint.
    fn clients_endpoint(&self) -> Endpoint {
        self.slots()
    }

    fn is_correct(&self, r: usize) -> bool {
        self.nodes[r].byzantine.is_none()
    }

    /// The store of slot `r`, if its host runs.
    fn store(&self, r: usize) -> Option<std::sync::RwLockReadGuard<'_, Store>> {
        self.nodes[r].host.as_ref().map(Host::store)
    }

    /// Records what correct replicas do from now on as a TLA+ trace (`crate::tla_trace`),
    /// keeping sequence numbers 1..=`max_seq`; [`Cluster::run_traced`] returns it.
    pub fn record_tla_trace(&mut self, max_seq: u64) {
        let byzantine = (0..self.n())
            .filter(|&id| self.plan.is_byzantine(id))
            .map(|id| id as u32)
            .collect();
        self.tla = Some(TlaTrace::new(self.n(), byzantine, max_seq));
    }

    /// Runs the seed to the end: success, first violation, or stall.
    pub fn run(self) -> SeedOutcome {
        self.run_traced().0
    }

    /// [`Cluster::run`], and the TLA+ trace if [`Cluster::record_tla_trace`] asked for one.
    pub fn run_traced(mut self) -> (SeedOutcome, Option<TlaTrace>) {
        self.trace(|| format!("seed {} plan: {:?}", self.seed, self.plan));
        for strategy in self.plan.byzantine.clone().into_iter().flatten() {
            self.mark(&format!("byzantine.{strategy:?}"));
        }
        if self.plan.tick_per_mille.iter().any(|&rate| rate != 1000) {
            self.mark("clock.skewed");
        }
        let heal = self.plan.heal_at_tick;
        let submit_end = heal + self.options.submit_after_heal_ticks;
        let deadline = heal + self.options.liveness_ticks;
        let mut events: VecDeque<(u64, FaultEvent)> = self.plan.events.clone().into();
        let mut stall = None;
        loop {
            while events.front().is_some_and(|(tick, _)| *tick <= self.now) {
                let (_, event) = events.pop_front().expect("peeked");
                self.apply_fault(event);
            }
            // Clients keep submitting to the end (a live system has traffic: laggards catch up
            // through the checkpoints it produces); liveness is required for what they
            // submitted before `submit_end`.
            self.submit_requests();
            self.retransmit_requests();
            self.deliver_due();
            self.tick_all();
            self.finish_pending_crashes();
            self.retry_fetches();
            if self.now >= heal {
                self.note_settled();
            }
            if self.checker.violation().is_some() {
                break;
            }
            if self.now >= submit_end && self.all_requests_everywhere(submit_end) {
                self.check_no_stale_pending();
                break;
            }
            if self.now >= deadline {
                stall = Some(self.describe_stall());
                break;
            }
            let delivered = self.network.stats().delivered;
            if delivered > MAX_DELIVERED_PER_SEED {
                // A message storm (some strategy amplifying itself) would otherwise run for
                // hours with nothing printed; it fails with its seed instead.
                stall = Some(format!(
                    "message storm: {delivered} packets delivered by tick {} (bound \
                     {MAX_DELIVERED_PER_SEED}); {}",
                    self.now,
                    self.describe_stall()
                ));
                break;
            }
            self.now += 1;
        }
        self.finish_stats();
        let violation = self.checker.violation().cloned();
        if let Some(v) = &violation {
            self.trace(|| format!("VIOLATION {v}"));
        }
        if let Some(s) = &stall {
            self.trace(|| format!("STALL {s}"));
        }
        let outcome = SeedOutcome {
            seed: self.seed,
            violation,
            stall,
            stats: self.stats,
            coverage: self.coverage,
        };
        (outcome, self.tla)
    }

    /// The cluster has settled once, after the heal, every correct replica is up, in normal
    /// operation, not fetching state, waiting on no request, with its view-change timer
    /// stopped (no slot awaited either), and has executed as far as the others, in one view
    /// whose primary is correct: nothing left over from the fault period can then fire a
    /// timer. From then on only a Byzantine replica could disturb it, and OSDI'99 §4.4's
    /// promise is that it cannot replace that primary: a correct replica entering a later view
    /// is a `CorrectPrimaryReplaced` violation.
    fn note_settled(&mut self) {
        if self.settled_view.is_some() {
            return;
        }
        let mut states = (0..self.slots()).filter(|&r| self.is_correct(r)).map(|r| {
            match self.nodes[r].host.as_ref().map(|h| h.replica()) {
                Some(replica)
                    if !replica.is_view_changing()
                        && !replica.view_change_timer_running()
                        && replica.pending_requests() == 0
                        && self.nodes[r].fetch.is_none() =>
                {
                    Some((replica.view(), replica.last_executed()))
                }
                _ => None,
            }
        });
        let Some(Some((view, executed))) = states.next() else {
            return;
        };
        if states.all(|s| s == Some((view, executed)))
            && !self.plan.is_byzantine(self.config.primary(view) as usize)
        {
            self.settled_view = Some(view);
            self.mark("liveness.settled");
            self.trace(|| format!("settled in view {view}"));
        }
    }

    // ----- faults -----

    fn apply_fault(&mut self, event: FaultEvent) {
        self.trace(|| format!("fault {event:?}"));
        match event {
            FaultEvent::Partition { groups } => {
                // `groups` has one side per replica and one for the clients; a twin's second
                // instance is on its replica's side.
                let mut by_slot: Vec<u8> = (0..self.slots())
                    .map(|slot| groups[self.routes.instance(slot).0])
                    .collect();
                by_slot.push(groups[self.n()]);
                self.network.partition(by_slot)
            }
            FaultEvent::TwinSides { replica, sides, .. } => self.routes.set_sides(replica, sides),
            FaultEvent::Unpartition => {
                let faults = self.network.faults();
                self.network.heal();
                self.network.set_faults(faults);
            }
            FaultEvent::Crash { replica } => {
                if self.nodes[replica].host.is_some() {
                    let point = [
                        CrashPoint::BeforePersist,
                        CrashPoint::BeforeSend,
                        CrashPoint::AfterExecute,
                    ][self.rng.random_range(0..3)];
                    self.nodes[replica].crash_pending =
                        Some((point, self.now + CRASH_WINDOW_TICKS));
                }
            }
            FaultEvent::Restart { replica } => self.restart(replica),
            FaultEvent::Heal => {
                self.network.heal();
                self.network.set_faults(LinkFaults::reliable(
                    1,
                    self.plan.link_faults.delay_ticks_max,
                ));
                for r in 0..self.slots() {
                    self.nodes[r].crash_pending = None;
                    self.restart(r);
                }
            }
        }
    }

    fn crash(&mut self, r: usize) {
        let node = &mut self.nodes[r];
        let point = node.crash_pending.take().map(|(point, _)| point);
        if node.host.take().is_some() {
            if node.fetch.take().is_some() {
                self.mark("crash.during_state_transfer");
            }
            self.stats.crashes += 1;
            self.mark(match point {
                Some(CrashPoint::BeforePersist) => "crash.group_stepped_before_persist",
                Some(CrashPoint::BeforeSend) => "crash.after_persist_before_send",
                Some(CrashPoint::AfterExecute) => "crash.after_execute_before_report",
                None => "crash.between_steps",
            });
            self.trace(|| format!("r{r} CRASH at {point:?}"));
        }
    }

    /// Counts a coverage mark: proof that a rare path ran.
    fn mark(&mut self, key: &str) {
        *self.coverage.entry(key.to_string()).or_insert(0) += 1;
    }

    fn finish_pending_crashes(&mut self) {
        for r in 0..self.slots() {
            if self.nodes[r]
                .crash_pending
                .is_some_and(|(_, deadline)| self.now >= deadline)
            {
                self.crash(r);
            }
        }
    }

    /// Starts slot `r` from its disk as a node starts: reopen the store (its consistency
    /// checks), rebuild the replica from the consensus column, wrap both in a host. Anything
    /// that fails or panics on a replica's own durable state is a violation.
    fn restart(&mut self, r: usize) {
        if self.nodes[r].host.is_some() {
            return;
        }
        let node = &self.nodes[r];
        let (config, key, genesis) = (self.config.clone(), node.key.clone(), self.genesis.clone());
        let (id, disk) = (node.id, node.disk.clone());
        let started = catch_unwind(AssertUnwindSafe(|| -> Result<Host, String> {
            let mut store = Store::in_backend(Box::new(disk), &genesis)
                .map_err(|e| format!("cannot reopen its store: {e}"))?;
            store.limit_part_accounts(PART_ACCOUNTS);
            let durable = store
                .consensus_entries()
                .map_err(|e| format!("cannot read its consensus state: {e}"))?;
            let verified = VerifiedTransfers::shared(VERIFIED_CACHE_TRANSFERS);
            let app = LedgerApp::with_verified(bank::CHAIN, verified.clone());
            let replica = Replica::recover(config, id, key, app, durable)
                .map_err(|e| format!("cannot recover from its own durable state: {e}"))?;
            let store = Arc::new(RwLock::new(store));
            let mut host = Host::new(
                replica,
                store,
                genesis,
                verified,
                bftledger_host::MAX_GROUP_INPUTS,
            );
            host.check_every_step(true);
            Ok(host)
        }));
        let detail = match started {
            Ok(Ok(host)) => {
                let height = host.height();
                self.trace(|| format!("r{r} START {:?} ledger at height {height}", host.replica()));
                if self.now > 0 {
                    self.checker.on_restart(r, height);
                    self.stats.restarts += 1;
                    let (id, correct) = (self.nodes[r].id, self.is_correct(r));
                    if let Some(tla) = self.tla.as_mut().filter(|_| correct) {
                        tla.on_restart(id);
                    }
                }
                self.nodes[r].host = Some(host);
                return;
            }
            Ok(Err(detail)) => detail,
            Err(payload) => format!("panicked: {}", crate::panic_message(payload.as_ref())),
        };
        let detail = format!("replica {r} at restart: {detail}");
        self.checker.report(self.now, ViolationKind::Panic, detail);
    }

    // ----- delivery and ticks -----

    fn deliver_due(&mut self) {
        while let Some(packet) = self.network.pop_due(self.now) {
            if packet.to >= self.slots() {
                continue; // nothing listens on the clients' endpoint
            }
            if self.nodes[packet.to].host.is_none() {
                self.stats.lost_to_crash += 1;
                continue;
            }
            let from_client = matches!(packet.message, Envelope::Client(_));
            let input = match packet.message {
                Envelope::Client(request) | Envelope::Forwarded(request) => {
                    // As the node's mempool admits only requests that decode as transfers.
                    let Some(transfer) = bank::transfer_of(&request) else {
                        self.mark("request.undecodable");
                        continue;
                    };
                    let client = self.bank.client_of(&transfer);
                    let byzantine = self.nodes[packet.to].byzantine.as_ref();
                    if byzantine.is_some_and(|b| b.drops_request(client)) {
                        continue;
                    }
                    // As the node's mempool admits a transfer only above its sender's stored
                    // nonce, a host never hands its core a transfer its ledger already applied
                    // (after a restart or a state transfer the core cannot know).
                    let applied = self
                        .store(packet.to)
                        .is_some_and(|store| bank::nonce_applied(&store, &transfer));
                    if applied {
                        self.mark("request.already_applied");
                        continue;
                    }
                    if from_client {
                        self.forward_request(packet.to, &request);
                    }
                    Input::ClientRequests(vec![request])
                }
                Envelope::Consensus(message) => {
                    if self.options.trace {
                        self.trace(|| {
                            format!(
                                "r{} <- r{} {}",
                                packet.to,
                                message.from,
                                describe(&message.message)
                            )
                        });
                    }
                    if let Some(byzantine) = &mut self.nodes[packet.to].byzantine {
                        byzantine.observe(&message);
                        let injected = byzantine.take_injected();
                        self.transmit(packet.to, injected);
                    }
                    Input::Message(message)
                }
                Envelope::SyncRequest(request) => {
                    self.answer_sync(packet.to, packet.from, request);
                    continue;
                }
                Envelope::SyncResponse { request, bytes } => {
                    self.on_sync_response(packet.to, packet.from, request, &bytes);
                    continue;
                }
            };
            self.drive(packet.to, input);
            if self.checker.violation().is_some() {
                return;
            }
        }
    }

    /// The host of slot `r` forwards a client's request to its peers once, as the node's
    /// mempool does: a correct host to all, a Byzantine one (unless silent) to all but the
    /// primary of its view (a selective forwarder).
    fn forward_request(&mut self, r: usize, request: &Request) {
        let node = &self.nodes[r];
        let (id, byzantine) = (node.id as usize, node.byzantine.as_ref());
        let primary = node
            .host
            .as_ref()
            .map_or(0, |host| host.replica().primary() as usize);
        let peers: Vec<usize> = (0..self.n())
            .filter(|&t| t != id && byzantine.is_none_or(|b| b.forwards_to(t, primary)))
            .collect();
        if byzantine.is_some() && !peers.is_empty() {
            self.mark("forward.selective");
        }
        for to in peers {
            if let Some(slot) = self.routes.route(r, to) {
                let envelope = Envelope::Forwarded(request.clone());
                self.network
                    .send(&mut self.rng, self.now, r, slot, envelope);
            }
        }
    }

    /// One tick of simulated time: every running instance's clock advances by its rate
    /// (clock skew: a replica whose clock runs at 1.5x gets three ticks per two).
    fn tick_all(&mut self) {
        for r in 0..self.slots() {
            if self.nodes[r].host.is_none() {
                continue;
            }
            let rate = self.plan.tick_per_mille[self.nodes[r].id as usize];
            self.nodes[r].clock_per_mille += rate;
            while self.nodes[r].clock_per_mille >= 1000 && self.nodes[r].host.is_some() {
                self.nodes[r].clock_per_mille -= 1000;
                self.drive(r, Input::Tick);
            }
        }
    }

    // ----- one host run and its effects -----

    /// Feeds `input` to the host of slot `r` and runs it (the host steps the core with it and
    /// with every report its outputs queue), then carries out what it did.
    fn drive(&mut self, r: usize, input: Input) {
        if self.checker.violation().is_some() {
            return;
        }
        self.with_host(r, |host, io| {
            host.push(input);
            host.run(io)
        });
    }

    /// Runs `work` on the host of slot `r` with a fresh [`SimIo`], then carries out the
    /// effects it recorded, in order; a crash the io asked for drops the host; a panic (a
    /// broken invariant of the core or the host) is a violation.
    fn with_host<T>(
        &mut self,
        r: usize,
        work: impl FnOnce(&mut Host, &mut SimIo) -> Result<T, HostError>,
    ) -> Option<T> {
        let crash_at = self.nodes[r].crash_pending.map(|(point, _)| point);
        let host = self.nodes[r].host.as_mut()?;
        let mut io = SimIo::new(crash_at);
        let result = catch_unwind(AssertUnwindSafe(|| work(host, &mut io)));
        let effects = io.into_effects();
        let value = match result {
            Ok(Ok(value)) => Some(value),
            Ok(Err(HostError::Crashed(point))) => {
                self.apply_effects(r, effects);
                self.trace(|| format!("r{r} crash point {point:?} reached"));
                self.crash(r);
                return None;
            }
            Ok(Err(HostError::Store(e))) => {
                let detail = format!("replica {r}: its store failed: {e}");
                self.checker.report(self.now, ViolationKind::Panic, detail);
                return None;
            }
            Err(payload) => {
                let detail = format!("replica {r}: {}", crate::panic_message(payload.as_ref()));
                self.checker.report(self.now, ViolationKind::Panic, detail);
                self.trace(|| format!("r{r} PANIC"));
                return None;
            }
        };
        self.apply_effects(r, effects);
        value
    }

    /// Carries out a host run's effects, in the order the host made them.
    fn apply_effects(&mut self, r: usize, effects: Vec<Effect>) {
        let mut sends = Vec::new();
        for effect in effects {
            if !matches!(effect, Effect::Send(_)) && !sends.is_empty() {
                self.send_all(r, std::mem::take(&mut sends));
            }
            match effect {
                Effect::Send(outbound) => sends.push(outbound),
                Effect::Persisted => self.stats.persist_groups += 1,
                Effect::Relay(to, transfers) => {
                    self.mark("request_relayed");
                    for transfer in transfers {
                        if let Some(slot) = self.routes.route(r, to as usize) {
                            let envelope = Envelope::Forwarded(bank::request(&transfer));
                            self.network
                                .send(&mut self.rng, self.now, r, slot, envelope);
                        }
                    }
                }
                Effect::Stored(block) => self.on_block_stored(r, &block),
                Effect::AlreadyStored(seq) => {
                    self.stats.skipped_reexecutions += 1;
                    self.mark("execute.skipped_already_stored");
                    self.trace(|| format!("r{r} seq {seq} already stored"));
                }
                Effect::SnapshotInstalled(height, state_root, hash) => {
                    self.mark("state_transfer.snapshot_installed");
                    self.checker
                        .on_state_transfer(self.now, r, height, state_root);
                    self.checker.on_block(self.now, r, height, hash);
                    self.trace(|| format!("r{r} SNAPSHOT installed at {height} root {state_root}"));
                }
                Effect::FetchState(target) => self.start_fetch(r, target),
                Effect::StateTransferred(target) => self.finish_fetch(r, target),
                Effect::Event(event) => self.on_event(r, &event),
            }
        }
        if !sends.is_empty() {
            self.send_all(r, sends);
        }
    }

    /// A block is on slot `r`'s ledger (executed, or applied by catch-up): the checkers see
    /// its batch, state root and hash.
    fn on_block_stored(&mut self, r: usize, block: &effects::StoredBlock) {
        let now = self.now;
        self.checker.on_execute(
            now,
            r,
            block.height,
            block.batch_digest,
            &block.transfer_ids,
        );
        self.checker
            .on_state(now, r, block.height, block.state_root);
        self.checker.on_block(now, r, block.height, block.hash);
        let (id, correct) = (self.nodes[r].id, self.is_correct(r));
        if let Some(tla) = self.tla.as_mut().filter(|_| correct) {
            tla.on_block(id, block.height, block.batch_digest, block.executed);
        }
        if self.is_correct(r) && block.executed {
            self.stats.batches_executed += 1;
            self.stats.requests_executed += block.applied;
            self.stats.duplicate_requests_skipped += block.rejected;
            if block.transfer_ids.is_empty() {
                self.stats.null_batches += 1;
            }
        }
        if !block.executed {
            self.mark("state_transfer.block_applied");
        }
        self.trace(|| {
            format!(
                "r{r} BLOCK {} batch {} ({} transfers, {} applied) root {} hash {}{}",
                block.height,
                block.batch_digest,
                block.transfer_ids.len(),
                block.applied,
                block.state_root,
                block.hash,
                if block.executed { "" } else { " (fetched)" }
            )
        });
    }

    fn send_all(&mut self, r: usize, outbound: Vec<bftledger_consensus::Outbound>) {
        if outbound.is_empty() {
            return;
        }
        let sends: Vec<Send> = match self.nodes[r].byzantine.as_mut() {
            Some(byzantine) => byzantine.rewrite(&mut self.rng, outbound),
            None => {
                for out in &outbound {
                    self.record_signed(r, &out.message);
                    if let Some(tla) = &mut self.tla {
                        tla.on_sent(self.nodes[r].id, &out.message);
                    }
                }
                let (n, id) = (self.n(), self.nodes[r].id as usize);
                outbound
                    .into_iter()
                    .flat_map(|out| {
                        let targets: Vec<usize> = match out.to {
                            Target::All => (0..n).filter(|&t| t != id).collect(),
                            Target::One(t) => vec![t as usize],
                        };
                        targets.into_iter().map(move |to| Send {
                            to,
                            message: out.message.clone(),
                        })
                    })
                    .collect()
            }
        };
        self.transmit(r, sends);
    }

    /// Puts `sends` of slot `r` on the network (each to the instance of its replica that `r`
    /// talks to; nowhere if `r` is a twin instance the receiver does not talk to).
    fn transmit(&mut self, r: usize, sends: Vec<Send>) {
        for send in sends {
            assert!(
                send.to < self.n(),
                "slot {r} sent to unknown replica {}",
                send.to
            );
            let Some(slot) = self.routes.route(r, send.to) else {
                continue;
            };
            self.stats.messages_sent += 1;
            self.network.send(
                &mut self.rng,
                self.now,
                r,
                slot,
                Envelope::Consensus(send.message),
            );
        }
    }

    /// Feeds the no-conflicting-signatures checker with every vote a correct replica signs.
    fn record_signed(&mut self, r: usize, message: &SignedMessage) {
        if message.from != self.nodes[r].id {
            // A relayed message of another replica (e.g. a pre-prepare forwarded with its batch):
            // not signed by `r`. The receiver checks its signature like any other.
            self.mark("send.relayed");
            return;
        }
        let now = self.now;
        match &message.message {
            Message::PrePrepare { pre_prepare: p, .. } => {
                self.checker
                    .on_signed(now, r, SignedKind::PrePrepare, p.view, p.seq, p.digest)
            }
            Message::Prepare(p) => {
                self.checker
                    .on_signed(now, r, SignedKind::Prepare, p.view, p.seq, p.digest)
            }
            Message::Commit(c) => {
                self.checker
                    .on_signed(now, r, SignedKind::Commit, c.view, c.seq, c.digest);
                self.checker.on_commit_sent(r, c.view, c.seq);
            }
            Message::Checkpoint(c) => {
                self.checker
                    .on_signed(now, r, SignedKind::Checkpoint, 0, c.seq, c.state_root)
            }
            Message::NewView(new_view) => {
                for signed in &new_view.pre_prepares {
                    let p = signed.pre_prepare;
                    self.checker
                        .on_signed(now, r, SignedKind::PrePrepare, p.view, p.seq, p.digest);
                }
                let digest = Digest::of(&encode(new_view));
                self.checker
                    .on_signed(now, r, SignedKind::NewView, new_view.view, 0, digest);
            }
            Message::ViewChange(view_change) => {
                // One view-change per target view, re-sent unchanged (also after a restart).
                let digest = Digest::of(&encode(view_change));
                let view = view_change.new_view;
                self.checker
                    .on_signed(now, r, SignedKind::ViewChange, view, 0, digest);
                let window = self.config.settings.watermark_window_seqs;
                self.checker
                    .on_view_change_sent(now, r, view_change, window);
            }
            // A request, not a vote: nothing to check for conflicts.
            Message::FetchBatch(_) => self.mark("send.fetch_batch"),
        }
    }

    fn on_event(&mut self, r: usize, event: &Event) {
        let correct = self.is_correct(r);
        match event {
            Event::ViewEntered { view, .. } if correct => {
                self.stats.max_view = self.stats.max_view.max(*view);
                if let Some(tla) = &mut self.tla {
                    tla.on_view_entered(self.nodes[r].id, *view);
                }
                if let Some(settled) = self.settled_view.filter(|s| view > s) {
                    let primary = self.config.primary(settled);
                    let detail = format!(
                        "replica {r} entered view {view} after the cluster settled in view \
                         {settled}, whose primary {primary} is correct"
                    );
                    self.checker
                        .report(self.now, ViolationKind::CorrectPrimaryReplaced, detail);
                }
            }
            Event::ViewChangeStarted { view, cause } if correct => {
                self.stats.view_changes_started += 1;
                if self.nodes[r].fetch.is_some() {
                    self.mark("view_change.during_state_transfer");
                }
                if let ViewChangeCause::PrimaryFaulty(kind) = cause {
                    // Only a faulty primary can sign what a correct replica holds as proof.
                    let accused = self.config.primary(view - 1) as usize;
                    if !self.plan.is_byzantine(accused) {
                        let detail = format!(
                            "replica {r} accused the correct primary {accused} of view {} ({kind})",
                            view - 1
                        );
                        self.checker
                            .report(self.now, ViolationKind::FalseAccusation, detail);
                    }
                }
            }
            Event::StableCheckpoint { seq, .. } if correct => {
                self.stable_seen.insert(*seq);
            }
            Event::Rejected { reason, .. } => {
                self.stats.rejections += 1;
                self.mark(&format!("rejection.{}", reason.kind()));
            }
            _ => {}
        }
        if correct {
            let key = match event {
                Event::NewViewSent { .. } => Some("event.new_view_sent"),
                Event::StateTransferred { .. } => Some("event.state_transferred"),
                Event::ViewChangeStarted { .. } => Some("event.view_change_started"),
                _ => None,
            };
            if let Some(key) = key {
                self.mark(key);
            }
        }
        if self.options.trace && !matches!(event, Event::Rejected { .. } | Event::Proposed { .. }) {
            self.trace(|| format!("r{r} event {event:?}"));
        } else if self.options.trace {
            self.trace(|| format!("r{r} {event:?}"));
        }
    }

    fn finish_stats(&mut self) {
        let net = self.network.stats();
        self.stats.ticks = self.now;
        self.stats.stable_checkpoints = self.stable_seen.len() as u64;
        self.stats.dropped = net.dropped;
        self.stats.duplicated = net.duplicated;
        self.stats.partitioned = net.partitioned;
        self.stats.delivered = net.delivered;
        self.stats.highest_seq = self.checker.highest_executed();
        self.stats.byzantine_sent = self
            .nodes
            .iter()
            .filter_map(|n| n.byzantine.as_ref())
            .map(|b| b.sent)
            .sum();
    }
}

/// The consensus configuration of the simulated cluster: small windows and timeouts so that a
/// seed of a few thousand ticks takes many checkpoints, fills the watermark window, and goes
/// through view changes.
pub fn sim_config(validators: Vec<bftledger_crypto::PublicKey>, mutant: Option<Mutant>) -> Config {
    let mut config = Config::new(validators);
    config.settings.checkpoint_interval_seqs = 4;
    config.settings.watermark_window_seqs = 16;
    config.settings.max_batch_requests = 8;
    config.settings.max_request_bytes = 256;
    config.settings.max_batch_bytes = 8 * 256;
    config.settings.max_message_bytes = 1 << 20;
    config.settings.batch_delay_ticks = 2;
    config.settings.view_change_timeout_ticks = 60;
    config.settings.view_change_timeout_max_ticks = 480;
    config.settings.retransmit_ticks = 40;
    config.settings.max_pending_requests = 4096;
    config.settings.executed_requests_remembered = 1 << 16;
    config.mutant = mutant;
    config.validate().expect("the simulator's config is valid");
    config
}

/// One line per message for traces.
fn describe(message: &Message) -> String {
    match message {
        Message::PrePrepare {
            pre_prepare: p,
            batch,
        } => {
            format!(
                "PRE-PREPARE v{} n{} {} ({} requests)",
                p.view,
                p.seq,
                p.digest,
                batch.len()
            )
        }
        Message::Prepare(p) => format!("PREPARE v{} n{} {}", p.view, p.seq, p.digest),
        Message::Commit(c) => format!("COMMIT v{} n{} {}", c.view, c.seq, c.digest),
        Message::Checkpoint(c) => format!("CHECKPOINT n{} {}", c.seq, c.state_root),
        Message::ViewChange(view_change) => format!(
            "VIEW-CHANGE to v{} stable n{} ({} prepared)",
            view_change.new_view,
            view_change.stable.seq,
            view_change.prepared.len()
        ),
        Message::NewView(new_view) => format!(
            "NEW-VIEW v{} ({} view-changes, {} pre-prepares)",
            new_view.view,
            new_view.view_changes.len(),
            new_view.pre_prepares.len()
        ),
        Message::FetchBatch(f) => format!(
            "FETCH-BATCH v{} n{} {}",
            f.pre_prepare.view, f.pre_prepare.seq, f.pre_prepare.digest
        ),
    }
}
