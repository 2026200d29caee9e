//! View change (Castro & Liskov OSDI'99 §4.4; TOCS'02 §4.4-§4.5 for the liveness rules): O-set
//! construction, view-change and new-view acceptance, the f+1 join rule and timer backoff.

mod common;

use bftledger_consensus::{
    batch_digest, compute_o_set, null_digest, view_change::validate_view_change, CheckpointProof,
    Input, Message, NewView, NewViewFault, PrePrepare, Quorum, Rejection, Replica,
    SignedViewChange, ViewChange, ViewChangeFault,
};
use bftledger_crypto::{Digest, SecretKey};
use common::{
    batch_of, checkpoint_proof, keys, new_view, pre_prepare, prepared_cert, rejections, req,
    sent_kinds, sig_for, sign_pp, three_view_changes, view_change, Single,
};

fn d(i: u8) -> Digest {
    Digest([i; 32])
}

fn vc_of(stable_seq: u64, certs: &[(u64, u64, Digest)]) -> ViewChange {
    let keys = keys(4);
    ViewChange {
        new_view: 5,
        stable: checkpoint_proof(&keys, stable_seq, d(0)),
        prepared: certs
            .iter()
            .map(|(view, seq, digest)| prepared_cert(&keys, *view, *seq, *digest))
            .collect(),
    }
}

/// §4.4: "min-s is the sequence number of the latest stable checkpoint in V and max-s is the
/// highest sequence number in a prepare message in V"; for each n in (min-s, max-s] the O-set
/// has a pre-prepare for the certified digest, or for the null request if no certificate in V
/// is for n.
#[test]
fn o_set_spans_min_s_to_max_s_with_null_fill() {
    let a = vc_of(4, &[(0, 9, d(9))]);
    let b = vc_of(8, &[(0, 11, d(11))]);
    let c = vc_of(0, &[]);
    let o = compute_o_set(5, &[&a, &b, &c]);
    assert_eq!((o.min_s, o.max_s), (8, 11));
    assert_eq!(o.stable.seq, 8);
    let digests: Vec<(u64, Digest)> = o.pre_prepares.iter().map(|p| (p.seq, p.digest)).collect();
    assert_eq!(digests, vec![(9, d(9)), (10, null_digest()), (11, d(11))]);
    assert!(o.pre_prepares.iter().all(|p| p.view == 5));
}

/// §4.4: "there is at least one set in the P component of some view-change message in V with
/// sequence number n ... the primary creates a new pre-prepare message ... where d is the
/// request digest in the pre-prepare message for sequence number n with the highest view
/// number in V."
#[test]
fn o_set_highest_view_certificate_wins() {
    let a = vc_of(0, &[(0, 1, d(1)), (0, 2, d(2))]);
    let b = vc_of(0, &[(3, 1, d(31))]);
    let c = vc_of(0, &[(2, 1, d(21))]);
    for order in [[&a, &b, &c], [&c, &b, &a], [&b, &a, &c]] {
        let o = compute_o_set(5, &order);
        assert_eq!(o.pre_prepares[0].digest, d(31));
        assert_eq!(o.pre_prepares[1].digest, d(2));
    }
}

/// §4.4: certificates at or below min-s are ignored (those seqs are covered by the stable
/// checkpoint); with no certificates above it, O is empty and max-s = min-s.
#[test]
fn o_set_ignores_certificates_below_min_s() {
    let a = vc_of(8, &[]);
    let b = vc_of(4, &[(0, 5, d(5)), (0, 8, d(8))]);
    let o = compute_o_set(5, &[&a, &b]);
    assert_eq!((o.min_s, o.max_s), (8, 8));
    assert!(o.pre_prepares.is_empty());
}

