//! Logical timers in ticks (the driver's [`crate::Input::Tick`]); the core never reads a clock.
//!
//! * **View-change timer** (§4.4): runs while the replica knows of a request it has not
//!   executed, or while it is changing view. Its length is `base << failed_views`, capped at
//!   `view_change_timeout_max_ticks`; `failed_views` counts consecutive view changes that did not
//!   lead to executing anything new, and resets when a batch executes (TOCS'02 §4.5.2).
//!   The `base` adapts to what this replica measures (see [Adaptive base](#adaptive-base)).
//! * **Batch timer**: the primary proposes a partial batch once its oldest queued request has
//!   waited `batch_delay_ticks`.
//! * **Retransmission**: every `retransmit_ticks` the replica re-sends its own recent messages
//!   (see `Replica::retransmit`), so message loss cannot stall it forever.
//!
//! # Adaptive base
//!
//! PBFT leaves the timeout T to the deployment: too short and a correct primary is voted out by
//! spurious view changes (each one stalls every client for a view change), too long and every
//! failover from a crashed primary costs T. A fixed T tuned on loopback is wrong at 100 ms RTT,
//! and one tuned for a WAN makes a LAN pay seconds per failover. So the base follows what this
//! replica measures of the very thing the timer judges: the **wait**, in ticks, from the moment
//! the timer started waiting for something (the oldest pending request, or a pre-prepared slot)
//! to the moment that thing executed, in normal status.
//!
//! `base = clamp(wait_multiple × max(waits), floor, ceiling)`, where the floor is
//! `view_change_timeout_ticks`, the ceiling `view_change_timeout_adaptive_max_ticks` (and never
//! above the doubling cap `view_change_timeout_max_ticks`), and the window holds the last
//! `view_change_timeout_samples` waits. Why each choice:
//!
//! * **The wait the timer itself measures**, not a proxy (the round from pre-prepare to
//!   commit, or a client's submit-to-commit latency): whatever the deployment adds — RTT, a
//!   relay to the primary, batch verification on a busy machine, a request the primary's host
//!   holds back — is in it, so a timeout derived from it is not surprised by any of them. On
//!   the namespace testnet a fixed 2 s was surprised at 100 ms RTT (issue 19).
//! * **One sample per satisfied wait**: the timer waits for one thing at a time, so samples
//!   come at most once per executed batch, whatever the number of requests. A flood of requests
//!   cannot shrink the estimate: with one batch in flight the oldest request waits at least
//!   for the batch ahead of it, and a flood makes batches bigger and their rounds longer (each
//!   signature is checked before prepare). For the same reason a busy correct primary is given
//!   the time its batches really take: load raises the base, it never lowers it.
//! * **The longest wait, not a percentile or the mean**: a spurious view change is caused by
//!   the one wait that outlasts the timeout, so the tail is all that counts, outliers
//!   included: a pause of a busy machine or a frame lost and retransmitted is something a
//!   correct primary does now and then, and the next one must not cost a view change. On the
//!   namespace testnet at 100 ms RTT and 500 transfers/s the p99 wait was 0.26 to 0.56 s while
//!   the longest gap between two commits was 1.6 s: three times the p99 would have fired on it.
//!   The window (256 waits: about a minute at a few batches per second) forgets an old pause,
//!   and the multiple (4) is the margin over the longest wait seen.
//! * **The ceiling, and samples of the current view only**: a Byzantine primary controls when
//!   it proposes, so it can make every wait last just under the timeout, and raise the timeout
//!   it is judged by fourfold per wait, but never above the ceiling. When this
//!   replica starts a view change (its timer fired, f+1 replicas suspected the primary, or a
//!   batch proved it faulty) the window is emptied: what a suspected primary let us measure
//!   no longer sets our patience, and the next view starts from the floor.
//! * **The floor** is the base before anything is measured (start-up, a fresh view) and the
//!   least it ever is: what a failover costs on a LAN. PBFT's doubling per failed view change
//!   (TOCS'02 §4.5.2) is kept on top of the adaptive base, up to its own cap, so a long
//!   asynchronous period still ends with a view whose timeout is long enough.

use crate::config::Settings;
use std::collections::VecDeque;

/// Logical time and deadlines, all in ticks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timers {
    /// Ticks since the replica started (or recovered).
    pub now: u64,
    /// When the view-change timer fires, if running.
    pub view_change_deadline: Option<u64>,
    /// When a partial batch is proposed, if requests are queued.
    pub batch_deadline: Option<u64>,
    /// Next retransmission.
    pub next_retransmit: u64,
    /// Consecutive failed view changes (timeout doubling exponent).
    pub failed_views: u32,
    /// When the view-change timer last (re)started in normal status, to measure the wait.
    pub view_change_started: Option<u64>,
    /// Waits measured in the current view (the adaptive base's evidence).
    pub waits: WaitSamples,
}

