//! The fault schedule of one seed, drawn up front from the seed's RNG so that `--trace` can
//! print it and a failing seed can be read as a story: how lossy the links were, which
//! partitions came and went, which replicas crashed and restarted, and which were Byzantine
//! with which strategy.
//!
//! Every fault ends by `heal_at_tick`: partitions are removed, loss and duplication stop, crashed
//! replicas are restarted. Byzantine replicas keep misbehaving afterwards: the protocol must be
//! live with f of them.

use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::byzantine::Strategy;
use crate::network::LinkFaults;
use crate::twins::{draw_sides, SidesScenario};

/// A change to the cluster at a tick.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultEvent {
    /// Cut the network: `groups[e]` is endpoint `e`'s side (the client endpoint included).
    Partition {
        /// Side per endpoint.
        groups: Vec<u8>,
    },
    /// Remove the partition (loss and duplication continue until the heal).
    Unpartition,
    /// A replica stops: its volatile state is lost, its durable store is kept.
    Crash {
        /// Which replica.
        replica: usize,
    },
    /// A crashed replica restarts from its durable store.
    Restart {
        /// Which replica.
        replica: usize,
    },
    /// End of the fault period: no partition, no loss, no duplication, everybody up.
    Heal,
    /// Which instance of a twinned replica each replica talks to from now on.
    TwinSides {
        /// The twinned replica.
        replica: usize,
        /// The shape of the assignment.
        scenario: SidesScenario,
        /// Per replica: 0 = the first instance, 1 = the second.
        sides: Vec<u8>,
    },
}

/// Everything the seed decided about faults.
#[derive(Clone, Debug)]
pub struct FaultPlan {
    /// Link behaviour during the fault period.
    pub link_faults: LinkFaults,
    /// Per replica: `Some(strategy)` if Byzantine.
    pub byzantine: Vec<Option<Strategy>>,
    /// Events in tick order.
    pub events: Vec<(u64, FaultEvent)>,
    /// The tick of the final `Heal`.
    pub heal_at_tick: u64,
    /// Per replica: its clock's rate in thousandths of real time (500 to 1500: up to 50%
    /// slower or faster; clocks keep their skew after the heal, as real ones do).
    pub tick_per_mille: Vec<u64>,
}

/// Knobs for drawing a plan.
#[derive(Clone, Copy, Debug)]
pub struct FaultKnobs {
    /// Replicas in the cluster.
    pub replicas: usize,
    /// Byzantine replicas.
    pub byzantine: usize,
    /// Length of the fault period in ticks.
    pub fault_ticks: u64,
    /// Largest network delay in ticks (the smallest is 1).
    pub delay_ticks_max: u64,
    /// Whether crash-restarts of correct replicas happen.
    pub crashes: bool,
}

impl FaultPlan {
    /// Draws a plan from the seed's RNG.
    pub fn draw(rng: &mut ChaCha8Rng, knobs: FaultKnobs) -> FaultPlan {
        let n = knobs.replicas;
        assert!(knobs.byzantine <= n);
        let link_faults = LinkFaults {
            drop_per_mille: *[0, 10, 50, 100, 200].choose(rng).expect("nonempty"),
            duplicate_per_mille: *[0, 20, 100].choose(rng).expect("nonempty"),
            delay_ticks_min: 1,
            delay_ticks_max: rng.random_range(1..=knobs.delay_ticks_max.max(1)),
            straggle_per_mille: *[0, 10, 50].choose(rng).expect("nonempty"),
        };

        // Byzantine replicas: the primary of view 0 is one of them half of the time, so an
        // equivocating or invalid-batch primary acts from the start.
        let mut ids: Vec<usize> = (0..n).collect();
        ids.shuffle(rng);
        if knobs.byzantine > 0 && rng.random_bool(0.5) {
            let at = ids.iter().position(|&r| r == 0).expect("replica 0 exists");
            ids.swap(0, at);
        }
        let mut byzantine = vec![None; n];
        for &replica in &ids[..knobs.byzantine] {
            byzantine[replica] = Some(Strategy::draw(rng));
        }

        let mut events = Vec::new();
        let horizon = knobs.fault_ticks.max(2);
        for _ in 0..rng.random_range(0..=3) {
            let start = rng.random_range(0..horizon);
            let end = rng.random_range(start + 1..=horizon);
            let groups: Vec<u8> = (0..=n).map(|_| rng.random_range(0..2)).collect();
            events.push((start, FaultEvent::Partition { groups }));
            events.push((end, FaultEvent::Unpartition));
        }
        // Twins: a side assignment from the start, redrawn up to three times during the fault
        // period (the paper's per-round partition scenarios); the last one stays.
        for twin in (0..n).filter(|&r| byzantine[r] == Some(Strategy::Twins)) {
            let changes = rng.random_range(0..=3);
            for change in 0..=changes {
                let tick = if change == 0 {
                    0
                } else {
                    rng.random_range(1..horizon)
                };
                let (scenario, sides) = draw_sides(rng, n, twin);
                let replica = twin;
                events.push((
                    tick,
                    FaultEvent::TwinSides {
                        replica,
                        scenario,
                        sides,
                    },
                ));
            }
        }
        if knobs.crashes {
            let correct: Vec<usize> = (0..n).filter(|&r| byzantine[r].is_none()).collect();
            for _ in 0..rng.random_range(0..=3) {
                let replica = *correct.choose(rng).expect("at least one correct replica");
                let start = rng.random_range(0..horizon);
                let end = rng.random_range(start + 1..=horizon);
                events.push((start, FaultEvent::Crash { replica }));
                events.push((end, FaultEvent::Restart { replica }));
            }
        }
        // Clock skew in half of the seeds.
        let tick_per_mille = if rng.random_bool(0.5) {
            (0..n).map(|_| rng.random_range(500..=1500)).collect()
        } else {
            vec![1000; n]
        };
        events.push((horizon, FaultEvent::Heal));
        // Stable sort: events drawn for the same tick keep their drawing order, so a crash and
        // its restart at equal ticks stay in order.
        events.sort_by_key(|(tick, _)| *tick);
        FaultPlan {
            link_faults,
            byzantine,
            events,
            heal_at_tick: horizon,
            tick_per_mille,
        }
    }

    /// The replicas that run as twins, ascending.
    pub fn twinned(&self) -> Vec<usize> {
        (0..self.byzantine.len())
            .filter(|&r| self.byzantine[r] == Some(Strategy::Twins))
            .collect()
    }

    /// Whether replica `r` is Byzantine.
    pub fn is_byzantine(&self, replica: usize) -> bool {
        self.byzantine[replica].is_some()
    }
}