/// §4.4: a view-change is valid only if its checkpoint proof and every prepared certificate
/// verify; certificates must lie in (h, h + L], one per seq, from views below the new view.
#[test]
fn view_change_validation_rules() {
    let keys = keys(4);
    let validators: Vec<_> = keys.iter().map(SecretKey::public).collect();
    let q = Quorum::new(4);
    let good = vc_of(4, &[(0, 5, d(5))]);
    assert_eq!(validate_view_change(&validators, &q, 8, &good), Ok(()));

    let mut forged = good.clone();
    forged.prepared[0].prepares[0].1 = forged.prepared[0].primary_signature;
    assert!(matches!(
        validate_view_change(&validators, &q, 8, &forged),
        Err(ViewChangeFault::PreparedCertificate { seq: 5, .. })
    ));

    let mut short = good.clone();
    short.prepared[0].prepares.truncate(1);
    assert!(matches!(
        validate_view_change(&validators, &q, 8, &short),
        Err(ViewChangeFault::PreparedCertificate { .. })
    ));

    for seq in [4, 13] {
        let out_of_window = vc_of(4, &[(0, seq, d(1))]);
        assert_eq!(
            validate_view_change(&validators, &q, 8, &out_of_window),
            Err(ViewChangeFault::PreparedSeq { seq })
        );
    }
    let twice = vc_of(4, &[(0, 6, d(1)), (1, 6, d(2))]);
    assert_eq!(
        validate_view_change(&validators, &q, 8, &twice),
        Err(ViewChangeFault::PreparedSeq { seq: 6 })
    );
    let future = vc_of(4, &[(5, 6, d(1))]);
    assert_eq!(
        validate_view_change(&validators, &q, 8, &future),
        Err(ViewChangeFault::PreparedView {
            view: 5,
            new_view: 5
        })
    );
    let mut bad_proof = good.clone();
    bad_proof.stable.signatures.pop();
    assert!(matches!(
        validate_view_change(&validators, &q, 8, &bad_proof),
        Err(ViewChangeFault::StableProof(_))
    ));
}

/// Item 8 (size bounds, §4.4 message formats): a VIEW-CHANGE whose stable proof or prepared
/// certificate carries more signatures than a quorum is refused, although every signature is
/// valid: padded, it could outgrow the bound a NEW-VIEW embedding it is sized for.
#[test]
fn view_change_padded_beyond_a_quorum_is_refused() {
    let keys = keys(4);
    let validators: Vec<_> = keys.iter().map(SecretKey::public).collect();
    let q = Quorum::new(4);
    let good = vc_of(4, &[(0, 5, d(5))]);
    let mut padded_cert = good.clone();
    let extra = bftledger_consensus::Prepare {
        view: 0,
        seq: 5,
        digest: d(5),
    };
    padded_cert.prepared[0]
        .prepares
        .push((3, sig_for(&keys, 3, Message::Prepare(extra))));
    assert_eq!(
        validate_view_change(&validators, &q, 8, &padded_cert),
        Err(ViewChangeFault::ExtraSignatures {
            seq: 5,
            have: 3,
            max: 2
        })
    );
    let mut padded_proof = good;
    let checkpoint = bftledger_consensus::Checkpoint {
        seq: 4,
        state_root: d(0),
    };
    padded_proof
        .stable
        .signatures
        .push((3, sig_for(&keys, 3, Message::Checkpoint(checkpoint))));
    assert_eq!(
        validate_view_change(&validators, &q, 8, &padded_proof),
        Err(ViewChangeFault::ExtraSignatures {
            seq: 4,
            have: 4,
            max: 3
        })
    );
}

