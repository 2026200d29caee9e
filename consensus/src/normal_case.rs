//! Normal-case operation (§4.2): pre-prepare → prepare → commit → execute, with request
//! batching at the primary and retransmission of own messages.

use crate::application::Application;
use crate::durable::{self, VoteKind};
use crate::error::Rejection;
use crate::message::{
    batch_digest_of_request_digests, Batch, Commit, CommitCertificate, Message, PrePrepare,
    Prepare, PreparedCertificate, Request,
};
use crate::mutants::Mutant;
use crate::replica::{Replica, Status};
use crate::step_io::{CommittedBatch, Event, Output, Phase, Target, ViewChangeCause};
use crate::{ReplicaId, SeqNum};
use bftledger_crypto::{Digest, Signature};
use std::collections::HashSet;

/// A batch's request byte digests and identities, in order.
type Identified = (Vec<Digest>, Vec<Digest>);

/// A batch ready to propose: identities, byte digests and requests, in order.
type ValidBatch = (Vec<Digest>, Vec<Digest>, Vec<Request>);

impl<A: Application> Replica<A> {
    /// Proposes as many batches as are ready, never beyond the high watermark (§4.2): full ones
    /// at once; a partial one at once while the pipeline is idle (fewer than
    /// `eager_batches_in_flight` batches proposed and not yet executed), else when the batch
    /// delay expired. So a lone request waits for no timer, and under load requests gather
    /// into batches while earlier ones are in flight.
    pub(crate) fn propose_ready(&mut self, out: &mut Output) {
        if self.status != Status::Normal || !self.is_primary() {
            self.timers.batch_deadline = None;
            return;
        }
        while self.last_assigned < self.high_watermark() && self.requests.has_queued() {
            let full = self
                .requests
                .full_batch_queued(self.config.settings.max_batch_requests);
            if !full && !self.timers.batch_due() && !self.pipeline_idle() {
                break;
            }
            self.propose_batch(out);
        }
        if !self.requests.has_queued() {
            self.timers.batch_deadline = None;
        } else if self.timers.batch_deadline.is_none() {
            self.timers.batch_deadline =
                Some(self.timers.now + self.config.settings.batch_delay_ticks);
        }
    }

    /// Whether fewer than `eager_batches_in_flight` batches are proposed and not yet executed.
    fn pipeline_idle(&self) -> bool {
        let in_flight = self.last_assigned.saturating_sub(self.last_executed);
        in_flight < self.config.settings.eager_batches_in_flight
    }

    /// §4.2: the primary assigns the next sequence number to a batch of queued requests that
    /// the application accepts, signs PRE-PREPARE(v, n, d), records its vote durably and
    /// multicasts it with the batch.
    pub fn propose_batch(&mut self, out: &mut Output) -> Option<SeqNum> {
        let (view, seq) = (self.view, self.last_assigned + 1);
        assert!(
            self.status == Status::Normal && self.is_primary() && seq > self.window_low(),
            "replica {}: proposing seq {seq} in view {view} while {:?}, primary of the view {}, \
             window low {}",
            self.id,
            self.status,
            self.config.primary(view),
            self.window_low()
        );
        let (ids, digests, requests) = self.take_valid_batch(out)?;
        let digest = batch_digest_of_request_digests(&digests);
        if !self.record_own_vote(seq, view, VoteKind::PrePrepare, digest, out) {
            return None;
        }
        self.last_assigned = seq;
        let pre_prepare = PrePrepare { view, seq, digest };
        let batch: Batch = requests.into();
        let message = Message::PrePrepare {
            pre_prepare,
            batch: batch.clone(),
        };
        let signed = self.send(Target::All, message, out);
        self.requests.mark_in_log(&ids);
        let slot = self.log.slot_mut(seq, view);
        slot.pre_prepare = Some((pre_prepare, signed.signature));
        slot.batch = Some(batch);
        slot.request_digests = digests;
        slot.request_ids = ids;
        out.push_event(Event::Proposed {
            view,
            seq,
            requests: slot.request_digests.len(),
        });
        out.progress(view, seq, Phase::PrePrepared);
        self.persist_batch(seq, view, out);
        Some(seq)
    }

