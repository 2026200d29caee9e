//! Recovery after a crash: rebuilding a [`Replica`] from the durable entries its outputs
//! persisted (the key schema and its parser are in [`crate::durable`]).
//!
//! The replica comes back in the view (or view change) it was in, with its stable checkpoint,
//! the window's floor and an outstanding fetch, its prepared certificates, own votes, own
//! checkpoints, own view-changes and the NEW-VIEW that installed its view; the slots it voted
//! for are rebuilt with their durable batches. Every value is checked as untrusted input would
//! be: a store that does not hold what this replica wrote is refused with a typed error.

use crate::application::Application;
use crate::config::Config;
use crate::durable::{read, DurableState, RecoverError, VoteKind};
use crate::message::{null_digest, Batch, Commit, Message, NewView, PrePrepare, Prepare, Request};
use crate::replica::{Replica, Status};
use crate::{ReplicaId, SeqNum, View};
use bftledger_crypto::SecretKey;
use bftledger_crypto::{Digest, Signature};
use std::collections::BTreeMap;

impl<A: Application> Replica<A> {
    /// Rebuilds a replica after a crash from the durable entries its outputs persisted.
    ///
    /// The replica comes back in the view (or view change) it was in, with its stable
    /// checkpoint, prepared certificates, own votes and own checkpoints; it re-sends the same
    /// votes and never signs a different digest for a (view, seq) it voted on. It also gets back
    /// the NEW-VIEW that installed the recovered view (key `N`), to answer stale VIEW-CHANGEs
    /// for that view, and its own view-changes since it was last in normal status (§4.5).
    /// The driver must skip [`crate::CommittedBatch`]es at or below the application's height and
    /// still report [`crate::Input::Executed`] for each (with its state root at that height).
    ///
    /// # Panics
    /// As [`Replica::new`]: on an invalid `config` (the host validates it at start-up), an `id`
    /// that is not a validator or a `key` that is not `validators[id]`'s.
    pub fn recover(
        config: Config,
        id: ReplicaId,
        key: SecretKey,
        app: A,
        durable: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
    ) -> Result<Replica<A>, RecoverError> {
        let state = read(durable)?;
        let mut replica = Replica::new(config, id, key, app);
        replica.restore(state)?;
        replica.check_invariants();
        Ok(replica)
    }

    fn restore(&mut self, state: DurableState) -> Result<(), RecoverError> {
        if let Some((view, target)) = state.view {
            self.view = view;
            self.status = match target {
                Some(target) if target > view => Status::ViewChanging { target },
                Some(_) => return Err(RecoverError::Inconsistent("view-change target <= view")),
                None => Status::Normal,
            };
        }
        if let Some(stable) = state.stable {
            if stable
                .verify_with(&self.config.validators, &self.quorum)
                .is_err()
            {
                return Err(RecoverError::Inconsistent(
                    "stable checkpoint proof invalid",
                ));
            }
            self.checkpoints.restore_stable(stable);
        }
        let executed = state.executed.map_or(0, |(seq, _)| seq);
        self.last_executed = executed.max(self.checkpoints.stable().seq);
        self.last_reported = self.last_executed;
        // The floor came with the deletion of the prepared certificates below it: without it a
        // VIEW-CHANGE would report the old stable checkpoint and miss those certificates.
        if let Some(floor) = state
            .floor
            .filter(|f| f.seq > self.checkpoints.stable().seq)
        {
            if !self.checkpoints.is_strong(&floor)
                || floor
                    .verify_with(&self.config.validators, &self.quorum)
                    .is_err()
            {
                return Err(RecoverError::Inconsistent("window floor proof invalid"));
            }
            self.checkpoints.restore_floor(floor, self.last_executed);
        }
        if let Some(fetch) = state.fetch.filter(|f| f.seq > self.last_executed) {
            if fetch.verify_weak(&self.config.validators).is_err() {
                return Err(RecoverError::Inconsistent("state transfer proof invalid"));
            }
            self.checkpoints.restore_fetch(fetch, self.last_executed);
        }
        self.own_votes = state
            .votes
            .into_iter()
            .filter(|((seq, view, _), _)| {
                *seq > self.checkpoints.stable().seq && *view >= self.view
            })
            .collect();
        self.checkpoints.restore_own(state.checkpoints);
        for (&(seq, digest), (_, _, batch)) in &state.batches {
            self.durable_batches
                .entry(seq)
                .or_default()
                .insert(digest, batch.clone());
        }
        let (low, high) = (self.window_low(), self.high_watermark());
        for (seq, cert) in state.prepared {
            if seq > low && seq <= high {
                let key = (seq, cert.pre_prepare.digest);
                let batch = state.batches.get(&key).map(|(_, _, b)| b.clone());
                self.log.record_prepared(cert, batch);
            }
        }
        self.restore_slots(&state.batches);
        self.last_assigned = self
            .own_votes
            .keys()
            .filter(|(_, view, kind)| *view == self.view && *kind == VoteKind::PrePrepare)
            .map(|(seq, _, _)| *seq)
            .max()
            .unwrap_or(0)
            .max(self.last_executed)
            .max(self.checkpoints.fetching_seq());
        // Own view-changes for views above the recovered one (the target and those asked for
        // before it) are re-sent as signed: a replica still waiting for 2f+1 view-changes for an
        // earlier view needs ours (TOCS'02 §4.5.2 liveness; retransmission of §5.2).
        if let Status::ViewChanging { target } = self.status {
            if !state.view_changes.contains_key(&target) {
                return Err(RecoverError::Inconsistent(
                    "view-changing without an own view-change for the target",
                ));
            }
            for (view, (vc, signature)) in state.view_changes.range(self.view + 1..=target) {
                self.view_changes
                    .restore_own(self.id, *view, vc, *signature);
            }
        }
        // §4.5 (liveness): the NEW-VIEW that installed the recovered view answers stale
        // VIEW-CHANGEs for it (the primary's own sends may never have left).
        if let Some(nv) = state.new_view {
            let Message::NewView(new_view) = &nv.message else {
                return Err(RecoverError::Inconsistent(
                    "new-view entry is another message",
                ));
            };
            if nv.from != self.config.primary(new_view.view) {
                return Err(RecoverError::Inconsistent(
                    "new-view not signed by the primary of its view",
                ));
            }
            if new_view.view == self.view {
                if self.status == Status::Normal && self.is_primary() {
                    self.restore_new_view_slots(new_view);
                }
                self.view_changes.restore_installed(nv);
            }
        }
        Ok(())
    }

