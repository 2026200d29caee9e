//! Client requests at backups: the view-change timer waits for a request (OSDI'99 §4.4), a
//! backup relays what it waits on to the primary (§4.4), and a request has one identity from
//! admission to execution. Regression tests of the safety-holes issue, items 4, 6 and 7.

mod common;

use bftledger_consensus::{Actions, Event, Input, Message, Mutant};
use common::{batch_of, req, small_config, Cluster, Single};

fn view_change_started(actions: &Actions) -> bool {
    actions
        .events
        .iter()
        .any(|e| matches!(e, Event::ViewChangeStarted { .. }))
}

/// Ticks `n` times, then commits and executes `seq` at the backup (primary 0, view 0), unless
/// a view change started during the ticks. Returns whether it did.
fn tick_then_commit(s: &mut Single, ticks: usize, seq: u64) -> bool {
    if view_change_started(&s.ticks(ticks)) {
        return true;
    }
    s.execute_upto(seq, seq, true);
    false
}

/// Item 4 (§4.4: the backup "stops the timer when it is no longer waiting to execute the
/// request, but restarts it if at that point it is waiting to execute some other request"). A
/// Byzantine primary censors one request by proposing other batches just under the timeout:
/// executing them must not stop the timer that the victim's request started, so the backup
/// moves to the next view within about one timeout. With the old rule (any execution stops the
/// timer) 40 such batches went by without a view change.
#[test]
fn censoring_primary_is_replaced_although_other_batches_execute() {
    let mut s = Single::new(4, 1);
    let timeout = s.config.settings.view_change_timeout_ticks as usize;
    s.input(Input::ClientRequests(vec![req("victim")]));
    let mut changed_at = None;
    for seq in 1..=40u64 {
        if tick_then_commit(&mut s, timeout / 2, seq) {
            changed_at = Some(seq);
            break;
        }
    }
    let seq = changed_at.expect("the censored request started a view change");
    assert!(seq <= 3, "view change only after {seq} censoring batches");
}

/// The same run with the mutant that brings the old rule back: no view change at all (the
/// simulator's `--mutant timer-stops-on-any-execution` must catch this as a stall).
#[test]
fn censorship_mutant_keeps_the_censoring_primary() {
    let config = small_config(4).with_mutant(Mutant::TimerStopsOnAnyExecution);
    let mut s = Single::with_config(config, 1);
    let timeout = s.config.settings.view_change_timeout_ticks as usize;
    s.input(Input::ClientRequests(vec![req("victim")]));
    for seq in 1..=12u64 {
        assert!(!tick_then_commit(&mut s, timeout / 2, seq), "seq {seq}");
    }
}

/// §4.4 restart rule, the other side: when the awaited request executes and another is still
/// pending, the timer restarts with a full timeout for it. A primary that executes each request
/// within the timeout of the moment the backup started waiting on it is never replaced, even
/// though the second request arrived long before it executed.
#[test]
fn timer_restarts_for_the_next_request_when_the_awaited_one_executes() {
    let mut s = Single::new(4, 1);
    let timeout = s.config.settings.view_change_timeout_ticks as usize;
    s.input(Input::ClientRequests(vec![req("req-1"), req("req-2")]));
    assert!(!view_change_started(&s.ticks(timeout - 2)));
    s.execute_upto(1, 1, true); // "req-1", the oldest: the timer restarts for "req-2"
    assert!(!view_change_started(&s.ticks(timeout - 2)));
    s.execute_upto(2, 2, true);
    assert!(
        !view_change_started(&s.ticks(3 * timeout)),
        "nothing pending"
    );
}

/// Item 6 (§4.4: a backup relays a request it waits on to the primary). A validator forwards
/// its client's request to every replica but the primary: the backups that start a timer for
/// it relay it, the primary orders it, and no view change happens.
#[test]
fn request_the_primary_never_got_is_relayed_and_committed_without_a_view_change() {
    let mut c = Cluster::new(4);
    for backup in 1..4 {
        c.submit(backup, vec![req("skipped-primary")]);
    }
    c.tick_all(3 * c.config.settings.view_change_timeout_ticks as usize);
    for r in 0..4 {
        assert_eq!(c.requests_executed(r), 1, "replica {r}");
        assert_eq!(c.replica(r).view(), 0, "replica {r} changed view");
    }
}