    /// Takes queued requests and drops those the application refuses, until a non-empty valid
    /// batch remains (or nothing is queued). Returns identities, byte digests and requests.
    fn take_valid_batch(&mut self, out: &mut Output) -> Option<ValidBatch> {
        loop {
            let taken = self.requests.take_batch(
                self.config.settings.max_batch_requests,
                self.config.settings.max_batch_bytes,
            );
            if taken.is_empty() {
                return None;
            }
            let mut ids = Vec::with_capacity(taken.len());
            let mut digests = Vec::with_capacity(taken.len());
            let mut requests = Vec::with_capacity(taken.len());
            for (id, digest, request) in taken {
                ids.push(id);
                digests.push(digest);
                requests.push(request);
            }
            match self.app.validate_batch(&requests, &digests) {
                Ok(()) => return Some((ids, digests, requests)),
                Err(invalid) => {
                    let mut bad: Vec<usize> = invalid
                        .bad
                        .into_iter()
                        .filter(|i| *i < requests.len())
                        .collect();
                    if bad.is_empty() {
                        bad = (0..requests.len()).collect();
                    }
                    bad.sort_unstable();
                    bad.dedup();
                    for &i in bad.iter().rev() {
                        self.requests.drop_request(&ids.remove(i));
                        digests.remove(i);
                        requests.remove(i);
                    }
                    out.reject(None, Rejection::InvalidBatch { seq: 0, bad });
                    if !requests.is_empty() && self.app.validate_batch(&requests, &digests).is_ok()
                    {
                        return Some((ids, digests, requests));
                    }
                    for id in &ids {
                        self.requests.drop_request(id);
                    }
                }
            }
        }
    }

    /// §4.2: a backup accepts PRE-PREPARE(v, n, d) if it is in view v, the message comes from
    /// primary(v), h < n <= H, it has not accepted a different pre-prepare for (v, n), the batch
    /// matches d, is within the limits, holds no request twice and the application accepts it
    /// (one batch verification of the client signatures). It then multicasts PREPARE.
    /// An invalid batch under a valid primary signature proves the primary faulty: view change.
    pub fn on_pre_prepare(
        &mut self,
        from: ReplicaId,
        pre_prepare: PrePrepare,
        batch: Batch,
        signature: Signature,
        out: &mut Output,
    ) {
        if from == self.id {
            self.attach_batch(pre_prepare, batch, out);
            return;
        }
        self.note_peer_view(from, pre_prepare.view, out);
        let (digests, ids) = match self.can_accept_pre_prepare(from, &pre_prepare, &batch) {
            Ok(Some(identified)) => identified,
            Ok(None) => {
                self.attach_batch(pre_prepare, batch, out);
                return;
            }
            Err(reason) => {
                let primary_faulty = self.proves_primary_faulty(&reason);
                let cause = ViewChangeCause::PrimaryFaulty(reason.kind());
                // A batch that does not match the signed digest came from whoever relayed it
                // (a retransmission, a FETCH-BATCH answer), not from the signer: the rejection
                // names nobody, like the one of `attach_batch`.
                let blamed = match reason {
                    Rejection::DigestMismatch { .. } => None,
                    _ => Some(from),
                };
                out.reject(blamed, reason);
                if primary_faulty {
                    self.start_view_change(self.view + 1, cause, out);
                }
                return;
            }
        };
        let PrePrepare { view, seq, digest } = pre_prepare;
        self.requests.mark_in_log(&ids);
        let slot = self.log.slot_mut(seq, view);
        slot.pre_prepare = Some((pre_prepare, signature));
        slot.batch = Some(batch);
        slot.request_digests = digests;
        slot.request_ids = ids;
        out.progress(view, seq, Phase::PrePrepared);
        self.send_prepare(seq, digest, out);
        self.check_prepared(seq, out);
    }

