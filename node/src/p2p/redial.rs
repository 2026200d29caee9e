//! Re-dialing of validators: known addresses and an exponential, capped backoff per validator.
//!
//! Pure bookkeeping (no IO): the swarm task asks [`Redial::due`] which peers to dial now, and
//! reports connections and disconnections. The clock is passed in, so the rules are testable.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use libp2p::{multiaddr::Protocol, Multiaddr, PeerId};
use tokio::time::Instant;

#[derive(Debug)]
struct PeerDial {
    /// Most recently learned first; bounded by `max_addresses`.
    addresses: VecDeque<Multiaddr>,
    connected: bool,
    backoff: Duration,
    last_attempt: Option<Instant>,
    /// When to dial next; `None` while connected.
    next_attempt: Option<Instant>,
}

/// Dial schedule of a set of peers (the validators other than ourselves).
#[derive(Debug)]
pub struct Redial {
    peers: HashMap<PeerId, PeerDial>,
    backoff_initial: Duration,
    backoff_max: Duration,
    max_addresses: usize,
}

impl Redial {
    /// Every peer in `peers` is due for a first dial at `now`.
    pub fn new(
        peers: impl IntoIterator<Item = PeerId>,
        backoff_initial: Duration,
        backoff_max: Duration,
        max_addresses: usize,
        now: Instant,
    ) -> Redial {
        assert!(backoff_initial <= backoff_max && max_addresses > 0);
        let peers = peers
            .into_iter()
            .map(|p| {
                (
                    p,
                    PeerDial {
                        addresses: VecDeque::new(),
                        connected: false,
                        backoff: backoff_initial,
                        last_attempt: None,
                        next_attempt: Some(now),
                    },
                )
            })
            .collect();
        Redial {
            peers,
            backoff_initial,
            backoff_max,
            max_addresses,
        }
    }

    /// Remembers an address of `peer` (ignored if `peer` is not tracked).
    pub fn add_address(&mut self, peer: &PeerId, address: Multiaddr) {
        let max = self.max_addresses;
        let Some(state) = self.peers.get_mut(peer) else {
            return;
        };
        let address = without_p2p(address);
        if let Some(pos) = state.addresses.iter().position(|a| *a == address) {
            state.addresses.remove(pos);
        }
        state.addresses.push_front(address);
        state.addresses.truncate(max);
    }

    /// Remembers a low-priority address of `peer` (kept behind the others; not re-ordered if
    /// already known). Used for the remote address of an inbound connection: with TCP port reuse
    /// it is the peer's listen address, without it the dial merely fails fast.
    pub fn add_fallback_address(&mut self, peer: &PeerId, address: Multiaddr) {
        let max = self.max_addresses;
        let Some(state) = self.peers.get_mut(peer) else {
            return;
        };
        let address = without_p2p(address);
        if !state.addresses.contains(&address) && state.addresses.len() < max {
            state.addresses.push_back(address);
        }
    }