/// §4.4: a replica accepts VIEW-CHANGE only for views above its own and (bounded memory) at
/// most `max_future_views` ahead; a malformed one is a typed rejection.
#[test]
fn view_change_out_of_range_or_malformed_is_rejected() {
    let mut s = Single::new(4, 3);
    let k = keys(4);
    let too_far = view_change(&k, 1, 5, CheckpointProof::genesis(), vec![]);
    let a = s.input(Input::Message(too_far));
    assert_eq!(
        rejections(&a),
        vec![Rejection::ViewOutOfRange {
            view: 5,
            current: 0
        }]
    );
    let stale = view_change(&k, 1, 0, CheckpointProof::genesis(), vec![]);
    let a = s.input(Input::Message(stale));
    assert_eq!(rejections(&a)[0].kind(), "view_out_of_range");
    let mut cert = prepared_cert(&k, 0, 1, d(1));
    cert.prepares[1].0 = cert.prepares[0].0; // the same backup counted twice
    let dup = view_change(&k, 1, 1, CheckpointProof::genesis(), vec![cert]);
    let a = s.input(Input::Message(dup));
    assert!(matches!(
        rejections(&a)[0],
        Rejection::InvalidViewChange(ViewChangeFault::PreparedCertificate { .. })
    ));
}

/// §4.4 (TOCS'02 §4.5.2 rule 1): "if a replica receives a set of f+1 valid view-change
/// messages from other replicas for views greater than its current view, it sends a
/// view-change message for the smallest view in the set, even if its timer has not expired."
#[test]
fn f_plus_1_view_changes_make_a_replica_join() {
    let mut s = Single::new(4, 3);
    let k = keys(4);
    let a = s.input(Input::Message(view_change(
        &k,
        1,
        2,
        CheckpointProof::genesis(),
        vec![],
    )));
    assert!(a.send.is_empty(), "one (f) is not enough");
    let a = s.input(Input::Message(view_change(
        &k,
        2,
        1,
        CheckpointProof::genesis(),
        vec![],
    )));
    assert_eq!(sent_kinds(&a), vec!["view_change"]);
    match &a.send[0].message.message {
        Message::ViewChange(view_change) => assert_eq!(view_change.new_view, 1),
        other => panic!("{other:?}"),
    }
    assert!(s.replica.is_view_changing());
}

/// §4.4: while changing view a replica accepts only checkpoint, view-change and new-view
/// messages.
#[test]
fn view_changing_replica_rejects_normal_case_messages() {
    let mut s = Single::new(4, 3);
    let k = keys(4);
    s.input(Input::Message(view_change(
        &k,
        1,
        1,
        CheckpointProof::genesis(),
        vec![],
    )));
    s.input(Input::Message(view_change(
        &k,
        2,
        1,
        CheckpointProof::genesis(),
        vec![],
    )));
    let b = batch_of(&["a"]);
    let a = s.deliver(0, pre_prepare(0, 1, &b));
    assert_eq!(rejections(&a), vec![Rejection::ViewChanging { target: 1 }]);
}

/// §4.4: "when the primary p of view v+1 receives 2f valid view-change messages for view v+1
/// from other replicas, it multicasts a NEW-VIEW" and enters v+1. NEW-VIEW carries the O-set's
/// digests only (item 8).
#[test]
fn new_primary_sends_new_view_after_2f_plus_1_view_changes() {
    let mut s = Single::new(4, 1);
    let k = keys(4);
    let b = batch_of(&["prepared-in-v0"]);
    s.deliver(0, pre_prepare(0, 1, &b)); // the new primary holds the batch
    let cert = prepared_cert(&k, 0, 1, batch_digest(&b));
    let vc2 = view_change(&k, 2, 1, CheckpointProof::genesis(), vec![cert]);
    let vc3 = view_change(&k, 3, 1, CheckpointProof::genesis(), vec![]);
    s.input(Input::Message(vc2));
    let a = s.input(Input::Message(vc3));
    assert_eq!(sent_kinds(&a), vec!["view_change", "new_view"]);
    assert_eq!((s.replica.view(), s.replica.is_view_changing()), (1, false));
    match &a.send[1].message.message {
        Message::NewView(new_view) => {
            assert_eq!(new_view.view_changes.len(), 3);
            assert_eq!(new_view.pre_prepares.len(), 1);
            assert_eq!(
                new_view.pre_prepares[0].pre_prepare.digest,
                batch_digest(&b)
            );
        }
        other => panic!("{other:?}"),
    }
}

