//! End-to-end runs of a 4- (and 7-) replica cluster with in-order delivery: normal case,
//! checkpoints and garbage collection, view change after a silent primary, crash recovery and
//! state transfer.

mod common;

use bftledger_consensus::Event;
use common::{req, Cluster};

fn submit_many(c: &mut Cluster, to: u32, from: usize, count: usize) {
    let requests = (from..from + count)
        .map(|i| req(&format!("tx-{i}")))
        .collect();
    c.submit(to, requests);
    c.deliver_all();
}

/// §4.2: a request submitted to the primary is pre-prepared, prepared, committed and executed
/// by all replicas, exactly once, in the same order.
#[test]
fn commits_end_to_end_n4() {
    let mut c = Cluster::new(4);
    submit_many(&mut c, 0, 0, 1);
    for i in 0..4 {
        assert_eq!(c.executed(i), 1, "replica {i}");
        assert_eq!(c.requests_executed(i), 1);
    }
}

/// §4.2 with n = 7 (f = 2): quorums of 5.
#[test]
fn commits_end_to_end_n7() {
    let mut c = Cluster::new(7);
    submit_many(&mut c, 0, 0, 10);
    c.tick_all(2);
    for i in 0..7 {
        assert_eq!(c.requests_executed(i), 10, "replica {i}");
    }
}

/// §4.3: many batches pass several checkpoints (K = 4, L = 8); the log stays bounded by the
/// window and the stable checkpoint advances on every replica.
#[test]
fn checkpoints_advance_and_log_stays_bounded() {
    let mut c = Cluster::new(4);
    for round in 0..20 {
        submit_many(&mut c, 0, round * 4, 4);
        c.tick_all(1);
        for i in 0..4 {
            assert!(c.replica(i).log_len() <= 8);
        }
    }
    for i in 0..4 {
        assert_eq!(c.requests_executed(i), 80, "replica {i}");
        let stable = c.replica(i).stable_checkpoint().seq;
        assert!(stable >= 16, "replica {i} stable {stable}");
        assert_eq!(stable % 4, 0);
    }
}

/// §4.4: a silent primary: backups holding a client request time out, change view, and the
/// new primary (replica 1) orders the request.
#[test]
fn view_change_after_silent_primary() {
    let mut c = Cluster::new(4);
    submit_many(&mut c, 0, 0, 4);
    c.mute.insert(0);
    for i in 1..4 {
        c.submit(i, vec![req("stuck")]);
    }
    c.tick_all(60);
    for i in 1..4 {
        assert_eq!(c.replica(i).view(), 1, "replica {i}");
        assert!(!c.replica(i).is_view_changing());
        assert!(
            c.apps[i as usize].executed.iter().any(|(_, _, n)| *n == 1),
            "replica {i} executed the stuck request"
        );
    }
    // The muted old primary learns of the new view and catches up once it can talk again.
    c.mute.clear();
    c.tick_all(60);
    assert_eq!(c.executed(0), c.executed(1));
}

/// §4.4: view change with prepared-but-not-committed requests: the new view re-proposes them
/// (from the prepared certificates in the view changes) and everybody executes them once.
#[test]
fn view_change_preserves_prepared_requests() {
    let mut c = Cluster::new(4);
    submit_many(&mut c, 0, 0, 2);
    // Commits of view 0 are lost from now on: "a" and "b" prepare everywhere, commit nowhere.
    c.drop_if = Some(Box::new(
        |_, m| matches!(&m.message, bftledger_consensus::Message::Commit(x) if x.view == 0),
    ));
    c.submit(0, vec![req("a"), req("b")]);
    c.deliver_all();
    let before: Vec<u64> = (0..4).map(|i| c.executed(i)).collect();
    c.mute.insert(0);
    c.tick_all(80);
    for i in 1..4 {
        assert!(c.replica(i).view() >= 1);
        assert!(
            c.executed(i) > before[i as usize],
            "replica {i} made progress"
        );
        assert_eq!(c.requests_executed(i), 4, "replica {i}: a and b once each");
    }
}

