//! The mempool: client transfers accepted by this node, waiting to be handed to the consensus
//! core.
//!
//! * **Bounded**: at most `max_transfers` waiting; beyond that a submission is refused with
//!   [`AdmitError::Full`] (the client retries later) rather than queued without bound.
//! * **Duplicate suppression**: a transfer id is refused while it is *in flight* (waiting here, or
//!   handed to the core and not yet executed). The in-flight set is itself bounded
//!   (`max_seen_ids`, oldest forgotten first); a transfer already executed is caught by the
//!   ledger's store (the API looks there first) and, at execution, by its nonce.
//! * **Stateless pre-check**: fields (chain id, amount, memo, self-transfer) and then the
//!   signatures of a whole submission in one batch verification; only transfers that pass reach
//!   the core, so a client cannot make the primary propose batches the backups will refuse.
//!
//! Stateful rules (balance, nonce order) are the ledger's, at execution: the pool has no state to
//! judge them with, and a committed-but-failed transfer still gets a receipt saying why.

use crate::dropped::{DropReason, Dropped};
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::{Digest, PublicKey};
use bftledger_host::{SharedVerified, VerifiedTransfers};
use bftledger_ledger::{verify_signatures, SignedTransfer, TransferError};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// Why a transfer was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    /// A stateless rule is broken.
    #[error("{0}")]
    Invalid(TransferError),
    /// The same transfer id is already waiting or being ordered.
    #[error("transfer {0} is already pending")]
    Duplicate(Digest),
    /// The pool holds `max_transfers` transfers.
    #[error("mempool is full ({max_transfers} transfers); retry later")]
    Full {
        /// The configured bound.
        max_transfers: usize,
    },
}

impl AdmitError {
    /// A stable snake_case code (API error codes, metric labels).
    pub fn code(&self) -> &'static str {
        match self {
            AdmitError::Invalid(e) => transfer_error_code(e),
            AdmitError::Duplicate(_) => "duplicate",
            AdmitError::Full { .. } => "mempool_full",
        }
    }
}

/// A stable snake_case code for a stateless transfer error.
pub fn transfer_error_code(e: &TransferError) -> &'static str {
    match e {
        TransferError::BadSignature => "bad_signature",
        TransferError::WrongChainId => "wrong_chain_id",
        TransferError::ZeroAmount => "zero_amount",
        TransferError::ZeroNonce => "zero_nonce",
        TransferError::SelfTransfer => "self_transfer",
        TransferError::MemoTooLong { .. } => "memo_too_long",
    }
}

/// Share of the pool (percent of `max_transfers`) open to client submissions; the rest is
/// headroom for transfers other validators already accepted and forward (see
/// [`Mempool::limit_for`]).
pub const CLIENT_SHARE_PERCENT: usize = 90;

/// The transfers clients may fill in a pool of `max_transfers` ([`CLIENT_SHARE_PERCENT`]).
pub fn client_limit(max_transfers: usize) -> usize {
    max_transfers
        .saturating_mul(CLIENT_SHARE_PERCENT)
        .div_ceil(100)
}

/// Where a transfer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A client of this node's API: the node forwards it to the other validators.
    Client,
    /// Forwarded by another validator: not forwarded again.
    Peer,
}

/// A transfer waiting in the pool.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Its id.
    pub id: Digest,
    /// The transfer.
    pub transfer: SignedTransfer,
    /// Its canonical encoding: the consensus request payload.
    pub payload: Vec<u8>,
    /// Where it came from.
    pub origin: Origin,
    /// When it arrived here.
    pub arrived: Instant,
}

/// One transfer of a submission on its way through admission, with its id computed once.
#[derive(Debug)]
pub struct Candidate {
    /// The transfer id.
    pub id: Digest,
    /// The transfer.
    pub transfer: SignedTransfer,
    /// Why a step refused it, once one has.
    pub refused: Option<AdmitError>,
}

impl Candidate {
    /// A candidate no step has refused yet.
    pub fn new(transfer: SignedTransfer) -> Candidate {
        Candidate {
            id: transfer.id(),
            transfer,
            refused: None,
        }
    }
}