    /// A slot installed without its batch (from a new-view's O-set, or after a restart) gets
    /// the batch from a relayed pre-prepare of the same (view, seq, digest) — a FETCH-BATCH
    /// answer or a retransmission — checked by digest; execution may then resume. A backup of
    /// the current view that had not prepared the slot (it lacked the batch) prepares it now:
    /// a correct backup prepares only batches it holds (see `fetch_batch.rs`).
    fn attach_batch(&mut self, pre_prepare: PrePrepare, batch: Batch, out: &mut Output) {
        let PrePrepare { view, seq, digest } = pre_prepare;
        let Some(slot) = self.log.slot(seq) else {
            return;
        };
        if slot.view != view || slot.digest() != Some(digest) || slot.batch.is_some() {
            return;
        }
        let digests: Vec<Digest> = batch.iter().map(Request::digest).collect();
        let actual = batch_digest_of_request_digests(&digests);
        if actual != digest {
            // Attached by a relayer, not signed by the primary: rejected, nobody accused.
            let reason = Rejection::DigestMismatch {
                seq,
                expected: digest,
                actual,
            };
            out.reject(None, reason);
            return;
        }
        let ids = self.request_ids(&batch, &digests);
        self.requests.mark_in_log(&ids);
        let slot = self.log.slot_mut(seq, view);
        slot.batch = Some(batch);
        slot.request_digests = digests;
        slot.request_ids = ids;
        let voted = [VoteKind::PrePrepare, VoteKind::Prepare]
            .iter()
            .any(|k| self.own_votes.contains_key(&(seq, view, *k)));
        if voted {
            self.persist_batch(seq, view, out);
        }
        let prepare_now = self.status == Status::Normal
            && view == self.view
            && !self.is_primary()
            && !self.own_votes.contains_key(&(seq, view, VoteKind::Prepare));
        if prepare_now {
            self.send_prepare(seq, digest, out);
            self.check_prepared(seq, out);
        }
        self.execute_committed(out);
    }

    /// Whether a refused pre-prepare proves its primary faulty (a view change at once).
    ///
    /// Only what the primary signed can prove anything: the PRE-PREPARE signature covers
    /// (v, n, d), not the batch travelling beside it. So a batch counts against the primary
    /// only once it matches the signed digest d ([`Replica::can_accept_pre_prepare`] checks the
    /// digest before anything else about the batch): then it is the batch the primary chose,
    /// and one that is too large, repeats a request or fails the application's check proves
    /// the primary faulty. A batch that does not match d was attached by whoever relayed the
    /// message and proves nothing about the primary (safety-holes issue, item 5).
    fn proves_primary_faulty(&self, reason: &Rejection) -> bool {
        match reason {
            Rejection::InvalidBatch { .. }
            | Rejection::DuplicateRequestInBatch { .. }
            | Rejection::BatchTooLarge { .. } => true,
            Rejection::DigestMismatch { .. } => {
                self.config.mutated(Mutant::UnsignedBatchBlamesPrimary)
            }
            _ => false,
        }
    }

    /// Backup: durably records and multicasts PREPARE(v, n, d), counting it in its own slot.
    pub(crate) fn send_prepare(&mut self, seq: SeqNum, digest: Digest, out: &mut Output) {
        let view = self.view;
        if !self.record_own_vote(seq, view, VoteKind::Prepare, digest, out) {
            return;
        }
        let prepare = Prepare { view, seq, digest };
        let signed = self.send(Target::All, Message::Prepare(prepare), out);
        let slot = self.log.slot_mut(seq, view);
        slot.prepares.insert(self.id, digest, signed.signature);
        self.persist_batch(seq, view, out);
    }

