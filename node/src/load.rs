//! Overload control: how much may wait before a client's transfer is refused at the door.
//!
//! Why: past the cluster's saturation, a queue that keeps growing only adds latency; the backlog
//! then outlives the view-change timeout (a busy correct primary is voted out), clients give up
//! and re-sign, and a third of what is ordered are doomed transfers (testnet/BENCHMARKS.md). A
//! ledger that refuses the excess at once (HTTP 503, `overloaded`, `Retry-After`) keeps its peak
//! rate and tells the client when to come back.
//!
//! The rule (Little's law): at most [`BACKLOG_TARGET`] of the cluster's measured commit rate may
//! wait, never less than [`MIN_BACKLOG_TRANSFERS`] (a cold or idle cluster has no rate yet, and
//! batching needs something to batch) nor more than the caller's ceiling. The backlog is what
//! this node holds that is not yet executed: its mempool, which holds every transfer forwarded by
//! any validator, and the core's pending requests. So every validator sees about the same global
//! backlog and refuses at about the same moment; forwards from other validators are never refused
//! by this rule (their client already heard "accepted"), only by the pool's hard bound.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How much of the commit rate may wait: 500 ms of commits.
pub const BACKLOG_TARGET: Duration = Duration::from_millis(500);
/// Transfers that may always wait, whatever the measured rate.
pub const MIN_BACKLOG_TRANSFERS: usize = 2_000;
/// The window over which the commit rate is measured.
pub const RATE_WINDOW: Duration = Duration::from_secs(2);
/// Most blocks remembered in the window (bounds memory if blocks are tiny and many).
pub const RATE_WINDOW_BLOCKS: usize = 4_096;
/// Longest `Retry-After` advised, in seconds.
pub const MAX_RETRY_AFTER_S: u64 = 5;

/// The budget's ceiling for a pool whose clients may fill `client_share` transfers, shared by
/// `validators` validators: each may admit up to its budget before it sees the others' forwards,
/// so together they admit at most `validators` budgets, which must fit in every pool.
pub fn ceiling(client_share: usize, validators: usize) -> usize {
    client_share / validators.max(1)
}

/// The smallest pool (`mempool.max_transfers`) whose [`ceiling`] admits a client batch of
/// `batch` transfers with `validators` validators.
pub fn pool_for_batch(batch: usize, validators: usize) -> usize {
    // The clients' share is at most the pool, so no smaller pool can do.
    let mut pool = batch.saturating_mul(validators.max(1));
    while ceiling(crate::mempool::client_limit(pool), validators) < batch {
        pool += 1;
    }
    pool
}

/// A client's transfer refused because too much already waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "overloaded: {backlog} transfers already wait (limit {budget}, {BACKLOG_TARGET:?} of the \
     cluster's commit rate); retry after {retry_after_s} s"
)]
pub struct Overloaded {
    /// Transfers waiting here.
    pub backlog: usize,
    /// The limit at the time.
    pub budget: usize,
    /// Seconds after which the backlog should have drained enough (the `Retry-After` header).
    pub retry_after_s: u64,
}

/// The commit rate and the core's pending count, shared by the driver (writer) and admission.
#[derive(Debug)]
pub struct Load {
    /// Upper bound of the budget (the pool's share that all validators' clients may fill).
    ceiling: usize,
    /// (when, transfers) of the blocks executed in the last [`RATE_WINDOW`].
    executed: Mutex<VecDeque<(Instant, usize)>>,
    /// Requests the core holds pending (published by the driver).
    core_pending: AtomicUsize,
}

impl Load {
    /// A load gauge whose budget never exceeds `ceiling` transfers.
    pub fn new(ceiling: usize) -> Load {
        Load {
            ceiling: ceiling.max(1),
            executed: Mutex::new(VecDeque::new()),
            core_pending: AtomicUsize::new(0),
        }
    }

    /// The driver executed a block of `transfers` now.
    pub fn executed(&self, transfers: usize) {
        self.executed_at(Instant::now(), transfers);
    }

