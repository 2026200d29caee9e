//! Clients as real ones behave: each signs a transfer for its next nonce once its previous one
//! is applied, sends it to one validator (which forwards it), re-sends it to another validator
//! when f+1 correct replicas have not applied it in time, and now and then misbehaves, to another
//! validator: a second transfer under the same nonce (a double spend), or the same transfer
//! with a second valid signature. Also the end-of-run checks on
//! what clients submitted: everything applied everywhere, nothing stale pending.

use bftledger_consensus::Request;
use bftledger_ledger::SignedTransfer;
use rand::Rng;

use super::{Cluster, Envelope, MAX_PENDING_REPORTED, STALE_PENDING_TICKS};
use crate::bank;
use crate::checker::ViolationKind;

/// One submission in this many is followed by a conflicting one (same nonce, other transfer) or
/// a second signature of it.
const DOUBLE_SPEND_ONE_IN: u32 = 16;

/// A transfer some client submitted.
pub struct Submitted {
    pub transfer: SignedTransfer,
    pub request: Request,
    pub submitted_tick: u64,
    pub last_sent_tick: u64,
    /// The validator the client sent it to last.
    pub sent_to: usize,
}

impl Cluster {
    pub(super) fn submit_requests(&mut self) {
        if !self
            .rng
            .random_ratio(1, self.options.submit_every_ticks.max(1) as u32)
        {
            return;
        }
        // A client with nothing in flight (the others wait for their receipts).
        let idle: Vec<usize> = (0..bank::CLIENTS)
            .filter(|&c| self.in_flight[c].is_none())
            .collect();
        let Some(&client) = idle.get(self.rng.random_range(0..idle.len().max(1))) else {
            return;
        };
        let nonce = self.next_nonce[client];
        self.next_nonce[client] += 1;
        let transfer = self.bank.transfer(&mut self.rng, client, nonce);
        let request = bank::request(&transfer);
        self.checker.client_request(request.digest());
        self.trace(|| {
            format!(
                "client {client} submits nonce {nonce}: transfer {}",
                transfer.id()
            )
        });
        self.stats.requests_submitted += 1;
        let to = self.rng.random_range(0..self.n());
        self.send_request(&request, to);
        if self.rng.random_ratio(1, DOUBLE_SPEND_ONE_IN) {
            // A malicious client, to another validator: another transfer under the same nonce
            // (a double spend), or the same transfer with a second valid signature (other
            // bytes, one transfer id: safety-holes issue, item 7).
            let double = if self.rng.random_bool(0.5) {
                self.mark("client.double_spend");
                self.bank.transfer(&mut self.rng, client, nonce)
            } else {
                self.mark("client.second_signature");
                self.bank.resigned(&mut self.rng, client, &transfer)
            };
            self.trace(|| {
                format!(
                    "client {client} also sends nonce {nonce}: transfer {}",
                    double.id()
                )
            });
            let other = bank::request(&double);
            self.checker.client_request(other.digest());
            let elsewhere = (to + self.rng.random_range(1..self.n())) % self.n();
            self.send_request(&other, elsewhere);
        }
        self.in_flight[client] = Some(self.submitted.len());
        self.submitted.push(Submitted {
            transfer,
            request,
            submitted_tick: self.now,
            last_sent_tick: self.now,
            sent_to: to,
        });
    }

    /// A client sends `request` to one validator, as a real client does (the validator
    /// forwards it to its peers). A twinned validator is two processes: the client reaches one.
    fn send_request(&mut self, request: &Request, to: usize) {
        let instance = if self.routes.is_twinned(to) {
            self.rng.random_range(0..2)
        } else {
            0
        };
        let slot = self.routes.slot(to, instance);
        let clients = self.clients_endpoint();
        let envelope = Envelope::Client(request.clone());
        self.network
            .send(&mut self.rng, self.now, clients, slot, envelope);
    }

    /// How many running correct replicas applied `transfer`'s nonce (a client's replies).
    fn replies(&self, transfer: &SignedTransfer) -> usize {
        (0..self.slots())
            .filter(|&r| self.is_correct(r))
            .filter(|&r| {
                self.store(r)
                    .is_some_and(|store| bank::nonce_applied(&store, transfer))
            })
            .count()
    }

