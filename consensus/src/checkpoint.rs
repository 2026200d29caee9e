//! Checkpoints, stable checkpoints, watermarks and log garbage collection (§4.3), and the state
//! transfer trigger.

use crate::application::Application;
pub(crate) mod checkpoints;

use crate::durable;
use crate::error::Rejection;
use crate::message::{Checkpoint, CheckpointProof, Message};
use crate::mutants::Mutant;
use crate::replica::Replica;
use crate::step_io::{Event, FetchState, Output, Target};
use crate::{ReplicaId, SeqNum};
use bftledger_crypto::{Digest, Signature};

impl<A: Application> Replica<A> {
    /// The application executed `seq` with resulting `state_root`: remembered durably, and at
    /// every K-th seq a checkpoint is signed and multicast (§4.3).
    pub(crate) fn on_executed(&mut self, seq: SeqNum, state_root: Digest, out: &mut Output) {
        if seq > self.last_executed || seq <= self.last_reported {
            let last_executed = self.last_executed;
            out.reject(None, Rejection::UnexpectedExecuted { seq, last_executed });
            return;
        }
        self.last_reported = seq;
        out.push_persist(durable::put_executed(seq, state_root));
        if seq.is_multiple_of(self.config.settings.checkpoint_interval_seqs)
            && seq > self.checkpoints.stable.seq
        {
            self.send_checkpoint(seq, state_root, out);
        }
        self.resolve_lagging(out, false);
    }

    /// §4.3: sign CHECKPOINT(n, d, i) for state root d after executing n (a multiple of K),
    /// record it durably and multicast it.
    pub fn send_checkpoint(&mut self, seq: SeqNum, state_root: Digest, out: &mut Output) {
        self.checkpoints.own.insert(seq, state_root);
        out.push_persist(durable::put_checkpoint(seq, state_root));
        let checkpoint = Checkpoint { seq, state_root };
        let signed = self.send(Target::All, Message::Checkpoint(checkpoint), out);
        self.checkpoints.votes.entry(seq).or_default().insert(
            self.id,
            state_root,
            signed.signature,
        );
        self.check_stable(seq, out);
    }

    /// §4.3: a replica accepts CHECKPOINT(n, d, j) for a multiple of K above its low watermark.
    /// Inside the window one vote per peer per seq is kept; beyond the high watermark only each
    /// peer's highest (so a lagging replica can still learn of a stable checkpoint far ahead,
    /// with bounded memory). 2f+1 matching votes make the checkpoint stable.
    pub fn on_checkpoint(
        &mut self,
        from: ReplicaId,
        checkpoint: Checkpoint,
        signature: Signature,
        out: &mut Output,
    ) {
        let Checkpoint { seq, state_root } = checkpoint;
        let low = self.window_low();
        if !seq.is_multiple_of(self.config.settings.checkpoint_interval_seqs) || seq == 0 {
            out.reject(Some(from), Rejection::BadCheckpointSeq { seq, low });
            return;
        }
        if seq <= self.checkpoints.stable.seq || seq < low {
            return; // stale (retransmitted proofs of a checkpoint we already have): not a fault
        }
        let high = self.high_watermark();
        if seq > high && !self.keep_only_latest_beyond_window(from, seq, high) {
            return;
        }
        let votes = self.checkpoints.votes.entry(seq).or_default();
        if !votes.insert(from, state_root, signature) {
            if votes.iter().any(|(r, d)| r == from && *d != state_root) {
                out.reject(Some(from), Rejection::Equivocation { from, seq });
            }
            return;
        }
        self.check_stable(seq, out);
    }

    /// Beyond the window, `from` keeps one vote: its highest. Returns false if `seq` is not
    /// higher than what `from` already has there.
    fn keep_only_latest_beyond_window(
        &mut self,
        from: ReplicaId,
        seq: SeqNum,
        high: SeqNum,
    ) -> bool {
        let older: Vec<SeqNum> = self
            .checkpoints
            .votes
            .range(high + 1..)
            .filter(|(_, votes)| votes.contains(from))
            .map(|(s, _)| *s)
            .collect();
        if older.iter().any(|s| *s >= seq) {
            return false;
        }
        for s in older {
            if let Some(votes) = self.checkpoints.votes.get_mut(&s) {
                votes.remove(from);
                if votes.is_empty() {
                    self.checkpoints.votes.remove(&s);
                }
            }
        }
        true
    }

