//! The ledger's store: blocks with their commit certificates, a transfer index, the accounts,
//! metadata, and a column reserved for the consensus layer's durable state. It runs on RocksDB
//! (a node) or in memory (the simulator, tests), behind one [`Backend`] seam ([`backend`]).
//!
//! # Layout
//!
//! | column family | key | value |
//! |---|---|---|
//! | `blocks`    | height (u64 big-endian) | [`CertifiedBlock`] |
//! | `transfers` | transfer id (32 bytes) | `IndexEntry { height, position, receipt }` |
//! | `accounts`  | public key (32 bytes) | [`Account`] |
//! | `meta`      | `"genesis"`, `"tip"`, `"base"` | genesis hash; `Tip { height, base_height, block_hash, state_root }`; the [`BlockHeader`] at `base_height` if it is above 0 (from a snapshot) |
//! | `consensus` | opaque | opaque ([`Store::consensus_put_batch`]) |
//!
//! Every value is a [`Versioned`] encoding. Each block — block and certificate, index entries,
//! changed accounts, new tip — is written in **one atomic, synced [`WriteSet`]** (RocksDB: one
//! `WriteBatch` with `sync = true`), so after a crash the database holds exactly the blocks whose write completed. [`Store::open`] checks
//! that: the tip names the last stored block, its hash and state root match, no later block
//! exists, and the state root recomputed from the accounts equals the tip's (also the supply).
//! A database written by a build with another record format (e.g. blocks with a view, before
//! block format 2) is refused with [`StoreError::FormatVersion`], never misread.
//!
//! The transfer index keeps, for an id, the block where it was *applied* if it ever was, else
//! the first block where it was rejected (a replay of an applied transfer never hides it).

use crate::block::{
    Block, BlockHeader, CertifiedBlock, MAX_BLOCK_TRANSFERS, MAX_CERTIFICATE_BYTES,
};
use crate::error::{RejectReason, SnapshotError, StoreError};
use crate::genesis::Genesis;
use crate::snapshot::Snapshot;
use crate::snapshot_part::{SnapshotPart, MAX_PART_ACCOUNTS};
use crate::state::{Account, Receipt, Signatures, State};
use crate::state_tree::{AccountProof, Region};
use crate::transfer::SignedTransfer;
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::{Digest, PublicKey};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;

pub mod backend;
mod kept_trees;
mod records;
mod rocks;
pub use backend::{Backend, Column, MemoryBackend, WriteSet};
use kept_trees::KeptTrees;
pub use kept_trees::{StableCheckpoint, KEPT_BELOW_STABLE, MAX_KEPT_TREES};
use records::{corrupt, decode_stored, load_state, KEY_BASE, KEY_GENESIS, KEY_TIP};
use rocks::staging_path;
pub use rocks::{free_disk_bytes, RocksBackend, LOW_DISK_BYTES, MIN_FREE_DISK_BYTES};

/// Largest key or value the consensus layer may store, in bytes.
pub const MAX_CONSENSUS_VALUE_BYTES: usize = 16 << 20;

/// The last block written, and the state after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Tip {
    height: u64,
    /// Height of the state the store started from (0 = genesis, else an imported snapshot):
    /// blocks `base_height + 1 ..= height` are stored.
    base_height: u64,
    /// Hash of the block at `height` ([`Block::hash`]; the genesis hash at height 0).
    block_hash: Digest,
    state_root: Digest,
}

impl Versioned for Tip {
    /// Version 3: `state_root` is the root of the account tree ([`crate::state_tree`]; version 2
    /// had the 256-bucket hash, and block format 2 hashes). Every database of an older build has
    /// an older tip, so opening one fails clearly ([`StoreError::FormatVersion`]).
    const VERSION: u8 = 3;
    const MAX_BYTES: usize = 128;
}

/// Where a transfer ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct IndexEntry {
    height: u64,
    position: u32,
    receipt: Receipt,
}

impl Versioned for IndexEntry {
    const VERSION: u8 = 1;
    const MAX_BYTES: usize = 64;
}

/// A transfer's status as the API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferStatus {
    /// Known to the node (submitted, not yet committed); the store never reports this: the
    /// node does, from its pending requests.
    Pending,
    /// In a block and applied.
    Committed,
    /// In a block and rejected, with the reason.
    Rejected(RejectReason),
}

