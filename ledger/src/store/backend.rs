//! What the [`super::Store`] needs from a database: columns of ordered key-value pairs, point
//! reads, full scans, and **atomic, durable** write sets.
//!
//! Two backends implement it: RocksDB ([`super::rocks`], what a node runs) and
//! [`MemoryBackend`], with which the simulator and tests run the very same store code (recovery
//! checks included) without a disk. Keeping the store behind this seam is what lets the
//! simulator crash a replica at any point and reopen its ledger as the node would.
//!
//! The contract both honour, and that the store's crash safety rests on: a [`WriteSet`] is
//! applied whole or not at all, and once [`Backend::write`] returns it survives a crash
//! (RocksDB: one `WriteBatch` with `sync = true`). A crash loses only a write that had not
//! returned, as if it had never been issued.

use crate::error::StoreError;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex};

/// A column of the store (a RocksDB column family); the layout table is in the `store` docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Column {
    /// Certified blocks by height.
    Blocks,
    /// The transfer index by transfer id.
    Transfers,
    /// Accounts by public key.
    Accounts,
    /// Genesis hash, tip, base header.
    Meta,
    /// The consensus layer's durable state (opaque to the ledger).
    Consensus,
}

impl Column {
    /// Every column, in a fixed order.
    pub const ALL: [Column; 5] = [
        Column::Blocks,
        Column::Transfers,
        Column::Accounts,
        Column::Meta,
        Column::Consensus,
    ];

    /// The column family's name on disk.
    pub fn name(self) -> &'static str {
        match self {
            Column::Blocks => "blocks",
            Column::Transfers => "transfers",
            Column::Accounts => "accounts",
            Column::Meta => "meta",
            Column::Consensus => "consensus",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One write of a [`WriteSet`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Set `key` to `value`.
    Put {
        /// The column.
        column: Column,
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Remove `key` (nothing if absent).
    Delete {
        /// The column.
        column: Column,
        /// The key.
        key: Vec<u8>,
    },
    /// Remove every key in `from..to`.
    DeleteRange {
        /// The column.
        column: Column,
        /// First key removed.
        from: Vec<u8>,
        /// First key kept (exclusive end).
        to: Vec<u8>,
    },
}

/// Writes applied together: all or none, durable once [`Backend::write`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSet {
    writes: Vec<Write>,
}

impl WriteSet {
    /// An empty set.
    pub fn new() -> WriteSet {
        WriteSet::default()
    }

    /// Sets `key` to `value` in `column`.
    pub fn put(&mut self, column: Column, key: impl AsRef<[u8]>, value: impl Into<Vec<u8>>) {
        self.writes.push(Write::Put {
            column,
            key: key.as_ref().to_vec(),
            value: value.into(),
        });
    }

    /// Removes `key` from `column`.
    pub fn delete(&mut self, column: Column, key: impl AsRef<[u8]>) {
        self.writes.push(Write::Delete {
            column,
            key: key.as_ref().to_vec(),
        });
    }

    /// Removes the keys `from..to` of `column`.
    pub fn delete_range(&mut self, column: Column, from: &[u8], to: &[u8]) {
        self.writes.push(Write::DeleteRange {
            column,
            from: from.to_vec(),
            to: to.to_vec(),
        });
    }

    /// The writes, in the order they apply.
    pub fn writes(&self) -> &[Write] {
        &self.writes
    }

    /// Whether the set holds no write.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

/// A key-value pair of a column.
pub type Entry = (Vec<u8>, Vec<u8>);

/// A database the store can run on (see the module docs for the contract).
pub trait Backend: Send + Sync {
    /// The value of `key` in `column`.
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Whether `column` holds `key` (cheaper than [`Backend::get`] where the backend can).
    fn contains(&self, column: Column, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.get(column, key)?.is_some())
    }

    /// Applies `writes` atomically and durably (see the module docs).
    fn write(&self, writes: WriteSet) -> Result<(), StoreError>;

    /// Every pair of `column`, in key order.
    fn entries(&self, column: Column) -> Result<Vec<Entry>, StoreError>;

    /// Where the data lives, for messages (a directory, or "memory").
    fn describe(&self) -> String;
}

type Columns = [BTreeMap<Vec<u8>, Vec<u8>>; Column::ALL.len()];

/// A backend in memory. Clones share the same data: a test or the simulator keeps one clone as
/// the replica's "disk", drops the [`super::Store`] to crash it, and reopens a store on the
/// clone to restart it, with exactly the writes that completed.
#[derive(Debug, Clone, Default)]
pub struct MemoryBackend {
    columns: Arc<Mutex<Columns>>,
}

impl MemoryBackend {
    /// An empty database.
    pub fn new() -> MemoryBackend {
        MemoryBackend::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Columns> {
        // A panic while holding the lock happens only between complete writes (the write below
        // cannot panic half-way), so the data is consistent even if the lock is poisoned.
        self.columns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether nothing was ever written.
    pub fn is_empty(&self) -> bool {
        self.lock().iter().all(BTreeMap::is_empty)
    }
}

impl Backend for MemoryBackend {
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock()[column.index()].get(key).cloned())
    }

    fn write(&self, writes: WriteSet) -> Result<(), StoreError> {
        let mut columns = self.lock();
        for write in writes.writes {
            match write {
                Write::Put { column, key, value } => {
                    columns[column.index()].insert(key, value);
                }
                Write::Delete { column, key } => {
                    columns[column.index()].remove(&key);
                }
                Write::DeleteRange { column, from, to } => {
                    let map = &mut columns[column.index()];
                    let doomed: Vec<Vec<u8>> = map
                        .range::<[u8], _>((Bound::Included(&from[..]), Bound::Excluded(&to[..])))
                        .map(|(k, _)| k.clone())
                        .collect();
                    for key in doomed {
                        map.remove(&key);
                    }
                }
            }
        }
        Ok(())
    }

    fn entries(&self, column: Column) -> Result<Vec<Entry>, StoreError> {
        Ok(self.lock()[column.index()]
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn describe(&self) -> String {
        "memory".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_set_applies_in_order_and_clones_share_the_data() {
        let disk = MemoryBackend::new();
        let db = disk.clone();
        let mut writes = WriteSet::new();
        for key in [[1u8], [2], [3], [4]] {
            writes.put(Column::Accounts, key, vec![key[0]]);
        }
        writes.delete(Column::Accounts, [1u8]);
        writes.delete_range(Column::Accounts, &[2], &[4]);
        writes.put(Column::Meta, b"tip", b"x".to_vec());
        db.write(writes).unwrap();
        drop(db);
        assert_eq!(
            disk.entries(Column::Accounts).unwrap(),
            vec![(vec![4], vec![4])]
        );
        assert_eq!(disk.get(Column::Meta, b"tip").unwrap(), Some(b"x".to_vec()));
        assert!(!disk.contains(Column::Blocks, b"tip").unwrap());
    }
}
