//! The authenticated account tree: a sparse binary Merkle tree over the accounts, keyed by the
//! SHA-256 of the account's public key, whose root is the state root.
//!
//! # Root (how an external verifier recomputes it)
//!
//! ```text
//! path(k)        = SHA-256(k), read as 256 bits, most significant bit of byte 0 first
//! leaf(k, a)     = SHA-256( "bftledger/state/leaf/v2" || k (32 bytes)
//!                           || balance (u64, 8 bytes big-endian) || nonce (u64, 8 bytes big-endian) )
//! node(l, r)     = SHA-256( "bftledger/state/node/v2" || l || r )
//! hash(S, d)     = 32 zero bytes                       if S is empty
//!                = leaf(k, a)                          if S = {(k, a)}
//!                = node(hash(S0, d+1), hash(S1, d+1))  otherwise, where Sb = the accounts of S
//!                                                      whose path has bit d equal to b
//! state_root     = hash(all stored accounts, 0)
//! ```
//!
//! (Tags are ASCII without quotes or terminator; `nonce` is the account's last used nonce; an
//! account whose record is `(balance 0, nonce 0)` is never stored.) A subtree holding one account
//! is that account's leaf, wherever it sits: the tree is as deep as the accounts' paths need to
//! be told apart (about log2 of the account count), not 256 levels. The leaf and node tags keep a
//! leaf from being read as a node and back; SHA-256's collision resistance makes the root bind
//! every account, and the empty hash (zero bytes) is no SHA-256 output anyone can find.
//!
//! # Why this shape
//!
//! Executing a block changes k accounts; the tree re-hashes only their paths, O(k log n) for n
//! accounts (the 256-bucket hash it replaced re-hashed whole buckets, O(n) per block once every
//! bucket is touched). Keys are hashed into paths so that nobody can choose where an account sits:
//! an attacker who grinds public keys to share a prefix buys one level per doubling of work. Nodes
//! are shared between versions (`Arc`), so keeping the tree of an earlier height (the stable
//! checkpoint's, for proofs) costs only what changed since. Proofs ([`AccountProof`]) are the
//! sibling hashes along an account's path: one hash per level, about 20 for a million accounts.

use crate::state::Account;
use bftledger_crypto::Digest;
use std::sync::Arc;

const LEAF_TAG: &[u8] = b"bftledger/state/leaf/v2";
const NODE_TAG: &[u8] = b"bftledger/state/node/v2";

/// Bits in a path, so the most sibling hashes a proof can need.
pub const PATH_BITS: usize = 256;

/// The path of an account: where it sits in the tree.
pub fn path_of(key: &[u8; 32]) -> [u8; 32] {
    Digest::of_small(key).0
}

fn bit(path: &[u8; 32], depth: usize) -> bool {
    path[depth / 8] >> (7 - depth % 8) & 1 == 1
}

/// Bytes hashed for a leaf: tag, key, balance, nonce (fixed lengths, plain concatenation).
const LEAF_INPUT_BYTES: usize = LEAF_TAG.len() + 32 + 8 + 8;
/// Bytes hashed for a node: tag and two hashes.
const NODE_INPUT_BYTES: usize = NODE_TAG.len() + 32 + 32;

/// The hash of one account's leaf (see the module docs).
pub fn leaf_hash(key: &[u8; 32], account: &Account) -> Digest {
    let mut input = [0u8; LEAF_INPUT_BYTES];
    let (tag, rest) = input.split_at_mut(LEAF_TAG.len());
    tag.copy_from_slice(LEAF_TAG);
    rest[..32].copy_from_slice(key);
    rest[32..40].copy_from_slice(&account.balance.to_be_bytes());
    rest[40..].copy_from_slice(&account.nonce.to_be_bytes());
    Digest::of_small(&input)
}

fn node_hash(left: &Digest, right: &Digest) -> Digest {
    let mut input = [0u8; NODE_INPUT_BYTES];
    let (tag, rest) = input.split_at_mut(NODE_TAG.len());
    tag.copy_from_slice(NODE_TAG);
    rest[..32].copy_from_slice(left.as_bytes());
    rest[32..].copy_from_slice(right.as_bytes());
    Digest::of_small(&input)
}

