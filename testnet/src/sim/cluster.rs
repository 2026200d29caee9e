//! A whole cluster of real [`Replica`]s in one process, driven by one seed.
//!
//! Each tick: apply the fault events due, let clients submit or retransmit, deliver every packet
//! due, tick every running replica, retry state transfers. Every replica step is followed by
//! `check_invariants()` and its output is honoured in the contract's order: persist (into the
//! replica's simulated disk) → send → execute (the toy application, then `Input::Executed`) →
//! fetch state → events. The checkers see every execution, state and signed vote of a correct
//! replica as it happens.
//!
//! **Crash-restart.** A crash is scheduled for a tick; it strikes the replica at its next step
//! either right after the step's persist ops are written but before its messages leave (the
//! nastiest point for "persist before send"), or right after the application executed a
//! committed batch but before the core is told (`Input::Executed`), or, if no such step comes
//! within `CRASH_WINDOW_TICKS`, at the end of a tick.
//! Volatile state and undelivered packets to it are lost. The disk (consensus key-value store)
//! and the application state are durable; `Replica::recover` rebuilds the replica from the
//! disk. Batches handed out again at or below the application's height are skipped (the
//! contract) after checking they are the ones executed before; their execution is reported to
//! the core with the block hash recorded then, as a node reads it from its block store.
//!
//! **Digests.** As in the node, the digest reported to the core after a batch (`Input::Executed`,
//! and so the checkpoint digest) is the hash of the block the application built for it
//! ([`crate::sim::app`]), and a state transfer installs a snapshot whose block hash is the
//! checkpoint's.
//!
//! **Liveness.** At `heal_at_tick` every fault ends (Byzantine replicas keep misbehaving).
//! Clients keep submitting for `submit_after_heal_ticks` more and retransmit anything fewer
//! than f+1 correct replicas executed. Within `liveness_ticks` after the heal, every request
//! ever submitted must be in the application state of every correct replica, else the seed
//! stalls.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};

use bftledger_consensus::durable;
use bftledger_consensus::{
    CommittedBatch, Config, Event, FetchState, Input, Message, Replica, Request, SignedMessage,
    Target, ViewChangeCause,
};
use bftledger_crypto::encoding::encode;
use bftledger_crypto::{Digest, SecretKey};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::sim::app::{AppState, ClientRequest, ToyValidator};
use crate::sim::byzantine::{Byzantine, DonorRole, Send};
use crate::sim::checker::{Checker, SignedKind, ViolationKind};
use crate::sim::faults::{FaultEvent, FaultKnobs, FaultPlan};
use crate::sim::network::{Endpoint, LinkFaults, Network};
use crate::sim::twins::TwinRoutes;
use crate::sim::{Mutant, SeedStats, SimOptions};

/// Simulated clients (one key each).
const CLIENTS: usize = 4;
/// One submission in this many is followed by a conflicting one (same nonce, other operation).
const DOUBLE_SPEND_ONE_IN: u32 = 16;
/// A pending request its replica's application applied this many of the replica's ticks ago
/// is stale (two client retry periods: every forward and relay has long arrived).
const STALE_PENDING_TICKS: u64 = 200;
/// Pending requests the stale check looks at per replica (the oldest).
const MAX_PENDING_REPORTED: usize = 64;
/// A donor answers a state-transfer request on a given tick with probability 1 in this.
const DONOR_ANSWERS_ONE_TICK_IN: u32 = 2;
/// Application snapshots kept per replica for state transfer donors.
const SNAPSHOTS_KEPT: usize = 8;
/// A scheduled crash waits this long for its crash point, then strikes at the end of a tick.
const CRASH_WINDOW_TICKS: u64 = 30;
/// Work items one replica may generate from one input before the simulator calls it a livelock.
const STEP_CASCADE_MAX: usize = 100_000;

/// What travels on the simulated network.
#[derive(Clone, Debug)]
enum Envelope {
    Consensus(SignedMessage),
    /// From a client: the receiving host forwards it to its peers once, as the node does.
    Client(Request),
    /// A client request from a peer (its forward, or the core's relay): not forwarded again.
    Forwarded(Request),
}

