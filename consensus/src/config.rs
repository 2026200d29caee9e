//! Limits and timeouts of a replica, checked once by [`Config::validate`].
//!
//! Every queue, log and message the core keeps is bounded by a field of [`Settings`]
//! (TigerBeetle style: units last in names). [`Settings`] is also the `[consensus]` section of the
//! node's TOML, deserialized as it is: one set of names, from the file to the core. The
//! validator set is not a setting: it comes from the genesis, and [`Config`] joins the two.
//! The defaults of [`Settings::default`] suit a small LAN cluster driven by a 10 ms tick.

use crate::error::{ConfigError, ConfigProblem};
use crate::mutants::Mutant;
use crate::{ReplicaId, SeqNum, View};
use bftledger_crypto::PublicKey;
use serde::{Deserialize, Serialize};

/// Slots re-sent (or relayed) per peer and retransmission period: a protocol constant, not a
/// setting (it bounds what one period may cost a correct replica, whatever the peers do).
pub(crate) const RETRANSMIT_SLOTS_PER_PEER: usize = 4;

/// The tunable limits and timeouts of the core, identical on every replica of a cluster.
///
/// The node reads them from its TOML (`[consensus]`, these field names as keys, unknown keys
/// refused); times are logical ticks, whose length in real time is the driver's business.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// K: a checkpoint is taken every K sequence numbers (§4.3).
    pub checkpoint_interval_seqs: SeqNum,
    /// L: the high watermark is low + L; a multiple of K, at least 2K (§4.3).
    pub watermark_window_seqs: SeqNum,
    /// Largest number of requests in one batch.
    pub max_batch_requests: usize,
    /// Largest sum of request payload sizes in one batch, in bytes.
    pub max_batch_bytes: usize,
    /// The primary proposes a partial batch once its oldest pending request waited this long.
    pub batch_delay_ticks: u64,
    /// While fewer than this many batches are proposed and not yet executed at the primary, it
    /// proposes a partial batch at once instead of waiting `batch_delay_ticks`: an idle pipeline
    /// adds no batching delay, a busy one gathers requests. 0: always wait for the delay.
    #[serde(default = "default_eager_batches_in_flight")]
    pub eager_batches_in_flight: u64,
    /// Floor of the view-change timeout's adaptive base (see `timer.rs`): the base before any
    /// wait is measured in a view, and the least it ever is. What a failover costs on a LAN.
    /// The timeout is the base doubled per consecutive failed view change (§4.4, TOCS'02
    /// §4.5.2).
    pub view_change_timeout_ticks: u64,
    /// Cap on the doubled view-change timeout.
    pub view_change_timeout_max_ticks: u64,
    /// The adaptive base is this many times the longest of the recent waits (the view-change
    /// timer's start to the execution of what it waited for) measured in the current view; 0
    /// turns adaptation off (the base is then `view_change_timeout_ticks`).
    #[serde(default = "default_view_change_timeout_wait_multiple")]
    pub view_change_timeout_wait_multiple: u64,
    /// Waits kept (at most one per executed batch; the newest are kept).
    #[serde(default = "default_view_change_timeout_samples")]
    pub view_change_timeout_samples: usize,
    /// Ceiling of the adaptive base: the most a primary, correct or not, can make the measured
    /// waits raise it to. At least `view_change_timeout_ticks`; the doubling cap
    /// `view_change_timeout_max_ticks` bounds it too when lower.
    #[serde(default = "default_view_change_timeout_adaptive_max_ticks")]
    pub view_change_timeout_adaptive_max_ticks: u64,
    /// Own messages that may have been lost are re-sent every this many ticks.
    pub retransmit_ticks: u64,
    /// How many views ahead of the current one view-change messages are kept (per peer: one
    /// per view), bounding what a flooding peer can make us store.
    pub max_future_views: View,
    /// Digests of executed requests remembered for duplicate suppression.
    pub executed_requests_remembered: usize,
    /// Requests a replica keeps waiting to be ordered (beyond: rejected).
    pub max_pending_requests: usize,
    /// Largest single request payload in bytes.
    pub max_request_bytes: usize,
    /// Largest encoded [`crate::SignedMessage`] in bytes (enforced by decode). [`Config::validate`]
    /// checks that the largest message of every kind fits (`bounds.rs`).
    pub max_message_bytes: usize,
}

