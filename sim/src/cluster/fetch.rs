//! State transfer in the simulator: the node's sync protocol (`bftledger_host::sync`) over the
//! faulty network, with Byzantine donors.
//!
//! When a host asks for a checkpoint's state, its slot asks one validator at a time (chosen at
//! random: the asker cannot know who is up) for the missing blocks or for the next part of a
//! snapshot (a region of the account tree; the host keeps the parts it verified), and asks
//! again, elsewhere, when no answer came within [`FETCH_RETRY_TICKS`]. A donor answers from its
//! store with the node's own `sync::answer`; a lying one (`DonorRole::Liar`) tampers with the
//! answer or serves another height, a silent one never answers. Answers go through the node's
//! checks: `sync::check_blocks` (heights, commit certificates), then the host
//! (`Host::apply_blocks` re-executes each block; `Host::add_snapshot_part` checks each part of
//! a snapshot against the checkpoint 2f+1 validators signed).

use bftledger_crypto::encoding::Versioned;
use bftledger_host::sync::{self, SyncRequest, SyncResponse};
use bftledger_host::{FetchTarget, PartOutcome};
use bftledger_ledger::{Region, RegionContent, SnapshotPart, StateTree, Store};
use rand::Rng;

use super::{Cluster, Envelope, PART_ACCOUNTS};
use crate::byzantine::{Byzantine, DonorRole};

/// A slot asks another validator when no answer came within this many ticks.
const FETCH_RETRY_TICKS: u64 = 16;
/// Most blocks one answer carries (the node's `sync.max_blocks_per_request` is larger; small
/// answers make the simulator go through several rounds).
const MAX_BLOCKS_PER_ANSWER: u64 = 4;
/// Largest sync answer, in bytes.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// A state transfer under way at one slot.
#[derive(Clone, Debug)]
pub struct Fetch {
    target: FetchTarget,
    /// When the last request left (none yet: ask at once).
    asked_at: Option<u64>,
    /// The region of the state to ask for next: the whole tree until the host names another.
    next_region: Region,
    /// The validator whose last part was kept: asked for the next part too, as a client keeps a
    /// peer that answers (so a liar that is believed gets to answer every part).
    part_donor: Option<usize>,
}

impl Cluster {
    /// The host asked for `target`'s state (it does not hold it).
    pub(super) fn start_fetch(&mut self, r: usize, target: FetchTarget) {
        self.trace(|| {
            format!(
                "r{r} asks for state at seq {} block {}",
                target.seq, target.block_hash
            )
        });
        self.nodes[r].fetch = Some(Fetch {
            target,
            asked_at: None,
            next_region: Region::ALL,
            part_donor: None,
        });
    }

    /// The host reports the state transfer to `target` complete.
    pub(super) fn finish_fetch(&mut self, r: usize, target: FetchTarget) {
        self.stats.state_transfers += 1;
        self.trace(|| format!("r{r} STATE TRANSFER to seq {} complete", target.seq));
        if self.nodes[r]
            .fetch
            .as_ref()
            .is_some_and(|f| f.target == target)
        {
            self.nodes[r].fetch = None;
        }
    }

    /// Every slot with a transfer under way and no recent request asks a validator.
    pub(super) fn retry_fetches(&mut self) {
        for r in 0..self.slots() {
            let Some(fetch) = self.nodes[r].fetch.clone() else {
                continue;
            };
            if fetch
                .asked_at
                .is_some_and(|at| self.now < at + FETCH_RETRY_TICKS)
            {
                continue;
            }
            let Some(height) = self.nodes[r].host.as_ref().map(|h| h.height()) else {
                continue;
            };
            let id = self.nodes[r].id as usize;
            let mut donor = (id + self.rng.random_range(1..self.n())) % self.n();
            let request = if height < fetch.target.seq && self.rng.random_bool(0.5) {
                SyncRequest::Blocks {
                    from: height + 1,
                    max: (fetch.target.seq - height).min(MAX_BLOCKS_PER_ANSWER),
                }
            } else {
                donor = fetch.part_donor.unwrap_or(donor);
                SyncRequest::SnapshotPart {
                    height: fetch.target.seq,
                    region: fetch.next_region,
                }
            };
            if let Some(f) = self.nodes[r].fetch.as_mut() {
                f.asked_at = Some(self.now);
            }
            if let Some(slot) = self.routes.route(r, donor) {
                let envelope = Envelope::SyncRequest(request);
                self.network
                    .send(&mut self.rng, self.now, r, slot, envelope);
            }
        }
    }

    /// Slot `donor` answers `request` from slot `asker`: from its store, or, if it lies, with
    /// a tampered answer (a silent donor never answers).
    pub(super) fn answer_sync(&mut self, donor: usize, asker: usize, request: SyncRequest) {
        let role = self.nodes[donor]
            .byzantine
            .as_ref()
            .map_or(DonorRole::Honest, Byzantine::donor_role);
        if role == DonorRole::Silent {
            return;
        }
        // A liar serves the state one block later than the one asked for, to half the askers
        // (chosen by the asked height: the same askers for every part of a transfer, so a
        // believed lie is a consistent one), and tampers with the answers of the others.
        let other_height = role == DonorRole::Liar
            && matches!(request, SyncRequest::SnapshotPart { height, .. }
                if (height as usize + asker).is_multiple_of(2));
        let Some(store) = self.store(donor) else {
            return;
        };
        let honest = sync::answer(
            &store,
            &request.to_bytes(),
            MAX_BLOCKS_PER_ANSWER,
            MAX_ANSWER_BYTES,
        );
        let lie = (role == DonorRole::Liar).then(|| match &request {
            SyncRequest::SnapshotPart { height, region } if other_height => {
                other_height_part(&store, height + 1, region)
            }
            _ => None,
        });
        drop(store);
        let bytes = match lie {
            None => honest,
            Some(None) => self.tampered(&honest),
            Some(Some(other)) => {
                self.mark("state_transfer.donor_lied");
                other.to_bytes()
            }
        };
        let envelope = Envelope::SyncResponse { request, bytes };
        self.network
            .send(&mut self.rng, self.now, donor, asker, envelope);
    }

