//! The node's TOML configuration, and its validation at start-up.
//!
//! Every limit carries its unit in its name (`_bytes`, `_ms`, `_ticks`, `_seqs`, `_transfers`), so
//! a config file reads without the docs. Unknown keys are refused (a typo must not silently fall
//! back to a default). [`NodeConfig::load`] validates once, at start-up, against the genesis's
//! validator set; [`NodeConfig::validate`] reports **every** problem at once, one line each,
//! naming the key, the value and the rule, so an operator fixes a file in one pass. Each rule has
//! one owner: the `[consensus]` and `[p2p]` sections are the consensus core's and the p2p
//! layer's settings types, checked by their own `validate()`; this module adds only the rules
//! of its own sections and those that tie sections together.
//!
//! Relative paths in the file are relative to the directory of the file itself, so a testnet
//! directory can be moved as a whole.

use crate::p2p::{P2pConfig, P2pSettings};
use bftledger_consensus::Settings as ConsensusSettings;
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::PublicKey;
use bftledger_ledger::{Genesis, GenesisError};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Largest encoded signed transfer, in bytes (a consensus request must fit one).
const SIGNED_TRANSFER_MAX_BYTES: usize = <bftledger_ledger::SignedTransfer as Versioned>::MAX_BYTES;

/// The view-change timeout of [`NodeConfig::local_default`] must be able to outlast this commit
/// latency (its adaptive ceiling does, four times over), in milliseconds: the p99 submit-to-commit latency measured at half of saturation on the namespace
/// testnet's `global` profile (RTT 100 ms; testnet/BENCHMARKS.md, 2026-11-30), where a 2 s
/// timeout made every validator start 2 or 3 view changes in 5 minutes.
pub const WAN_COMMIT_P99_MS: u64 = 5_800;

/// Largest config file accepted, in bytes.
pub const MAX_CONFIG_FILE_BYTES: u64 = 1 << 20;

/// The whole configuration of one validator node.
///
/// The `[consensus]` and `[p2p]` sections are the settings types of the layers whose limits
/// they hold ([`bftledger_consensus::Settings`], [`P2pSettings`]), deserialized as they are and
/// validated by their own `validate()`; the other sections belong to this crate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The genesis file (chain id, validators, initial balances).
    pub genesis_path: PathBuf,
    /// This validator's secret key file (mode 0600).
    pub key_path: PathBuf,
    /// Directory of the node's RocksDB store (ledger and consensus state).
    pub data_dir: PathBuf,
    /// Peer-to-peer networking.
    pub p2p: P2pSettings,
    /// The HTTP JSON API.
    pub api: ApiSection,
    /// Consensus limits and timeouts (in ticks), handed to the PBFT core as they are.
    pub consensus: ConsensusSettings,
    /// The loop that drives the core: the length of its tick.
    #[serde(default)]
    pub driver: DriverSection,
    /// The pool of client transfers waiting to be ordered.
    pub mempool: MempoolSection,
    /// State transfer (catch-up) from peers.
    pub sync: SyncSection,
    /// Logging.
    #[serde(default)]
    pub log: LogSection,
}

/// `[api]`: the HTTP JSON API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// Socket address to listen on; loopback by default.
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Most transfers in one batch submission.
    pub max_batch_transfers: usize,
    /// Longest time a request may take before the server answers 503, in milliseconds.
    pub request_timeout_ms: u64,
}

/// `[driver]`: the loop around the consensus core. The core counts time in logical ticks
/// (it has no clock); the driver decides how long a tick lasts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DriverSection {
    /// Real time per logical tick, in milliseconds: every `consensus.*_ticks` is a multiple of it.
    pub tick_interval_ms: u64,
}

impl Default for DriverSection {
    fn default() -> Self {
        DriverSection {
            tick_interval_ms: 20,
        }
    }
}

/// `[mempool]`: transfers accepted by the API and waiting for the consensus core.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MempoolSection {
    /// Most transfers held.
    pub max_transfers: usize,
    /// Most transfer ids remembered to suppress duplicates after they left the pool.
    pub max_seen_ids: usize,
    /// Most transfers handed to the core per driver step.
    pub max_drain_transfers: usize,
    /// How long a transfer whose sender nonce is ahead (its predecessor not seen yet) is held
    /// back before it is handed to the core anyway, in milliseconds.
    pub nonce_gap_hold_ms: u64,
}

