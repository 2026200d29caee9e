//! View changes (§4.4): VIEW-CHANGE with the stable checkpoint proof and prepared
//! certificates, NEW-VIEW with its O-set built by the new primary and recomputed by every
//! backup, timers with backoff (see `timer.rs`) and the f+1 "join a higher view" rule.

use crate::application::Application;
pub(crate) mod view_changes;

use crate::durable::{self, VoteKind};
use crate::error::{NewViewFault, Rejection, ViewChangeFault};
use crate::message::{
    null_digest, signing_bytes, Batch, CheckpointProof, Message, NewView, PrePrepare, Request,
    SignedBody, SignedMessage, SignedPrePrepare, SignedViewChange, ViewChange,
};
use crate::mutants::Mutant;
use crate::quorum::Quorum;
use crate::replica::{Replica, Status};
use crate::step_io::{Event, Output, Target, ViewChangeCause};
use crate::{ReplicaId, SeqNum, View};
use bftledger_crypto::{Digest, Domain, PublicKey, Signature};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// The O-set of a new view (§4.4) and the checkpoint it starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OSet {
    /// min-s: the highest stable checkpoint among the view changes.
    pub min_s: SeqNum,
    /// max-s: the highest seq of any prepared certificate (min-s if none).
    pub max_s: SeqNum,
    /// The proof of the checkpoint at min-s.
    pub stable: CheckpointProof,
    /// One pre-prepare for each seq in (min-s, max-s], ascending.
    pub pre_prepares: Vec<PrePrepare>,
}

/// §4.4: the O-set the primary of `view` computes from the view-change messages V.
/// min-s is the latest stable checkpoint in V and max-s the highest seq in a prepared
/// certificate of V. For every n in (min-s, max-s]: if some certificate in V prepared n, the
/// pre-prepare carries the digest of the certificate with the highest view; otherwise it carries
/// the null batch. Certificates at or below min-s are ignored. Deterministic: every backup
/// recomputes it and must get the same result.
pub fn compute_o_set(view: View, view_changes: &[&ViewChange]) -> OSet {
    let stable = view_changes
        .iter()
        .map(|vc| &vc.stable)
        .fold(None::<&CheckpointProof>, |best, s| match best {
            Some(b) if b.seq >= s.seq => Some(b),
            _ => Some(s),
        })
        .cloned()
        .unwrap_or_else(CheckpointProof::genesis);
    let min_s = stable.seq;
    let mut best: std::collections::BTreeMap<SeqNum, (View, Digest)> = Default::default();
    for cert in view_changes.iter().flat_map(|vc| vc.prepared.iter()) {
        let pp = cert.pre_prepare;
        if pp.seq <= min_s {
            continue;
        }
        let entry = best.entry(pp.seq).or_insert((pp.view, pp.digest));
        if pp.view > entry.0 {
            *entry = (pp.view, pp.digest);
        }
    }
    let max_s = best.keys().next_back().copied().unwrap_or(min_s).max(min_s);
    let null = null_digest();
    let pre_prepares = (min_s + 1..=max_s)
        .map(|seq| PrePrepare {
            view,
            seq,
            digest: best.get(&seq).map_or(null, |(_, d)| *d),
        })
        .collect();
    OSet {
        min_s,
        max_s,
        stable,
        pre_prepares,
    }
}