/// Verifies the signatures of the candidates no step refused, in one batch, and refuses the
/// forged ones. It needs no pool: admission runs it without the pool's lock, so the expensive
/// step of a submission holds up neither the driver (which drains the pool) nor other
/// submissions.
pub fn verify_candidates(candidates: &mut [Candidate]) {
    let positions: Vec<usize> = (0..candidates.len())
        .filter(|&i| candidates[i].refused.is_none())
        .collect();
    let transfers: Vec<&SignedTransfer> =
        positions.iter().map(|&i| &candidates[i].transfer).collect();
    if let Err(bad) = verify_signatures(&transfers) {
        for i in bad {
            candidates[positions[i]].refused =
                Some(AdmitError::Invalid(TransferError::BadSignature));
        }
    }
}

/// Limits of a [`Mempool`].
#[derive(Debug, Clone, Copy)]
pub struct MempoolLimits {
    /// Most transfers waiting.
    pub max_transfers: usize,
    /// Most in-flight ids remembered (waiting + handed to the core).
    pub max_seen_ids: usize,
    /// How long a transfer whose nonce is ahead of its sender's is held back, waiting for the
    /// transfers before it (which may have been forwarded by another path and arrive later).
    pub nonce_gap_hold: Duration,
}

/// What the pool remembers of a transfer in flight.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    arrived: Instant,
    from: PublicKey,
    nonce: u64,
}

/// The pool. Not thread-safe by itself; the node wraps it in a mutex.
///
/// **Nonce order**: a sender's nonces must execute in order, but its transfers can reach the
/// primary out of order (forwarded by different nodes, or in frames that overtake each other).
/// [`Mempool::drain`] hands a sender's transfers over in nonce order and holds back a transfer
/// whose predecessor is neither committed nor handed over, for at most `nonce_gap_hold`
/// (after that it is dropped and reported so: ordered, it could only be rejected).
#[derive(Debug)]
pub struct Mempool {
    chain_id: String,
    limits: MempoolLimits,
    waiting: VecDeque<Pending>,
    /// In-flight ids in arrival order, for forgetting the oldest; may hold ids that already
    /// left `in_flight` (skipped, and compacted when it grows).
    in_flight_order: VecDeque<Digest>,
    in_flight: HashMap<Digest, InFlight>,
    /// (sender, nonce) of transfers handed to the core and not executed yet.
    handed: HashSet<(PublicKey, u64)>,
    /// The same transfers by id, kept until executed: when the core drops its requests (after
    /// a state transfer) they go back to waiting instead of being lost (issue 19: each one lost
    /// doomed its sender's later transfers as `nonce_gap`).
    handed_over: HashMap<Digest, Pending>,
    /// Every admitted transfer, checked, by request digest: the consensus application and the
    /// driver use it instead of decoding and verifying the same bytes again.
    verified: SharedVerified,
    /// Accepted transfers let go of before ordering, with the reason.
    dropped: Dropped,
    /// Drops since [`Mempool::take_drop_counts`], by [`DropReason::ALL`] position.
    drop_counts: [u64; DropReason::ALL.len()],
}

impl Mempool {
    /// An empty pool for transfers of `chain_id`. Its verified-transfer cache holds up to
    /// twice `max_transfers` (waiting here, plus as many handed to the core and not executed).
    pub fn new(chain_id: impl Into<String>, limits: MempoolLimits) -> Mempool {
        assert!(limits.max_transfers > 0 && limits.max_seen_ids >= limits.max_transfers);
        Mempool {
            chain_id: chain_id.into(),
            limits,
            waiting: VecDeque::new(),
            in_flight_order: VecDeque::new(),
            in_flight: HashMap::new(),
            handed: HashSet::new(),
            handed_over: HashMap::new(),
            verified: VerifiedTransfers::shared(limits.max_transfers.saturating_mul(2)),
            dropped: Dropped::default(),
            drop_counts: [0; DropReason::ALL.len()],
        }
    }

    /// The cache of admitted (decoded, checked) transfers, for the consensus application and
    /// the driver.
    pub fn verified(&self) -> SharedVerified {
        self.verified.clone()
    }

    /// Transfers waiting to be handed to the core.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Whether `id` is waiting or being ordered.
    pub fn is_in_flight(&self, id: &Digest) -> bool {
        self.in_flight.contains_key(id)
    }

