//! Snapshots of all accounts at a height, for state transfer to a replica that fell behind.
//!
//! A replica behind a stable checkpoint learns `(seq, state_root)` from 2f+1 matching signed
//! checkpoints, fetches a snapshot from any peer, and accepts it only if
//! [`Snapshot::verify`] passes against that root: accounts strictly sorted by key, no empty
//! record, balances summing to the genesis supply, and the root recomputed from scratch (the
//! construction documented in [`crate::state`]) equal to the expected one.

use crate::error::SnapshotError;
use crate::genesis::Genesis;
use crate::state::{state_root_of, Account, State};
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::{Digest, PublicKey};
use serde::{Deserialize, Serialize};

/// Most accounts a snapshot may hold.
pub const MAX_SNAPSHOT_ACCOUNTS: usize = 1_000_000;

/// All accounts at `height`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The chain's genesis hash.
    pub genesis_hash: Digest,
    /// Height of the last block executed into this state.
    pub height: u64,
    /// Hash of the block at `height` (genesis hash at 0), the next block's `prev_hash`. Not
    /// covered by the state root: a hint the importer cannot verify (blocks carry their own
    /// commit certificates for that).
    pub block_hash: Digest,
    /// The state root claimed for `accounts`.
    pub state_root: Digest,
    /// Every non-empty account, in strictly increasing key order.
    pub accounts: Vec<(PublicKey, Account)>,
}

impl Versioned for Snapshot {
    const VERSION: u8 = 1;
    /// Header (~ 120 bytes) plus [`MAX_SNAPSHOT_ACCOUNTS`] entries of at most 54 bytes
    /// (key 33 + two varint u64 of 10 + version slack): 64 MiB.
    const MAX_BYTES: usize = 64 << 20;
}

impl Snapshot {
    /// The snapshot of `state`.
    ///
    /// # Panics
    /// If `state` holds a key that is not a valid public key (accounts only ever come from
    /// validated keys, so this is a broken invariant).
    pub fn of_state(state: &State, genesis_hash: Digest, block_hash: Digest) -> Snapshot {
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
            height: state.height(),
            block_hash,
            state_root: state.state_root(),
            accounts,
        }
    }

    /// Decodes untrusted snapshot bytes (bounded by [`Snapshot::MAX_BYTES`]).
    pub fn decode(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        Snapshot::from_bytes(bytes).map_err(SnapshotError::Decode)
    }

    /// Verifies the snapshot for `genesis` at `expected_height` against `expected_root` (from a
    /// stable checkpoint) and returns the state it describes.
    pub fn verify(
        &self,
        genesis: &Genesis,
        expected_height: u64,
        expected_root: Digest,
    ) -> Result<State, SnapshotError> {
        let expected = genesis.hash();
        if self.genesis_hash != expected {
            return Err(SnapshotError::WrongGenesis {
                expected,
                got: self.genesis_hash,
            });
        }
        if self.height != expected_height {
            return Err(SnapshotError::WrongHeight {
                expected: expected_height,
                got: self.height,
            });
        }
        self.check_accounts(genesis.supply())?;
        let computed = state_root_of(self.accounts.iter().map(|(k, a)| (k.as_bytes(), a)));
        for claimed in [expected_root, self.state_root] {
            if computed != claimed {
                return Err(SnapshotError::RootMismatch {
                    expected: claimed,
                    computed,
                });
            }
        }
        let state = State::from_accounts(
            &genesis.chain_id,
            genesis.supply(),
            self.height,
            self.accounts.iter().map(|(k, a)| (*k.as_bytes(), *a)),
        );
        assert_eq!(
            state.state_root(),
            computed,
            "incremental and full roots differ"
        );
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
