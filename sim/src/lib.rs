//! The seeded deterministic simulator (TigerBeetle's VOPR, for PBFT), driven by the
//! `bftledger-sim` binary (`sim/SIMULATOR.md`):
//!
//! ```text
//! bftledger-sim --seeds 1000 --replicas 4 --byzantine 1      # 1000 seeds, summary as JSON
//! bftledger-sim --seed 17 --replicas 4 --byzantine 1 --trace # replay one seed, print its events
//! bftledger-sim --seeds 300 --mutant weak-quorum             # must find a violation
//! bftledger-sim --seed 54 --tla-trace PBFTTraceData.tla      # its TLA+ trace (tla_trace)
//! ```
//!
//! One seed decides everything: keys, the fault plan (link loss, duplication, delays,
//! partitions, crash-restarts, which replicas are Byzantine and how), when clients submit, and
//! every random choice of the network and of the Byzantine strategies. The same seed and
//! options replay the same run exactly, step for step.
//!
//! ```no_run
//! use bftledger_sim::{run_seed, SimOptions};
//! let outcome = run_seed(42, &SimOptions::new(4, 1));
//! assert!(outcome.violation.is_none() && outcome.stall.is_none());
//! ```

pub mod bank;
pub mod byzantine;
pub mod checker;
pub mod cluster;
pub mod faults;
pub mod network;
pub mod tla_trace;
pub mod twins;

use std::any::Any;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use crate::checker::{Violation, ViolationKind};
use crate::cluster::{Cluster, SeedOutcome};

/// A deliberately broken protocol rule the checkers must catch (violation or stall).
pub use bftledger_consensus::Mutant;

/// What to simulate.
#[derive(Clone, Copy, Debug)]
pub struct SimOptions {
    /// Replicas (n >= 4).
    pub replicas: usize,
    /// Byzantine replicas (at most f for the checkers to expect safety and liveness).
    pub byzantine: usize,
    /// A protocol mutant, if any.
    pub mutant: Option<Mutant>,
    /// Print every event of the run.
    pub trace: bool,
    /// Upper bound of the fault period in ticks (each seed draws between half and all of it).
    pub fault_ticks: u64,
    /// Liveness bound: ticks after the heal within which every request must be executed by
    /// every correct replica.
    pub liveness_ticks: u64,
    /// Clients keep submitting this long after the heal.
    pub submit_after_heal_ticks: u64,
    /// On average one new client request every this many ticks.
    pub submit_every_ticks: u64,
    /// A client re-sends a request not yet executed by f+1 correct replicas after this long.
    pub client_retry_ticks: u64,
    /// Whether correct replicas crash and restart.
    pub crashes: bool,
}

impl SimOptions {
    /// Defaults for `replicas` replicas of which `byzantine` are Byzantine.
    pub fn new(replicas: usize, byzantine: usize) -> SimOptions {
        SimOptions {
            replicas,
            byzantine,
            mutant: None,
            trace: false,
            fault_ticks: 300,
            // Worst case after the heal: view-change timers grown to their cap (480 ticks) on
            // every correct replica, then up to f consecutive faulty primaries (60, 120, 240,
            // ... ticks each) before a correct one, then state transfer for laggards. 4000
            // leaves a wide margin so that a stall is a bug, not a tight bound.
            liveness_ticks: 4000,
            submit_after_heal_ticks: 100,
            submit_every_ticks: 6,
            client_retry_ticks: 100,
            crashes: true,
        }
    }

    /// The command that replays `seed` with these options.
    pub fn replay_command(&self, seed: u64) -> String {
        let defaults = SimOptions::new(self.replicas, self.byzantine);
        let mut extra = self
            .mutant
            .map(|m| format!(" --mutant {}", m.name()))
            .unwrap_or_default();
        if self.fault_ticks != defaults.fault_ticks {
            extra += &format!(" --fault-ticks {}", self.fault_ticks);
        }
        if self.liveness_ticks != defaults.liveness_ticks {
            extra += &format!(" --liveness-ticks {}", self.liveness_ticks);
        }
        if !self.crashes {
            extra += " --no-crashes";
        }
        format!(
            "cargo run --release -p bftledger-sim --bin bftledger-sim -- --seed {seed} --replicas {} --byzantine {}{extra} --trace",
            self.replicas, self.byzantine
        )
    }
}

