//! The consensus [`Application`] of a node: a batch is valid when every request decodes as a
//! signed transfer for this chain that passes the ledger's stateless checks, signatures
//! batch-verified (the ledger's `decode_and_check_batch`). Deterministic: same batch, same
//! verdict on every replica.
//!
//! Requests whose exact bytes this node already checked (admitted to its mempool, or in an
//! earlier proposal) are found in the [`crate::verified`] cache and not checked again; the
//! others are checked, and recorded there for execution. The verdict is the same either way.

use crate::verified::{SharedVerified, VerifiedTransfers};
use bftledger_consensus::{Application, Digest, InvalidBatch, Request};
use bftledger_crypto::PublicKey;
use bftledger_ledger::{decode_and_check_batch, decode_payload, SignedTransfer};

/// The ledger as a consensus application.
#[derive(Debug, Clone)]
pub struct LedgerApp {
    chain_id: String,
    verified: SharedVerified,
}

/// Capacity of the private cache of [`LedgerApp::new`] (transfers).
const OWN_CACHE_TRANSFERS: usize = 4_096;

impl LedgerApp {
    /// The application for the chain `chain_id`, with a cache of its own.
    pub fn new(chain_id: impl Into<String>) -> LedgerApp {
        LedgerApp::with_verified(chain_id, VerifiedTransfers::shared(OWN_CACHE_TRANSFERS))
    }

    /// The application for the chain `chain_id`, sharing `verified` with the mempool (which
    /// fills it) and the driver (which takes executed transfers out of it).
    pub fn with_verified(chain_id: impl Into<String>, verified: SharedVerified) -> LedgerApp {
        LedgerApp {
            chain_id: chain_id.into(),
            verified,
        }
    }
}

impl Application for LedgerApp {
    fn validate_batch(&self, requests: &[Request], digests: &[Digest]) -> Result<(), InvalidBatch> {
        let mut unknown: Vec<usize> = Vec::new();
        {
            let mut cache = self.verified.lock().expect("verified cache lock poisoned");
            for (i, digest) in digests.iter().enumerate() {
                if cache.get(digest).is_none() {
                    unknown.push(i);
                }
            }
        }
        if unknown.is_empty() {
            return Ok(());
        }
        let payloads: Vec<&[u8]> = unknown
            .iter()
            .map(|&i| requests[i].payload.as_slice())
            .collect();
        match decode_and_check_batch(&payloads, &self.chain_id) {
            Ok(transfers) => {
                let mut cache = self.verified.lock().expect("verified cache lock poisoned");
                for (&i, t) in unknown.iter().zip(transfers) {
                    cache.insert(digests[i], t);
                }
                Ok(())
            }
            Err(e) => Err(InvalidBatch {
                bad: e
                    .bad
                    .into_iter()
                    .map(|(position, _)| unknown[position])
                    .collect(),
            }),
        }
    }

    /// A request's identity is its **transfer id** (the hash of the signed fields, signature
    /// excluded): one transfer signed twice is one request, so once either copy executes the
    /// other is pending nowhere (safety-holes issue, item 7). Payloads that do not decode keep
    /// their byte digest (they never pass `validate_batch`).
    fn request_ids(&self, requests: &[Request], digests: &[Digest]) -> Vec<Digest> {
        let cache = self.verified.lock().expect("verified cache lock poisoned");
        requests
            .iter()
            .zip(digests)
            .map(|(request, digest)| {
                cache
                    .transfer_id(digest)
                    .unwrap_or_else(|| decode_payload(&request.payload).map_or(*digest, |t| t.id()))
            })
            .collect()
    }

    /// Two transfers conflict when they have one sender and one nonce: at most one of them
    /// can ever apply (the ledger's nonce rule). So once either executes the core stops waiting
    /// for the other, which a correct primary's mempool refuses (its nonce is used) and would
    /// otherwise sit pending at the backups until their timers accuse that primary.
    fn conflict_keys(&self, requests: &[Request], digests: &[Digest]) -> Vec<Option<Digest>> {
        let cache = self.verified.lock().expect("verified cache lock poisoned");
        requests
            .iter()
            .zip(digests)
            .map(|(request, digest)| {
                let key = |t: &SignedTransfer| conflict_key(&t.transfer.from, t.transfer.nonce);
                match cache.peek(digest) {
                    Some(t) => Some(key(t)),
                    None => decode_payload(&request.payload).ok().map(|t| key(&t)),
                }
            })
            .collect()
    }
}

