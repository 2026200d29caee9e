//! Typed errors and rejection reasons of the ledger, one enum per layer.
//!
//! * [`TransferError`]: a transfer fails a *stateless* check (needs no account state).
//! * [`RejectReason`]: why a committed transfer was not executed; stored in its [`crate::Receipt`].
//!   It covers stateless failures too, because a committed batch is executed as it was ordered.
//! * [`PayloadError`]: an opaque request payload is not a signed transfer.
//! * [`GenesisError`], [`StoreError`], [`SnapshotError`]: loading a genesis file, the database, a
//!   snapshot.

use bftledger_crypto::encoding::DecodeError;
use bftledger_crypto::Digest;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A transfer fails a stateless check: it can never be valid, whatever the ledger's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum TransferError {
    /// The signature does not verify for `from` over the transfer's canonical encoding.
    #[error("signature does not verify for the sender")]
    BadSignature,
    /// The transfer names another chain (its chain id differs from the genesis chain id).
    #[error("transfer is for another chain")]
    WrongChainId,
    /// The amount is zero.
    #[error("amount must be greater than zero")]
    ZeroAmount,
    /// Sender and recipient are the same account.
    #[error("sender and recipient are the same account")]
    SelfTransfer,
    /// The memo is longer than [`crate::MAX_MEMO_BYTES`].
    #[error("memo is {len_bytes} bytes, the limit is {max_bytes} bytes")]
    MemoTooLong {
        /// Memo length in bytes (UTF-8).
        len_bytes: u32,
        /// The limit in bytes.
        max_bytes: u32,
    },
    /// The nonce is zero: a sender's first transfer has nonce 1. Last in the enum, so the
    /// binary encodings of the older variants (in stored receipts) keep their tags.
    #[error("nonce must be at least 1 (a sender's first transfer has nonce 1)")]
    ZeroNonce,
}

/// Why a committed transfer was rejected at execution. Stored in its receipt; a rejected
/// transfer changes nothing (no balance, no nonce).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum RejectReason {
    /// A stateless check failed.
    #[error("invalid transfer: {0}")]
    Invalid(TransferError),
    /// The nonce was already used by this sender (replay): `got <= last_used`.
    #[error("nonce {got} was already used (last used nonce is {last_used})")]
    NonceReplayed {
        /// The sender's last used nonce (0 if none yet).
        #[serde(with = "crate::decimal_u64")]
        last_used: u64,
        /// The transfer's nonce.
        #[serde(with = "crate::decimal_u64")]
        got: u64,
    },
    /// The nonce skips ahead: nonces are strictly sequential from 1.
    #[error("nonce {got} is ahead of the next nonce {expected}")]
    NonceGap {
        /// The sender's next nonce.
        #[serde(with = "crate::decimal_u64")]
        expected: u64,
        /// The transfer's nonce.
        #[serde(with = "crate::decimal_u64")]
        got: u64,
    },
    /// The sender's balance is smaller than the amount.
    #[error("insufficient funds: balance {balance}, amount {amount} (minor units)")]
    InsufficientFunds {
        /// The sender's balance in minor units.
        #[serde(with = "crate::decimal_u64")]
        balance: u64,
        /// The transfer's amount in minor units.
        #[serde(with = "crate::decimal_u64")]
        amount: u64,
    },
    /// Crediting the recipient would overflow its u64 balance. Unreachable while the supply fits
    /// in a u64 (a balance plus an amount the sender holds is at most the supply), which genesis
    /// validation guarantees; checked anyway so execution never relies on it.
    #[error("recipient balance {balance} + amount {amount} overflows u64 (minor units)")]
    RecipientOverflow {
        /// The recipient's balance in minor units.
        #[serde(with = "crate::decimal_u64")]
        balance: u64,
        /// The transfer's amount in minor units.
        #[serde(with = "crate::decimal_u64")]
        amount: u64,
    },
}

impl From<TransferError> for RejectReason {
    fn from(e: TransferError) -> Self {
        RejectReason::Invalid(e)
    }
}

/// An opaque request payload is not a signed transfer (the request is invalid).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The bytes do not decode as a [`crate::SignedTransfer`].
    #[error("payload does not decode as a signed transfer: {0}")]
    Decode(DecodeError),
    /// The transfer decodes but fails a stateless check.
    #[error("{0}")]
    Invalid(TransferError),
}

/// Some payloads of a batch are invalid; `bad` lists (position, reason) in increasing position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} invalid request(s) in batch, first at position {}", bad.len(), bad.first().map_or(0, |b| b.0))]
pub struct InvalidPayloads {
    /// Position in the batch and why.
    pub bad: Vec<(usize, PayloadError)>,
}

