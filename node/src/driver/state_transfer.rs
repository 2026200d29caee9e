//! The driver's side of catch-up: hand goals to the sync worker, apply what it verified, and
//! report a completed state transfer to the core.

use super::{Driver, DriverError};
use crate::sync::worker::{FetchTarget, Fetched};
use bftledger_consensus::{FetchState, Input};
use bftledger_crypto::Digest;
use bftledger_ledger::CertifiedBlock;
use std::sync::atomic::Ordering;
use tracing::{info, warn};

impl Driver {
    /// Whether a state transfer or a catch-up is under way.
    pub(super) fn catching_up(&self) -> bool {
        self.pending_fetch.is_some() || self.shared.syncing.load(Ordering::Relaxed)
    }

    /// The core asks for the state of a stable checkpoint: done at once if the ledger already
    /// has it (caught up earlier), else a goal for the sync worker.
    pub(super) fn request_state(&mut self, fetch: FetchState) -> Result<(), DriverError> {
        info!(seq = fetch.seq, "state transfer requested");
        let target = FetchTarget {
            seq: fetch.seq,
            state_root: fetch.state_root,
        };
        self.pending_fetch = Some(fetch);
        if !self.complete_state_transfer()? {
            // A full queue means the worker already has goals; it keeps the highest.
            let _ = self.sync_targets.try_send(target);
        }
        Ok(())
    }

    /// Reports the pending state transfer once the ledger reached it; true if reported.
    fn complete_state_transfer(&mut self) -> Result<bool, DriverError> {
        let Some(fetch) = &self.pending_fetch else {
            return Ok(false);
        };
        let height = self.height();
        if height < fetch.seq {
            return Ok(false);
        }
        let root = self.root_at(fetch.seq)?;
        assert_eq!(
            root, fetch.state_root,
            "SAFETY: our state root at {} differs from the stable checkpoint's",
            fetch.seq
        );
        let (seq, state_root) = (fetch.seq, fetch.state_root);
        self.pending_fetch = None;
        // The core drops its pending requests on a state transfer.
        self.shared
            .mempool
            .lock()
            .expect("mempool lock poisoned")
            .forget_handed_over();
        info!(seq, height, "state transfer complete");
        self.queued
            .push_back(Input::StateTransferred { seq, state_root });
        Ok(true)
    }

    fn height(&self) -> u64 {
        self.shared.stored_height()
    }

    fn root_at(&self, seq: u64) -> Result<Digest, DriverError> {
        let store = self.shared.store.read().expect("store lock poisoned");
        if seq == store.latest_height() {
            return Ok(store.state_root());
        }
        let block = store
            .block(seq)?
            .unwrap_or_else(|| panic!("block {seq} is below the ledger height but not stored"));
        Ok(block.block.state_root)
    }

    /// Applies verified material from the sync worker, then completes a pending transfer.
    pub(super) fn on_fetched(&mut self, fetched: Fetched) -> Result<(), DriverError> {
        match fetched {
            Fetched::Blocks {
                blocks,
                peer,
                applied,
            } => {
                let n = self.apply_blocks(blocks);
                info!(%peer, blocks = n, height = self.height(), "blocks applied from peer");
                let _ = applied.send(n);
            }
            Fetched::Snapshot {
                snapshot,
                target,
                peer,
                applied,
            } => {
                let result = if self.height() < snapshot.height {
                    let mut store = self.shared.store.write().expect("store lock poisoned");
                    tokio::task::block_in_place(|| {
                        store.import_snapshot(&snapshot, &self.shared.genesis, target.state_root)
                    })
                } else {
                    Ok(())
                };
                match result {
                    Ok(()) => {
                        info!(%peer, height = snapshot.height, "snapshot installed");
                        let _ = applied.send(1);
                    }
                    Err(e) => {
                        warn!(%peer, error = %e, "snapshot refused");
                        let _ = applied.send(0);
                    }
                }
            }
        }
        if self.complete_state_transfer()? {
            self.feed_queued()?;
        }
        self.publish();
        Ok(())
    }

    /// Re-executes consecutive verified blocks on the ledger (the store checks receipts, state
    /// root and chaining); stops at the first refused one. Returns how many were applied.
    fn apply_blocks(&mut self, blocks: Vec<CertifiedBlock>) -> u64 {
        let mut applied = 0;
        for certified in blocks {
            let height = self.height();
            if certified.block.height <= height {
                continue;
            }
            if certified.block.height != height + 1 {
                break;
            }
            let result = {
                let mut store = self.shared.store.write().expect("store lock poisoned");
                tokio::task::block_in_place(|| {
                    store.commit_block(&certified.block, &certified.certificate)
                })
            };
            if let Err(e) = result {
                warn!(height = certified.block.height, error = %e, "fetched block refused");
                break;
            }
            self.account_block(&certified.block.transfers, &certified.block.receipts);
            applied += 1;
        }
        applied
    }
}