    /// Slots at or below this are not rebuilt: below the window, or replaced by the state
    /// being fetched (nothing there may be handed out for execution again).
    fn restored_slots_low(&self) -> SeqNum {
        self.window_low().max(self.checkpoints.fetching_seq())
    }

    /// Rebuilds the current view's slots this replica voted on from the durable batches, own
    /// votes and prepared certificates, so that retransmission and execution resume where they
    /// were (signatures of own votes are recomputed: ed25519 is deterministic).
    fn restore_slots(&mut self, batches: &BTreeMap<(SeqNum, Digest), (View, Signature, Batch)>) {
        let (low, high) = (self.restored_slots_low(), self.high_watermark());
        let view = self.view;
        for (&(seq, digest), (batch_view, signature, batch)) in batches {
            let voted = |kind| self.own_votes.get(&(seq, view, kind)) == Some(&digest);
            let accepted = voted(VoteKind::PrePrepare) || voted(VoteKind::Prepare);
            if *batch_view != view || seq <= low || seq > high || !accepted {
                continue;
            }
            let (prepared, commit) = (voted(VoteKind::Prepare), voted(VoteKind::Commit));
            let (digests, ids) = self.identify(batch);
            self.requests.mark_in_log(&ids);
            let cert_prepares = self
                .log
                .prepared()
                .find(|(c, _)| c.pre_prepare.seq == seq && c.pre_prepare.view == view)
                .filter(|(c, _)| c.pre_prepare.digest == digest)
                .map(|(c, _)| c.prepares.clone());
            let prepare_sig = prepared.then(|| {
                self.sign(Message::Prepare(Prepare { view, seq, digest }))
                    .signature
            });
            let commit_sig = commit.then(|| {
                self.sign(Message::Commit(Commit { view, seq, digest }))
                    .signature
            });
            let id = self.id;
            let slot = self.log.slot_mut(seq, view);
            slot.pre_prepare = Some((PrePrepare { view, seq, digest }, *signature));
            slot.batch = Some(batch.clone());
            slot.request_digests = digests;
            slot.request_ids = ids;
            if let Some(sig) = prepare_sig {
                slot.prepares.insert(id, digest, sig);
            }
            if let Some(prepares) = cert_prepares {
                for (r, sig) in prepares {
                    slot.prepares.insert(r, digest, sig);
                }
                slot.prepared = true;
                if let Some(sig) = commit_sig {
                    slot.commits.insert(id, digest, sig);
                }
            }
        }
    }

    /// The recovered primary of the view re-installs the O-set slots of its own NEW-VIEW that
    /// [`Replica::restore_slots`] did not (a batch made durable in an earlier view keeps that
    /// view in its `B` entry, and an O-set entry may have no batch here at all), so it can
    /// collect the prepares and commits of the new view and fetch what it lacks.
    fn restore_new_view_slots(&mut self, new_view: &NewView) {
        let (low, high) = (self.restored_slots_low(), self.high_watermark());
        let view = self.view;
        for spp in &new_view.pre_prepares {
            let pp = spp.pre_prepare;
            let voted =
                self.own_votes.get(&(pp.seq, view, VoteKind::PrePrepare)) == Some(&pp.digest);
            let present = self
                .log
                .slot(pp.seq)
                .is_some_and(|s| s.view == view && s.pre_prepare.is_some());
            if pp.seq <= low || pp.seq > high || !voted || present {
                continue;
            }
            let batch = if pp.digest == null_digest() {
                Some(Batch::from(Vec::<Request>::new()))
            } else {
                self.held_batch(pp.seq, &pp.digest)
            };
            let (digests, ids) = batch.as_ref().map(|b| self.identify(b)).unwrap_or_default();
            self.requests.mark_in_log(&ids);
            let slot = self.log.slot_mut(pp.seq, view);
            slot.pre_prepare = Some((pp, spp.signature));
            slot.batch = batch;
            slot.request_digests = digests;
            slot.request_ids = ids;
        }
    }
}