/// One account in the tree (its hash is kept by its parent).
#[derive(Debug, Clone)]
struct Leaf {
    /// `path_of(key)`, kept so that an update need not hash the key again to find the leaf.
    path: [u8; 32],
    key: [u8; 32],
    account: Account,
}

/// Two subtrees that hold at least two accounts between them, and their hashes. A parent keeps
/// its children's hashes so that re-hashing a path reads the sibling's hash from the node on the
/// path instead of from the sibling: one memory access per level instead of two, which is what
/// a path costs once the tree no longer fits in the caches.
#[derive(Debug, Clone)]
struct Inner {
    left: Tree,
    right: Tree,
    left_hash: Digest,
    right_hash: Digest,
}

/// A (sub)tree; cloning it is cheap (nodes are shared; a shared node is copied before a change).
#[derive(Debug, Clone, Default)]
enum Tree {
    #[default]
    Empty,
    Leaf(Arc<Leaf>),
    Inner(Arc<Inner>),
}

/// A subtree and its hash.
type Hashed = (Tree, Digest);

const EMPTY: Hashed = (Tree::Empty, Digest::ZERO);

impl Tree {
    fn leaf(path: [u8; 32], key: [u8; 32], account: Account) -> Hashed {
        let hash = leaf_hash(&key, &account);
        (Tree::Leaf(Arc::new(Leaf { path, key, account })), hash)
    }

    /// The canonical join of two sibling subtrees: an empty side and a single leaf collapse into
    /// the leaf, so a subtree with one account is always that account's leaf.
    fn join(left: Hashed, right: Hashed) -> Hashed {
        match (&left.0, &right.0) {
            (Tree::Empty, Tree::Empty) => EMPTY,
            (Tree::Empty, Tree::Leaf(_)) => right,
            (Tree::Leaf(_), Tree::Empty) => left,
            _ => {
                let hash = node_hash(&left.1, &right.1);
                let inner = Inner {
                    left: left.0,
                    right: right.0,
                    left_hash: left.1,
                    right_hash: right.1,
                };
                (Tree::Inner(Arc::new(inner)), hash)
            }
        }
    }

    /// The subtree at `depth` of `entries` (sorted by path, distinct, every one stored).
    fn build(depth: usize, entries: &[Change]) -> Hashed {
        match entries {
            [] => EMPTY,
            [one] => match one.account {
                Some(a) => Tree::leaf(one.path, one.key, a),
                None => EMPTY,
            },
            _ => {
                assert!(
                    depth < PATH_BITS,
                    "two accounts with one path at depth {depth}"
                );
                let split = entries.partition_point(|c| !bit(&c.path, depth));
                Tree::join(
                    Tree::build(depth + 1, &entries[..split]),
                    Tree::build(depth + 1, &entries[split..]),
                )
            }
        }
    }

    /// Applies `changes` to this subtree (at `depth`) and returns its new hash; `changes` are
    /// sorted by path, distinct, not empty, and share this subtree's prefix. Only the changed
    /// paths are re-hashed; a node no other version shares is changed in place (no allocation),
    /// a shared one is copied first.
    fn update(&mut self, depth: usize, changes: &[Change]) -> Digest {
        let (tree, hash) = match self {
            Tree::Empty => {
                let stored: Vec<Change> = changes
                    .iter()
                    .filter(|c| c.account.is_some())
                    .cloned()
                    .collect();
                Tree::build(depth, &stored)
            }
            Tree::Leaf(leaf) => match changes {
                [only] if only.path == leaf.path => match only.account {
                    Some(account) => {
                        let leaf = Arc::make_mut(leaf);
                        leaf.account = account;
                        return leaf_hash(&leaf.key, &account);
                    }
                    None => EMPTY,
                },
                _ => {
                    let mut merged: Vec<Change> = changes
                        .iter()
                        .filter(|c| c.account.is_some())
                        .cloned()
                        .collect();
                    if !changes.iter().any(|c| c.path == leaf.path) {
                        let at = merged.partition_point(|c| c.path < leaf.path);
                        merged.insert(
                            at,
                            Change {
                                path: leaf.path,
                                key: leaf.key,
                                account: Some(leaf.account),
                            },
                        );
                    }
                    Tree::build(depth, &merged)
                }
            },
            Tree::Inner(node) => {
                let split = changes.partition_point(|c| !bit(&c.path, depth));
                let inner = Arc::make_mut(node);
                if split > 0 {
                    inner.left_hash = inner.left.update(depth + 1, &changes[..split]);
                }
                if split < changes.len() {
                    inner.right_hash = inner.right.update(depth + 1, &changes[split..]);
                }
                match (&inner.left, &inner.right) {
                    (Tree::Empty, Tree::Empty | Tree::Leaf(_)) | (Tree::Leaf(_), Tree::Empty) => {
                        Tree::join(
                            (std::mem::take(&mut inner.left), inner.left_hash),
                            (std::mem::take(&mut inner.right), inner.right_hash),
                        )
                    }
                    _ => return node_hash(&inner.left_hash, &inner.right_hash),
                }
            }
        };
        *self = tree;
        hash
    }
}

