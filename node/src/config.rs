//! The node's TOML configuration, and its validation at start-up.
//!
//! Every limit carries its unit in its name (`_bytes`, `_ms`, `_ticks`, `_seqs`, `_transfers`), so
//! a config file reads without the docs. Unknown keys are refused (a typo must not silently fall
//! back to a default). [`NodeConfig::validate`] reports **every** problem at once, one line each,
//! naming the key and what is wrong, so an operator fixes a file in one pass.
//!
//! Relative paths in the file are relative to the directory of the file itself, so a testnet
//! directory can be moved as a whole.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Largest encoded signed transfer, in bytes (a consensus request must fit one).
const SIGNED_TRANSFER_MAX_BYTES: usize =
    <bftledger_ledger::SignedTransfer as bftledger_crypto::encoding::Versioned>::MAX_BYTES;

/// Largest config file accepted, in bytes.
pub const MAX_CONFIG_FILE_BYTES: u64 = 1 << 20;

/// The whole configuration of one validator node.
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
    pub p2p: P2pSection,
    /// The HTTP JSON API.
    pub api: ApiSection,
    /// Consensus timing and limits (passed to the PBFT core).
    pub consensus: ConsensusSection,
    /// The pool of client transfers waiting to be ordered.
    pub mempool: MempoolSection,
    /// State transfer (catch-up) from peers.
    pub sync: SyncSection,
    /// Logging.
    #[serde(default)]
    pub log: LogSection,
}

/// `[p2p]`: libp2p listening, discovery and framing limits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct P2pSection {
    /// Multiaddrs to listen on, e.g. `/ip4/127.0.0.1/tcp/26600`.
    pub listen: Vec<String>,
    /// Multiaddrs of peers to dial at start (with or without a `/p2p/<peer id>` suffix).
    #[serde(default)]
    pub bootstrap: Vec<String>,
    /// Discover peers on the local network with mDNS.
    #[serde(default)]
    pub enable_mdns: bool,
    /// Largest frame accepted on the consensus and sync protocols, in bytes.
    pub max_frame_bytes: usize,
    /// Largest sync response (blocks or a snapshot) accepted, in bytes.
    pub max_sync_response_bytes: usize,
    /// Inbound frames queued per peer before new ones are dropped.
    pub max_inbound_queue_frames: usize,
    /// First delay before re-dialing a lost validator, in milliseconds (doubles per failure).
    pub redial_backoff_min_ms: u64,
    /// Largest delay between re-dials, in milliseconds.
    pub redial_backoff_max_ms: u64,
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

/// `[consensus]`: timing and limits of the PBFT core.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConsensusSection {
    /// Real time per logical tick, in milliseconds.
    pub tick_interval_ms: u64,
    /// Checkpoint every K sequence numbers.
    pub checkpoint_interval_seqs: u64,
    /// Watermark window L, in sequence numbers (a multiple of K).
    pub watermark_window_seqs: u64,
    /// Most client requests in one batch.
    pub max_batch_requests: usize,
    /// Largest batch, in bytes of request payload.
    pub max_batch_bytes: usize,
    /// Ticks the primary waits to fill a batch.
    pub batch_delay_ticks: u64,
    /// Base view-change timeout, in ticks (doubles per failed view).
    pub view_change_timeout_ticks: u64,
    /// Cap on the doubled view-change timeout, in ticks.
    pub view_change_timeout_max_ticks: u64,
    /// Own messages that may have been lost are re-sent every this many ticks.
    pub retransmit_ticks: u64,
    /// How many views ahead of the current one view-change messages are kept.
    pub max_future_views: u64,
    /// Digests of executed requests remembered for duplicate suppression.
    pub executed_requests_remembered: usize,
    /// Most requests the core keeps waiting to be ordered.
    pub max_pending_requests: usize,
    /// Largest client request (an encoded signed transfer), in bytes.
    pub max_request_bytes: usize,
    /// Largest consensus message, in bytes.
    pub max_message_bytes: usize,
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
    /// Most blocks asked for in one sync request.
    pub max_blocks_per_request: u64,
    /// How long to wait for one sync answer, in milliseconds.
    pub request_timeout_ms: u64,
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
    pub key: &'static str,
    /// What is wrong, in words.
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
    /// The file is not valid TOML for this schema (unknown key, wrong type, missing key).
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, which names the line and key.
        message: String,
    },
    /// The values are well-formed but unusable; one entry per problem.
    #[error("{}", render_problems(.0))]
    Invalid(Vec<ConfigProblem>),
}