/// A genesis file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    /// Reading the file failed.
    #[error("cannot read genesis file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The text is not valid TOML for a genesis (message from the parser, with the location).
    #[error("genesis file is not valid TOML: {0}")]
    Parse(String),
    /// The text is longer than [`crate::genesis::MAX_GENESIS_TOML_BYTES`].
    #[error("genesis file is {len_bytes} bytes, the limit is {max_bytes} bytes")]
    TooLarge {
        /// Its length in bytes.
        len_bytes: u64,
        /// The limit in bytes.
        max_bytes: u64,
    },
    /// The chain id is empty, too long, or has characters outside `[A-Za-z0-9._-]`.
    #[error("chain id {chain_id:?} must be 1..={max_bytes} bytes of [A-Za-z0-9._-]")]
    BadChainId {
        /// The chain id found.
        chain_id: String,
        /// The limit in bytes.
        max_bytes: usize,
    },
    /// Fewer than 4 validators (BFT needs n >= 3f + 1 with f >= 1).
    #[error("{count} validators; at least {min} are needed (n >= 3f+1, f >= 1)")]
    TooFewValidators {
        /// Validators found.
        count: usize,
        /// Minimum.
        min: usize,
    },
    /// More validators than [`crate::genesis::MAX_VALIDATORS`].
    #[error("{count} validators; at most {max} are supported")]
    TooManyValidators {
        /// Validators found.
        count: usize,
        /// Maximum.
        max: usize,
    },
    /// The same validator key appears twice.
    #[error("validator {key} is listed twice")]
    DuplicateValidator {
        /// The key, as an address.
        key: String,
    },
    /// A validator has too many or too long address hints.
    #[error(
        "validator {key}: at most {max_count} address hints of at most {max_bytes} bytes each"
    )]
    BadAddressHints {
        /// The key, as an address.
        key: String,
        /// Maximum number of hints.
        max_count: usize,
        /// Maximum length of one hint in bytes.
        max_bytes: usize,
    },
    /// The same account has two initial balances.
    #[error("account {account} has two initial balances")]
    DuplicateAccount {
        /// The account, as an address.
        account: String,
    },
    /// An initial balance is zero (omit the account instead).
    #[error("account {account} has a zero initial balance")]
    ZeroBalance {
        /// The account, as an address.
        account: String,
    },
    /// More initial balances than [`crate::genesis::MAX_GENESIS_ACCOUNTS`].
    #[error("{count} initial balances; at most {max} are supported")]
    TooManyAccounts {
        /// Count found.
        count: usize,
        /// Maximum.
        max: usize,
    },
    /// The initial balances sum to more than u64::MAX minor units.
    #[error("total supply overflows u64 (minor units)")]
    SupplyOverflow,
    /// The initial balances sum to zero (no accounts).
    #[error("total supply is zero: give at least one account a balance")]
    ZeroSupply,
}

/// The database cannot be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No database at this path (use `Store::create` or `Store::open_or_create`).
    #[error("no ledger database at {path}")]
    Missing {
        /// The path.
        path: PathBuf,
    },
    /// A database already exists at this path (from `Store::create`).
    #[error("a ledger database already exists at {path}")]
    AlreadyExists {
        /// The path.
        path: PathBuf,
    },
    /// Another process (or another `Store` in this one) has the database open.
    #[error("ledger database at {path} is locked by another process: {message}")]
    Locked {
        /// The path.
        path: PathBuf,
        /// RocksDB's message.
        message: String,
    },
    /// The stored data is inconsistent or does not decode.
    #[error("ledger database is corrupt: {what}")]
    Corrupt {
        /// What was found to be wrong.
        what: String,
    },
    /// A record was written in a format this build does not read (e.g. a database of a build
    /// before the block format changed). There is no conversion: delete the data directory and
    /// let the node catch up from its peers.
    #[error(
        "ledger database {what} has format version {found}, this build reads version {expected}: \
         delete the data directory and let the node catch up from its peers"
    )]
    FormatVersion {
        /// The record.
        what: String,
        /// The version found.
        found: u8,
        /// The version this build reads.
        expected: u8,
    },
    /// The database belongs to another chain.
    #[error("database is for genesis {stored}, but the genesis given has hash {given}")]
    GenesisMismatch {
        /// Genesis hash recorded in the database.
        stored: Digest,
        /// Hash of the genesis given.
        given: Digest,
    },
    /// A block was given at the wrong height.
    #[error("block at height {got} given, but the next height is {expected}")]
    WrongHeight {
        /// The next height.
        expected: u64,
        /// The block's height.
        got: u64,
    },
    /// A block does not match what executing its transfers gives.
    #[error("block {height} does not match its re-execution: {what}")]
    BlockMismatch {
        /// The block's height.
        height: u64,
        /// What differs.
        what: &'static str,
    },
    /// A batch or certificate exceeds a limit.
    #[error("{what} is {len} long, the limit is {max}")]
    TooLarge {
        /// What.
        what: &'static str,
        /// Its size (transfers or bytes, see `what`).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A snapshot could not be imported.
    #[error("snapshot rejected: {0}")]
    Snapshot(#[from] SnapshotError),
    /// A filesystem operation around the database failed.
    #[error("IO error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// An earlier write failed; the in-memory state may be ahead of the disk. Reopen the store.
    #[error("an earlier write failed; reopen the store")]
    Poisoned,
    /// The disk holding the database has less free space than the store keeps in reserve, so
    /// the store refused to write (nothing was written). RocksDB must never meet a full disk
    /// itself: a write that fails half-way leaves its log writer in an error state, and the
    /// distribution's build asserts on the next write (SIGABRT, found by testnet/chaos.sh).
    #[error(
        "the disk of {path} has {free_bytes} bytes free, below the {reserve_bytes}-byte reserve \
         the store keeps for RocksDB: free space on it, then start the node again"
    )]
    DiskFull {
        /// The database directory.
        path: PathBuf,
        /// Bytes free for an unprivileged writer.
        free_bytes: u64,
        /// The reserve, [`crate::MIN_FREE_DISK_BYTES`].
        reserve_bytes: u64,
    },
    /// Any other RocksDB error (IO, permissions, ...). RocksDB's corruption errors become
    /// [`StoreError::Corrupt`] instead.
    #[error("RocksDB error: {0}")]
    Db(rocksdb::Error),
}

