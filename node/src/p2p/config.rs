//! [`P2pSettings`]: every limit of the networking layer, which is also the `[p2p]` section of the
//! node's TOML as it is (one set of names, units last); [`P2pConfig`]: those settings with the
//! chain's identity (genesis hash, validators), which come from the genesis, not from the file.
//! [`P2pSettings::validate`] owns every rule of the settings and reports all broken ones at once.

use std::time::Duration;

use bftledger_crypto::{Digest, PublicKey};
use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

/// Hard ceiling for any frame, whatever the configuration says: the length prefix is a `u32`
/// and a frame is held in memory whole, so a sane upper bound protects against typos.
pub const FRAME_BYTES_CEILING: usize = 256 * 1024 * 1024;

/// Longest timeout or back-off accepted, in milliseconds: a value above it is almost certainly
/// a typo (an extra zero) and would leave a dead peer or request unnoticed for too long.
pub const TIMEOUT_MS_CEILING: u64 = 600_000;

/// The limits of the p2p layer, read from the node's TOML (`[p2p]`, these field names as keys,
/// unknown keys refused). Keys the node's file has always had are required; the others default
/// to [`P2pSettings::default`]'s values.
///
/// Memory bound of the inbound side: `validators × max_inbound_queue_bytes` plus the node's
/// event channel (`event_channel_capacity × max_frame_bytes`); of the outbound side,
/// `validators × max_outbound_queue_bytes` plus the frames in flight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P2pSettings {
    /// Addresses to listen on, e.g. `/ip4/127.0.0.1/tcp/26600`. Port 0 picks a free port.
    pub listen: Vec<Multiaddr>,
    /// Bootstrap addresses for Kademlia, ideally ending in `/p2p/<peer id>`; addresses without a
    /// peer id are dialed until a connection to them succeeds once.
    #[serde(default)]
    pub bootstrap: Vec<Multiaddr>,
    /// Discover peers on the local network with mDNS.
    #[serde(default)]
    pub enable_mdns: bool,
    /// Largest consensus frame and largest sync request, in bytes (refused before allocation).
    pub max_frame_bytes: usize,
    /// Largest sync response, in bytes.
    pub max_sync_response_bytes: usize,
    /// Per-peer inbound queue, in frames: further frames from that peer are dropped and counted.
    pub max_inbound_queue_frames: usize,
    /// Per-peer inbound queue, in bytes.
    #[serde(default = "defaults::max_inbound_queue_bytes")]
    pub max_inbound_queue_bytes: usize,
    /// Per-peer consensus frames sent but not yet acknowledged; further frames wait in the
    /// peer's outbound queue.
    #[serde(default = "defaults::max_outbound_in_flight_frames")]
    pub max_outbound_in_flight_frames: usize,
    /// Per-peer outbound queue behind a full in-flight window, in bytes; a frame that does not
    /// fit is dropped and counted (`dropped_outbound_queue_full`).
    #[serde(default = "defaults::max_outbound_queue_bytes")]
    pub max_outbound_queue_bytes: usize,
    /// Capacity of the command queue from [`super::P2pHandle`] to the swarm task, in commands.
    #[serde(default = "defaults::command_queue_capacity")]
    pub command_queue_capacity: usize,
    /// Capacity of the event channel to the node, in events.
    #[serde(default = "defaults::event_channel_capacity")]
    pub event_channel_capacity: usize,
    /// Concurrent sync requests, per direction (outbound requests of this node; inbound requests
    /// waiting for the node's reply).
    #[serde(default = "defaults::max_concurrent_sync_requests")]
    pub max_concurrent_sync_requests: usize,
    /// Inbound sync requests of one validator waiting for our reply (beyond: refused and
    /// counted), so that one validator asking as fast as it can never takes every one of
    /// `max_concurrent_sync_requests` (the lower of the two bounds a peer). A replica's own
    /// sync worker has one request in flight per peer.
    #[serde(default = "defaults::max_sync_requests_per_peer")]
    pub max_sync_requests_per_peer: usize,
    /// Concurrent substreams per connection and protocol (consensus, sync), both directions
    /// together; must leave room for `max_outbound_in_flight_frames` in each direction. Frames
    /// being read are buffered as their bytes arrive (not as announced), so a connection holds at
    /// most this many partial frames.
    #[serde(default = "defaults::max_streams_per_connection")]
    pub max_streams_per_connection: usize,
    /// Timeout of a request (consensus frame until acknowledged, sync request until answered),
    /// in milliseconds.
    pub request_timeout_ms: u64,
    /// First delay before re-dialing a disconnected validator, in milliseconds; doubles on every
    /// failed attempt.
    pub redial_backoff_initial_ms: u64,
    /// Cap of the re-dial delay, in milliseconds.
    pub redial_backoff_max_ms: u64,
    /// Connections without any open stream are closed after this long, in milliseconds
    /// (validators are re-dialed).
    #[serde(default = "defaults::idle_connection_timeout_ms")]
    pub idle_connection_timeout_ms: u64,
    /// Connected peers that are not validators (Kademlia / identify only); more are disconnected.
    #[serde(default = "defaults::max_non_validator_peers")]
    pub max_non_validator_peers: usize,
    /// Addresses remembered per validator for re-dialing.
    #[serde(default = "defaults::max_addresses_per_peer")]
    pub max_addresses_per_peer: usize,
}

