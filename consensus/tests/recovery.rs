//! Crash recovery: persist before send, and a restarted replica never signs two different
//! messages for the same (view, seq) (TOCS'02 §5.3 / §6 "proactive recovery" keeps the same
//! requirement: a replica's state that others rely on must survive a restart).

mod common;

use bftledger_consensus::{
    durable, Input, Message, PersistOp, Rejection, Replica, SignedMessage, Target,
};
use common::{batch_of, keys, pre_prepare, rejections, req, small_config, ToyApp};
use std::collections::BTreeMap;

struct Node {
    replica: Replica<ToyApp>,
    disk: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Node {
    fn new(id: u32) -> Node {
        let k = keys(4);
        Node {
            replica: Replica::new(small_config(4), id, k[id as usize].clone(), ToyApp),
            disk: BTreeMap::new(),
        }
    }

    fn step(&mut self, input: Input) -> bftledger_consensus::Actions {
        let mut out = self.replica.step(input);
        self.replica.check_invariants();
        durable::apply(&mut self.disk, &out.take_persist());
        out.persisted()
    }

    fn deliver(&mut self, from: u32, message: Message) -> bftledger_consensus::Actions {
        let signed = SignedMessage::sign(from, message, &keys(4)[from as usize]);
        self.step(Input::Message(signed))
    }

    fn restart(&mut self) {
        let id = self.replica.id();
        let entries = self.disk.clone().into_iter();
        self.replica = Replica::recover(
            small_config(4),
            id,
            keys(4)[id as usize].clone(),
            ToyApp,
            entries,
        )
        .expect("recover");
    }
}

/// Persist before send: every own pre-prepare, prepare, commit, checkpoint and view-change that
/// a step sends has its durable record among that step's persist ops.
#[test]
fn every_sent_vote_is_persisted_in_the_same_output() {
    let mut c = common::Cluster::new(4);
    for i in 0..12 {
        c.submit(0, vec![req(&format!("r{i}"))]);
        c.deliver_all();
    }
    c.mute.insert(0);
    for i in 1..4 {
        c.submit(i, vec![req("late")]);
    }
    c.tick_all(40);
    // The harness applies persist ops before sends; here check the stored disks directly:
    // every replica has its view, and votes for seqs above its stable checkpoint.
    for i in 1..4u32 {
        let disk = &c.disks[i as usize];
        assert!(
            disk.contains_key(b"V".as_slice()),
            "replica {i} persisted its view"
        );
        assert!(
            disk.contains_key(b"S".as_slice()),
            "replica {i} persisted stable checkpoint"
        );
    }
    // And on a single step: a backup accepting a pre-prepare persists the vote it sends.
    let mut s = common::Single::new(4, 2);
    let b = batch_of(&["x"]);
    let signed = s.sign(0, pre_prepare(0, 1, &b));
    let (persist, actions) = s.input_raw(Input::Message(signed));
    let vote_key = durable::vote_key(1, 0, durable::VoteKind::Prepare);
    assert!(persist
        .iter()
        .any(|op| matches!(op, PersistOp::Put { key, .. } if *key == vote_key)));
    assert_eq!(actions.send.len(), 1);
}

/// After a restart the replica rebuilds the slot it voted on (durable vote and batch), re-sends
/// the same prepare (retransmission) and refuses (typed rejection) to prepare a different
/// digest there — a Byzantine primary cannot make it equivocate across a crash.
#[test]
fn recovered_backup_never_prepares_a_different_digest() {
    let mut n = Node::new(1);
    let (b1, b2) = (batch_of(&["first"]), batch_of(&["second"]));
    let a = n.deliver(0, pre_prepare(0, 1, &b1));
    let original = a.send[0].message.clone();
    n.restart();
    let a = n.deliver(0, pre_prepare(0, 1, &b2));
    assert!(matches!(
        rejections(&a)[..],
        [Rejection::ConflictingPrePrepare { view: 0, seq: 1 }]
            | [Rejection::OwnVoteConflict { view: 0, seq: 1 }]
    ));
    assert!(a.send.is_empty());
    let mut resent = Vec::new();
    for _ in 0..12 {
        resent.extend(n.step(Input::Tick).send);
    }
    let prepares: Vec<_> = resent
        .iter()
        .filter(|o| o.message.message.kind() == "prepare")
        .collect();
    assert!(!prepares.is_empty(), "prepare retransmitted");
    assert!(
        prepares.iter().all(|o| o.message == original),
        "the very same prepare"
    );
}

/// Without the slot (no durable batch), the durable vote alone still refuses a different
/// digest for the same (view, seq).
#[test]
fn recovered_vote_alone_refuses_a_different_digest() {
    let mut n = Node::new(1);
    let (b1, b2) = (batch_of(&["first"]), batch_of(&["second"]));
    n.deliver(0, pre_prepare(0, 1, &b1));
    n.disk.retain(|k, _| k[0] != b'B');
    n.restart();
    let a = n.deliver(0, pre_prepare(0, 1, &b2));
    assert_eq!(
        rejections(&a),
        vec![Rejection::OwnVoteConflict { view: 0, seq: 1 }]
    );
    let a = n.deliver(0, pre_prepare(0, 1, &b1));
    assert_eq!(a.send.len(), 1, "the same prepare again");
}

/// Batches are durable with the vote that accepts them, and come back with the slot.
#[test]
fn batches_are_durable_with_votes() {
    let mut n = Node::new(2);
    let b = batch_of(&["keep-me"]);
    n.deliver(0, pre_prepare(0, 1, &b));
    assert!(n.disk.keys().any(|k| k[0] == b'B'), "batch persisted");
    n.restart();
    assert_eq!(n.replica.log_len(), 1, "slot restored");
}

/// A recovered primary continues after the highest seq it pre-prepared in its view: it never
/// assigns a used sequence number to a different batch.
#[test]
fn recovered_primary_does_not_reuse_sequence_numbers() {
    let mut n = Node::new(0);
    n.step(Input::ClientRequests(vec![req("a")]));
    n.step(Input::ClientRequests(vec![req("b")]));
    n.restart();
    let a = n.step(Input::ClientRequests(vec![req("c")]));
    let seqs = common::proposed_seqs(&a);
    assert_eq!(seqs, vec![3]);
}

/// A replica that crashes while changing view comes back changing view, re-sending the very
/// same view-change (same bytes, same signature) instead of signing a new one.
#[test]
fn recovered_view_changer_resends_the_same_view_change() {
    let mut n = Node::new(3);
    let k = keys(4);
    for from in [1, 2] {
        n.step(Input::Message(common::view_change(
            &k,
            from,
            1,
            bftledger_consensus::CheckpointProof::genesis(),
            vec![],
        )));
    }
    assert!(n.replica.is_view_changing());
    assert!(
        n.disk.keys().any(|k| k.first() == Some(&b'W')),
        "own view-change persisted"
    );
    n.restart();
    assert!(n.replica.is_view_changing());
    let mut resent = None;
    for _ in 0..10 {
        let a = n.step(Input::Tick);
        if let Some(o) = a
            .send
            .iter()
            .find(|o| o.message.message.kind() == "view_change")
        {
            assert_eq!(o.to, Target::All);
            resent = Some(o.message.clone());
        }
    }
    let resent = resent.expect("view-change retransmitted");
    resent.verify(&small_config(4).validators).expect("valid");
    match resent.message {
        Message::ViewChange(view_change) => assert_eq!(view_change.new_view, 1),
        other => panic!("{other:?}"),
    }
}

/// Recovery restores the view, the stable checkpoint and the execution point.
#[test]
fn recovery_restores_view_stable_checkpoint_and_execution() {
    let mut c = common::Cluster::new(4);
    for i in 0..10 {
        c.submit(0, vec![req(&format!("r{i}"))]);
        c.deliver_all();
    }
    c.tick_all(2);
    let before = (
        c.replica(2).view(),
        c.replica(2).stable_checkpoint().clone(),
        c.replica(2).last_executed(),
    );
    c.crash(2);
    c.recover(2);
    let r = c.replica(2);
    assert_eq!(
        (r.view(), r.stable_checkpoint().clone(), r.last_executed()),
        before
    );
}

/// Durable state that does not parse is a typed error, not a panic.
#[test]
fn corrupt_durable_state_is_a_typed_error() {
    let k = keys(4);
    let bad_key = vec![(b"?".to_vec(), vec![1])];
    let err = Replica::recover(small_config(4), 0, k[0].clone(), ToyApp, bad_key).unwrap_err();
    assert!(matches!(
        err,
        bftledger_consensus::RecoverError::UnknownKey { .. }
    ));
    let bad_value = vec![(b"V".to_vec(), vec![0xff; 3])];
    let err = Replica::recover(small_config(4), 0, k[0].clone(), ToyApp, bad_value).unwrap_err();
    assert!(matches!(
        err,
        bftledger_consensus::RecoverError::Value { .. }
    ));
}

/// TOCS'02 §4.5 (liveness: new-view retransmission). The primary of view v+1 enters v+1 as it
/// sends NEW-VIEW(v+1), and crashes before any of its sends leave (its own VIEW-CHANGE(v+1)
/// included). The others hold only 2f view-changes for v+1 (one replica is silent), so their
/// view-change timer never starts: only the new primary can unblock them. After recovery it must
/// answer their retransmitted VIEW-CHANGE(v+1) with the NEW-VIEW it persisted before sending;
/// they then enter v+1 and commit (sim seeds 1202 / 2238 / 5293).
#[test]
fn recovered_new_primary_resends_its_new_view() {
    let mut c = common::Cluster::new(4);
    c.mute.insert(3); // Byzantine, silent
    c.submit(0, vec![req("a")]);
    c.deliver_all();
    c.tick_all(2);
    let base = c.executed(0);
    assert!(base >= 1, "request a committed in view 0");
    // r1 (primary of view 1) loses every send from now on, as if it crashed right after
    // persisting each output.
    c.mute.insert(1);
    for i in 0..3 {
        c.submit(i, vec![req("b")]);
    }
    c.deliver_all();
    let mut entered = false;
    for _ in 0..200 {
        c.tick_all(1);
        if c.replica(1).view() == 1 && !c.replica(1).is_view_changing() {
            entered = true;
            break;
        }
    }
    assert!(entered, "r1 entered view 1 (its NEW-VIEW was lost)");
    for i in [0, 2] {
        assert!(
            c.replica(i).is_view_changing(),
            "replica {i} still changing"
        );
    }
    assert!(
        c.disks[1].contains_key(b"N".as_slice()),
        "own NEW-VIEW persisted"
    );
    c.crash(1);
    c.queue.retain(|(to, _)| *to != 1);
    c.recover(1);
    c.mute.remove(&1);
    assert_eq!(c.replica(1).view(), 1);
    assert!(!c.replica(1).is_view_changing());
    c.tick_all(30);
    for i in [0, 2] {
        assert_eq!(c.replica(i).view(), 1, "replica {i} entered view 1");
        assert!(
            !c.replica(i).is_view_changing(),
            "replica {i} in normal status"
        );
    }
    c.submit(1, vec![req("c")]);
    c.deliver_all();
    c.tick_all(5);
    let height = c.executed(0);
    assert!(height > base, "view 1 commits");
    for i in [1, 2] {
        assert_eq!(c.executed(i), height, "replica {i} executed up to {height}");
    }
    assert_eq!(c.replica(0).view(), 1, "no further view change was needed");
}

/// TOCS'02 §4.5.2 (liveness) with retransmission (§5.2): a replica whose view-change timer for
/// v+1 expired (it had 2f+1 VIEW-CHANGE(v+1)) moves on to v+2, while the others still wait for
/// its VIEW-CHANGE(v+1), which they never received. The timer of those others cannot start
/// without it, and one VIEW-CHANGE(v+2) is below the f+1 join rule, so the cluster stalls unless
/// the replica ahead keeps re-sending its VIEW-CHANGE(v+1) — across a crash too. Every own
/// view-change since the last normal view is durable and re-sent (sim seed 5813).
#[test]
fn recovered_replica_resends_its_earlier_view_changes() {
    let mut c = common::Cluster::new(4);
    c.mute.insert(2); // Byzantine, silent; primary of view 2
                      // The primary of view 0 sends no pre-prepares, so the backups' timers expire.
    c.drop_if = Some(Box::new(|_, m| {
        let lost_vc1 = m.from == 3
            && matches!(&m.message, Message::ViewChange(view_change) if view_change.new_view == 1);
        lost_vc1 || (m.from == 0 && matches!(m.message, Message::PrePrepare { .. }))
    }));
    for i in [0, 1, 3] {
        c.submit(i, vec![req("x")]);
    }
    c.deliver_all();
    let mut ahead = false;
    for _ in 0..400 {
        c.tick_all(1);
        if matches!(
            c.replica(3).status(),
            bftledger_consensus::Status::ViewChanging { target: 2 }
        ) {
            ahead = true;
            break;
        }
    }
    assert!(ahead, "r3's timer for view 1 expired: {:?}", c.replica(3));
    for i in [0, 1] {
        assert_eq!(
            c.replica(i).status(),
            bftledger_consensus::Status::ViewChanging { target: 1 },
            "replica {i} waits for a third VIEW-CHANGE(1)"
        );
    }
    let own_view_changes = |disk: &BTreeMap<Vec<u8>, Vec<u8>>| {
        disk.keys().filter(|k| k.first() == Some(&b'W')).count()
    };
    assert_eq!(
        own_view_changes(&c.disks[3]),
        2,
        "VIEW-CHANGE 1 and 2 durable"
    );
    c.crash(3);
    c.queue.retain(|(to, _)| *to != 3);
    c.drop_if = None;
    c.recover(3);
    let mut normal = false;
    for _ in 0..2000 {
        c.tick_all(1);
        if (0..4).all(|i| i == 2 || !c.replica(i).is_view_changing()) {
            normal = true;
            break;
        }
    }
    assert!(normal, "the correct replicas reached a common view");
    let view = c.replica(3).view();
    assert!(view >= 3, "view 1 (r1) and view 2 (silent r2) were passed");
    for i in [0, 1] {
        assert_eq!(c.replica(i).view(), view);
    }
    // r3 lost its pending requests in the crash: the client re-sends x to it.
    c.submit(3, vec![req("x")]);
    c.tick_all(20);
    for i in [0, 1, 3] {
        assert_eq!(c.requests_executed(i), 1, "replica {i} executed x once");
        assert_eq!(
            own_view_changes(&c.disks[i as usize]),
            0,
            "replica {i}: own view-changes deleted in the new view"
        );
    }
}