    /// `honest` with one field changed: a transfer's amount, a block's height or certificate,
    /// or a snapshot part's balance, halves or header (each must be refused by the asker's
    /// checks).
    fn tampered(&mut self, honest: &[u8]) -> Vec<u8> {
        let Some(response) = sync::decode_response(honest, MAX_ANSWER_BYTES) else {
            return honest.to_vec();
        };
        let choice = self.rng.random_range(0..3);
        let response = match response {
            SyncResponse::Blocks(mut blocks) => {
                let b = &mut blocks[0];
                match choice {
                    0 if !b.block.transfers.is_empty() => {
                        b.block.transfers[0].transfer.amount += 1;
                    }
                    1 => b.block.height += 1,
                    _ => b.certificate.truncate(b.certificate.len() / 2),
                }
                SyncResponse::Blocks(blocks)
            }
            SyncResponse::SnapshotPart(mut part) => {
                match (&mut part.content, choice) {
                    (RegionContent::Accounts { accounts, .. }, 1 | 2) if !accounts.is_empty() => {
                        accounts[0].1.balance += 1;
                    }
                    (RegionContent::Split { left, right, .. }, 1 | 2) => {
                        std::mem::swap(left, right);
                    }
                    _ => part.header.prev_hash = bftledger_crypto::Digest::ZERO,
                }
                SyncResponse::SnapshotPart(part)
            }
            other => other,
        };
        self.mark("state_transfer.donor_lied");
        response.to_bytes()
    }

    /// An answer reached slot `r`: checked as the node checks it, then applied by its host.
    pub(super) fn on_sync_response(
        &mut self,
        r: usize,
        donor: usize,
        request: SyncRequest,
        bytes: &[u8],
    ) {
        let Some(fetch) = self.nodes[r].fetch.clone() else {
            return; // the transfer completed (or the slot restarted) meanwhile
        };
        match request {
            SyncRequest::Blocks { from, max } => {
                let validators = self.genesis.validator_keys();
                match sync::check_blocks(&validators, from, max, bytes, MAX_ANSWER_BYTES) {
                    Ok(Some(blocks)) => {
                        let applied = self.with_host(r, |host, io| host.apply_blocks(blocks, io));
                        if let Some((_, Some(refusal))) = applied {
                            self.mark("state_transfer.block_refused");
                            self.trace(|| format!("r{r} refuses a fetched block: {refusal}"));
                        }
                    }
                    Ok(None) => self.mark("state_transfer.unavailable"),
                    Err(refusal) => {
                        self.mark("state_transfer.blocks_refused");
                        self.trace(|| format!("r{r} refuses fetched blocks: {refusal}"));
                    }
                }
            }
            SyncRequest::SnapshotPart { region, .. } => {
                let Some(part) = sync::check_part(&region, bytes, MAX_ANSWER_BYTES) else {
                    self.mark("state_transfer.unavailable");
                    if let Some(f) = self.nodes[r].fetch.as_mut() {
                        f.part_donor = None;
                    }
                    return;
                };
                let verdict = self.with_host(r, |host, io| {
                    host.add_snapshot_part(&part, fetch.target, io)
                });
                match verdict {
                    Some(Ok(PartOutcome::Wanted(regions))) => {
                        self.mark("state_transfer.part_kept");
                        let donor_id = self.nodes[donor].id as usize;
                        if let (Some(f), Some(next)) =
                            (self.nodes[r].fetch.as_mut(), regions.first())
                        {
                            f.next_region = *next;
                            f.part_donor = Some(donor_id);
                        }
                    }
                    Some(Ok(PartOutcome::Installed)) | None => {}
                    Some(Err(refusal)) => {
                        if let Some(f) = self.nodes[r].fetch.as_mut() {
                            f.part_donor = None;
                        }
                        self.mark("state_transfer.refused_snapshot");
                        self.trace(|| format!("r{r} refuses a snapshot part: {refusal}"));
                    }
                }
            }
            SyncRequest::Status => {}
        }
        // Ask again at once (elsewhere, or for the rest of the blocks) unless it completed.
        if let Some(f) = self.nodes[r].fetch.as_mut() {
            f.asked_at = None;
        }
    }
}

/// A liar's part of the state at `height`, which it serves as if asked for it: a store serves
/// parts only at heights whose tree it keeps, so the liar rebuilds that height's tree from the
/// whole state there (a Byzantine donor may spend whatever it likes on a lie).
fn other_height_part(store: &Store, height: u64, region: &Region) -> Option<SyncResponse> {
    let snapshot = store.export_snapshot(height).ok()?;
    let tree = StateTree::from_accounts(
        snapshot
            .accounts
            .iter()
            .map(|(key, account)| (*key.as_bytes(), *account)),
    );
    Some(SyncResponse::SnapshotPart(Box::new(SnapshotPart {
        genesis_hash: snapshot.genesis_hash,
        header: snapshot.header,
        region: *region,
        content: tree.region(region, PART_ACCOUNTS),
    })))
}