impl StoreError {
    /// Whether the store refused what it was given (a block, snapshot or batch that does not
    /// check out, or is too large) and is unchanged, as opposed to failing itself (IO,
    /// corruption, a poisoned store), after which it cannot go on safely.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            StoreError::WrongHeight { .. }
                | StoreError::BlockMismatch { .. }
                | StoreError::TooLarge { .. }
                | StoreError::Snapshot(_)
        )
    }
}

impl From<rocksdb::Error> for StoreError {
    fn from(error: rocksdb::Error) -> Self {
        if error.kind() == rocksdb::ErrorKind::Corruption {
            StoreError::Corrupt {
                what: error.to_string(),
            }
        } else {
            StoreError::Db(error)
        }
    }
}

/// A snapshot does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The snapshot bytes do not decode.
    #[error("snapshot does not decode: {0}")]
    Decode(DecodeError),
    /// The snapshot is for another chain.
    #[error("snapshot is for genesis {got}, expected {expected}")]
    WrongGenesis {
        /// Expected genesis hash.
        expected: Digest,
        /// Genesis hash in the snapshot.
        got: Digest,
    },
    /// More accounts than [`crate::snapshot::MAX_SNAPSHOT_ACCOUNTS`].
    #[error("snapshot has {count} accounts, the limit is {max}")]
    TooManyAccounts {
        /// Accounts in the snapshot.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Accounts are not in strictly increasing key order (or a key repeats).
    #[error("accounts not strictly sorted at position {position}")]
    Unsorted {
        /// Position of the first out-of-order account.
        position: usize,
    },
    /// An account record is invalid (an account with zero balance and zero nonce is never stored).
    #[error("account at position {position} is empty")]
    EmptyAccount {
        /// Position of the account.
        position: usize,
    },
    /// Balances do not sum to the genesis supply (or overflow).
    #[error("snapshot supply {got:?} differs from the genesis supply {expected}")]
    SupplyMismatch {
        /// Genesis supply in minor units.
        expected: u64,
        /// Sum found (None if it overflows u64).
        got: Option<u64>,
    },
    /// The state root recomputed from the accounts differs from the one in the snapshot's
    /// (verified) block header.
    #[error("state root {computed} does not match {expected}")]
    RootMismatch {
        /// Root the snapshot must have (its block header's, bound to the checkpoint digest).
        expected: Digest,
        /// Root recomputed from its accounts.
        computed: Digest,
    },
    /// The snapshot is at another height than expected.
    #[error("snapshot at height {got}, expected {expected}")]
    WrongHeight {
        /// Expected height.
        expected: u64,
        /// Height in the snapshot.
        got: u64,
    },
    /// The snapshot's block header does not hash to the checkpoint digest validators signed.
    #[error(
        "snapshot header at height {height} hashes to {got}, the checkpoint digest is {expected}"
    )]
    WrongBlockHash {
        /// The checkpoint's height.
        height: u64,
        /// The signed checkpoint digest (the block hash at `height`).
        expected: Digest,
        /// The hash of the snapshot's header.
        got: Digest,
    },
    /// A part's proof does not hold under the state root of its (verified) header.
    #[error("snapshot part does not verify: {0}")]
    Proof(crate::state_tree::ProofError),
    /// A part holds a key that is not a public key (the root binds keys, so only a part that
    /// also fails its proof can).
    #[error("snapshot part holds an invalid public key at position {position}")]
    InvalidKey {
        /// Position of the key in the part.
        position: usize,
    },
    /// The store cannot export a snapshot at this height.
    #[error("cannot export a snapshot at height {height} (latest is {latest})")]
    Unavailable {
        /// Height asked for.
        height: u64,
        /// The store's latest height.
        latest: u64,
    },
}
