//! Prometheus metrics of a node (`prometheus-client`), served as text at `GET /metrics`.
//!
//! Names follow Prometheus conventions: a `bftledger_` prefix, the unit last (`_seconds`), and
//! `_total` on counters (added by the encoder).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// A `reason` label (a stable snake_case word, never free text, so cardinality stays bounded).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The reason.
    pub reason: String,
}

/// A `phase` label of [`Metrics::phase_seconds`] (see `phases.rs`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabel {
    /// `order`, `prepare`, `commit` or `execute`.
    pub phase: &'static str,
}

/// A histogram of one phase: 0.1 ms .. about 13 s.
fn phase_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

/// All metrics of one node. Cheap to clone (every metric is an `Arc` inside).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// Height of the last executed block.
    pub committed_height: Gauge,
    /// The replica's current view.
    pub view: Gauge,
    /// The view-change timeout's adaptive base, in milliseconds (before doubling).
    pub view_change_timeout_ms: Gauge,
    /// The longest of the timer waits measured in the current view, in milliseconds.
    pub view_change_wait_max_ms: Gauge,
    /// View changes started by this replica, by cause (`timeout`, `primary_faulty`: the
    /// primary signed something no correct primary signs, `joined_higher_view`).
    pub view_changes: Family<ReasonLabel, Counter>,
    /// Seconds from a transfer's arrival at this node to its commit here.
    pub commit_latency_seconds: Histogram,
    /// Transfers executed successfully.
    pub transfers_committed: Counter,
    /// Transfers rejected (by the API pre-checks, the mempool, or at execution), by reason.
    pub transfers_rejected: Family<ReasonLabel, Counter>,
    /// Consensus messages rejected (undecodable, or refused by the core), by reason.
    pub messages_rejected: Family<ReasonLabel, Counter>,
    /// Connected validators.
    pub peers: Gauge,
    /// Transfers waiting in the mempool.
    pub mempool_size: Gauge,
    /// 1 while the node is catching up from peers.
    pub catching_up: Gauge,
    /// The p2p layer's counters (frames in/out/dropped by reason, sync requests, redials),
    /// copied about once a second.
    pub p2p: Family<KindLabel, Gauge>,
    /// Synced writes of consensus state (one per group of steps: group commit).
    pub persist_groups: Counter,
    /// Consensus steps whose persist ops went out in those writes (steps / groups = the
    /// average group size).
    pub persist_group_steps: Counter,
    /// The verified-transfer cache (`kind` = hits, misses, size), copied about once a second:
    /// hits are decodes and signature checks saved.
    pub verified_cache: Family<KindLabel, Gauge>,
    /// Pending transfers this backup relayed to the primary (§4.4: it waited on them and the
    /// primary may not have had them). Non-zero under normal operation means lost forwards or
    /// a validator that forwards selectively.
    pub relayed_transfers: Counter,
    /// Accepted transfers let go of before ordering, by reason (`nonce_gap`, `nonce_used`,
    /// `state_transfer`, `evicted`); each is reported on `GET /v1/transfers/{id}`.
    pub transfers_dropped: Family<ReasonLabel, Counter>,
    /// The backlog that client transfers may join before `overloaded` (see `load.rs`).
    pub admission_budget: Gauge,
    /// Seconds per normal-case phase at this node (`phases.rs`): `order` (admitted →
    /// pre-prepared, per transfer), `prepare`, `commit` and `execute` (per batch).
    pub phase_seconds: Family<PhaseLabel, Histogram, fn() -> Histogram>,
    /// The node's resident memory (Linux `VmRSS`), copied about once a second: flat under
    /// sustained load, or something grows without bound.
    pub resident_memory_bytes: Gauge,
    /// CPU time the node process used, user and system, in seconds (all threads; Linux
    /// `/proc/self/stat`), read at each scrape. Why: on a shared machine a benchmark's rates move
    /// with the neighbours' load, CPU per committed transfer much less (`bench` reports it).
    pub cpu_seconds: Gauge<f64, AtomicU64>,
    /// Free bytes on the data disk, measured about once a second (`disk.rs`): below twice the
    /// store's reserve the node refuses client transfers.
    pub data_disk_free_bytes: Gauge,
}