    /// 2f+1 matching checkpoint votes for `seq` form a stable-checkpoint proof: adopt it if the
    /// replica executed that far, otherwise ask the driver for state transfer.
    fn check_stable(&mut self, seq: SeqNum, out: &mut Output) {
        let (strong, weak) = (self.quorum.checkpoint_votes_needed(), self.quorum.weak());
        let Some(votes) = self.checkpoints.votes.get(&seq) else {
            return;
        };
        if seq <= self.checkpoints.stable.seq {
            return;
        }
        let Some((root, count)) = votes
            .iter()
            .map(|(_, d)| (*d, votes.count(d)))
            .max_by_key(|(_, count)| *count)
        else {
            return;
        };
        let mut signatures = votes.signers(&root);
        signatures.truncate(strong);
        let proof = CheckpointProof {
            seq,
            state_root: root,
            signatures,
        };
        if count >= strong {
            self.adopt_stable_proof(proof, false, out);
        } else if count >= weak && seq > self.last_executed {
            // TOCS'02 §6.2: f+1 matching checkpoints already vouch for the state (one of the
            // signers is correct), enough to fetch it; stability still needs 2f+1.
            self.want_state(proof, false, out);
        }
    }

    /// A fetch overtaken by execution: its proof (if 2f+1) still makes the checkpoint stable.
    pub(crate) fn adopt_stable_proof_if_strong(
        &mut self,
        proof: CheckpointProof,
        out: &mut Output,
    ) {
        if self.checkpoints.is_strong(&proof) {
            self.adopt_stable_proof(proof, false, out);
        }
    }

    /// A verified stable-checkpoint proof (2f+1; from checkpoint votes, a view-change or a
    /// new-view): stable now if executed that far, else fetch its state.
    ///
    /// With `fetch_now` (entering a view whose O-set starts at this checkpoint: the old view's
    /// slots are gone, so waiting cannot help) a fetch is requested at once.
    pub(crate) fn adopt_stable_proof(
        &mut self,
        proof: CheckpointProof,
        fetch_now: bool,
        out: &mut Output,
    ) {
        if proof.seq <= self.checkpoints.stable.seq {
            return;
        }
        if proof.seq <= self.last_reported {
            self.make_stable(proof, out);
        } else if proof.seq <= self.last_executed {
            // Handed out but not yet confirmed by the application: a stable checkpoint made
            // durable now would survive a crash the application's execution might not.
            if self
                .checkpoints
                .lagging
                .as_ref()
                .is_none_or(|(l, _)| l.seq <= proof.seq)
            {
                self.checkpoints.lagging = Some((proof, self.timers.now));
            }
        } else {
            self.want_state(proof, fetch_now, out);
        }
    }

    /// A checkpoint (2f+1 or f+1 signatures) beyond `last_executed`: fetch it now if it is
    /// beyond the window (or `fetch_now`); inside the window the missing commits usually arrive
    /// soon (checkpoints of faster replicas overtake them), so give retransmission one period.
    fn want_state(&mut self, proof: CheckpointProof, fetch_now: bool, out: &mut Output) {
        if fetch_now || proof.seq > self.high_watermark() {
            self.request_fetch(proof, out);
        } else if self.checkpoints.lagging.as_ref().is_none_or(|(l, _)| {
            l.seq < proof.seq || (l.seq == proof.seq && l.signatures.len() < proof.signatures.len())
        }) {
            self.checkpoints.lagging = Some((proof, self.timers.now));
        }
    }

    /// Called after execution, execution reports and retransmission: a lagging proof becomes
    /// stable once the application reported executing it (if it has 2f+1 signatures), or (after a retransmission period without catching
    /// up) triggers a fetch.
    pub(crate) fn resolve_lagging(&mut self, out: &mut Output, allow_fetch: bool) {
        let Some((proof, since)) = self.checkpoints.lagging.take() else {
            return;
        };
        if proof.seq <= self.checkpoints.stable.seq {
            return;
        }
        if proof.seq <= self.last_reported {
            if self.checkpoints.is_strong(&proof) {
                self.make_stable(proof, out);
            }
        } else if proof.seq <= self.last_executed {
            if self.checkpoints.is_strong(&proof) {
                self.checkpoints.lagging = Some((proof, since)); // wait for the application's report
            }
        } else if allow_fetch && self.timers.now >= since + self.config.settings.retransmit_ticks {
            self.request_fetch(proof, out);
        } else {
            self.checkpoints.lagging = Some((proof, since));
        }
    }