/// One account's new record for [`StateTree::update`] (`None`: the account is gone).
#[derive(Debug, Clone)]
struct Change {
    path: [u8; 32],
    key: [u8; 32],
    account: Option<Account>,
}

impl Change {
    fn new(key: [u8; 32], account: Account) -> Change {
        Change {
            path: path_of(&key),
            key,
            account: (!account.is_empty()).then_some(account),
        }
    }
}

/// The tree of one version of the state. Cloning it is O(1) and shares every node, so a
/// version can be kept (for proofs at the stable checkpoint) while execution goes on.
#[derive(Debug, Clone)]
pub struct StateTree {
    root: Tree,
    root_hash: Digest,
}

impl Default for StateTree {
    /// The tree of no accounts.
    fn default() -> StateTree {
        StateTree {
            root: Tree::Empty,
            root_hash: Digest::ZERO,
        }
    }
}

impl StateTree {
    /// The tree of these accounts (any order; default records are skipped; a key given twice
    /// keeps its last record).
    pub fn from_accounts(accounts: impl IntoIterator<Item = ([u8; 32], Account)>) -> StateTree {
        let entries = sorted_changes(accounts);
        let stored: Vec<Change> = entries
            .into_iter()
            .filter(|c| c.account.is_some())
            .collect();
        let (root, root_hash) = Tree::build(0, &stored);
        StateTree { root, root_hash }
    }

    /// The state root (see the module docs).
    pub fn root(&self) -> Digest {
        self.root_hash
    }

    /// This tree with the accounts' new records (a default record removes the account; a key
    /// given twice keeps its last record). Costs O(k log n) hashes for k changes.
    pub fn update(&mut self, changes: impl IntoIterator<Item = ([u8; 32], Account)>) {
        let changes = sorted_changes(changes);
        if !changes.is_empty() {
            warm_paths(&self.root, &changes);
            self.root_hash = self.root.update(0, &changes);
        }
    }

    /// The account's record in this version (the default record if absent) and the proof of it.
    pub fn prove(&self, key: &[u8; 32]) -> (Account, AccountProof) {
        let path = path_of(key);
        let mut siblings = Vec::new();
        let mut at = &self.root;
        loop {
            match at {
                Tree::Empty => {
                    return (
                        Account::default(),
                        AccountProof {
                            siblings,
                            terminal: Terminal::Empty,
                        },
                    )
                }
                Tree::Leaf(leaf) if leaf.key == *key => {
                    return (
                        leaf.account,
                        AccountProof {
                            siblings,
                            terminal: Terminal::Account,
                        },
                    )
                }
                Tree::Leaf(leaf) => {
                    return (
                        Account::default(),
                        AccountProof {
                            siblings,
                            terminal: Terminal::OtherAccount {
                                key: leaf.key,
                                account: leaf.account,
                            },
                        },
                    )
                }
                Tree::Inner(node) => {
                    let depth = siblings.len();
                    if bit(&path, depth) {
                        siblings.push(node.left_hash);
                        at = &node.right;
                    } else {
                        siblings.push(node.right_hash);
                        at = &node.left;
                    }
                }
            }
        }
    }
}