/// The defaults of the keys a node's file may leave out (serde wants functions).
mod defaults {
    pub fn max_inbound_queue_bytes() -> usize {
        64 * 1024 * 1024
    }
    pub fn max_outbound_in_flight_frames() -> usize {
        64
    }
    pub fn max_outbound_queue_bytes() -> usize {
        64 * 1024 * 1024
    }
    pub fn command_queue_capacity() -> usize {
        1024
    }
    pub fn event_channel_capacity() -> usize {
        1024
    }
    pub fn max_concurrent_sync_requests() -> usize {
        16
    }
    pub fn max_sync_requests_per_peer() -> usize {
        4
    }
    pub fn max_streams_per_connection() -> usize {
        128
    }
    pub fn idle_connection_timeout_ms() -> u64 {
        3_600_000
    }
    pub fn max_non_validator_peers() -> usize {
        32
    }
    pub fn max_addresses_per_peer() -> usize {
        8
    }
}

impl Default for P2pSettings {
    /// Default limits, listening on all IPv4 interfaces on a free port.
    fn default() -> P2pSettings {
        P2pSettings {
            listen: vec!["/ip4/0.0.0.0/tcp/0".parse().expect("static multiaddr")],
            bootstrap: Vec::new(),
            enable_mdns: false,
            // A batch of ~1 MiB of transfers plus envelope; view-change messages carry
            // certificates and may be larger.
            max_frame_bytes: 4 * 1024 * 1024,
            max_sync_response_bytes: 32 * 1024 * 1024,
            max_inbound_queue_frames: 256,
            max_inbound_queue_bytes: defaults::max_inbound_queue_bytes(),
            max_outbound_in_flight_frames: defaults::max_outbound_in_flight_frames(),
            max_outbound_queue_bytes: defaults::max_outbound_queue_bytes(),
            command_queue_capacity: defaults::command_queue_capacity(),
            event_channel_capacity: defaults::event_channel_capacity(),
            max_concurrent_sync_requests: defaults::max_concurrent_sync_requests(),
            max_sync_requests_per_peer: defaults::max_sync_requests_per_peer(),
            max_streams_per_connection: defaults::max_streams_per_connection(),
            request_timeout_ms: 10_000,
            redial_backoff_initial_ms: 200,
            redial_backoff_max_ms: 30_000,
            idle_connection_timeout_ms: defaults::idle_connection_timeout_ms(),
            max_non_validator_peers: defaults::max_non_validator_peers(),
            max_addresses_per_peer: defaults::max_addresses_per_peer(),
        }
    }
}

impl P2pSettings {
    /// [`P2pSettings::request_timeout_ms`] as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// [`P2pSettings::redial_backoff_initial_ms`] as a duration.
    pub fn redial_backoff_initial(&self) -> Duration {
        Duration::from_millis(self.redial_backoff_initial_ms)
    }

