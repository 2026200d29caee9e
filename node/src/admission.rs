//! Admission: the one gate between a transfer and this node's mempool, for a client's
//! submission to the API and for a transfer another validator forwards alike.
//!
//! Why one gate: a rule checked only in the HTTP handler is a rule a peer's forward bypasses.
//! Each transfer is refused here first if it fails a stateless check
//! ([`Transfer::check_fields`](bftledger_ledger::Transfer::check_fields)), so one that can never be
//! valid is refused as such (400 `zero_nonce`, not 409 `nonce_used`); then if it was already executed (the core never orders the same
//! request twice, so it could only stay pending); a client's also if the ledger's committed
//! state already dooms it (its nonce is used, or its sender's balance is below the amount), so
//! that keys nobody funded cannot fill the cluster's backlog with transfers that can only be
//! rejected; then it goes through the mempool's stateless checks and bounds
//! ([`Mempool::admit`](crate::mempool::Mempool::admit)). A forward is not held to the state
//! checks: another validator accepted it, and this node's state may be behind. Refusals are counted
//! by code; a forwarded transfer's refusal apart (`forwarded_<code>`), as its client, who was
//! told "accepted" by another validator, does not hear of it.

use crate::load::Overloaded;
use crate::mempool::{verify_candidates, AdmitError, Candidate, Origin};
use crate::node_state::NodeState;
use bftledger_crypto::Digest;
use bftledger_ledger::{Receipt, SignedTransfer, Store};
use tracing::debug;

/// Why a transfer was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The transfer is already in a block, with this receipt.
    #[error("transfer {id} was already executed at height {height} ({receipt}); sign a new transfer instead")]
    AlreadyExecuted {
        /// The transfer's id.
        id: Digest,
        /// The block that holds it.
        height: u64,
        /// Its outcome there.
        receipt: Receipt,
    },
    /// The sender already used this nonce (clients only).
    #[error("nonce {nonce} is already used (the sender's last nonce at height {height} is {last}); sign with nonce {}", last + 1)]
    NonceUsed {
        /// The transfer's nonce.
        nonce: u64,
        /// The sender's last executed nonce.
        last: u64,
        /// The ledger height of that state.
        height: u64,
    },
    /// The sender's committed balance is below the amount (clients only).
    #[error("insufficient funds: the sender's balance at height {height} is {balance}, the amount {amount}")]
    InsufficientFunds {
        /// The sender's committed balance.
        balance: u64,
        /// The transfer's amount.
        amount: u64,
        /// The ledger height of that balance.
        height: u64,
    },
    /// Refused by the mempool's checks or bounds.
    #[error(transparent)]
    Pool(#[from] AdmitError),
    /// Too much already waits (clients only; see [`crate::load`]).
    #[error(transparent)]
    Overloaded(#[from] Overloaded),
    /// The node's data disk is low (clients only; see [`crate::disk`]).
    #[error(
        "this node's data disk has {free_bytes} bytes free, below {threshold_bytes}: it takes no \
         new transfers until space is freed; submit to another node"
    )]
    DiskLow {
        /// Bytes free.
        free_bytes: u64,
        /// The threshold.
        threshold_bytes: u64,
    },
    /// The store could not be read (an internal fault, not the sender's).
    #[error("store: {0}")]
    Store(String),
}

impl Refusal {
    /// A stable snake_case code (API error codes, metric labels).
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::AlreadyExecuted {
                receipt: Receipt::Applied,
                ..
            } => "already_committed",
            Refusal::AlreadyExecuted { .. } => "already_rejected",
            Refusal::NonceUsed { .. } => "nonce_used",
            Refusal::InsufficientFunds { .. } => "insufficient_funds",
            Refusal::Pool(e) => e.code(),
            Refusal::Overloaded(_) => "overloaded",
            Refusal::DiskLow { .. } => "disk_full",
            Refusal::Store(_) => "internal",
        }
    }
}

/// Why a client's transfer can only be rejected by the committed state, if it can.
fn doomed(store: &Store, t: &SignedTransfer, origin: Origin) -> Option<Refusal> {
    if origin == Origin::Peer {
        return None;
    }
    let (sender, height) = (store.account(&t.transfer.from), store.latest_height());
    let (nonce, amount) = (t.transfer.nonce, t.transfer.amount);
    if nonce <= sender.nonce {
        return Some(Refusal::NonceUsed {
            nonce,
            last: sender.nonce,
            height,
        });
    }
    (amount > sender.balance).then_some(Refusal::InsufficientFunds {
        balance: sender.balance,
        amount,
        height,
    })
}

