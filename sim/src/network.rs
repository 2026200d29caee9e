//! The simulated network: one priority queue of packets ordered by delivery tick.
//!
//! Every packet gets a delay drawn from the seed's RNG, so packets sent in one order arrive in
//! another (reordering); a packet may be dropped or duplicated; a partition cuts links between
//! groups of endpoints, and packets that cross a cut link are lost at delivery time (a cut
//! drops what is in flight too). `heal()` removes the partition and sets loss and duplication to
//! zero; delays stay, because a healed network is still asynchronous.
//!
//! The network knows nothing about consensus: it moves opaque `M`s between endpoint indices.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// An endpoint index: replicas are `0..n`; the simulator gives clients their own index `n`.
pub type Endpoint = usize;

/// Limit on packets in flight, so that a buggy replica flooding the network cannot make a seed
/// run out of memory: past it, new packets are dropped (and counted).
pub const PACKETS_IN_FLIGHT_MAX: usize = 200_000;

/// How unreliable the network currently is. Probabilities are in per mille.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkFaults {
    /// Chance that a packet is lost.
    pub drop_per_mille: u32,
    /// Chance that a packet is delivered twice (the copy gets its own delay).
    pub duplicate_per_mille: u32,
    /// Smallest delay of a packet, in ticks (at least 1: nothing arrives in the tick it was sent).
    pub delay_ticks_min: u64,
    /// Largest ordinary delay of a packet, in ticks.
    pub delay_ticks_max: u64,
    /// Chance that a packet is held back much longer than usual (up to `4 * delay_ticks_max`
    /// more), which reorders it past many later packets.
    pub straggle_per_mille: u32,
}

impl LinkFaults {
    /// A network that delays but never loses, duplicates or holds back a packet.
    pub fn reliable(delay_ticks_min: u64, delay_ticks_max: u64) -> LinkFaults {
        LinkFaults {
            drop_per_mille: 0,
            duplicate_per_mille: 0,
            delay_ticks_min,
            delay_ticks_max,
            straggle_per_mille: 0,
        }
    }
}

/// A message on its way from one endpoint to another.
#[derive(Clone, Debug)]
pub struct Packet<M> {
    /// Tick at which the packet is handed to `to`.
    pub deliver_at_tick: u64,
    /// Unique, increasing per send: breaks ties between packets due in the same tick.
    pub id: u64,
    /// Sending endpoint.
    pub from: Endpoint,
    /// Receiving endpoint.
    pub to: Endpoint,
    /// The payload.
    pub message: M,
}

impl<M> PartialEq for Packet<M> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl<M> Eq for Packet<M> {}
impl<M> PartialOrd for Packet<M> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<M> Ord for Packet<M> {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest packet first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.deliver_at_tick, other.id).cmp(&(self.deliver_at_tick, self.id))
    }
}

/// Counters of what the network did to packets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetworkStats {
    /// Packets handed to `send`.
    pub sent: u64,
    /// Packets handed to their receiver.
    pub delivered: u64,
    /// Packets lost to random loss.
    pub dropped: u64,
    /// Extra copies created.
    pub duplicated: u64,
    /// Packets lost to a partition.
    pub partitioned: u64,
    /// Packets lost because too many were in flight.
    pub overflowed: u64,
}

/// The simulated network.
pub struct Network<M> {
    in_flight: BinaryHeap<Packet<M>>,
    next_id: u64,
    faults: LinkFaults,
    /// `Some(group per endpoint)`: two endpoints can talk only if they are in the same group.
    partition: Option<Vec<u8>>,
    endpoints: usize,
    stats: NetworkStats,
}

impl<M: Clone> Network<M> {
    /// A network between `endpoints` endpoints with the given faults.
    pub fn new(endpoints: usize, faults: LinkFaults) -> Network<M> {
        assert!(
            faults.delay_ticks_min >= 1,
            "a packet must not arrive in the tick it was sent"
        );
        assert!(faults.delay_ticks_min <= faults.delay_ticks_max);
        Network {
            in_flight: BinaryHeap::new(),
            next_id: 0,
            faults,
            partition: None,
            endpoints,
            stats: NetworkStats::default(),
        }
    }

    /// What the network did so far.
    pub fn stats(&self) -> NetworkStats {
        self.stats
    }

    /// Packets currently in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The current link faults.
    pub fn faults(&self) -> LinkFaults {
        self.faults
    }

    /// Replaces the link faults (the fault schedule changes them over time).
    pub fn set_faults(&mut self, faults: LinkFaults) {
        assert!(faults.delay_ticks_min >= 1 && faults.delay_ticks_min <= faults.delay_ticks_max);
        self.faults = faults;
    }

