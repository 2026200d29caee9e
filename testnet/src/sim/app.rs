//! The toy application the simulated cluster orders requests for.
//!
//! A request is an operation signed by a simulated client: `client (u32) | nonce (u64) | op (u64) |
//! signature (64 bytes)`, little-endian, fixed 84 bytes. Backups check every client signature
//! before they prepare a batch (`ToyValidator`, the consensus `Application`), so a Byzantine
//! primary cannot get forged requests ordered.
//!
//! The state (`AppState`) is a hash chain: executing batch `seq` folds `seq` and the digest of
//! every request applied into the root. A request `(client, nonce)` is applied at most once: a copy
//! ordered again (a client retransmission, a re-proposal after a view change) is skipped, as a
//! real ledger skips a replayed nonce. Because the chain covers exactly what was applied, two
//! replicas with equal roots at one seq applied the same requests in the same order.
//!
//! **Blocks.** Each executed batch also gets a block identity built exactly as the ledger builds
//! it: a `bftledger_ledger::BlockHeader` (height = seq, previous block hash, batch digest, digest
//! of the receipts, state root) hashed by the ledger's own `BlockHeader::hash`, with a ledger
//! `Receipt` per request (applied, or rejected as a replay). The block hash is what the
//! simulated driver reports to the core (`Input::Executed`), as the node does: it is the
//! checkpoint digest. [`block_identity`] is the one place the simulator derives it, and where the
//! mutant that puts the view back into the block identity lives.
//!
//! Durability: the application state is durable by itself, like the ledger's store that commits
//! one block atomically. A crash keeps the state at the last executed seq; after a restart the
//! driver skips batches at or below that seq (and the checker confirms they are the batches it
//! executed before). State transfer installs a snapshot taken at a stable checkpoint.

use std::collections::{BTreeMap, BTreeSet};

use bftledger_consensus::{Application, CommittedBatch, InvalidBatch, Request};
use bftledger_crypto::{Digest, Domain, PublicKey, SecretKey, Signature};
use bftledger_ledger::{receipts_digest, BlockHeader, Receipt, RejectReason, TransferError};

/// Bytes of an encoded client request.
pub const REQUEST_BYTES: usize = 4 + 8 + 8 + 64;

/// A decoded client request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRequest {
    /// Index of the client (and of its key).
    pub client: u32,
    /// Per-client number; `(client, nonce)` identifies the request.
    pub nonce: u64,
    /// The operation (any number: the toy app only hashes it).
    pub op: u64,
    /// The client's signature over the first 20 bytes.
    pub signature: Signature,
}

impl ClientRequest {
    fn signed_bytes(client: u32, nonce: u64, op: u64) -> [u8; 20] {
        let mut bytes = [0u8; 20];
        bytes[..4].copy_from_slice(&client.to_le_bytes());
        bytes[4..12].copy_from_slice(&nonce.to_le_bytes());
        bytes[12..].copy_from_slice(&op.to_le_bytes());
        bytes
    }

    /// Signs a new request with the client's key.
    pub fn sign(key: &SecretKey, client: u32, nonce: u64, op: u64) -> ClientRequest {
        let signature = key.sign(Domain::Transfer, &Self::signed_bytes(client, nonce, op));
        ClientRequest {
            client,
            nonce,
            op,
            signature,
        }
    }

    /// The wire form, as the consensus layer sees it.
    pub fn encode(&self) -> Request {
        let mut payload = Vec::with_capacity(REQUEST_BYTES);
        payload.extend_from_slice(&Self::signed_bytes(self.client, self.nonce, self.op));
        payload.extend_from_slice(&self.signature.0);
        Request { payload }
    }

    /// Parses the wire form (no signature check).
    pub fn decode(request: &Request) -> Option<ClientRequest> {
        let bytes: &[u8; REQUEST_BYTES] = request.payload.as_slice().try_into().ok()?;
        let client = u32::from_le_bytes(bytes[..4].try_into().ok()?);
        let nonce = u64::from_le_bytes(bytes[4..12].try_into().ok()?);
        let op = u64::from_le_bytes(bytes[12..20].try_into().ok()?);
        let signature = Signature(bytes[20..].try_into().ok()?);
        Some(ClientRequest {
            client,
            nonce,
            op,
            signature,
        })
    }

    /// Whether the signature is the client's.
    pub fn verify(&self, clients: &[PublicKey]) -> bool {
        let Some(key) = clients.get(self.client as usize) else {
            return false;
        };
        key.verify(
            Domain::Transfer,
            &Self::signed_bytes(self.client, self.nonce, self.op),
            &self.signature,
        )
        .is_ok()
    }
}

/// The consensus `Application`: checks every client signature of a proposed batch.
#[derive(Clone, Debug)]
pub struct ToyValidator {
    clients: Vec<PublicKey>,
}

impl ToyValidator {
    /// A validator that knows the clients' public keys.
    pub fn new(clients: Vec<PublicKey>) -> ToyValidator {
        ToyValidator { clients }
    }
}