/// Counters of one seed (and, summed, of a run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SeedStats {
    /// Ticks simulated.
    pub ticks: u64,
    /// Batches executed by correct replicas (summed over replicas).
    pub batches_executed: u64,
    /// Of which null batches (from view changes).
    pub null_batches: u64,
    /// Highest sequence number executed.
    pub highest_seq: u64,
    /// Client requests submitted.
    pub requests_submitted: u64,
    /// Requests applied by correct replicas (summed over replicas).
    pub requests_executed: u64,
    /// Requests ordered again and skipped by the application.
    pub duplicate_requests_skipped: u64,
    /// Client retransmissions.
    pub client_retransmissions: u64,
    /// Highest view entered by a correct replica (= completed view changes in the seed).
    pub max_view: u64,
    /// View changes started by correct replicas.
    pub view_changes_started: u64,
    /// Distinct stable checkpoints seen by correct replicas.
    pub stable_checkpoints: u64,
    /// State transfers installed.
    pub state_transfers: u64,
    /// Crashes.
    pub crashes: u64,
    /// Restarts (recoveries from the durable store).
    pub restarts: u64,
    /// Batches handed out again after a restart and skipped.
    pub skipped_reexecutions: u64,
    /// Consensus messages put on the network.
    pub messages_sent: u64,
    /// Packets delivered.
    pub delivered: u64,
    /// Packets lost to random loss.
    pub dropped: u64,
    /// Packets duplicated.
    pub duplicated: u64,
    /// Packets lost to partitions.
    pub partitioned: u64,
    /// Packets lost because the receiver was down.
    pub lost_to_crash: u64,
    /// Messages sent by Byzantine strategies.
    pub byzantine_sent: u64,
    /// Inputs replicas rejected (all replicas).
    pub rejections: u64,
    /// Synced writes of persist ops (one per group of steps, as in the node).
    pub persist_groups: u64,
}

impl SeedStats {
    fn add(&mut self, other: &SeedStats) {
        self.ticks += other.ticks;
        self.batches_executed += other.batches_executed;
        self.null_batches += other.null_batches;
        self.highest_seq += other.highest_seq;
        self.requests_submitted += other.requests_submitted;
        self.requests_executed += other.requests_executed;
        self.duplicate_requests_skipped += other.duplicate_requests_skipped;
        self.client_retransmissions += other.client_retransmissions;
        self.max_view += other.max_view;
        self.view_changes_started += other.view_changes_started;
        self.stable_checkpoints += other.stable_checkpoints;
        self.state_transfers += other.state_transfers;
        self.crashes += other.crashes;
        self.restarts += other.restarts;
        self.skipped_reexecutions += other.skipped_reexecutions;
        self.messages_sent += other.messages_sent;
        self.delivered += other.delivered;
        self.dropped += other.dropped;
        self.duplicated += other.duplicated;
        self.partitioned += other.partitioned;
        self.lost_to_crash += other.lost_to_crash;
        self.byzantine_sent += other.byzantine_sent;
        self.rejections += other.rejections;
        self.persist_groups += other.persist_groups;
    }
}

thread_local! {
    /// The last panic on this thread, with its location, as recorded by the hook of
    /// [`install_panic_recorder`].
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Replaces the default panic hook (which prints to stderr) by one that records the message and
/// location for the seed's report. For the binary; tests keep the default hook.
pub fn install_panic_recorder() {
    std::panic::set_hook(Box::new(|info| {
        let text = info.to_string();
        LAST_PANIC.with(|last| *last.borrow_mut() = Some(text.replace('\n', " ")));
    }));
}

/// The text of a caught panic: the recorded message with its location if the recorder is
/// installed, else the payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(recorded) = LAST_PANIC.with(|last| last.borrow_mut().take()) {
        return recorded;
    }
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "non-string panic".to_string())
}

/// Runs one seed; a panic of the core (a broken invariant) is reported as a violation.
pub fn run_seed(seed: u64, options: &SimOptions) -> SeedOutcome {
    let options = *options;
    // Every replica of the cluster verifies on this thread: remember verdicts (see the module).
    bftledger_crypto::verdict_memo::enable();
    match catch_unwind(AssertUnwindSafe(|| Cluster::new(seed, options).run())) {
        Ok(outcome) => outcome,
        Err(panic) => {
            let message = panic_message(panic.as_ref());
            SeedOutcome {
                seed,
                violation: Some(Violation {
                    tick: 0,
                    kind: ViolationKind::Panic,
                    detail: message,
                }),
                stall: None,
                stats: SeedStats::default(),
                coverage: Default::default(),
            }
        }
    }
}

/// Runs one seed as [`run_seed`] does and records what its correct replicas did as a TLA+
/// trace ([`tla_trace`]), keeping sequence numbers 1..=`max_seq`. Returns the [`Summary`] of
/// that one seed too (the binary's last line). A panic of a replica is a violation, as in
/// [`run_seed`]; the trace then holds what happened before it.
pub fn run_seed_with_tla_trace(
    seed: u64,
    options: &SimOptions,
    max_seq: u64,
) -> (SeedOutcome, Summary, tla_trace::TlaTrace) {
    let started = Instant::now();
    bftledger_crypto::verdict_memo::enable();
    let mut cluster = Cluster::new(seed, *options);
    cluster.record_tla_trace(max_seq);
    let (outcome, trace) = cluster.run_traced();
    let trace = trace.expect("record_tla_trace asked for a trace");
    let summary = summarize(
        seed,
        options,
        std::slice::from_ref(&outcome),
        started.elapsed().as_secs_f64(),
    );
    (outcome, summary, trace)
}