/// §4.4: "a backup accepts a new-view message for view v+1 if it is signed properly, if the
/// view-change messages it contains are valid for view v+1, and if the set O is correct; it
/// verifies the correctness of O by performing a computation similar to the one used by the
/// primary to create O." It then enters v+1 and multicasts a prepare for every entry of O
/// (seq 1 is a null request here, seq 2 the prepared batch, which this backup holds from the
/// pre-prepare of view 0).
#[test]
fn backup_accepts_valid_new_view_and_prepares_o_set() {
    let mut s = Single::new(4, 2);
    let k = keys(4);
    let b = batch_of(&["x"]);
    s.deliver(0, pre_prepare(0, 2, &b));
    let nv = new_view(&k, 1, &three_view_changes(&k, &b));
    let a = s.deliver(1, Message::NewView(nv));
    assert!(rejections(&a).is_empty(), "{:?}", a.events);
    assert_eq!((s.replica.view(), s.replica.is_view_changing()), (1, false));
    assert_eq!(sent_kinds(&a), vec!["prepare", "prepare"]);
}

/// TOCS'02 §4.5 (liveness): a backup that entered v through NEW-VIEW(v) answers a stale
/// VIEW-CHANGE(v) — its sender missed the NEW-VIEW and may be short of 2f+1 view-changes for v,
/// so nothing else would move it — with that NEW-VIEW, as signed by the primary, also after a
/// restart (key `N`) and while it is itself changing to a later view.
#[test]
fn backup_relays_the_new_view_that_installed_its_view() {
    let k = keys(4);
    let b = batch_of(&["x"]);
    let nv = new_view(&k, 1, &three_view_changes(&k, &b));
    let nv_message = Message::NewView(nv);
    let mut s = Single::new(4, 2);
    let (persist, a) = s.input_raw(Input::Message(s.sign(1, nv_message.clone())));
    assert!(rejections(&a).is_empty(), "{:?}", a.events);
    let mut disk = std::collections::BTreeMap::new();
    bftledger_consensus::durable::apply(&mut disk, &persist);
    assert!(disk.contains_key(b"N".as_slice()), "NEW-VIEW(1) durable");
    let stale = view_change(&k, 3, 1, CheckpointProof::genesis(), vec![]);
    let relayed = |a: &bftledger_consensus::Actions| {
        a.send
            .iter()
            .filter(|o| o.to == bftledger_consensus::Target::One(3))
            .any(|o| o.message.from == 1 && o.message.message == nv_message)
    };
    let a = s.input(Input::Message(stale.clone()));
    assert!(relayed(&a), "relayed to r3: {:?}", a.send);
    let mut r =
        Replica::recover(s.config.clone(), 2, k[2].clone(), common::ToyApp, disk).expect("recover");
    let a = r.step(Input::Message(stale.clone())).persisted();
    assert!(relayed(&a), "relayed after a restart");
    // Changing to view 3 (f+1 join rule), it still relays NEW-VIEW(1).
    s.deliver(0, view_change_message(&k, 0, 3));
    s.deliver(1, view_change_message(&k, 1, 3));
    assert!(s.replica.is_view_changing(), "{:?}", s.replica);
    let a = s.input(Input::Message(stale));
    assert!(relayed(&a), "relayed while changing to view 3");
}

fn view_change_message(k: &[SecretKey], from: u32, view: u64) -> Message {
    view_change(k, from, view, CheckpointProof::genesis(), vec![]).message
}

