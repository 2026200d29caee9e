//! What a replica holds of view changes (§4.4), with its bounds. Its fields are visible to the
//! handlers of `view_change.rs` (the parent module) only; recovery and the invariant check use
//! the methods here.

use crate::message::{Message, SignedMessage, SignedViewChange, ViewChange};
use crate::{ReplicaId, View};
use bftledger_crypto::Signature;
use std::collections::{BTreeMap, BTreeSet};

/// What a replica holds of view changes (§4.4): received VIEW-CHANGEs, refusals, its own
/// VIEW-CHANGEs and the NEW-VIEW that installed its view. Written only by this module's handlers
/// (and recovery, through the `restore_` methods); [`ViewChanges::check`] asserts its bounds.
///
/// Everything is kept for views in (view, target + max_future_views] only, so a Byzantine peer
/// cannot grow it: one VIEW-CHANGE per sender per view, at most `max_future_views` + 1 views.
#[derive(Debug, Default)]
pub(crate) struct ViewChanges {
    /// Verified view changes by target view, one per sender.
    pub(super) received: BTreeMap<View, BTreeMap<ReplicaId, SignedViewChange>>,
    /// (view, sender) of VIEW-CHANGEs refused for what their sender signed: a repeat is
    /// dropped unverified.
    pub(super) refused: BTreeSet<(View, ReplicaId)>,
    /// Views whose primary signed an invalid NEW-VIEW: later ones are dropped unverified.
    pub(super) refused_new_views: BTreeSet<View>,
    /// Own view-changes for views in (view, target], the latest `max_future_views` of them
    /// (retransmitted while changing view, so peers left behind at a lower target can still
    /// gather 2f+1 for it).
    pub(super) own: BTreeMap<View, SignedMessage>,
    /// The NEW-VIEW (signed by its primary) that installed the current view, own or received:
    /// relayed to replicas still sending VIEW-CHANGE for this view (they missed it).
    pub(super) installed_new_view: Option<SignedMessage>,
}

impl ViewChanges {
    /// Stores a verified view-change (one per sender per view); false if one is already held.
    pub(super) fn store(
        &mut self,
        from: ReplicaId,
        view_change: ViewChange,
        signature: Signature,
    ) -> bool {
        let per_view = self.received.entry(view_change.new_view).or_default();
        if per_view.contains_key(&from) {
            return false;
        }
        per_view.insert(
            from,
            SignedViewChange {
                from,
                view_change,
                signature,
            },
        );
        true
    }

    /// Own VIEW-CHANGEs for views above the current one, to retransmit.
    pub(crate) fn own_signed(&self) -> impl Iterator<Item = &SignedMessage> {
        self.own.values()
    }

    /// Recovery: an own durable VIEW-CHANGE for `view`, above the recovered view.
    pub(crate) fn restore_own(
        &mut self,
        replica: ReplicaId,
        view: View,
        vc: &ViewChange,
        sig: Signature,
    ) {
        assert!(
            vc.new_view == view,
            "replica {replica}: durable view-change for {} stored under view {view}",
            vc.new_view
        );
        self.store(replica, vc.clone(), sig);
        let message = SignedMessage {
            from: replica,
            message: Message::ViewChange(vc.clone()),
            signature: sig,
        };
        self.own.insert(view, message);
    }

    /// Recovery: the NEW-VIEW that installed the recovered view.
    pub(crate) fn restore_installed(&mut self, new_view: SignedMessage) {
        self.installed_new_view = Some(new_view);
    }

    /// Entering `view`: everything for it and below goes (own VIEW-CHANGEs are deleted durably
    /// by the caller, which gets their views).
    pub(super) fn enter(&mut self, view: View, installed: SignedMessage) -> Vec<View> {
        let kept = self.own.split_off(&(view + 1));
        let dropped = std::mem::replace(&mut self.own, kept).into_keys().collect();
        self.installed_new_view = Some(installed);
        self.received.retain(|v, _| *v > view);
        self.refused.retain(|(v, _)| *v > view);
        self.refused_new_views.retain(|v| *v > view);
        self.assert_above(view);
        dropped
    }

    /// Postcondition of entering `view`: nothing kept for it or below.
    pub(super) fn assert_above(&self, view: View) {
        let lowest = [
            self.received.keys().next().copied(),
            self.refused.iter().next().map(|(v, _)| *v),
            self.refused_new_views.iter().next().copied(),
            self.own.keys().next().copied(),
        ];
        assert!(
            lowest.iter().flatten().all(|v| *v > view),
            "view changes kept at or below entered view {view}: lowest {lowest:?}"
        );
    }

    /// Panics (with the values) unless everything kept is for a view in (view, target +
    /// max_future_views], with at most one VIEW-CHANGE per validator per view.
    pub(crate) fn check(
        &self,
        replica: ReplicaId,
        view: View,
        target: View,
        max_future_views: u64,
        n: usize,
    ) {
        self.assert_above(view);
        let top = target + max_future_views;
        let views = self
            .received
            .keys()
            .chain(self.refused.iter().map(|(v, _)| v))
            .chain(&self.refused_new_views)
            .chain(self.own.keys());
        for v in views {
            assert!(
                *v <= top,
                "replica {replica}: view change state kept for view {v} (view {view}, target {target})"
            );
        }
        for (v, per_view) in &self.received {
            assert!(
                per_view.len() <= n && per_view.keys().all(|r| (*r as usize) < n),
                "replica {replica}: {} view changes for view {v} (n = {n})",
                per_view.len()
            );
        }
        let (views, own) = (self.received.len() as u64, self.own.len() as u64);
        assert!(
            views <= max_future_views + 1 && own <= max_future_views,
            "replica {replica}: view changes for {views} views, {own} own (bound {max_future_views})"
        );
    }
}