    /// Cuts the network into groups: `group_of[e]` is endpoint `e`'s side.
    pub fn partition(&mut self, group_of: Vec<u8>) {
        assert_eq!(group_of.len(), self.endpoints);
        self.partition = Some(group_of);
    }

    /// The current partition, if any.
    pub fn partition_groups(&self) -> Option<&[u8]> {
        self.partition.as_deref()
    }

    /// Removes any partition and all loss, duplication and straggling; keeps the delays.
    pub fn heal(&mut self) {
        self.partition = None;
        self.faults =
            LinkFaults::reliable(self.faults.delay_ticks_min, self.faults.delay_ticks_max);
    }

    /// Whether `from` and `to` can currently reach each other.
    pub fn connected(&self, from: Endpoint, to: Endpoint) -> bool {
        match &self.partition {
            None => true,
            Some(group_of) => group_of[from] == group_of[to],
        }
    }

    /// Puts a packet on the wire (it may be lost or copied on the way).
    pub fn send(
        &mut self,
        rng: &mut ChaCha8Rng,
        now_tick: u64,
        from: Endpoint,
        to: Endpoint,
        message: M,
    ) {
        assert!(from < self.endpoints && to < self.endpoints);
        self.stats.sent += 1;
        if rng.random_ratio(self.faults.drop_per_mille, 1000) {
            self.stats.dropped += 1;
            return;
        }
        if rng.random_ratio(self.faults.duplicate_per_mille, 1000) {
            self.stats.duplicated += 1;
            self.enqueue(rng, now_tick, from, to, message.clone());
        }
        self.enqueue(rng, now_tick, from, to, message);
    }

    fn enqueue(
        &mut self,
        rng: &mut ChaCha8Rng,
        now_tick: u64,
        from: Endpoint,
        to: Endpoint,
        message: M,
    ) {
        if self.in_flight.len() >= PACKETS_IN_FLIGHT_MAX {
            self.stats.overflowed += 1;
            return;
        }
        let mut delay = rng.random_range(self.faults.delay_ticks_min..=self.faults.delay_ticks_max);
        if rng.random_ratio(self.faults.straggle_per_mille, 1000) {
            delay += rng.random_range(1..=4 * self.faults.delay_ticks_max);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.in_flight.push(Packet {
            deliver_at_tick: now_tick + delay,
            id,
            from,
            to,
            message,
        });
    }

    /// Removes and returns the next packet due at or before `now_tick` whose link is up
    /// (packets on cut links are dropped and counted on the way).
    pub fn pop_due(&mut self, now_tick: u64) -> Option<Packet<M>> {
        while let Some(head) = self.in_flight.peek() {
            if head.deliver_at_tick > now_tick {
                return None;
            }
            let packet = self.in_flight.pop().expect("peeked");
            if self.connected(packet.from, packet.to) {
                self.stats.delivered += 1;
                return Some(packet);
            }
            self.stats.partitioned += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn delivers_in_delay_order_and_never_early() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut net = Network::new(3, LinkFaults::reliable(1, 10));
        for i in 0..100u32 {
            net.send(&mut rng, 0, 0, 1, i);
        }
        let mut seen = Vec::new();
        for now in 0..=10 {
            while let Some(p) = net.pop_due(now) {
                assert!(p.deliver_at_tick <= now && p.deliver_at_tick >= 1);
                seen.push(p.message);
            }
        }
        assert_eq!(seen.len(), 100);
        assert_ne!(
            seen,
            (0..100).collect::<Vec<_>>(),
            "random delays must reorder"
        );
    }

    #[test]
    fn partition_drops_cross_traffic_and_heal_restores_it() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut net = Network::new(3, LinkFaults::reliable(1, 1));
        net.partition(vec![0, 0, 1]);
        net.send(&mut rng, 0, 0, 2, "cut");
        net.send(&mut rng, 0, 0, 1, "ok");
        assert_eq!(net.pop_due(1).map(|p| p.message), Some("ok"));
        assert!(net.pop_due(1).is_none());
        assert_eq!(net.stats().partitioned, 1);
        net.heal();
        net.send(&mut rng, 1, 0, 2, "healed");
        assert_eq!(net.pop_due(2).map(|p| p.message), Some("healed"));
    }

    #[test]
    fn loss_and_duplication_are_counted() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let faults = LinkFaults {
            drop_per_mille: 300,
            duplicate_per_mille: 300,
            ..LinkFaults::reliable(1, 3)
        };
        let mut net = Network::new(2, faults);
        for i in 0..1000u32 {
            net.send(&mut rng, 0, 0, 1, i);
        }
        let mut delivered = 0;
        while net.pop_due(100).is_some() {
            delivered += 1;
        }
        let stats = net.stats();
        assert!(stats.dropped > 200 && stats.duplicated > 100, "{stats:?}");
        assert_eq!(delivered, 1000 - stats.dropped + stats.duplicated);
    }
}
