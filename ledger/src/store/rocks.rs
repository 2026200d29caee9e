//! The RocksDB [`Backend`] of the store: column families and their options, opening with typed
//! errors, and synced atomic writes.

use super::backend::{Backend, Column, Entry, Write, WriteSet};
use super::records::corrupt;
use crate::error::StoreError;
use rocksdb::{ColumnFamilyDescriptor, ErrorKind, IteratorMode, Options, WriteOptions, DB};
use std::path::{Path, PathBuf};

/// Every write of the store is synced before it returns.
fn sync_writes() -> WriteOptions {
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
fn cf(db: &DB, column: Column) -> &rocksdb::ColumnFamily {
    let name = column.name();
    db.cf_handle(name)
        .unwrap_or_else(|| panic!("column family {name} was opened with the database"))
}

/// Accounts and the transfer index take thousands of random-key writes per block. RocksDB's
/// memtable is a skiplist whose insert cost grows with its size (cache misses), so these two
/// column families get small memtables: measured with 1,000-transfer blocks over 10,000
/// accounts, a 64 MiB memtable (the default) costs ~30 ms per block write, 1-2 MiB ~3 ms.
/// Flushes and compactions run in the background. Bloom filters keep index point reads cheap.
const SMALL_MEMTABLE_BYTES: usize = 2 << 20;

fn column_family_options(column: Column) -> Options {
    let mut options = Options::default();
    if column == Column::Accounts || column == Column::Transfers {
        options.set_write_buffer_size(SMALL_MEMTABLE_BYTES);
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_bloom_filter(10.0, false);
        options.set_block_based_table_factory(&table);
    }
    options
}

/// Free space the store keeps on the database's disk, in bytes: below it, a write is refused
/// with [`StoreError::DiskFull`] before RocksDB sees it, and the database does not open. The
/// reserve covers what RocksDB writes on its own between two of our writes: a new write-ahead
/// log (preallocated up to about 1.1x a 64 MiB memtable) and a memtable flush.
pub const MIN_FREE_DISK_BYTES: u64 = 256 << 20;

/// Refuses with [`StoreError::DiskFull`] if the disk holding `path` has less than
/// [`MIN_FREE_DISK_BYTES`] free (the one owner of that check: open and every write call it).
fn check_free_space(path: &Path) -> Result<(), StoreError> {
    check_free_space_above(path, MIN_FREE_DISK_BYTES)
}

/// Below this much free space on its data disk (bytes, twice the store's reserve), a node stops
/// admitting client transfers and says so on `/health/ready`: it keeps ordering and executing
/// what it holds, with room to spare, before the store's own refusal would stop it.
pub const LOW_DISK_BYTES: u64 = 2 * MIN_FREE_DISK_BYTES;

/// Bytes free for an unprivileged writer on the disk holding `path` (the one owner of the
/// `statvfs` call).
pub fn free_disk_bytes(path: &Path) -> Result<u64, StoreError> {
    let stats = rustix::fs::statvfs(path).map_err(|e| StoreError::Io {
        path: path.to_owned(),
        source: e.into(),
    })?;
    Ok(stats.f_bavail.saturating_mul(stats.f_frsize))
}

fn check_free_space_above(path: &Path, reserve_bytes: u64) -> Result<(), StoreError> {
    let free_bytes = free_disk_bytes(path)?;
    if free_bytes < reserve_bytes {
        return Err(StoreError::DiskFull {
            path: path.to_owned(),
            free_bytes,
            reserve_bytes,
        });
    }
    Ok(())
}

/// A RocksDB database with the store's column families; every write is synced.
pub struct RocksBackend {
    db: DB,
    path: PathBuf,
}

impl std::fmt::Debug for RocksBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksBackend")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RocksBackend {
    /// Opens (or, with `create`, creates) the database at `path` with all column families,
    /// typing the errors.
    pub fn open(path: &Path, create: bool) -> Result<RocksBackend, StoreError> {
        let mut options = Options::default();
        options.create_if_missing(create);
        options.create_missing_column_families(create);
        let descriptors = Column::ALL.iter().map(|&column| {
            ColumnFamilyDescriptor::new(column.name(), column_family_options(column))
        });
        // The directory (or, when creating, its parent) must have room before RocksDB writes.
        let existing = if path.exists() {
            path
        } else {
            path.parent().unwrap_or(path)
        };
        check_free_space(existing)?;
        let db = DB::open_cf_descriptors(&options, path, descriptors)
            .map_err(|e| classify_open_error(path, e))?;
        Ok(RocksBackend {
            db,
            path: path.to_owned(),
        })
    }
}

impl Backend for RocksBackend {
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(cf(&self.db, column), key)?)
    }

    fn contains(&self, column: Column, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.db.get_pinned_cf(cf(&self.db, column), key)?.is_some())
    }

    fn write(&self, writes: WriteSet) -> Result<(), StoreError> {
        check_free_space(&self.path)?;
        let mut batch = rocksdb::WriteBatch::default();
        for write in writes.writes() {
            match write {
                Write::Put { column, key, value } => {
                    batch.put_cf(cf(&self.db, *column), key, value)
                }
                Write::Delete { column, key } => batch.delete_cf(cf(&self.db, *column), key),
                Write::DeleteRange { column, from, to } => {
                    batch.delete_range_cf(cf(&self.db, *column), from, to)
                }
            }
        }
        self.db.write_opt(batch, &sync_writes())?;
        Ok(())
    }

    fn entries(&self, column: Column) -> Result<Vec<Entry>, StoreError> {
        self.db
            .iterator_cf(cf(&self.db, column), IteratorMode::Start)
            .map(|item| {
                let (k, v) = item?;
                Ok((k.into_vec(), v.into_vec()))
            })
            .collect()
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disk_below_the_reserve_refuses_with_what_is_free_and_what_is_needed() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(check_free_space_above(dir.path(), 0).is_ok());
        match check_free_space_above(dir.path(), u64::MAX) {
            Err(StoreError::DiskFull {
                path,
                free_bytes,
                reserve_bytes,
            }) => {
                assert_eq!(path, dir.path());
                assert!(free_bytes < u64::MAX);
                assert_eq!(reserve_bytes, u64::MAX);
            }
            other => panic!("expected DiskFull, got {other:?}"),
        }
        let message = check_free_space_above(dir.path(), u64::MAX)
            .expect_err("refused")
            .to_string();
        assert!(
            message.contains("free space on it, then start the node again"),
            "{message}"
        );
    }

    #[test]
    fn a_missing_directory_is_an_io_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("temp dir");
        let gone = dir.path().join("not-there");
        assert!(matches!(
            check_free_space(&gone),
            Err(StoreError::Io { .. })
        ));
    }
}