    /// Asks the driver to fetch the state of `proof` (once per higher checkpoint; repeated by
    /// retransmission while it is outstanding).
    fn request_fetch(&mut self, proof: CheckpointProof, out: &mut Output) {
        if let Some(fetch) = &self.checkpoints.fetch {
            // The same checkpoint with a stronger (2f+1) proof goes through again: it moves the
            // window, so the log below it must be collected.
            let stronger =
                fetch.seq == proof.seq && fetch.signatures.len() < proof.signatures.len();
            if fetch.seq >= proof.seq && !stronger {
                return;
            }
        }
        out.set_fetch_state(FetchState {
            seq: proof.seq,
            state_root: proof.state_root,
            proof: proof.clone(),
        });
        let seq = proof.seq;
        let forget_prepared = self.config.mutated(Mutant::FetchForgetsPrepared);
        if self.checkpoints.is_strong(&proof)
            && self.checkpoints.floor.as_ref().is_none_or(|f| f.seq < seq)
        {
            self.raise_floor(proof.clone(), out);
        } else if forget_prepared {
            for s in self.log.collect_garbage(seq) {
                out.push_persist(durable::delete_prepared(s));
            }
        } else {
            // The fetched state replaces those seqs, so their slots go (nothing at or below the
            // fetched checkpoint is handed out for execution meanwhile: the driver may install
            // the state at any moment); their prepared certificates stay, for VIEW-CHANGE.
            self.log.drop_slots_upto(seq);
        }
        // Durable, so that a restart after the driver installed the state but before it told
        // the core (`Input::StateTransferred`) neither executes those seqs again nor forgets it
        // is fetching: the driver finds the state already there and reports it.
        out.push_persist(durable::put_fetch(&proof));
        self.checkpoints.fetch = Some(proof);
        self.checkpoints.forget_lagging_upto(seq);
        // Votes for `seq` itself are kept: with this replica's own checkpoint after the
        // transfer they may complete the 2f+1 proof.
        self.checkpoints.votes = self.checkpoints.votes.split_off(&seq);
        self.last_assigned = self.last_assigned.max(seq);
        self.checkpoints.assert_fetching(self.id, seq);
    }

    /// A 2f+1 checkpoint proof above the stable one becomes the window's floor: from now on a
    /// VIEW-CHANGE reports it (TOCS'02 §4.4: the checkpoint and the prepared certificates above
    /// it), so the log and the prepared certificates at or below it may go.
    ///
    /// Rule (safety-holes issue, item 1): a correct replica never forgets a prepared certificate
    /// above the checkpoint it would report in a VIEW-CHANGE, across crashes too. So the floor
    /// is written durably in the same output as the deletions (a crash cannot keep one without
    /// the other), and a fetch on only f+1 votes, which does not move what a VIEW-CHANGE
    /// reports, deletes nothing.
    fn raise_floor(&mut self, proof: CheckpointProof, out: &mut Output) {
        let seq = proof.seq;
        assert!(
            self.checkpoints.is_strong(&proof) && seq > self.checkpoints.stable.seq,
            "replica {}: floor {seq} must be a 2f+1 proof above stable {}",
            self.id,
            self.checkpoints.stable.seq
        );
        if !self.config.mutated(Mutant::FetchForgetsPrepared) {
            out.push_persist(durable::put_floor(&proof));
        }
        self.checkpoints.floor = Some(proof);
        // Own votes stay (durably) until the checkpoint is stable, so a crash meanwhile cannot
        // make this replica sign something different for those seqs.
        for s in self.log.collect_garbage(seq) {
            out.push_persist(durable::delete_prepared(s));
        }
    }

    /// The outstanding fetch is over (installed, overtaken by execution, or below a new stable
    /// checkpoint): forgotten, durably too.
    pub(crate) fn end_fetch(&mut self, out: &mut Output) -> Option<CheckpointProof> {
        let fetch = self.checkpoints.fetch.take();
        if fetch.is_some() {
            out.push_persist(durable::delete_fetch());
        }
        fetch
    }

