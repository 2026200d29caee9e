//! Client requests waiting to be ordered, and duplicate suppression.
//!
//! Every map here is keyed by the request's **identity** ([`crate::Application::request_ids`]),
//! not by its bytes: one transfer signed twice (two valid ed25519 signatures) is one request
//! from admission to execution, so once either copy executes the other is no longer pending
//! anywhere (safety-holes issue, item 7).
//!
//! * `pending`: every client request this replica received and has not seen executed, bounded by
//!   `max_pending_requests`. Backups keep them too, so their view-change timer notices a primary
//!   that ignores them (§4.4), and relay them to the primary (see [`RequestPool::take_for_relay`]).
//! * `by_arrival`: pending identities in arrival order (the oldest is what the view-change timer
//!   waits for).
//! * `queue`: the primary's proposal order (FIFO by arrival); rebuilt on entering a view.
//! * `in_log`: identities in the current view's log, which the primary must not propose again.
//! * `executed`: identities of the last `executed_requests_remembered` executed requests.
//! * `by_conflict`: pending identities by conflict key ([`crate::Application::conflict_keys`]):
//!   when a request executes, the pending ones it conflicts with leave the pool.

use crate::message::Request;
use crate::View;
use bftledger_crypto::Digest;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// A pending request.
#[derive(Debug, Clone)]
struct Pending {
    /// Arrival number (ascending).
    arrival: u64,
    /// Tick of arrival.
    since_tick: u64,
    /// SHA-256 of the exact bytes (what batch digests are made of).
    digest: Digest,
    request: Request,
    /// Its conflict key ([`crate::Application::conflict_keys`]).
    conflict: Option<Digest>,
    /// When (view, tick) this replica last relayed it to the primary.
    relayed_at: Option<(View, u64)>,
}

/// The request pool.
#[derive(Debug, Clone, Default)]
pub struct RequestPool {
    pending: HashMap<Digest, Pending>,
    by_arrival: BTreeMap<u64, Digest>,
    arrivals: u64,
    queue: VecDeque<Digest>,
    in_log: HashSet<Digest>,
    executed: HashSet<Digest>,
    executed_order: VecDeque<Digest>,
    by_conflict: HashMap<Digest, Vec<Digest>>,
}

/// A pending client request, as [`crate::Replica::oldest_pending`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRequest {
    /// The request.
    pub request: Request,
    /// The replica's tick when it arrived.
    pub since_tick: u64,
    /// Whether it is ordered in the current view's log.
    pub in_log: bool,
}

/// Why a client request was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddError {
    /// Already pending, ordered or recently executed.
    Duplicate,
    /// The pool is full.
    Full,
}

/// One request taken for a batch: identity, byte digest, request.
pub type Taken = (Digest, Digest, Request);

/// What identifies a request for the pool: identity, byte digest, conflict key.
pub type RequestKeys = (Digest, Digest, Option<Digest>);

impl RequestPool {
    /// Adds a client request with identity `id`, byte digest `digest` and conflict key
    /// `conflict`, arrived at `now`; `queue_it` when this replica is the primary.
    pub fn add(
        &mut self,
        (id, digest, conflict): RequestKeys,
        request: Request,
        now: u64,
        max_pending: usize,
        queue_it: bool,
    ) -> Result<(), AddError> {
        if self.pending.contains_key(&id)
            || self.in_log.contains(&id)
            || self.executed.contains(&id)
        {
            return Err(AddError::Duplicate);
        }
        if self.pending.len() >= max_pending {
            return Err(AddError::Full);
        }
        self.arrivals += 1;
        self.by_arrival.insert(self.arrivals, id);
        let entry = Pending {
            arrival: self.arrivals,
            since_tick: now,
            digest,
            request,
            conflict,
            relayed_at: None,
        };
        self.pending.insert(id, entry);
        if let Some(key) = conflict {
            self.by_conflict.entry(key).or_default().push(id);
        }
        if queue_it {
            if self.queue.len() >= 2 * max_pending {
                // Bound the queue: drop entries that were executed or ordered meanwhile.
                let (pending, in_log) = (&self.pending, &self.in_log);
                self.queue
                    .retain(|d| pending.contains_key(d) && !in_log.contains(d));
            }
            self.queue.push_back(id);
        }
        Ok(())
    }

    /// Number of pending requests.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Whether the request with identity `id` is still pending.
    pub fn is_pending(&self, id: &Digest) -> bool {
        self.pending.contains_key(id)
    }

    /// Whether the request with identity `id` executed (among the last remembered).
    pub fn was_executed(&self, id: &Digest) -> bool {
        self.executed.contains(id)
    }