/// A committed transfer with its proof: its block's height, hash and commit certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransferRecord {
    /// The signed transfer.
    pub transfer: SignedTransfer,
    /// Height of its block.
    pub height: u64,
    /// Position in the block.
    pub position: u32,
    /// Its receipt.
    pub receipt: Receipt,
    /// Hash of its block.
    pub block_hash: Digest,
    /// The consensus batch digest the certificate covers.
    pub batch_digest: Digest,
    /// The block's commit certificate (opaque bytes; the consensus crate decodes them).
    pub certificate: Vec<u8>,
}

impl TransferRecord {
    /// Committed or rejected.
    pub fn status(&self) -> TransferStatus {
        match self.receipt {
            Receipt::Applied => TransferStatus::Committed,
            Receipt::Rejected(reason) => TransferStatus::Rejected(reason),
        }
    }
}

/// A committed batch to execute (the block's height is the store's next height).
///
/// No view: the view in which this replica saw the batch commit is not part of the block (see
/// [`crate::block`]); it is in the certificate.
#[derive(Debug, Clone)]
pub struct BatchInput {
    /// The consensus digest of the batch.
    pub batch_digest: Digest,
    /// Its transfers, in order (empty for a null batch).
    pub transfers: Vec<SignedTransfer>,
    /// Its commit certificate, opaque, at most [`MAX_CERTIFICATE_BYTES`].
    pub certificate: Vec<u8>,
}

/// A (key, value) pair of the consensus layer's durable state.
pub type ConsensusEntry = (Vec<u8>, Vec<u8>);

/// One write of the consensus layer's durable state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsensusOp {
    /// Set `key` to `value`.
    Put {
        /// Key.
        key: Vec<u8>,
        /// Value.
        value: Vec<u8>,
    },
    /// Remove `key`.
    Delete {
        /// Key.
        key: Vec<u8>,
    },
}

/// The ledger database. One per process (RocksDB locks the directory).
pub struct Store {
    db: Box<dyn Backend>,
    genesis_hash: Digest,
    state: State,
    tip: Tip,
    /// The header of the block at `tip.base_height`, if above 0 (the store started from a
    /// snapshot whose blocks it does not hold).
    base: Option<BlockHeader>,
    poisoned: bool,
    /// Tree versions kept for account proofs at the stable checkpoint (memory only).
    kept: KeptTrees,
    /// Most accounts in a part of a snapshot this store serves ([`MAX_PART_ACCOUNTS`] unless
    /// [`Store::limit_part_accounts`] made it smaller).
    part_accounts: usize,
}

