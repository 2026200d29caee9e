//! Counters of the p2p layer, written by the swarm task and read by the node (metrics).

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($( $(#[$doc:meta])* $name:ident ),* $(,)?) => {
        /// Live counters shared between the swarm task and every [`super::P2pHandle`].
        #[derive(Debug, Default)]
        pub(crate) struct Counters {
            $( pub(crate) $name: AtomicU64, )*
        }

        /// A snapshot of the p2p counters (monotonic unless noted), from [`super::P2pHandle::stats`].
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct P2pStats {
            $( $(#[$doc])* pub $name: u64, )*
        }

        impl Counters {
            pub(crate) fn snapshot(&self) -> P2pStats {
                P2pStats { $( $name: self.$name.load(Ordering::Relaxed), )* }
            }
        }
    };
}

counters! {
    /// Consensus frames accepted from validators (queued for the node).
    frames_in,
    /// Bytes of accepted consensus frames.
    bytes_in,
    /// Consensus frames handed to libp2p for sending.
    frames_out,
    /// Bytes of consensus frames handed to libp2p.
    bytes_out,
    /// Consensus frames acknowledged by the receiver.
    frames_acked,
    /// Consensus frames whose delivery failed (dial failure, timeout, connection closed, ...).
    frames_failed,
    /// Inbound consensus / sync frames refused because the sender is not a validator.
    dropped_not_validator,
    /// Inbound frames dropped because the sender's inbound queue was full.
    dropped_inbound_queue_full,
    /// Outbound frames dropped because the command queue to the swarm task was full.
    dropped_command_queue_full,
    /// Outbound frames dropped because the target validator was not connected.
    dropped_not_connected,
    /// Outbound frames dropped because the peer's outbound queue (behind its full in-flight
    /// window) had no room, or because the peer disconnected while they waited.
    dropped_outbound_queue_full,
    /// Inbound frames refused as malformed or oversized (read errors on the stream).
    bad_frames,
    /// Inbound sync requests surfaced to the node.
    sync_requests_in,
    /// Inbound sync requests refused (too many pending, or the reply was too large / missing).
    sync_requests_refused,
    /// Inbound sync requests refused because that peer already had
    /// `max_sync_requests_per_peer` waiting for our reply.
    sync_requests_refused_peer_limit,
    /// Outbound sync requests sent.
    sync_requests_out,
    /// Outbound sync requests that failed.
    sync_requests_failed,
    /// Dial attempts made to re-connect validators.
    redials,
    /// Peers disconnected because identify showed another chain (protocol version mismatch).
    wrong_chain_peers,
    /// Peers disconnected because the non-validator peer limit was reached.
    non_validator_peers_refused,
    /// Gauge: validators currently connected.
    connected_validators,
    /// Gauge: consensus frames waiting behind full in-flight windows, over all peers.
    outbound_waiting_frames,
    /// Gauge: 1 if mDNS is running.
    mdns_active,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set(counter: &AtomicU64, n: u64) {
        counter.store(n, Ordering::Relaxed);
    }
}