fn render_problems(problems: &[ConfigProblem]) -> String {
    let mut out = format!("config has {} problem(s):", problems.len());
    for p in problems {
        out.push_str(&format!("\n  - {}: {}", p.key, p.problem));
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
    fn check(&mut self, ok: bool, key: &'static str, problem: impl FnOnce() -> String) {
        if !ok {
            self.0.push(ConfigProblem {
                key,
                problem: problem(),
            });
        }
    }

    fn positive(&mut self, value: u64, key: &'static str) {
        self.check(value > 0, key, || "must be greater than 0".into());
    }

    /// `value` is a positive limit no larger than its ceiling `max`.
    fn within(&mut self, value: u64, max: u64, key: &'static str, unit: &str) {
        self.positive(value, key);
        self.at_most(value, max, key, unit);
    }

    fn at_most(&mut self, value: u64, max: u64, key: &'static str, unit: &str) {
        self.check(value <= max, key, || {
            format!("is {value} {unit}; the most allowed is {max} {unit}")
        });
    }
}

/// Upper bounds on limits: a value above them is almost certainly a typo (an extra zero), and
/// would let a peer or client make the node allocate without bound.
mod ceilings {
    pub const FRAME_BYTES: u64 = 64 << 20;
    pub const QUEUE_FRAMES: u64 = 1_000_000;
    pub const BODY_BYTES: u64 = 64 << 20;
    pub const BATCH_TRANSFERS: u64 = 100_000;
    pub const TIMEOUT_MS: u64 = 600_000;
    pub const MEMPOOL_TRANSFERS: u64 = 10_000_000;
    pub const SYNC_BLOCKS: u64 = 10_000;
}

impl NodeConfig {
    /// Reads, parses and validates the file at `path`, resolving relative paths against its
    /// directory.
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
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
        config.validate()?;
        Ok(config)
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
            p2p: P2pSection {
                listen: vec![format!("/ip4/127.0.0.1/tcp/{p2p_port}")],
                bootstrap: vec![],
                enable_mdns: false,
                max_frame_bytes: 4 << 20,
                max_sync_response_bytes: 32 << 20,
                max_inbound_queue_frames: 1_024,
                redial_backoff_min_ms: 200,
                redial_backoff_max_ms: 10_000,
            },
            api: ApiSection {
                listen: SocketAddr::from(([127, 0, 0, 1], api_port)),
                max_body_bytes: 1 << 20,
                max_batch_transfers: 1_000,
                request_timeout_ms: 10_000,
            },
            consensus: ConsensusSection {
                tick_interval_ms: 20,
                checkpoint_interval_seqs: 16,
                watermark_window_seqs: 64,
                max_batch_requests: 500,
                max_batch_bytes: 1 << 20,
                batch_delay_ticks: 1,
                view_change_timeout_ticks: 100,
                view_change_timeout_max_ticks: 100 * 32,
                retransmit_ticks: 25,
                max_future_views: 16,
                executed_requests_remembered: 1 << 20,
                max_pending_requests: 20_000,
                max_request_bytes: 1024,
                max_message_bytes: 3 << 20,
            },
            mempool: MempoolSection {
                max_transfers: 20_000,
                max_seen_ids: 100_000,
                max_drain_transfers: 1_000,
                nonce_gap_hold_ms: 500,
            },
            sync: SyncSection {
                max_blocks_per_request: 64,
                request_timeout_ms: 5_000,
                poll_interval_ms: 1_000,
            },
            log: LogSection::default(),
        }
    }

    /// The consensus core's config for this node's limits and the genesis `validators`.
    pub fn consensus_config(
        &self,
        validators: Vec<bftledger_crypto::PublicKey>,
    ) -> bftledger_consensus::Config {
        let s = &self.consensus;
        let mut c = bftledger_consensus::Config::new(validators);
        c.checkpoint_interval = s.checkpoint_interval_seqs;
        c.watermark_window = s.watermark_window_seqs;
        c.max_batch_requests = s.max_batch_requests;
        c.max_batch_bytes = s.max_batch_bytes;
        c.batch_delay_ticks = s.batch_delay_ticks;
        c.view_change_timeout_ticks = s.view_change_timeout_ticks;
        c.view_change_timeout_max_ticks = s.view_change_timeout_max_ticks;
        c.retransmit_ticks = s.retransmit_ticks;
        c.max_pending_requests = s.max_pending_requests;
        c.max_request_bytes = s.max_request_bytes;
        c.max_message_bytes = s.max_message_bytes;
        c.max_future_views = s.max_future_views;
        c.executed_requests_remembered = s.executed_requests_remembered;
        c
    }

    /// Checks every value; returns all problems found, one per key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut p = Problems(Vec::new());
        self.validate_p2p(&mut p);
        self.validate_api(&mut p);
        self.validate_consensus(&mut p);
        self.validate_mempool_and_sync(&mut p);
        p.check(
            self.log
                .filter
                .parse::<tracing_subscriber::EnvFilter>()
                .is_ok(),
            "log.filter",
            || format!("{:?} is not a valid tracing filter", self.log.filter),
        );
        if p.0.is_empty() {
            // The core's own checks (with placeholder validators: the real set comes from the
            // genesis) catch any rule not repeated above.
            let placeholder = (1..=4u8)
                .map(|i| bftledger_crypto::SecretKey::from_bytes(&[i; 32]).public())
                .collect();
            self.consensus_config(placeholder).validate().map_err(|e| {
                ConfigError::Invalid(vec![ConfigProblem {
                    key: "consensus",
                    problem: e.to_string(),
                }])
            })
        } else {
            Err(ConfigError::Invalid(p.0))
        }
    }

    fn validate_p2p(&self, p: &mut Problems) {
        let s = &self.p2p;
        p.check(!s.listen.is_empty(), "p2p.listen", || {
            "needs at least one multiaddr, e.g. \"/ip4/127.0.0.1/tcp/26600\"".into()
        });
        for addr in &s.listen {
            p.check(
                addr.parse::<libp2p::Multiaddr>().is_ok(),
                "p2p.listen",
                || format!("{addr:?} is not a multiaddr"),
            );
        }
        for addr in &s.bootstrap {
            p.check(
                addr.parse::<libp2p::Multiaddr>().is_ok(),
                "p2p.bootstrap",
                || format!("{addr:?} is not a multiaddr"),
            );
        }
        p.within(
            s.max_frame_bytes as u64,
            ceilings::FRAME_BYTES,
            "p2p.max_frame_bytes",
            "bytes",
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
        p.check(
            s.max_sync_response_bytes >= s.max_frame_bytes,
            "p2p.max_sync_response_bytes",
            || {
                format!(
                    "is {} bytes, smaller than p2p.max_frame_bytes ({} bytes): a block could not be served",
                    s.max_sync_response_bytes, s.max_frame_bytes
                )
            },
        );
        p.at_most(
            s.max_sync_response_bytes as u64,
            crate::p2p::FRAME_BYTES_CEILING as u64,
            "p2p.max_sync_response_bytes",
            "bytes",
        );
        p.within(
            s.max_inbound_queue_frames as u64,
            ceilings::QUEUE_FRAMES,
            "p2p.max_inbound_queue_frames",
            "frames",
        );
        p.positive(s.redial_backoff_min_ms, "p2p.redial_backoff_min_ms");
        p.check(
            s.redial_backoff_max_ms >= s.redial_backoff_min_ms,
            "p2p.redial_backoff_max_ms",
            || {
                format!(
                    "is {} ms, less than p2p.redial_backoff_min_ms ({} ms)",
                    s.redial_backoff_max_ms, s.redial_backoff_min_ms
                )
            },
        );
        p.at_most(
            s.redial_backoff_max_ms,
            ceilings::TIMEOUT_MS,
            "p2p.redial_backoff_max_ms",
            "ms",
        );
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

    fn validate_consensus(&self, p: &mut Problems) {
        let s = &self.consensus;
        p.within(
            s.tick_interval_ms,
            ceilings::TIMEOUT_MS,
            "consensus.tick_interval_ms",
            "ms",
        );
        p.positive(
            s.checkpoint_interval_seqs,
            "consensus.checkpoint_interval_seqs",
        );
        p.check(
            s.checkpoint_interval_seqs > 0
                && s.watermark_window_seqs >= 2 * s.checkpoint_interval_seqs
                && s.watermark_window_seqs
                    .is_multiple_of(s.checkpoint_interval_seqs),
            "consensus.watermark_window_seqs",
            || {
                format!(
                    "is {} seqs; it must be a multiple of consensus.checkpoint_interval_seqs ({}) \
                     and at least twice it",
                    s.watermark_window_seqs, s.checkpoint_interval_seqs
                )
            },
        );
        p.within(
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
        p.positive(s.max_request_bytes as u64, "consensus.max_request_bytes");
        p.check(
            s.max_batch_bytes >= s.max_request_bytes,
            "consensus.max_batch_bytes",
            || {
                format!(
                    "is {} bytes, smaller than consensus.max_request_bytes ({} bytes)",
                    s.max_batch_bytes, s.max_request_bytes
                )
            },
        );
        p.check(
            s.max_message_bytes > s.max_batch_bytes,
            "consensus.max_message_bytes",
            || {
                format!(
                    "is {} bytes; it must exceed consensus.max_batch_bytes ({} bytes) because a \
                     pre-prepare carries a whole batch",
                    s.max_message_bytes, s.max_batch_bytes
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
        p.positive(
            s.view_change_timeout_ticks,
            "consensus.view_change_timeout_ticks",
        );
        p.check(
            s.view_change_timeout_ticks > s.batch_delay_ticks,
            "consensus.view_change_timeout_ticks",
            || {
                format!(
                    "is {} ticks, not more than consensus.batch_delay_ticks ({} ticks): \
                     every batch would trigger a view change",
                    s.view_change_timeout_ticks, s.batch_delay_ticks
                )
            },
        );
        p.positive(
            s.max_pending_requests as u64,
            "consensus.max_pending_requests",
        );
    }

    fn validate_mempool_and_sync(&self, p: &mut Problems) {
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
        p.within(
            s.request_timeout_ms,
            ceilings::TIMEOUT_MS,
            "sync.request_timeout_ms",
            "ms",
        );
        p.positive(s.poll_interval_ms, "sync.poll_interval_ms");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_default_is_valid_and_round_trips_through_toml() {
        let c = NodeConfig::local_default(26600, 8080);
        c.validate().unwrap();
        let text = c.to_toml();
        assert_eq!(NodeConfig::parse(&text).unwrap(), c);
    }

    #[test]
    fn every_problem_is_reported_once_with_its_key() {
        let mut c = NodeConfig::local_default(1, 2);
        c.api.max_body_bytes = 0;
        c.consensus.watermark_window_seqs = 17;
        c.p2p.listen = vec!["not-an-addr".into()];
        c.mempool.max_transfers = 0;
        let ConfigError::Invalid(problems) = c.validate().unwrap_err() else {
            panic!("expected Invalid");
        };
        let keys: Vec<_> = problems.iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            [
                "p2p.listen",
                "api.max_body_bytes",
                "consensus.watermark_window_seqs",
                "mempool.max_transfers"
            ]
        );
        let text = ConfigError::Invalid(problems).to_string();
        assert!(text.contains("4 problem(s)"), "{text}");
        assert!(text.contains("not-an-addr"), "{text}");
    }

    #[test]
    fn units_appear_in_messages() {
        let mut c = NodeConfig::local_default(1, 2);
        c.api.max_body_bytes = usize::MAX / 2;
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("api.max_body_bytes"), "{err}");
        assert!(err.contains("bytes"), "{err}");
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_refused() {
        let good = NodeConfig::local_default(1, 2).to_toml();
        let typo = good.replace("max_body_bytes", "max_body_byte");
        assert!(NodeConfig::parse(&typo)
            .unwrap_err()
            .contains("max_body_byte"));
        let wrong = good.replace("tick_interval_ms = 20", "tick_interval_ms = \"fast\"");
        assert!(NodeConfig::parse(&wrong).is_err());
    }

    #[test]
    fn relative_paths_are_resolved_against_the_config_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, NodeConfig::local_default(1, 2).to_toml()).unwrap();
        let c = NodeConfig::load(&path).unwrap();
        assert_eq!(c.genesis_path, dir.path().join("genesis.toml"));
        assert_eq!(c.data_dir, dir.path().join("data"));
    }

    /// `count` distinct placeholder validator keys.
    fn validators(count: usize) -> Vec<bftledger_crypto::PublicKey> {
        (0..count as u32)
            .map(|i| {
                let mut seed = [3u8; 32];
                seed[..4].copy_from_slice(&i.to_le_bytes());
                bftledger_crypto::SecretKey::from_bytes(&seed).public()
            })
            .collect()
    }

    /// Whether the node accepts `c` and the core accepts it for `n` validators.
    fn legal(c: &NodeConfig, n: usize) -> bool {
        c.validate().is_ok() && c.consensus_config(validators(n)).validate().is_ok()
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
        c.p2p.max_frame_bytes = ceilings::FRAME_BYTES as usize;
        c.p2p.max_sync_response_bytes = c.p2p.max_frame_bytes;
        c.consensus.max_message_bytes = bftledger_ledger::store::MAX_CONSENSUS_VALUE_BYTES;
        c.consensus.max_batch_requests = bftledger_ledger::MAX_BLOCK_TRANSFERS;
        c.consensus.checkpoint_interval_seqs = 1;
        c.consensus.watermark_window_seqs = 2;
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
        default.validate().expect("default");
        for (n, c) in [(4, default), (256, largest_legal_config(256))] {
            let consensus = c.consensus_config(validators(n));
            for message in bftledger_consensus::bounds::largest_messages(&consensus) {
                let kind = message.message.kind();
                let frame = Frame::Consensus(message).to_bytes();
                assert!(frame.len() <= c.p2p.max_frame_bytes, "n={n} {kind}");
                Frame::decode(&frame, c.p2p.max_frame_bytes).expect(kind);
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