impl StateTree {
    /// The content of `region` in this version: its accounts if they are at most
    /// `max_accounts`, else its two halves' hashes (see [`RegionContent`]). Costs a walk down
    /// to the region and at most `max_accounts` + 1 leaves read.
    pub fn region(&self, region: &Region, max_accounts: usize) -> RegionContent {
        let mut siblings = Vec::new();
        let mut at = &self.root;
        while siblings.len() < usize::from(region.depth) {
            let Tree::Inner(node) = at else { break };
            if bit(&region.prefix, siblings.len()) {
                siblings.push(node.left_hash);
                at = &node.right;
            } else {
                siblings.push(node.right_hash);
                at = &node.left;
            }
        }
        let mut accounts = Vec::new();
        // One account always fits: a leaf is never split.
        if collect(at, max_accounts.max(1), &mut accounts) {
            return RegionContent::Accounts { siblings, accounts };
        }
        let Tree::Inner(node) = at else {
            unreachable!("only a subtree of two accounts or more can hold more than the limit");
        };
        RegionContent::Split {
            siblings,
            left: node.left_hash,
            right: node.right_hash,
        }
    }
}

/// Reads the nodes on the paths of `changes` one level at a time across all of them, so that
/// the cache misses of different paths overlap. The update that follows walks one path at a
/// time: each level's node is needed to find the next, so on a tree larger than the caches it
/// waits for one miss per level, and `Arc::make_mut`'s atomic compare-exchange on a cold
/// reference count is where `perf` saw it wait. Touching the reference count and the hashes of
/// every node first, level by level, issues those loads independently of one another (about 9 %
/// faster in memory at 1M accounts, interleaved runs; nothing changes: reads only).
fn warm_paths(root: &Tree, changes: &[Change]) {
    let mut cursors: Vec<(&Tree, &[u8; 32])> = changes.iter().map(|c| (root, &c.path)).collect();
    let mut depth = 0;
    while !cursors.is_empty() && depth < PATH_BITS {
        cursors.retain_mut(|(at, path)| match at {
            Tree::Inner(node) => {
                std::hint::black_box(Arc::strong_count(node));
                std::hint::black_box(node.left_hash.0[0]);
                *at = if bit(path, depth) {
                    &node.right
                } else {
                    &node.left
                };
                true
            }
            Tree::Leaf(leaf) => {
                std::hint::black_box(Arc::strong_count(leaf));
                std::hint::black_box(leaf.account.balance);
                false
            }
            Tree::Empty => false,
        });
        depth += 1;
    }
}

/// Sorted by path, one change per key (the last given), records normalised.
fn sorted_changes(changes: impl IntoIterator<Item = ([u8; 32], Account)>) -> Vec<Change> {
    let mut out: Vec<Change> = changes
        .into_iter()
        .map(|(k, a)| Change::new(k, a))
        .collect();
    // Stable sort keeps the given order among equal paths; keep the last of each.
    out.sort_by_key(|a| a.path);
    let mut deduped: Vec<Change> = Vec::with_capacity(out.len());
    for c in out {
        match deduped.last_mut() {
            Some(last) if last.path == c.path => *last = c,
            _ => deduped.push(c),
        }
    }
    deduped
}

/// What ends an account's path in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminal {
    /// The account's own leaf: it exists, with the record the proof is given for.
    Account,
    /// An empty subtree: the account does not exist.
    Empty,
    /// Another account's leaf, alone in the subtree where the account would be: it does not exist.
    OtherAccount {
        /// That account's key.
        key: [u8; 32],
        /// That account's record.
        account: Account,
    },
}

/// The proof that an account has a record (or none) under a state root: the sibling hashes from
/// the root down to where the account's path ends, and what ends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountProof {
    /// Sibling hashes, the root's children first; at most [`PATH_BITS`].
    pub siblings: Vec<Digest>,
    /// What the path ends in.
    pub terminal: Terminal,
}

/// Why an account proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// More siblings than a path has bits.
    #[error("the proof has {got} sibling hashes; a path has at most {PATH_BITS}")]
    TooDeep {
        /// Siblings in the proof.
        got: usize,
    },
    /// The proof ends in the account's leaf but the claimed record is the default one (such
    /// accounts are never stored), or it ends elsewhere but the claimed record is not default.
    #[error("the proof's terminal does not match the claimed record")]
    TerminalMismatch,
    /// The other account of a non-inclusion proof is the account itself, is a default record,
    /// or does not share the path prefix where it is claimed to sit.
    #[error("the proof's other account cannot sit where the proof puts it")]
    OtherAccountMisplaced,
    /// A region's proof does not have the shape its region needs.
    #[error("the region proof does not fit its region: {0}")]
    BadRegion(&'static str),
    /// The hashes do not lead to the root.
    #[error("the proof leads to state root {computed}, not {expected}")]
    RootMismatch {
        /// The root the proof computes.
        computed: Digest,
        /// The root it was checked against.
        expected: Digest,
    },
}