/// A `kind` label for the p2p counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// The counter's name.
    pub kind: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let committed_height = Gauge::default();
        let view = Gauge::default();
        let view_change_timeout_ms = Gauge::default();
        let view_change_wait_max_ms = Gauge::default();
        let view_changes = Family::<ReasonLabel, Counter>::default();
        // 1 ms .. ~16 s
        let commit_latency_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        let transfers_committed = Counter::default();
        let transfers_rejected = Family::default();
        let messages_rejected = Family::default();
        let peers = Gauge::default();
        let mempool_size = Gauge::default();
        let catching_up = Gauge::default();
        let p2p = Family::default();
        let persist_groups = Counter::default();
        let persist_group_steps = Counter::default();
        let verified_cache = Family::default();
        let relayed_transfers = Counter::default();
        let transfers_dropped = Family::default();
        let admission_budget = Gauge::default();
        let phase_seconds =
            Family::<PhaseLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                phase_histogram,
            );
        let resident_memory_bytes = Gauge::default();
        let cpu_seconds = Gauge::<f64, AtomicU64>::default();
        let data_disk_free_bytes = Gauge::default();
        let mut r = Registry::with_prefix("bftledger");
        let help = "Height of the last executed block";
        r.register("committed_height", help, committed_height.clone());
        r.register("view", "Current PBFT view", view.clone());
        let help = "Adaptive base of the view-change timeout (before doubling), in milliseconds";
        r.register(
            "view_change_timeout_ms",
            help,
            view_change_timeout_ms.clone(),
        );
        let help = "Longest recent wait of the view-change timer in this view, in milliseconds";
        r.register(
            "view_change_wait_max_ms",
            help,
            view_change_wait_max_ms.clone(),
        );
        r.register("view_changes", "View changes started", view_changes.clone());
        let help = "Seconds from a transfer's arrival at this node to its commit";
        r.register(
            "commit_latency_seconds",
            help,
            commit_latency_seconds.clone(),
        );
        let help = "Transfers executed successfully";
        r.register("transfers_committed", help, transfers_committed.clone());
        let help = "Transfers rejected, by reason";
        r.register("transfers_rejected", help, transfers_rejected.clone());
        let help = "Consensus messages rejected, by reason";
        r.register("messages_rejected", help, messages_rejected.clone());
        r.register("peers", "Connected validators", peers.clone());
        let help = "Transfers waiting in the mempool";
        r.register("mempool_size", help, mempool_size.clone());
        let help = "1 while catching up from peers";
        r.register("catching_up", help, catching_up.clone());
        let help = "p2p layer counters by kind (frames, drops by reason, sync requests, redials)";
        r.register("p2p", help, p2p.clone());
        let help = "Synced writes of consensus state (group commit)";
        r.register("persist_groups", help, persist_groups.clone());
        let help = "Consensus steps covered by those writes";
        r.register("persist_group_steps", help, persist_group_steps.clone());
        let help = "Verified-transfer cache: hits, misses, size";
        r.register("verified_cache", help, verified_cache.clone());
        let help = "Pending transfers relayed to the primary by this backup";
        r.register("relayed_transfers", help, relayed_transfers.clone());
        let help = "Accepted transfers dropped before ordering, by reason";
        r.register("transfers_dropped", help, transfers_dropped.clone());
        let help = "Transfers that may wait before clients are refused as overloaded";
        r.register("admission_budget", help, admission_budget.clone());
        let help = "Seconds per normal-case phase: order, prepare, commit, execute";
        r.register("phase_seconds", help, phase_seconds.clone());
        let help = "Resident memory of the node process (VmRSS)";
        r.register("resident_memory_bytes", help, resident_memory_bytes.clone());
        let help = "CPU time of the node process, user and system";
        r.register("cpu_seconds", help, cpu_seconds.clone());
        let help = "Free bytes on the data disk";
        r.register("data_disk_free_bytes", help, data_disk_free_bytes.clone());
        Metrics {
            registry: Arc::new(r),
            committed_height,
            view,
            view_change_timeout_ms,
            view_change_wait_max_ms,
            view_changes,
            commit_latency_seconds,
            transfers_committed,
            transfers_rejected,
            messages_rejected,
            peers,
            mempool_size,
            catching_up,
            p2p,
            persist_groups,
            persist_group_steps,
            verified_cache,
            relayed_transfers,
            transfers_dropped,
            admission_budget,
            phase_seconds,
            resident_memory_bytes,
            cpu_seconds,
            data_disk_free_bytes,
        }
    }

    /// Copies this process's resident memory and CPU time into `resident_memory_bytes` and
    /// `cpu_seconds` (where the OS says).
    pub fn refresh_process(&self) {
        if let Some(bytes) = resident_bytes() {
            self.resident_memory_bytes
                .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
        if let Some(seconds) = cpu_seconds() {
            self.cpu_seconds.set(seconds);
        }
    }

    /// Records `seconds` spent in `phase`.
    pub fn phase(&self, phase: &'static str, seconds: f64) {
        self.phase_seconds
            .get_or_create(&PhaseLabel { phase })
            .observe(seconds);
    }

    /// Copies the verified-transfer cache's figures.
    pub fn set_verified(&self, cache: &bftledger_host::VerifiedTransfers) {
        let (hits, misses) = cache.stats();
        let kinds = [
            ("hits", hits),
            ("misses", misses),
            ("size", cache.len() as u64),
        ];
        set_kinds(&self.verified_cache, kinds);
    }

    /// Copies the p2p layer's counters.
    pub fn set_p2p(&self, stats: &crate::p2p::P2pStats) {
        let kinds: [(&str, u64); 19] = [
            ("frames_in", stats.frames_in),
            ("frames_out", stats.frames_out),
            ("frames_acked", stats.frames_acked),
            ("frames_failed", stats.frames_failed),
            ("dropped_not_validator", stats.dropped_not_validator),
            (
                "dropped_inbound_queue_full",
                stats.dropped_inbound_queue_full,
            ),
            (
                "dropped_command_queue_full",
                stats.dropped_command_queue_full,
            ),
            ("dropped_not_connected", stats.dropped_not_connected),
            (
                "dropped_outbound_queue_full",
                stats.dropped_outbound_queue_full,
            ),
            ("outbound_waiting_frames", stats.outbound_waiting_frames),
            ("bad_frames", stats.bad_frames),
            ("sync_requests_in", stats.sync_requests_in),
            ("sync_requests_refused", stats.sync_requests_refused),
            (
                "sync_requests_refused_peer_limit",
                stats.sync_requests_refused_peer_limit,
            ),
            ("sync_requests_out", stats.sync_requests_out),
            ("sync_requests_failed", stats.sync_requests_failed),
            ("redials", stats.redials),
            ("wrong_chain_peers", stats.wrong_chain_peers),
            (
                "non_validator_peers_refused",
                stats.non_validator_peers_refused,
            ),
        ];
        set_kinds(&self.p2p, kinds);
    }

    /// Counts a rejected transfer.
    pub fn reject_transfer(&self, reason: &str) {
        self.transfers_rejected
            .get_or_create(&ReasonLabel {
                reason: reason.into(),
            })
            .inc();
    }

    /// Counts a view change this replica started, by its cause's word.
    pub fn view_change(&self, cause: &str) {
        self.view_changes
            .get_or_create(&ReasonLabel {
                reason: cause.into(),
            })
            .inc();
    }

    /// Counts a rejected consensus message.
    pub fn reject_message(&self, reason: &str) {
        self.messages_rejected
            .get_or_create(&ReasonLabel {
                reason: reason.into(),
            })
            .inc();
    }

    /// The Prometheus text exposition of every metric (the process figures read now).
    pub fn render(&self) -> String {
        self.refresh_process();
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// This process's resident set size, from `/proc/self/status` (`VmRSS: N kB`); `None` where
/// there is no procfs.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    vm_rss_bytes(&status)
}

/// Clock ticks per second of `/proc/<pid>/stat`'s times: Linux's `USER_HZ`, 100 on every
/// architecture it exports to user space, whatever the kernel's own `HZ`.
const USER_HZ: f64 = 100.0;

/// This process's CPU time (user + system, all threads) in seconds, from `/proc/self/stat`;
/// `None` where there is no procfs.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    stat_cpu_seconds(&stat)
}