    /// The acceptance rule of [`Replica::on_pre_prepare`]. `Ok(None)`: a duplicate of the
    /// accepted pre-prepare. `Ok(Some((digests, ids)))`: accept; the requests' byte digests and
    /// identities.
    ///
    /// The batch is unsigned, so the first check on it is that it matches the signed digest;
    /// only then do its size, duplicates and validity say anything about the primary (see
    /// `proves_primary_faulty`).
    pub fn can_accept_pre_prepare(
        &self,
        from: ReplicaId,
        pre_prepare: &PrePrepare,
        batch: &[Request],
    ) -> Result<Option<Identified>, Rejection> {
        let PrePrepare { view, seq, digest } = *pre_prepare;
        self.check_normal_view(view)?;
        if from != self.config.primary(view) {
            return Err(Rejection::NotPrimary { from, view });
        }
        self.in_window(seq)?;
        let second_accepted = self.config.mutated(Mutant::SecondPrePrepareAccepted);
        if let Some(slot) = self.log.slot(seq).filter(|s| s.view == view) {
            match slot.digest() {
                Some(d) if d == digest => return Ok(None),
                Some(_) if !second_accepted => {
                    return Err(Rejection::ConflictingPrePrepare { view, seq })
                }
                _ => {}
            }
        }
        // A vote recorded before a crash binds this replica even though its log is gone.
        let voted = self.own_votes.get(&(seq, view, VoteKind::Prepare));
        if voted.is_some_and(|d| *d != digest) && !second_accepted {
            return Err(Rejection::OwnVoteConflict { view, seq });
        }
        let digests: Vec<Digest> = batch.iter().map(Request::digest).collect();
        let actual = batch_digest_of_request_digests(&digests);
        if actual != digest {
            return Err(Rejection::DigestMismatch {
                seq,
                expected: digest,
                actual,
            });
        }
        let bytes: usize = batch.iter().map(|r| r.payload.len()).sum();
        let too_big_request = batch
            .iter()
            .any(|r| r.payload.len() > self.config.settings.max_request_bytes);
        if batch.len() > self.config.settings.max_batch_requests
            || bytes > self.config.settings.max_batch_bytes
            || too_big_request
        {
            let requests = batch.len();
            return Err(Rejection::BatchTooLarge {
                seq,
                requests,
                bytes,
            });
        }
        self.app
            .validate_batch(batch, &digests)
            .map_err(|e| Rejection::InvalidBatch { seq, bad: e.bad })?;
        let ids = self.request_ids(batch, &digests);
        let mut seen = HashSet::with_capacity(ids.len());
        if let Some(index) = ids.iter().position(|id| !seen.insert(*id)) {
            return Err(Rejection::DuplicateRequestInBatch { seq, index });
        }
        Ok(Some((digests, ids)))
    }

    /// Normal-case messages are accepted only in normal operation and in the current view.
    fn check_normal_view(&self, view: crate::View) -> Result<(), Rejection> {
        if let Status::ViewChanging { target } = self.status {
            return Err(Rejection::ViewChanging { target });
        }
        if view != self.view {
            return Err(Rejection::WrongView {
                view,
                current: self.view,
            });
        }
        Ok(())
    }

    /// §4.2: a replica accepts PREPARE(v, n, d, i) if it is in view v, i is not primary(v),
    /// h < n <= H, and i has not sent a different prepare for (v, n). One vote per sender per
    /// slot bounds what a peer can make us store.
    pub fn on_prepare(
        &mut self,
        from: ReplicaId,
        prepare: Prepare,
        signature: Signature,
        out: &mut Output,
    ) {
        self.note_peer_view(from, prepare.view, out);
        let Prepare { view, seq, digest } = prepare;
        let check = self.check_normal_view(view).and_then(|()| {
            if from == self.config.primary(view) {
                return Err(Rejection::PrepareFromPrimary { from, view });
            }
            self.in_window(seq)
        });
        if let Err(reason) = check {
            out.reject(Some(from), reason);
            return;
        }
        let slot = self.log.slot_mut(seq, view);
        if !slot.prepares.insert(from, digest, signature) {
            if slot.prepares.iter().any(|(r, d)| r == from && *d != digest) {
                out.reject(Some(from), Rejection::Equivocation { from, seq });
            }
            return;
        }
        self.check_prepared(seq, out);
    }

    /// §4.2: prepared(m, v, n, i) holds once the replica has the pre-prepare and 2f matching
    /// prepares from distinct backups (its own included). It then records the prepared
    /// certificate durably and multicasts COMMIT.
    pub(crate) fn check_prepared(&mut self, seq: SeqNum, out: &mut Output) {
        let needed = self.quorum.prepares_needed();
        let (id, is_primary) = (self.id, self.is_primary());
        let Some(slot) = self.log.slot(seq) else {
            return;
        };
        let Some((pre_prepare, primary_signature)) = slot.pre_prepare else {
            return;
        };
        let digest = pre_prepare.digest;
        if slot.prepared
            || slot.view != self.view
            || slot.prepares.count(&digest) < needed
            || (!is_primary && !slot.prepares.contains(id))
        {
            return;
        }
        let mut prepares = slot.prepares.signers(&digest);
        prepares.truncate(needed);
        let cert = PreparedCertificate {
            pre_prepare,
            primary_signature,
            prepares,
        };
        let batch = slot.batch.clone();
        self.log.slot_mut(seq, self.view).prepared = true;
        out.progress(self.view, seq, Phase::Prepared);
        out.push_persist(durable::put_prepared(&cert));
        self.log.record_prepared(cert, batch);
        self.send_commit(seq, digest, out);
        self.check_committed(seq, out);
    }