/// §4.4: a view-change message is well-formed if its checkpoint proof holds, and every prepared
/// certificate verifies, is for a seq in (stable, stable + L] (one per seq) and a view below the
/// new view.
///
/// Proofs and certificates carry no more signatures than a quorum (a correct replica never
/// builds larger ones): a VIEW-CHANGE is then never larger than
/// [`crate::bounds::MessageBounds::view_change`], nor a NEW-VIEW embedding a quorum of them
/// larger than its bound, whatever a Byzantine sender pads them with (item 8).
pub fn validate_view_change(
    validators: &[PublicKey],
    quorum: &Quorum,
    window: SeqNum,
    view_change: &ViewChange,
) -> Result<(), ViewChangeFault> {
    let stable = &view_change.stable;
    let (strong, prepares_max) = (quorum.strong(), quorum.prepares_needed());
    if stable.signatures.len() > strong {
        return Err(ViewChangeFault::ExtraSignatures {
            seq: stable.seq,
            have: stable.signatures.len(),
            max: strong,
        });
    }
    stable
        .verify_with(validators, quorum)
        .map_err(ViewChangeFault::StableProof)?;
    let mut seqs = BTreeSet::new();
    for cert in &view_change.prepared {
        let PrePrepare { view, seq, .. } = cert.pre_prepare;
        if seq <= stable.seq || seq > stable.seq.saturating_add(window) || !seqs.insert(seq) {
            return Err(ViewChangeFault::PreparedSeq { seq });
        }
        if cert.prepares.len() > prepares_max {
            let have = cert.prepares.len();
            return Err(ViewChangeFault::ExtraSignatures {
                seq,
                have,
                max: prepares_max,
            });
        }
        if view >= view_change.new_view {
            let new_view = view_change.new_view;
            return Err(ViewChangeFault::PreparedView { view, new_view });
        }
        cert.verify_with(validators, quorum)
            .map_err(|error| ViewChangeFault::PreparedCertificate { seq, error })?;
    }
    Ok(())
}

impl<A: Application> Replica<A> {
    /// §4.4: move to view `target`: stop normal operation, record the new status durably, and
    /// multicast VIEW-CHANGE(target, stable checkpoint proof, P-set) (also durable, so a
    /// restarted replica re-sends the same one). The timer for `target` is started with the
    /// doubled timeout of a failed view.
    pub fn start_view_change(&mut self, target: View, cause: ViewChangeCause, out: &mut Output) {
        if target <= self.current_target() {
            return;
        }
        self.status = Status::ViewChanging { target };
        out.push_persist(durable::put_view(self.view, Some(target)));
        // A 2f+1 checkpoint fetched beyond the stable one is reported instead (its window holds
        // this replica's prepared certificates).
        let stable = self.checkpoints.reported().clone();
        let low = stable.seq;
        let high = low + self.config.settings.watermark_window_seqs;
        // Digests only (item 8): the batches stay here and are fetched by whoever lacks them.
        let prepared = self
            .log
            .prepared()
            .map(|(cert, _)| cert)
            .filter(|cert| cert.pre_prepare.seq > low && cert.pre_prepare.seq <= high)
            .cloned()
            .collect();
        let view_change = ViewChange {
            new_view: target,
            stable,
            prepared,
        };
        let signed = self.sign(Message::ViewChange(view_change.clone()));
        out.push_persist(durable::put_view_change(&view_change, &signed.signature));
        out.push_send(Target::All, signed.clone());
        self.view_changes.received.retain(|v, _| *v >= target);
        self.view_changes
            .store(self.id, view_change, signed.signature);
        self.view_changes.own.insert(target, signed);
        while self.view_changes.own.len() as u64 > self.config.settings.max_future_views {
            if let Some((view, _)) = self.view_changes.own.pop_first() {
                out.push_persist(durable::delete_view_change(view));
            }
        }
        // TOCS'02 §4.5.2 liveness rule: the timer for `target` starts only once 2f+1
        // view-changes for it are in (see `start_view_change_timer_if_quorum`); until then the
        // replica waits at `target`, re-sending its view-change.
        self.timers.stop_view_change_timer();
        self.timers.failed_views = self.timers.failed_views.saturating_add(1);
        // The view is suspected: what its primary let us measure no longer sets our patience
        // (timer.rs, "samples of the current view only"); the floor does until new waits.
        self.timers.waits.clear();
        out.push_event(Event::ViewChangeStarted {
            view: target,
            cause,
        });
        self.start_view_change_timer_if_quorum();
        self.try_send_new_view(target, out);
    }

