//! The [`Application`] the core calls back: the ledger-side checks of a batch's requests, their
//! identities and their conflicts. The core never executes requests itself; the driver does,
//! with what [`crate::Replica::step`] hands out.

use crate::message::Request;
use bftledger_crypto::Digest;

/// The application's verdict on a batch: the positions of the invalid requests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} invalid requests in the batch (positions {bad:?})", bad.len())]
pub struct InvalidBatch {
    /// Positions (0-based, ascending) of the bad requests; never empty.
    pub bad: Vec<usize>,
}

/// The ledger-side check of a batch. Must be deterministic (same batch, same answer on every
/// replica) and should batch-verify the client signatures.
pub trait Application {
    /// `Ok` if every request is well-formed and correctly signed by its client.
    ///
    /// `digests[i]` is `requests[i].digest()`, which the core has already computed (it checks
    /// the batch digest and duplicates with them): an application that remembers requests it
    /// checked before can look them up without hashing again.
    fn validate_batch(&self, requests: &[Request], digests: &[Digest]) -> Result<(), InvalidBatch>;

    /// The identity of each request: two requests with the same identity are one request (for
    /// example one transfer signed twice: ed25519 signatures need not be unique), so the core
    /// keeps at most one of them pending and, once either executed, neither. Must be
    /// deterministic. `digests[i]` is `requests[i].digest()`. The default is the byte digest.
    fn request_ids(&self, requests: &[Request], digests: &[Digest]) -> Vec<Digest> {
        let _ = requests;
        digests.to_vec()
    }

    /// A key shared by requests of which at most one can take effect (for a ledger: a
    /// transfer's sender and nonce), or None for a request that conflicts with nothing. Once a
    /// request with key `k` executes, every other pending request with `k` leaves the pending
    /// pool: it could only be refused, a correct primary rightly never proposes it, and a
    /// backup waiting on it would accuse that primary (a client's double spend would then
    /// replace a correct primary). A request dropped this way is not remembered as executed:
    /// a client may send it again. Must be deterministic. The default: no conflicts.
    fn conflict_keys(&self, requests: &[Request], digests: &[Digest]) -> Vec<Option<Digest>> {
        let _ = digests;
        vec![None; requests.len()]
    }
}