impl Application for ToyValidator {
    fn validate_batch(&self, requests: &[Request], _: &[Digest]) -> Result<(), InvalidBatch> {
        let bad: Vec<usize> = requests
            .iter()
            .enumerate()
            .filter(|(_, request)| {
                !ClientRequest::decode(request).is_some_and(|r| r.verify(&self.clients))
            })
            .map(|(index, _)| index)
            .collect();
        if bad.is_empty() {
            Ok(())
        } else {
            Err(InvalidBatch { bad })
        }
    }

    /// One request per (client, nonce), whatever the operation and signature: a client that
    /// signs two operations under one nonce (a double spend) has one request ordered, and the
    /// other is neither pending nor executed anywhere once the first executed.
    fn request_ids(&self, requests: &[Request], digests: &[Digest]) -> Vec<Digest> {
        requests
            .iter()
            .zip(digests)
            .map(|(request, digest)| {
                ClientRequest::decode(request).map_or(*digest, |r| {
                    Digest::of_parts(&[
                        b"request-id",
                        &r.client.to_le_bytes(),
                        &r.nonce.to_le_bytes(),
                    ])
                })
            })
            .collect()
    }
}

/// The identity of the block for `header`, committed in `view`: the ledger's block hash
/// ([`BlockHeader::hash`], which holds no view), or, with `view_in_block_hash` (the mutant
/// "view-in-block-hash", the bug of issue 11 item 10), a hash that also covers the view, so
/// that correct replicas committing one batch in different views build different blocks.
pub fn block_identity(header: &BlockHeader, view: u64, view_in_block_hash: bool) -> Digest {
    if view_in_block_hash {
        Digest::of_parts(&[header.hash().as_bytes(), &view.to_be_bytes()])
    } else {
        header.hash()
    }
}

/// What executing one batch did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execution {
    /// State root after the batch.
    pub state_root: Digest,
    /// Hash of the block (see the module docs): the digest reported to the core.
    pub block_hash: Digest,
    /// Requests applied (first time ordered).
    pub applied: u64,
    /// Requests skipped because they were applied before.
    pub duplicates: u64,
    /// Requests that do not decode (a correct cluster never orders one: the checker flags it).
    pub undecodable: u64,
}

/// The toy application's state: a hash chain over applied requests, and the hash of the last
/// block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppState {
    last_executed_seq: u64,
    state_root: Digest,
    block_hash: Digest,
    applied: BTreeMap<u32, BTreeSet<u64>>,
    applied_total: u64,
}

impl Default for AppState {
    fn default() -> Self {
        AppState::genesis()
    }
}

impl AppState {
    /// The state before any batch: seq 0, root = digest of a fixed tag, and the block hash
    /// (the first block's `prev_hash`) the digest of another (the ledger uses the genesis hash).
    pub fn genesis() -> AppState {
        AppState {
            last_executed_seq: 0,
            state_root: Digest::of(b"bftledger-sim genesis"),
            block_hash: Digest::of(b"bftledger-sim genesis block"),
            applied: BTreeMap::new(),
            applied_total: 0,
        }
    }

    /// The last executed (or transferred) sequence number.
    pub fn last_executed_seq(&self) -> u64 {
        self.last_executed_seq
    }

    /// The current state root.
    pub fn state_root(&self) -> Digest {
        self.state_root
    }

    /// Hash of the block at the last executed (or transferred) seq.
    pub fn block_hash(&self) -> Digest {
        self.block_hash
    }

    /// Requests applied so far.
    pub fn applied_total(&self) -> u64 {
        self.applied_total
    }

    /// This state with another state root and block hash: what a lying state-transfer donor
    /// serves (a correct host refuses it: its block hash is not the signed checkpoint's).
    pub fn tampered(&self) -> AppState {
        AppState {
            state_root: Digest::of_parts(&[b"tampered", self.state_root.as_bytes()]),
            block_hash: Digest::of_parts(&[b"tampered", self.block_hash.as_bytes()]),
            ..self.clone()
        }
    }

    /// Whether request `(client, nonce)` is part of this state.
    pub fn contains(&self, client: u32, nonce: u64) -> bool {
        self.applied
            .get(&client)
            .is_some_and(|nonces| nonces.contains(&nonce))
    }

