//! RocksDB plumbing of the store: column families and their options, opening with typed
//! errors, and loading the accounts.

use crate::error::StoreError;
use crate::genesis::Genesis;
use crate::state::{Account, State};
use bftledger_crypto::encoding::{DecodeError, Versioned};
use rocksdb::{ColumnFamilyDescriptor, ErrorKind, IteratorMode, Options, WriteOptions, DB};
use std::path::{Path, PathBuf};

// Column families and meta keys: the layout table is in the `store` module docs.
pub(super) const CF_BLOCKS: &str = "blocks";
pub(super) const CF_TRANSFERS: &str = "transfers";
pub(super) const CF_ACCOUNTS: &str = "accounts";
pub(super) const CF_META: &str = "meta";
pub(super) const CF_CONSENSUS: &str = "consensus";
const COLUMN_FAMILIES: [&str; 5] = [CF_BLOCKS, CF_TRANSFERS, CF_ACCOUNTS, CF_META, CF_CONSENSUS];
pub(super) const KEY_GENESIS: &[u8] = b"genesis";
pub(super) const KEY_TIP: &[u8] = b"tip";
pub(super) const KEY_BASE: &[u8] = b"base";

/// A `Corrupt` error saying what is wrong.
pub(super) fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt { what: what.into() }
}

/// Decodes a stored record; a record of another format version is [`StoreError::FormatVersion`]
/// (a database of another build), any other record that does not decode means corruption.
pub(super) fn decode_stored<T: Versioned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    T::from_bytes(bytes).map_err(|e: DecodeError| match e {
        DecodeError::UnknownVersion { found, expected } => StoreError::FormatVersion {
            what: what.to_string(),
            found,
            expected,
        },
        e => corrupt(format!("{what}: {e}")),
    })
}

/// Every write of the store is synced before it returns.
pub(super) fn sync_writes() -> WriteOptions {
    let mut options = WriteOptions::default();
    options.set_sync(true);
    options
}

/// `<path>.creating`: where [`super::Store::create`] builds a database before renaming it into place.
pub(super) fn staging_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".creating");
    path.with_file_name(name)
}

/// A column family's handle (every one is opened with the database).
pub(super) fn cf<'a>(db: &'a DB, name: &str) -> &'a rocksdb::ColumnFamily {
    db.cf_handle(name)
        .unwrap_or_else(|| panic!("column family {name} was opened with the database"))
}

/// Accounts and the transfer index take thousands of random-key writes per block. RocksDB's
/// memtable is a skiplist whose insert cost grows with its size (cache misses), so these two
/// column families get small memtables: measured with 1,000-transfer blocks over 10,000
/// accounts, a 64 MiB memtable (the default) costs ~30 ms per block write, 1-2 MiB ~3 ms.
/// Flushes and compactions run in the background. Bloom filters keep index point reads cheap.
const SMALL_MEMTABLE_BYTES: usize = 2 << 20;

fn column_family_options(name: &str) -> Options {
    let mut options = Options::default();
    if name == CF_ACCOUNTS || name == CF_TRANSFERS {
        options.set_write_buffer_size(SMALL_MEMTABLE_BYTES);
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_bloom_filter(10.0, false);
        options.set_block_based_table_factory(&table);
    }
    options
}

/// Opens (or, with `create`, creates) the database with all column families, typing the errors.
pub(super) fn open_db(path: &Path, create: bool) -> Result<DB, StoreError> {
    let mut options = Options::default();
    options.create_if_missing(create);
    options.create_missing_column_families(create);
    let descriptors = COLUMN_FAMILIES
        .iter()
        .map(|name| ColumnFamilyDescriptor::new(*name, column_family_options(name)));
    DB::open_cf_descriptors(&options, path, descriptors).map_err(|e| classify_open_error(path, e))
}

fn classify_open_error(path: &Path, error: rocksdb::Error) -> StoreError {
    let message = error.to_string();
    match error.kind() {
        ErrorKind::IOError if message.to_lowercase().contains("lock") => StoreError::Locked {
            path: path.to_owned(),
            message,
        },
        ErrorKind::Corruption | ErrorKind::InvalidArgument | ErrorKind::NotSupported => {
            corrupt(format!("RocksDB cannot open {}: {message}", path.display()))
        }
        _ => StoreError::Db(error),
    }
}

/// Loads every account into a [`State`] at `height` (its root is checked by the caller).
pub(super) fn load_state(db: &DB, genesis: &Genesis, height: u64) -> Result<State, StoreError> {
    let mut accounts = Vec::new();
    for item in db.iterator_cf(cf(db, CF_ACCOUNTS), IteratorMode::Start) {
        let (key, value) = item?;
        let key: [u8; 32] = key
            .as_ref()
            .try_into()
            .map_err(|_| corrupt(format!("account key of {} bytes", key.len())))?;
        let account: Account = decode_stored(&value, "account")?;
        if account.is_empty() {
            return Err(corrupt("an empty account is stored"));
        }
        accounts.push((key, account));
    }
    Ok(State::from_accounts(
        &genesis.chain_id,
        genesis.supply(),
        height,
        accounts,
    ))
}