/// The last waits (ticks from the view-change timer's start to the execution of what it waited
/// for) measured by this replica, oldest first, at most `view_change_timeout_samples` of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WaitSamples {
    ticks: VecDeque<u64>,
    /// The longest of `ticks` (0 when empty), recomputed when `ticks` changes.
    longest_ticks: u64,
}

impl WaitSamples {
    /// Adds one wait of `ticks`, dropping the oldest beyond `window_samples`.
    pub fn record(&mut self, ticks: u64, window_samples: usize) {
        self.ticks.push_back(ticks);
        while self.ticks.len() > window_samples {
            self.ticks.pop_front();
        }
        self.longest_ticks = self.ticks.iter().copied().max().unwrap_or(0);
    }

    /// Forgets every wait (a view change: the suspected view's measurements are not trusted).
    pub fn clear(&mut self) {
        self.ticks.clear();
        self.longest_ticks = 0;
    }

    /// Waits held.
    pub fn len(&self) -> usize {
        self.ticks.len()
    }

    /// The longest wait held, in ticks (0 when none).
    pub fn longest_ticks(&self) -> u64 {
        self.longest_ticks
    }
}

/// Doubling stops growing the shift beyond this (the cap applies long before).
const MAX_SHIFT: u32 = 30;

impl Timers {
    /// The adaptive base of the view-change timeout and the cap of its doubling, in ticks:
    /// `clamp(wait_multiple × max(waits), floor, ceiling)` (see the module docs); the floor
    /// alone when `view_change_timeout_wait_multiple` is 0 (adaptation off).
    pub fn view_change_bounds(&self, settings: &Settings) -> (u64, u64) {
        let floor = settings.view_change_timeout_ticks;
        let cap = settings.view_change_timeout_max_ticks;
        let ceiling = settings.view_change_timeout_adaptive_max_ticks.min(cap);
        let measured = self
            .waits
            .longest_ticks()
            .saturating_mul(settings.view_change_timeout_wait_multiple);
        let base = measured.min(ceiling).max(floor);
        assert!(
            base >= floor && base <= ceiling.max(floor),
            "view-change base {base} outside [{floor}, {ceiling}]"
        );
        (base, cap)
    }

    /// What the running timer waited for executed now, in normal status: one wait for the
    /// adaptive base (none if the timer was started outside normal status).
    pub fn record_wait(&mut self, window_samples: usize) {
        if let Some(since) = self.view_change_started.take() {
            self.waits
                .record(self.now.saturating_sub(since), window_samples);
        }
    }

    /// The running wait is no measure of the protocol any more (a state transfer ended it: what
    /// it waited for was fetched, not executed here): record no sample for it.
    pub fn forget_wait(&mut self) {
        self.view_change_started = None;
    }

    /// The current view-change timeout: base doubled per failed view, capped.
    pub fn view_change_timeout(&self, base_ticks: u64, max_ticks: u64) -> u64 {
        let shift = self.failed_views.min(MAX_SHIFT);
        base_ticks.saturating_mul(1u64 << shift).min(max_ticks)
    }

    /// Starts the view-change timer if it is not running.
    pub fn ensure_view_change_timer(&mut self, base_ticks: u64, max_ticks: u64) {
        if self.view_change_deadline.is_none() {
            self.restart_view_change_timer(base_ticks, max_ticks);
        }
    }

    /// (Re)starts the view-change timer from now.
    pub fn restart_view_change_timer(&mut self, base_ticks: u64, max_ticks: u64) {
        self.view_change_deadline =
            Some(self.now + self.view_change_timeout(base_ticks, max_ticks));
        self.view_change_started = Some(self.now);
    }

    /// Stops the view-change timer.
    pub fn stop_view_change_timer(&mut self) {
        self.view_change_deadline = None;
        self.view_change_started = None;
    }

    /// Whether the view-change timer fired at `now`.
    pub fn view_change_expired(&self) -> bool {
        self.view_change_deadline.is_some_and(|d| self.now >= d)
    }

    /// Whether a partial batch is due.
    pub fn batch_due(&self) -> bool {
        self.batch_deadline.is_some_and(|d| self.now >= d)
    }