impl AccountProof {
    /// Checks that under `root` the account `key` has the record `account` (the default record:
    /// the account does not exist).
    pub fn verify(
        &self,
        root: &Digest,
        key: &[u8; 32],
        account: &Account,
    ) -> Result<(), ProofError> {
        let depth = self.siblings.len();
        if depth > PATH_BITS {
            return Err(ProofError::TooDeep { got: depth });
        }
        let path = path_of(key);
        let hash = match (&self.terminal, account.is_empty()) {
            (Terminal::Account, false) => leaf_hash(key, account),
            (Terminal::Empty, true) => Digest::ZERO,
            (
                Terminal::OtherAccount {
                    key: other,
                    account: other_account,
                },
                true,
            ) => {
                let other_path = path_of(other);
                let shares_prefix = (0..depth).all(|d| bit(&other_path, d) == bit(&path, d));
                if other == key || other_account.is_empty() || !shares_prefix {
                    return Err(ProofError::OtherAccountMisplaced);
                }
                leaf_hash(other, other_account)
            }
            _ => return Err(ProofError::TerminalMismatch),
        };
        check_root(root, fold(&path, &self.siblings, hash))
    }
}

/// The hash at the root of a subtree whose hash is `hash`, at depth `siblings.len()` on `path`,
/// given the siblings along the way (the root's children first).
fn fold(path: &[u8; 32], siblings: &[Digest], mut hash: Digest) -> Digest {
    for (d, sibling) in siblings.iter().enumerate().rev() {
        hash = if bit(path, d) {
            node_hash(sibling, &hash)
        } else {
            node_hash(&hash, sibling)
        };
    }
    hash
}

fn check_root(root: &Digest, computed: Digest) -> Result<(), ProofError> {
    if computed != *root {
        return Err(ProofError::RootMismatch {
            computed,
            expected: *root,
        });
    }
    Ok(())
}

/// `hash(S, depth)` of the module docs for the leaves `set` (sorted by path, distinct), from
/// scratch.
fn subtree_hash(depth: usize, set: &[([u8; 32], Digest)]) -> Digest {
    match set {
        [] => Digest::ZERO,
        [(_, leaf)] => *leaf,
        _ => {
            let split = set.partition_point(|(p, _)| !bit(p, depth));
            node_hash(
                &subtree_hash(depth + 1, &set[..split]),
                &subtree_hash(depth + 1, &set[split..]),
            )
        }
    }
}

/// A region of the tree: the accounts whose path begins with the first `depth` bits of
/// `prefix` (its later bits are zero). State transfer fetches a state region by region: the
/// whole tree first ([`Region::ALL`]), and a region too large for one message as its two halves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Region {
    /// The path bits that place the region (bits at `depth` and past it are zero).
    pub prefix: [u8; 32],
    /// How many bits of `prefix` count: 0 is the whole tree, at most [`PATH_BITS`].
    pub depth: u16,
}

impl Region {
    /// The whole tree.
    pub const ALL: Region = Region {
        prefix: [0; 32],
        depth: 0,
    };

    /// Whether this is a region at all: depth at most [`PATH_BITS`], no bit set past it (so
    /// one region has one encoding).
    pub fn is_canonical(&self) -> bool {
        usize::from(self.depth) <= PATH_BITS
            && (usize::from(self.depth)..PATH_BITS).all(|d| !bit(&self.prefix, d))
    }

    /// Whether the account with this path lies in the region.
    pub fn contains(&self, path: &[u8; 32]) -> bool {
        (0..usize::from(self.depth)).all(|d| bit(path, d) == bit(&self.prefix, d))
    }

