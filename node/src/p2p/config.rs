//! [`P2pConfig`]: every limit of the networking layer, checked by [`P2pConfig::validate`].

use std::time::Duration;

use bftledger_crypto::{Digest, PublicKey};
use libp2p::Multiaddr;

/// Hard ceiling for any frame, whatever the configuration says: the length prefix is a `u32`
/// and a frame is held in memory whole, so a sane upper bound protects against typos.
pub const FRAME_BYTES_CEILING: usize = 256 * 1024 * 1024;

/// Configuration of the p2p layer. Build it with [`P2pConfig::new`] and override fields.
///
/// Memory bound of the inbound side: `validators × max_inbound_queue_bytes` plus the node's
/// event channel (`event_channel_capacity × max_frame_bytes`).
#[derive(Clone, Debug)]
pub struct P2pConfig {
    /// Addresses to listen on, e.g. `/ip4/0.0.0.0/tcp/26656`. Port 0 picks a free port.
    pub listen: Vec<Multiaddr>,
    /// Bootstrap addresses for Kademlia, ideally ending in `/p2p/<peer id>`; addresses without a
    /// peer id are dialed until a connection to them succeeds once.
    pub bootstrap: Vec<Multiaddr>,
    /// Discover peers on the local network with mDNS.
    pub enable_mdns: bool,
    /// The validator set: only these keys may send consensus and sync frames.
    pub validators: Vec<PublicKey>,
    /// Genesis hash of the chain; its prefix is part of every protocol name, so that nodes of two
    /// different chains never exchange messages.
    pub genesis_hash: Digest,
    /// Largest consensus frame and largest sync request, in bytes (refused before allocation).
    pub max_frame_bytes: usize,
    /// Largest sync response, in bytes.
    pub max_sync_response_bytes: usize,
    /// Per-peer inbound queue, in frames: further frames from that peer are dropped and counted.
    pub max_inbound_queue_frames: usize,
    /// Per-peer inbound queue, in bytes.
    pub max_inbound_queue_bytes: usize,
    /// Per-peer consensus frames sent but not yet acknowledged; further sends are dropped.
    pub max_outbound_in_flight: usize,
    /// Capacity of the command queue from [`super::P2pHandle`] to the swarm task.
    pub command_queue_capacity: usize,
    /// Capacity of the event channel to the node.
    pub event_channel_capacity: usize,
    /// Concurrent sync requests, per direction (outbound requests of this node; inbound requests
    /// waiting for the node's reply).
    pub max_concurrent_sync_requests: usize,
    /// Concurrent substreams per connection and protocol (consensus, sync), both directions
    /// together; must leave room for `max_outbound_in_flight` in each direction. Frames being
    /// read are buffered as their bytes arrive (not as announced), so a connection holds at most
    /// this many partial frames.
    pub max_streams_per_connection: usize,
    /// Timeout of a request (consensus frame until acknowledged, sync request until answered).
    pub request_timeout: Duration,
    /// First delay before re-dialing a disconnected validator; doubles on every failed attempt.
    pub redial_backoff_initial: Duration,
    /// Cap of the re-dial delay.
    pub redial_backoff_max: Duration,
    /// Connections without any open stream are closed after this long (validators are re-dialed).
    pub idle_connection_timeout: Duration,
    /// Connected peers that are not validators (Kademlia / identify only); more are disconnected.
    pub max_non_validator_peers: usize,
    /// Addresses remembered per validator for re-dialing.
    pub max_addresses_per_peer: usize,
}

impl P2pConfig {
    /// A configuration with default limits, listening on all IPv4 interfaces on a free port.
    pub fn new(genesis_hash: Digest, validators: Vec<PublicKey>) -> P2pConfig {
        P2pConfig {
            listen: vec!["/ip4/0.0.0.0/tcp/0".parse().expect("static multiaddr")],
            bootstrap: Vec::new(),
            enable_mdns: false,
            validators,
            genesis_hash,
            // A batch of ~1 MiB of transfers plus envelope; view-change messages carry
            // certificates and may be larger.
            max_frame_bytes: 4 * 1024 * 1024,
            max_sync_response_bytes: 32 * 1024 * 1024,
            max_inbound_queue_frames: 256,
            max_inbound_queue_bytes: 64 * 1024 * 1024,
            max_outbound_in_flight: 64,
            command_queue_capacity: 1024,
            event_channel_capacity: 1024,
            max_concurrent_sync_requests: 16,
            max_streams_per_connection: 128,
            request_timeout: Duration::from_secs(10),
            redial_backoff_initial: Duration::from_millis(200),
            redial_backoff_max: Duration::from_secs(30),
            idle_connection_timeout: Duration::from_secs(3600),
            max_non_validator_peers: 32,
            max_addresses_per_peer: 8,
        }
    }

    /// The protocol-name prefix of this chain: `/bftledger/<first 16 hex digits of genesis hash>`.
    pub fn protocol_prefix(&self) -> String {
        let hex = self.genesis_hash.to_hex();
        format!("/bftledger/{}", &hex[..16])
    }