/// `[sync]`: catching up from peers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SyncSection {
    /// Most blocks asked for in one sync request (each answer is bounded by
    /// `p2p.max_sync_response_bytes` and arrives within `p2p.request_timeout_ms`).
    pub max_blocks_per_request: u64,
    /// How often a node asks its peers for their height, in milliseconds.
    pub poll_interval_ms: u64,
}

/// `[log]`: how logs are written (to stderr).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `text` for people, `json` for log collectors.
    #[serde(default)]
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `bftledger_node=debug,info`; `RUST_LOG` overrides it.
    #[serde(default = "default_log_filter")]
    pub filter: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

fn default_log_filter() -> String {
    "info".into()
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            format: LogFormat::Text,
            filter: default_log_filter(),
        }
    }
}

/// One problem in a config file: the key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted key, e.g. `api.max_body_bytes`.
    pub key: String,
    /// What is wrong, in words: the value with its unit, and the rule.
    pub problem: String,
}

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_CONFIG_FILE_BYTES`].
    #[error("config file {path} is {len} bytes; the limit is {MAX_CONFIG_FILE_BYTES} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its length in bytes.
        len: u64,
    },
    /// The file is not valid TOML for this schema (unknown key, wrong type, missing key, a
    /// listen or bootstrap address that is no multiaddr).
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, which names the line and key.
        message: String,
    },
    /// The genesis file the config names could not be loaded (the consensus limits are checked
    /// against its validator set).
    #[error("genesis file {path}: {source}")]
    Genesis {
        /// The genesis file.
        path: PathBuf,
        /// Why it was refused.
        source: GenesisError,
    },
    /// The values are well-formed but unusable; one entry per problem.
    #[error("{}", render_problems(.0))]
    Invalid(Vec<ConfigProblem>),
}

fn render_problems(problems: &[ConfigProblem]) -> String {
    let mut out = format!("config has {} problem(s):", problems.len());
    for p in problems {
        out.push_str(&format!("\n  - {p}"));
    }
    out
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

/// Collects problems while validating.
struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn check(&mut self, ok: bool, key: &str, problem: impl FnOnce() -> String) {
        if !ok {
            self.0.push(ConfigProblem {
                key: key.to_string(),
                problem: problem(),
            });
        }
    }

    /// The problems a section's own `validate()` reported, each under `section.key`.
    fn section<P: fmt::Display>(&mut self, section: &str, problems: Vec<P>, key: fn(&P) -> &str) {
        for problem in problems {
            self.0.push(ConfigProblem {
                key: format!("{section}.{}", key(&problem)),
                problem: problem.to_string(),
            });
        }
    }

    fn positive(&mut self, value: u64, key: &str) {
        self.check(value > 0, key, || "must be greater than 0".into());
    }

    /// `value` is a positive limit no larger than its ceiling `max`.
    fn within(&mut self, value: u64, max: u64, key: &str, unit: &str) {
        self.positive(value, key);
        self.at_most(value, max, key, unit);
    }

    fn at_most(&mut self, value: u64, max: u64, key: &str, unit: &str) {
        self.check(value <= max, key, || {
            format!("is {value} {unit}; the most allowed is {max} {unit}")
        });
    }
}

/// Upper bounds on this crate's own limits: a value above them is almost certainly a typo (an
/// extra zero), and would let a client make the node allocate without bound.
mod ceilings {
    pub const BODY_BYTES: u64 = 64 << 20;
    pub const BATCH_TRANSFERS: u64 = 100_000;
    /// The same typo guard as the p2p layer's timeouts.
    pub const TIMEOUT_MS: u64 = crate::p2p::TIMEOUT_MS_CEILING;
    pub const MEMPOOL_TRANSFERS: u64 = 10_000_000;
    pub const SYNC_BLOCKS: u64 = 10_000;
}

impl NodeConfig {
    /// Start-up: reads and parses the file at `path` (resolving relative paths against its
    /// directory), loads the genesis it names and validates the config against the genesis's
    /// validator set, listing every problem. This is the node's one validation of its config.
    pub fn load(path: &Path) -> Result<(NodeConfig, Genesis), ConfigError> {
        let io = |source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_CONFIG_FILE_BYTES {
            return Err(ConfigError::TooLarge {
                path: path.to_path_buf(),
                len,
            });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let mut config = NodeConfig::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        let genesis =
            Genesis::load(&config.genesis_path).map_err(|source| ConfigError::Genesis {
                path: config.genesis_path.clone(),
                source,
            })?;
        config.validate(&genesis.validator_keys())?;
        Ok((config, genesis))
    }

    /// Parses TOML text (no validation, no path resolution).
    pub fn parse(text: &str) -> Result<NodeConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())
    }

    /// Renders the config as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("NodeConfig always renders as TOML")
    }

    /// Makes relative paths relative to `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        for p in [
            &mut self.genesis_path,
            &mut self.key_path,
            &mut self.data_dir,
        ] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    /// A config with sensible defaults for one node of a local testnet.
    pub fn local_default(p2p_port: u16, api_port: u16) -> NodeConfig {
        NodeConfig {
            genesis_path: "genesis.toml".into(),
            key_path: "validator.key".into(),
            data_dir: "data".into(),
            p2p: P2pSettings {
                listen: vec![libp2p::Multiaddr::from(std::net::Ipv4Addr::LOCALHOST)
                    .with(libp2p::multiaddr::Protocol::Tcp(p2p_port))],
                max_frame_bytes: 4 << 20,
                max_sync_response_bytes: 32 << 20,
                max_inbound_queue_frames: 1_024,
                request_timeout_ms: 5_000,
                redial_backoff_initial_ms: 200,
                redial_backoff_max_ms: 10_000,
                ..P2pSettings::default()
            },
            api: ApiSection {
                listen: SocketAddr::from(([127, 0, 0, 1], api_port)),
                max_body_bytes: 1 << 20,
                max_batch_transfers: 1_000,
                request_timeout_ms: 10_000,
            },
            consensus: ConsensusSettings {
                checkpoint_interval_seqs: 16,
                watermark_window_seqs: 64,
                max_batch_requests: 500,
                max_batch_bytes: 1 << 20,
                batch_delay_ticks: 1,
                eager_batches_in_flight: 1,
                // The timeout adapts to the waits each replica measures (consensus timer.rs):
                // 4 × the longest recent one, between a floor of 50 ticks of 20 ms = 1 s (what a LAN
                // failover costs) and a ceiling of 1,500 ticks = 30 s (what a slow primary can
                // make a replica wait at most, above WAN_COMMIT_P99_MS). A fixed 2 s was too
                // short at 100 ms RTT and a fixed 6 s made every failover cost 6 s (issue 19).
                view_change_timeout_ticks: 50,
                view_change_timeout_max_ticks: 50 * 64,
                view_change_timeout_wait_multiple: 4,
                view_change_timeout_samples: 256,
                view_change_timeout_adaptive_max_ticks: 1_500,
                retransmit_ticks: 25,
                max_future_views: 16,
                executed_requests_remembered: 1 << 20,
                max_pending_requests: 20_000,
                max_request_bytes: 1024,
                max_message_bytes: 3 << 20,
            },
            driver: DriverSection::default(),
            mempool: MempoolSection {
                max_transfers: 20_000,
                max_seen_ids: 100_000,
                max_drain_transfers: 1_000,
                nonce_gap_hold_ms: 500,
            },
            sync: SyncSection {
                max_blocks_per_request: 64,
                poll_interval_ms: 1_000,
            },
            log: LogSection::default(),
        }
    }

    /// The consensus core's config: the genesis `validators` with this node's settings.
    pub fn consensus_config(&self, validators: Vec<PublicKey>) -> bftledger_consensus::Config {
        bftledger_consensus::Config::with_settings(validators, self.consensus.clone())
    }

    /// The p2p layer's config: the chain of `genesis` with this node's settings.
    pub fn p2p_config(&self, genesis: &Genesis) -> P2pConfig {
        P2pConfig::with_settings(genesis.hash(), genesis.validator_keys(), self.p2p.clone())
    }

    /// Checks every value for a chain of `validators` (the genesis's: the largest consensus
    /// messages grow with their number); returns all problems found, each with its key.
    ///
    /// Each section's rules have one owner: `[p2p]` is [`P2pSettings::validate`], `[consensus]`
    /// [`bftledger_consensus::Config::validate`], the others this crate's; what is checked here
    /// beyond them is only what ties sections (or the ledger's limits) together.
    pub fn validate(&self, validators: &[PublicKey]) -> Result<(), ConfigError> {
        let mut p = Problems(Vec::new());
        if let Err(e) = self.p2p.validate() {
            p.section("p2p", e.problems, |problem| problem.key());
        }
        self.validate_api(&mut p);
        if let Err(e) = self.consensus_config(validators.to_vec()).validate() {
            p.section("consensus", e.problems, |problem| problem.key());
        }
        self.validate_driver_mempool_and_sync(&mut p);
        p.check(
            self.log
                .filter
                .parse::<tracing_subscriber::EnvFilter>()
                .is_ok(),
            "log.filter",
            || format!("{:?} is not a valid tracing filter", self.log.filter),
        );
        self.validate_consensus_against_the_ledger(&mut p);
        self.validate_batch_against_admission(validators.len(), &mut p);
        self.validate_frames(&mut p);
        if p.0.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(p.0))
        }
    }

    fn validate_api(&self, p: &mut Problems) {
        let s = &self.api;
        p.within(
            s.max_body_bytes as u64,
            ceilings::BODY_BYTES,
            "api.max_body_bytes",
            "bytes",
        );
        p.within(
            s.max_batch_transfers as u64,
            ceilings::BATCH_TRANSFERS,
            "api.max_batch_transfers",
            "transfers",
        );
        p.within(
            s.request_timeout_ms,
            ceilings::TIMEOUT_MS,
            "api.request_timeout_ms",
            "ms",
        );
    }

    fn validate_driver_mempool_and_sync(&self, p: &mut Problems) {
        p.within(
            self.driver.tick_interval_ms,
            ceilings::TIMEOUT_MS,
            "driver.tick_interval_ms",
            "ms",
        );
        let m = &self.mempool;
        p.within(
            m.max_transfers as u64,
            ceilings::MEMPOOL_TRANSFERS,
            "mempool.max_transfers",
            "transfers",
        );
        p.check(
            m.max_seen_ids >= m.max_transfers,
            "mempool.max_seen_ids",
            || {
                format!(
                    "is {}, smaller than mempool.max_transfers ({})",
                    m.max_seen_ids, m.max_transfers
                )
            },
        );
        p.positive(m.max_drain_transfers as u64, "mempool.max_drain_transfers");
        p.at_most(
            m.nonce_gap_hold_ms,
            ceilings::TIMEOUT_MS,
            "mempool.nonce_gap_hold_ms",
            "ms",
        );
        let s = &self.sync;
        p.within(
            s.max_blocks_per_request,
            ceilings::SYNC_BLOCKS,
            "sync.max_blocks_per_request",
            "blocks",
        );
        p.positive(s.poll_interval_ms, "sync.poll_interval_ms");
    }

    /// Cross-section: the consensus limits against what the ledger holds (a batch becomes a
    /// block, a request is a signed transfer, the core's durable values go to the store).
    fn validate_consensus_against_the_ledger(&self, p: &mut Problems) {
        let s = &self.consensus;
        p.at_most(
            s.max_batch_requests as u64,
            bftledger_ledger::MAX_BLOCK_TRANSFERS as u64,
            "consensus.max_batch_requests",
            "requests (a block holds at most that many transfers)",
        );
        p.check(
            s.max_request_bytes >= SIGNED_TRANSFER_MAX_BYTES,
            "consensus.max_request_bytes",
            || {
                format!(
                    "is {} bytes; a signed transfer may need {SIGNED_TRANSFER_MAX_BYTES} bytes",
                    s.max_request_bytes
                )
            },
        );
        // The core keeps no durable value larger than its largest message (the NEW-VIEW of the
        // current view, key `N`); one the store refuses would stop the driver on every restart.
        p.check(
            s.max_message_bytes <= bftledger_ledger::store::MAX_CONSENSUS_VALUE_BYTES,
            "consensus.max_message_bytes",
            || {
                format!(
                    "is {} bytes, more than the store's largest consensus value ({} bytes): \
                     a NEW-VIEW kept for restarts could not be written",
                    s.max_message_bytes,
                    bftledger_ledger::store::MAX_CONSENSUS_VALUE_BYTES
                )
            },
        );
    }

    /// Cross-section: a client batch is admitted whole or refused `overloaded` whole (so a
    /// sender's nonces never gap), against a budget that never exceeds the admission ceiling
    /// (`load.rs`). A batch limit above that ceiling would refuse the largest legal batch
    /// every time.
    fn validate_batch_against_admission(&self, validators: usize, p: &mut Problems) {
        if self.mempool.max_transfers == 0 {
            return; // reported as a zero pool; the ceiling is judged on a usable pool only
        }
        let client_limit = crate::mempool::client_limit(self.mempool.max_transfers);
        let ceiling = crate::load::ceiling(client_limit, validators);
        p.check(
            self.api.max_batch_transfers <= ceiling,
            "api.max_batch_transfers",
            || {
                format!(
                    "is {} transfers, more than the admission ceiling ({ceiling} transfers: the \
                     clients' share of mempool.max_transfers, {client_limit}, divided by the \
                     {validators} validators): the largest batch would always be refused",
                    self.api.max_batch_transfers
                )
            },
        );
    }

    /// Cross-section: the p2p frame limits against what travels in them (consensus messages
    /// in the node's wire frames, blocks in sync responses).
    fn validate_frames(&self, p: &mut Problems) {
        let s = &self.p2p;
        let frame_cap = <crate::wire::Frame as Versioned>::MAX_BYTES;
        p.check(
            s.max_frame_bytes <= frame_cap,
            "p2p.max_frame_bytes",
            || {
                format!(
                    "is {} bytes; no consensus frame decodes beyond {frame_cap} bytes",
                    s.max_frame_bytes
                )
            },
        );
        // Every consensus message is at most consensus.max_message_bytes (the core's
        // `Config::validate` sizes each kind against it), plus the frame's own bytes.
        let frame_needed = crate::wire::consensus_frame_bytes(self.consensus.max_message_bytes);
        p.check(
            s.max_frame_bytes >= frame_needed,
            "p2p.max_frame_bytes",
            || {
                format!(
                    "is {} bytes, smaller than consensus.max_message_bytes ({} bytes) plus {} of \
                     framing: the largest consensus message could never be delivered",
                    s.max_frame_bytes,
                    self.consensus.max_message_bytes,
                    crate::wire::CONSENSUS_FRAME_OVERHEAD_BYTES
                )
            },
        );
        // A block carries a batch as large as the largest consensus frame allows; a part of a
        // snapshot has its own limit.
        let part = bftledger_host::sync::MAX_PART_RESPONSE_BYTES;
        p.check(
            s.max_sync_response_bytes >= s.max_frame_bytes.max(part),
            "p2p.max_sync_response_bytes",
            || {
                format!(
                    "is {} bytes, smaller than p2p.max_frame_bytes ({} bytes) or a part of a \
                     snapshot ({part} bytes): a block or a part could not be served",
                    s.max_sync_response_bytes, s.max_frame_bytes
                )
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `count` distinct placeholder validator keys.
    fn validators(count: usize) -> Vec<PublicKey> {
        (0..count as u32)
            .map(|i| {
                let mut seed = [3u8; 32];
                seed[..4].copy_from_slice(&i.to_le_bytes());
                bftledger_crypto::SecretKey::from_bytes(&seed).public()
            })
            .collect()
    }

    /// The keys `c` is refused under, for 4 validators (none if it is valid).
    fn problem_keys(c: &NodeConfig) -> Vec<String> {
        match c.validate(&validators(4)) {
            Ok(()) => Vec::new(),
            Err(ConfigError::Invalid(problems)) => problems.into_iter().map(|p| p.key).collect(),
            Err(e) => panic!("expected Invalid, got {e}"),
        }
    }

    /// Issue 19: a backup starts a view change when a request waits longer than the timeout, so
    /// the timeout must be able to outlast a loaded commit at 100 ms RTT, or a WAN testnet changes
    /// views with an honest primary; the adaptive base reaches that far (its ceiling), while its
    /// floor keeps a LAN failover short.
    #[test]
    fn the_adaptive_view_change_timeout_spans_a_lan_failover_and_a_loaded_wan_commit() {
        let c = NodeConfig::local_default(26600, 8080);
        let tick_ms = c.driver.tick_interval_ms;
        let ceiling_ms = c.consensus.view_change_timeout_adaptive_max_ticks * tick_ms;
        assert!(
            ceiling_ms > 4 * WAN_COMMIT_P99_MS,
            "adaptive ceiling {ceiling_ms} ms <= 4 × WAN p99 commit {WAN_COMMIT_P99_MS} ms"
        );
        assert!(
            c.consensus.view_change_timeout_wait_multiple > 0,
            "adaptation on"
        );
        let floor_ms = c.consensus.view_change_timeout_ticks * tick_ms;
        assert!(floor_ms <= 1_000, "LAN failover floor {floor_ms} ms");
    }

    #[test]
    fn local_default_is_valid_and_round_trips_through_toml() {
        let c = NodeConfig::local_default(26600, 8080);
        c.validate(&validators(4)).unwrap();
        let text = c.to_toml();
        assert_eq!(NodeConfig::parse(&text).unwrap(), c);
    }

    /// Issue 18, item 1: problems in several sections — the p2p layer's, the core's, this
    /// crate's and the ties between them — are all reported at once, each under its key.
    #[test]
    fn every_problem_is_reported_once_with_its_key() {
        let mut c = NodeConfig::local_default(1, 2);
        c.p2p.listen.clear();
        c.p2p.redial_backoff_max_ms = c.p2p.redial_backoff_initial_ms - 1;
        c.api.max_body_bytes = 0;
        c.consensus.watermark_window_seqs = 17;
        c.consensus.retransmit_ticks = 0;
        c.driver.tick_interval_ms = 0;
        c.mempool.max_transfers = 0;
        c.p2p.max_sync_response_bytes = c.p2p.max_frame_bytes - 1;
        let ConfigError::Invalid(problems) = c.validate(&validators(4)).unwrap_err() else {
            panic!("expected Invalid");
        };
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "p2p.listen",
                "p2p.redial_backoff_max_ms",
                "api.max_body_bytes",
                "consensus.retransmit_ticks",
                "consensus.watermark_window_seqs",
                "driver.tick_interval_ms",
                "mempool.max_transfers",
                "p2p.max_sync_response_bytes",
            ]
        );
        let text = ConfigError::Invalid(problems).to_string();
        assert!(text.contains("8 problem(s)"), "{text}");
        assert!(
            text.contains("consensus.watermark_window_seqs: is 17 seqs; it must be a multiple of checkpoint_interval_seqs (16 seqs)"),
            "{text}"
        );
        assert!(
            text.contains("p2p.redial_backoff_max_ms: is 199 ms, less than redial_backoff_initial_ms (200 ms)"),
            "{text}"
        );
    }

    /// A rule is reported once, by its owner: a zero consensus limit by the core's
    /// `Config::validate`, not a second time by the node.
    #[test]
    fn a_rule_is_reported_by_its_owner_only() {
        let mut c = NodeConfig::local_default(1, 2);
        c.consensus.max_request_bytes = c.consensus.max_batch_bytes + 1;
        c.consensus.view_change_timeout_ticks = c.consensus.batch_delay_ticks;
        assert_eq!(
            problem_keys(&c),
            [
                "consensus.max_request_bytes",
                "consensus.view_change_timeout_ticks"
            ]
        );
        let mut c = NodeConfig::local_default(1, 2);
        c.p2p.max_inbound_queue_frames = 0;
        assert_eq!(problem_keys(&c), ["p2p.max_inbound_queue_frames"]);
    }

    /// The cross-section checks: consensus limits against the ledger's, frames against the
    /// largest consensus message and the wire's cap.
    #[test]
    fn cross_section_limits_are_checked() {
        let mut c = NodeConfig::local_default(1, 2);
        c.consensus.max_batch_requests = bftledger_ledger::MAX_BLOCK_TRANSFERS + 1;
        c.consensus.max_request_bytes = SIGNED_TRANSFER_MAX_BYTES - 1;
        assert_eq!(
            problem_keys(&c),
            [
                "consensus.max_batch_requests",
                "consensus.max_request_bytes"
            ]
        );
        let mut c = NodeConfig::local_default(1, 2);
        c.p2p.max_frame_bytes =
            crate::wire::consensus_frame_bytes(c.consensus.max_message_bytes) - 1;
        assert_eq!(problem_keys(&c), ["p2p.max_frame_bytes"]);
        let mut c = NodeConfig::local_default(1, 2);
        c.p2p.max_frame_bytes = <crate::wire::Frame as Versioned>::MAX_BYTES + 1;
        c.p2p.max_sync_response_bytes = c.p2p.max_frame_bytes;
        c.p2p.max_inbound_queue_bytes = c.p2p.max_frame_bytes;
        c.p2p.max_outbound_queue_bytes = c.p2p.max_frame_bytes;
        assert_eq!(problem_keys(&c), ["p2p.max_frame_bytes"]);
        let mut c = NodeConfig::local_default(1, 2);
        c.consensus.max_message_bytes = bftledger_ledger::store::MAX_CONSENSUS_VALUE_BYTES + 1;
        c.p2p.max_frame_bytes = c.consensus.max_message_bytes + 1;
        c.p2p.max_inbound_queue_bytes = c.p2p.max_frame_bytes;
        c.p2p.max_outbound_queue_bytes = c.p2p.max_frame_bytes;
        assert_eq!(problem_keys(&c), ["consensus.max_message_bytes"]);
        // 18,000 client transfers / 4 validators = 4,500: a larger batch is always overloaded.
        let mut c = NodeConfig::local_default(1, 2);
        c.api.max_batch_transfers = 4_501;
        assert_eq!(problem_keys(&c), ["api.max_batch_transfers"]);
        c.api.max_batch_transfers = 4_500;
        assert!(problem_keys(&c).is_empty());
        let mut c = NodeConfig::local_default(1, 2);
        c.consensus.eager_batches_in_flight = c.consensus.watermark_window_seqs + 1;
        assert_eq!(problem_keys(&c), ["consensus.eager_batches_in_flight"]);
    }

    #[test]
    fn units_appear_in_messages() {
        let mut c = NodeConfig::local_default(1, 2);
        c.api.max_body_bytes = usize::MAX / 2;
        let err = c.validate(&validators(4)).unwrap_err().to_string();
        assert!(err.contains("api.max_body_bytes"), "{err}");
        assert!(err.contains("bytes"), "{err}");
    }

    #[test]
    fn unknown_keys_wrong_types_and_bad_addresses_are_refused() {
        let good = NodeConfig::local_default(1, 2).to_toml();
        let typo = good.replace("max_body_bytes", "max_body_byte");
        assert!(NodeConfig::parse(&typo)
            .unwrap_err()
            .contains("max_body_byte"));
        let wrong = good.replace("tick_interval_ms = 20", "tick_interval_ms = \"fast\"");
        assert!(NodeConfig::parse(&wrong).is_err());
        let addr = good.replace("/ip4/127.0.0.1/tcp/1", "not-an-addr");
        assert!(NodeConfig::parse(&addr).unwrap_err().contains("listen"));
    }

    /// Keys that a node's file never had (the p2p layer's internal limits) and the `[driver]`
    /// and `[log]` sections may be left out: a minimal file still loads.
    #[test]
    fn optional_keys_take_their_defaults() {
        let c = NodeConfig::local_default(1, 2);
        let mut text = String::new();
        for line in c.to_toml().lines() {
            let optional = [
                "max_inbound_queue_bytes",
                "max_outbound_in_flight_frames",
                "command_queue_capacity",
                "event_channel_capacity",
                "max_concurrent_sync_requests",
                "max_sync_requests_per_peer",
                "max_streams_per_connection",
                "idle_connection_timeout_ms",
                "max_non_validator_peers",
                "max_addresses_per_peer",
                "bootstrap",
                "enable_mdns",
                "[driver]",
                "tick_interval_ms",
                "[log]",
                "format",
                "filter",
            ];
            if !optional.iter().any(|key| line.starts_with(key)) {
                text.push_str(line);
                text.push('\n');
            }
        }
        assert!(!text.contains("tick_interval_ms"), "{text}");
        assert_eq!(NodeConfig::parse(&text).unwrap(), c);
    }

    #[test]
    fn relative_paths_are_resolved_against_the_config_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, NodeConfig::local_default(1, 2).to_toml()).unwrap();
        let genesis = crate::test_support::genesis("paths", 1);
        std::fs::write(dir.path().join("genesis.toml"), genesis.to_toml()).unwrap();
        let (c, loaded) = NodeConfig::load(&path).unwrap();
        assert_eq!(c.genesis_path, dir.path().join("genesis.toml"));
        assert_eq!(c.data_dir, dir.path().join("data"));
        assert_eq!(loaded, genesis);
    }

    /// Whether the node accepts `c` for `n` validators (its own checks and the core's).
    fn legal(c: &NodeConfig, n: usize) -> bool {
        c.validate(&validators(n)).is_ok()
    }

    /// The largest value in `[low, high)` that `set` makes legal (legality is monotone in it).
    fn largest_legal(
        c: &mut NodeConfig,
        n: usize,
        (mut low, mut high): (usize, usize),
        set: fn(&mut NodeConfig, usize),
    ) {
        while high - low > 1 {
            let mid = low + (high - low) / 2;
            set(c, mid);
            if legal(c, n) {
                low = mid;
            } else {
                high = mid;
            }
        }
        set(c, low);
        assert!(legal(c, n), "{low} is legal");
    }

    /// The largest legal configuration for `n` validators: the largest frame, the largest
    /// message the store keeps, full blocks, then the largest batch and window the core accepts.
    fn largest_legal_config(n: usize) -> NodeConfig {
        let mut c = NodeConfig::local_default(1, 2);
        c.p2p.max_frame_bytes = <crate::wire::Frame as Versioned>::MAX_BYTES;
        c.p2p.max_sync_response_bytes = c.p2p.max_frame_bytes;
        c.p2p.max_inbound_queue_bytes = c.p2p.max_frame_bytes;
        c.p2p.max_outbound_queue_bytes = c.p2p.max_frame_bytes;
        c.consensus.max_message_bytes = bftledger_ledger::store::MAX_CONSENSUS_VALUE_BYTES;
        c.consensus.max_batch_requests = bftledger_ledger::MAX_BLOCK_TRANSFERS;
        c.consensus.checkpoint_interval_seqs = 1;
        c.consensus.watermark_window_seqs = 2;
        c.mempool.max_transfers = crate::load::pool_for_batch(c.api.max_batch_transfers, n);
        c.mempool.max_seen_ids = c.mempool.max_transfers;
        let batch_range = (SIGNED_TRANSFER_MAX_BYTES, c.consensus.max_message_bytes);
        largest_legal(&mut c, n, batch_range, |c, bytes| {
            c.consensus.max_batch_bytes = bytes;
            c.consensus.max_request_bytes = bytes;
        });
        largest_legal(&mut c, n, (2, 1 << 20), |c, window| {
            c.consensus.watermark_window_seqs = window as u64;
        });
        c
    }

    /// Safety-holes issue, item 8 (TOCS'02 §4.4 messages, sized): for the default testnet
    /// configuration and for the largest legal one (256 validators, the ledger's maximum), the
    /// largest message of every consensus kind — a pre-prepare with a full batch, prepare,
    /// commit, checkpoint, a VIEW-CHANGE with a certificate for every seq of the window, a
    /// NEW-VIEW with a quorum of those, FETCH-BATCH — travels in a frame of at most
    /// `p2p.max_frame_bytes`, and every durable value the core can write (the NEW-VIEW under
    /// key `N` the largest) is accepted by the RocksDB store and read back by the core.
    #[test]
    fn largest_consensus_messages_fit_the_frame_and_the_store() {
        use crate::wire::Frame;
        use bftledger_crypto::encoding::Versioned;
        use bftledger_ledger::{ConsensusOp, Store};
        let default = NodeConfig::local_default(1, 2);
        default.validate(&validators(4)).expect("default");
        for (n, c) in [(4, default), (256, largest_legal_config(256))] {
            let consensus = c.consensus_config(validators(n));
            for message in bftledger_consensus::bounds::largest_messages(&consensus) {
                let kind = message.message.kind();
                let frame = Frame::Consensus(message).to_bytes();
                assert!(frame.len() <= c.p2p.max_frame_bytes, "n={n} {kind}");
                Frame::decode(&frame, c.p2p.max_frame_bytes, c.consensus.max_message_bytes)
                    .expect(kind);
            }
            let dir = tempfile::tempdir().unwrap();
            let genesis = crate::test_support::genesis("sizes", 1);
            let store = Store::create(dir.path(), &genesis).unwrap();
            for op in bftledger_consensus::bounds::largest_durable_values(&consensus) {
                let bftledger_consensus::PersistOp::Put { key, value } = op else {
                    unreachable!("puts only")
                };
                let len = value.len();
                store
                    .consensus_put_batch([ConsensusOp::Put { key, value }])
                    .unwrap_or_else(|e| panic!("n={n}: {len} bytes: {e}"));
            }
            let entries = store.consensus_entries().unwrap();
            bftledger_consensus::durable::read(entries).expect("the core reads them back");
        }
    }
}
