//! Per-peer bounded inbound queues, drained round-robin into the node's event channel.
//!
//! The swarm task never blocks on the node: a frame goes into its sender's queue (or is dropped
//! and counted when that queue is full), and the task forwards queued events only when the event
//! channel has room. Round-robin over peers keeps one flooding validator from starving the others.

use std::collections::{HashMap, VecDeque};

use libp2p::PeerId;

/// Why an event was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum QueueFull {
    /// The peer already has `max_frames` queued.
    Frames,
    /// The peer's queued bytes would exceed `max_bytes`.
    Bytes,
}

#[derive(Debug)]
struct PeerQueue<E> {
    items: VecDeque<(E, usize)>,
    bytes: usize,
}

/// Bounded per-peer queues of `E` plus a small queue of control events (connect/disconnect).
#[derive(Debug)]
pub struct InboundQueues<E> {
    max_frames: usize,
    max_bytes: usize,
    max_control: usize,
    queues: HashMap<PeerId, PeerQueue<E>>,
    /// Peers with a non-empty queue, in service order; each appears at most once.
    ready: VecDeque<PeerId>,
    control: VecDeque<E>,
}

impl<E> InboundQueues<E> {
    /// Queues bounded per peer by `max_frames` and `max_bytes`; control events by `max_control`.
    pub fn new(max_frames: usize, max_bytes: usize, max_control: usize) -> InboundQueues<E> {
        assert!(
            max_frames > 0 && max_control > 0,
            "queues must hold something"
        );
        InboundQueues {
            max_frames,
            max_bytes,
            max_control,
            queues: HashMap::new(),
            ready: VecDeque::new(),
            control: VecDeque::new(),
        }
    }

    /// Queues `event` of `bytes` payload bytes from `peer`.
    pub fn push(&mut self, peer: PeerId, event: E, bytes: usize) -> Result<(), QueueFull> {
        let queue = self.queues.entry(peer).or_insert_with(|| PeerQueue {
            items: VecDeque::new(),
            bytes: 0,
        });
        if queue.items.len() >= self.max_frames {
            return Err(QueueFull::Frames);
        }
        if queue.bytes.saturating_add(bytes) > self.max_bytes {
            return Err(QueueFull::Bytes);
        }
        if queue.items.is_empty() {
            self.ready.push_back(peer);
        }
        queue.items.push_back((event, bytes));
        queue.bytes += bytes;
        Ok(())
    }

    /// Queues a control event; returns it back if the control queue is full.
    pub fn push_control(&mut self, event: E) -> Result<(), E> {
        if self.control.len() >= self.max_control {
            return Err(event);
        }
        self.control.push_back(event);
        Ok(())
    }

    /// True if some event waits.
    pub fn has_pending(&self) -> bool {
        !self.control.is_empty() || !self.ready.is_empty()
    }

    /// The next event: control events first, then one frame per peer in turn.
    pub fn pop(&mut self) -> Option<E> {
        if let Some(event) = self.control.pop_front() {
            return Some(event);
        }
        let peer = self.ready.pop_front()?;
        let queue = self
            .queues
            .get_mut(&peer)
            .expect("a ready peer has a queue");
        let (event, bytes) = queue
            .items
            .pop_front()
            .expect("a ready peer has a non-empty queue");
        queue.bytes -= bytes;
        if queue.items.is_empty() {
            assert_eq!(queue.bytes, 0, "byte count of an empty queue");
            self.queues.remove(&peer);
        } else {
            self.ready.push_back(peer);
        }
        Some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_per_peer_by_frames_and_bytes() {
        let a = PeerId::random();
        let b = PeerId::random();
        let mut q = InboundQueues::new(2, 10, 1);
        q.push(a, 1, 4).unwrap();
        q.push(a, 2, 4).unwrap();
        assert_eq!(q.push(a, 3, 1), Err(QueueFull::Frames));
        // b is not affected by a being full
        q.push(b, 10, 10).unwrap();
        assert_eq!(q.push(b, 11, 1), Err(QueueFull::Bytes));
    }

    #[test]
    fn round_robin_with_control_first() {
        let a = PeerId::random();
        let b = PeerId::random();
        let mut q = InboundQueues::new(10, 100, 2);
        for i in 0..3 {
            q.push(a, i, 1).unwrap();
        }
        q.push(b, 100, 1).unwrap();
        q.push_control(-1).unwrap();
        let order: Vec<i32> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![-1, 0, 100, 1, 2]);
        assert!(!q.has_pending());
        // a drained queue accepts again with a clean byte count
        q.push(a, 7, 100).unwrap();
        assert_eq!(q.pop(), Some(7));
    }

    #[test]
    fn control_queue_is_bounded() {
        let mut q: InboundQueues<i32> = InboundQueues::new(1, 1, 1);
        q.push_control(1).unwrap();
        assert_eq!(q.push_control(2), Err(2));
    }
}