    /// TOCS'02 §4.5.2: a replica that sent VIEW-CHANGE for v starts its timer when it has
    /// 2f+1 view-changes for v (its own included), with the timeout doubled per failed view;
    /// if no valid NEW-VIEW arrives in time it moves on to v+1.
    pub(crate) fn start_view_change_timer_if_quorum(&mut self) {
        let Status::ViewChanging { target } = self.status else {
            return;
        };
        let have = self
            .view_changes
            .received
            .get(&target)
            .map_or(0, |m| m.len());
        if have >= self.quorum.strong() && self.timers.view_change_deadline.is_none() {
            let shift_back = self.timers.failed_views.saturating_sub(1);
            let saved = std::mem::replace(&mut self.timers.failed_views, shift_back);
            let (base, max) = self.timers.view_change_bounds(&self.config.settings);
            self.timers.restart_view_change_timer(base, max);
            self.timers.failed_views = saved;
        }
    }

    /// §4.4: a replica accepts VIEW-CHANGE(v, ...) from j for a view above its own (and at most
    /// `max_future_views` beyond the view it is in or changing to), if it is well-formed ([`validate_view_change`]); one per sender
    /// per view is kept. A stale view-change for the current view is answered with the NEW-VIEW
    /// that installed it (the sender missed it; TOCS'02 §4.5 liveness), by any replica that
    /// holds it, also while changing to a later view: the sender may be short of 2f+1
    /// view-changes for this view, so neither its timer nor the f+1 join rule would move it.
    pub fn on_view_change(
        &mut self,
        from: ReplicaId,
        view_change: ViewChange,
        signature: Signature,
        out: &mut Output,
    ) {
        let v = view_change.new_view;
        if v <= self.view {
            // A stale VIEW-CHANGE for the view installed here: its sender missed the NEW-VIEW.
            // Answers are bounded per peer and retransmission period: a stale VIEW-CHANGE costs
            // the sender one signature, the answer a whole NEW-VIEW (item 9).
            if v == self.view && self.view_changes.installed_new_view.is_some() {
                if self.take_relay_budget(from) {
                    if let Some(nv) = &self.view_changes.installed_new_view {
                        out.push_send(Target::One(from), nv.clone());
                    }
                }
            } else {
                let current = self.view;
                out.reject(Some(from), Rejection::ViewOutOfRange { view: v, current });
            }
            return;
        }
        if v > self.current_target() + self.config.settings.max_future_views {
            // Not stored (bounded memory), but it still counts for the f+1 join rule, so a
            // replica left many views behind can catch up.
            let current = self.view;
            out.reject(Some(from), Rejection::ViewOutOfRange { view: v, current });
            self.note_peer_view(from, v, out);
            return;
        }
        // Duplicates before certificates: a VIEW-CHANGE costs up to a window of prepared
        // certificates to verify, so a repeat from the same sender (valid and kept, or refused
        // for what it signed) is dropped unverified (safety-holes issue, item 9). The envelope
        // signature was checked on arrival.
        let seen = self
            .view_changes
            .received
            .get(&v)
            .is_some_and(|per_view| per_view.contains_key(&from));
        if seen || self.view_changes.refused.contains(&(v, from)) {
            return;
        }
        let (validators, window) = (
            &self.config.validators,
            self.config.settings.watermark_window_seqs,
        );
        if let Err(fault) = validate_view_change(validators, &self.quorum, window, &view_change) {
            // Everything a VIEW-CHANGE holds is signed by its sender, so the verdict is the same
            // on every correct replica: a repeat need not be verified again.
            self.view_changes.refused.insert((v, from));
            out.reject(Some(from), Rejection::InvalidViewChange(fault));
            return;
        }
        let stable = view_change.stable.clone();
        if !self.view_changes.store(from, view_change, signature) {
            return;
        }
        self.adopt_stable_proof(stable, false, out);
        self.note_peer_view(from, v, out);
        self.start_view_change_timer_if_quorum();
        self.try_send_new_view(v, out);
    }

    /// §4.4 (liveness): a replica that learns that f+1 replicas are in views above its own joins
    /// the smallest of those views (at least one correct replica is there). Views come from
    /// authenticated view-change and normal-case messages; one entry per peer.
    pub(crate) fn note_peer_view(&mut self, from: ReplicaId, view: View, out: &mut Output) {
        let current = self.current_target();
        if view <= current {
            return;
        }
        let entry = self.peer_views.entry(from).or_insert(view);
        *entry = (*entry).max(view);
        let mut higher: Vec<View> = self
            .peer_views
            .values()
            .copied()
            .filter(|v| *v > current)
            .collect();
        if higher.len() < self.quorum.weak() {
            return;
        }
        higher.sort_unstable_by(|a, b| b.cmp(a));
        let join = higher[self.quorum.weak() - 1];
        self.start_view_change(join, ViewChangeCause::JoinedHigherView, out);
    }

