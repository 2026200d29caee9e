//! Per-peer outbound consensus frames: at most `max_outbound_in_flight_frames` sent and not yet
//! acknowledged, and behind them a queue bounded by `max_outbound_queue_bytes`.
//!
//! Why a queue: a busy receiver (or a starved CPU) acknowledges late, and a burst of frames (a
//! PRE-PREPARE, the forwards of a busy API, retransmissions) then meets a full in-flight window.
//! Dropping there loses forwards and votes a correct peer then has to recover through relays,
//! retransmission and state transfer, which is what overload measurements showed (thousands of
//! drops per node at 1,600 transfers/s on a starved machine, then nonce gaps and view-change
//! timeouts). Queued frames go out in order as acknowledgements free the window; only beyond
//! the byte bound is a frame dropped (and counted).

use libp2p::PeerId;
use std::collections::{HashMap, VecDeque};

/// The window and queue of one peer.
#[derive(Debug, Default)]
struct PeerOut {
    in_flight: usize,
    waiting: VecDeque<Vec<u8>>,
    waiting_bytes: usize,
}

/// What to do with a frame offered for a peer.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Offer {
    /// Send it now (a slot of the window is taken).
    Send(Vec<u8>),
    /// Queued behind the full window.
    Queued,
    /// The queue is full: dropped.
    Dropped,
}

/// Every peer's window and queue.
#[derive(Debug)]
pub(super) struct OutboundQueues {
    peers: HashMap<PeerId, PeerOut>,
    /// Frames waiting over all peers (kept, not summed: it is read after every send).
    waiting: usize,
    max_in_flight: usize,
    max_waiting_bytes: usize,
}

impl OutboundQueues {
    pub(super) fn new(max_in_flight: usize, max_waiting_bytes: usize) -> OutboundQueues {
        OutboundQueues {
            peers: HashMap::new(),
            waiting: 0,
            max_in_flight: max_in_flight.max(1),
            max_waiting_bytes,
        }
    }

    /// A frame for `peer`: sent at once while the window has room, else queued while the queue
    /// has room for its bytes, else dropped.
    pub(super) fn offer(&mut self, peer: PeerId, frame: Vec<u8>) -> Offer {
        let out = self.peers.entry(peer).or_default();
        if out.in_flight < self.max_in_flight && out.waiting.is_empty() {
            out.in_flight += 1;
            return Offer::Send(frame);
        }
        if out.waiting_bytes + frame.len() > self.max_waiting_bytes {
            return Offer::Dropped;
        }
        out.waiting_bytes += frame.len();
        out.waiting.push_back(frame);
        self.waiting += 1;
        Offer::Queued
    }

    /// A frame to `peer` was acknowledged or failed: its slot goes to the next queued frame,
    /// which is returned to be sent.
    pub(super) fn settled(&mut self, peer: &PeerId) -> Option<Vec<u8>> {
        let out = self.peers.get_mut(peer)?;
        if let Some(next) = out.waiting.pop_front() {
            out.waiting_bytes -= next.len();
            self.waiting -= 1;
            return Some(next);
        }
        out.in_flight = out.in_flight.saturating_sub(1);
        if out.in_flight == 0 {
            self.peers.remove(peer);
        }
        None
    }

    /// `peer` disconnected: its queued frames are dropped (the sends in flight fail on their
    /// own and settle). Returns how many were dropped.
    pub(super) fn forget_waiting(&mut self, peer: &PeerId) -> usize {
        let Some(out) = self.peers.get_mut(peer) else {
            return 0;
        };
        let dropped = out.waiting.len();
        self.waiting -= dropped;
        out.waiting.clear();
        out.waiting_bytes = 0;
        if out.in_flight == 0 {
            self.peers.remove(peer);
        }
        dropped
    }

    /// Frames queued behind full windows, over all peers.
    pub(super) fn waiting_frames(&self) -> usize {
        self.waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_wait_behind_a_full_window_and_go_in_order_as_it_frees() {
        let peer = PeerId::random();
        let mut q = OutboundQueues::new(2, 10);
        assert_eq!(q.offer(peer, vec![1]), Offer::Send(vec![1]));
        assert_eq!(q.offer(peer, vec![2]), Offer::Send(vec![2]));
        assert_eq!(q.offer(peer, vec![3; 4]), Offer::Queued);
        assert_eq!(q.offer(peer, vec![4; 6]), Offer::Queued);
        assert_eq!(q.offer(peer, vec![5]), Offer::Dropped, "11 bytes > 10");
        assert_eq!(q.waiting_frames(), 2);
        assert_eq!(q.settled(&peer), Some(vec![3; 4]));
        assert_eq!(
            q.offer(peer, vec![6]),
            Offer::Queued,
            "in order behind the queue"
        );
        assert_eq!(q.settled(&peer), Some(vec![4; 6]));
        assert_eq!(q.settled(&peer), Some(vec![6]));
        assert_eq!(q.settled(&peer), None);
        assert_eq!(q.settled(&peer), None);
        assert_eq!(
            q.offer(peer, vec![7]),
            Offer::Send(vec![7]),
            "window free again"
        );
    }

    #[test]
    fn a_disconnected_peer_s_queue_is_dropped_and_peers_are_independent() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut q = OutboundQueues::new(1, 100);
        assert_eq!(q.offer(a, vec![1]), Offer::Send(vec![1]));
        assert_eq!(q.offer(a, vec![2]), Offer::Queued);
        assert_eq!(
            q.offer(b, vec![3]),
            Offer::Send(vec![3]),
            "b has its own window"
        );
        assert_eq!(q.forget_waiting(&a), 1);
        assert_eq!(q.settled(&a), None, "the in-flight frame settles");
        assert_eq!(q.offer(a, vec![4]), Offer::Send(vec![4]));
        assert_eq!(q.forget_waiting(&PeerId::random()), 0);
    }
}
