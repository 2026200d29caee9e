//! Accept/reject rules of the normal case, one test per rule (Castro & Liskov OSDI'99 §4.2;
//! TOCS'02 §4.2-§4.3 for batching and the signature variant).

mod common;

use bftledger_consensus::{
    batch_digest, Commit, Event, Input, Message, Mutant, PersistOp, Prepare, Rejection,
};
use common::{batch_of, pre_prepare, rejections, req, sent_kinds, Single};

fn prepare(view: u64, seq: u64, batch: &bftledger_consensus::Batch) -> Message {
    Message::Prepare(Prepare {
        view,
        seq,
        digest: batch_digest(batch),
    })
}

fn commit(view: u64, seq: u64, batch: &bftledger_consensus::Batch) -> Message {
    Message::Commit(Commit {
        view,
        seq,
        digest: batch_digest(batch),
    })
}

/// §4.2: "A backup accepts a pre-prepare message provided: the signatures are correct and d
/// is the digest for m; it is in view v; it has not accepted a pre-prepare for view v and
/// sequence number n containing a different digest; n is between h and H." It then multicasts
/// PREPARE, after recording its vote durably.
#[test]
fn backup_accepts_pre_prepare_and_prepares() {
    let mut s = Single::new(4, 1);
    let b = batch_of(&["a", "b"]);
    let signed = s.sign(0, pre_prepare(0, 1, &b));
    let (persist, actions) = s.input_raw(Input::Message(signed));
    assert!(rejections(&actions).is_empty(), "{:?}", actions.events);
    assert_eq!(sent_kinds(&actions), vec!["prepare"]);
    assert!(
        persist
            .iter()
            .any(|op| matches!(op, PersistOp::Put { key, .. } if key[0] == b'O')),
        "own prepare vote persisted before sending"
    );
}

/// §4.2: only the primary of view v may pre-prepare in v.
#[test]
fn pre_prepare_from_non_primary_is_rejected() {
    let mut s = Single::new(4, 1);
    let b = batch_of(&["a"]);
    let a = s.deliver(2, pre_prepare(0, 1, &b));
    assert_eq!(
        rejections(&a),
        vec![Rejection::NotPrimary { from: 2, view: 0 }]
    );
    assert!(a.send.is_empty());
}

/// §4.2: "it is in view v".
#[test]
fn pre_prepare_for_other_view_is_rejected() {
    let mut s = Single::new(4, 2);
    let b = batch_of(&["a"]);
    let a = s.deliver(1, pre_prepare(1, 1, &b));
    assert!(matches!(
        rejections(&a)[..],
        [Rejection::WrongView {
            view: 1,
            current: 0
        }]
    ));
}

/// §4.2: "the sequence number in the pre-prepare message is between a low water mark, h, and a
/// high water mark, H" (h < n <= H, with h = 0 and H = h + L = 8 here).
#[test]
fn pre_prepare_outside_watermarks_is_rejected() {
    let mut s = Single::new(4, 1);
    let b = batch_of(&["a"]);
    for seq in [0u64, 9, 1000] {
        let a = s.deliver(0, pre_prepare(0, seq, &b));
        assert_eq!(
            rejections(&a),
            vec![Rejection::OutsideWindow {
                seq,
                low: 0,
                high: 8
            }]
        );
    }
    let a = s.deliver(0, pre_prepare(0, 8, &b));
    assert!(rejections(&a).is_empty(), "seq H itself is inside");
}

/// §4.2: "it has not accepted a pre-prepare message for view v and sequence number n
/// containing a different digest" — and a repeat of the same one is ignored (no new prepare).
#[test]
fn conflicting_pre_prepare_is_rejected_and_duplicate_ignored() {
    let mut s = Single::new(4, 1);
    let (b1, b2) = (batch_of(&["a"]), batch_of(&["b"]));
    s.deliver(0, pre_prepare(0, 1, &b1));
    let dup = s.deliver(0, pre_prepare(0, 1, &b1));
    assert!(dup.send.is_empty() && rejections(&dup).is_empty());
    let a = s.deliver(0, pre_prepare(0, 1, &b2));
    assert_eq!(
        rejections(&a),
        vec![Rejection::ConflictingPrePrepare { view: 0, seq: 1 }]
    );
    assert!(a.send.is_empty());
}