    fn try_send_new_view(&mut self, view: View, out: &mut Output) {
        let ready = self.config.primary(view) == self.id
            && self.status == (Status::ViewChanging { target: view })
            && self
                .view_changes
                .received
                .get(&view)
                .is_some_and(|vcs| vcs.len() >= self.quorum.view_changes_needed());
        if ready {
            self.send_new_view(view, out);
        }
    }

    /// §4.4: the new primary, holding 2f+1 view changes for `view` (its own included), computes
    /// the O-set, signs a pre-prepare for each entry (recorded durably as own votes), multicasts
    /// NEW-VIEW(view, V, O) and enters the view.
    ///
    /// NEW-VIEW carries digests only (item 8), and the primary need not hold the batches of O:
    /// it enters the view with the slots it lacks batches for and fetches them like any backup
    /// (`fetch_batch.rs`); backups that hold them prepare at once.
    pub fn send_new_view(&mut self, view: View, out: &mut Output) {
        let Some(received) = self.view_changes.received.get(&view) else {
            return;
        };
        let mut chosen: Vec<SignedViewChange> = Vec::new();
        if let Some(own) = received.get(&self.id) {
            chosen.push(own.clone());
        }
        for (from, vc) in received {
            if *from != self.id && chosen.len() < self.quorum.view_changes_needed() {
                chosen.push(vc.clone());
            }
        }
        let vcs: Vec<&ViewChange> = chosen.iter().map(|s| &s.view_change).collect();
        let o_set = compute_o_set(view, &vcs);
        let mut pre_prepares = Vec::with_capacity(o_set.pre_prepares.len());
        let low = self.window_low();
        for pp in &o_set.pre_prepares {
            // Entries at or below our own stable checkpoint are signed (backups need them) but
            // not recorded: we never act on those seqs again.
            let record = pp.seq > low;
            if record && !self.record_own_vote(pp.seq, view, VoteKind::PrePrepare, pp.digest, out) {
                return;
            }
            pre_prepares.push(SignedPrePrepare::sign(self.id, *pp, &self.key));
        }
        let new_view = NewView {
            view,
            view_changes: chosen,
            pre_prepares: pre_prepares.clone(),
        };
        let signed = self.send(Target::All, Message::NewView(new_view), out);
        out.push_event(Event::NewViewSent { view });
        self.enter_view(view, o_set, pre_prepares, signed, out);
    }

    /// §4.4: a backup accepts NEW-VIEW(v, V, O) from primary(v) if v is above its view and not
    /// below the view it is changing to, V holds 2f+1 valid view changes for v from distinct
    /// replicas, O equals the O-set it recomputes from V, and every pre-prepare in O is signed
    /// by primary(v). It then enters v and multicasts a prepare for each entry of O.
    pub fn on_new_view(
        &mut self,
        from: ReplicaId,
        new_view: NewView,
        signature: Signature,
        out: &mut Output,
    ) {
        let view = new_view.view;
        if from != self.config.primary(view) {
            out.reject(Some(from), Rejection::NotPrimary { from, view });
            return;
        }
        if view == self.view && self.status == Status::Normal {
            return; // a retransmitted new-view of the view we are in
        }
        if view <= self.view || view < self.current_target() {
            let current = self.view;
            out.reject(Some(from), Rejection::ViewOutOfRange { view, current });
            return;
        }
        if view > self.current_target() + self.config.settings.max_future_views {
            // Bounded work and memory: a replica that far behind joins through the f+1 rule.
            let current = self.view;
            out.reject(Some(from), Rejection::ViewOutOfRange { view, current });
            return;
        }
        if self.view_changes.refused_new_views.contains(&view) {
            return; // its primary already signed an invalid NEW-VIEW for it (item 9)
        }
        match self.validate_new_view(&new_view) {
            Ok(o_set) => {
                let pre_prepares = new_view.pre_prepares.clone();
                let signed = SignedMessage {
                    from,
                    message: Message::NewView(new_view),
                    signature,
                };
                self.enter_view(view, o_set, pre_prepares, signed, out);
            }
            Err(fault) => {
                // A NEW-VIEW is checked against what its primary signed alone, so one that
                // fails proves that primary faulty on every correct replica: later ones for the
                // same view are not verified again (each costs 2f+1 view-changes' worth).
                self.view_changes.refused_new_views.insert(view);
                out.reject(Some(from), Rejection::InvalidNewView(fault))
            }
        }
    }