    /// Checks every limit; returns the first violation.
    pub fn validate(&self) -> Result<(), P2pConfigError> {
        if self.listen.is_empty() {
            return Err(P2pConfigError::NoListenAddress);
        }
        if self.validators.is_empty() {
            return Err(P2pConfigError::NoValidators);
        }
        let mut sorted = self.validators.clone();
        sorted.sort();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(P2pConfigError::DuplicateValidator {
                key: Box::new(w[0]),
            });
        }
        check_range(
            "max_frame_bytes",
            self.max_frame_bytes,
            1,
            FRAME_BYTES_CEILING,
        )?;
        check_range(
            "max_sync_response_bytes",
            self.max_sync_response_bytes,
            1,
            FRAME_BYTES_CEILING,
        )?;
        check_range(
            "max_inbound_queue_frames",
            self.max_inbound_queue_frames,
            1,
            1 << 20,
        )?;
        check_range(
            "max_inbound_queue_bytes",
            self.max_inbound_queue_bytes,
            self.max_frame_bytes,
            1 << 40,
        )?;
        check_range(
            "command_queue_capacity",
            self.command_queue_capacity,
            1,
            1 << 20,
        )?;
        check_range(
            "event_channel_capacity",
            self.event_channel_capacity,
            1,
            1 << 20,
        )?;
        check_range(
            "max_concurrent_sync_requests",
            self.max_concurrent_sync_requests,
            1,
            1 << 16,
        )?;
        check_range(
            "max_streams_per_connection",
            self.max_streams_per_connection,
            1,
            1 << 16,
        )?;
        // Our unacknowledged frames and the peer's share the per-connection stream limit.
        check_range(
            "max_outbound_in_flight",
            self.max_outbound_in_flight,
            1,
            self.max_streams_per_connection / 2,
        )?;
        check_range(
            "max_addresses_per_peer",
            self.max_addresses_per_peer,
            1,
            1024,
        )?;
        check_range(
            "max_non_validator_peers",
            self.max_non_validator_peers,
            0,
            1 << 16,
        )?;
        for (name, value) in [
            ("request_timeout", self.request_timeout),
            ("redial_backoff_initial", self.redial_backoff_initial),
            ("idle_connection_timeout", self.idle_connection_timeout),
        ] {
            if value.is_zero() {
                return Err(P2pConfigError::ZeroDuration { name });
            }
        }
        if self.redial_backoff_max < self.redial_backoff_initial {
            return Err(P2pConfigError::BackoffMaxBelowInitial {
                initial: self.redial_backoff_initial,
                max: self.redial_backoff_max,
            });
        }
        Ok(())
    }
}

fn check_range(
    name: &'static str,
    value: usize,
    min: usize,
    max: usize,
) -> Result<(), P2pConfigError> {
    if value < min || value > max {
        return Err(P2pConfigError::OutOfRange {
            name,
            value,
            min,
            max,
        });
    }
    Ok(())
}

/// A [`P2pConfig`] that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum P2pConfigError {
    /// `listen` is empty.
    #[error("p2p: no listen address configured")]
    NoListenAddress,
    /// `validators` is empty.
    #[error("p2p: the validator set is empty")]
    NoValidators,
    /// A key appears twice in `validators`.
    #[error("p2p: validator {key} appears twice")]
    DuplicateValidator {
        /// The repeated key.
        key: Box<PublicKey>,
    },
    /// A numeric limit is outside its allowed range.
    #[error("p2p: {name} = {value} is outside [{min}, {max}]")]
    OutOfRange {
        /// Field name.
        name: &'static str,
        /// Configured value.
        value: usize,
        /// Smallest allowed value.
        min: usize,
        /// Largest allowed value.
        max: usize,
    },
    /// A duration that must be positive is zero.
    #[error("p2p: {name} must be positive")]
    ZeroDuration {
        /// Field name.
        name: &'static str,
    },
    /// `redial_backoff_max < redial_backoff_initial`.
    #[error("p2p: redial_backoff_max {max:?} is below redial_backoff_initial {initial:?}")]
    BackoffMaxBelowInitial {
        /// Configured initial backoff.
        initial: Duration,
        /// Configured cap.
        max: Duration,
    },
}

#[cfg(test)]
mod tests {
    use bftledger_crypto::SecretKey;

    use super::*;

    fn cfg() -> P2pConfig {
        P2pConfig::new(Digest::of(b"g"), vec![SecretKey::generate().public()])
    }

    #[test]
    fn defaults_are_valid() {
        cfg().validate().unwrap();
        assert_eq!(cfg().protocol_prefix().len(), "/bftledger/".len() + 16);
    }

    #[test]
    fn violations_are_named() {
        let mut c = cfg();
        c.validators.push(c.validators[0]);
        assert!(matches!(
            c.validate(),
            Err(P2pConfigError::DuplicateValidator { .. })
        ));
        let mut c = cfg();
        c.max_frame_bytes = FRAME_BYTES_CEILING + 1;
        assert!(matches!(
            c.validate(),
            Err(P2pConfigError::OutOfRange {
                name: "max_frame_bytes",
                ..
            })
        ));
        let mut c = cfg();
        c.max_outbound_in_flight = c.max_streams_per_connection;
        assert!(matches!(
            c.validate(),
            Err(P2pConfigError::OutOfRange {
                name: "max_outbound_in_flight",
                ..
            })
        ));
        let mut c = cfg();
        c.redial_backoff_max = c.redial_backoff_initial / 2;
        assert!(matches!(
            c.validate(),
            Err(P2pConfigError::BackoffMaxBelowInitial { .. })
        ));
        let mut c = cfg();
        c.request_timeout = Duration::ZERO;
        assert_eq!(
            c.validate(),
            Err(P2pConfigError::ZeroDuration {
                name: "request_timeout"
            })
        );
        let mut c = cfg();
        c.listen.clear();
        assert_eq!(c.validate(), Err(P2pConfigError::NoListenAddress));
    }
}
