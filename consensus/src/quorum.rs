//! Quorum sizes for any n >= 3f+1, and vote collection by distinct replica.
//!
//! This is the one place where a quorum is computed: the core's rules, the certificates
//! (commit, prepared, checkpoint), the node's proofs and the CLI's `--verify` all ask [`Quorum`].

use crate::mutants::Mutant;
use crate::ReplicaId;
use bftledger_crypto::Signature;
use std::collections::BTreeMap;

/// Which certificate size a rule needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuorumKind {
    /// ceil((n+f+1)/2): any two such sets intersect in at least f+1 replicas, so in a correct
    /// one (§4.2, §4.3, §4.4). 2f+1 when n = 3f+1.
    Strong,
    /// f+1: at least one member is correct (§4.4 "join a higher view" rule, §6.2 fetch).
    Weak,
}

/// Quorum arithmetic for a cluster of n replicas.
///
/// OSDI'99 §4.1 assumes n = 3f+1, where the strong quorum is 2f+1. For other n (5, 6, 8, ...)
/// 2f+1 is not enough: two sets of 3 out of 5 share one replica, possibly the faulty one, and
/// two sets of 3 out of 6 may share none. The strong quorum Q must satisfy 2Q - n >= f+1 (two
/// quorums share a correct replica) and Q <= n-f (the correct replicas alone form one); the
/// smallest such Q is ceil((n+f+1)/2) (BFT-SMaRt, Bessani et al. DSN'14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quorum {
    /// Number of replicas.
    pub n: usize,
    /// Faults tolerated, floor((n-1)/3).
    pub f: usize,
    /// Test-only, deliberately unsafe: a quorum mutant of the simulator weakens one rule.
    pub mutant: Option<Mutant>,
}

impl Quorum {
    /// Quorums for `n` replicas.
    pub fn new(n: usize) -> Quorum {
        Quorum {
            n,
            f: n.saturating_sub(1) / 3,
            mutant: None,
        }
    }

    /// Quorums of a cluster configuration (honours the simulator's quorum mutants).
    pub fn from_config(config: &crate::Config) -> Quorum {
        Quorum {
            mutant: config.mutant,
            ..Quorum::new(config.n())
        }
    }

    /// ceil((n+f+1)/2) (or a quorum mutant's size, which the simulator must catch).
    pub fn strong(&self) -> usize {
        match self.mutant {
            Some(Mutant::WeakQuorum) => 2 * self.f,
            Some(Mutant::ClassicQuorum) => 2 * self.f + 1,
            _ => (self.n + self.f + 1).div_ceil(2),
        }
    }

    /// The strong quorum, one fewer under `mutant` (a classic mutant weakening one rule only).
    fn strong_unless(&self, mutant: Mutant) -> usize {
        if self.mutant == Some(mutant) {
            self.strong() - 1
        } else {
            self.strong()
        }
    }

    /// §4.2: COMMITs from distinct replicas that make a prepared slot committed-local.
    pub fn commits_needed(&self) -> usize {
        self.strong_unless(Mutant::CommittedOnFewerCommits)
    }

    /// §4.3: matching CHECKPOINT votes that make a checkpoint stable (and a stable proof valid).
    pub fn checkpoint_votes_needed(&self) -> usize {
        self.strong_unless(Mutant::StableOnFewerCheckpoints)
    }

    /// §4.4: VIEW-CHANGEs from distinct replicas in a NEW-VIEW's V.
    pub fn view_changes_needed(&self) -> usize {
        self.strong_unless(Mutant::NewViewOnFewerViewChanges)
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

    /// §4.2: prepared needs the pre-prepare plus prepares from distinct backups, a strong
    /// quorum in all (2f prepares when n = 3f+1).
    pub fn prepares_needed(&self) -> usize {
        self.strong_unless(Mutant::PreparedOnFewerPrepares) - 1
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