    /// Executes committed `batch` (which must be the next seq) into the state and the next
    /// block; `view_in_block_hash` is the mutant of [`block_identity`].
    pub fn execute(&mut self, batch: &CommittedBatch, view_in_block_hash: bool) -> Execution {
        let seq = batch.seq;
        assert_eq!(
            seq,
            self.last_executed_seq + 1,
            "the application executes batches in order"
        );
        let mut execution = Execution {
            state_root: Digest::ZERO,
            block_hash: Digest::ZERO,
            applied: 0,
            duplicates: 0,
            undecodable: 0,
        };
        let mut receipts = Vec::with_capacity(batch.requests.len());
        let mut parts: Vec<Vec<u8>> = vec![
            b"batch".to_vec(),
            self.state_root.0.to_vec(),
            seq.to_le_bytes().to_vec(),
        ];
        for request in batch.requests.iter() {
            let Some(decoded) = ClientRequest::decode(request) else {
                execution.undecodable += 1;
                receipts.push(Receipt::Rejected(RejectReason::Invalid(
                    TransferError::BadSignature,
                )));
                continue;
            };
            if self
                .applied
                .entry(decoded.client)
                .or_default()
                .insert(decoded.nonce)
            {
                execution.applied += 1;
                parts.push(request.digest().0.to_vec());
                receipts.push(Receipt::Applied);
            } else {
                execution.duplicates += 1;
                receipts.push(Receipt::Rejected(RejectReason::NonceReplayed {
                    last_used: decoded.nonce,
                    got: decoded.nonce,
                }));
            }
        }
        let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        self.state_root = Digest::of_parts(&slices);
        let header = BlockHeader {
            height: seq,
            prev_hash: self.block_hash,
            batch_digest: batch.digest,
            receipts_digest: receipts_digest(&receipts),
            state_root: self.state_root,
        };
        self.block_hash = block_identity(&header, batch.view, view_in_block_hash);
        self.last_executed_seq = seq;
        self.applied_total += execution.applied;
        execution.state_root = self.state_root;
        execution.block_hash = self.block_hash;
        execution
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u8) -> SecretKey {
        SecretKey::from_bytes(&[i; 32])
    }

    #[test]
    fn request_round_trips_and_verifies() {
        let clients = vec![key(1).public(), key(2).public()];
        let request = ClientRequest::sign(&key(2), 1, 5, 99);
        let wire = request.encode();
        assert_eq!(wire.payload.len(), REQUEST_BYTES);
        let decoded = ClientRequest::decode(&wire).expect("decodes");
        assert_eq!(decoded, request);
        assert!(decoded.verify(&clients));
        let forged = ClientRequest { op: 100, ..decoded };
        assert!(!forged.verify(&clients));
        let validator = ToyValidator::new(clients);
        let check = |batch: &[Request]| {
            let digests: Vec<Digest> = batch.iter().map(Request::digest).collect();
            validator.validate_batch(batch, &digests)
        };
        assert!(check(std::slice::from_ref(&wire)).is_ok());
        let bad = check(&[
            wire,
            forged.encode(),
            Request {
                payload: vec![1, 2],
            },
        ]);
        assert_eq!(bad.unwrap_err().bad, vec![1, 2]);
    }

    /// Batch `seq` of `requests`, committed in `view` (certificate without signatures: the
    /// application does not look at it).
    fn committed(view: u64, seq: u64, requests: Vec<Request>) -> CommittedBatch {
        let digest = bftledger_consensus::batch_digest(&requests);
        CommittedBatch {
            view,
            seq,
            digest,
            request_digests: requests.iter().map(Request::digest).collect(),
            request_ids: requests.iter().map(Request::digest).collect(),
            requests: requests.into(),
            certificate: bftledger_consensus::CommitCertificate {
                view,
                seq,
                digest,
                commits: Vec::new(),
            },
        }
    }

    #[test]
    fn execution_is_deterministic_and_skips_duplicates() {
        let a = ClientRequest::sign(&key(1), 0, 1, 7).encode();
        let b = ClientRequest::sign(&key(1), 0, 2, 8).encode();
        let mut x = AppState::genesis();
        let mut y = AppState::genesis();
        x.execute(&committed(0, 1, vec![a.clone(), b.clone()]), false);
        y.execute(&committed(0, 1, vec![a.clone(), b.clone()]), false);
        assert_eq!(x, y);
        let again = x.execute(&committed(0, 2, vec![a.clone()]), false);
        assert_eq!((again.applied, again.duplicates), (0, 1));
        assert!(x.contains(0, 1) && x.contains(0, 2) && !x.contains(0, 3));
        let mut z = AppState::genesis();
        z.execute(&committed(0, 1, vec![b, a]), false);
        assert_ne!(z.state_root(), y.state_root(), "order matters");
        assert_ne!(z.block_hash(), y.block_hash());
    }

    /// Issue 11 item 10 in the simulator's application: two replicas execute one batch that
    /// one committed in view 6 and the other in view 7; their blocks (and the next ones, chained)
    /// are the same, and with the mutant "view-in-block-hash" they are not.
    #[test]
    fn one_batch_committed_in_two_views_gives_one_block_unless_the_mutant() {
        let a = ClientRequest::sign(&key(1), 0, 1, 7).encode();
        let b = ClientRequest::sign(&key(1), 0, 2, 8).encode();
        for mutant in [false, true] {
            let mut x = AppState::genesis();
            let mut y = AppState::genesis();
            let first = (
                x.execute(&committed(6, 1, vec![a.clone()]), mutant),
                y.execute(&committed(7, 1, vec![a.clone()]), mutant),
            );
            assert_eq!(first.0.state_root, first.1.state_root);
            let second = (
                x.execute(&committed(7, 2, vec![b.clone()]), mutant),
                y.execute(&committed(7, 2, vec![b.clone()]), mutant),
            );
            assert_eq!(first.0.block_hash == first.1.block_hash, !mutant);
            assert_eq!(second.0.block_hash == second.1.block_hash, !mutant);
        }
    }
}