    /// [`P2pSettings::redial_backoff_max_ms`] as a duration.
    pub fn redial_backoff_max(&self) -> Duration {
        Duration::from_millis(self.redial_backoff_max_ms)
    }

    /// [`P2pSettings::idle_connection_timeout_ms`] as a duration.
    pub fn idle_connection_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_connection_timeout_ms)
    }

    /// Checks every limit; returns **every** broken rule, each named by its key.
    pub fn validate(&self) -> Result<(), P2pConfigError> {
        let mut p = Problems(Vec::new());
        self.check(&mut p);
        p.into_result()
    }

    fn check(&self, p: &mut Problems) {
        if self.listen.is_empty() {
            p.0.push(P2pConfigProblem::NoListenAddress);
        }
        let frame = self.max_frame_bytes as u64;
        let ceiling = FRAME_BYTES_CEILING as u64;
        p.range("max_frame_bytes", frame, 1, ceiling, "bytes");
        let sync_response = self.max_sync_response_bytes as u64;
        p.range(
            "max_sync_response_bytes",
            sync_response,
            1,
            ceiling,
            "bytes",
        );
        let queue_frames = self.max_inbound_queue_frames as u64;
        p.range(
            "max_inbound_queue_frames",
            queue_frames,
            1,
            1 << 20,
            "frames",
        );
        // A peer's queue must hold at least one whole frame.
        let queue_bytes = self.max_inbound_queue_bytes as u64;
        p.range(
            "max_inbound_queue_bytes",
            queue_bytes,
            frame,
            1 << 40,
            "bytes",
        );
        // Like the inbound queue: room for at least one whole frame.
        let out_bytes = self.max_outbound_queue_bytes as u64;
        p.range(
            "max_outbound_queue_bytes",
            out_bytes,
            frame,
            1 << 40,
            "bytes",
        );
        let commands = self.command_queue_capacity as u64;
        p.range("command_queue_capacity", commands, 1, 1 << 20, "commands");
        let events = self.event_channel_capacity as u64;
        p.range("event_channel_capacity", events, 1, 1 << 20, "events");
        let sync_requests = self.max_concurrent_sync_requests as u64;
        p.range(
            "max_concurrent_sync_requests",
            sync_requests,
            1,
            1 << 16,
            "requests",
        );
        let per_peer = self.max_sync_requests_per_peer as u64;
        p.range(
            "max_sync_requests_per_peer",
            per_peer,
            1,
            1 << 16,
            "requests",
        );
        let streams = self.max_streams_per_connection as u64;
        p.range("max_streams_per_connection", streams, 1, 1 << 16, "streams");
        // Our unacknowledged frames and the peer's share the per-connection stream limit.
        let in_flight = self.max_outbound_in_flight_frames as u64;
        p.range(
            "max_outbound_in_flight_frames",
            in_flight,
            1,
            streams / 2,
            "frames",
        );
        let addresses = self.max_addresses_per_peer as u64;
        p.range("max_addresses_per_peer", addresses, 1, 1024, "addresses");
        let others = self.max_non_validator_peers as u64;
        p.range("max_non_validator_peers", others, 0, 1 << 16, "peers");
        let timeout = self.request_timeout_ms;
        p.range("request_timeout_ms", timeout, 1, TIMEOUT_MS_CEILING, "ms");
        p.positive("redial_backoff_initial_ms", self.redial_backoff_initial_ms);
        if self.redial_backoff_max_ms < self.redial_backoff_initial_ms {
            p.0.push(P2pConfigProblem::BackoffMaxBelowInitial {
                initial_ms: self.redial_backoff_initial_ms,
                max_ms: self.redial_backoff_max_ms,
            });
        }
        let backoff_max = self.redial_backoff_max_ms;
        p.range(
            "redial_backoff_max_ms",
            backoff_max,
            0,
            TIMEOUT_MS_CEILING,
            "ms",
        );
        p.positive(
            "idle_connection_timeout_ms",
            self.idle_connection_timeout_ms,
        );
    }
}