/// One replica slot: the running replica (if up) and everything durable about it.
struct Node {
    /// The replica id this slot runs (a twin's second instance shares it).
    id: u32,
    key: SecretKey,
    replica: Option<Replica<ToyValidator>>,
    /// The consensus layer's durable key-value store.
    disk: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Durable application state.
    app: AppState,
    /// Durable: block hash at each executed or installed seq (a node's block store).
    block_hashes: BTreeMap<u64, Digest>,
    /// Application states at checkpoint seqs, offered to peers for state transfer.
    snapshots: BTreeMap<u64, AppState>,
    /// A state transfer the replica asked for and the driver has not finished.
    fetch: Option<FetchState>,
    /// Set for Byzantine replicas.
    byzantine: Option<Byzantine>,
    /// A crash is due at this point of the replica's next step (or at the end of the tick).
    crash_pending: Option<(CrashPoint, u64)>,
    /// Thousandths of a tick this instance's clock has run beyond its last `Input::Tick`.
    clock_per_mille: u64,
}

/// Where in a replica's step a scheduled crash strikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CrashPoint {
    /// After the step's persist ops are durable, before any of its messages leaves.
    BeforeSend,
    /// After the application durably executed a committed batch, before the core is told.
    MidExecution,
}

/// A request some client submitted.
struct Submitted {
    client: u32,
    nonce: u64,
    request: Request,
    submitted_tick: u64,
    last_sent_tick: u64,
    /// The replica the client sent it to last.
    sent_to: usize,
}

/// The whole simulated world of one seed.
pub struct Cluster {
    seed: u64,
    options: SimOptions,
    rng: ChaCha8Rng,
    config: Config,
    validator: ToyValidator,
    /// The application's block identity covers the view (the mutant `view-in-block-hash`).
    view_in_block_hash: bool,
    /// One per slot: the replicas, then the second instances of twins (`crate::sim::twins`).
    nodes: Vec<Node>,
    routes: TwinRoutes,
    network: Network<Envelope>,
    client_keys: Vec<SecretKey>,
    next_nonce: Vec<u64>,
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
}

