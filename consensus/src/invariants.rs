//! `check_invariants()`: what must hold after every step. Called by the tests and the simulator
//! after each `step`; a violation is a bug in the core and panics with the values involved.

use crate::application::Application;
use crate::message::batch_digest_of_request_digests;
use crate::replica::{Replica, Status};
use std::collections::BTreeMap;

impl<A: Application> Replica<A> {
    /// Panics (with the offending values) if an internal invariant is broken.
    pub fn check_invariants(&self) {
        self.check_watermarks();
        self.check_log();
        self.check_own_votes();
        self.check_bounds();
    }

    fn check_watermarks(&self) {
        self.checkpoints
            .check(self.id, self.last_executed, self.last_reported);
        let low = self.checkpoints.stable().seq;
        assert!(
            self.last_reported <= self.last_executed,
            "replica {}: application reported {} beyond handed out {}",
            self.id,
            self.last_reported,
            self.last_executed
        );
        if let Status::ViewChanging { target } = self.status {
            assert!(
                target > self.view,
                "replica {}: target {target} <= view {}",
                self.id,
                self.view
            );
        }
        if self.status == Status::Normal && self.is_primary() {
            // Above the window only after a restart (own pre-prepares of a window a 2f+1 fetch
            // had moved), a state transfer, or while one is outstanding (the fetched state covers
            // every seq up to it); never above what it signed, executed or is fetching.
            let own_top = self.own_votes.keys().map(|k| k.0).max().unwrap_or(0);
            let fetching = self.checkpoints.fetching_seq();
            let top = self
                .high_watermark()
                .max(self.last_executed)
                .max(own_top)
                .max(fetching);
            assert!(
                self.last_assigned >= low && self.last_assigned <= top,
                "replica {}: last assigned {} outside [{low}, {top}]",
                self.id,
                self.last_assigned
            );
        }
    }

    fn check_log(&self) {
        let (low, high) = (self.window_low(), self.high_watermark());
        if let Some((first, last)) = self.log.seq_range() {
            assert!(
                first > low && last <= high,
                "replica {}: log holds seqs [{first}, {last}] outside ({low}, {high}]",
                self.id
            );
        }
        for (seq, slot) in self.log.slots() {
            assert!(
                slot.view <= self.view,
                "replica {}: slot {seq} of view {} beyond view {}",
                self.id,
                slot.view,
                self.view
            );
            if let (Some(digest), Some(_)) = (slot.digest(), &slot.batch) {
                let actual = batch_digest_of_request_digests(&slot.request_digests);
                assert_eq!(
                    actual, digest,
                    "replica {}: slot {seq} batch/digest mismatch",
                    self.id
                );
            }
            if slot.committed {
                assert!(
                    slot.prepared,
                    "replica {}: slot {seq} committed, not prepared",
                    self.id
                );
            }
            if slot.prepared {
                let d = slot.digest();
                assert!(
                    d.is_some(),
                    "replica {}: slot {seq} prepared without pre-prepare",
                    self.id
                );
            }
        }
        for (cert, _) in self.log.prepared() {
            assert!(
                cert.pre_prepare.view <= self.view,
                "replica {}: prepared certificate of future view {}",
                self.id,
                cert.pre_prepare.view
            );
        }
    }

    /// No two different digests signed for the same (view, seq) by this replica, and every
    /// vote counted in the log matches the recorded (durable) one.
    fn check_own_votes(&self) {
        let mut by_slot: BTreeMap<(u64, u64), crate::Digest> = BTreeMap::new();
        for (&(seq, view, kind), digest) in &self.own_votes {
            if let Some(other) = by_slot.insert((seq, view), *digest) {
                assert_eq!(
                    other, *digest,
                    "replica {}: signed two digests for view {view} seq {seq} ({kind:?})",
                    self.id
                );
            }
        }
        for (seq, slot) in self.log.slots() {
            for (r, d) in slot.prepares.iter().chain(slot.commits.iter()) {
                if r == self.id {
                    assert_eq!(
                        by_slot.get(&(seq, slot.view)),
                        Some(d),
                        "replica {}: own vote for seq {seq} view {} not recorded",
                        self.id,
                        slot.view
                    );
                }
            }
        }
    }

    fn check_bounds(&self) {
        let c = &self.config;
        assert!(
            self.timers.waits.len() <= c.settings.view_change_timeout_samples,
            "replica {}: {} waits held, view_change_timeout_samples {}",
            self.id,
            self.timers.waits.len(),
            c.settings.view_change_timeout_samples
        );
        let (pending, queue, executed) = self.requests.sizes();
        assert!(
            pending <= c.settings.max_pending_requests,
            "replica {}: {pending} pending",
            self.id
        );
        assert!(
            queue <= 2 * c.settings.max_pending_requests + 1,
            "replica {}: queue {queue}",
            self.id
        );
        assert!(
            executed <= c.settings.executed_requests_remembered,
            "replica {}: {executed} executed digests remembered",
            self.id
        );
        let window_slots = c.settings.watermark_window_seqs as usize;
        assert!(
            self.log.len() <= window_slots,
            "replica {}: {} log slots",
            self.id,
            self.log.len()
        );
        self.view_changes.check(
            self.id,
            self.view,
            self.current_target(),
            c.settings.max_future_views,
            c.n(),
        );
        if let (Some(crate::replica::Awaited::Slot(seq)), Status::Normal) =
            (self.awaited, self.status)
        {
            let waiting = seq > self.last_executed
                && self.log.slot(seq).is_some_and(|s| s.pre_prepare.is_some());
            assert!(
                waiting,
                "replica {}: the view-change timer waits for slot {seq}, not a pre-prepared \
                 slot above the last execution {}",
                self.id, self.last_executed
            );
        }
        if let Some(first) = self.own_votes.keys().next() {
            // Votes above the window can remain from a window that a 2f+1 fetch had moved (kept
            // until the checkpoint is stable): at most two windows, three kinds, two views.
            let bound = 12 * c.settings.watermark_window_seqs as usize;
            assert!(
                first.0 > self.checkpoints.stable().seq && self.own_votes.len() <= bound,
                "replica {}: {} own votes from seq {} (stable {}, bound {bound})",
                self.id,
                self.own_votes.len(),
                first.0,
                self.checkpoints.stable().seq
            );
            let old = self.own_votes.keys().find(|k| k.1 < self.view);
            assert!(
                old.is_none(),
                "replica {}: own vote of an old view kept: {old:?} (view {})",
                self.id,
                self.view
            );
        }
        assert!(
            self.peer_views.len() <= c.n(),
            "replica {}: peer views",
            self.id
        );
        // Durable batches (served to FETCH-BATCH): above the stable checkpoint, at most the
        // last voted and the certified one per seq (`persist_batch`).
        for (seq, batches) in &self.durable_batches {
            assert!(
                *seq > self.checkpoints.stable().seq && batches.len() <= 2,
                "replica {}: {} durable batches at seq {seq} (stable {})",
                self.id,
                batches.len(),
                self.checkpoints.stable().seq
            );
        }
    }
}