/// §4.2: "d is the digest for m": a batch that does not match the signed digest is rejected
/// (the batch is not signed, so this is not proof against the primary: no view change).
#[test]
fn pre_prepare_with_mismatching_batch_is_rejected() {
    let mut s = Single::new(4, 1);
    let (b1, b2) = (batch_of(&["a"]), batch_of(&["b"]));
    let mut msg = pre_prepare(0, 1, &b1);
    if let Message::PrePrepare { batch, .. } = &mut msg {
        *batch = b2.clone();
    }
    let a = s.deliver(0, msg);
    assert!(matches!(
        rejections(&a)[..],
        [Rejection::DigestMismatch { seq: 1, .. }]
    ));
    assert!(!s.replica.is_view_changing());
}

/// Safety-holes issue, item 5 (the PRE-PREPARE signature covers (v, n, d), not the batch): a
/// relayer re-attaches an oversized junk batch to the primary's genuine signed PRE-PREPARE. The
/// batch does not match d, so it is the relayer's, not the primary's: rejected as a digest
/// mismatch with nobody accused or named (the relayer may be anyone, e.g. a FETCH-BATCH answer),
/// no view change, and the genuine batch is still accepted when it
/// arrives. (Before, the size was checked first and `BatchTooLarge` counted against the primary:
/// with the attacker's own VIEW-CHANGE that made f+1, and every view was changed.)
#[test]
fn junk_batch_under_a_genuine_signature_does_not_accuse_the_primary() {
    let mut s = Single::new(4, 1);
    let genuine = batch_of(&["a"]);
    let junk = batch_of(&["1", "2", "3", "4", "5", "6"]);
    let mut relayed = pre_prepare(0, 1, &genuine);
    if let Message::PrePrepare { batch, .. } = &mut relayed {
        *batch = junk;
    }
    let a = s.deliver(0, relayed);
    assert!(
        matches!(
            &a.events[..],
            [bftledger_consensus::Event::Rejected {
                from: None,
                reason: Rejection::DigestMismatch { seq: 1, .. }
            }]
        ),
        "rejected naming nobody (not the primary who signed d): {:?}",
        a.events
    );
    assert!(!s.replica.is_view_changing(), "a correct primary accused");
    let a = s.deliver(0, pre_prepare(0, 1, &genuine));
    assert_eq!(sent_kinds(&a), vec!["prepare"]);
}

/// The mutant that brings the old rule back accuses the primary for the relayer's batch.
#[test]
fn unsigned_batch_mutant_accuses_the_primary() {
    let config = common::small_config(4).with_mutant(Mutant::UnsignedBatchBlamesPrimary);
    let mut s = Single::with_config(config, 1);
    let mut relayed = pre_prepare(0, 1, &batch_of(&["a"]));
    if let Message::PrePrepare { batch, .. } = &mut relayed {
        *batch = batch_of(&["junk"]);
    }
    s.deliver(0, relayed);
    assert!(s.replica.is_view_changing());
}

/// ARCHITECTURE §2 / TOCS'02 §4.2: backups check every client signature of the batch (one
/// batch verification, via the Application); an invalid batch under the primary's signature
/// proves the primary faulty, so the backup starts a view change (§4.4).
#[test]
fn invalid_batch_rejected_and_starts_view_change() {
    let mut s = Single::new(4, 1);
    let b = batch_of(&["ok", "bad-signature"]);
    let a = s.deliver(0, pre_prepare(0, 1, &b));
    assert_eq!(
        rejections(&a),
        vec![Rejection::InvalidBatch {
            seq: 1,
            bad: vec![1]
        }]
    );
    assert!(s.replica.is_view_changing());
    assert_eq!(sent_kinds(&a), vec!["view_change"]);
}