    /// Re-emits the outstanding fetch request (retransmission rule).
    pub(crate) fn repeat_fetch(&self, out: &mut Output) {
        if let Some(proof) = &self.checkpoints.fetch {
            out.set_fetch_state(FetchState {
                seq: proof.seq,
                state_root: proof.state_root,
                proof: proof.clone(),
            });
        }
    }

    /// §4.3: the checkpoint becomes stable: the low watermark moves to it, and log entries,
    /// certificates, votes and own checkpoints at or below it are discarded (durably too).
    pub(crate) fn make_stable(&mut self, proof: CheckpointProof, out: &mut Output) {
        let seq = proof.seq;
        if seq <= self.checkpoints.stable.seq {
            return;
        }
        assert!(
            seq <= self.last_reported,
            "stable checkpoint {seq} beyond what the application reported executed ({})",
            self.last_reported
        );
        out.push_persist(durable::put_stable(&proof));
        out.push_event(Event::StableCheckpoint {
            seq,
            state_root: proof.state_root,
        });
        self.checkpoints.stable = proof;
        for s in self.log.collect_garbage(seq) {
            out.push_persist(durable::delete_prepared(s));
        }
        let dropped_votes: Vec<_> = self
            .own_votes
            .range(..(seq + 1, 0, durable::VoteKind::PrePrepare))
            .map(|(k, _)| *k)
            .collect();
        for (s, view, kind) in dropped_votes {
            self.own_votes.remove(&(s, view, kind));
            out.push_persist(durable::delete_vote(s, view, kind));
        }
        let dropped_checkpoints: Vec<SeqNum> =
            self.checkpoints.own.range(..seq).map(|(s, _)| *s).collect();
        for s in dropped_checkpoints {
            self.checkpoints.own.remove(&s);
            out.push_persist(durable::delete_checkpoint(s));
        }
        self.checkpoints.votes = self.checkpoints.votes.split_off(&(seq + 1));
        let kept = self.durable_batches.split_off(&(seq + 1));
        for (s, batches) in std::mem::replace(&mut self.durable_batches, kept) {
            for d in batches.into_keys() {
                out.push_persist(durable::delete_batch(s, &d));
            }
        }
        if self
            .checkpoints
            .fetch
            .as_ref()
            .is_some_and(|f| f.seq <= seq)
        {
            self.end_fetch(out);
        }
        if self
            .checkpoints
            .floor
            .as_ref()
            .is_some_and(|f| f.seq <= seq)
        {
            self.checkpoints.floor = None;
            out.push_persist(durable::delete_floor());
        }
        self.checkpoints.forget_lagging_upto(seq);
        self.last_assigned = self.last_assigned.max(seq);
        self.checkpoints.assert_collected(self.id);
    }

    /// The driver installed the state of the checkpoint it was asked to fetch: execution
    /// resumes after it.
    pub(crate) fn on_state_transferred(
        &mut self,
        seq: SeqNum,
        state_root: Digest,
        out: &mut Output,
    ) {
        let matches = self
            .checkpoints
            .fetch
            .as_ref()
            .is_some_and(|f| f.seq == seq && f.state_root == state_root);
        if !matches || seq <= self.last_executed {
            out.reject(None, Rejection::UnexpectedStateTransfer { seq });
            return;
        }
        let Some(proof) = self.end_fetch(out) else {
            return;
        };
        self.last_executed = seq;
        self.last_reported = seq;
        out.push_persist(durable::put_executed(seq, state_root));
        out.push_event(Event::StateTransferred { seq });
        // Which pending requests the transferred state executed is unknown here: forget them
        // rather than risk ordering one twice (clients re-submit what is still missing).
        self.requests.forget_pending();
        // The running timer's wait ends in fetched state, not in an execution: not a sample.
        self.timers.forget_wait();
        if self.checkpoints.is_strong(&proof) {
            self.make_stable(proof, out);
        } else {
            // Fetched on f+1 signatures: this replica now holds the state too and says so, which
            // may complete the 2f+1 proof.
            self.send_checkpoint(seq, state_root, out);
        }
        self.execute_committed(out);
    }
}
