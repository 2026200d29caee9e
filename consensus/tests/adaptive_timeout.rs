//! The adaptive view-change timeout (consensus `timer.rs`, issue 19): the §4.4 timer's base
//! follows the waits this replica measures in the current view, between a floor and a ceiling,
//! with TOCS'02 §4.5.2's doubling per failed view change on top. A backup (replica 1, primary 0
//! in view 0) is driven alone; `execute_upto` plays the primary and the other backups.

mod common;

use bftledger_consensus::{Actions, Event, Input};
use common::{req, small_config, Single};

fn view_change_started(actions: &Actions) -> bool {
    actions
        .events
        .iter()
        .any(|e| matches!(e, Event::ViewChangeStarted { .. }))
}

/// Request `req-{seq}` arrives, the backup waits `ticks`, then the primary's batch of it
/// commits and executes here; whether a view change started meanwhile.
fn wait_then_execute(s: &mut Single, seq: u64, ticks: usize) -> bool {
    s.input(Input::ClientRequests(vec![req(&format!("req-{seq}"))]));
    if view_change_started(&s.ticks(ticks)) {
        return true;
    }
    s.execute_upto(seq, seq, true);
    false
}

/// §4.4 timer, adapted: requests that each took 15 ticks to execute (a network slower than the
/// floor of 20 ticks was tuned for) raise the base to 4 × 15 = 60 ticks, so a request that
/// takes 40 ticks, twice the floor, does not make this correct primary's backup start a view
/// change. With the fixed timeout of 20 ticks it did.
#[test]
fn measured_waits_raise_the_timeout_above_the_floor() {
    let mut s = Single::new(4, 1);
    let floor = s.config.settings.view_change_timeout_ticks;
    assert_eq!(s.replica.view_change_base_ticks(), floor);
    for seq in 1..=3 {
        assert!(!wait_then_execute(&mut s, seq, 15), "seq {seq}");
    }
    assert_eq!(s.replica.measured_waits(), (3, 15));
    assert_eq!(s.replica.view_change_base_ticks(), 60);
    assert!(
        !wait_then_execute(&mut s, 4, 40),
        "a 40-tick wait is not a fault"
    );

    let mut fixed = small_config(4);
    fixed.settings.view_change_timeout_wait_multiple = 0;
    let mut s = Single::with_config(fixed, 1);
    for seq in 1..=3 {
        assert!(!wait_then_execute(&mut s, seq, 15), "seq {seq}");
    }
    assert!(wait_then_execute(&mut s, 4, 40), "the fixed timeout fires");
}

/// The attacker: a primary that proposes every request just before the backup's timeout
/// expires, so that each wait raises the timeout it is judged by. The base never exceeds the
/// ceiling; when the primary stops altogether the backup suspects it, starts a view change
/// and forgets the waits of the suspected view: the next view is judged from the floor.
#[test]
fn a_slow_primary_raises_the_timeout_only_to_the_ceiling_and_loses_it_when_suspected() {
    let mut config = small_config(4);
    config.settings.view_change_timeout_adaptive_max_ticks = 100;
    config.validate().expect("valid");
    let mut s = Single::with_config(config, 1);
    for seq in 1..=12 {
        let base = s.replica.view_change_base_ticks();
        assert!((20..=100).contains(&base), "seq {seq}: base {base}");
        assert!(
            !wait_then_execute(&mut s, seq, base as usize - 1),
            "seq {seq}"
        );
    }
    assert_eq!(s.replica.view_change_base_ticks(), 100);
    s.input(Input::ClientRequests(vec![req("censored")]));
    assert!(
        view_change_started(&s.ticks(100)),
        "suspected at the ceiling"
    );
    assert_eq!(s.replica.measured_waits(), (0, 0));
    assert_eq!(s.replica.view_change_base_ticks(), 20, "back to the floor");
}

/// A flood of requests does not flood the window: the timer waits for one request at a time,
/// so samples come once per executed batch, and each measures the time since the previous
/// awaited request executed — not since a burst arrived.
#[test]
fn a_flood_of_requests_adds_one_wait_per_executed_batch() {
    let mut s = Single::new(4, 1);
    let flood: Vec<_> = (1..=60).map(|i| req(&format!("req-{i}"))).collect();
    s.input(Input::ClientRequests(flood));
    assert_eq!(s.replica.measured_waits().0, 0);
    for seq in 1..=5 {
        s.ticks(10);
        s.execute_upto(seq, seq, true);
    }
    assert_eq!(s.replica.measured_waits(), (5, 10));
    assert_eq!(s.replica.view_change_base_ticks(), 40);
}