    /// Its two halves (none at full depth: a path is one account).
    pub fn halves(&self) -> Option<[Region; 2]> {
        let depth = usize::from(self.depth);
        if depth >= PATH_BITS {
            return None;
        }
        let mut right = self.prefix;
        right[depth / 8] |= 1 << (7 - depth % 8);
        Some([
            Region {
                prefix: self.prefix,
                depth: self.depth + 1,
            },
            Region {
                prefix: right,
                depth: self.depth + 1,
            },
        ])
    }
}

/// What a region holds, with the proof of it under the root ([`StateTree::region`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RegionContent {
    /// Every account of the subtree where the region's path ends, in path order: the region's
    /// own accounts, or, where the path ends above the region's depth in a leaf, that one
    /// account (which may lie outside the region). `siblings` lead from that subtree to the root.
    Accounts {
        /// Sibling hashes, the root's children first; at most the region's depth.
        siblings: Vec<Digest>,
        /// The accounts.
        accounts: Vec<([u8; 32], Account)>,
    },
    /// The region holds more accounts than asked for at once: the hashes of its two halves
    /// (fetch them one at a time), and the siblings from the region to the root.
    Split {
        /// Sibling hashes, exactly the region's depth of them.
        siblings: Vec<Digest>,
        /// Hash of the region's first half.
        left: Digest,
        /// Hash of its second half.
        right: Digest,
    },
}

impl RegionContent {
    /// Checks this content of `region` under `root`: [`RegionContent::Accounts`] are exactly the
    /// accounts of the subtree they claim, [`RegionContent::Split`] is a node of the tree (so
    /// splitting ends where the tree does, whoever answers).
    pub fn verify(&self, root: &Digest, region: &Region) -> Result<(), ProofError> {
        let depth = usize::from(region.depth);
        if !region.is_canonical() {
            return Err(ProofError::BadRegion("not a canonical region"));
        }
        match self {
            RegionContent::Accounts { siblings, accounts } => {
                let at = siblings.len();
                if at > depth {
                    return Err(ProofError::BadRegion(
                        "more siblings than the region's depth",
                    ));
                }
                if at < depth && accounts.len() > 1 {
                    return Err(ProofError::BadRegion(
                        "a path that ends above the region ends in one account at most",
                    ));
                }
                let mut leaves = Vec::with_capacity(accounts.len());
                for (key, account) in accounts {
                    let path = path_of(key);
                    let placed = (0..at).all(|d| bit(&path, d) == bit(&region.prefix, d));
                    if account.is_empty() || !placed {
                        return Err(ProofError::OtherAccountMisplaced);
                    }
                    leaves.push((path, leaf_hash(key, account)));
                }
                leaves.sort_by_key(|l| l.0);
                if leaves.windows(2).any(|w| w[0].0 == w[1].0) {
                    return Err(ProofError::BadRegion("an account given twice"));
                }
                check_root(
                    root,
                    fold(&region.prefix, siblings, subtree_hash(at, &leaves)),
                )
            }
            RegionContent::Split {
                siblings,
                left,
                right,
            } => {
                if siblings.len() != depth || depth >= PATH_BITS {
                    return Err(ProofError::BadRegion(
                        "a split needs one sibling per level of the region",
                    ));
                }
                check_root(root, fold(&region.prefix, siblings, node_hash(left, right)))
            }
        }
    }
}

/// Appends the accounts of `tree` to `out` in path order; false (and `out` incomplete) as soon
/// as they would be more than `max`.
fn collect(tree: &Tree, max: usize, out: &mut Vec<([u8; 32], Account)>) -> bool {
    match tree {
        Tree::Empty => true,
        Tree::Leaf(leaf) => {
            out.push((leaf.key, leaf.account));
            out.len() <= max
        }
        Tree::Inner(node) => collect(&node.left, max, out) && collect(&node.right, max, out),
    }
}

