//! Seeded randomized runs of a 4-replica cluster: random delivery order, loss, duplication,
//! crash and recovery of one replica at a time, client requests sent to every replica. The
//! harness checks agreement and `check_invariants()` after every step; after the faults heal,
//! every request must be executed everywhere (liveness). A failure names its seed.

mod common;

use common::{req, Cluster, Rng};
use std::collections::BTreeSet;

fn run(seed: u64) {
    let mut c = Cluster::new(4);
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut down: Option<u32> = None;
    let mut submitted = 0usize;
    let mut all_requests = Vec::new();
    for round in 0..300 {
        if round % 10 == 0 && submitted < 60 {
            let batch: Vec<_> = (0..3)
                .map(|i| req(&format!("s{seed}-r{}", submitted + i)))
                .collect();
            submitted += batch.len();
            all_requests.extend(batch.iter().cloned());
            for r in 0..4 {
                c.submit(r, batch.clone());
            }
        }
        match down {
            None if rng.chance(2) => {
                let r = rng.below(4) as u32;
                c.crash(r);
                down = Some(r);
            }
            Some(r) if rng.chance(5) => {
                c.recover(r);
                down = None;
            }
            _ => {}
        }
        for r in 0..4 {
            c.step(r, bftledger_consensus::Input::Tick);
        }
        c.deliver_random(&mut rng, 400, 10, 3);
    }
    // Heal: everybody up, no loss.
    if let Some(r) = down {
        c.recover(r);
    }
    for t in 0..2000 {
        if t % 200 == 199 {
            // Clients re-send what they have not seen executed (replicas lose pending requests
            // on a crash or a state transfer).
            let done: BTreeSet<_> = c.apps[0].requests.iter().copied().collect();
            let missing: Vec<_> = all_requests
                .iter()
                .filter(|r: &&bftledger_consensus::Request| !done.contains(&r.digest()))
                .cloned()
                .collect();
            for r in 0..4 {
                c.submit(r, missing.clone());
            }
        }
        c.tick_all(1);
        let done = (0..4).all(|r| c.requests_executed(r) >= submitted);
        if done {
            break;
        }
    }
    for r in 0..4u32 {
        let digests: BTreeSet<_> = c.apps[r as usize].executed.iter().map(|e| e.0).collect();
        assert_eq!(
            digests.len(),
            c.apps[r as usize].executed.len(),
            "seed {seed}: replica {r} executed a seq twice"
        );
    }
    // Liveness: at least 2f+1 replicas executed every request. A replica left alone in a view
    // change for a view the others never moved to (its NEW-VIEW was lost and its timer moved it
    // on) rejoins only at the next view change; it may lag meanwhile (PBFT behaviour, noted in
    // the crate docs).
    let complete: Vec<u32> = (0..4u32)
        .filter(|r| c.requests_executed(*r) >= submitted)
        .collect();
    let state = (0..4u32)
        .map(|r| {
            (
                c.replica(r),
                c.requests_executed(r),
                c.replica(r).rejection_counts().clone(),
            )
        })
        .collect::<Vec<_>>();
    assert!(
        complete.len() >= 3,
        "seed {seed}: only replicas {complete:?} executed all {submitted} requests; {state:?}"
    );
    for r in 0..4u32 {
        if !complete.contains(&r) && std::env::var("CONSENSUS_DEBUG").is_ok() {
            let tail: Vec<_> = c
                .events
                .iter()
                .filter(|(i, _)| *i == r)
                .rev()
                .take(15)
                .collect();
            eprintln!("replica {r} last events: {tail:#?}");
            let sent: Vec<_> = c
                .sent
                .iter()
                .filter(|(i, _, m)| *i != r && m.message.kind() == "checkpoint")
                .rev()
                .take(6)
                .map(|(i, t, m)| (i, t, m.message.clone()))
                .collect();
            eprintln!("last checkpoints sent by others: {sent:?}");
        }
        if !complete.contains(&r) {
            assert!(
                c.replica(r).is_view_changing(),
                "seed {seed}: replica {r} lags without being in a view change; {state:?}"
            );
        }
    }
}

#[test]
fn randomized_runs_keep_agreement_and_liveness() {
    let seeds: u64 = std::env::var("CONSENSUS_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    let first: u64 = std::env::var("CONSENSUS_SEED_FIRST")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    for seed in first..first + seeds {
        run(seed);
    }
}