/// Admits `transfers` from `origin`: one verdict per transfer, in order (the transfer id, or
/// why it was refused). Wakes the driver if any was admitted.
pub fn admit(
    state: &NodeState,
    transfers: Vec<SignedTransfer>,
    origin: Origin,
) -> Vec<Result<Digest, Refusal>> {
    if let (Origin::Client, Some(free_bytes)) = (origin, state.disk.low()) {
        let threshold_bytes = state.disk.threshold_bytes();
        return transfers
            .iter()
            .map(|_| {
                Err(Refusal::DiskLow {
                    free_bytes,
                    threshold_bytes,
                })
            })
            .collect();
    }
    // Each transfer gets a verdict here (a field or state rule), or goes on as a candidate.
    let mut verdicts: Vec<Option<Result<Digest, Refusal>>> = Vec::with_capacity(transfers.len());
    let mut fresh: Vec<Candidate> = Vec::new();
    {
        // Lock order store → mempool, as in the driver.
        let store = state.store.read().expect("store lock poisoned");
        for t in transfers {
            // A transfer that can never be valid is refused for that (400, e.g. `zero_nonce`),
            // not for what the state would make of it (409, e.g. `nonce_used` for nonce 0).
            if let Err(e) = t.transfer.check_fields(&state.genesis.chain_id) {
                verdicts.push(Some(Err(Refusal::Pool(AdmitError::Invalid(e)))));
                continue;
            }
            let candidate = Candidate::new(t);
            let id = candidate.id;
            match store.transfer(&id) {
                Ok(Some(record)) => verdicts.push(Some(Err(Refusal::AlreadyExecuted {
                    id,
                    height: record.height,
                    receipt: record.receipt,
                }))),
                Ok(None) => match doomed(&store, &candidate.transfer, origin) {
                    Some(refusal) => verdicts.push(Some(Err(refusal))),
                    None => {
                        verdicts.push(None);
                        fresh.push(candidate);
                    }
                },
                Err(e) => verdicts.push(Some(Err(Refusal::Store(e.to_string())))),
            }
        }
    }
    // The pool's lock is held twice, briefly: for the cheap checks (overload, duplicates), then
    // to insert. The signatures, the expensive step, are verified between the two without it,
    // so the driver's drain and other submissions do not wait for them. Submissions running
    // side by side may together pass the overload budget by their sizes; the pool's hard
    // bound (`mempool.max_transfers`) still holds at insertion.
    let overloaded = {
        let mempool = state.mempool.lock().expect("mempool lock poisoned");
        // Overload is refused at the door, to clients only: a forward's client already heard
        // "accepted" from another validator. Refused before any signature is verified.
        let overloaded = match origin {
            Origin::Client => state.load.admit(mempool.len(), fresh.len()).err(),
            Origin::Peer => None,
        };
        if overloaded.is_none() {
            mempool.screen(&mut fresh);
        }
        overloaded
    };
    let (pooled, size) = match overloaded {
        Some(o) => (
            fresh.iter().map(|_| Err(Refusal::Overloaded(o))).collect(),
            None,
        ),
        None => {
            verify_candidates(&mut fresh);
            let mut mempool = state.mempool.lock().expect("mempool lock poisoned");
            let pooled: Vec<Result<Digest, Refusal>> = mempool
                .insert_checked(fresh, origin)
                .into_iter()
                .map(|v| v.map_err(Refusal::from))
                .collect();
            (pooled, Some(mempool.len()))
        }
    };
    let mut pooled = pooled.into_iter();
    let verdicts: Vec<Result<Digest, Refusal>> = verdicts
        .into_iter()
        .map(|v| {
            v.unwrap_or_else(|| {
                pooled
                    .next()
                    .expect("one mempool verdict per fresh transfer")
            })
        })
        .collect();
    for verdict in &verdicts {
        match verdict {
            // One line per transfer (with `slot phase reached` and `executed` in the driver,
            // an operator follows one transfer through the node at `debug` level).
            Ok(id) => debug!(transfer = %id, ?origin, "transfer admitted"),
            Err(refusal) => {
                debug!(?origin, code = refusal.code(), "transfer refused");
                match origin {
                    Origin::Client => state.metrics.reject_transfer(refusal.code()),
                    Origin::Peer => state
                        .metrics
                        .reject_transfer(&format!("forwarded_{}", refusal.code())),
                }
            }
        }
    }
    if let (true, Some(size)) = (verdicts.iter().any(Result::is_ok), size) {
        state.metrics.mempool_size.set(size as i64);
        state.transfers_arrived.notify_one();
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeConfig;
    use crate::test_support;
    use bftledger_ledger::{BatchInput, Signatures, Store};
    use std::time::Duration;

    const CHAIN: &str = "admission-test";

    fn state() -> (tempfile::TempDir, NodeState) {
        let dir = tempfile::tempdir().unwrap();
        let genesis = test_support::genesis(CHAIN, 1_000);
        let store = Store::open_or_create(&dir.path().join("ledger"), &genesis).unwrap();
        let api = NodeConfig::local_default(1, 2).api;
        let hold = Duration::from_millis(500);
        (dir, test_support::shared(genesis, store, 100, hold, api))
    }

    /// Commits `transfers` as the next block, as the driver does after consensus.
    fn commit(state: &NodeState, transfers: Vec<SignedTransfer>) {
        let input = BatchInput {
            batch_digest: Digest::of(b"batch"),
            transfers,
            certificate: b"certificate".to_vec(),
        };
        let mut store = state.store.write().unwrap();
        store.commit_batch(input, Signatures::Verify).unwrap();
    }

    fn pending(state: &NodeState) -> usize {
        state.mempool.lock().unwrap().len()
    }

    #[test]
    fn an_executed_transfer_is_refused_from_a_client_and_from_a_peer_alike() {
        let (_dir, state) = state();
        let applied = test_support::transfer(CHAIN, 5, 1);
        let overdrawn = test_support::transfer(CHAIN, 5_000, 2);
        commit(&state, vec![applied.clone(), overdrawn.clone()]);
        for origin in [Origin::Client, Origin::Peer] {
            let verdicts = admit(&state, vec![applied.clone(), overdrawn.clone()], origin);
            let codes: Vec<_> = verdicts
                .iter()
                .map(|v| v.as_ref().map_err(Refusal::code))
                .collect();
            assert_eq!(
                codes,
                vec![Err("already_committed"), Err("already_rejected")],
                "{origin:?}"
            );
            assert_eq!(pending(&state), 0, "{origin:?}: nothing pooled");
        }
        let text = admit(&state, vec![applied.clone()], Origin::Client)
            .pop()
            .unwrap()
            .unwrap_err()
            .to_string();
        assert!(text.contains("at height 1 (applied)"), "{text}");
        let metrics = state.metrics.render();
        for label in [
            "reason=\"already_committed\"",
            "reason=\"forwarded_already_committed\"",
            "reason=\"forwarded_already_rejected\"",
        ] {
            assert!(metrics.contains(label), "{label} missing in {metrics}");
        }
    }

    /// A client's transfer that the committed state dooms is refused at the door (so unfunded
    /// keys cannot fill the backlog); a forward is not held to it (this node may be behind).
    #[test]
    fn a_client_s_doomed_transfer_is_refused_at_the_door_a_forward_is_not() {
        let (_dir, state) = state();
        commit(&state, vec![test_support::transfer(CHAIN, 5, 1)]);
        let used = test_support::transfer(CHAIN, 7, 1);
        let overdraft = test_support::transfer(CHAIN, 1_000, 2);
        let verdicts = admit(
            &state,
            vec![used.clone(), overdraft.clone()],
            Origin::Client,
        );
        let codes: Vec<_> = verdicts
            .iter()
            .map(|v| v.as_ref().map_err(Refusal::code))
            .collect();
        assert_eq!(codes, vec![Err("nonce_used"), Err("insufficient_funds")]);
        let text = verdicts[1].as_ref().unwrap_err().to_string();
        assert!(
            text.contains("balance at height 1 is 995, the amount 1000"),
            "{text}"
        );
        assert_eq!(pending(&state), 0);
        let forwarded = admit(&state, vec![overdraft.clone()], Origin::Peer);
        assert_eq!(forwarded[0].as_ref().ok(), Some(&overdraft.id()));
    }

    #[test]
    fn verdicts_keep_the_order_of_the_transfers_and_admit_the_fresh_ones() {
        let (_dir, state) = state();
        let executed = test_support::transfer(CHAIN, 5, 1);
        commit(&state, vec![executed.clone()]);
        let fresh = test_support::transfer(CHAIN, 5, 2);
        let mut forged = test_support::transfer(CHAIN, 5, 3);
        forged.signature.0[0] ^= 1;
        let verdicts = admit(
            &state,
            vec![fresh.clone(), executed, forged, fresh.clone()],
            Origin::Peer,
        );
        let codes: Vec<_> = verdicts
            .iter()
            .map(|v| v.as_ref().map_err(Refusal::code).copied())
            .collect();
        assert_eq!(
            codes,
            vec![
                Ok(fresh.id()),
                Err("already_committed"),
                Err("bad_signature"),
                Err("duplicate")
            ]
        );
        assert_eq!(pending(&state), 1);
    }
}