    /// Known addresses of `peer`, most recent first.
    pub fn addresses(&self, peer: &PeerId) -> Vec<Multiaddr> {
        self.peers
            .get(peer)
            .map(|s| s.addresses.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// `peer` is connected: stop dialing it and reset its backoff.
    pub fn connected(&mut self, peer: &PeerId) {
        if let Some(state) = self.peers.get_mut(peer) {
            state.connected = true;
            state.backoff = self.backoff_initial;
            state.next_attempt = None;
        }
    }

    /// `peer` lost its last connection: dial it again after the current backoff.
    pub fn disconnected(&mut self, peer: &PeerId, now: Instant) {
        if let Some(state) = self.peers.get_mut(peer) {
            state.connected = false;
            state.next_attempt = Some(now + state.backoff);
        }
    }

    /// New information about a disconnected `peer` (an address): dial it soon rather than after
    /// its grown backoff, but never sooner than `backoff_initial` after the previous attempt, so
    /// a stream of discovery events cannot cause a dial storm.
    pub fn wake(&mut self, peer: &PeerId, now: Instant) {
        let initial = self.backoff_initial;
        if let Some(state) = self.peers.get_mut(peer) {
            if !state.connected {
                let earliest = state.last_attempt.map_or(now, |t| (t + initial).max(now));
                state.next_attempt = Some(state.next_attempt.map_or(earliest, |t| t.min(earliest)));
            }
        }
    }

    /// Peers to dial at `now`; each is rescheduled after its backoff, which then doubles (capped).
    pub fn due(&mut self, now: Instant) -> Vec<PeerId> {
        let mut due = Vec::new();
        for (peer, state) in &mut self.peers {
            match state.next_attempt {
                Some(at) if at <= now && !state.connected => {
                    due.push(*peer);
                    state.last_attempt = Some(now);
                    state.next_attempt = Some(now + state.backoff);
                    state.backoff = (state.backoff * 2).min(self.backoff_max);
                }
                _ => {}
            }
        }
        due
    }

    /// The earliest scheduled attempt, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.peers
            .values()
            .filter(|s| !s.connected)
            .filter_map(|s| s.next_attempt)
            .min()
    }

    /// Current backoff of `peer`, if tracked.
    #[cfg(test)]
    fn backoff(&self, peer: &PeerId) -> Option<Duration> {
        self.peers.get(peer).map(|s| s.backoff)
    }
}

/// `address` without a trailing `/p2p/<peer id>`.
pub fn without_p2p(mut address: Multiaddr) -> Multiaddr {
    if matches!(address.iter().last(), Some(Protocol::P2p(_))) {
        address.pop();
    }
    address
}

/// The peer id of a trailing `/p2p/<peer id>`, if any.
pub fn peer_of(address: &Multiaddr) -> Option<PeerId> {
    match address.iter().last() {
        Some(Protocol::P2p(peer)) => Some(peer),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn exponential_capped_backoff_and_reset_on_connect() {
        let p = PeerId::random();
        let t0 = Instant::now();
        let mut r = Redial::new([p], 100 * MS, 350 * MS, 4, t0);
        assert_eq!(r.due(t0), vec![p]);
        assert!(r.due(t0 + 99 * MS).is_empty());
        // attempts at +100, then +100+200, then capped at 350
        assert_eq!(r.due(t0 + 100 * MS), vec![p]);
        assert_eq!(r.next_deadline(), Some(t0 + 300 * MS));
        assert_eq!(r.due(t0 + 300 * MS), vec![p]);
        assert_eq!(r.next_deadline(), Some(t0 + 650 * MS));
        assert_eq!(r.backoff(&p), Some(350 * MS));
        r.connected(&p);
        assert_eq!(r.next_deadline(), None);
        assert!(r.due(t0 + 10_000 * MS).is_empty());
        r.disconnected(&p, t0 + 10_000 * MS);
        assert_eq!(r.next_deadline(), Some(t0 + 10_100 * MS));
    }

    #[test]
    fn wake_dials_early_but_not_in_a_storm() {
        let p = PeerId::random();
        let t0 = Instant::now();
        let mut r = Redial::new([p], 100 * MS, 10_000 * MS, 4, t0);
        for i in 0..5 {
            let t = t0 + i * 1000 * MS;
            r.wake(&p, t);
            assert_eq!(r.due(t), vec![p]); // backoff has grown to 3.2 s, yet wake dials now
            r.wake(&p, t);
            assert_eq!(r.next_deadline(), Some(t + 100 * MS)); // but not before +initial
        }
    }

    #[test]
    fn addresses_are_deduplicated_bounded_and_stripped() {
        let p = PeerId::random();
        let mut r = Redial::new([p], MS, MS, 2, Instant::now());
        let a: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        let b: Multiaddr = "/ip4/127.0.0.1/tcp/2".parse().unwrap();
        let c: Multiaddr = "/ip4/127.0.0.1/tcp/3".parse().unwrap();
        r.add_address(&p, a.clone().with(Protocol::P2p(p)));
        r.add_address(&p, b.clone());
        r.add_address(&p, a.clone());
        assert_eq!(r.addresses(&p), vec![a.clone(), b.clone()]);
        r.add_address(&p, c.clone());
        assert_eq!(r.addresses(&p), vec![c.clone(), a.clone()]);
        // a fallback neither displaces nor reorders known addresses
        r.add_fallback_address(&p, "/ip4/127.0.0.1/tcp/9".parse().unwrap());
        r.add_fallback_address(&p, a.clone());
        assert_eq!(r.addresses(&p), vec![c, a]);
        let q = PeerId::random();
        let mut r = Redial::new([q], MS, MS, 2, Instant::now());
        r.add_fallback_address(&q, b.clone());
        r.add_address(&q, b.clone());
        assert_eq!(r.addresses(&q), vec![b]);
        // untracked peers are ignored
        r.add_address(&PeerId::random(), "/ip4/1.2.3.4/tcp/5".parse().unwrap());
    }

    #[test]
    fn p2p_suffix_helpers() {
        let p = PeerId::random();
        let a: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        assert_eq!(peer_of(&a.clone().with(Protocol::P2p(p))), Some(p));
        assert_eq!(peer_of(&a), None);
        assert_eq!(without_p2p(a.clone().with(Protocol::P2p(p))), a);
    }
}