/// §4.4: new-view rejection rules: not from the new primary; fewer than 2f+1 view-changes;
/// an O-set that differs from the recomputed one; an embedded view-change with a bad
/// signature or for another view; an O-set pre-prepare not signed by the primary.
#[test]
fn invalid_new_views_are_rejected() {
    let k = keys(4);
    let b = batch_of(&["x"]);
    let vcs = three_view_changes(&k, &b);
    let good = new_view(&k, 1, &vcs);
    let deliver = |from: u32, nv: NewView| {
        let mut s = Single::new(4, 2);
        let a = s.deliver(from, Message::NewView(nv));
        assert_eq!(s.replica.view(), 0, "not entered");
        rejections(&a).remove(0)
    };
    assert_eq!(
        deliver(3, good.clone()),
        Rejection::NotPrimary { from: 3, view: 1 }
    );

    let mut few = good.clone();
    few.view_changes.pop();
    assert_eq!(
        deliver(1, few),
        Rejection::InvalidNewView(NewViewFault::TooFewViewChanges { have: 2, need: 3 })
    );

    // Item 8: V holds exactly a quorum; a fourth (valid) view-change only inflates the message.
    let mut padded = good.clone();
    let Message::ViewChange(vc) = view_change_message(&k, 2, 1) else {
        unreachable!("a view-change")
    };
    padded.view_changes.push(SignedViewChange {
        from: 2,
        signature: sig_for(&k, 2, Message::ViewChange(vc.clone())),
        view_change: vc,
    });
    assert_eq!(
        deliver(1, padded),
        Rejection::InvalidNewView(NewViewFault::ExtraViewChanges { have: 4, max: 3 })
    );

    let mut wrong_o = good.clone();
    wrong_o.pre_prepares[1] = sign_pp(
        &k,
        1,
        PrePrepare {
            view: 1,
            seq: 2,
            digest: d(7),
        },
    );
    assert_eq!(
        deliver(1, wrong_o),
        Rejection::InvalidNewView(NewViewFault::OSetMismatch { seq: 2 })
    );

    let mut dropped_entry = good.clone();
    dropped_entry.pre_prepares.pop();
    assert!(matches!(
        deliver(1, dropped_entry),
        Rejection::InvalidNewView(NewViewFault::OSetMismatch { .. })
    ));

    let mut forged_vc = good.clone();
    forged_vc.view_changes[1].signature = forged_vc.view_changes[0].signature;
    assert!(matches!(
        deliver(1, forged_vc),
        Rejection::InvalidNewView(NewViewFault::ViewChangeSignature { .. })
    ));

    let mut other_view = good.clone();
    other_view.view_changes[2].view_change.new_view = 2;
    assert!(matches!(
        deliver(1, other_view),
        Rejection::InvalidNewView(NewViewFault::ViewChangeForOtherView { view: 2, .. })
    ));

    let mut unsigned_pp = good.clone();
    unsigned_pp.pre_prepares[0].signature = unsigned_pp.pre_prepares[1].signature;
    assert_eq!(
        deliver(1, unsigned_pp),
        Rejection::InvalidNewView(NewViewFault::PrePrepareSignature { seq: 1 })
    );
}

/// §4.4 timers: a backup waiting on a request starts a view change after the timeout; after
/// sending VIEW-CHANGE(v) its timer starts only with 2f+1 view-changes for v (TOCS'02 §4.5.2),
/// and each further failed view waits twice as long.
#[test]
fn view_change_timer_with_backoff() {
    let mut s = Single::new(4, 3);
    let k = keys(4);
    s.input(Input::ClientRequests(vec![req("pending")]));
    let a = s.ticks(19);
    assert!(a
        .send
        .iter()
        .all(|o| o.message.message.kind() != "view_change"));
    let a = s.ticks(1);
    assert!(
        sent_kinds(&a).contains(&"view_change"),
        "timeout T = 20 ticks"
    );
    // No 2f+1 yet: the replica waits at view 1, however long.
    s.ticks(200);
    assert_eq!(
        s.replica.status(),
        bftledger_consensus::Status::ViewChanging { target: 1 }
    );
    s.input(Input::Message(view_change(
        &k,
        0,
        1,
        CheckpointProof::genesis(),
        vec![],
    )));
    s.input(Input::Message(view_change(
        &k,
        2,
        1,
        CheckpointProof::genesis(),
        vec![],
    )));
    s.ticks(19);
    assert_eq!(
        s.replica.status(),
        bftledger_consensus::Status::ViewChanging { target: 1 }
    );
    s.ticks(1);
    assert_eq!(
        s.replica.status(),
        bftledger_consensus::Status::ViewChanging { target: 2 }
    );
    s.input(Input::Message(view_change(
        &k,
        0,
        2,
        CheckpointProof::genesis(),
        vec![],
    )));
    s.input(Input::Message(view_change(
        &k,
        1,
        2,
        CheckpointProof::genesis(),
        vec![],
    )));
    s.ticks(39);
    assert_eq!(
        s.replica.status(),
        bftledger_consensus::Status::ViewChanging { target: 2 }
    );
    s.ticks(1);
    assert_eq!(
        s.replica.status(),
        bftledger_consensus::Status::ViewChanging { target: 3 },
        "second failed view waits 2T = 40"
    );
}

