//! Logical timers in ticks (the driver's [`crate::Input::Tick`]); the core never reads a clock.
//!
//! * **View-change timer** (§4.4): runs while the replica knows of a request it has not
//!   executed, or while it is changing view. Its length is `base << failed_views`, capped at
//!   `view_change_timeout_max_ticks`; `failed_views` counts consecutive view changes that did not
//!   lead to executing anything new, and resets when a batch executes.
//! * **Batch timer**: the primary proposes a partial batch once its oldest queued request has
//!   waited `batch_delay_ticks`.
//! * **Retransmission**: every `retransmit_ticks` the replica re-sends its own recent messages
//!   (see `Replica::retransmit`), so message loss cannot stall it forever.

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
}

/// Doubling stops growing the shift beyond this (the cap applies long before).
const MAX_SHIFT: u32 = 30;

impl Timers {
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
    }

    /// Stops the view-change timer.
    pub fn stop_view_change_timer(&mut self) {
        self.view_change_deadline = None;
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

    #[test]
    fn retransmit_fires_once_per_period() {
        let mut t = Timers::default();
        assert!(t.take_retransmit(5));
        assert!(!t.take_retransmit(5));
        t.now = 5;
        assert!(t.take_retransmit(5));
    }
}
