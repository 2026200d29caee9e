//! The data disk's free space, as the node acts on it.
//!
//! Two thresholds, both owned by the ledger's store: below [`LOW_DISK_BYTES`] the node stops
//! admitting client transfers (503 `disk_full`) and is not ready, saying why on `/health/ready`,
//! while it keeps ordering and executing what it holds; above it again, it resumes by itself.
//! Below [`bftledger_ledger::MIN_FREE_DISK_BYTES`] (half of it) the store refuses to write and the
//! node stops with a message, so RocksDB itself never meets a full disk (see `StoreError::DiskFull`).

use bftledger_ledger::{free_disk_bytes, LOW_DISK_BYTES};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::{info, warn};

/// Watches the free space of the disk holding the node's data directory; the driver calls
/// [`DiskWatch::refresh`] on its once-a-second statistics tick (one `statvfs` call).
#[derive(Debug)]
pub struct DiskWatch {
    path: PathBuf,
    low_below_bytes: AtomicU64,
    /// The last measurement (u64::MAX until one succeeds: an unreadable disk is the store's to
    /// report, on its next write).
    free_bytes: AtomicU64,
}

impl DiskWatch {
    /// Watches the disk of `path` with the node's threshold, [`LOW_DISK_BYTES`].
    pub fn new(path: &Path) -> DiskWatch {
        DiskWatch::with_threshold(path, LOW_DISK_BYTES)
    }

    /// Watches with another threshold, in bytes (tests make the disk "low" with `u64::MAX`).
    pub fn with_threshold(path: &Path, low_below_bytes: u64) -> DiskWatch {
        let watch = DiskWatch {
            path: path.to_owned(),
            low_below_bytes: AtomicU64::new(low_below_bytes),
            free_bytes: AtomicU64::new(u64::MAX),
        };
        watch.refresh();
        watch
    }

    /// Measures again; logs when the disk becomes low or recovers. Returns the bytes free.
    pub fn refresh(&self) -> u64 {
        let free = match free_disk_bytes(&self.path) {
            Ok(free) => free,
            Err(e) => {
                warn!(error = %e, "cannot measure the data disk's free space");
                return self.free_bytes.load(Ordering::Relaxed);
            }
        };
        let before = self.free_bytes.swap(free, Ordering::Relaxed);
        let threshold = self.threshold_bytes();
        let (was_low, is_low) = (before < threshold, free < threshold);
        if is_low && !was_low {
            warn!(
                free_bytes = free,
                threshold_bytes = threshold,
                path = %self.path.display(),
                "data disk low: refusing new client transfers until space is freed"
            );
        } else if was_low && !is_low {
            info!(
                free_bytes = free,
                "data disk has room again: accepting transfers"
            );
        }
        free
    }

    /// The bytes free if the disk is low (below the threshold), None if it has room.
    pub fn low(&self) -> Option<u64> {
        let free = self.free_bytes.load(Ordering::Relaxed);
        (free < self.threshold_bytes()).then_some(free)
    }

    /// The threshold, in bytes.
    pub fn threshold_bytes(&self) -> u64 {
        self.low_below_bytes.load(Ordering::Relaxed)
    }

    /// Moves the threshold (tests make a roomy disk "low" with `u64::MAX`), measuring again.
    pub fn set_threshold_bytes(&self, bytes: u64) {
        self.low_below_bytes.store(bytes, Ordering::Relaxed);
        self.refresh();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disk_is_low_below_the_threshold_and_recovers_above_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let roomy = DiskWatch::with_threshold(dir.path(), 0);
        assert_eq!(roomy.low(), None);
        let full = DiskWatch::with_threshold(dir.path(), u64::MAX);
        let free = full.low().expect("every disk is below u64::MAX bytes");
        assert!(free < u64::MAX);
        // A watch whose path vanished keeps its last word rather than inventing one.
        let gone = DiskWatch::with_threshold(&dir.path().join("missing"), 0);
        assert_eq!(gone.low(), None);
    }
}
