//! Limits and timeouts of a replica, checked once by [`Config::validate`].
//!
//! Every queue, log and message the core keeps is bounded by a field here (TigerBeetle style:
//! units last in names). The defaults of [`Config::new`] suit a small LAN cluster driven by a
//! 10 ms tick.

use crate::error::ConfigError;
use crate::mutants::Mutant;
use crate::{ReplicaId, SeqNum, View};
use bftledger_crypto::PublicKey;
use serde::{Deserialize, Serialize};

/// Slots re-sent (or relayed) per peer and retransmission period: a protocol constant, not a
/// setting (it bounds what one period may cost a correct replica, whatever the peers do).
pub(crate) const RETRANSMIT_SLOTS_PER_PEER: usize = 4;

/// Configuration shared by all replicas of one cluster (it must be identical everywhere).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The validators; `ReplicaId` i is `validators[i]`. n = len, n = 3f+1 (extra replicas
    /// beyond 3f+1 are allowed and f = (n-1)/3).
    pub validators: Vec<PublicKey>,
    /// K: a checkpoint is taken every K sequence numbers (§4.3).
    pub checkpoint_interval: SeqNum,
    /// L: the high watermark is low + L; a multiple of K (§4.3).
    pub watermark_window: SeqNum,
    /// Largest number of requests in one batch.
    pub max_batch_requests: usize,
    /// Largest sum of request payload sizes in one batch, in bytes.
    pub max_batch_bytes: usize,
    /// The primary proposes a partial batch once its oldest pending request waited this long.
    pub batch_delay_ticks: u64,
    /// Base view-change timeout; doubled per consecutive failed view change (§4.4).
    pub view_change_timeout_ticks: u64,
    /// Cap on the doubled view-change timeout.
    pub view_change_timeout_max_ticks: u64,
    /// Own messages that may have been lost are re-sent every this many ticks.
    pub retransmit_ticks: u64,
    /// Requests a replica keeps waiting to be ordered (beyond: rejected).
    pub max_pending_requests: usize,
    /// Largest single request payload in bytes.
    pub max_request_bytes: usize,
    /// Largest encoded [`crate::SignedMessage`] in bytes (enforced by decode). [`Config::validate`]
    /// checks that the largest message of every kind fits (`bounds.rs`).
    pub max_message_bytes: usize,
    /// How many views ahead of the current one view-change messages are kept (per peer: one
    /// per view), bounding what a flooding peer can make us store.
    pub max_future_views: View,
    /// Digests of executed requests remembered for duplicate suppression.
    pub executed_requests_remembered: usize,
    /// Test-only and deliberately unsafe: one protocol rule broken on purpose (see
    /// [`crate::mutants`]), set by [`Config::with_mutant`] for the simulator's mutation tests.
    /// `None` in every real configuration.
    #[doc(hidden)]
    #[serde(default)]
    pub mutant: Option<Mutant>,
}

impl Config {
    /// A configuration with defaults suited to a LAN cluster and a 10 ms tick.
    pub fn new(validators: Vec<PublicKey>) -> Config {
        Config {
            validators,
            checkpoint_interval: 16,
            watermark_window: 64,
            max_batch_requests: 1024,
            max_batch_bytes: 1 << 20,
            batch_delay_ticks: 1,
            view_change_timeout_ticks: 200,
            view_change_timeout_max_ticks: 200 * 64,
            retransmit_ticks: 50,
            max_pending_requests: 65_536,
            max_request_bytes: 64 * 1024,
            max_message_bytes: 16 << 20,
            max_future_views: 16,
            executed_requests_remembered: 1 << 18,
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

    /// Checks every limit; a replica refuses to start with an invalid config.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let n = self.n();
        if n < 4 {
            return Err(ConfigError::TooFewValidators { n });
        }
        for (i, key) in self.validators.iter().enumerate() {
            if let Some(first) = self.validators[..i].iter().position(|k| k == key) {
                return Err(ConfigError::DuplicateValidator {
                    first: first as ReplicaId,
                    second: i as ReplicaId,
                });
            }
        }
        let positive: [(&'static str, u64); 11] = [
            ("checkpoint_interval", self.checkpoint_interval),
            ("watermark_window", self.watermark_window),
            ("max_batch_requests", self.max_batch_requests as u64),
            ("max_batch_bytes", self.max_batch_bytes as u64),
            ("view_change_timeout_ticks", self.view_change_timeout_ticks),
            ("retransmit_ticks", self.retransmit_ticks),
            ("max_pending_requests", self.max_pending_requests as u64),
            ("max_request_bytes", self.max_request_bytes as u64),
            ("max_message_bytes", self.max_message_bytes as u64),
            ("max_future_views", self.max_future_views),
            (
                "executed_requests_remembered",
                self.executed_requests_remembered as u64,
            ),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(ConfigError::Zero { field });
        }
        let (window, interval) = (self.watermark_window, self.checkpoint_interval);
        if !window.is_multiple_of(interval) || window < 2 * interval {
            return Err(ConfigError::WindowNotMultiple { window, interval });
        }
        if self.max_request_bytes > self.max_batch_bytes {
            return Err(ConfigError::RequestLargerThanBatch {
                request: self.max_request_bytes,
                batch: self.max_batch_bytes,
            });
        }
        self.validate_message_bounds()?;
        if self.view_change_timeout_max_ticks < self.view_change_timeout_ticks {
            return Err(ConfigError::TimeoutCapTooSmall {
                base: self.view_change_timeout_ticks,
                max: self.view_change_timeout_max_ticks,
            });
        }
        Ok(())
    }
}
