//! The versions of the account tree the store keeps so that it can prove an account at the
//! stable checkpoint, while execution runs ahead of it.
//!
//! An account proof must be checked against a state root that 2f+1 validators signed. The
//! commit certificate covers only the batch, so the root comes from the **stable checkpoint**:
//! 2f+1 CHECKPOINT(seq, d) signatures, where d is the hash of the block at height seq, whose
//! header holds the state root after it (see [`crate::block`]). A checkpoint becomes stable after
//! this replica has executed it, often a few blocks later, so the tree of every checkpoint height
//! is kept when it is executed (cheap: a clone shares every node; only what later blocks change
//! is copied) and the ones below the stable checkpoint are dropped when it moves.

use crate::state_tree::StateTree;
use std::collections::BTreeMap;

/// Most tree versions kept at once. Checkpoint heights between the stable checkpoint and the
/// executed height are at most the consensus watermark window divided by the checkpoint
/// interval (plus the stable one and [`KEPT_BELOW_STABLE`]); a replica never executes past its
/// high watermark, so this cap is only reached by a configuration far outside the validated
/// one, and then the oldest unstable version is the one dropped (it could no longer be proven
/// at, nothing more).
pub const MAX_KEPT_TREES: usize = 64;

/// Checkpoint versions kept below the stable checkpoint: a replica serves state-transfer parts
/// only from versions it holds (never by reverting its state on a peer's request, which would
/// let one peer make it redo any number of blocks), and a lagging replica asks for the newest
/// checkpoint it has seen certified, which its donors may have made stable and moved past
/// while its transfer runs. One version more covers that race; an older target is answered
/// `Unavailable` and the asker moves to a newer checkpoint.
pub const KEPT_BELOW_STABLE: usize = 1;

/// The stable checkpoint proofs are given against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StableCheckpoint {
    /// Its height (the consensus sequence number).
    pub height: u64,
    /// Its 2f+1 CHECKPOINT signatures (the consensus crate's `CheckpointProof` encoding; opaque
    /// here, as commit certificates are).
    pub certificate: Vec<u8>,
}

/// Tree versions by height, and the stable checkpoint.
#[derive(Debug, Default)]
pub(super) struct KeptTrees {
    /// Keep the tree of every height that is a multiple of this (0: keep none).
    every: u64,
    trees: BTreeMap<u64, StateTree>,
    stable: Option<StableCheckpoint>,
}

impl KeptTrees {
    /// Keeps the trees of heights that are multiples of `interval` (the checkpoint interval).
    pub(super) fn keep_every(&mut self, interval: u64) {
        self.every = interval;
    }

    /// Block `height` was executed, giving `tree`: kept if `height` is a checkpoint height.
    pub(super) fn executed(&mut self, height: u64, tree: &StateTree) {
        if self.every > 0 && height.is_multiple_of(self.every) {
            self.keep(height, tree);
        }
    }

    /// Keeps `tree` as the version at `height` (a checkpoint height).
    pub(super) fn keep(&mut self, height: u64, tree: &StateTree) {
        self.trees.insert(height, tree.clone());
        while self.trees.len() > MAX_KEPT_TREES {
            self.trees.pop_first();
        }
    }

    /// Whether the version at `height` is kept.
    pub(super) fn tree(&self, height: u64) -> Option<&StateTree> {
        self.trees.get(&height)
    }

    pub(super) fn has(&self, height: u64) -> bool {
        self.trees.contains_key(&height)
    }

    /// The checkpoint at `height` is stable: proofs are given at it from now on, and the
    /// versions below it are dropped, except the [`KEPT_BELOW_STABLE`] highest (for a lagging
    /// replica whose state transfer started before this checkpoint became stable).
    pub(super) fn stable(&mut self, checkpoint: StableCheckpoint) {
        let above = self.trees.split_off(&checkpoint.height);
        let below = std::mem::replace(&mut self.trees, above);
        self.trees
            .extend(below.into_iter().rev().take(KEPT_BELOW_STABLE));
        self.stable = Some(checkpoint);
    }

    /// The stable checkpoint and its tree, if this store holds that version.
    pub(super) fn provable(&self) -> Option<(&StableCheckpoint, &StateTree)> {
        let stable = self.stable.as_ref()?;
        Some((stable, self.trees.get(&stable.height)?))
    }

    /// Forgets every version (the state was replaced by a snapshot).
    pub(super) fn clear(&mut self) {
        self.trees.clear();
        self.stable = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Account;

    fn tree(balance: u64) -> StateTree {
        StateTree::from_accounts([([1; 32], Account { balance, nonce: 0 })])
    }

    #[test]
    fn checkpoint_heights_are_kept_until_a_later_checkpoint_is_stable() {
        let mut kept = KeptTrees::default();
        kept.keep_every(4);
        for h in 1..=12 {
            kept.executed(h, &tree(h));
        }
        assert!(kept.has(4) && kept.has(8) && kept.has(12) && !kept.has(5));
        assert!(kept.provable().is_none(), "nothing is stable yet");
        kept.stable(StableCheckpoint {
            height: 8,
            certificate: vec![7],
        });
        assert!(
            kept.has(4) && kept.has(8) && kept.has(12),
            "one below the stable"
        );
        kept.stable(StableCheckpoint {
            height: 12,
            certificate: vec![8],
        });
        assert!(!kept.has(4) && kept.has(8) && kept.has(12));
        let (stable, t) = kept.provable().unwrap();
        assert_eq!(stable.height, 12);
        assert_eq!(t.root(), tree(12).root());
    }

    #[test]
    fn the_number_of_kept_versions_is_capped() {
        let mut kept = KeptTrees::default();
        kept.keep_every(1);
        for h in 1..=(MAX_KEPT_TREES as u64 + 10) {
            kept.executed(h, &tree(h));
        }
        assert_eq!(kept.trees.len(), MAX_KEPT_TREES);
        assert!(!kept.has(10) && kept.has(11));
    }
}