    /// Why `id` was let go of after it was accepted, if it was (and is not in flight again).
    pub fn dropped_reason(&self, id: &Digest) -> Option<DropReason> {
        self.dropped.reason(id)
    }

    /// Drops since the last call, per reason (for the metrics).
    pub fn take_drop_counts(&mut self) -> Vec<(DropReason, u64)> {
        let counts = std::mem::take(&mut self.drop_counts);
        DropReason::ALL.into_iter().zip(counts).collect()
    }

    fn record_drop(&mut self, id: Digest, reason: DropReason) {
        self.dropped.record(id, reason);
        let position = DropReason::ALL
            .iter()
            .position(|r| *r == reason)
            .expect("every reason is in ALL");
        self.drop_counts[position] += 1;
    }

    /// Checks and admits a submission; one result per transfer, in order: [`Mempool::screen`],
    /// [`verify_candidates`] and [`Mempool::insert_checked`] in one call, for a caller that holds
    /// the pool anyway. The node's admission (`crate::admission`) runs the signature step between
    /// two short holds of the pool's lock instead.
    pub fn admit(
        &mut self,
        transfers: Vec<SignedTransfer>,
        origin: Origin,
    ) -> Vec<Result<Digest, AdmitError>> {
        let mut candidates: Vec<Candidate> = transfers.into_iter().map(Candidate::new).collect();
        self.screen(&mut candidates);
        verify_candidates(&mut candidates);
        self.insert_checked(candidates, origin)
    }

    /// The cheap checks, before any signature is verified: the stateless field rules, and
    /// duplicates (in flight here, or twice in the same submission). Why before: a transfer
    /// submitted again, however often, costs no signature verification.
    pub fn screen(&self, candidates: &mut [Candidate]) {
        let mut ids_in_submission = HashSet::with_capacity(candidates.len());
        for c in candidates.iter_mut().filter(|c| c.refused.is_none()) {
            c.refused = match c.transfer.transfer.check_fields(&self.chain_id) {
                Err(e) => Some(AdmitError::Invalid(e)),
                Ok(()) if self.is_in_flight(&c.id) || !ids_in_submission.insert(c.id) => {
                    Some(AdmitError::Duplicate(c.id))
                }
                Ok(()) => None,
            };
        }
    }

    /// Inserts the candidates no step refused; one result per candidate, in order. A candidate
    /// is checked for duplicates again: another submission of the same transfer may have been
    /// inserted while this one's signatures were verified without the lock.
    pub fn insert_checked(
        &mut self,
        candidates: Vec<Candidate>,
        origin: Origin,
    ) -> Vec<Result<Digest, AdmitError>> {
        candidates
            .into_iter()
            .map(|c| match c.refused {
                Some(e) => Err(e),
                None if self.is_in_flight(&c.id) => Err(AdmitError::Duplicate(c.id)),
                None => self.insert(c.id, c.transfer, origin),
            })
            .collect()
    }

    /// Most transfers waiting before a submission from `origin` is refused: clients get
    /// [`CLIENT_SHARE_PERCENT`] of the pool, forwards from other validators all of it.
    ///
    /// Why: a forwarded transfer was already accepted by another validator's API, and every pool
    /// fills at about the same rate (each node holds all forwarded transfers). Without headroom,
    /// a full primary drops transfers other nodes acknowledged; each drop then leaves a nonce gap
    /// that dooms the sender's later transfers, and backups holding the dropped ones suspect the
    /// primary (see testnet/BENCHMARKS.md, overload). With it, overload is refused at the API,
    /// where the client hears it (HTTP 503) and can retry in nonce order.
    pub fn limit_for(&self, origin: Origin) -> usize {
        let all = self.limits.max_transfers;
        match origin {
            Origin::Peer => all,
            Origin::Client => client_limit(all),
        }
    }