    fn send_commit(&mut self, seq: SeqNum, digest: Digest, out: &mut Output) {
        let view = self.view;
        if !self.record_own_vote(seq, view, VoteKind::Commit, digest, out) {
            return;
        }
        let commit = Commit { view, seq, digest };
        let signed = self.send(Target::All, Message::Commit(commit), out);
        let slot = self.log.slot_mut(seq, view);
        // §4.2: a replica commits only what it prepared.
        assert!(
            slot.prepared && slot.digest() == Some(digest),
            "replica {}: committing seq {seq} view {view} digest {digest} on slot prepared {} \
             with digest {:?}",
            self.id,
            slot.prepared,
            slot.digest()
        );
        slot.commits.insert(self.id, digest, signed.signature);
    }

    /// §4.2: a replica accepts COMMIT(v, n, d, i) if it is in view v and h < n <= H (one per
    /// sender per slot; a repeat asks for the slot's certificate, see `relay_certificate`); committed-local(m, v, n, i) holds once it is prepared and has 2f+1
    /// matching commits (its own included).
    pub fn on_commit(
        &mut self,
        from: ReplicaId,
        commit: Commit,
        signature: Signature,
        out: &mut Output,
    ) {
        self.note_peer_view(from, commit.view, out);
        let Commit { view, seq, digest } = commit;
        if let Err(reason) = self
            .check_normal_view(view)
            .and_then(|()| self.in_window(seq))
        {
            out.reject(Some(from), reason);
            return;
        }
        let slot = self.log.slot_mut(seq, view);
        if !slot.commits.insert(from, digest, signature) {
            if slot.commits.iter().any(|(r, d)| r == from && *d != digest) {
                out.reject(Some(from), Rejection::Equivocation { from, seq });
            } else {
                self.relay_certificate(from, seq, out);
            }
            return;
        }
        self.check_committed(seq, out);
    }

    fn check_committed(&mut self, seq: SeqNum, out: &mut Output) {
        let strong = self.quorum.commits_needed();
        let Some(slot) = self.log.slot(seq) else {
            return;
        };
        let Some(digest) = slot.digest() else {
            return;
        };
        if !slot.prepared || slot.committed || slot.commits.count(&digest) < strong {
            return;
        }
        self.log.slot_mut(seq, self.view).committed = true;
        out.progress(self.view, seq, Phase::Committed);
        self.execute_committed(out);
    }

    /// §4.2: committed batches are handed out in sequence order, each exactly once, as soon as
    /// every lower seq has been handed out (null batches included, as empty batches).
    pub fn execute_committed(&mut self, out: &mut Output) {
        loop {
            let seq = self.last_executed + 1;
            let Some(slot) = self.log.slot(seq) else {
                break;
            };
            let (Some(digest), Some(batch)) = (slot.digest(), slot.batch.clone()) else {
                break;
            };
            if !slot.committed {
                break;
            }
            // §4.2: committed-local needs prepared and 2f+1 matching commits.
            let mut commits = slot.commits.signers(&digest);
            assert!(
                slot.prepared && commits.len() >= self.quorum.commits_needed(),
                "replica {}: handing out seq {seq} (prepared {}, {} commits)",
                self.id,
                slot.prepared,
                commits.len()
            );
            commits.truncate(self.quorum.commits_needed());
            let certificate = CommitCertificate {
                view: slot.view,
                seq,
                digest,
                commits,
            };
            let view = slot.view;
            let request_digests = slot.request_digests.clone();
            let request_ids = slot.request_ids.clone();
            let conflicts = self.conflict_keys(&batch, &request_digests);
            self.requests.executed(
                &request_ids,
                &conflicts,
                self.config.settings.executed_requests_remembered,
            );
            out.push_execute(CommittedBatch {
                view,
                seq,
                digest,
                requests: batch,
                request_digests,
                request_ids,
                certificate,
            });
            self.last_executed = seq;
            self.timers.failed_views = 0;
            if self.config.mutated(Mutant::TimerStopsOnAnyExecution) {
                self.timers.stop_view_change_timer();
            }
        }
        self.resolve_lagging(out, false);
        if self
            .checkpoints
            .fetching()
            .is_some_and(|f| f.seq <= self.last_executed)
        {
            if let Some(fetch) = self.end_fetch(out) {
                self.adopt_stable_proof_if_strong(fetch, out);
            }
        }
    }
}