/// Two consecutive faulty primaries: the second view change waits twice as long (§4.4) and
/// view 2's primary finally orders the request.
#[test]
fn two_failed_primaries() {
    let mut c = Cluster::new(4);
    c.mute.insert(0);
    c.mute.insert(1);
    c.crash(1);
    for i in [0, 2, 3] {
        c.submit(i, vec![req("x")]);
    }
    c.tick_all(200);
    // Only 0 (muted), 2 and 3 are up; 0 is muted so 2 and 3 cannot form a quorum of 3 alone.
    c.mute.remove(&0);
    c.tick_all(400);
    for i in [2, 3] {
        assert!(
            c.replica(i).view() >= 2,
            "replica {i}: {:?} {:?}",
            c.replica(i),
            c.replica(0)
        );
        assert_eq!(c.requests_executed(i), 1, "replica {i}");
    }
}

/// Crash recovery: a backup crashes, the others go on past checkpoints; after recovery it
/// catches up through state transfer and keeps ordering.
#[test]
fn crashed_backup_recovers_and_catches_up() {
    let mut c = Cluster::new(4);
    submit_many(&mut c, 0, 0, 4);
    c.crash(3);
    for round in 1..8 {
        submit_many(&mut c, 0, round * 4, 4);
    }
    c.recover(3);
    for round in 8..12 {
        submit_many(&mut c, 0, round * 4, 4);
        c.tick_all(6);
    }
    c.tick_all(20);
    assert_eq!(c.executed(3), c.executed(0));
    let transferred = c
        .events
        .iter()
        .any(|(i, e)| *i == 3 && matches!(e, Event::StateTransferred { .. }));
    assert!(transferred, "replica 3 used state transfer");
}

/// Message loss: dropping everything for a while, then retransmission completes the batch.
#[test]
fn retransmission_recovers_from_loss() {
    let mut c = Cluster::new(4);
    c.deaf.insert(2);
    c.deaf.insert(3);
    c.submit(0, vec![req("lossy")]);
    c.deliver_all();
    assert_eq!(c.executed(0), 0);
    c.deaf.clear();
    c.tick_all(10);
    for i in 0..4 {
        assert_eq!(c.executed(i), 1, "replica {i}");
    }
}

/// TOCS'02 §4.5 (liveness), simulator seed 7752. The primary of view 1 (r1) enters view 1 with
/// 2f+1 view-changes, but its NEW-VIEW(1) and its own VIEW-CHANGE(1) are lost, so r2 and r3 wait
/// at target 1 with only two view-changes: their timer never starts and the f+1 join rule never
/// fires (r0 is silent). Then r1's timer moves it on to view 2. Only r1's NEW-VIEW(1), re-sent
/// in answer to their retransmitted VIEW-CHANGE(1) while r1 is itself changing view, moves them.
#[test]
fn new_view_is_relayed_while_its_primary_changes_to_a_later_view() {
    let mut c = Cluster::new(4);
    c.mute.insert(0); // Byzantine, silent; primary of view 0
    c.drop_if = Some(Box::new(|to, m| {
        let from_r1 = m.from == 1 && to != 1;
        match &m.message {
            bftledger_consensus::Message::ViewChange(view_change) => {
                from_r1 && view_change.new_view == 1
            }
            bftledger_consensus::Message::NewView(_) => from_r1,
            _ => false,
        }
    }));
    for i in 1..4 {
        c.submit(i, vec![req("x")]);
    }
    let mut moved_on = false;
    for _ in 0..1000 {
        c.tick_all(1);
        if c.replica(1).view() == 1 && c.replica(1).is_view_changing() {
            moved_on = true;
            break;
        }
    }
    assert!(
        moved_on,
        "r1 entered view 1 and left it: {:?}",
        c.replica(1)
    );
    for i in [2, 3] {
        assert_eq!(c.replica(i).view(), 0, "replica {i} never got NEW-VIEW(1)");
    }
    c.drop_if = None;
    let mut settled = false;
    for _ in 0..3000 {
        c.tick_all(1);
        if (1..4).all(|i| c.requests_executed(i) == 1) {
            settled = true;
            break;
        }
    }
    assert!(
        settled,
        "x executed by every correct replica: {:?}",
        (1..4).map(|i| c.replica(i)).collect::<Vec<_>>()
    );
}