/// Duplicate suppression: a batch holding the same request twice is invalid (primary faulty).
#[test]
fn batch_with_duplicate_request_is_rejected() {
    let mut s = Single::new(4, 1);
    let b = batch_of(&["x", "y", "x"]);
    let a = s.deliver(0, pre_prepare(0, 1, &b));
    assert_eq!(
        rejections(&a)[0],
        Rejection::DuplicateRequestInBatch { seq: 1, index: 2 }
    );
    assert!(s.replica.is_view_changing());
}

/// Limits: a batch above max_batch_requests (4 here) is rejected.
#[test]
fn oversized_batch_is_rejected() {
    let mut s = Single::new(4, 1);
    let b = batch_of(&["1", "2", "3", "4", "5"]);
    let a = s.deliver(0, pre_prepare(0, 1, &b));
    assert!(matches!(
        rejections(&a)[0],
        Rejection::BatchTooLarge { requests: 5, .. }
    ));
}

/// §4.2: prepares come from backups; the primary's pre-prepare is its vote.
#[test]
fn prepare_from_primary_is_rejected() {
    let mut s = Single::new(4, 1);
    let b = batch_of(&["a"]);
    let a = s.deliver(0, prepare(0, 1, &b));
    assert_eq!(
        rejections(&a),
        vec![Rejection::PrepareFromPrimary { from: 0, view: 0 }]
    );
}

/// §4.2: "prepared(m, v, n, i) is true iff replica i has inserted in its log: the request m, a
/// pre-prepare for m in view v with sequence number n, and 2f prepares from different backups
/// that match the pre-prepare." Only then does it multicast COMMIT. Non-matching prepares and
/// a second prepare from the same backup do not count.
#[test]
fn prepared_needs_2f_matching_prepares() {
    let mut s = Single::new(4, 1);
    let (b, other) = (batch_of(&["a"]), batch_of(&["zzz"]));
    s.deliver(0, pre_prepare(0, 1, &b)); // own prepare: 1 of 2f = 2
    let a = s.deliver(2, prepare(0, 1, &other));
    assert!(a.send.is_empty(), "a non-matching prepare does not count");
    let a = s.deliver(2, prepare(0, 1, &b));
    assert_eq!(
        rejections(&a),
        vec![Rejection::Equivocation { from: 2, seq: 1 }]
    );
    let a = s.deliver(3, prepare(0, 1, &b));
    assert_eq!(sent_kinds(&a), vec!["commit"]);
}

/// Prepares may arrive before the pre-prepare; they count once it arrives.
#[test]
fn prepares_before_pre_prepare_count() {
    let mut s = Single::new(4, 1);
    let b = batch_of(&["a"]);
    s.deliver(2, prepare(0, 1, &b));
    s.deliver(3, prepare(0, 1, &b));
    let a = s.deliver(0, pre_prepare(0, 1, &b));
    assert_eq!(sent_kinds(&a), vec!["prepare", "commit"]);
}

/// §4.2: "committed-local(m, v, n, i) is true iff prepared(m, v, n, i) is true and i has
/// accepted 2f+1 commits (possibly including its own) from different replicas that match the
/// pre-prepare"; the batch is then executed, with a commit certificate of 2f+1 signatures.
#[test]
fn committed_local_needs_2f_plus_1_commits() {
    let mut s = Single::new(4, 1);
    let b = batch_of(&["a"]);
    s.deliver(0, pre_prepare(0, 1, &b));
    s.deliver(2, prepare(0, 1, &b));
    s.deliver(3, prepare(0, 1, &b)); // prepared, own commit sent: 1 of 3
    let a = s.deliver(2, commit(0, 1, &b));
    assert!(a.execute.is_empty());
    let a = s.deliver(3, commit(0, 1, &b));
    assert_eq!(a.execute.len(), 1);
    let batch = &a.execute[0];
    assert_eq!((batch.seq, batch.requests.len()), (1, 1));
    batch
        .certificate
        .verify(&s.config.validators)
        .expect("certificate verifies");
}