/// Item 6, the bound: a pending request is relayed at most once per retransmission period by
/// a backup (the primary is not flooded by every backup on every tick), and again in later
/// periods while it is still pending (a primary that restarted lost its pool).
#[test]
fn a_pending_request_is_relayed_once_per_retransmission_period() {
    let mut s = Single::new(4, 1);
    let a = s.input(Input::ClientRequests(vec![req("r")]));
    let relay = a.relay.expect("relayed when the timer starts for it");
    assert_eq!((relay.to, relay.requests.len()), (0, 1));
    let period = s.config.settings.retransmit_ticks;
    let mut relayed_at = Vec::new();
    for _ in 0..(s.config.settings.view_change_timeout_ticks - 1) {
        let a = s.input(Input::Tick);
        if a.relay.is_some() {
            relayed_at.push(s.replica.now_ticks());
        }
    }
    assert!(!relayed_at.is_empty(), "relayed again while pending");
    let gaps_ok = relayed_at.windows(2).all(|w| w[1] - w[0] >= period);
    assert!(
        gaps_ok && relayed_at[0] >= period,
        "relays at {relayed_at:?}"
    );
}

/// The mutant that brings back "never relay": the request stays at the backups and their
/// timers change the view (a correct primary replaced because of one validator's forwarding).
#[test]
fn no_relay_mutant_replaces_a_correct_primary() {
    let config = small_config(4).with_mutant(Mutant::NoRequestRelay);
    let mut c = Cluster::with_config(config);
    for backup in 1..4 {
        c.submit(backup, vec![req("skipped-primary")]);
    }
    c.tick_all(3 * c.config.settings.view_change_timeout_ticks as usize);
    assert!(c.replica(1).view() > 0, "the correct primary was voted out");
}

/// Item 7: one transfer signed twice (two valid signatures) is one request. A client posts the
/// copies at once to two validators; the copy that was ordered executes, and the other must not
/// stay pending at any replica (it did forever, with view changes, when requests were keyed by
/// their bytes).
#[test]
fn a_request_signed_twice_is_not_pending_once_either_copy_executed() {
    let mut c = Cluster::new(4);
    c.submit(0, vec![req("pay-bob-5#sig-a")]);
    for backup in 1..4 {
        c.submit(backup, vec![req("pay-bob-5#sig-b")]);
    }
    c.tick_all(3 * c.config.settings.view_change_timeout_ticks as usize);
    for r in 0..4 {
        assert_eq!(c.replica(r).pending_requests(), 0, "replica {r}");
        assert_eq!(c.replica(r).view(), 0, "replica {r} changed view");
    }
    let executed: usize = c.apps[0].executed.iter().map(|e| e.2).sum();
    assert_eq!(executed, 1, "executed once");
}

/// Issue 12 (found by the simulator once it ran the real ledger): a client double-spends,
/// sending two transfers with one nonce to different validators. The primary orders one; its
/// mempool then refuses the other (the nonce is used), so no correct primary ever proposes it.
/// Rule (OSDI'99 §4.4: a backup's timer waits for a request it expects executed): once a
/// request executes, the backups stop waiting for the pending requests that conflict with it
/// (`Application::conflict_keys`), so the correct primary stays. The mutant that keeps them
/// pending shows the attack: one malicious client replaces a correct primary.
#[test]
fn a_double_spend_leaves_nothing_pending_and_keeps_the_primary() {
    for mutant in [None, Some(Mutant::ConflictsStayPending)] {
        let mut config = small_config(4);
        config.mutant = mutant;
        let mut c = Cluster::with_config(config);
        let (bob, carol) = (req("alice-nonce-5@pay-bob"), req("alice-nonce-5@pay-carol"));
        c.hosts_refuse.push(carol.clone());
        c.submit(0, vec![bob]);
        for backup in 1..4 {
            c.submit(backup, vec![carol.clone()]);
        }
        c.tick_all(3 * c.config.settings.view_change_timeout_ticks as usize);
        if mutant.is_some() {
            assert!(c.replica(1).view() > 0, "the mutant replaces the primary");
            continue;
        }
        let executed: usize = c.apps[0].executed.iter().map(|e| e.2).sum();
        assert_eq!(executed, 1, "only the ordered transfer executed");
        for r in 0..4 {
            assert_eq!(c.replica(r).pending_requests(), 0, "replica {r}");
            assert_eq!(c.replica(r).view(), 0, "replica {r} changed view");
        }
    }
}

/// Item 7, inside a batch: a pre-prepare carrying both copies repeats one request, which a
/// correct primary never does (its pool holds one of them).
#[test]
fn a_batch_with_two_signatures_of_one_request_proves_the_primary_faulty() {
    let mut s = Single::new(4, 1);
    let b = batch_of(&["pay-bob-5#sig-a", "pay-bob-5#sig-b"]);
    let a = s.deliver(0, common::pre_prepare(0, 1, &b));
    let refused = common::rejections(&a).iter().any(|r| {
        matches!(
            r,
            bftledger_consensus::Rejection::DuplicateRequestInBatch { index: 1, .. }
        )
    });
    assert!(refused, "{:?}", common::rejections(&a));
    assert!(view_change_started(&a));
    assert!(!a
        .send
        .iter()
        .any(|o| matches!(o.message.message, Message::Prepare(_))));
}