    /// The full check of [`Replica::on_new_view`]; returns the recomputed O-set.
    ///
    /// V holds exactly a strong quorum of view-changes: more would let a Byzantine primary
    /// inflate a NEW-VIEW beyond [`crate::bounds::MessageBounds::new_view`], which every backup
    /// keeps durably (key `N`) and relays (item 8).
    pub fn validate_new_view(&self, new_view: &NewView) -> Result<OSet, NewViewFault> {
        let view = new_view.view;
        let validators = &self.config.validators;
        let need = self.quorum.view_changes_needed();
        if new_view.view_changes.len() > need {
            return Err(NewViewFault::ExtraViewChanges {
                have: new_view.view_changes.len(),
                max: need,
            });
        }
        let senders: BTreeSet<ReplicaId> = new_view.view_changes.iter().map(|s| s.from).collect();
        if senders.len() < need || senders.len() != new_view.view_changes.len() {
            return Err(NewViewFault::TooFewViewChanges {
                have: senders.len(),
                need,
            });
        }
        for svc in &new_view.view_changes {
            self.check_embedded_view_change(view, svc)?;
        }
        let vcs: Vec<&ViewChange> = new_view
            .view_changes
            .iter()
            .map(|s| &s.view_change)
            .collect();
        let mut o_set = compute_o_set(view, &vcs);
        let given: Vec<PrePrepare> = new_view
            .pre_prepares
            .iter()
            .map(|s| s.pre_prepare)
            .collect();
        if self.config.mutated(Mutant::NewViewUncheckedOSet) {
            o_set.max_s = given.iter().map(|pp| pp.seq).fold(o_set.min_s, SeqNum::max);
            o_set.pre_prepares = given.clone();
        }
        if given != o_set.pre_prepares {
            let seq = first_difference(&given, &o_set.pre_prepares, o_set.min_s);
            return Err(NewViewFault::OSetMismatch { seq });
        }
        let primary = self.config.primary(view);
        let key = &validators[primary as usize];
        for spp in &new_view.pre_prepares {
            if !spp.verify(primary, key) {
                let seq = spp.pre_prepare.seq;
                return Err(NewViewFault::PrePrepareSignature { seq });
            }
        }
        Ok(o_set)
    }

    /// One embedded view change: for `view`, validly signed, well-formed. One already received
    /// and verified directly is not verified again.
    fn check_embedded_view_change(
        &self,
        view: View,
        svc: &SignedViewChange,
    ) -> Result<(), NewViewFault> {
        let from = svc.from;
        if svc.view_change.new_view != view {
            let other = svc.view_change.new_view;
            return Err(NewViewFault::ViewChangeForOtherView { from, view: other });
        }
        let already_verified = self
            .view_changes
            .received
            .get(&view)
            .and_then(|m| m.get(&from))
            .is_some_and(|r| r == svc);
        if already_verified {
            return Ok(());
        }
        let validators = &self.config.validators;
        let key = validators
            .get(from as usize)
            .ok_or(NewViewFault::ViewChangeSignature { from })?;
        let bytes = signing_bytes(from, SignedBody::ViewChange(&svc.view_change));
        key.verify(Domain::Consensus, &bytes, &svc.signature)
            .map_err(|_| NewViewFault::ViewChangeSignature { from })?;
        let window = self.config.settings.watermark_window_seqs;
        validate_view_change(validators, &self.quorum, window, &svc.view_change)
            .map_err(|fault| NewViewFault::ViewChange { from, fault })
    }