/// §4.4: a view-change carries the sender's prepared certificates (P-set), digests only (item
/// 8: the batches stay with the replicas that hold them).
#[test]
fn view_change_carries_prepared_certificates() {
    let mut s = Single::new(4, 1);
    let b = batch_of(&["p"]);
    s.deliver(0, pre_prepare(0, 1, &b));
    for r in [2, 3] {
        s.deliver(
            r,
            Message::Prepare(bftledger_consensus::Prepare {
                view: 0,
                seq: 1,
                digest: batch_digest(&b),
            }),
        );
    }
    let k = keys(4);
    s.input(Input::Message(view_change(
        &k,
        2,
        1,
        CheckpointProof::genesis(),
        vec![],
    )));
    let a = s.input(Input::Message(view_change(
        &k,
        3,
        1,
        CheckpointProof::genesis(),
        vec![],
    )));
    let own = a
        .send
        .iter()
        .find_map(|o| match &o.message.message {
            Message::ViewChange(view_change) => Some(view_change.clone()),
            _ => None,
        })
        .expect("own view-change");
    assert_eq!(own.prepared.len(), 1);
    assert_eq!(own.prepared[0].pre_prepare.digest, batch_digest(&b));
    own.prepared[0]
        .verify(&s.config.validators)
        .expect("certificate verifies");
}

/// Regression (simulator seed 83): a new primary whose stable checkpoint moved above the one in
/// its own view-change (state transfer while changing view) signs the O-set entries below it
/// (backups need them) without recording them as own votes outside its window.
#[test]
fn new_primary_ahead_of_min_s_keeps_its_invariants() {
    let mut s = Single::new(4, 2);
    let k = keys(4);
    s.input(Input::ClientRequests(vec![req("pending")]));
    s.ticks(20); // VIEW-CHANGE(1)
    for from in [0, 3] {
        s.input(Input::Message(view_change(
            &k,
            from,
            1,
            CheckpointProof::genesis(),
            vec![],
        )));
    }
    s.ticks(20); // no NEW-VIEW(1): VIEW-CHANGE(2), still with the genesis checkpoint
    assert_eq!(
        s.replica.status(),
        bftledger_consensus::Status::ViewChanging { target: 2 }
    );
    let root = d(8);
    for from in [0, 1, 3] {
        s.deliver(
            from,
            Message::Checkpoint(bftledger_consensus::Checkpoint {
                seq: 8,
                state_root: root,
            }),
        );
    }
    assert!(
        s.ticks(6).fetch_state.is_some(),
        "fetch after a retransmission period"
    );
    s.input(Input::StateTransferred {
        seq: 8,
        state_root: root,
    });
    assert_eq!(s.replica.low_watermark(), 8);
    let certs: Vec<_> = (1..=8)
        .map(|seq| prepared_cert(&k, 0, seq, d(seq as u8)))
        .collect();
    s.input(Input::Message(view_change(
        &k,
        0,
        2,
        CheckpointProof::genesis(),
        certs,
    )));
    let a = s.input(Input::Message(view_change(
        &k,
        3,
        2,
        CheckpointProof::genesis(),
        vec![],
    )));
    assert!(sent_kinds(&a).contains(&"new_view"), "{:?}", sent_kinds(&a));
    let nv = a.send.iter().find_map(|o| match &o.message.message {
        Message::NewView(new_view) => Some(new_view.clone()),
        _ => None,
    });
    assert_eq!(nv.expect("new-view").pre_prepares.len(), 8, "O = (0, 8]");
    assert_eq!((s.replica.view(), s.replica.last_executed()), (2, 8));
}