impl Default for Settings {
    /// Defaults suited to a LAN cluster and a 10 ms tick.
    fn default() -> Settings {
        Settings {
            checkpoint_interval_seqs: 16,
            watermark_window_seqs: 64,
            max_batch_requests: 1024,
            max_batch_bytes: 1 << 20,
            batch_delay_ticks: 1,
            eager_batches_in_flight: default_eager_batches_in_flight(),
            view_change_timeout_ticks: 200,
            view_change_timeout_max_ticks: 200 * 64,
            view_change_timeout_wait_multiple: default_view_change_timeout_wait_multiple(),
            view_change_timeout_samples: default_view_change_timeout_samples(),
            view_change_timeout_adaptive_max_ticks: default_view_change_timeout_adaptive_max_ticks(
            ),
            retransmit_ticks: 50,
            max_future_views: 16,
            executed_requests_remembered: 1 << 18,
            max_pending_requests: 65_536,
            max_request_bytes: 64 * 1024,
            max_message_bytes: 16 << 20,
        }
    }
}

/// One batch in flight: the next partial batch goes when the previous one executes (or when the
/// batch delay expires), so a batch holds what arrived during one round of the protocol.
fn default_eager_batches_in_flight() -> u64 {
    1
}

/// Four times the longest recent wait (see `timer.rs`).
fn default_view_change_timeout_wait_multiple() -> u64 {
    4
}

/// 256 waits: at a few batches per second the window spans about a minute, so a pause is
/// remembered for that long.
fn default_view_change_timeout_samples() -> usize {
    256
}

/// 3,000 ticks (30 s at a 10 ms tick): far above four loaded WAN commits, and the most a
/// Byzantine primary delaying its proposals can make a replica wait before suspecting it.
fn default_view_change_timeout_adaptive_max_ticks() -> u64 {
    3_000
}

/// Configuration shared by all replicas of one cluster (it must be identical everywhere): the
/// validator set of the genesis and the [`Settings`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The validators; `ReplicaId` i is `validators[i]`. n = len, n = 3f+1 (extra replicas
    /// beyond 3f+1 are allowed and f = (n-1)/3).
    pub validators: Vec<PublicKey>,
    /// Limits and timeouts.
    pub settings: Settings,
    /// Test-only and deliberately unsafe: one protocol rule broken on purpose (see
    /// [`crate::mutants`]), set by [`Config::with_mutant`] for the simulator's mutation tests.
    /// `None` in every real configuration.
    #[doc(hidden)]
    #[serde(default)]
    pub mutant: Option<Mutant>,
}

impl Config {
    /// A configuration with the default [`Settings`].
    pub fn new(validators: Vec<PublicKey>) -> Config {
        Config::with_settings(validators, Settings::default())
    }

    /// A configuration of `validators` with `settings`.
    pub fn with_settings(validators: Vec<PublicKey>, settings: Settings) -> Config {
        Config {
            validators,
            settings,
            mutant: None,
        }
    }

    /// Deliberately unsafe, simulator only: breaks one protocol rule (see [`Mutant`]); the
    /// simulator must catch the result.
    #[doc(hidden)]
    pub fn with_mutant(mut self, mutant: Mutant) -> Config {
        self.mutant = Some(mutant);
        self
    }

    /// Whether the simulator switched `mutant` on (never in a real configuration).
    pub(crate) fn mutated(&self, mutant: Mutant) -> bool {
        self.mutant == Some(mutant)
    }

    /// Number of replicas.
    pub fn n(&self) -> usize {
        self.validators.len()
    }

    /// Faults tolerated: f = (n-1)/3.
    pub fn f(&self) -> usize {
        self.n().saturating_sub(1) / 3
    }

    /// The primary of `view`: v mod n (§4.1).
    pub fn primary(&self, view: View) -> ReplicaId {
        (view % self.n() as u64) as ReplicaId
    }