/// The outcome of one seed.
#[derive(Clone, Debug)]
pub struct SeedOutcome {
    /// The seed.
    pub seed: u64,
    /// A broken safety property, if any (the first one).
    pub violation: Option<crate::sim::checker::Violation>,
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

impl Cluster {
    /// Builds the cluster for `seed`: keys, configuration, fault plan, replicas.
    pub fn new(seed: u64, options: SimOptions) -> Cluster {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = options.replicas;
        let keys: Vec<SecretKey> = (0..n)
            .map(|_| SecretKey::from_bytes(&rng.random()))
            .collect();
        let client_keys: Vec<SecretKey> = (0..CLIENTS)
            .map(|_| SecretKey::from_bytes(&rng.random()))
            .collect();
        let config = sim_config(keys.iter().map(SecretKey::public).collect(), options.mutant);
        let validator = ToyValidator::new(client_keys.iter().map(SecretKey::public).collect());
        let knobs = FaultKnobs {
            replicas: n,
            byzantine: options.byzantine,
            fault_ticks: rng.random_range(options.fault_ticks / 2..=options.fault_ticks),
            delay_ticks_max: 8,
            crashes: options.crashes,
        };
        let plan = FaultPlan::draw(&mut rng, knobs);
        let routes = TwinRoutes::new(n, plan.twinned());
        let nodes: Vec<Node> = (0..routes.slots())
            .map(|slot| {
                let (id, _) = routes.instance(slot);
                let key = keys[id].clone();
                let replica =
                    Replica::new(config.clone(), id as u32, key.clone(), validator.clone());
                let byzantine = plan.byzantine[id]
                    .map(|strategy| Byzantine::new(strategy, id as u32, n, key.clone()));
                let mut snapshots = BTreeMap::new();
                snapshots.insert(0, AppState::genesis());
                Node {
                    id: id as u32,
                    key,
                    replica: Some(replica),
                    disk: BTreeMap::new(),
                    app: AppState::genesis(),
                    block_hashes: BTreeMap::from([(0, AppState::genesis().block_hash())]),
                    snapshots,
                    fetch: None,
                    byzantine,
                    crash_pending: None,
                    clock_per_mille: 0,
                }
            })
            .collect();
        let correct = (0..routes.slots())
            .map(|slot| !plan.is_byzantine(routes.instance(slot).0))
            .collect();
        // Endpoint `slots` is the clients' side of the network.
        let network = Network::new(routes.slots() + 1, plan.link_faults);
        Cluster {
            seed,
            options,
            rng,
            config,
            validator,
            view_in_block_hash: options.mutant == Some(Mutant::ViewInBlockHash),
            nodes,
            routes,
            network,
            client_keys,
            next_nonce: vec![0; CLIENTS],
            submitted: Vec::new(),
            checker: Checker::new(correct),
            plan,
            now: 0,
            stats: SeedStats::default(),
            stable_seen: BTreeSet::new(),
            coverage: BTreeMap::new(),
            settled_view: None,
        }
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

    /// Runs the seed to the end: success, first violation, or stall.
    pub fn run(mut self) -> SeedOutcome {
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
        SeedOutcome {
            seed: self.seed,
            violation,
            stall,
            stats: self.stats,
            coverage: self.coverage,
        }
    }

    /// At the end of a run: no correct replica still waits on a request its own application
    /// applied more than [`STALE_PENDING_TICKS`] of its ticks ago. Such a request is never
    /// ordered again (every correct host drops it, as the node's mempool does), so it fires the
    /// replica's view-change timer against a correct primary (a second copy kept pending under
    /// its bytes, issue 11 item 7).
    fn check_no_stale_pending(&mut self) {
        let stale: Vec<String> = (0..self.slots())
            .filter(|&r| self.is_correct(r))
            .filter_map(|r| {
                let replica = self.nodes[r].replica.as_ref()?;
                let now = replica.now_ticks();
                let found: Vec<String> = replica
                    .oldest_pending(MAX_PENDING_REPORTED)
                    .iter()
                    .filter(|p| p.since_tick + STALE_PENDING_TICKS < now)
                    .filter_map(|p| {
                        let c = ClientRequest::decode(&p.request)?;
                        self.nodes[r].app.contains(c.client, c.nonce).then(|| {
                            format!(
                                "client {} nonce {} since tick {} (in log {})",
                                c.client, c.nonce, p.since_tick, p.in_log
                            )
                        })
                    })
                    .collect();
                (!found.is_empty()).then(|| format!("r{r} at tick {now}: {found:?}"))
            })
            .collect();
        if !stale.is_empty() {
            let detail = format!(
                "correct replicas wait on requests their application applied long ago: {}",
                stale.join("; ")
            );
            self.checker
                .report(self.now, ViolationKind::StalePending, detail);
        }
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
            match &self.nodes[r].replica {
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
                if self.nodes[replica].replica.is_some() {
                    let point = if self.rng.random_bool(0.5) {
                        CrashPoint::BeforeSend
                    } else {
                        CrashPoint::MidExecution
                    };
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
        if node.replica.take().is_some() {
            if node.fetch.take().is_some() {
                self.mark("crash.during_state_transfer");
            }
            self.stats.crashes += 1;
            self.mark(match point {
                Some(CrashPoint::BeforeSend) => "crash.after_persist_before_send",
                Some(CrashPoint::MidExecution) => "crash.after_execute_before_report",
                None => "crash.between_steps",
            });
            self.trace(|| format!("r{r} CRASH at {point:?}"));
        }
    }

    /// Counts a coverage mark: proof that a rare path ran.
    fn mark(&mut self, key: &str) {
        *self.coverage.entry(key.to_string()).or_insert(0) += 1;
    }

    fn crash_due(&self, r: usize, point: CrashPoint) -> bool {
        self.nodes[r].crash_pending.is_some_and(|(p, _)| p == point)
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

    fn restart(&mut self, r: usize) {
        if self.nodes[r].replica.is_some() {
            return;
        }
        let node = &self.nodes[r];
        let durable: Vec<(Vec<u8>, Vec<u8>)> = node
            .disk
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let (config, key, validator) = (
            self.config.clone(),
            node.key.clone(),
            self.validator.clone(),
        );
        let recovered = catch_unwind(AssertUnwindSafe(|| {
            Replica::recover(config, r as u32, key, validator, durable)
        }));
        let recovered = match recovered {
            Ok(recovered) => recovered,
            Err(payload) => {
                let message = crate::sim::panic_message(payload.as_ref());
                let detail = format!("replica {r} panicked in Replica::recover: {message}");
                self.checker.report(self.now, ViolationKind::Panic, detail);
                return;
            }
        };
        match recovered {
            Ok(replica) => {
                let app_seq = self.nodes[r].app.last_executed_seq();
                self.trace(|| format!("r{r} RESTART {replica:?} app at seq {app_seq}"));
                if self.is_correct(r) && replica.last_executed() > app_seq {
                    let detail = format!(
                        "replica {r} recovered with last_executed {} but its application is at seq {app_seq} \
                         (it will never be handed seqs {}..={})",
                        replica.last_executed(),
                        app_seq + 1,
                        replica.last_executed()
                    );
                    self.checker
                        .report(self.now, ViolationKind::ExecutionOrder, detail);
                }
                self.checker.on_restart(r, app_seq);
                self.nodes[r].replica = Some(replica);
                self.stats.restarts += 1;
            }
            Err(error) => {
                let detail =
                    format!("replica {r} cannot recover from its own durable state: {error}");
                self.checker.report(self.now, ViolationKind::Panic, detail);
            }
        }
    }

    // ----- clients -----

    fn submit_requests(&mut self) {
        if !self
            .rng
            .random_ratio(1, self.options.submit_every_ticks.max(1) as u32)
        {
            return;
        }
        let client = self.rng.random_range(0..CLIENTS);
        let nonce = self.next_nonce[client];
        self.next_nonce[client] += 1;
        let op = self.rng.random();
        let request =
            ClientRequest::sign(&self.client_keys[client], client as u32, nonce, op).encode();
        self.checker.client_request(request.digest());
        self.trace(|| {
            format!(
                "client {client} submits nonce {nonce} ({})",
                request.digest()
            )
        });
        self.stats.requests_submitted += 1;
        let to = self.rng.random_range(0..self.n());
        self.send_request(&request, to);
        if self.rng.random_ratio(1, DOUBLE_SPEND_ONE_IN) {
            // A double spend: another operation under the same nonce, to another validator.
            let other = ClientRequest::sign(&self.client_keys[client], client as u32, nonce, !op);
            let other = other.encode();
            self.checker.client_request(other.digest());
            self.mark("client.double_spend");
            let elsewhere = (to + self.rng.random_range(1..self.n())) % self.n();
            self.send_request(&other, elsewhere);
        }
        self.submitted.push(Submitted {
            client: client as u32,
            nonce,
            request,
            submitted_tick: self.now,
            last_sent_tick: self.now,
            sent_to: to,
        });
    }

    /// A client sends `request` to one validator, as a real client does (the validator
    /// forwards it to its peers). A twinned validator is two processes: the client reaches one.
    fn send_request(&mut self, request: &Request, to: usize) {
        let instance = if self.routes.is_twinned(to) {
            self.rng.random_range(0..2)
        } else {
            0
        };
        let slot = self.routes.slot(to, instance);
        let clients = self.clients_endpoint();
        let envelope = Envelope::Client(request.clone());
        self.network
            .send(&mut self.rng, self.now, clients, slot, envelope);
    }

    /// Clients re-send a request until f+1 correct replicas executed it (f+1 matching replies),
    /// each time to another validator than the last (a timed-out client suspects it).
    fn retransmit_requests(&mut self) {
        let retry = self.options.client_retry_ticks;
        let needed = self.config.f() + 1;
        let mut resend = Vec::new();
        for (index, s) in self.submitted.iter().enumerate() {
            if self.now < s.last_sent_tick + retry {
                continue;
            }
            let replies = (0..self.slots())
                .filter(|&r| self.is_correct(r) && self.nodes[r].app.contains(s.client, s.nonce))
                .count();
            if replies < needed {
                resend.push(index);
            }
        }
        for index in resend {
            let request = self.submitted[index].request.clone();
            let last = self.submitted[index].sent_to;
            let to = (last + self.rng.random_range(1..self.n())) % self.n();
            self.submitted[index].last_sent_tick = self.now;
            self.submitted[index].sent_to = to;
            self.stats.client_retransmissions += 1;
            self.send_request(&request, to);
        }
    }

    /// Whether every correct replica's state holds every request submitted before `until`.
    fn all_requests_everywhere(&self, until: u64) -> bool {
        (0..self.slots()).filter(|&r| self.is_correct(r)).all(|r| {
            self.submitted
                .iter()
                .filter(|s| s.submitted_tick < until)
                .all(|s| self.nodes[r].app.contains(s.client, s.nonce))
        })
    }

    fn describe_stall(&self) -> String {
        let mut parts = Vec::new();
        for r in (0..self.slots()).filter(|&r| self.is_correct(r)) {
            let submit_end = self.plan.heal_at_tick + self.options.submit_after_heal_ticks;
            let missing = self
                .submitted
                .iter()
                .filter(|s| {
                    s.submitted_tick < submit_end && !self.nodes[r].app.contains(s.client, s.nonce)
                })
                .count();
            let status = match &self.nodes[r].replica {
                Some(replica) => format!("{replica:?} pending={}", replica.pending_requests()),
                None => "down".to_string(),
            };
            parts.push(format!(
                "r{r}: {missing} requests missing, app seq {}, {status}",
                self.nodes[r].app.last_executed_seq()
            ));
        }
        format!(
            "{} ticks after the heal at tick {}, of {} requests: {}",
            self.options.liveness_ticks,
            self.plan.heal_at_tick,
            self.submitted.len(),
            parts.join("; ")
        )
    }

    // ----- delivery and ticks -----

    fn deliver_due(&mut self) {
        while let Some(packet) = self.network.pop_due(self.now) {
            if packet.to >= self.slots() {
                continue; // nothing listens on the clients' endpoint
            }
            if self.nodes[packet.to].replica.is_none() {
                self.stats.lost_to_crash += 1;
                continue;
            }
            let from_client = matches!(packet.message, Envelope::Client(_));
            let input = match packet.message {
                Envelope::Client(request) | Envelope::Forwarded(request) => {
                    let byzantine = self.nodes[packet.to].byzantine.as_ref();
                    if byzantine.is_some_and(|b| b.drops_request(&request)) {
                        continue;
                    }
                    // As the node's mempool admits a transfer only above its sender's stored
                    // nonce, a host never hands its core a request its application already
                    // applied (after a restart or a state transfer the core cannot know).
                    let applied = ClientRequest::decode(&request)
                        .is_some_and(|c| self.nodes[packet.to].app.contains(c.client, c.nonce));
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
            .replica
            .as_ref()
            .map_or(0, |rep| rep.primary() as usize);
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
            if self.nodes[r].replica.is_none() {
                continue;
            }
            let rate = self.plan.tick_per_mille[self.nodes[r].id as usize];
            self.nodes[r].clock_per_mille += rate;
            while self.nodes[r].clock_per_mille >= 1000 && self.nodes[r].replica.is_some() {
                self.nodes[r].clock_per_mille -= 1000;
                self.drive(r, Input::Tick);
            }
        }
    }

    fn retry_fetches(&mut self) {
        for r in 0..self.slots() {
            if self.checker.violation().is_some() {
                return;
            }
            let Some(fetch) = self.nodes[r].fetch.clone() else {
                continue;
            };
            let Some(snapshot) = self.fetch_snapshot(r, &fetch) else {
                continue;
            };
            let node = &mut self.nodes[r];
            node.fetch = None;
            if fetch.seq <= node.app.last_executed_seq() {
                self.trace(|| {
                    format!(
                        "r{r} fetch of seq {} is stale: app at {}",
                        fetch.seq,
                        self.nodes[r].app.last_executed_seq()
                    )
                });
                continue;
            }
            let state_root = snapshot.state_root();
            node.app = snapshot.clone();
            node.block_hashes.insert(fetch.seq, fetch.state_root);
            node.snapshots.insert(fetch.seq, snapshot);
            while node.snapshots.len() > SNAPSHOTS_KEPT {
                node.snapshots.pop_first();
            }
            self.stats.state_transfers += 1;
            self.checker
                .on_state_transfer(self.now, r, fetch.seq, state_root);
            self.checker
                .on_block(self.now, r, fetch.seq, fetch.state_root);
            self.trace(|| {
                format!(
                    "r{r} STATE TRANSFER to seq {} block {} root {state_root}",
                    fetch.seq, fetch.state_root
                )
            });
            self.drive(
                r,
                Input::StateTransferred {
                    seq: fetch.seq,
                    state_root: fetch.state_root,
                },
            );
        }
    }

    /// Asks the other running instances, in random order, for the state at `fetch.seq`; a
    /// donor may be slow (no answer this tick) and a Byzantine one lies (another height, or a
    /// tampered state) or withholds. The first answer whose height and block hash are those of
    /// the checkpoint 2f+1 (or f+1) validators signed is installed; the others are refused, as
    /// the node's `install_snapshot` does. The mutant `unchecked-snapshot` installs the first
    /// answer unchecked.
    fn fetch_snapshot(&mut self, r: usize, fetch: &FetchState) -> Option<AppState> {
        let mut donors: Vec<usize> = (0..self.slots())
            .filter(|&d| d != r && self.nodes[d].replica.is_some())
            .collect();
        donors.shuffle(&mut self.rng);
        let unchecked = self.options.mutant == Some(Mutant::UncheckedSnapshot);
        for donor in donors {
            if !self.rng.random_ratio(1, DONOR_ANSWERS_ONE_TICK_IN) {
                continue; // slow: no answer yet
            }
            let Some(snapshot) = self.donor_answer(donor, fetch) else {
                continue;
            };
            let genuine = snapshot.last_executed_seq() == fetch.seq
                && snapshot.block_hash() == fetch.state_root;
            if genuine || unchecked {
                return Some(snapshot);
            }
            self.mark("state_transfer.refused_snapshot");
            self.trace(|| format!("r{r} refuses the snapshot of r{donor}"));
        }
        None
    }

    /// What `donor` serves for `fetch`: a correct one its snapshot at that height, if it kept
    /// one; a Byzantine one (unless silent, or a twin, which runs honestly) withholds or lies.
    fn donor_answer(&mut self, donor: usize, fetch: &FetchState) -> Option<AppState> {
        let node = &self.nodes[donor];
        let role = node
            .byzantine
            .as_ref()
            .map_or(DonorRole::Honest, Byzantine::donor_role);
        match role {
            DonorRole::Honest => return node.snapshots.get(&fetch.seq).cloned(),
            DonorRole::Silent => return None,
            DonorRole::Liar => {}
        }
        let (latest, exact) = (
            node.snapshots.last_key_value().map(|(_, s)| s.clone()),
            node.snapshots.get(&fetch.seq).cloned(),
        );
        let answer = match self.rng.random_range(0..3) {
            0 => None,
            1 => latest.filter(|s| s.last_executed_seq() != fetch.seq),
            _ => exact.or(latest).map(|s| s.tampered()),
        };
        self.mark(match answer {
            None => "state_transfer.donor_withheld",
            Some(_) => "state_transfer.donor_lied",
        });
        answer
    }

    // ----- one replica step and its output -----

    /// Feeds `input` to replica `r`, then everything its outputs feed back (executions).
    fn drive(&mut self, r: usize, input: Input) {
        if self.checker.violation().is_some() {
            return;
        }
        let mut work = VecDeque::from([input]);
        let mut steps = 0;
        while let Some(input) = work.pop_front() {
            steps += 1;
            assert!(
                steps < STEP_CASCADE_MAX,
                "replica {r} livelocked on its own outputs"
            );
            let Some(replica) = self.nodes[r].replica.as_mut() else {
                return;
            };
            // A panic of the core is a broken invariant: report it with the tick and replica.
            let stepped = catch_unwind(AssertUnwindSafe(|| {
                let output = replica.step(input);
                replica.check_invariants();
                output
            }));
            let mut output = match stepped {
                Ok(output) => output,
                Err(payload) => {
                    let detail = format!(
                        "replica {r}: {}",
                        crate::sim::panic_message(payload.as_ref())
                    );
                    self.checker.report(self.now, ViolationKind::Panic, detail);
                    self.trace(|| format!("r{r} PANIC"));
                    return;
                }
            };
            let ops = output.take_persist();
            // The mutant `send-before-persist` writes after the sends (host-level).
            let send_first = self.options.mutant == Some(Mutant::SendBeforePersist);
            if !send_first {
                durable::apply(&mut self.nodes[r].disk, &ops);
            }
            self.stats.persist_ops += ops.len() as u64;
            let actions = output.persisted();
            if self.crash_due(r, CrashPoint::BeforeSend) && !actions.send.is_empty() {
                // Crash after the write, before the sends (the mutant: after the sends,
                // before the write).
                if send_first {
                    self.send_all(r, actions.send);
                }
                self.crash(r);
                return;
            }
            if send_first {
                durable::apply(&mut self.nodes[r].disk, &ops);
            }
            for event in &actions.events {
                self.on_event(r, event);
            }
            self.send_all(r, actions.send);
            if let Some(relay) = actions.relay {
                self.mark("request_relayed");
                for request in relay.requests {
                    if let Some(slot) = self.routes.route(r, relay.to as usize) {
                        let envelope = Envelope::Forwarded(request);
                        self.network
                            .send(&mut self.rng, self.now, r, slot, envelope);
                    }
                }
            }
            for batch in actions.execute {
                let reply = self.execute(r, batch);
                if self.crash_due(r, CrashPoint::MidExecution) {
                    // The application applied the batch (durably); the core never hears of it.
                    self.crash(r);
                    return;
                }
                if let Some(reply) = reply {
                    work.push_back(reply);
                }
                if self.checker.violation().is_some() {
                    return;
                }
            }
            if let Some(fetch) = actions.fetch_state {
                self.trace(|| {
                    format!(
                        "r{r} asks for state at seq {} root {}",
                        fetch.seq, fetch.state_root
                    )
                });
                self.nodes[r].fetch = Some(fetch);
            }
        }
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
                let window = self.config.watermark_window;
                self.checker
                    .on_view_change_sent(now, r, view_change, window);
            }
            // A request, not a vote: nothing to check for conflicts.
            Message::FetchBatch(_) => self.mark("send.fetch_batch"),
        }
    }

    /// Executes one committed batch in the application; returns the report for the core.
    fn execute(&mut self, r: usize, batch: CommittedBatch) -> Option<Input> {
        let correct = self.is_correct(r);
        let app_seq = self.nodes[r].app.last_executed_seq();
        let request_digests: Vec<Digest> = batch.requests.iter().map(Request::digest).collect();
        if batch.seq <= app_seq {
            // Handed out again after a restart: already applied (durable application state).
            let Some(&block_hash) = self.nodes[r].block_hashes.get(&batch.seq) else {
                // Below the height, but never executed here: skipped by a state transfer.
                let detail = format!(
                    "replica {r} was handed seq {} below its application height {app_seq}, \
                     a seq it skipped by state transfer and has no block for",
                    batch.seq
                );
                if correct {
                    self.checker
                        .report(self.now, ViolationKind::ExecutionOrder, detail);
                }
                return None;
            };
            self.checker
                .on_reexecute(self.now, r, batch.seq, batch.digest, &request_digests);
            self.stats.skipped_reexecutions += 1;
            self.mark("execute.skipped_after_restart");
            return Some(Input::Executed {
                seq: batch.seq,
                state_root: block_hash,
            });
        }
        self.checker
            .on_execute(self.now, r, batch.seq, batch.digest, &request_digests);
        if batch.seq != app_seq + 1 {
            // The checker reported the gap (for correct replicas); a Byzantine one just stops.
            return None;
        }
        let node = &mut self.nodes[r];
        let execution = node.app.execute(&batch, self.view_in_block_hash);
        node.block_hashes.insert(batch.seq, execution.block_hash);
        if batch.seq.is_multiple_of(self.config.checkpoint_interval) {
            node.snapshots.insert(batch.seq, node.app.clone());
            while node.snapshots.len() > SNAPSHOTS_KEPT {
                node.snapshots.pop_first();
            }
        }
        if correct {
            self.stats.batches_executed += 1;
            self.stats.requests_executed += execution.applied;
            self.stats.duplicate_requests_skipped += execution.duplicates;
            if batch.requests.is_empty() {
                self.stats.null_batches += 1;
            }
        }
        self.checker
            .on_state(self.now, r, batch.seq, execution.state_root);
        self.checker
            .on_block(self.now, r, batch.seq, execution.block_hash);
        self.trace(|| {
            format!(
                "r{r} EXECUTE view {} seq {} digest {} ({} requests, {} applied) root {} block {}",
                batch.view,
                batch.seq,
                batch.digest,
                batch.requests.len(),
                execution.applied,
                execution.state_root,
                execution.block_hash
            )
        });
        // The checkpoint digest is the block hash, as in the node.
        Some(Input::Executed {
            seq: batch.seq,
            state_root: execution.block_hash,
        })
    }

    fn on_event(&mut self, r: usize, event: &Event) {
        let correct = self.is_correct(r);
        match event {
            Event::ViewEntered { view, .. } if correct => {
                self.stats.max_view = self.stats.max_view.max(*view);
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
    config.checkpoint_interval = 4;
    config.watermark_window = 16;
    config.max_batch_requests = 8;
    config.max_request_bytes = 256;
    config.max_batch_bytes = 8 * 256;
    config.max_message_bytes = 1 << 20;
    config.batch_delay_ticks = 2;
    config.view_change_timeout_ticks = 60;
    config.view_change_timeout_max_ticks = 480;
    config.retransmit_ticks = 40;
    config.max_pending_requests = 4096;
    config.executed_requests_remembered = 1 << 16;
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