/// §4.2 / §4.3: "replica i executes the operation requested by m after committed-local is
/// true and i's state reflects the sequential execution of all requests with lower sequence
/// numbers": seq 2 committing first waits for seq 1; both are then handed out in order, once.
#[test]
fn execution_is_in_sequence_order_exactly_once() {
    let mut s = Single::new(4, 1);
    let (b1, b2) = (batch_of(&["a"]), batch_of(&["b"]));
    for (seq, b) in [(2, &b2), (1, &b1)] {
        s.deliver(0, pre_prepare(0, seq, b));
        s.deliver(2, prepare(0, seq, b));
        s.deliver(3, prepare(0, seq, b));
    }
    s.deliver(2, commit(0, 2, &b2));
    let a = s.deliver(3, commit(0, 2, &b2));
    assert!(a.execute.is_empty(), "seq 2 waits for seq 1");
    s.deliver(2, commit(0, 1, &b1));
    let a = s.deliver(3, commit(0, 1, &b1));
    let seqs: Vec<u64> = a.execute.iter().map(|b| b.seq).collect();
    assert_eq!(seqs, vec![1, 2]);
    let again = s.deliver(0, commit(0, 1, &b1));
    assert!(again.execute.is_empty(), "never handed out twice");
}

/// §4.2 / TOCS'02 §5.1 (batching): the primary cuts batches of at most max_batch_requests
/// (4 here) and proposes them at once when batch_delay_ticks = 0.
#[test]
fn primary_batches_requests() {
    let mut s = Single::new(4, 0);
    let requests = (0..10).map(|i| req(&format!("r{i}"))).collect();
    let a = s.input(Input::ClientRequests(requests));
    let sizes: Vec<usize> = a
        .send
        .iter()
        .filter_map(|o| match &o.message.message {
            Message::PrePrepare { batch, .. } => Some(batch.len()),
            _ => None,
        })
        .collect();
    assert_eq!(sizes, vec![4, 4, 2]);
}

/// Batch delay: with eager proposals off, a partial batch waits batch_delay_ticks for more
/// requests; a full one goes at once.
#[test]
fn partial_batch_waits_for_the_batch_delay() {
    let mut config = common::small_config(4);
    config.settings.batch_delay_ticks = 3;
    config.settings.eager_batches_in_flight = 0;
    let keys = common::keys(4);
    let mut r = bftledger_consensus::Replica::new(config, 0, keys[0].clone(), common::ToyApp);
    let a = r.step(Input::ClientRequests(vec![req("a")])).persisted();
    assert!(a.send.is_empty());
    for _ in 0..2 {
        assert!(r.step(Input::Tick).persisted().send.is_empty());
    }
    let a = r.step(Input::Tick).persisted();
    assert_eq!(sent_kinds(&a), vec!["pre_prepare"]);
    let full = (0..4).map(|i| req(&format!("f{i}"))).collect();
    let a = r.step(Input::ClientRequests(full)).persisted();
    assert_eq!(sent_kinds(&a), vec!["pre_prepare"]);
}

/// TOCS'02 §5.1 (batching while the protocol runs): with no batch in flight the primary
/// proposes a lone request at once, whatever batch_delay_ticks says; while one is in flight,
/// later requests gather and go as one batch the moment it commits, before the delay expires.
#[test]
fn idle_primary_proposes_at_once_and_batches_while_busy() {
    let mut config = common::small_config(4);
    config.settings.batch_delay_ticks = 3;
    config.settings.eager_batches_in_flight = 1;
    let mut s = Single::with_config(config, 0);
    let a = s.input(Input::ClientRequests(vec![req("a")]));
    assert_eq!(
        sent_kinds(&a),
        vec!["pre_prepare"],
        "idle: proposed at once"
    );
    let b1 = batch_of(&["a"]);
    for r in ["b", "c"] {
        let a = s.input(Input::ClientRequests(vec![req(r)]));
        assert!(a.send.is_empty(), "seq 1 in flight: {r} waits");
    }
    s.deliver(1, prepare(0, 1, &b1));
    s.deliver(2, prepare(0, 1, &b1));
    s.deliver(1, commit(0, 1, &b1));
    let a = s.deliver(2, commit(0, 1, &b1));
    assert_eq!(a.execute.len(), 1, "seq 1 committed");
    let proposed: Vec<(u64, usize)> = a
        .send
        .iter()
        .filter_map(|o| match &o.message.message {
            Message::PrePrepare { pre_prepare, batch } => Some((pre_prepare.seq, batch.len())),
            _ => None,
        })
        .collect();
    assert_eq!(proposed, vec![(2, 2)], "b and c as one batch, no tick");
}