    /// The oldest `max` pending requests, oldest first.
    pub fn oldest(&self, max: usize) -> Vec<PendingRequest> {
        self.by_arrival
            .values()
            .filter_map(|id| {
                let entry = self.pending.get(id)?;
                Some(PendingRequest {
                    request: entry.request.clone(),
                    since_tick: entry.since_tick,
                    in_log: self.in_log.contains(id),
                })
            })
            .take(max)
            .collect()
    }

    /// The identity of the oldest pending request.
    pub fn oldest_pending(&self) -> Option<Digest> {
        self.by_arrival.values().next().copied()
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
    pub fn take_batch(&mut self, max_requests: usize, max_bytes: usize) -> Vec<Taken> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while let Some(id) = self.queue.front().copied() {
            let Some(entry) = self.pending.get(&id) else {
                self.queue.pop_front();
                continue;
            };
            if self.in_log.contains(&id) {
                self.queue.pop_front();
                continue;
            }
            let len = entry.request.payload.len();
            if out.len() >= max_requests || bytes + len > max_bytes {
                break;
            }
            bytes += len;
            out.push((id, entry.digest, entry.request.clone()));
            self.queue.pop_front();
        }
        out
    }

    /// Drops a request the application refused.
    pub fn drop_request(&mut self, id: &Digest) {
        let Some(entry) = self.pending.remove(id) else {
            return;
        };
        self.by_arrival.remove(&entry.arrival);
        if let Some(key) = entry.conflict {
            if let Some(ids) = self.by_conflict.get_mut(&key) {
                ids.retain(|other| other != id);
                if ids.is_empty() {
                    self.by_conflict.remove(&key);
                }
            }
        }
    }

    /// Marks identities as ordered in the current view's log.
    pub fn mark_in_log<'a>(&mut self, ids: impl IntoIterator<Item = &'a Digest>) {
        self.in_log.extend(ids);
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
            let (pending, in_log) = (&self.pending, &self.in_log);
            let order = self
                .by_arrival
                .values()
                .filter(|id| pending.contains_key(*id) && !in_log.contains(*id));
            self.queue.extend(order);
        }
    }

    /// A batch executed: its requests leave the pool and are remembered as executed; the
    /// pending requests that conflict with one of them (`conflicts`, their conflict keys)
    /// leave the pool too, unremembered.
    pub fn executed(&mut self, ids: &[Digest], conflicts: &[Option<Digest>], remember: usize) {
        for id in ids {
            self.drop_request(id);
            self.in_log.remove(id);
            if self.executed.insert(*id) {
                self.executed_order.push_back(*id);
            }
        }
        for key in conflicts.iter().flatten() {
            for other in self.by_conflict.remove(key).unwrap_or_default() {
                if let Some(entry) = self.pending.remove(&other) {
                    self.by_arrival.remove(&entry.arrival);
                }
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
        self.by_arrival.clear();
        self.queue.clear();
        self.by_conflict.clear();
    }

    /// §4.4 (a backup relays a request it waits on to the primary): pending requests not in the
    /// log that arrived at or before `older_than` (plus `also`, the request the view-change
    /// timer now waits for), oldest first, at most `max`, skipping those relayed in `view` less
    /// than `period` ticks before `now`. A request costs at most one relay per period: enough
    /// for a primary that lost it (a lost frame, a restart that emptied its pool), bounded for
    /// one that has it.
    pub fn take_for_relay(
        &mut self,
        (view, now, period): (View, u64, u64),
        older_than: u64,
        also: Option<Digest>,
        max: usize,
    ) -> Vec<Request> {
        let mut ids: Vec<Digest> = also.into_iter().collect();
        for id in self.by_arrival.values() {
            if ids.len() >= max {
                break;
            }
            let Some(entry) = self.pending.get(id) else {
                continue;
            };
            if entry.since_tick > older_than {
                break; // arrival order is tick order
            }
            if Some(*id) != also {
                ids.push(*id);
            }
        }
        let mut out = Vec::new();
        for id in ids {
            if self.in_log.contains(&id) {
                continue;
            }
            if let Some(entry) = self.pending.get_mut(&id) {
                let recent = entry
                    .relayed_at
                    .is_some_and(|(v, at)| v == view && now < at + period);
                if !recent {
                    entry.relayed_at = Some((view, now));
                    out.push(entry.request.clone());
                }
            }
        }
        out
    }

    /// Sizes for invariant checks: (pending, queue, executed remembered).
    pub fn sizes(&self) -> (usize, usize, usize) {
        assert_eq!(
            self.pending.len(),
            self.by_arrival.len(),
            "pending requests and their arrival index disagree"
        );
        (self.pending.len(), self.queue.len(), self.executed.len())
    }
}
