//! Account state, deterministic execution of committed batches, and the state root.
//!
//! # State root
//!
//! The state is the set of accounts whose record is not `(balance 0, nonce 0)` (such an account
//! is never stored); the state root is the root of the authenticated tree over them, defined for
//! an external verifier in [`crate::state_tree`]. Executing a block re-hashes only the paths of
//! the accounts it changed.

use crate::error::RejectReason;
use crate::genesis::Genesis;
use crate::state_tree::StateTree;
use crate::transfer::SignedTransfer;
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::{Digest, PublicKey};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// An account's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Account {
    /// Balance in minor units.
    pub balance: u64,
    /// The last nonce this account used as a sender (0 if it never sent).
    pub nonce: u64,
}

impl Versioned for Account {
    const VERSION: u8 = 1;
    /// Two varint u64 (10 bytes each) and the version byte, rounded up: 32 bytes.
    const MAX_BYTES: usize = 32;
}

impl Account {
    /// The nonce the account's next transfer must carry (`None` once nonce u64::MAX was used).
    pub fn next_nonce(&self) -> Option<u64> {
        self.nonce.checked_add(1)
    }

    /// Whether this record is the default one (such accounts are not stored).
    pub fn is_empty(&self) -> bool {
        self.balance == 0 && self.nonce == 0
    }
}

/// The outcome of one transfer of a block, in the block's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Receipt {
    /// Executed: the amount moved and the sender's nonce advanced.
    Applied,
    /// Not executed, with the reason; nothing changed.
    Rejected(RejectReason),
}

impl Versioned for Receipt {
    const VERSION: u8 = 1;
    /// Version byte, two enum tags and two varint u64 (10 bytes each), rounded up: 32 bytes.
    const MAX_BYTES: usize = 32;
}

/// The words clients see: `applied`, or `rejected: ` and the reason.
impl std::fmt::Display for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Receipt::Applied => f.write_str("applied"),
            Receipt::Rejected(reason) => write!(f, "rejected: {reason}"),
        }
    }
}

impl Receipt {
    /// Whether the transfer was executed.
    pub fn is_applied(&self) -> bool {
        matches!(self, Receipt::Applied)
    }
}

/// Whether [`State::apply`] verifies transfer signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signatures {
    /// Batch-verify them; a bad one gets a `BadSignature` receipt.
    Verify,
    /// The caller has verified them (consensus checks every signature of a batch before it
    /// prepares it, so a committed batch passed the check on at least f+1 correct replicas).
    AlreadyVerified,
}

/// All accounts, the height of the last executed block, and the state root.
#[derive(Clone)]
pub struct State {
    chain_id: String,
    supply: u64,
    height: u64,
    /// The stored accounts. A hash map: one lookup costs one or two cache misses at millions
    /// of accounts where an ordered map costs a dozen; order is imposed where it matters
    /// ([`State::accounts`]).
    accounts: HashMap<[u8; 32], Account>,
    /// The sum of all balances, kept with every change.
    balance_sum: u128,
    /// The authenticated tree of `accounts` as of the last executed block.
    tree: StateTree,
    /// Accounts changed since the last `take_changed` (for the store, and for the tree).
    changed: Vec<[u8; 32]>,
    /// How many of `changed` the tree already holds (the rest changed since it was updated).
    hashed: usize,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("chain_id", &self.chain_id)
            .field("height", &self.height)
            .field("accounts", &self.account_count())
            .field("supply", &self.supply)
            .field("state_root", &self.state_root())
            .finish()
    }
}

impl State {
    /// The state at height 0: genesis balances.
    pub fn from_genesis(genesis: &Genesis) -> State {
        let accounts = genesis.balances.iter().map(|b| {
            (
                *b.account.as_bytes(),
                Account {
                    balance: b.amount,
                    nonce: 0,
                },
            )
        });
        State::from_accounts(&genesis.chain_id, genesis.supply(), 0, accounts)
    }