/// utime and stime are fields 14 and 15 of the line; the command name (field 2, in
/// parentheses) may contain spaces and parentheses, so fields are counted after its last `)`.
fn stat_cpu_seconds(stat: &str) -> Option<f64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime.checked_add(stime)? as f64 / USER_HZ)
}

fn vm_rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Sets one gauge per `kind` label (values beyond `i64::MAX` saturate).
fn set_kinds<'a>(
    family: &Family<KindLabel, Gauge>,
    kinds: impl IntoIterator<Item = (&'a str, u64)>,
) {
    for (kind, value) in kinds {
        let label = KindLabel { kind: kind.into() };
        family
            .get_or_create(&label)
            .set(i64::try_from(value).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_user_plus_system_from_proc_stat() {
        // A command name with a space and a parenthesis, as `comm` allows.
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 1520 0 0 0 250 75 0 0 20 0 9";
        assert_eq!(stat_cpu_seconds(stat), Some(3.25));
        assert_eq!(stat_cpu_seconds("4242 (x) S 1"), None);
        assert_eq!(stat_cpu_seconds("no parenthesis"), None);
        assert!(
            cpu_seconds().is_some_and(|s| s >= 0.0),
            "procfs is there on Linux"
        );
    }

    #[test]
    fn resident_memory_is_read_from_vm_rss() {
        let status = "Name:\tbftledger\nVmPeak:\t  900 kB\nVmRSS:\t    2048 kB\nThreads:\t9\n";
        assert_eq!(vm_rss_bytes(status), Some(2048 * 1024));
        assert_eq!(vm_rss_bytes("Name: x\n"), None);
        assert_eq!(vm_rss_bytes("VmRSS: lots kB\n"), None);
        if cfg!(target_os = "linux") {
            assert!(resident_bytes().is_some_and(|b| b > 0));
        }
    }

    #[test]
    fn renders_every_metric_with_the_prefix() {
        let m = Metrics::new();
        m.committed_height.set(7);
        m.reject_transfer("bad_signature");
        m.view_change("timeout");
        m.commit_latency_seconds.observe(0.02);
        m.phase("prepare", 0.003);
        let text = m.render();
        for name in [
            "bftledger_committed_height 7",
            "bftledger_view ",
            "bftledger_view_changes_total{reason=\"timeout\"} 1",
            "bftledger_commit_latency_seconds_bucket",
            "bftledger_transfers_committed_total",
            "bftledger_transfers_rejected_total{reason=\"bad_signature\"} 1",
            "bftledger_peers",
            "bftledger_mempool_size",
            "bftledger_phase_seconds_count{phase=\"prepare\"} 1",
            "# EOF",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
    }
}