    fn insert(
        &mut self,
        id: Digest,
        t: SignedTransfer,
        origin: Origin,
    ) -> Result<Digest, AdmitError> {
        debug_assert_eq!(id, t.id(), "a candidate's id is its transfer's");
        let limit = self.limit_for(origin);
        if self.waiting.len() >= limit {
            return Err(AdmitError::Full {
                max_transfers: limit,
            });
        }
        while self.in_flight.len() >= self.limits.max_seen_ids {
            match self.in_flight_order.pop_front() {
                Some(old) => {
                    if self.forget(&old).is_some() {
                        self.record_drop(old, DropReason::Evicted);
                    }
                }
                None => break,
            }
        }
        self.dropped.readmitted(&id);
        let arrived = Instant::now();
        self.in_flight.insert(
            id,
            InFlight {
                arrived,
                from: t.transfer.from,
                nonce: t.transfer.nonce,
            },
        );
        self.in_flight_order.push_back(id);
        if self.in_flight_order.len() > 2 * self.limits.max_seen_ids {
            let in_flight = &self.in_flight;
            self.in_flight_order.retain(|id| in_flight.contains_key(id));
        }
        let payload = t.to_bytes();
        self.verified
            .lock()
            .expect("verified-transfer cache lock poisoned")
            .insert(Digest::of(&payload), t.clone());
        self.waiting.push_back(Pending {
            id,
            payload,
            transfer: t,
            origin,
            arrived,
        });
        Ok(id)
    }

    fn forget(&mut self, id: &Digest) -> Option<InFlight> {
        let f = self.in_flight.remove(id)?;
        self.handed.remove(&(f.from, f.nonce));
        self.handed_over.remove(id);
        Some(f)
    }

    /// Takes up to `max` waiting transfers to hand to the core: each sender's in nonce order,
    /// holding back those whose predecessor is neither committed (`committed_nonce(sender)`
    /// is the sender's last executed nonce) nor handed over, for at most `nonce_gap_hold`.
    /// They stay in flight (duplicates still refused) until [`Mempool::executed`].
    ///
    /// A transfer that can only be rejected is dropped here instead of ordered (issue: overload
    /// made a third of what was ordered `NonceGap` receipts): one whose nonce is already used,
    /// and one whose gap did not close within the hold. Both are reported as dropped, and
    /// the same signed transfer may be submitted again.
    pub fn drain(
        &mut self,
        max: usize,
        committed_nonce: impl Fn(&PublicKey) -> u64,
    ) -> Vec<Pending> {
        let mut candidates: Vec<Pending> = std::mem::take(&mut self.waiting)
            .into_iter()
            // Executed while waiting (ordered through another node): drop.
            .filter(|p| self.in_flight.contains_key(&p.id))
            .collect();
        // Senders in the order their first waiting transfer arrived, each sender's transfers
        // in nonce order. Ordering senders by key instead made a backlog (more ready than one
        // drain takes) serve low keys first, every drain: a sender with a high key waited for
        // as long as the overload lasted.
        let mut first_arrival: HashMap<PublicKey, usize> = HashMap::new();
        for (position, p) in candidates.iter().enumerate() {
            first_arrival
                .entry(p.transfer.transfer.from)
                .or_insert(position);
        }
        candidates.sort_by_key(|p| {
            (
                first_arrival[&p.transfer.transfer.from],
                p.transfer.transfer.nonce,
            )
        });
        let mut out = Vec::new();
        // The last candidate kept (handed over or left waiting): candidates are sorted, so a
        // transfer's predecessor, if it is waiting here too, is the one just before it.
        let mut kept: Option<(PublicKey, u64)> = None;
        for p in candidates {
            let (from, nonce) = (p.transfer.transfer.from, p.transfer.transfer.nonce);
            let committed = committed_nonce(&from);
            let follows = nonce == committed.saturating_add(1)
                || (nonce > committed && self.handed.contains(&(from, nonce - 1)));
            // A predecessor still waiting is no gap: under a backlog (more ready transfers than
            // `max`) it waits its turn, and so must its successors, however long that takes.
            let predecessor_waits = kept == Some((from, nonce.wrapping_sub(1)));
            if nonce <= committed {
                self.forget(&p.id);
                self.record_drop(p.id, DropReason::NonceUsed);
            } else if follows && out.len() < max {
                self.handed.insert((from, nonce));
                self.handed_over.insert(p.id, p.clone());
                kept = Some((from, nonce));
                out.push(p);
            } else if !follows
                && !predecessor_waits
                && p.arrived.elapsed() >= self.limits.nonce_gap_hold
            {
                self.forget(&p.id);
                self.record_drop(p.id, DropReason::NonceGap);
            } else {
                kept = Some((from, nonce));
                self.waiting.push_back(p);
            }
        }
        out
    }

