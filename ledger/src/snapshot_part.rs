//! State transfer by parts: a replica that fell behind fetches the state of a checkpoint region
//! by region of the account tree, each part proven on its own under the state root the
//! checkpoint binds, and installs it once the parts cover the tree.
//!
//! Why parts: one message holding every account stops working at some account count (the
//! message limit), and a replica that cannot fetch the state can never catch up again. A part
//! holds at most [`MAX_PART_ACCOUNTS`] accounts. The asker starts with the whole tree
//! ([`Region::ALL`]); a donor answers a region with its accounts if they fit, or else with the
//! hashes of its two halves (a [`RegionContent::Split`]), which the asker then asks for. Small
//! states move in one part; a million accounts in about 32. Splits are proven too (the two
//! hashes must form a node of the tree under the signed root), so a lying donor cannot make an
//! asker split past the real tree's nodes; and an attacker who grinds keys into one region only
//! makes that region split deeper.
//!
//! Nothing is taken on a donor's word: every part is checked against the checkpoint
//! `(height, block hash)` the validators signed ([`SnapshotAssembly::add`]: genesis, header,
//! proof), so a part from a liar is refused on its own and the parts already verified stay. An
//! interrupted transfer resumes with the regions still wanted, from any donor. The complete
//! state is installed through [`crate::Store::import_snapshot`], which checks it once more as a
//! whole (sorted, supply, root).

use crate::block::BlockHeader;
use crate::error::SnapshotError;
use crate::genesis::Genesis;
use crate::snapshot::{check_header, Snapshot, MAX_SNAPSHOT_ACCOUNTS};
use crate::state_tree::{path_of, Region, RegionContent};
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::{Digest, PublicKey};
use serde::{Deserialize, Serialize};

/// Most accounts one part carries (about 3.4 MB encoded): a larger region is split.
pub const MAX_PART_ACCOUNTS: usize = 65_536;

/// One region of the state at a block: its content and the proof of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotPart {
    /// The chain's genesis hash.
    pub genesis_hash: Digest,
    /// The header of the block the state follows (its hash is the checkpoint digest).
    pub header: BlockHeader,
    /// The region answered.
    pub region: Region,
    /// Its accounts, or its two halves.
    pub content: RegionContent,
}

impl Versioned for SnapshotPart {
    const VERSION: u8 = 1;
    /// Header and region (~ 200 bytes), 256 sibling hashes (8 KiB) and [`MAX_PART_ACCOUNTS`]
    /// accounts of at most 52 bytes (key 32, two varint u64 of 10): under 3.5 MB.
    const MAX_BYTES: usize = 4 << 20;
}

/// The parts of one checkpoint's state gathered so far, and the regions still wanted.
#[derive(Debug, Clone)]
pub struct SnapshotAssembly {
    genesis_hash: Digest,
    height: u64,
    block_hash: Digest,
    header: Option<BlockHeader>,
    /// Regions not fetched yet, the next first.
    wanted: Vec<Region>,
    accounts: Vec<(PublicKey, crate::state::Account)>,
}

impl SnapshotAssembly {
    /// An assembly of the state at the checkpoint `(height, block_hash)` of `genesis`'s chain:
    /// nothing fetched, the whole tree wanted.
    pub fn new(genesis: &Genesis, height: u64, block_hash: Digest) -> SnapshotAssembly {
        SnapshotAssembly {
            genesis_hash: genesis.hash(),
            height,
            block_hash,
            header: None,
            wanted: vec![Region::ALL],
            accounts: Vec::new(),
        }
    }

    /// The checkpoint it assembles: `(height, block hash)`.
    pub fn checkpoint(&self) -> (u64, Digest) {
        (self.height, self.block_hash)
    }

    /// The regions still wanted, the next first (empty once complete).
    pub fn wanted(&self) -> &[Region] {
        &self.wanted
    }

    /// Whether every region has been fetched.
    pub fn is_complete(&self) -> bool {
        self.wanted.is_empty()
    }

    /// Checks `part` against the checkpoint and keeps it: true if it was a wanted region, false
    /// if that region is not wanted (already fetched; nothing changes). On an error nothing
    /// changes either.
    pub fn add(&mut self, part: &SnapshotPart) -> Result<bool, SnapshotError> {
        check_header(
            self.genesis_hash,
            part.genesis_hash,
            &part.header,
            self.height,
            self.block_hash,
        )?;
        let Some(position) = self.wanted.iter().position(|r| *r == part.region) else {
            return Ok(false);
        };
        if let RegionContent::Accounts { accounts, .. } = &part.content {
            if accounts.len() > MAX_PART_ACCOUNTS {
                return Err(SnapshotError::TooManyAccounts {
                    count: accounts.len(),
                    max: MAX_PART_ACCOUNTS,
                });
            }
        }
        part.content
            .verify(&part.header.state_root, &part.region)
            .map_err(SnapshotError::Proof)?;
        match &part.content {
            RegionContent::Accounts { accounts, .. } => {
                let mut inside = Vec::with_capacity(accounts.len());
                for (position, (key, account)) in accounts.iter().enumerate() {
                    if !part.region.contains(&path_of(key)) {
                        continue; // where the path ends above the region: another region's
                    }
                    let key = PublicKey::from_bytes(key)
                        .map_err(|_| SnapshotError::InvalidKey { position })?;
                    inside.push((key, *account));
                }
                let count = self.accounts.len() + inside.len();
                if count > MAX_SNAPSHOT_ACCOUNTS {
                    return Err(SnapshotError::TooManyAccounts {
                        count,
                        max: MAX_SNAPSHOT_ACCOUNTS,
                    });
                }
                self.accounts.extend(inside);
                self.wanted.remove(position);
            }
            RegionContent::Split { .. } => {
                // `verify` refused a split at full depth, so there are two halves.
                let halves = part
                    .region
                    .halves()
                    .expect("a verified split is above full depth");
                self.wanted.splice(position..=position, halves);
            }
        }
        self.header.get_or_insert(part.header);
        Ok(true)
    }

    /// The snapshot the parts make up, once complete (else `None`): accounts in key order.
    pub fn into_snapshot(mut self) -> Option<Snapshot> {
        if !self.is_complete() {
            return None;
        }
        let header = self.header?;
        self.accounts.sort_unstable_by_key(|(k, _)| *k);
        Some(Snapshot {
            genesis_hash: self.genesis_hash,
            header,
            accounts: self.accounts,
        })
    }
}