    fn executed_at(&self, now: Instant, transfers: usize) {
        let mut window = self.executed.lock().expect("load lock poisoned");
        window.push_back((now, transfers));
        while window.len() > RATE_WINDOW_BLOCKS
            || window
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > RATE_WINDOW)
        {
            window.pop_front();
        }
    }

    /// The driver's view of the core's pending requests.
    pub fn set_core_pending(&self, pending: usize) {
        self.core_pending.store(pending, Ordering::Relaxed);
    }

    /// The core's pending requests, as last published.
    pub fn core_pending(&self) -> usize {
        self.core_pending.load(Ordering::Relaxed)
    }

    /// Transfers executed per second over the last [`RATE_WINDOW`].
    pub fn commit_rate_per_s(&self) -> f64 {
        self.rate_at(Instant::now())
    }

    fn rate_at(&self, now: Instant) -> f64 {
        let window = self.executed.lock().expect("load lock poisoned");
        let total: usize = window
            .iter()
            .filter(|(t, _)| now.duration_since(*t) <= RATE_WINDOW)
            .map(|(_, n)| n)
            .sum();
        total as f64 / RATE_WINDOW.as_secs_f64()
    }

    /// The most transfers that may wait now.
    pub fn budget(&self) -> usize {
        self.budget_at(Instant::now())
    }

    fn budget_at(&self, now: Instant) -> usize {
        let by_rate = (self.rate_at(now) * BACKLOG_TARGET.as_secs_f64()) as usize;
        by_rate.max(MIN_BACKLOG_TRANSFERS).min(self.ceiling)
    }

    /// Whether `arriving` more client transfers may join a backlog of `waiting` (the mempool)
    /// plus the core's pending requests.
    pub fn admit(&self, waiting: usize, arriving: usize) -> Result<(), Overloaded> {
        self.admit_at(Instant::now(), waiting, arriving)
    }

    fn admit_at(&self, now: Instant, waiting: usize, arriving: usize) -> Result<(), Overloaded> {
        let backlog = waiting + self.core_pending();
        let budget = self.budget_at(now);
        if backlog + arriving <= budget {
            return Ok(());
        }
        // Time for the excess to drain at the measured rate (at least 1 s: the header's unit;
        // 1 s while nothing was measured yet, as the cluster is only starting to commit).
        let rate = self.rate_at(now);
        let excess = (backlog + arriving).saturating_sub(budget) as f64;
        let retry_after_s = if rate < 1.0 {
            1
        } else {
            ((excess / rate).ceil() as u64).clamp(1, MAX_RETRY_AFTER_S)
        };
        Err(Overloaded {
            backlog,
            budget,
            retry_after_s,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_for_a_batch_is_the_smallest_whose_ceiling_admits_it() {
        for (batch, validators) in [(1_000, 4), (1_000, 19), (500, 7), (1, 100), (999, 13)] {
            let pool = pool_for_batch(batch, validators);
            let ceiling_of = |pool| ceiling(crate::mempool::client_limit(pool), validators);
            assert!(ceiling_of(pool) >= batch, "{batch} {validators}: {pool}");
            assert!(ceiling_of(pool - 1) < batch, "{batch} {validators}: {pool}");
        }
    }

    #[test]
    fn the_budget_follows_the_commit_rate_between_the_floor_and_the_ceiling() {
        let load = Load::new(50_000);
        let now = Instant::now();
        assert_eq!(load.budget_at(now), MIN_BACKLOG_TRANSFERS, "no rate yet");
        // 20,000 transfers in the last second: 10,000/s over the window of 2 s.
        for i in 0..10 {
            load.executed_at(now + Duration::from_millis(100 * i), 2_000);
        }
        let later = now + Duration::from_millis(1_000);
        assert_eq!(load.rate_at(later), 10_000.0);
        assert_eq!(load.budget_at(later), 5_000, "500 ms of 10,000/s");
        let capped = Load::new(3_000);
        capped.executed_at(now, 40_000);
        assert_eq!(capped.budget_at(now), 3_000, "never above the ceiling");
        // The window forgets: 3 s later nothing was executed recently.
        assert_eq!(
            load.budget_at(now + Duration::from_secs(4)),
            MIN_BACKLOG_TRANSFERS
        );
    }

    #[test]
    fn beyond_the_budget_a_client_is_told_to_come_back_when_the_excess_drained() {
        let load = Load::new(50_000);
        let now = Instant::now();
        load.executed_at(now, 8_000); // 4,000/s: budget 2,000 (the floor)
        load.set_core_pending(1_500);
        assert_eq!(load.admit_at(now, 400, 100), Ok(()), "exactly the budget");
        let refused = load.admit_at(now, 400, 101).unwrap_err();
        assert_eq!(refused.backlog, 1_900);
        assert_eq!(refused.budget, 2_000);
        assert_eq!(refused.retry_after_s, 1);
        let far = load.admit_at(now, 30_000, 1).unwrap_err();
        assert_eq!(far.retry_after_s, MAX_RETRY_AFTER_S, "{far:?}");
        assert!(far.to_string().contains("retry after 5 s"), "{far}");
    }
}