/// The conflict key of a sender's nonce ([`Application::conflict_keys`]).
pub fn conflict_key(sender: &PublicKey, nonce: u64) -> Digest {
    let mut bytes = b"bftledger/conflict/v1\0".to_vec();
    bytes.extend_from_slice(sender.as_bytes());
    bytes.extend_from_slice(&nonce.to_be_bytes());
    Digest::of(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bftledger_crypto::encoding::Versioned;

    /// `validate_batch` with the digests the core would pass.
    fn check(app: &LedgerApp, batch: &[Request]) -> Result<(), InvalidBatch> {
        let digests: Vec<Digest> = batch.iter().map(Request::digest).collect();
        app.validate_batch(batch, &digests)
    }

    fn request(nonce: u64, chain: &str) -> Request {
        Request {
            payload: crate::fixtures::transfer(chain, 1, nonce).to_bytes(),
        }
    }

    #[test]
    fn names_every_bad_request() {
        let app = LedgerApp::new("c");
        assert!(check(&app, &[request(1, "c"), request(2, "c")]).is_ok());
        let garbage = Request {
            payload: vec![1, 2, 3],
        };
        let err = check(&app, &[request(1, "c"), garbage, request(3, "other")]).unwrap_err();
        assert_eq!(err.bad, vec![1, 2]);
    }

    /// A cache hit skips the check but never changes the verdict: a batch mixing known-good,
    /// unknown-good and unknown-bad requests names exactly the bad ones, at their positions in
    /// the batch; checked-good requests are then known.
    #[test]
    fn cached_requests_keep_the_same_verdict_and_positions() {
        let app = LedgerApp::new("c");
        let known = request(1, "c");
        check(&app, std::slice::from_ref(&known)).unwrap();
        assert_eq!(app.verified.lock().unwrap().len(), 1);
        let garbage = Request {
            payload: vec![9; 40],
        };
        let batch = [known.clone(), garbage, request(2, "c"), request(3, "other")];
        let err = check(&app, &batch).unwrap_err();
        assert_eq!(err.bad, vec![1, 3]);
        check(&app, &[known, request(2, "c")]).unwrap();
        let (hits, _) = app.verified.lock().unwrap().stats();
        assert!(hits >= 2, "known requests were found, {hits} hits");
        // A cache filled with other bytes does not make a bad request good.
        let fresh = LedgerApp::new("c");
        let mut tampered = request(4, "c").payload;
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        let bad = Request { payload: tampered };
        assert_eq!(check(&fresh, &[bad]).unwrap_err().bad, vec![0]);
    }

    /// Safety-holes issue, item 7: a request's identity is its transfer id, whatever its
    /// signature bytes, so two signatures of one transfer are one request for the core (found in
    /// the verified cache or decoded); bytes that do not decode keep their byte digest.
    #[test]
    fn a_transfer_signed_twice_has_one_identity() {
        let app = LedgerApp::new("c");
        let signed = crate::fixtures::transfer("c", 1, 1);
        let mut other = signed.clone();
        other.signature = crate::fixtures::transfer("c", 1, 2).signature;
        let garbage = Request {
            payload: vec![7; 12],
        };
        let batch = [
            Request {
                payload: signed.to_bytes(),
            },
            Request {
                payload: other.to_bytes(),
            },
            garbage.clone(),
        ];
        check(&app, &batch[..1]).unwrap(); // the first is now in the verified cache
        let digests: Vec<Digest> = batch.iter().map(Request::digest).collect();
        assert_ne!(digests[0], digests[1]);
        let ids = app.request_ids(&batch, &digests);
        assert_eq!(ids, vec![signed.id(), signed.id(), garbage.digest()]);
    }

    /// Two transfers of one sender with one nonce conflict (at most one can apply), whatever
    /// else differs; another nonce or sender does not; bytes that are no transfer conflict with
    /// nothing. The key is the same whether the transfer is in the verified cache or decoded.
    #[test]
    fn transfers_conflict_by_sender_and_nonce() {
        let app = LedgerApp::new("c");
        let pay = |amount, nonce| Request {
            payload: crate::fixtures::transfer("c", amount, nonce).to_bytes(),
        };
        let batch = [
            pay(1, 5),
            pay(2, 5),
            pay(1, 6),
            Request {
                payload: vec![3; 9],
            },
        ];
        let digests: Vec<Digest> = batch.iter().map(Request::digest).collect();
        let decoded = app.conflict_keys(&batch, &digests);
        check(&app, &batch[..3]).unwrap(); // now in the verified cache
        assert_eq!(app.conflict_keys(&batch, &digests), decoded);
        assert_eq!(decoded[0], decoded[1]);
        assert_ne!(decoded[0], decoded[2]);
        assert_eq!(decoded[3], None);
        let sender = crate::fixtures::key(10).public();
        assert_eq!(decoded[0], Some(conflict_key(&sender, 5)));
    }
}