/// Configuration of the p2p layer: the chain's identity and the [`P2pSettings`].
#[derive(Clone, Debug)]
pub struct P2pConfig {
    /// The validator set: only these keys may send consensus and sync frames.
    pub validators: Vec<PublicKey>,
    /// Genesis hash of the chain; its prefix is part of every protocol name, so that nodes of two
    /// different chains never exchange messages.
    pub genesis_hash: Digest,
    /// Limits and addresses.
    pub settings: P2pSettings,
}

impl P2pConfig {
    /// A configuration with the default [`P2pSettings`].
    pub fn new(genesis_hash: Digest, validators: Vec<PublicKey>) -> P2pConfig {
        P2pConfig::with_settings(genesis_hash, validators, P2pSettings::default())
    }

    /// A configuration of the chain (`genesis_hash`, `validators`) with `settings`.
    pub fn with_settings(
        genesis_hash: Digest,
        validators: Vec<PublicKey>,
        settings: P2pSettings,
    ) -> P2pConfig {
        P2pConfig {
            validators,
            genesis_hash,
            settings,
        }
    }

    /// The protocol-name prefix of this chain: `/bftledger/<first 16 hex digits of genesis hash>`.
    pub fn protocol_prefix(&self) -> String {
        let hex = self.genesis_hash.to_hex();
        format!("/bftledger/{}", &hex[..16])
    }

    /// Checks the validator set and every setting ([`P2pSettings::validate`]); returns every
    /// broken rule.
    pub fn validate(&self) -> Result<(), P2pConfigError> {
        let mut p = Problems(Vec::new());
        if self.validators.is_empty() {
            p.0.push(P2pConfigProblem::NoValidators);
        }
        let mut sorted = self.validators.clone();
        sorted.sort();
        for pair in sorted.windows(2).filter(|pair| pair[0] == pair[1]) {
            p.0.push(P2pConfigProblem::DuplicateValidator {
                key: Box::new(pair[0]),
            });
        }
        self.settings.check(&mut p);
        p.into_result()
    }
}

/// Collects broken rules while validating.
struct Problems(Vec<P2pConfigProblem>);

impl Problems {
    /// `value` (of `key`, in `unit`) lies in `[min, max]`.
    fn range(&mut self, key: &'static str, value: u64, min: u64, max: u64, unit: &'static str) {
        if value < min || value > max {
            self.0.push(P2pConfigProblem::OutOfRange {
                key,
                value,
                min,
                max,
                unit,
            });
        }
    }

    fn positive(&mut self, key: &'static str, value: u64) {
        if value == 0 {
            self.0.push(P2pConfigProblem::Zero { key });
        }
    }

    fn into_result(self) -> Result<(), P2pConfigError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(P2pConfigError { problems: self.0 })
        }
    }
}

/// A [`P2pConfig`] that cannot be used: every rule it breaks (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render_problems(.problems))]
pub struct P2pConfigError {
    /// One entry per broken rule.
    pub problems: Vec<P2pConfigProblem>,
}

fn render_problems(problems: &[P2pConfigProblem]) -> String {
    let mut out = format!("p2p config has {} problem(s):", problems.len());
    for p in problems {
        out.push_str(&format!("\n  - {}: {p}", p.key()));
    }
    out
}

/// One broken rule of a [`P2pConfig`]; [`P2pConfigProblem::key`] names the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum P2pConfigProblem {
    /// `listen` is empty.
    #[error("needs at least one multiaddr, e.g. \"/ip4/127.0.0.1/tcp/26600\"")]
    NoListenAddress,
    /// `validators` is empty.
    #[error("the validator set is empty")]
    NoValidators,
    /// A key appears twice in `validators`.
    #[error("validator {key} appears twice")]
    DuplicateValidator {
        /// The repeated key.
        key: Box<PublicKey>,
    },
    /// A limit that must be positive is zero.
    #[error("must be greater than 0")]
    Zero {
        /// The setting.
        key: &'static str,
    },
    /// A numeric limit is outside its allowed range.
    #[error("is {value} {unit}; allowed: {min} to {max} {unit}")]
    OutOfRange {
        /// The setting.
        key: &'static str,
        /// Configured value.
        value: u64,
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
        /// Unit of the value.
        unit: &'static str,
    },
    /// `redial_backoff_max_ms < redial_backoff_initial_ms`.
    #[error("is {max_ms} ms, less than redial_backoff_initial_ms ({initial_ms} ms)")]
    BackoffMaxBelowInitial {
        /// Configured initial backoff, in milliseconds.
        initial_ms: u64,
        /// Configured cap, in milliseconds.
        max_ms: u64,
    },
}

