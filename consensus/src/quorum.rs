//! Quorum sizes (§4.1: n = 3f+1; strong certificates 2f+1, weak certificates f+1) and vote
//! collection by distinct replica.

use crate::ReplicaId;
use bftledger_crypto::Signature;
use std::collections::BTreeMap;

/// Which certificate size a rule needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuorumKind {
    /// 2f+1: any two such sets intersect in at least one correct replica (§4.2, §4.3, §4.4).
    Strong,
    /// f+1: at least one member is correct (§4.4 "join a higher view" rule).
    Weak,
}

/// Quorum arithmetic for a cluster of n replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quorum {
    /// Number of replicas.
    pub n: usize,
    /// Faults tolerated, (n-1)/3.
    pub f: usize,
    /// Test-only, deliberately unsafe: replaces 2f+1 (see `Config::mutant_weak_quorum`).
    pub strong_override: Option<usize>,
}

impl Quorum {
    /// Quorums for `n` replicas.
    pub fn new(n: usize) -> Quorum {
        Quorum {
            n,
            f: n.saturating_sub(1) / 3,
            strong_override: None,
        }
    }

    /// Quorums of a cluster configuration (honours the simulator's mutant override).
    pub fn from_config(config: &crate::Config) -> Quorum {
        Quorum {
            strong_override: config.mutant_quorum,
            ..Quorum::new(config.n())
        }
    }

    /// 2f+1 (or the mutant override, which the simulator must catch).
    pub fn strong(&self) -> usize {
        self.strong_override.unwrap_or(2 * self.f + 1)
    }

    /// f+1.
    pub fn weak(&self) -> usize {
        self.f + 1
    }

    /// Size of a certificate of `kind`.
    pub fn quorum_size(&self, kind: QuorumKind) -> usize {
        match kind {
            QuorumKind::Strong => self.strong(),
            QuorumKind::Weak => self.weak(),
        }
    }

    /// §4.2: prepared needs the pre-prepare plus 2f prepares from distinct backups.
    pub fn prepares_needed(&self) -> usize {
        self.strong() - 1
    }
}

/// Signed votes by distinct replicas for values of type `T` (e.g. a digest): at most one vote
/// per replica is kept (the first; a second different vote from the same replica is refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteSet<T> {
    votes: BTreeMap<ReplicaId, (T, Signature)>,
}

impl<T> Default for VoteSet<T> {
    fn default() -> Self {
        VoteSet {
            votes: BTreeMap::new(),
        }
    }
}

impl<T: PartialEq + Clone> VoteSet<T> {
    /// Adds `from`'s vote; returns false if `from` already voted (same or different value).
    pub fn insert(&mut self, from: ReplicaId, value: T, signature: Signature) -> bool {
        if self.votes.contains_key(&from) {
            return false;
        }
        self.votes.insert(from, (value, signature));
        true
    }

    /// Number of distinct replicas that voted for `value`.
    pub fn count(&self, value: &T) -> usize {
        self.votes.values().filter(|(v, _)| v == value).count()
    }

    /// The (replica, signature) pairs of the votes for `value`, ascending by replica.
    pub fn signers(&self, value: &T) -> Vec<(ReplicaId, Signature)> {
        self.votes
            .iter()
            .filter(|(_, (v, _))| v == value)
            .map(|(r, (_, s))| (*r, *s))
            .collect()
    }

    /// Whether `from` voted.
    pub fn contains(&self, from: ReplicaId) -> bool {
        self.votes.contains_key(&from)
    }

    /// Number of votes.
    pub fn len(&self) -> usize {
        self.votes.len()
    }

    /// No votes.
    pub fn is_empty(&self) -> bool {
        self.votes.is_empty()
    }

    /// Drops `from`'s vote.
    pub fn remove(&mut self, from: ReplicaId) {
        self.votes.remove(&from);
    }

    /// Iterates over (replica, value, signature).
    pub fn iter_signed(&self) -> impl Iterator<Item = (ReplicaId, &T, &Signature)> {
        self.votes.iter().map(|(r, (v, s))| (*r, v, s))
    }

    /// Iterates over (replica, value).
    pub fn iter(&self) -> impl Iterator<Item = (ReplicaId, &T)> {
        self.votes.iter().map(|(r, (v, _))| (*r, v))
    }
}