    /// Enters `view` with the O-set: adopts its checkpoint, installs its pre-prepares (batches
    /// from the log or the durable batches, empty for null, none if this replica does not hold
    /// them), and as a backup prepares each entry whose batch it holds. Entries without a batch
    /// are fetched (`fetch_batch.rs`) and prepared once the batch arrives: a correct backup
    /// signs PREPARE only for a batch it holds and has made durable, so the correct signers of a
    /// prepared certificate hold its batch (the availability argument of `fetch_batch.rs`).
    /// `installed` (the signed NEW-VIEW, own or received) is kept durably (key `N`), in the same
    /// output and so before any send, to answer stale VIEW-CHANGEs for `view` (§4.5 liveness),
    /// after a crash too (`Replica::recover` restores it).
    fn enter_view(
        &mut self,
        view: View,
        o_set: OSet,
        pre_prepares: Vec<SignedPrePrepare>,
        installed: SignedMessage,
        out: &mut Output,
    ) {
        let null = null_digest();
        // Looked up before the old view's slots are cleared (they may hold the batches).
        let mut by_digest: HashMap<Digest, Batch> = HashMap::new();
        for spp in &pre_prepares {
            let pp = spp.pre_prepare;
            if pp.digest != null && !by_digest.contains_key(&pp.digest) {
                if let Some(b) = self.held_batch(pp.seq, &pp.digest) {
                    by_digest.insert(pp.digest, b);
                }
            }
        }
        self.view = view;
        self.status = Status::Normal;
        out.push_persist(durable::put_view(view, None));
        let put_installed = durable::put_new_view(&installed);
        for old in self.view_changes.enter(view, installed) {
            out.push_persist(durable::delete_view_change(old));
        }
        out.push_persist(put_installed);
        self.peer_views.retain(|_, v| *v > view);
        self.drop_votes_below(view, out);
        self.timers.stop_view_change_timer();
        self.adopt_stable_proof(o_set.stable.clone(), true, out);
        self.log.clear_slots();
        let empty: Batch = Arc::from(Vec::<Request>::new());
        let mut in_log: Vec<Digest> = Vec::new();
        let mut installed = Vec::new();
        for spp in pre_prepares {
            let pp = spp.pre_prepare;
            if self.in_window(pp.seq).is_err() {
                continue;
            }
            let batch = if pp.digest == null {
                Some(empty.clone())
            } else {
                by_digest.get(&pp.digest).cloned()
            };
            let (digests, ids) = batch.as_ref().map(|b| self.identify(b)).unwrap_or_default();
            in_log.extend_from_slice(&ids);
            let held = batch.is_some();
            let slot = self.log.slot_mut(pp.seq, view);
            slot.pre_prepare = Some((pp, spp.signature));
            slot.batch = batch;
            slot.request_digests = digests;
            slot.request_ids = ids;
            installed.push((pp.seq, pp.digest, held));
        }
        let is_primary = self.is_primary();
        self.requests.reset_for_view(&in_log, is_primary);
        self.last_assigned = o_set
            .max_s
            .max(self.checkpoints.stable().seq)
            .max(self.checkpoints.fetching_seq());
        out.push_event(Event::ViewEntered {
            view,
            primary: self.config.primary(view),
        });
        for (seq, digest, held) in installed {
            if is_primary {
                self.persist_batch(seq, view, out);
            } else if held {
                self.send_prepare(seq, digest, out);
            }
            self.check_prepared(seq, out);
        }
        self.fetch_missing_batches(out);
    }

    /// Own votes of views below `view` can never be needed again (a replica never returns to
    /// an older view): drop them, durably.
    fn drop_votes_below(&mut self, view: View, out: &mut Output) {
        let old: Vec<(SeqNum, View, VoteKind)> = self
            .own_votes
            .keys()
            .filter(|(_, v, _)| *v < view)
            .copied()
            .collect();
        for key in old {
            self.own_votes.remove(&key);
            out.push_persist(durable::delete_vote(key.0, key.1, key.2));
        }
    }
}

fn first_difference(given: &[PrePrepare], expected: &[PrePrepare], min_s: SeqNum) -> SeqNum {
    given
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(given.len().min(expected.len()))
        .saturating_add(1) as SeqNum
        + min_s
}