    /// A state from an account list (a snapshot or the store). `supply` is the genesis supply;
    /// accounts equal to the default record are skipped. The caller checks the supply with
    /// [`State::computed_supply`].
    pub fn from_accounts(
        chain_id: &str,
        supply: u64,
        height: u64,
        accounts: impl IntoIterator<Item = ([u8; 32], Account)>,
    ) -> State {
        let mut state = State {
            chain_id: chain_id.to_owned(),
            supply,
            height,
            accounts: HashMap::new(),
            balance_sum: 0,
            tree: StateTree::default(),
            changed: Vec::new(),
            hashed: 0,
        };
        for (key, account) in accounts {
            if !account.is_empty() {
                state.accounts.insert(key, account);
            }
        }
        state.balance_sum = state.accounts.values().map(|a| u128::from(a.balance)).sum();
        state.tree = StateTree::from_accounts(state.accounts.iter().map(|(k, a)| (*k, *a)));
        state
    }

    /// The chain id transfers must carry.
    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// Height of the last executed block (0 = genesis).
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The genesis supply in minor units (an invariant).
    pub fn supply(&self) -> u64 {
        self.supply
    }

    /// The sum of all balances in minor units, as maintained with the root (equals
    /// [`State::supply`] after every block; a u128 so a corrupt state cannot overflow it).
    pub fn computed_supply(&self) -> u128 {
        self.balance_sum
    }

    /// The state root after the last executed block (see the module docs).
    pub fn state_root(&self) -> Digest {
        self.tree.root()
    }

    /// The authenticated tree after the last executed block; cloning it keeps this version
    /// (for account proofs) at the cost of what later blocks change.
    pub fn tree(&self) -> &StateTree {
        &self.tree
    }

    /// An account's record (the default record if it does not exist).
    pub fn account(&self, key: &PublicKey) -> Account {
        self.account_by_bytes(key.as_bytes())
    }

    fn account_by_bytes(&self, key: &[u8; 32]) -> Account {
        self.accounts.get(key).copied().unwrap_or_default()
    }