/// Safety-holes issue, item 9 (cheap amplification): a stale VIEW-CHANGE costs its sender one
/// signature and the answer a whole NEW-VIEW, so the relay of the installed NEW-VIEW is bounded
/// per peer and retransmission period (TOCS'02 §5.2 keeps retransmission bounded); the next
/// period allows it again.
#[test]
fn new_view_relays_to_one_peer_are_bounded_per_retransmission_period() {
    let k = keys(4);
    let b = batch_of(&["x"]);
    let nv = new_view(&k, 1, &three_view_changes(&k, &b));
    let mut s = Single::new(4, 2);
    s.deliver(1, Message::NewView(nv));
    let stale = view_change(&k, 3, 1, CheckpointProof::genesis(), vec![]);
    let mut relays = 0;
    for _ in 0..100 {
        relays += s.input(Input::Message(stale.clone())).send.len();
    }
    assert!(
        (1..=4).contains(&relays),
        "{relays} NEW-VIEWs for 100 stale VIEW-CHANGEs"
    );
    s.ticks(s.config.settings.retransmit_ticks as usize + 1);
    let a = s.input(Input::Message(stale));
    assert_eq!(a.send.len(), 1, "relayed again in the next period");
}

/// Item 9: a second VIEW-CHANGE from the same sender for the same view is dropped before its
/// certificates are verified (up to a window of them): even one whose certificates are forged
/// costs nothing and proves nothing.
#[test]
fn repeated_view_change_is_dropped_before_its_certificates_are_verified() {
    let k = keys(4);
    let mut s = Single::new(4, 2);
    s.deliver(3, view_change_message(&k, 3, 1));
    let mut cert = common::prepared_cert(&k, 0, 1, bftledger_consensus::null_digest());
    cert.primary_signature = cert.prepares[0].1; // forged: does not verify
    let forged = view_change(&k, 3, 1, CheckpointProof::genesis(), vec![cert]);
    let a = s.input(Input::Message(forged));
    assert!(rejections(&a).is_empty(), "verified: {:?}", rejections(&a));
}

/// Item 9, sibling on NEW-VIEW: a NEW-VIEW is judged on what its primary signed alone, so an
/// invalid one proves that primary faulty everywhere; its later NEW-VIEWs for the same view
/// are dropped unverified (each costs 2f+1 VIEW-CHANGEs' worth of certificates), and the
/// replica leaves the view on its timer as for any faulty new primary.
#[test]
fn after_an_invalid_new_view_its_primary_gets_no_more_verification_for_that_view() {
    let k = keys(4);
    let b = batch_of(&["x"]);
    let good = new_view(&k, 1, &three_view_changes(&k, &b));
    let mut bad = good.clone();
    bad.view_changes.truncate(2);
    let mut s = Single::new(4, 2);
    let deliver = |s: &mut Single, nv: NewView| s.deliver(1, Message::NewView(nv));
    let a = deliver(&mut s, bad);
    assert!(matches!(
        rejections(&a)[..],
        [Rejection::InvalidNewView(
            NewViewFault::TooFewViewChanges { .. }
        )]
    ));
    let a = deliver(&mut s, good);
    assert!(
        a.send.is_empty() && rejections(&a).is_empty(),
        "{:?}",
        a.events
    );
    assert_eq!(s.replica.view(), 0, "not entered");
}
