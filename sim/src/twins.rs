//! Twins (Bano et al., "Twins: BFT Systems Made Robust", 2020): a Byzantine validator runs as
//! two honest instances holding the same key, and each other replica talks to exactly one of
//! them. Neither instance lies; together they equivocate in every message kind (pre-prepare,
//! prepare, commit, checkpoint, view-change, new-view) the way a real operator who starts a
//! validator twice would, without a hand-written strategy.
//!
//! The cluster keeps one *slot* per running instance: slots `0..n` are the replicas (slot =
//! replica id), slots `n..` the second instances of the twinned replicas, in the order of
//! [`TwinRoutes::new`]'s list. Messages are addressed to replica ids; [`TwinRoutes::route`]
//! picks the slot that receives them. Which instance each replica talks to (its *side*) is
//! redrawn by the fault plan during the fault period (`FaultEvent::TwinSides`), as the paper's
//! per-round partition scenarios; the last assignment stays after the heal, since a Byzantine
//! validator keeps misbehaving.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The shapes of a side assignment the plan draws (the paper's partition scenarios).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SidesScenario {
    /// Every other replica picks a side at random.
    Random,
    /// The other replicas in two halves (as even as possible), one per instance.
    Halves,
    /// One replica talks to the second instance, all others to the first.
    IsolateOne,
}

/// Draws which instance of `twin` each of the `n` replicas talks to (0 = the first instance,
/// slot `twin`; 1 = the second). The entry of `twin` itself is unused.
pub fn draw_sides(rng: &mut ChaCha8Rng, n: usize, twin: usize) -> (SidesScenario, Vec<u8>) {
    let scenario = match rng.random_range(0..3) {
        0 => SidesScenario::Random,
        1 => SidesScenario::Halves,
        _ => SidesScenario::IsolateOne,
    };
    let mut others: Vec<usize> = (0..n).filter(|&r| r != twin).collect();
    others.shuffle(rng);
    let mut sides = vec![0u8; n];
    match scenario {
        SidesScenario::Random => {
            for &r in &others {
                sides[r] = rng.random_range(0..2);
            }
        }
        SidesScenario::Halves => {
            for &r in &others[others.len() / 2..] {
                sides[r] = 1;
            }
        }
        SidesScenario::IsolateOne => {
            if let Some(&r) = others.first() {
                sides[r] = 1;
            }
        }
    }
    (scenario, sides)
}

/// Where messages to and from twinned replicas go.
#[derive(Clone, Debug)]
pub struct TwinRoutes {
    n: usize,
    /// The twinned replicas; the second instance of `twinned[k]` is slot `n + k`.
    twinned: Vec<usize>,
    /// Per replica id: `Some(sides)` if twinned, where `sides[r]` is the instance replica `r`
    /// talks to.
    sides: Vec<Option<Vec<u8>>>,
}

impl TwinRoutes {
    /// Routes for `n` replicas of which `twinned` run as twins (everyone on side 0 at first).
    pub fn new(n: usize, twinned: Vec<usize>) -> TwinRoutes {
        let mut sides = vec![None; n];
        for &t in &twinned {
            assert!(t < n, "twinned replica {t} out of 0..{n}");
            sides[t] = Some(vec![0; n]);
        }
        TwinRoutes { n, twinned, sides }
    }

    /// Number of slots: the replicas and the second instances.
    pub fn slots(&self) -> usize {
        self.n + self.twinned.len()
    }

    /// The replica id and instance (0 or 1) running in `slot`.
    pub fn instance(&self, slot: usize) -> (usize, u8) {
        if slot < self.n {
            (slot, 0)
        } else {
            (self.twinned[slot - self.n], 1)
        }
    }

    /// The slot of `instance` of replica `id`.
    pub fn slot(&self, id: usize, instance: u8) -> usize {
        if instance == 0 {
            return id;
        }
        let k = self
            .twinned
            .iter()
            .position(|&t| t == id)
            .unwrap_or_else(|| panic!("replica {id} has no second instance"));
        self.n + k
    }

    /// Whether replica `id` runs as twins.
    pub fn is_twinned(&self, id: usize) -> bool {
        self.sides[id].is_some()
    }

    /// New sides for twinned replica `id`.
    pub fn set_sides(&mut self, id: usize, sides: Vec<u8>) {
        assert_eq!(sides.len(), self.n, "one side per replica");
        assert!(self.is_twinned(id), "replica {id} is not twinned");
        self.sides[id] = Some(sides);
    }

    /// The slot that receives a message from `from_slot` to replica `to`, or `None` if the
    /// sender is an instance that replica `to` does not talk to.
    pub fn route(&self, from_slot: usize, to: usize) -> Option<usize> {
        let (from, instance) = self.instance(from_slot);
        if let Some(sides) = &self.sides[from] {
            if sides[to] != instance {
                return None;
            }
        }
        let to_instance = self.sides[to].as_ref().map_or(0, |sides| sides[from]);
        Some(self.slot(to, to_instance))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_replica_talks_to_one_instance_of_a_twin() {
        let mut routes = TwinRoutes::new(4, vec![2]);
        routes.set_sides(2, vec![0, 1, 0, 1]);
        assert_eq!(routes.slots(), 5);
        assert_eq!(routes.instance(4), (2, 1));
        // Replica 0 talks to the first instance (slot 2), replicas 1 and 3 to the second.
        assert_eq!(routes.route(0, 2), Some(2));
        assert_eq!(routes.route(1, 2), Some(4));
        assert_eq!(routes.route(3, 2), Some(4));
        // Each instance reaches only its own side.
        assert_eq!(routes.route(2, 0), Some(0));
        assert_eq!(routes.route(2, 1), None);
        assert_eq!(routes.route(4, 1), Some(1));
        assert_eq!(routes.route(4, 0), None);
        // Untwinned pairs are untouched.
        assert_eq!(routes.route(0, 3), Some(3));
    }

    #[test]
    fn two_twinned_replicas_meet_only_on_matching_sides() {
        let mut routes = TwinRoutes::new(7, vec![1, 5]);
        let mut a = vec![0; 7];
        a[5] = 1; // replica 5 talks to replica 1's second instance
        let mut b = vec![0; 7];
        b[1] = 0; // replica 1 talks to replica 5's first instance
        routes.set_sides(1, a);
        routes.set_sides(5, b);
        let (one_second, five_second) = (routes.slot(1, 1), routes.slot(5, 1));
        assert_eq!(routes.route(one_second, 5), Some(5));
        assert_eq!(routes.route(1, 5), None);
        assert_eq!(routes.route(5, 1), Some(one_second));
        assert_eq!(routes.route(five_second, 1), None);
    }
}