/// Each step reports the phases its slots reached (for the node's latency histograms): the
/// primary's proposal, then prepared on 2f PREPAREs, then committed on 2f+1 COMMITs (§4.2).
#[test]
fn steps_report_the_phases_slots_reach() {
    use bftledger_consensus::{Phase, Progress};
    let mut s = Single::new(4, 0);
    let phases = |a: &bftledger_consensus::Actions| -> Vec<Phase> {
        a.progress.iter().map(|p: &Progress| p.phase).collect()
    };
    let a = s.input(Input::ClientRequests(vec![req("a")]));
    assert_eq!(phases(&a), vec![Phase::PrePrepared]);
    assert_eq!((a.progress[0].view, a.progress[0].seq), (0, 1));
    let b1 = batch_of(&["a"]);
    assert!(phases(&s.deliver(1, prepare(0, 1, &b1))).is_empty());
    assert_eq!(
        phases(&s.deliver(2, prepare(0, 1, &b1))),
        vec![Phase::Prepared]
    );
    assert!(phases(&s.deliver(1, commit(0, 1, &b1))).is_empty());
    assert_eq!(
        phases(&s.deliver(2, commit(0, 1, &b1))),
        vec![Phase::Committed]
    );
    let mut backup = Single::new(4, 1);
    let a = backup.deliver(0, pre_prepare(0, 1, &b1));
    assert_eq!(phases(&a), vec![Phase::PrePrepared]);
}

/// §4.2 watermarks at the primary: it never assigns a seq above H = h + L (8 here), however
/// many requests are queued.
#[test]
fn primary_stops_at_high_watermark() {
    let mut s = Single::new(4, 0);
    let requests = (0..60).map(|i| req(&format!("r{i}"))).collect();
    let a = s.input(Input::ClientRequests(requests));
    let seqs = common::proposed_seqs(&a);
    assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
}

/// Duplicate suppression: a request already pending is not queued twice; the primary drops
/// requests the application refuses before proposing.
#[test]
fn duplicate_and_invalid_client_requests_are_not_proposed() {
    let mut s = Single::new(4, 0);
    let a = s.input(Input::ClientRequests(vec![req("a"), req("a"), req("bad")]));
    let rejected: Vec<&str> = rejections(&a).iter().map(|r| r.kind()).collect();
    assert!(rejected.contains(&"duplicate_request"), "{rejected:?}");
    assert!(rejected.contains(&"invalid_batch"), "{rejected:?}");
    let proposed: Vec<usize> = a
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Proposed { requests, .. } => Some(*requests),
            _ => None,
        })
        .collect();
    assert_eq!(proposed, vec![1]);
    let again = s.input(Input::ClientRequests(vec![req("a")]));
    assert_eq!(rejections(&again)[0].kind(), "duplicate_request");
}

/// Limits on client input: oversized requests and a full pending pool are typed rejections.
#[test]
fn client_request_limits() {
    let mut s = Single::new(4, 1);
    let big = bftledger_consensus::Request {
        payload: vec![7; 2000],
    };
    let a = s.input(Input::ClientRequests(vec![big]));
    assert_eq!(
        rejections(&a),
        vec![Rejection::RequestTooLarge {
            bytes: 2000,
            max_bytes: 1024
        }]
    );
    let many = (0..70).map(|i| req(&format!("p{i}"))).collect();
    let a = s.input(Input::ClientRequests(many));
    let full = rejections(&a)
        .iter()
        .filter(|r| matches!(r, Rejection::PendingFull { max: 64 }))
        .count();
    assert_eq!(full, 6);
    assert_eq!(s.replica.pending_requests(), 64);
}