    /// Number of stored accounts.
    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }

    /// All accounts in increasing key order (sorted on each call: for snapshots and checks,
    /// not for the execution path).
    pub fn accounts(&self) -> impl Iterator<Item = (&[u8; 32], &Account)> {
        let mut all: Vec<(&[u8; 32], &Account)> = self.accounts.iter().collect();
        all.sort_unstable_by_key(|(k, _)| *k);
        all.into_iter()
    }

    /// Executes the block at `height` (which must be `self.height() + 1`): one receipt per
    /// transfer, in order. Deterministic. Asserts afterwards that the supply is conserved.
    ///
    /// # Panics
    /// If `height` is not the next height (the caller's bug), or if an invariant breaks.
    pub fn apply(
        &mut self,
        height: u64,
        batch: &[SignedTransfer],
        signatures: Signatures,
    ) -> Vec<Receipt> {
        assert_eq!(
            height,
            self.height + 1,
            "blocks must be applied at consecutive heights"
        );
        let bad_signatures = match signatures {
            Signatures::Verify => crate::transfer::verify_signatures(batch).err(),
            Signatures::AlreadyVerified => None,
        }
        .unwrap_or_default();
        let mut bad = bad_signatures.into_iter().peekable();
        let mut receipts = Vec::with_capacity(batch.len());
        for (pos, signed) in batch.iter().enumerate() {
            let bad_signature = bad.next_if_eq(&pos).is_some();
            receipts.push(match self.execute(signed, bad_signature) {
                Ok(()) => Receipt::Applied,
                Err(reason) => Receipt::Rejected(reason),
            });
        }
        self.height = height;
        self.recompute_root();
        assert_eq!(
            self.computed_supply(),
            u128::from(self.supply),
            "supply not conserved at height {height}"
        );
        receipts
    }

    /// Executes one transfer, or says why not (and then changes nothing).
    fn execute(
        &mut self,
        signed: &SignedTransfer,
        bad_signature: bool,
    ) -> Result<(), RejectReason> {
        let t = &signed.transfer;
        t.check_fields(&self.chain_id)?;
        if bad_signature {
            return Err(crate::error::TransferError::BadSignature.into());
        }
        let (from, to) = (*t.from.as_bytes(), *t.to.as_bytes());
        let sender = self.account_by_bytes(&from);
        let recipient = self.account_by_bytes(&to);
        check_nonce(&sender, t.nonce)?;
        let sender_balance =
            sender
                .balance
                .checked_sub(t.amount)
                .ok_or(RejectReason::InsufficientFunds {
                    balance: sender.balance,
                    amount: t.amount,
                })?;
        let recipient_balance =
            recipient
                .balance
                .checked_add(t.amount)
                .ok_or(RejectReason::RecipientOverflow {
                    balance: recipient.balance,
                    amount: t.amount,
                })?;
        self.put(
            from,
            Account {
                balance: sender_balance,
                nonce: t.nonce,
            },
        );
        self.put(
            to,
            Account {
                balance: recipient_balance,
                nonce: recipient.nonce,
            },
        );
        Ok(())
    }

    fn put(&mut self, key: [u8; 32], account: Account) {
        let old = if account.is_empty() {
            self.accounts.remove(&key)
        } else {
            self.accounts.insert(key, account)
        };
        self.balance_sum -= u128::from(old.unwrap_or_default().balance);
        self.balance_sum += u128::from(account.balance);
        self.changed.push(key);
    }

    /// The accounts changed since the last call, in increasing key order, with their new records
    /// (the default record for a removed account). The store writes these with each block.
    pub fn take_changed(&mut self) -> Vec<([u8; 32], Account)> {
        let mut keys = std::mem::take(&mut self.changed);
        self.hashed = 0;
        keys.sort_unstable();
        keys.dedup();
        keys.into_iter()
            .map(|k| (k, self.account_by_bytes(&k)))
            .collect()
    }

    /// Reverses an executed block (for exporting a snapshot at an earlier height): `receipts`
    /// must be the ones `apply` returned for `batch` at the current height.
    ///
    /// # Panics
    /// If the block was not the last one applied (its effects do not undo cleanly).
    pub fn revert(&mut self, batch: &[SignedTransfer], receipts: &[Receipt]) {
        assert_eq!(batch.len(), receipts.len(), "one receipt per transfer");
        assert!(self.height > 0, "cannot revert below genesis");
        for (signed, receipt) in batch.iter().zip(receipts).rev() {
            if !receipt.is_applied() {
                continue;
            }
            let t = &signed.transfer;
            let (from, to) = (*t.from.as_bytes(), *t.to.as_bytes());
            let sender = self.account_by_bytes(&from);
            let recipient = self.account_by_bytes(&to);
            assert_eq!(sender.nonce, t.nonce, "revert out of order");
            self.put(
                from,
                Account {
                    balance: sender.balance + t.amount,
                    nonce: t.nonce - 1,
                },
            );
            self.put(
                to,
                Account {
                    balance: recipient.balance - t.amount,
                    nonce: recipient.nonce,
                },
            );
        }
        self.height -= 1;
        self.recompute_root();
        self.changed.clear();
        self.hashed = 0;
        assert_eq!(self.computed_supply(), u128::from(self.supply));
    }

    /// Brings the tree up to the accounts changed since it was last updated.
    fn recompute_root(&mut self) {
        let accounts = &self.accounts;
        self.tree.update(
            self.changed[self.hashed..]
                .iter()
                .map(|k| (*k, accounts.get(k).copied().unwrap_or_default())),
        );
        self.hashed = self.changed.len();
    }
}

/// Nonces are strictly sequential per sender, starting at 1.
fn check_nonce(sender: &Account, got: u64) -> Result<(), RejectReason> {
    if got <= sender.nonce {
        return Err(RejectReason::NonceReplayed {
            last_used: sender.nonce,
            got,
        });
    }
    let expected = sender.nonce + 1; // cannot overflow: got > sender.nonce
    if got != expected {
        return Err(RejectReason::NonceGap { expected, got });
    }
    Ok(())
}

/// Recomputes the state root of an account list from scratch, exactly as [`crate::state_tree`]
/// defines it (independent of [`State`]'s incremental bookkeeping; used to check it).
/// `accounts` need not be sorted; default records are skipped.
pub fn state_root_of<'a>(
    accounts: impl IntoIterator<Item = (&'a [u8; 32], &'a Account)>,
) -> Digest {
    crate::state_tree::root_of(accounts)
}
