//! Checkpoints, stable checkpoints, watermarks, garbage collection and the state-transfer
//! trigger (Castro & Liskov OSDI'99 §4.3; TOCS'02 §4.3 and §6.2 for state transfer).

mod common;

use bftledger_consensus::{Checkpoint, Event, Input, Message, Rejection};
use bftledger_crypto::Digest;
use common::{batch_of, pre_prepare, rejections, req, sent_kinds, Single};

fn root(i: u8) -> Digest {
    Digest([i; 32])
}

fn checkpoint(seq: u64, state_root: Digest) -> Message {
    Message::Checkpoint(Checkpoint { seq, state_root })
}

/// §4.3: "a replica produces a checkpoint ... after executing a request whose sequence number
/// is divisible by some constant" K: the application's state root after seq K is signed and
/// multicast; nothing is sent at other seqs.
#[test]
fn checkpoint_is_sent_every_k_after_execution() {
    let mut s = Single::new(4, 1);
    s.execute_upto(1, 3, false);
    let (persist, a) = {
        let b = batch_of(&["req-4"]);
        s.deliver(0, pre_prepare(0, 4, &b));
        for r in [2, 3] {
            s.deliver(
                r,
                Message::Prepare(bftledger_consensus::Prepare {
                    view: 0,
                    seq: 4,
                    digest: bftledger_consensus::batch_digest(&b),
                }),
            );
        }
        for r in [0, 2] {
            s.deliver(
                r,
                Message::Commit(bftledger_consensus::Commit {
                    view: 0,
                    seq: 4,
                    digest: bftledger_consensus::batch_digest(&b),
                }),
            );
        }
        s.input_raw(Input::Executed {
            seq: 4,
            state_root: root(4),
        })
    };
    assert_eq!(sent_kinds(&a), vec!["checkpoint"]);
    assert!(
        persist.iter().any(
            |op| matches!(op, bftledger_consensus::PersistOp::Put { key, .. } if key[0] == b'C')
        ),
        "own checkpoint persisted before sending"
    );
}

/// §4.3: "a checkpoint with a proof [2f+1 matching checkpoint messages from different
/// replicas] becomes stable and the replica discards all pre-prepare, prepare, and commit
/// messages with sequence number less than or equal to n" — the low watermark moves to n and
/// H = h + L.
#[test]
fn stable_after_2f_plus_1_matching_checkpoints_and_gc() {
    let mut s = Single::new(4, 1);
    s.execute_upto(1, 5, false);
    assert_eq!(s.replica.log_len(), 5);
    let a = s.deliver(2, checkpoint(4, root(4)));
    assert!(a.events.is_empty(), "own + 1 = 2 < 3");
    let a = s.deliver(3, checkpoint(4, root(4)));
    assert!(a
        .events
        .iter()
        .any(|e| matches!(e, Event::StableCheckpoint { seq: 4, .. })));
    assert_eq!(s.replica.low_watermark(), 4);
    assert_eq!(s.replica.high_watermark(), 12);
    assert_eq!(s.replica.log_len(), 1, "seqs 1..=4 discarded");
    assert_eq!(s.replica.stable_checkpoint().signatures.len(), 3);
    s.replica
        .stable_checkpoint()
        .verify(&s.config.validators)
        .expect("proof verifies");
}

/// §4.3: checkpoints with different state roots do not form a proof.
#[test]
fn mismatching_checkpoints_are_not_stable() {
    let mut s = Single::new(4, 1);
    s.execute_upto(1, 4, false);
    s.deliver(2, checkpoint(4, root(99)));
    s.deliver(3, checkpoint(4, root(98)));
    assert_eq!(s.replica.low_watermark(), 0);
    s.deliver(0, checkpoint(4, root(4)));
    assert_eq!(s.replica.low_watermark(), 0, "only 2 of 4 match");
}

