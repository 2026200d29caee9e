//! Snapshots of all accounts at a height, for state transfer to a replica that fell behind.
//!
//! A replica behind a stable checkpoint learns `(seq, d)` from matching signed checkpoints
//! (2f+1, or f+1 to fetch: at least one correct validator vouches for it), where `d` is the hash
//! of the block at height `seq` (the checkpoint digest, see [`crate::block`]). It fetches a
//! snapshot from any peer and accepts it only if [`Snapshot::verify`] passes against `(seq, d)`.
//! Everything the snapshot claims is bound to the signed digest, nothing is taken on the peer's
//! word: its header is at height `seq` and hashes to `d` (so its `prev_hash`, the next block's
//! link, is the agreed one too), and its accounts are strictly sorted by key, hold no empty
//! record, sum to the genesis supply, and hash (the construction documented in
//! [`crate::state`], recomputed from scratch) to the header's state root.

use crate::block::BlockHeader;
use crate::error::SnapshotError;
use crate::genesis::Genesis;
use crate::state::{Account, State};
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::{Digest, PublicKey};
use serde::{Deserialize, Serialize};

/// Most accounts a state transfer moves (2^24, about 16.8 million): what a replica gathers
/// from parts ([`crate::snapshot_part`]) before it installs them. The encoded form of a whole
/// snapshot is smaller still ([`Snapshot::MAX_BYTES`]); replicas exchange parts, never it.
pub const MAX_SNAPSHOT_ACCOUNTS: usize = 1 << 24;

/// All accounts after the block at [`Snapshot::height`].
///
/// Height, block hash and state root are not separate claims: all three are read from
/// `header`, so they cannot disagree, and [`Snapshot::verify`] checks the header's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The chain's genesis hash.
    pub genesis_hash: Digest,
    /// The header of the last block executed into this state (a snapshot is never at height
    /// 0: the genesis state needs no transfer).
    pub header: BlockHeader,
    /// Every non-empty account, in strictly increasing key order.
    pub accounts: Vec<(PublicKey, Account)>,
}

impl Versioned for Snapshot {
    /// Version 2: a block header instead of separate height, block hash and state root.
    const VERSION: u8 = 2;
    /// A whole snapshot encoded (for tests and tools; replicas exchange
    /// [`crate::snapshot_part::SnapshotPart`]s): header (~ 120 bytes) plus about 1.2 million
    /// entries of at most 54 bytes (key 33 + two varint u64 of 10 + version slack): 64 MiB.
    const MAX_BYTES: usize = 64 << 20;
}

/// Checks what a snapshot or a part of one claims about its block against the checkpoint
/// validators signed: the chain, the height, and the header's hash (the one owner of these
/// checks).
pub(crate) fn check_header(
    expected_genesis: Digest,
    genesis_hash: Digest,
    header: &BlockHeader,
    expected_height: u64,
    expected_block_hash: Digest,
) -> Result<(), SnapshotError> {
    if genesis_hash != expected_genesis {
        return Err(SnapshotError::WrongGenesis {
            expected: expected_genesis,
            got: genesis_hash,
        });
    }
    if header.height != expected_height {
        return Err(SnapshotError::WrongHeight {
            expected: expected_height,
            got: header.height,
        });
    }
    let got = header.hash();
    if got != expected_block_hash {
        return Err(SnapshotError::WrongBlockHash {
            height: expected_height,
            expected: expected_block_hash,
            got,
        });
    }
    Ok(())
}

impl Snapshot {
    /// The snapshot of `state`, which is the state after the block with `header`.
    ///
    /// # Panics
    /// If `state` holds a key that is not a valid public key (accounts only ever come from
    /// validated keys), or is not at `header`'s height with its state root: broken invariants.
    pub fn of_state(state: &State, genesis_hash: Digest, header: BlockHeader) -> Snapshot {
        assert_eq!(
            (state.height(), state.state_root()),
            (header.height, header.state_root),
            "a snapshot's state is the one after its header's block"
        );
        let accounts = state
            .accounts()
            .map(|(k, a)| {
                let key = PublicKey::from_bytes(k)
                    .unwrap_or_else(|e| panic!("state holds invalid key {k:?}: {e}"));
                (key, *a)
            })
            .collect();
        Snapshot {
            genesis_hash,
            header,
            accounts,
        }
    }

    /// Height of the last block executed into this state.
    pub fn height(&self) -> u64 {
        self.header.height
    }

    /// Hash of the block at [`Snapshot::height`]: the checkpoint digest it claims to match.
    pub fn block_hash(&self) -> Digest {
        self.header.hash()
    }

    /// Decodes untrusted snapshot bytes (bounded by [`Snapshot::MAX_BYTES`]).
    pub fn decode(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        Snapshot::from_bytes(bytes).map_err(SnapshotError::Decode)
    }

    /// Verifies the snapshot for `genesis` against the checkpoint `(expected_height,
    /// expected_block_hash)` that validators signed (see the module docs) and returns the state
    /// it describes. The only owner of these checks: the store's import calls it.
    pub fn verify(
        &self,
        genesis: &Genesis,
        expected_height: u64,
        expected_block_hash: Digest,
    ) -> Result<State, SnapshotError> {
        check_header(
            genesis.hash(),
            self.genesis_hash,
            &self.header,
            expected_height,
            expected_block_hash,
        )?;
        self.check_accounts(genesis.supply())?;
        // Building the state builds its tree from scratch: its root is the recomputed one (the
        // snapshot's accounts are sorted and distinct, checked above), no second pass needed.
        let state = State::from_accounts(
            &genesis.chain_id,
            genesis.supply(),
            self.height(),
            self.accounts.iter().map(|(k, a)| (*k.as_bytes(), *a)),
        );
        let computed = state.state_root();
        if computed != self.header.state_root {
            return Err(SnapshotError::RootMismatch {
                expected: self.header.state_root,
                computed,
            });
        }
        Ok(state)
    }

    fn check_accounts(&self, supply: u64) -> Result<(), SnapshotError> {
        if self.accounts.len() > MAX_SNAPSHOT_ACCOUNTS {
            return Err(SnapshotError::TooManyAccounts {
                count: self.accounts.len(),
                max: MAX_SNAPSHOT_ACCOUNTS,
            });
        }
        let mut sum = 0u128;
        for (position, (key, account)) in self.accounts.iter().enumerate() {
            if position > 0 && self.accounts[position - 1].0 >= *key {
                return Err(SnapshotError::Unsorted { position });
            }
            if account.is_empty() {
                return Err(SnapshotError::EmptyAccount { position });
            }
            sum += u128::from(account.balance);
        }
        if sum != u128::from(supply) {
            return Err(SnapshotError::SupplyMismatch {
                expected: supply,
                got: u64::try_from(sum).ok(),
            });
        }
        Ok(())
    }
}