/// The result of many seeds: the JSON line the binary prints last.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Seeds run.
    pub seeds: u64,
    /// First seed.
    pub first_seed: u64,
    /// Replicas.
    pub replicas: usize,
    /// Byzantine replicas.
    pub byzantine: usize,
    /// The mutant, if any.
    pub mutant: Option<&'static str>,
    /// Seeds with a safety violation.
    pub violations: u64,
    /// Seeds that stalled.
    pub stalls: u64,
    /// Failing seeds (first 20).
    pub failing_seeds: Vec<u64>,
    /// With a mutant: the first seed that found a violation.
    pub first_failing_seed: Option<u64>,
    /// Batches executed by correct replicas, summed.
    pub executed: u64,
    /// Completed view changes (highest view per seed, summed).
    pub view_changes: u64,
    /// Stable checkpoints (distinct per seed, summed).
    pub checkpoints: u64,
    /// State transfers.
    pub state_transfers: u64,
    /// Crashes (each followed by a restart).
    pub crashes: u64,
    /// Packets dropped (loss).
    pub dropped: u64,
    /// Packets duplicated.
    pub duplicated: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Seeds per second.
    pub seeds_per_second: f64,
    /// All counters, summed.
    pub totals: SeedStats,
    /// Coverage marks, summed (rare paths taken, rejection kinds, Byzantine strategies by seed).
    pub coverage: BTreeMap<String, u64>,
}

/// Runs seeds `first..first + count` on `jobs` threads. With a mutant, stops at the first
/// failing seed (violation or stall) (all lower seeds still complete, so the answer does not depend on `jobs`).
/// `on_outcome` sees every outcome as it completes (for printing failures).
pub fn run_seeds(
    first: u64,
    count: u64,
    options: &SimOptions,
    jobs: usize,
    on_outcome: &(dyn Fn(&SeedOutcome) + Sync),
) -> Summary {
    let started = Instant::now();
    let next = AtomicU64::new(first);
    let stop = AtomicBool::new(false);
    let outcomes: Mutex<Vec<SeedOutcome>> = Mutex::new(Vec::new());
    let end = first.saturating_add(count);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let seed = next.fetch_add(1, Ordering::SeqCst);
                if seed >= end {
                    return;
                }
                let outcome = run_seed(seed, options);
                on_outcome(&outcome);
                if options.mutant.is_some() && outcome.failed() {
                    stop.store(true, Ordering::SeqCst);
                }
                outcomes
                    .lock()
                    .expect("no panics while holding the lock")
                    .push(outcome);
            });
        }
    });
    let mut outcomes = outcomes.into_inner().expect("threads joined");
    outcomes.sort_by_key(|o| o.seed);
    if options.mutant.is_some() {
        // Keep the prefix up to the first failure: the same answer for any `jobs`.
        if let Some(at) = outcomes.iter().position(SeedOutcome::failed) {
            outcomes.truncate(at + 1);
        }
    }
    summarize(first, options, &outcomes, started.elapsed().as_secs_f64())
}

fn summarize(first: u64, options: &SimOptions, outcomes: &[SeedOutcome], seconds: f64) -> Summary {
    let mut totals = SeedStats::default();
    let mut coverage = BTreeMap::new();
    for outcome in outcomes {
        totals.add(&outcome.stats);
        for (key, count) in &outcome.coverage {
            *coverage.entry(key.clone()).or_insert(0) += count;
        }
    }
    let failing: Vec<u64> = outcomes
        .iter()
        .filter(|o| o.violation.is_some() || o.stall.is_some())
        .map(|o| o.seed)
        .collect();
    let seeds = outcomes.len() as u64;
    Summary {
        seeds,
        first_seed: first,
        replicas: options.replicas,
        byzantine: options.byzantine,
        mutant: options.mutant.map(Mutant::name),
        violations: outcomes.iter().filter(|o| o.violation.is_some()).count() as u64,
        stalls: outcomes.iter().filter(|o| o.stall.is_some()).count() as u64,
        failing_seeds: failing.iter().take(20).copied().collect(),
        first_failing_seed: outcomes.iter().find(|o| o.failed()).map(|o| o.seed),
        executed: totals.batches_executed,
        view_changes: totals.max_view,
        checkpoints: totals.stable_checkpoints,
        state_transfers: totals.state_transfers,
        crashes: totals.crashes,
        dropped: totals.dropped,
        duplicated: totals.duplicated,
        seconds: (seconds * 1000.0).round() / 1000.0,
        seeds_per_second: if seconds > 0.0 {
            ((seeds as f64 / seconds) * 10.0).round() / 10.0
        } else {
            0.0
        },
        totals,
        coverage,
    }
}