    /// The core dropped the requests it held (it does after a state transfer). The transfers
    /// handed to it go back to waiting, still in flight: the next drains hand them over again
    /// in nonce order (or drop one whose nonce was used meanwhile, with that reason). Those the
    /// state transfer itself brought in (`executed(id)`) are done, not dropped. Waiting may
    /// then exceed `max_transfers` by at most what the core held (its `max_pending_requests`);
    /// admission refuses new transfers until the drains bring it back under.
    pub fn requeue_handed_over(&mut self, executed: impl Fn(&Digest) -> bool) {
        self.handed.clear();
        for (id, p) in std::mem::take(&mut self.handed_over) {
            if executed(&id) {
                self.forget(&id);
            } else {
                self.waiting.push_back(p);
            }
        }
    }

    /// A transfer was executed (committed, with any receipt): it is no longer in flight.
    /// Returns when it arrived here, if it did.
    pub fn executed(&mut self, id: &Digest) -> Option<Instant> {
        self.forget(id).map(|f| f.arrived)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bftledger_crypto::SecretKey;
    use bftledger_ledger::Transfer;

    fn key(n: u8) -> SecretKey {
        SecretKey::from_bytes(&[n; 32])
    }

    fn transfer(nonce: u64, amount: u64) -> SignedTransfer {
        Transfer {
            chain_id: "test".into(),
            from: key(1).public(),
            to: key(2).public(),
            amount,
            nonce,
            memo: None,
        }
        .sign(&key(1))
    }

    fn pool(max: usize) -> Mempool {
        Mempool::new(
            "test",
            MempoolLimits {
                max_transfers: max,
                max_seen_ids: max * 2,
                nonce_gap_hold: Duration::from_secs(3600),
            },
        )
    }

    /// A pool that holds a nonce gap for no time at all.
    fn quick_pool() -> Mempool {
        Mempool::new(
            "test",
            MempoolLimits {
                max_transfers: 10,
                max_seen_ids: 20,
                nonce_gap_hold: Duration::ZERO,
            },
        )
    }

    #[test]
    fn admits_valid_transfers_in_order_and_drains_oldest_first() {
        let mut p = pool(10);
        let r = p.admit(vec![transfer(1, 5), transfer(2, 5)], Origin::Client);
        assert!(r.iter().all(Result::is_ok));
        let drained = p.drain(1, |_| 0);
        assert_eq!(drained[0].id, transfer(1, 5).id());
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn refuses_duplicates_while_in_flight_then_accepts_after_execution() {
        let mut p = pool(10);
        let t = transfer(1, 5);
        assert!(p.admit(vec![t.clone()], Origin::Client)[0].is_ok());
        assert_eq!(
            p.admit(vec![t.clone()], Origin::Client)[0],
            Err(AdmitError::Duplicate(t.id()))
        );
        p.drain(10, |_| 0);
        assert_eq!(
            p.admit(vec![t.clone()], Origin::Client)[0],
            Err(AdmitError::Duplicate(t.id()))
        );
        assert!(p.executed(&t.id()).is_some());
        assert!(p.admit(vec![t.clone()], Origin::Client)[0].is_ok());
        // Twice in the same submission.
        let u = transfer(9, 1);
        let r = p.admit(vec![u.clone(), u.clone()], Origin::Client);
        assert!(r[0].is_ok());
        assert_eq!(r[1], Err(AdmitError::Duplicate(u.id())));
    }

    #[test]
    fn bad_signatures_are_named_individually_by_the_batch_check() {
        let mut p = pool(10);
        let mut forged = transfer(2, 5);
        forged.signature = transfer(3, 5).signature;
        let r = p.admit(vec![transfer(1, 5), forged, transfer(4, 5)], Origin::Client);
        assert!(r[0].is_ok() && r[2].is_ok());
        assert_eq!(r[1], Err(AdmitError::Invalid(TransferError::BadSignature)));
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn stateless_rules_are_checked() {
        let mut p = pool(10);
        let zero = transfer(1, 0);
        let mut other_chain = transfer(2, 1).transfer;
        other_chain.chain_id = "other".into();
        let r = p.admit(vec![zero, other_chain.sign(&key(1))], Origin::Client);
        assert_eq!(r[0], Err(AdmitError::Invalid(TransferError::ZeroAmount)));
        assert_eq!(r[1], Err(AdmitError::Invalid(TransferError::WrongChainId)));
        assert!(p.is_empty());
    }

    #[test]
    fn bounded_size_refuses_when_full() {
        let mut p = pool(2);
        let r = p.admit(
            vec![transfer(1, 1), transfer(2, 1), transfer(3, 1)],
            Origin::Client,
        );
        assert!(r[0].is_ok() && r[1].is_ok());
        assert_eq!(r[2], Err(AdmitError::Full { max_transfers: 2 }));
        assert_eq!(r[2].clone().unwrap_err().code(), "mempool_full");
    }

    /// Overload is refused to clients before the pool is full, so forwards of transfers other
    /// validators acknowledged still fit.
    #[test]
    fn clients_are_refused_first_forwards_keep_the_headroom() {
        let mut p = pool(20);
        assert_eq!(p.limit_for(Origin::Client), 18);
        let r = p.admit((1..=20).map(|n| transfer(n, 1)).collect(), Origin::Client);
        assert_eq!(r.iter().filter(|x| x.is_ok()).count(), 18);
        assert_eq!(r[18], Err(AdmitError::Full { max_transfers: 18 }));
        let r = p.admit((19..=21).map(|n| transfer(n, 1)).collect(), Origin::Peer);
        assert!(r[0].is_ok() && r[1].is_ok(), "{r:?}");
        assert_eq!(r[2], Err(AdmitError::Full { max_transfers: 20 }));
        assert_eq!(p.len(), 20);
    }

    #[test]
    fn a_sender_s_transfers_go_out_in_nonce_order_and_gaps_are_held_back() {
        let mut p = pool(10);
        p.admit(vec![transfer(3, 1), transfer(2, 1)], Origin::Peer);
        assert!(p.drain(10, |_| 0).is_empty(), "nonce 1 is missing");
        assert_eq!(p.len(), 2);
        p.admit(vec![transfer(1, 1)], Origin::Peer);
        let nonces: Vec<u64> = p
            .drain(10, |_| 0)
            .iter()
            .map(|t| t.transfer.transfer.nonce)
            .collect();
        assert_eq!(nonces, [1, 2, 3]);
        // Committed nonces count as predecessors.
        p.admit(vec![transfer(5, 1)], Origin::Peer);
        assert_eq!(p.drain(10, |_| 4).len(), 1);
    }

    /// A transfer that could only be rejected is dropped before ordering and reported so: a gap
    /// that did not close within the hold, or a nonce already used. The same transfer may come
    /// again.
    #[test]
    fn transfers_that_can_only_fail_are_dropped_with_a_reason_not_ordered() {
        let mut quick = quick_pool();
        let (gap, used, next) = (transfer(9, 1), transfer(3, 1), transfer(6, 1));
        quick.admit(vec![gap.clone(), used.clone(), next.clone()], Origin::Peer);
        let drained = quick.drain(10, |_| 5);
        assert_eq!(drained.len(), 1, "only nonce 6 follows the committed 5");
        assert_eq!(drained[0].id, next.id());
        assert_eq!(quick.dropped_reason(&gap.id()), Some(DropReason::NonceGap));
        assert_eq!(
            quick.dropped_reason(&used.id()),
            Some(DropReason::NonceUsed)
        );
        assert!(!quick.is_in_flight(&gap.id()) && quick.is_empty());
        let counts = quick.take_drop_counts();
        assert!(counts.contains(&(DropReason::NonceGap, 1)), "{counts:?}");
        assert!(counts.contains(&(DropReason::NonceUsed, 1)), "{counts:?}");
        assert!(quick.take_drop_counts().iter().all(|(_, n)| *n == 0));
        // Submitted again: in flight, no longer reported as dropped.
        assert!(quick.admit(vec![gap.clone()], Origin::Client)[0].is_ok());
        assert_eq!(quick.dropped_reason(&gap.id()), None);
    }

    fn transfer_by(sender: u8, nonce: u64) -> SignedTransfer {
        Transfer {
            chain_id: "test".into(),
            from: key(sender).public(),
            to: key(2).public(),
            amount: 1,
            nonce,
            memo: None,
        }
        .sign(&key(sender))
    }

    /// Under a backlog, senders are served in the order they arrived, whatever their keys: by
    /// key, one sender could wait as long as the overload lasted.
    #[test]
    fn a_backlog_serves_senders_in_arrival_order() {
        for (first, second) in [(3, 4), (4, 3)] {
            let mut p = pool(10);
            let early = [transfer_by(first, 1), transfer_by(first, 2)];
            let late = transfer_by(second, 1);
            p.admit(
                vec![early[0].clone(), late.clone(), early[1].clone()],
                Origin::Peer,
            );
            let ids: Vec<Digest> = p.drain(2, |_| 0).iter().map(|t| t.id).collect();
            assert_eq!(
                ids,
                [early[0].id(), early[1].id()],
                "sender {first} came first"
            );
            assert_eq!(p.drain(2, |_| 0)[0].id, late.id());
        }
    }

    /// Under a backlog (more ready transfers than one drain takes) a transfer whose predecessor
    /// is still waiting in the pool is not a gap, however long it waits: dropping it made a
    /// sender's later transfers fail as `nonce_gap` at 2x load although nothing was missing.
    #[test]
    fn a_predecessor_waiting_behind_a_backlog_is_no_gap() {
        let mut quick = quick_pool();
        let all = [transfer(1, 1), transfer(2, 1), transfer(3, 1)];
        quick.admit(all.to_vec(), Origin::Peer);
        assert_eq!(quick.drain(1, |_| 0).len(), 1, "one drain takes one");
        let rest: Vec<u64> = quick
            .drain(10, |_| 0)
            .iter()
            .map(|t| t.transfer.transfer.nonce)
            .collect();
        assert_eq!(rest, [2, 3]);
        assert!(all.iter().all(|t| quick.dropped_reason(&t.id()).is_none()));
        // A real gap is still dropped: nonce 5 behind a missing 4, with 6 behind it.
        quick.admit(vec![transfer(5, 1), transfer(6, 1)], Origin::Peer);
        assert!(quick.drain(10, |_| 3).is_empty());
        assert_eq!(
            quick.dropped_reason(&transfer(6, 1).id()),
            Some(DropReason::NonceGap)
        );
    }

    /// After a state transfer the core forgets its requests; what this node had handed over
    /// comes back, in nonce order, and nothing is reported dropped (each drop used to doom the
    /// sender's later transfers as `nonce_gap`). What the state transfer executed is done.
    #[test]
    fn handed_over_transfers_are_handed_over_again_after_a_state_transfer() {
        let mut p = quick_pool();
        let t: Vec<SignedTransfer> = (1..=4).map(|n| transfer(n, 1)).collect();
        p.admit(t.clone(), Origin::Client);
        assert_eq!(p.drain(3, |_| 0).len(), 3, "nonces 1-3 handed over");
        // The state transfer executed nonce 1; the core dropped 2 and 3.
        p.requeue_handed_over(|id| *id == t[0].id());
        assert!(!p.is_in_flight(&t[0].id()));
        assert!(t[1..].iter().all(|x| p.is_in_flight(&x.id())));
        let nonces: Vec<u64> = p
            .drain(10, |_| 1)
            .iter()
            .map(|x| x.transfer.transfer.nonce)
            .collect();
        assert_eq!(nonces, [2, 3, 4]);
        assert!(t.iter().all(|x| p.dropped_reason(&x.id()).is_none()));
        assert!(p.take_drop_counts().iter().all(|(_, n)| *n == 0));
    }

    #[test]
    fn in_flight_memory_is_bounded() {
        let mut p = pool(2); // remembers 4 ids
        for n in 1..=10 {
            assert!(p.admit(vec![transfer(n, 1)], Origin::Client)[0].is_ok());
            p.drain(10, |_| 0);
        }
        assert!(!p.is_in_flight(&transfer(1, 1).id()));
        assert_eq!(
            p.dropped_reason(&transfer(1, 1).id()),
            Some(DropReason::Evicted)
        );
        assert!(p.is_in_flight(&transfer(10, 1).id()));
    }
}
