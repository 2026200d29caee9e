//! Client requests waiting to be ordered, and duplicate suppression.
//!
//! * `pending`: every client request this replica received and has not seen executed, bounded by
//!   `max_pending_requests`. Backups keep them too, so their view-change timer notices a primary
//!   that ignores requests (§4.4).
//! * `queue`: the primary's proposal order (FIFO by arrival); rebuilt on entering a view.
//! * `in_log`: request digests in the current view's log, which the primary must not propose
//!   again.
//! * `executed`: digests of the last `executed_requests_remembered` executed requests.

use crate::message::Request;
use bftledger_crypto::Digest;
use std::collections::{HashMap, HashSet, VecDeque};

/// The request pool.
#[derive(Debug, Clone, Default)]
pub struct RequestPool {
    pending: HashMap<Digest, (u64, Request)>,
    arrivals: u64,
    queue: VecDeque<Digest>,
    in_log: HashSet<Digest>,
    executed: HashSet<Digest>,
    executed_order: VecDeque<Digest>,
}

/// Why a client request was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddError {
    /// Already pending, ordered or recently executed.
    Duplicate,
    /// The pool is full.
    Full,
}

impl RequestPool {
    /// Adds a client request; `queue_it` when this replica is the primary.
    pub fn add(
        &mut self,
        digest: Digest,
        request: Request,
        max_pending: usize,
        queue_it: bool,
    ) -> Result<(), AddError> {
        if self.pending.contains_key(&digest)
            || self.in_log.contains(&digest)
            || self.executed.contains(&digest)
        {
            return Err(AddError::Duplicate);
        }
        if self.pending.len() >= max_pending {
            return Err(AddError::Full);
        }
        self.arrivals += 1;
        self.pending.insert(digest, (self.arrivals, request));
        if queue_it {
            if self.queue.len() >= 2 * max_pending {
                // Bound the queue: drop entries that were executed or ordered meanwhile.
                let (pending, in_log) = (&self.pending, &self.in_log);
                self.queue
                    .retain(|d| pending.contains_key(d) && !in_log.contains(d));
            }
            self.queue.push_back(digest);
        }
        Ok(())
    }

    /// Number of pending requests.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Whether the primary has anything to propose (approximate: stale queue entries count).
    pub fn has_queued(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Whether a full batch is queued (by count or bytes), approximately.
    pub fn full_batch_queued(&self, max_requests: usize) -> bool {
        self.queue.len() >= max_requests
    }

    /// Takes the next batch for the primary: at most `max_requests` requests and `max_bytes`
    /// payload bytes, skipping stale entries (executed or already in the log).
    pub fn take_batch(&mut self, max_requests: usize, max_bytes: usize) -> Vec<(Digest, Request)> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while let Some(digest) = self.queue.front().copied() {
            let Some((_, request)) = self.pending.get(&digest) else {
                self.queue.pop_front();
                continue;
            };
            if self.in_log.contains(&digest) {
                self.queue.pop_front();
                continue;
            }
            if out.len() >= max_requests || bytes + request.payload.len() > max_bytes {
                break;
            }
            bytes += request.payload.len();
            out.push((digest, request.clone()));
            self.queue.pop_front();
        }
        out
    }

    /// Drops a request the application refused.
    pub fn drop_request(&mut self, digest: &Digest) {
        self.pending.remove(digest);
    }

    /// Marks digests as ordered in the current view's log.
    pub fn mark_in_log<'a>(&mut self, digests: impl IntoIterator<Item = &'a Digest>) {
        self.in_log.extend(digests);
    }

    /// Entering a view: the log is replaced; pending requests not in it are queued again in
    /// arrival order (when `queue_all`, i.e. this replica is the new primary).
    pub fn reset_for_view<'a>(
        &mut self,
        in_log: impl IntoIterator<Item = &'a Digest>,
        queue_all: bool,
    ) {
        self.in_log = in_log.into_iter().copied().collect();
        self.queue.clear();
        if queue_all {
            let mut order: Vec<(u64, Digest)> = self
                .pending
                .iter()
                .filter(|(d, _)| !self.in_log.contains(*d))
                .map(|(d, (arrival, _))| (*arrival, *d))
                .collect();
            order.sort_unstable();
            self.queue.extend(order.into_iter().map(|(_, d)| d));
        }
    }

    /// A batch executed: its requests leave the pool and are remembered as executed.
    pub fn executed(&mut self, digests: &[Digest], remember: usize) {
        for digest in digests {
            self.pending.remove(digest);
            self.in_log.remove(digest);
            if self.executed.insert(*digest) {
                self.executed_order.push_back(*digest);
            }
        }
        while self.executed_order.len() > remember {
            if let Some(old) = self.executed_order.pop_front() {
                self.executed.remove(&old);
            }
        }
    }

    /// Drops every pending request (after a state transfer).
    pub fn forget_pending(&mut self) {
        self.pending.clear();
        self.queue.clear();
    }

    /// Sizes for invariant checks: (pending, queue, executed remembered).
    pub fn sizes(&self) -> (usize, usize, usize) {
        (self.pending.len(), self.queue.len(), self.executed.len())
    }
}
