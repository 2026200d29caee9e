//! Where a transfer's time goes at this node: the instants each slot reached its normal-case
//! phases (§4.2), turned into `bftledger_phase_seconds{phase}` when its block is durable.
//!
//! The phases, each a histogram:
//! * `order`: a transfer's admission at this node → the PRE-PREPARE of its batch (proposed
//!   here as primary, or accepted as backup): time in the mempool and the primary's queue;
//! * `prepare`: pre-prepared → prepared (2f matching PREPAREs);
//! * `commit`: prepared → committed-local (2f+1 matching COMMITs);
//! * `execute`: committed-local → executed and stored durably (including the wait for lower
//!   seqs to commit).
//!
//! Every instant is taken after the step's votes were made durable, so fsyncs count in the
//! phase that caused them.

use bftledger_consensus::{Phase, Progress, SeqNum, View};
use std::collections::BTreeMap;
use std::time::Instant;

/// Slots whose instants are kept at most (a window's worth many times over): beyond it the
/// lowest are forgotten, so a view change that abandons slots cannot grow the map.
pub const MAX_SLOTS_TRACKED: usize = 4096;

/// The instants one slot reached its phases, in the latest view it reached any.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlotTimes {
    view: View,
    /// The batch was proposed (primary) or its PRE-PREPARE accepted (backup).
    pub pre_prepared: Option<Instant>,
    /// prepared(m, v, n, i).
    pub prepared: Option<Instant>,
    /// committed-local(m, v, n, i).
    pub committed: Option<Instant>,
}

impl SlotTimes {
    /// The durations of `prepare`, `commit` and `execute` (the block durable at `stored`), for
    /// the phases whose both ends are known.
    pub fn durations(&self, stored: Instant) -> Vec<(&'static str, f64)> {
        let span = |from: Option<Instant>, to: Option<Instant>| match (from, to) {
            (Some(from), Some(to)) => Some(to.saturating_duration_since(from).as_secs_f64()),
            _ => None,
        };
        [
            ("prepare", span(self.pre_prepared, self.prepared)),
            ("commit", span(self.prepared, self.committed)),
            ("execute", span(self.committed, Some(stored))),
        ]
        .into_iter()
        .filter_map(|(phase, d)| d.map(|d| (phase, d)))
        .collect()
    }
}

/// The instants of the slots not yet stored.
#[derive(Debug, Default)]
pub struct PhaseClock {
    slots: BTreeMap<SeqNum, SlotTimes>,
}

impl PhaseClock {
    /// Records that a slot reached a phase at `now`. A higher view starts the slot afresh (a
    /// view change re-proposes it); a lower one is stale and ignored.
    pub fn reached(&mut self, progress: &Progress, now: Instant) {
        let slot = self.slots.entry(progress.seq).or_insert(SlotTimes {
            view: progress.view,
            ..SlotTimes::default()
        });
        if progress.view < slot.view {
            return;
        }
        if progress.view > slot.view {
            *slot = SlotTimes {
                view: progress.view,
                ..SlotTimes::default()
            };
        }
        let at = match progress.phase {
            Phase::PrePrepared => &mut slot.pre_prepared,
            Phase::Prepared => &mut slot.prepared,
            Phase::Committed => &mut slot.committed,
        };
        at.get_or_insert(now);
        while self.slots.len() > MAX_SLOTS_TRACKED {
            self.slots.pop_first();
        }
    }

    /// The block of `seq` is durable: returns its slot's instants and forgets every slot up to
    /// it (lower ones were stored before, or skipped by a state transfer).
    pub fn stored(&mut self, seq: SeqNum) -> Option<SlotTimes> {
        let times = self.slots.remove(&seq);
        self.slots = self.slots.split_off(&seq);
        times
    }

    /// Slots tracked now.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no slot is tracked.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(view: View, seq: SeqNum, phase: Phase) -> Progress {
        Progress { view, seq, phase }
    }

    #[test]
    fn phases_of_a_slot_become_durations_when_stored() {
        let mut clock = PhaseClock::default();
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        clock.reached(&at(0, 1, Phase::PrePrepared), ms(0));
        clock.reached(&at(0, 1, Phase::Prepared), ms(3));
        clock.reached(&at(0, 1, Phase::Committed), ms(7));
        let times = clock.stored(1).expect("tracked");
        let d = times.durations(ms(12));
        assert_eq!(
            d,
            vec![("prepare", 0.003), ("commit", 0.004), ("execute", 0.005)]
        );
        assert!(clock.is_empty());
    }

    #[test]
    fn a_higher_view_restarts_the_slot_and_a_stale_one_is_ignored() {
        let mut clock = PhaseClock::default();
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        clock.reached(&at(0, 5, Phase::PrePrepared), ms(0));
        clock.reached(&at(1, 5, Phase::PrePrepared), ms(100));
        clock.reached(&at(0, 5, Phase::Prepared), ms(101));
        clock.reached(&at(1, 5, Phase::Prepared), ms(110));
        let times = clock.stored(5).expect("tracked");
        assert_eq!(times.durations(ms(110))[0], ("prepare", 0.010));
    }

    #[test]
    fn storing_forgets_lower_slots_and_the_map_is_bounded() {
        let mut clock = PhaseClock::default();
        let now = Instant::now();
        for seq in 1..=(MAX_SLOTS_TRACKED as u64 + 10) {
            clock.reached(&at(0, seq, Phase::PrePrepared), now);
        }
        assert_eq!(clock.len(), MAX_SLOTS_TRACKED);
        clock.stored(100);
        assert_eq!(clock.len(), MAX_SLOTS_TRACKED + 10 - 100);
    }
}