/// §4.3: checkpoints are only for multiples of K above the low watermark; a second, different
/// checkpoint from the same replica for the same seq is equivocation.
#[test]
fn checkpoint_acceptance_conditions() {
    let mut s = Single::new(4, 1);
    let a = s.deliver(2, checkpoint(3, root(3)));
    assert_eq!(
        rejections(&a),
        vec![Rejection::BadCheckpointSeq { seq: 3, low: 0 }]
    );
    let a = s.deliver(2, checkpoint(0, root(0)));
    assert_eq!(
        rejections(&a),
        vec![Rejection::BadCheckpointSeq { seq: 0, low: 0 }]
    );
    s.deliver(2, checkpoint(4, root(4)));
    let a = s.deliver(2, checkpoint(4, root(5)));
    assert_eq!(
        rejections(&a),
        vec![Rejection::Equivocation { from: 2, seq: 4 }]
    );
}

/// §4.3 watermarks: with h = 4 after a stable checkpoint at 4 and L = 8, seq 4 and seq 13 are
/// outside the window, 5 and 12 inside.
#[test]
fn watermark_arithmetic_after_stable_checkpoint() {
    let mut s = Single::new(4, 1);
    s.execute_upto(1, 4, false);
    s.deliver(2, checkpoint(4, root(4)));
    s.deliver(3, checkpoint(4, root(4)));
    for (seq, inside) in [(4, false), (5, true), (12, true), (13, false)] {
        let b = batch_of(&[&format!("w{seq}")]);
        let a = s.deliver(0, pre_prepare(0, seq, &b));
        let outside = rejections(&a).iter().any(|r| {
            matches!(
                r,
                Rejection::OutsideWindow {
                    low: 4,
                    high: 12,
                    ..
                }
            )
        });
        assert_eq!(!outside, inside, "seq {seq}");
    }
}

/// State transfer trigger (TOCS'02 §6.2.2): a replica that learns a stable checkpoint (2f+1
/// valid signatures) beyond what it executed asks the driver to fetch state, and resumes after
/// the transfer at that checkpoint; a transfer report that does not match is rejected.
#[test]
fn state_transfer_is_triggered_and_resumes() {
    let mut s = Single::new(4, 3);
    // 40 is beyond H = 8: only each peer's latest beyond-window vote is kept, and 3 match.
    let mut fetch = None;
    for r in [0, 1, 2] {
        let a = s.deliver(r, checkpoint(40, root(40)));
        fetch = fetch.or(a.fetch_state);
    }
    assert_eq!(fetch.map(|f| f.seq), Some(40));
    assert_eq!(s.replica.high_watermark(), 48, "window follows the fetch");
    let a = s.input(Input::StateTransferred {
        seq: 40,
        state_root: root(41),
    });
    assert_eq!(
        rejections(&a),
        vec![Rejection::UnexpectedStateTransfer { seq: 40 }]
    );
    let a = s.input(Input::StateTransferred {
        seq: 40,
        state_root: root(40),
    });
    assert!(a
        .events
        .iter()
        .any(|e| matches!(e, Event::StateTransferred { seq: 40 })));
    assert_eq!(s.replica.last_executed(), 40);
    assert_eq!(s.replica.low_watermark(), 40);
}

/// Inside the window a replica first gives retransmission one period to deliver the commits
/// it misses (checkpoints of faster replicas often overtake them); then it asks for state
/// transfer with the 2f+1 proof, and repeats the request while it is outstanding.
#[test]
fn fetch_inside_window_waits_one_retransmission_period() {
    let mut s = Single::new(4, 3);
    s.deliver(0, checkpoint(8, root(8)));
    s.deliver(1, checkpoint(8, root(8)));
    let a = s.deliver(2, checkpoint(8, root(8)));
    assert!(a.fetch_state.is_none(), "8 <= H: wait first");
    let a = s.ticks(6);
    let fetch = a
        .fetch_state
        .expect("fetch requested after a retransmission period");
    assert_eq!((fetch.seq, fetch.state_root), (8, root(8)));
    fetch
        .proof
        .verify(&s.config.validators)
        .expect("valid proof");
    let again = s.ticks(5);
    assert_eq!(again.fetch_state.map(|f| f.seq), Some(8));
}