    /// A client's transfer is done once f+1 correct replicas applied it (f+1 matching
    /// replies); until then it re-sends it, each time to another validator than the last (a
    /// timed-out client suspects it).
    pub(super) fn retransmit_requests(&mut self) {
        let retry = self.options.client_retry_ticks;
        let needed = self.config.f() + 1;
        for client in 0..bank::CLIENTS {
            let Some(index) = self.in_flight[client] else {
                continue;
            };
            if self.replies(&self.submitted[index].transfer) >= needed {
                self.in_flight[client] = None;
                continue;
            }
            if self.now < self.submitted[index].last_sent_tick + retry {
                continue;
            }
            let request = self.submitted[index].request.clone();
            let last = self.submitted[index].sent_to;
            let to = (last + self.rng.random_range(1..self.n())) % self.n();
            self.submitted[index].last_sent_tick = self.now;
            self.submitted[index].sent_to = to;
            self.stats.client_retransmissions += 1;
            self.send_request(&request, to);
        }
    }

    /// Transfers submitted before `until` that correct slot `r` has not applied (all of them if
    /// it is down).
    fn missing_at(&self, r: usize, until: u64) -> usize {
        let store = self.store(r);
        self.submitted
            .iter()
            .filter(|s| s.submitted_tick < until)
            .filter(|s| {
                store
                    .as_ref()
                    .is_none_or(|store| !bank::nonce_applied(store, &s.transfer))
            })
            .count()
    }

    /// Whether every correct replica's ledger applied every transfer submitted before `until`.
    pub(super) fn all_requests_everywhere(&self, until: u64) -> bool {
        (0..self.slots())
            .filter(|&r| self.is_correct(r))
            .all(|r| self.missing_at(r, until) == 0)
    }

    pub(super) fn describe_stall(&self) -> String {
        let submit_end = self.plan.heal_at_tick + self.options.submit_after_heal_ticks;
        let mut parts = Vec::new();
        for r in (0..self.slots()).filter(|&r| self.is_correct(r)) {
            let missing = self.missing_at(r, submit_end);
            let status = match &self.nodes[r].host {
                Some(host) => format!(
                    "ledger height {}, {:?} pending={}",
                    host.height(),
                    host.replica(),
                    host.replica().pending_requests()
                ),
                None => "down".to_string(),
            };
            parts.push(format!("r{r}: {missing} transfers missing, {status}"));
        }
        format!(
            "{} ticks after the heal at tick {}, of {} transfers: {}",
            self.options.liveness_ticks,
            self.plan.heal_at_tick,
            self.submitted.len(),
            parts.join("; ")
        )
    }

    /// At the end of a run: no correct replica still waits on a transfer its own ledger
    /// applied more than [`STALE_PENDING_TICKS`] of its ticks ago. Such a request is never
    /// ordered again (every correct host drops it, as the node's mempool does), so it fires the
    /// replica's view-change timer against a correct primary (a second copy kept pending under
    /// its bytes, issue 11 item 7).
    pub(super) fn check_no_stale_pending(&mut self) {
        let stale: Vec<String> = (0..self.slots())
            .filter(|&r| self.is_correct(r))
            .filter_map(|r| {
                let host = self.nodes[r].host.as_ref()?;
                if host.pending_fetch().is_some() {
                    // Catching up: the core drops its pending requests once the transfer
                    // completes (what catch-up applied meanwhile is not stale yet).
                    return None;
                }
                let replica = host.replica();
                let now = replica.now_ticks();
                let store = host.store();
                let found: Vec<String> = replica
                    .oldest_pending(MAX_PENDING_REPORTED)
                    .iter()
                    .filter(|p| p.since_tick + STALE_PENDING_TICKS < now)
                    .filter_map(|p| {
                        let t = bank::transfer_of(&p.request)?;
                        bank::nonce_applied(&store, &t).then(|| {
                            format!(
                                "transfer {} (nonce {}) since tick {} (in log {})",
                                t.id(),
                                t.transfer.nonce,
                                p.since_tick,
                                p.in_log
                            )
                        })
                    })
                    .collect();
                (!found.is_empty()).then(|| format!("r{r} at tick {now}: {found:?}"))
            })
            .collect();
        if !stale.is_empty() {
            let detail = format!(
                "correct replicas wait on transfers their ledger applied long ago: {}",
                stale.join("; ")
            );
            self.checker
                .report(self.now, ViolationKind::StalePending, detail);
        }
    }
}