    /// The one owner of every rule of a consensus configuration: checks the validator set and
    /// every setting, and returns **every** broken rule (one [`ConfigProblem`] each, named by
    /// its setting), so that an operator fixes a file in one pass. The node calls it once at
    /// start-up; [`crate::Replica::new`] calls it again only to assert it (an invalid config
    /// reaching the core is a bug of the host).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let validators_ok = self.validate_validators(&mut problems);
        self.settings.validate_limits(&mut problems);
        // The message sizes grow with n (quorum-sized certificates, replica ids): they mean
        // nothing for a validator set that is itself refused.
        if validators_ok {
            self.validate_message_bounds(&mut problems);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }

    /// At least 4 distinct validators; whether that holds.
    fn validate_validators(&self, problems: &mut Vec<ConfigProblem>) -> bool {
        let before = problems.len();
        let n = self.n();
        // n >= 3f+1 with f >= 1.
        if n < 4 {
            problems.push(ConfigProblem::TooFewValidators { n });
        }
        for (i, key) in self.validators.iter().enumerate() {
            if let Some(first) = self.validators[..i].iter().position(|k| k == key) {
                problems.push(ConfigProblem::DuplicateValidator {
                    first: first as ReplicaId,
                    second: i as ReplicaId,
                });
            }
        }
        problems.len() == before
    }
}

impl Settings {
    /// The rules among the settings themselves (the message sizes, which also depend on the
    /// validator count, are `Config::validate_message_bounds`).
    fn validate_limits(&self, problems: &mut Vec<ConfigProblem>) {
        let positive: [(&'static str, u64); 12] = [
            ("checkpoint_interval_seqs", self.checkpoint_interval_seqs),
            ("watermark_window_seqs", self.watermark_window_seqs),
            ("max_batch_requests", self.max_batch_requests as u64),
            ("max_batch_bytes", self.max_batch_bytes as u64),
            ("view_change_timeout_ticks", self.view_change_timeout_ticks),
            ("retransmit_ticks", self.retransmit_ticks),
            (
                "view_change_timeout_samples",
                self.view_change_timeout_samples as u64,
            ),
            ("max_future_views", self.max_future_views),
            (
                "executed_requests_remembered",
                self.executed_requests_remembered as u64,
            ),
            ("max_pending_requests", self.max_pending_requests as u64),
            ("max_request_bytes", self.max_request_bytes as u64),
            ("max_message_bytes", self.max_message_bytes as u64),
        ];
        for (key, value) in positive {
            if value == 0 {
                problems.push(ConfigProblem::Zero { key });
            }
        }
        let (window, interval) = (self.watermark_window_seqs, self.checkpoint_interval_seqs);
        // A zero K is reported above; L is judged against a usable K only.
        if interval > 0 && (!window.is_multiple_of(interval) || window < 2 * interval) {
            problems.push(ConfigProblem::WindowNotMultiple { window, interval });
        }
        if self.max_request_bytes > self.max_batch_bytes {
            problems.push(ConfigProblem::RequestLargerThanBatch {
                request: self.max_request_bytes,
                batch: self.max_batch_bytes,
            });
        }
        if self.view_change_timeout_ticks > 0
            && self.view_change_timeout_ticks <= self.batch_delay_ticks
        {
            problems.push(ConfigProblem::TimeoutNotAboveBatchDelay {
                timeout: self.view_change_timeout_ticks,
                batch_delay: self.batch_delay_ticks,
            });
        }
        if self.eager_batches_in_flight > window {
            problems.push(ConfigProblem::EagerBeyondWindow {
                eager: self.eager_batches_in_flight,
                window,
            });
        }
        if self.view_change_timeout_max_ticks < self.view_change_timeout_ticks {
            problems.push(ConfigProblem::TimeoutCapTooSmall {
                base: self.view_change_timeout_ticks,
                max: self.view_change_timeout_max_ticks,
            });
        }
        if self.view_change_timeout_adaptive_max_ticks < self.view_change_timeout_ticks {
            problems.push(ConfigProblem::AdaptiveCeilingBelowFloor {
                ceiling: self.view_change_timeout_adaptive_max_ticks,
                floor: self.view_change_timeout_ticks,
            });
        }
    }
}