/// Bounded memory (§4.3 + untrusted input): a peer spraying checkpoints for ever higher seqs
/// beyond the window keeps at most one stored vote (its latest); invariants hold throughout.
#[test]
fn checkpoints_beyond_the_window_are_bounded_per_peer() {
    let mut s = Single::new(4, 1);
    for k in 3..500u64 {
        s.deliver(2, checkpoint(k * 4, root(1)));
    }
    s.deliver(3, checkpoint(1996, root(1)));
    // One correct-looking peer cannot make a proof alone, and memory stayed bounded (the
    // invariant check after every step asserts the bound).
    assert_eq!(s.replica.low_watermark(), 0);
    assert_eq!(s.replica.last_executed(), 0);
}

/// The driver may only report executions the replica handed out, in order.
#[test]
fn unexpected_executed_report_is_rejected() {
    let mut s = Single::new(4, 1);
    let a = s.input(Input::Executed {
        seq: 1,
        state_root: root(1),
    });
    assert_eq!(
        rejections(&a),
        vec![Rejection::UnexpectedExecuted {
            seq: 1,
            last_executed: 0
        }]
    );
}

/// TOCS'02 §6.2: f+1 matching checkpoints (one signer is correct) suffice to fetch a state;
/// after installing it the replica signs that checkpoint itself, which can complete the 2f+1
/// proof that makes it stable.
#[test]
fn f_plus_1_checkpoints_trigger_fetch_and_own_checkpoint_completes_the_proof() {
    let mut s = Single::new(4, 3);
    s.deliver(0, checkpoint(40, root(40)));
    let a = s.deliver(1, checkpoint(40, root(40)));
    let fetch = a
        .fetch_state
        .expect("f+1 = 2 matching checkpoints beyond the window");
    assert_eq!(fetch.proof.signatures.len(), 2);
    fetch
        .proof
        .verify_weak(&s.config.validators)
        .expect("weak proof");
    assert!(
        fetch.proof.verify(&s.config.validators).is_err(),
        "not stable"
    );
    let a = s.input(Input::StateTransferred {
        seq: 40,
        state_root: root(40),
    });
    assert_eq!(sent_kinds(&a), vec!["checkpoint"]);
    assert_eq!(s.replica.last_executed(), 40);
    assert_eq!(s.replica.low_watermark(), 40, "own vote completed 2f+1");
}

/// Same rule (TOCS'02 §6.2) at the primary of the current view (simulator seed 5545: the
/// primary of view 0 restarted after the others had moved on). While the f+1 fetch is
/// outstanding it must not assign sequence numbers the fetched state covers, and the window does
/// not move before the proof is 2f+1; after the transfer it proposes right after the checkpoint.
#[test]
fn primary_fetching_on_f_plus_1_checkpoints_assigns_nothing_the_state_covers() {
    let mut s = Single::new(4, 0);
    s.deliver(2, checkpoint(40, root(40)));
    let a = s.deliver(3, checkpoint(40, root(40)));
    assert_eq!(a.fetch_state.map(|f| f.seq), Some(40));
    assert_eq!(s.replica.low_watermark(), 0, "f+1 does not move the window");
    let a = s.input(Input::ClientRequests(vec![req("during-fetch")]));
    assert!(
        !sent_kinds(&a).contains(&"pre-prepare"),
        "no proposal while the state up to 40 is being fetched"
    );
    s.input(Input::StateTransferred {
        seq: 40,
        state_root: root(40),
    });
    let a = s.ticks(1);
    let proposed = common::proposed_seqs(&a);
    assert!(
        proposed.iter().all(|seq| *seq > 40),
        "proposals after the fetched checkpoint: {proposed:?}"
    );
}