/// An account at the stable checkpoint, with everything a light client needs to check it
/// ([`Store::account_proof`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenAccount {
    /// The stable checkpoint: its height and 2f+1 signatures over the hash of `header`.
    pub checkpoint: StableCheckpoint,
    /// The header of the block at the checkpoint height (its `state_root` is the proof's root).
    pub header: BlockHeader,
    /// The account's record at that height (the default record: the account does not exist).
    pub account: Account,
    /// The proof of `account` under `header.state_root`.
    pub proof: AccountProof,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("db", &self.db.describe())
            .field("tip", &self.tip)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Creates a new database at `path` holding the genesis state.
    ///
    /// The database is built in a sibling directory `<path>.creating` and renamed into place
    /// once the genesis state is durable, so a crash during creation never leaves a half-made
    /// database at `path` (a leftover `.creating` directory is discarded by the next attempt).
    /// `path` must not exist or be an empty directory (its parent directories are created).
    pub fn create(path: &Path, genesis: &Genesis) -> Result<Store, StoreError> {
        if path.join("CURRENT").exists() {
            return Err(StoreError::AlreadyExists {
                path: path.to_owned(),
            });
        }
        let staging = staging_path(path);
        let io = |source| StoreError::Io {
            path: staging.clone(),
            source,
        };
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(io)?;
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                path: parent.to_owned(),
                source,
            })?;
        }
        write_genesis(&RocksBackend::open(&staging, true)?, genesis)?;
        if let Err(source) = std::fs::rename(&staging, path) {
            let _ = std::fs::remove_dir_all(&staging); // best effort: the next attempt also cleans up
            return Err(StoreError::Io {
                path: path.to_owned(),
                source,
            });
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            // Make the rename itself durable.
            std::fs::File::open(parent)
                .and_then(|dir| dir.sync_all())
                .map_err(|source| StoreError::Io {
                    path: parent.to_owned(),
                    source,
                })?;
        }
        Store::open(path, genesis)
    }

    /// A new store in `db` holding the genesis state, or the store `db` already holds (checked as
    /// [`Store::open`] checks a directory). With a [`MemoryBackend`], the store a simulated or
    /// test replica runs on; a clone of the backend kept aside survives dropping the store.
    pub fn in_backend(db: Box<dyn Backend>, genesis: &Genesis) -> Result<Store, StoreError> {
        if db.get(Column::Meta, KEY_GENESIS)?.is_none() {
            write_genesis(db.as_ref(), genesis)?;
        }
        Store::open_backend(db, genesis)
    }

    /// Opens an existing database for `genesis`, checking its consistency (see the module docs).
    pub fn open(path: &Path, genesis: &Genesis) -> Result<Store, StoreError> {
        if !path.join("CURRENT").exists() {
            return Err(StoreError::Missing {
                path: path.to_owned(),
            });
        }
        Store::open_backend(Box::new(RocksBackend::open(path, false)?), genesis)
    }

    fn open_backend(db: Box<dyn Backend>, genesis: &Genesis) -> Result<Store, StoreError> {
        let genesis_hash = genesis.hash();
        let stored = db
            .get(Column::Meta, KEY_GENESIS)?
            .ok_or_else(|| corrupt("no genesis hash"))?;
        let stored = Digest(
            stored
                .as_slice()
                .try_into()
                .map_err(|_| corrupt("genesis hash is not 32 bytes"))?,
        );
        if stored != genesis_hash {
            return Err(StoreError::GenesisMismatch {
                stored,
                given: genesis_hash,
            });
        }
        let tip: Tip = decode_stored(
            &db.get(Column::Meta, KEY_TIP)?
                .ok_or_else(|| corrupt("no tip"))?,
            "tip",
        )?;
        let base: Option<BlockHeader> = db
            .get(Column::Meta, KEY_BASE)?
            .map(|bytes| decode_stored(&bytes, "base block header"))
            .transpose()?;
        let state = load_state(db.as_ref(), genesis, tip.height)?;
        let store = Store {
            db,
            genesis_hash,
            state,
            tip,
            base,
            poisoned: false,
            kept: KeptTrees::default(),
            part_accounts: MAX_PART_ACCOUNTS,
        };
        store.check_consistency()?;
        Ok(store)
    }

    /// Opens the database at `path`, creating it from `genesis` if there is none.
    pub fn open_or_create(path: &Path, genesis: &Genesis) -> Result<Store, StoreError> {
        match Store::open(path, genesis) {
            Err(StoreError::Missing { .. }) => Store::create(path, genesis),
            other => other,
        }
    }

    /// Checks what [`Store::open`] promises; cheap enough to run at every open (one pass over
    /// the accounts, one block read).
    fn check_consistency(&self) -> Result<(), StoreError> {
        let tip = self.tip;
        if self.state.state_root() != tip.state_root {
            return Err(corrupt(format!(
                "accounts have state root {}, the tip says {}",
                self.state.state_root(),
                tip.state_root
            )));
        }
        if self.state.computed_supply() != u128::from(self.state.supply()) {
            return Err(corrupt(format!(
                "accounts sum to {}, the genesis supply is {}",
                self.state.computed_supply(),
                self.state.supply()
            )));
        }
        match (tip.base_height, self.base) {
            (0, None) => {}
            (base_height, Some(base)) if base.height == base_height => {}
            (base_height, base) => {
                return Err(corrupt(format!(
                    "base height {base_height} with base header {base:?}"
                )))
            }
        }
        let matches_tip = match self.header_at(tip.height)? {
            Some(last) => last.hash() == tip.block_hash && last.state_root == tip.state_root,
            None if tip.height == 0 => tip.block_hash == self.genesis_hash,
            None => return Err(corrupt(format!("tip block {} is missing", tip.height))),
        };
        if !matches_tip {
            return Err(corrupt(format!(
                "tip block {} does not match the tip",
                tip.height
            )));
        }
        if self.block(tip.height + 1)?.is_some() {
            return Err(corrupt(format!(
                "a block exists beyond the tip {}",
                tip.height
            )));
        }
        Ok(())
    }

    /// Where the database lives, for messages (a directory, or "memory").
    pub fn location(&self) -> String {
        self.db.describe()
    }

    /// The chain's genesis hash.
    pub fn genesis_hash(&self) -> Digest {
        self.genesis_hash
    }

    /// Height of the last block written (0 = genesis).
    pub fn latest_height(&self) -> u64 {
        self.tip.height
    }

    /// Hash of the last block written (the genesis hash at height 0).
    pub fn latest_block_hash(&self) -> Digest {
        self.tip.block_hash
    }

    /// The state root after the last block.
    pub fn state_root(&self) -> Digest {
        self.tip.state_root
    }

    /// The current state (in memory; equal to the accounts on disk).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// An account's record (the default record for an unknown account); its next nonce is
    /// `account.next_nonce()`.
    pub fn account(&self, key: &PublicKey) -> Account {
        self.state.account(key)
    }

    /// The header of the block at `height`, if this store knows it: a stored block, or the
    /// header of the snapshot the store started from. None at height 0 (no block) and for the
    /// heights a snapshot skipped.
    pub fn header_at(&self, height: u64) -> Result<Option<BlockHeader>, StoreError> {
        if height == 0 {
            return Ok(None);
        }
        if let Some(base) = self.base.filter(|b| b.height == height) {
            return Ok(Some(base));
        }
        Ok(self
            .block(height)?
            .map(|certified| certified.block.header()))
    }

    /// The hash of the block at `height` (the genesis hash at 0), if this store knows it (see
    /// [`Store::header_at`]): the checkpoint digest at `height`.
    pub fn block_hash_at(&self, height: u64) -> Result<Option<Digest>, StoreError> {
        if height == 0 {
            return Ok(Some(self.genesis_hash));
        }
        if height == self.tip.height {
            return Ok(Some(self.tip.block_hash));
        }
        Ok(self.header_at(height)?.map(|header| header.hash()))
    }

    /// The block at `height` with its certificate, if stored.
    pub fn block(&self, height: u64) -> Result<Option<CertifiedBlock>, StoreError> {
        self.db
            .get(Column::Blocks, &height.to_be_bytes())?
            .map(|bytes| decode_stored(&bytes, "block"))
            .transpose()
    }

    /// The transfer with this id, with its receipt and proof, if it is in a block.
    pub fn transfer(&self, id: &Digest) -> Result<Option<TransferRecord>, StoreError> {
        let Some(bytes) = self.db.get(Column::Transfers, id.as_bytes())? else {
            return Ok(None);
        };
        let entry: IndexEntry = decode_stored(&bytes, "transfer index entry")?;
        let certified = self
            .block(entry.height)?
            .ok_or_else(|| corrupt(format!("indexed block {} is missing", entry.height)))?;
        let transfer = certified
            .block
            .transfers
            .get(entry.position as usize)
            .cloned()
            .ok_or_else(|| corrupt("index points past the block's transfers"))?;
        Ok(Some(TransferRecord {
            transfer,
            height: entry.height,
            position: entry.position,
            receipt: entry.receipt,
            block_hash: certified.block.hash(),
            batch_digest: certified.block.batch_digest,
            certificate: certified.certificate,
        }))
    }

    /// Executes a committed batch as the next block and writes it (one atomic synced write).
    /// Returns the block; its hash is what consensus checkpoints (see [`crate::block`]).
    pub fn commit_batch(
        &mut self,
        input: BatchInput,
        signatures: Signatures,
    ) -> Result<Block, StoreError> {
        self.check_writable(input.transfers.len(), input.certificate.len())?;
        let height = self.tip.height + 1;
        let receipts = self.state.apply(height, &input.transfers, signatures);
        let block = Block {
            height,
            batch_digest: input.batch_digest,
            prev_hash: self.tip.block_hash,
            transfers: input.transfers,
            receipts,
            state_root: self.state.state_root(),
        };
        self.write_block(&block, &input.certificate)?;
        Ok(block)
    }

    /// Writes a block produced elsewhere (state transfer by blocks): re-executes its transfers
    /// (verifying their signatures) and accepts it only if the receipts and state root match.
    /// On a mismatch nothing changes.
    pub fn commit_block(&mut self, block: &Block, certificate: &[u8]) -> Result<(), StoreError> {
        self.check_writable(block.transfers.len(), certificate.len())?;
        let expected = self.tip.height + 1;
        if block.height != expected {
            return Err(StoreError::WrongHeight {
                expected,
                got: block.height,
            });
        }
        let mismatch = |what| StoreError::BlockMismatch {
            height: block.height,
            what,
        };
        if block.prev_hash != self.tip.block_hash {
            return Err(mismatch("prev_hash"));
        }
        if block.receipts.len() != block.transfers.len() {
            return Err(mismatch("receipt count"));
        }
        let receipts = self
            .state
            .apply(block.height, &block.transfers, Signatures::Verify);
        let what = if receipts != block.receipts {
            Some("receipts")
        } else if self.state.state_root() != block.state_root {
            Some("state_root")
        } else {
            None
        };
        if let Some(what) = what {
            self.state.revert(&block.transfers, &receipts);
            return Err(mismatch(what));
        }
        self.write_block(block, certificate)
    }

    fn check_writable(&self, transfers: usize, certificate_bytes: usize) -> Result<(), StoreError> {
        if self.poisoned {
            return Err(StoreError::Poisoned);
        }
        if transfers > MAX_BLOCK_TRANSFERS {
            return Err(StoreError::TooLarge {
                what: "batch (transfers)",
                len: transfers,
                max: MAX_BLOCK_TRANSFERS,
            });
        }
        if certificate_bytes > MAX_CERTIFICATE_BYTES {
            return Err(StoreError::TooLarge {
                what: "certificate (bytes)",
                len: certificate_bytes,
                max: MAX_CERTIFICATE_BYTES,
            });
        }
        Ok(())
    }

    /// Writes `block` (already applied to `self.state`) in one synced batch. On failure the
    /// store is poisoned: memory is ahead of the disk, and only a reopen recovers.
    fn write_block(&mut self, block: &Block, certificate: &[u8]) -> Result<(), StoreError> {
        let tip = Tip {
            height: block.height,
            base_height: self.tip.base_height,
            block_hash: block.hash(),
            state_root: block.state_root,
        };
        let result = self
            .block_batch(block, certificate, &tip)
            .and_then(|writes| self.db.write(writes));
        match result {
            Ok(()) => {
                self.tip = tip;
                self.kept.executed(tip.height, self.state.tree());
                Ok(())
            }
            Err(e) => {
                self.poisoned = true;
                Err(e)
            }
        }
    }

    fn block_batch(
        &mut self,
        block: &Block,
        certificate: &[u8],
        tip: &Tip,
    ) -> Result<WriteSet, StoreError> {
        let mut batch = WriteSet::new();
        let certified = CertifiedBlock {
            block: block.clone(),
            certificate: certificate.to_vec(),
        };
        batch.put(
            Column::Blocks,
            block.height.to_be_bytes(),
            certified.to_bytes(),
        );
        let mut seen = HashSet::with_capacity(block.transfers.len());
        let mut entries = Vec::with_capacity(block.transfers.len());
        for (position, (transfer, receipt)) in
            block.transfers.iter().zip(&block.receipts).enumerate()
        {
            let id = transfer.id();
            let first_in_block = seen.insert(id);
            // An applied transfer always owns its id (a nonce applies once, so at most one block
            // applies a given id). A rejected one is indexed only if the id is not known yet.
            let index_it = receipt.is_applied()
                || (first_in_block && !self.db.contains(Column::Transfers, id.as_bytes())?);
            if index_it {
                let entry = IndexEntry {
                    height: block.height,
                    position: position as u32,
                    receipt: *receipt,
                };
                entries.push((id, entry));
            }
        }
        // Key order makes the memtable inserts cheaper; the sort is stable, so for a repeated id
        // the later entry (the applied one) is written last and wins.
        entries.sort_by_key(|e| e.0);
        for (id, entry) in entries {
            batch.put(Column::Transfers, id.as_bytes(), entry.to_bytes());
        }
        for (key, account) in self.state.take_changed() {
            if account.is_empty() {
                batch.delete(Column::Accounts, key);
            } else {
                batch.put(Column::Accounts, key, account.to_bytes());
            }
        }
        batch.put(Column::Meta, KEY_TIP, tip.to_bytes());
        Ok(batch)
    }

    /// The snapshot of the state at `height` (at most the latest height, at least the height the
    /// store started from, never 0): the current accounts with the later blocks reverted.
    pub fn export_snapshot(&self, height: u64) -> Result<Snapshot, StoreError> {
        let unavailable = SnapshotError::Unavailable {
            height,
            latest: self.tip.height,
        };
        if height == 0 || height > self.tip.height || height < self.tip.base_height {
            return Err(unavailable.into());
        }
        let header = self
            .header_at(height)?
            .ok_or_else(|| corrupt(format!("block {height} is missing")))?;
        if height == self.tip.height {
            return Ok(Snapshot::of_state(&self.state, self.genesis_hash, header));
        }
        Ok(Snapshot::of_state(
            &self.state_at(height)?,
            self.genesis_hash,
            header,
        ))
    }

    /// The part of the state at `height` in `region`: its accounts, or its two halves if they
    /// are more than [`MAX_PART_ACCOUNTS`] (or [`Store::limit_part_accounts`]). Served only from
    /// a tree this store holds, the tip's or a kept checkpoint's (the heights a lagging replica
    /// asks for are certified checkpoints, kept from just below the stable one up, see
    /// [`KEPT_BELOW_STABLE`]): a walk and at most that many leaves read, whatever
    /// the asker asks. Any other height is `Unavailable`: reverting the state there would cost
    /// as many blocks as the asker chose, redone for every other height it names, under the
    /// store's read lock that the replica's own commits wait for.
    pub fn export_part(&self, height: u64, region: &Region) -> Result<SnapshotPart, StoreError> {
        let unavailable = SnapshotError::Unavailable {
            height,
            latest: self.tip.height,
        };
        if height == 0 || height > self.tip.height || !region.is_canonical() {
            return Err(unavailable.into());
        }
        let tree = if height == self.tip.height {
            self.state.tree()
        } else {
            self.kept.tree(height).ok_or(unavailable)?
        };
        let header = self
            .header_at(height)?
            .ok_or_else(|| corrupt(format!("block {height} is missing")))?;
        let content = tree.region(region, self.part_accounts);
        Ok(SnapshotPart {
            genesis_hash: self.genesis_hash,
            header,
            region: *region,
            content,
        })
    }

    /// Serves parts of at most `max` accounts (clamped to 1..=[`MAX_PART_ACCOUNTS`]): for the
    /// simulator, whose few accounts then move in many parts, so that splits, transfers left
    /// half done and their resumption run there as they do on a large state.
    pub fn limit_part_accounts(&mut self, max: usize) {
        self.part_accounts = max.clamp(1, MAX_PART_ACCOUNTS);
    }

    /// The state at `height` (between the base height and the tip): the current state with the
    /// later blocks reverted.
    fn state_at(&self, height: u64) -> Result<State, StoreError> {
        let mut state = self.state.clone();
        for h in (height + 1..=self.tip.height).rev() {
            let certified = self
                .block(h)?
                .ok_or_else(|| corrupt(format!("block {h} is missing")))?;
            state.revert(&certified.block.transfers, &certified.block.receipts);
        }
        state.take_changed();
        Ok(state)
    }

    /// Keeps the account tree of every height that is a multiple of `interval` (the consensus
    /// checkpoint interval), so that accounts can be proven once the checkpoint is stable.
    pub fn keep_trees_every(&mut self, interval: u64) {
        self.kept.keep_every(interval);
    }

    /// The checkpoint at `height` is stable, with these 2f+1 signatures (opaque bytes): account
    /// proofs are given at it from now on. If the tree of that height was not kept (the node
    /// restarted since), it is rebuilt from the stored blocks when they are here; a stable
    /// checkpoint this store has not executed yet is recorded, and proofs start once it is.
    pub fn set_stable_checkpoint(
        &mut self,
        height: u64,
        certificate: Vec<u8>,
    ) -> Result<(), StoreError> {
        let stored = (self.tip.base_height.max(1)..=self.tip.height).contains(&height);
        if stored && !self.kept.has(height) {
            let state = self.state_at(height)?;
            self.kept.keep(height, state.tree());
        }
        self.kept.stable(StableCheckpoint {
            height,
            certificate,
        });
        Ok(())
    }

    /// `key`'s account at the stable checkpoint with its proof, or `None` while no stable
    /// checkpoint above genesis has been executed here.
    pub fn account_proof(&self, key: &PublicKey) -> Result<Option<ProvenAccount>, StoreError> {
        let Some((checkpoint, tree)) = self.kept.provable() else {
            return Ok(None);
        };
        let header = self.header_at(checkpoint.height)?.ok_or_else(|| {
            corrupt(format!(
                "block {} of the stable checkpoint is missing",
                checkpoint.height
            ))
        })?;
        let (account, proof) = tree.prove(key.as_bytes());
        Ok(Some(ProvenAccount {
            checkpoint: checkpoint.clone(),
            header,
            account,
            proof,
        }))
    }

    /// Replaces the state with a snapshot (state transfer) once it verifies against the
    /// checkpoint validators signed: the block at `height` has hash `block_hash` (the checkpoint
    /// digest, see [`crate::block`]), and `height` is beyond the latest height. A refused
    /// snapshot changes nothing. Blocks up to `height` are not fetched; later blocks follow on
    /// it (their `prev_hash` must be `block_hash`).
    pub fn import_snapshot(
        &mut self,
        snapshot: &Snapshot,
        genesis: &Genesis,
        height: u64,
        block_hash: Digest,
    ) -> Result<(), StoreError> {
        if self.poisoned {
            return Err(StoreError::Poisoned);
        }
        if height <= self.tip.height {
            return Err(StoreError::WrongHeight {
                expected: self.tip.height + 1,
                got: height,
            });
        }
        let state = snapshot.verify(genesis, height, block_hash)?;
        let tip = Tip {
            height,
            base_height: height,
            block_hash,
            state_root: state.state_root(),
        };
        let mut batch = WriteSet::new();
        // Every account key is 32 bytes, all below 33 bytes of 0xff.
        batch.delete_range(Column::Accounts, &[0u8; 32], &[0xffu8; 33]);
        for (key, account) in state.accounts() {
            batch.put(Column::Accounts, key, account.to_bytes());
        }
        batch.put(Column::Meta, KEY_BASE, snapshot.header.to_bytes());
        batch.put(Column::Meta, KEY_TIP, tip.to_bytes());
        self.db.write(batch)?;
        self.kept.clear();
        self.kept.keep(height, state.tree());
        self.state = state;
        self.tip = tip;
        self.base = Some(snapshot.header);
        Ok(())
    }

    /// Applies the consensus layer's writes in one atomic, synced batch (durable on return).
    pub fn consensus_put_batch(
        &self,
        ops: impl IntoIterator<Item = ConsensusOp>,
    ) -> Result<(), StoreError> {
        let mut batch = WriteSet::new();
        for op in ops {
            match op {
                ConsensusOp::Put { key, value } => {
                    for (what, len) in [
                        ("consensus key", key.len()),
                        ("consensus value", value.len()),
                    ] {
                        if len > MAX_CONSENSUS_VALUE_BYTES {
                            return Err(StoreError::TooLarge {
                                what,
                                len,
                                max: MAX_CONSENSUS_VALUE_BYTES,
                            });
                        }
                    }
                    batch.put(Column::Consensus, key, value);
                }
                ConsensusOp::Delete { key } => batch.delete(Column::Consensus, key),
            }
        }
        self.db.write(batch)
    }

    /// Every (key, value) of the consensus layer, in key order (for `Replica::recover`).
    pub fn consensus_entries(&self) -> Result<Vec<ConsensusEntry>, StoreError> {
        self.db.entries(Column::Consensus)
    }
}

/// Writes the genesis state into an empty database (one atomic, synced write).
fn write_genesis(db: &dyn Backend, genesis: &Genesis) -> Result<(), StoreError> {
    let state = State::from_genesis(genesis);
    let tip = Tip {
        height: 0,
        base_height: 0,
        block_hash: genesis.hash(),
        state_root: state.state_root(),
    };
    let mut batch = WriteSet::new();
    for (key, account) in state.accounts() {
        batch.put(Column::Accounts, key, account.to_bytes());
    }
    batch.put(Column::Meta, KEY_GENESIS, genesis.hash().as_bytes());
    batch.put(Column::Meta, KEY_TIP, tip.to_bytes());
    db.write(batch)
}