impl P2pConfigProblem {
    /// The setting (a field of [`P2pSettings`], and its key in the node's TOML) the problem is
    /// reported under; `validators` for the validator set, which comes from the genesis.
    pub fn key(&self) -> &'static str {
        match self {
            P2pConfigProblem::NoListenAddress => "listen",
            P2pConfigProblem::NoValidators | P2pConfigProblem::DuplicateValidator { .. } => {
                "validators"
            }
            P2pConfigProblem::Zero { key } | P2pConfigProblem::OutOfRange { key, .. } => key,
            P2pConfigProblem::BackoffMaxBelowInitial { .. } => "redial_backoff_max_ms",
        }
    }
}

#[cfg(test)]
mod tests {
    use bftledger_crypto::SecretKey;

    use super::*;

    fn cfg() -> P2pConfig {
        P2pConfig::new(Digest::of(b"g"), vec![SecretKey::generate().public()])
    }

    fn keys(c: &P2pConfig) -> Vec<&'static str> {
        c.validate()
            .err()
            .map_or(Vec::new(), |e| e.problems.iter().map(|p| p.key()).collect())
    }

    #[test]
    fn defaults_are_valid() {
        cfg().validate().unwrap();
        P2pSettings::default().validate().unwrap();
        assert_eq!(cfg().protocol_prefix().len(), "/bftledger/".len() + 16);
    }

    #[test]
    fn violations_are_named() {
        let mut c = cfg();
        c.validators.push(c.validators[0]);
        assert!(matches!(
            c.validate().unwrap_err().problems[..],
            [P2pConfigProblem::DuplicateValidator { .. }]
        ));
        let mut c = cfg();
        c.settings.max_frame_bytes = FRAME_BYTES_CEILING + 1;
        assert_eq!(
            keys(&c),
            [
                "max_frame_bytes",
                "max_inbound_queue_bytes",
                "max_outbound_queue_bytes"
            ]
        );
        let mut c = cfg();
        c.settings.max_outbound_in_flight_frames = c.settings.max_streams_per_connection;
        assert_eq!(keys(&c), ["max_outbound_in_flight_frames"]);
        let mut c = cfg();
        c.settings.redial_backoff_max_ms = c.settings.redial_backoff_initial_ms / 2;
        assert!(matches!(
            c.validate().unwrap_err().problems[..],
            [P2pConfigProblem::BackoffMaxBelowInitial { .. }]
        ));
        let mut c = cfg();
        c.settings.idle_connection_timeout_ms = 0;
        assert_eq!(
            c.validate().unwrap_err().problems,
            [P2pConfigProblem::Zero {
                key: "idle_connection_timeout_ms"
            }]
        );
        let mut c = cfg();
        c.settings.listen.clear();
        assert_eq!(
            c.validate().unwrap_err().problems,
            [P2pConfigProblem::NoListenAddress]
        );
    }

    /// Every broken rule is reported at once, each with its key, value and unit.
    #[test]
    fn every_problem_is_reported() {
        let mut c = cfg();
        c.validators.clear();
        c.settings.listen.clear();
        c.settings.max_inbound_queue_frames = 0;
        c.settings.request_timeout_ms = TIMEOUT_MS_CEILING + 1;
        c.settings.redial_backoff_initial_ms = 0;
        assert_eq!(
            keys(&c),
            [
                "validators",
                "listen",
                "max_inbound_queue_frames",
                "request_timeout_ms",
                "redial_backoff_initial_ms"
            ]
        );
        let text = c.settings.validate().unwrap_err().to_string();
        assert!(text.contains("4 problem(s)"), "{text}");
        assert!(
            text.contains("request_timeout_ms: is 600001 ms; allowed: 1 to 600000 ms"),
            "{text}"
        );
    }
}