/// Regression (simulator seed 2129): a checkpoint becomes stable (durably) only once the
/// application reported executing it, not when the batch was merely handed out.
#[test]
fn stable_checkpoint_waits_for_the_application_report() {
    let mut s = Single::new(4, 1);
    s.execute_upto(1, 3, false);
    let b = batch_of(&["req-4"]);
    let digest = bftledger_consensus::batch_digest(&b);
    s.deliver(0, pre_prepare(0, 4, &b));
    for r in [2, 3] {
        s.deliver(
            r,
            Message::Prepare(bftledger_consensus::Prepare {
                view: 0,
                seq: 4,
                digest,
            }),
        );
    }
    let mut executed = 0;
    for r in [0, 2] {
        let commit = bftledger_consensus::Commit {
            view: 0,
            seq: 4,
            digest,
        };
        executed += s.deliver(r, Message::Commit(commit)).execute.len();
    }
    assert_eq!((executed, s.replica.last_executed()), (1, 4));
    for r in [0, 2, 3] {
        s.deliver(r, checkpoint(4, root(4)));
    }
    assert_eq!(s.replica.low_watermark(), 0, "handed out, not yet reported");
    s.input(Input::Executed {
        seq: 4,
        state_root: root(4),
    });
    assert_eq!(s.replica.low_watermark(), 4);
}

/// Prepares seqs `1..=upto` at backup `s` in view 0: the pre-prepare of primary 0 and the prepare
/// of replica 1 (with its own prepare, 2f = 2) make each slot prepared; nothing commits.
fn prepare_upto(s: &mut Single, upto: u64) {
    use bftledger_consensus::Prepare;
    for seq in 1..=upto {
        let b = batch_of(&[&format!("req-{seq}")]);
        let digest = bftledger_consensus::batch_digest(&b);
        s.deliver(0, pre_prepare(0, seq, &b));
        let a = s.deliver(
            1,
            Message::Prepare(Prepare {
                view: 0,
                seq,
                digest,
            }),
        );
        assert_eq!(sent_kinds(&a), vec!["commit"], "seq {seq} prepared");
    }
}

/// Replica 2 with seqs 1..4 prepared (not executed), fetching checkpoint 4 on the f+1 votes of
/// replicas 0 and 1 (after the one retransmission period a fetch inside the window waits).
fn fetching_on_f_plus_1_votes() -> Single {
    let mut s = Single::new(4, 2);
    prepare_upto(&mut s, 4);
    s.deliver(0, checkpoint(4, root(4)));
    s.deliver(1, checkpoint(4, root(4)));
    let a = s.ticks(s.config.settings.retransmit_ticks as usize + 1);
    assert_eq!(a.fetch_state.map(|f| f.seq), Some(4), "f+1 votes: fetch");
    s
}

/// The VIEW-CHANGE replica 2 sends when VIEW-CHANGEs for view 1 from f+1 peers (0 and 3)
/// make it join view 1 (§4.4 liveness rule).
fn joined_view_change(s: &mut Single) -> bftledger_consensus::ViewChange {
    let genesis = bftledger_consensus::CheckpointProof::genesis();
    let mut sent = Vec::new();
    for r in [0, 3] {
        let vc = common::view_change(&s.keys, r, 1, genesis.clone(), vec![]);
        sent.extend(s.input(Input::Message(vc)).send);
    }
    sent.iter()
        .find_map(|o| match &o.message.message {
            Message::ViewChange(view_change) if o.message.from == 2 => Some(view_change.clone()),
            _ => None,
        })
        .expect("joined view 1")
}

fn prepared_seqs(vc: &bftledger_consensus::ViewChange) -> Vec<u64> {
    vc.prepared.iter().map(|c| c.pre_prepare.seq).collect()
}