/// The state root of an account list computed from scratch, straight from the module docs'
/// definition (independent of [`StateTree`]'s incremental updates; used to check them).
/// Any order; default records are skipped.
pub fn root_of<'a>(accounts: impl IntoIterator<Item = (&'a [u8; 32], &'a Account)>) -> Digest {
    let mut leaves: Vec<([u8; 32], Digest)> = accounts
        .into_iter()
        .filter(|(_, a)| !a.is_empty())
        .map(|(k, a)| (path_of(k), leaf_hash(k, a)))
        .collect();
    leaves.sort_by_key(|a| a.0);
    subtree_hash(0, &leaves)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> [u8; 32] {
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(&i.to_be_bytes());
        k
    }

    fn acct(balance: u64, nonce: u64) -> Account {
        Account { balance, nonce }
    }

    /// Fetches every region from the root down as state transfer does, at most `max` accounts
    /// per answer, checking each answer; returns the accounts found and the number of answers.
    fn fetch_all(tree: &StateTree, max: usize) -> (Vec<([u8; 32], Account)>, usize) {
        let mut wanted = vec![Region::ALL];
        let mut found = Vec::new();
        let mut answers = 0;
        while let Some(region) = wanted.pop() {
            answers += 1;
            let content = tree.region(&region, max);
            content.verify(&tree.root(), &region).unwrap();
            match content {
                RegionContent::Accounts { accounts, .. } => {
                    assert!(accounts.len() <= max.max(1));
                    found.extend(
                        accounts
                            .into_iter()
                            .filter(|(k, _)| region.contains(&path_of(k))),
                    );
                }
                RegionContent::Split { .. } => wanted.extend(region.halves().unwrap()),
            }
        }
        (found, answers)
    }

    #[test]
    fn regions_fetched_from_the_root_down_give_every_account_once() {
        let all: Vec<_> = (0..300)
            .map(|i| (key(i), acct(u64::from(i) + 1, 0)))
            .collect();
        let tree = StateTree::from_accounts(all.clone());
        for max in [1, 7, 64, 300] {
            let (mut found, answers) = fetch_all(&tree, max);
            found.sort_by_key(|a| a.0);
            assert_eq!(found, all, "max {max}");
            if max == 300 {
                assert_eq!(answers, 1, "a state within the limit is one answer");
            }
        }
        let (found, answers) = fetch_all(&StateTree::default(), 8);
        assert!(found.is_empty());
        assert_eq!(answers, 1);
    }

    #[test]
    fn a_tampered_region_answer_is_refused() {
        let all: Vec<_> = (0..40)
            .map(|i| (key(i), acct(u64::from(i) + 1, 0)))
            .collect();
        let tree = StateTree::from_accounts(all);
        let root = tree.root();
        let [half, _] = Region::ALL.halves().unwrap();
        let RegionContent::Accounts { siblings, accounts } = tree.region(&half, 100) else {
            panic!("40 accounts fit");
        };
        let good = RegionContent::Accounts {
            siblings: siblings.clone(),
            accounts: accounts.clone(),
        };
        good.verify(&root, &half).unwrap();
        let mut richer = accounts.clone();
        richer[0].1.balance += 1;
        let mut fewer = accounts.clone();
        fewer.pop();
        let mut twice = accounts.clone();
        twice.push(accounts[0]);
        for (what, accounts) in [("balance", richer), ("missing", fewer), ("twice", twice)] {
            let bad = RegionContent::Accounts {
                siblings: siblings.clone(),
                accounts,
            };
            assert!(bad.verify(&root, &half).is_err(), "{what}");
        }
        // The other half's accounts are no proof of this half.
        let [_, other] = Region::ALL.halves().unwrap();
        assert!(good.verify(&root, &other).is_err());
        // A split must be a node of the tree.
        let RegionContent::Split {
            siblings,
            left,
            right,
        } = tree.region(&half, 2)
        else {
            panic!("more than 2 accounts split");
        };
        let split = |left, right| RegionContent::Split {
            siblings: siblings.clone(),
            left,
            right,
        };
        split(left, right).verify(&root, &half).unwrap();
        assert!(split(right, left).verify(&root, &half).is_err());
        assert!(split(left, Digest::ZERO).verify(&root, &half).is_err());
        let not_canonical = Region {
            prefix: [0xff; 32],
            depth: 1,
        };
        assert!(matches!(
            good.verify(&root, &not_canonical),
            Err(ProofError::BadRegion(_))
        ));
    }

    #[test]
    fn the_empty_tree_has_the_zero_root_and_one_account_is_its_leaf() {
        assert_eq!(StateTree::default().root(), Digest::ZERO);
        let t = StateTree::from_accounts([(key(1), acct(5, 0))]);
        assert_eq!(t.root(), leaf_hash(&key(1), &acct(5, 0)));
    }

    #[test]
    fn removing_accounts_collapses_back_to_the_canonical_tree() {
        let all: Vec<_> = (0..50)
            .map(|i| (key(i), acct(u64::from(i) + 1, 0)))
            .collect();
        let mut t = StateTree::from_accounts(all.clone());
        t.update((10..50).map(|i| (key(i), Account::default())));
        let expected = StateTree::from_accounts(all[..10].to_vec());
        assert_eq!(t.root(), expected.root());
        assert_eq!(t.root(), root_of(all[..10].iter().map(|(k, a)| (k, a))));
    }

    #[test]
    fn a_key_given_twice_keeps_its_last_record() {
        let mut t = StateTree::default();
        t.update([(key(1), acct(1, 0)), (key(1), acct(2, 0))]);
        assert_eq!(t.root(), leaf_hash(&key(1), &acct(2, 0)));
    }

    #[test]
    fn proofs_of_present_and_absent_accounts_verify_and_tampering_fails() {
        let all: Vec<_> = (0..200)
            .map(|i| (key(i), acct(u64::from(i) + 1, 3)))
            .collect();
        let t = StateTree::from_accounts(all);
        let root = t.root();
        for i in [0u32, 7, 199] {
            let (a, proof) = t.prove(&key(i));
            assert_eq!(a, acct(u64::from(i) + 1, 3));
            proof.verify(&root, &key(i), &a).unwrap();
            // Another balance, the absence, another root: refused.
            assert!(proof.verify(&root, &key(i), &acct(999, 3)).is_err());
            assert!(proof.verify(&root, &key(i), &Account::default()).is_err());
            assert!(proof.verify(&Digest::of(b"x"), &key(i), &a).is_err());
            let mut bad = proof.clone();
            bad.siblings[0].0[0] ^= 1;
            assert!(matches!(
                bad.verify(&root, &key(i), &a),
                Err(ProofError::RootMismatch { .. })
            ));
            let mut shorter = proof.clone();
            shorter.siblings.pop();
            assert!(shorter.verify(&root, &key(i), &a).is_err());
        }
        let mut kinds = std::collections::BTreeSet::new();
        for i in 1000..1100 {
            let (a, proof) = t.prove(&key(i));
            assert!(a.is_empty());
            proof.verify(&root, &key(i), &a).unwrap();
            assert!(proof.verify(&root, &key(i), &acct(1, 0)).is_err());
            kinds.insert(matches!(proof.terminal, Terminal::Empty));
        }
        assert_eq!(kinds.len(), 2, "both kinds of absence proof were exercised");
    }

    #[test]
    fn an_absence_proof_cannot_use_the_account_itself_as_the_other_account() {
        let t = StateTree::from_accounts((0..20).map(|i| (key(i), acct(1, 0))));
        let (a, mut proof) = t.prove(&key(3));
        proof.terminal = Terminal::OtherAccount {
            key: key(3),
            account: a,
        };
        assert_eq!(
            proof.verify(&t.root(), &key(3), &Account::default()),
            Err(ProofError::OtherAccountMisplaced)
        );
    }

    #[test]
    fn a_proof_with_more_siblings_than_path_bits_is_refused() {
        let proof = AccountProof {
            siblings: vec![Digest::ZERO; PATH_BITS + 1],
            terminal: Terminal::Empty,
        };
        assert_eq!(
            proof.verify(&Digest::ZERO, &key(1), &Account::default()),
            Err(ProofError::TooDeep { got: PATH_BITS + 1 })
        );
    }

    #[test]
    fn a_kept_version_is_unchanged_by_later_updates() {
        let mut t = StateTree::from_accounts((0..100).map(|i| (key(i), acct(1, 0))));
        let kept = t.clone();
        let kept_root = kept.root();
        t.update((0..100).map(|i| (key(i), acct(2, 0))));
        assert_ne!(t.root(), kept_root);
        assert_eq!(kept.root(), kept_root);
        let (a, proof) = kept.prove(&key(5));
        assert_eq!(a, acct(1, 0));
        proof.verify(&kept_root, &key(5), &a).unwrap();
    }
}