    /// Whether retransmission is due; if so, schedules the next one.
    pub fn take_retransmit(&mut self, every_ticks: u64) -> bool {
        if self.now < self.next_retransmit {
            return false;
        }
        self.next_retransmit = self.now + every_ticks;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §4.4: "If the timer of view v+1 expires ... it starts a view change for view v+2 but
    /// this time it will wait 2T" — the timeout doubles per failed view, up to the cap.
    #[test]
    fn timeout_doubles_per_failed_view_and_is_capped() {
        let mut t = Timers::default();
        assert_eq!(t.view_change_timeout(10, 100), 10);
        t.failed_views = 1;
        assert_eq!(t.view_change_timeout(10, 100), 20);
        t.failed_views = 3;
        assert_eq!(t.view_change_timeout(10, 100), 80);
        t.failed_views = 4;
        assert_eq!(t.view_change_timeout(10, 100), 100);
        t.failed_views = 200;
        assert_eq!(t.view_change_timeout(10, 100), 100);
    }

    fn settings(floor: u64, ceiling: u64, cap: u64) -> Settings {
        Settings {
            view_change_timeout_ticks: floor,
            view_change_timeout_adaptive_max_ticks: ceiling,
            view_change_timeout_max_ticks: cap,
            view_change_timeout_wait_multiple: 4,
            view_change_timeout_samples: 100,
            ..Settings::default()
        }
    }

    /// Before any wait is measured (start-up, a fresh view) the base is the floor.
    #[test]
    fn base_is_the_floor_without_waits() {
        let t = Timers::default();
        assert_eq!(t.view_change_bounds(&settings(20, 500, 1000)), (20, 1000));
    }

    /// The base is wait_multiple × the longest wait of the window: one long wait (a pause)
    /// counts, and is forgotten once the window has moved past it.
    #[test]
    fn base_is_a_multiple_of_the_longest_wait_in_the_window() {
        let s = settings(20, 500, 1000);
        let mut t = Timers::default();
        t.waits.record(30, s.view_change_timeout_samples);
        for _ in 0..99 {
            t.waits.record(10, s.view_change_timeout_samples);
        }
        assert_eq!(t.waits.longest_ticks(), 30);
        assert_eq!(t.view_change_bounds(&s).0, 120);
        t.waits.record(10, s.view_change_timeout_samples);
        assert_eq!(t.waits.len(), 100, "the window keeps the newest 100");
        assert_eq!(t.view_change_bounds(&s).0, 40, "the pause left the window");
    }

    /// Short waits never take the base below the floor; long ones never above the ceiling.
    #[test]
    fn base_stays_between_floor_and_ceiling() {
        let s = settings(20, 500, 1000);
        let mut t = Timers::default();
        t.waits.record(1, 100);
        assert_eq!(t.view_change_bounds(&s).0, 20);
        t.waits.clear();
        t.waits.record(10_000, 100);
        assert_eq!(t.view_change_bounds(&s).0, 500);
        // The doubling cap bounds the ceiling too, when lower.
        assert_eq!(t.view_change_bounds(&settings(20, 500, 300)), (300, 300));
        // Adaptation off: the floor, whatever was measured.
        let off = Settings {
            view_change_timeout_wait_multiple: 0,
            ..s
        };
        assert_eq!(t.view_change_bounds(&off).0, 20);
    }

    /// The attacker of the adaptive base: a primary that proposes every request just before the
    /// timeout it is judged by expires, to raise that timeout wait after wait. The base grows at most
    /// to the ceiling, and no further however long it keeps doing so.
    #[test]
    fn a_primary_stretching_waits_raises_the_base_only_to_the_ceiling() {
        let s = settings(20, 500, 1000);
        let mut t = Timers::default();
        for _ in 0..1000 {
            let (base, _) = t.view_change_bounds(&s);
            assert!((20..=500).contains(&base), "base {base}");
            t.waits.record(base - 1, s.view_change_timeout_samples);
        }
        assert_eq!(t.view_change_bounds(&s).0, 500);
    }

    /// TOCS'02 §4.5.2: doubling per failed view change is kept on top of the adaptive base,
    /// up to the cap.
    #[test]
    fn doubling_applies_to_the_adaptive_base() {
        let s = settings(20, 500, 1000);
        let mut t = Timers::default();
        t.waits.record(25, 100);
        let (base, max) = t.view_change_bounds(&s);
        assert_eq!(base, 100);
        t.failed_views = 2;
        assert_eq!(t.view_change_timeout(base, max), 400);
        t.failed_views = 5;
        assert_eq!(t.view_change_timeout(base, max), 1000);
    }

    /// A wait ended by a state transfer (the awaited slot fetched, not executed here) would
    /// measure the partition, not the protocol: it is not a sample.
    #[test]
    fn a_wait_ended_by_a_state_transfer_is_not_a_sample() {
        let mut t = Timers::default();
        t.restart_view_change_timer(20, 1000);
        t.now = 900;
        t.forget_wait();
        t.record_wait(100);
        assert_eq!(t.waits.len(), 0);
        t.restart_view_change_timer(20, 1000);
        t.now = 905;
        t.record_wait(100);
        assert_eq!((t.waits.len(), t.waits.longest_ticks()), (1, 5));
    }

    #[test]
    fn retransmit_fires_once_per_period() {
        let mut t = Timers::default();
        assert!(t.take_retransmit(5));
        assert!(!t.take_retransmit(5));
        t.now = 5;
        assert!(t.take_retransmit(5));
    }
}