/// Safety-holes issue, item 1 (TOCS'02 §4.4: a VIEW-CHANGE carries the sender's stable checkpoint
/// and a prepared certificate for every seq above it that it prepared). The review's fork at
/// n = 4: replica 2 prepared seqs 1..4; replicas 0 (correct) and 1 (Byzantine) sign checkpoint 4;
/// replica 2 fetches on their f+1 votes. The fetch does not move the checkpoint its VIEW-CHANGE
/// reports (still 0), so it must not forget the certificates: without them a new primary that
/// hears from {1 (omits them), 2, 3} fills seq 1 with another batch while replica 0 executed
/// the original.
#[test]
fn fetch_on_f_plus_1_checkpoints_keeps_prepared_certificates() {
    let mut s = fetching_on_f_plus_1_votes();
    let vc = joined_view_change(&mut s);
    assert_eq!(
        vc.stable.seq, 0,
        "f+1 votes do not make checkpoint 4 stable"
    );
    assert_eq!(
        prepared_seqs(&vc),
        vec![1, 2, 3, 4],
        "no certificate forgotten"
    );
}

/// Same rule across a crash (TOCS'02 §4.4, §4.5 recovery): a fetch on 2f+1 votes moves the window
/// floor and deletes the certificates below it durably; the floor must be durable in the same
/// write, or after a restart the VIEW-CHANGE reports the old checkpoint without them.
#[test]
fn floor_of_a_2f_plus_1_fetch_survives_a_crash_with_the_certificates_it_replaced() {
    let mut s = Single::new(4, 2);
    prepare_upto(&mut s, 4);
    for r in [0, 1, 3] {
        s.deliver(r, checkpoint(4, root(4)));
    }
    s.ticks(s.config.settings.retransmit_ticks as usize + 1);
    s.restart();
    let a = s.ticks(1);
    assert_eq!(a.fetch_state.map(|f| f.seq), Some(4), "fetch resumed");
    // Nothing is pending after the restart: VIEW-CHANGEs of f+1 peers make it join view 1.
    let vc = joined_view_change(&mut s);
    let covered = vc.stable.seq >= 4 || prepared_seqs(&vc) == vec![1, 2, 3, 4];
    assert!(
        covered,
        "view-change reports checkpoint {} with certificates {:?}: seqs 1..4 lost",
        vc.stable.seq,
        prepared_seqs(&vc)
    );
    assert_eq!(vc.stable.seq, 4, "the durable floor is reported");
}

/// The outstanding state transfer is durable (TOCS'02 §6.2 with crash-recovery, §4.5): if the
/// driver installed the fetched state and crashed before telling the core, the restarted
/// replica must neither hand out the seqs that state covers (the ledger has no blocks for them)
/// nor forget that it is fetching; it asks again and the driver reports the state it already has.
#[test]
fn outstanding_fetch_survives_a_crash_and_nothing_below_it_is_executed() {
    let mut s = fetching_on_f_plus_1_votes();
    s.restart();
    // Commits for the fetched seqs arrive again: nothing is executed below the fetch.
    let mut executed = Vec::new();
    for seq in 1..=4 {
        let digest = bftledger_consensus::batch_digest(&batch_of(&[&format!("req-{seq}")]));
        for r in [0, 1, 3] {
            let commit = bftledger_consensus::Commit {
                view: 0,
                seq,
                digest,
            };
            executed.extend(s.deliver(r, Message::Commit(commit)).execute);
        }
    }
    assert!(
        executed.is_empty(),
        "executed below the fetch: {executed:?}"
    );
    let a = s.ticks(1);
    assert_eq!(a.fetch_state.map(|f| f.seq), Some(4), "still fetching");
    let a = s.input(Input::StateTransferred {
        seq: 4,
        state_root: root(4),
    });
    assert!(rejections(&a).is_empty(), "{:?}", a.events);
    assert_eq!(s.replica.last_executed(), 4);
}
