//! The protocol messages (§4.2 pre-prepare/prepare/commit, §4.3 checkpoint, §4.4 view-change and
//! new-view), the signed envelope, and the certificates built from them.
//!
//! **What is signed.** Every message is signed with [`Domain::Consensus`] over
//! `encode(&(from, body))`, where `body` is the unsigned message ([`SignedBody`]). As in the
//! paper (§4.2: "requests are not included in pre-prepare messages to keep them small"), a
//! pre-prepare signs `(view, seq, digest)` only; the batch travels next to it and is bound to it
//! by `digest == batch_digest(batch)`. This is what lets prepared certificates, view-change and
//! new-view messages carry pre-prepares without their batches.
//!
//! **Digests, not batches, in view changes.** VIEW-CHANGE and NEW-VIEW carry no batches at
//! all (they used to attach them, which let a window of prepared certificates with full batches
//! outgrow every frame and store limit, safety-holes issue item 8): a replica that enters a view
//! without the batch of an O-set entry asks its peers with [`FetchBatch`] (OSDI'99 §4.4: "a
//! replica may be missing some request message m ... It can obtain missing information from
//! another replica"). Every message kind then has a size bound that depends only on the
//! configuration ([`crate::bounds`]), checked by [`crate::Config::validate`].

use crate::quorum::Quorum;
use crate::{ReplicaId, SeqNum, View};
use bftledger_crypto::encoding::{decode, encode, DecodeError, Versioned};
use bftledger_crypto::{verify_batch, BatchItem, Digest, Domain, PublicKey, SecretKey, Signature};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

/// An opaque client request (the ledger puts a signed transfer in it).
///
/// Encoded as a byte string (postcard: varint length + raw bytes — the same bytes as a
/// `Vec<u8>`, without a per-byte serializer call).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Request {
    /// The client's bytes; the application interprets them.
    pub payload: Vec<u8>,
}

impl Serialize for Request {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.payload)
    }
}

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PayloadVisitor;
        impl<'de> serde::de::Visitor<'de> for PayloadVisitor {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("request payload bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<S: serde::de::SeqAccess<'de>>(
                self,
                mut seq: S,
            ) -> Result<Vec<u8>, S::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        deserializer
            .deserialize_byte_buf(PayloadVisitor)
            .map(|payload| Request { payload })
    }
}

impl Request {
    /// SHA-256 of the payload: the request's identity for duplicate suppression.
    pub fn digest(&self) -> Digest {
        Digest::of(&self.payload)
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Request({} bytes, {:?})",
            self.payload.len(),
            self.digest()
        )
    }
}

/// A batch of requests, stored once and shared (never cloned per message or per replica).
pub type Batch = Arc<[Request]>;

/// The digest of a batch: SHA-256 over the length-prefixed request digests. The empty batch
/// (the null request of §4.4) has digest `batch_digest(&[])`.
pub fn batch_digest(requests: &[Request]) -> Digest {
    let digests: Vec<Digest> = requests.iter().map(Request::digest).collect();
    batch_digest_of_request_digests(&digests)
}

/// [`batch_digest`] from already computed request digests.
pub fn batch_digest_of_request_digests(digests: &[Digest]) -> Digest {
    let parts: Vec<&[u8]> = digests.iter().map(|d| &d.0[..]).collect();
    Digest::of_parts(&parts)
}

/// The digest of the null batch (§4.4: gaps in the O-set are filled with null requests).
pub fn null_digest() -> Digest {
    batch_digest(&[])
}

/// PRE-PREPARE(v, n, d), signed by the primary of v (§4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PrePrepare {
    /// View.
    pub view: View,
    /// Sequence number.
    pub seq: SeqNum,
    /// Digest of the batch.
    pub digest: Digest,
}

/// PREPARE(v, n, d, i) (§4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Prepare {
    /// View.
    pub view: View,
    /// Sequence number.
    pub seq: SeqNum,
    /// Digest of the batch.
    pub digest: Digest,
}

/// COMMIT(v, n, d, i) (§4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Commit {
    /// View.
    pub view: View,
    /// Sequence number.
    pub seq: SeqNum,
    /// Digest of the batch.
    pub digest: Digest,
}

/// CHECKPOINT(n, d, i): the application's state root after executing seq n (§4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Sequence number (a multiple of K).
    pub seq: SeqNum,
    /// State root after executing `seq`.
    pub state_root: Digest,
}

/// 2f+1 matching checkpoint signatures: the proof that a checkpoint is stable (§4.3). The
/// genesis checkpoint (seq 0) needs no signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointProof {
    /// Sequence number.
    pub seq: SeqNum,
    /// State root.
    pub state_root: Digest,
    /// Distinct signers and their CHECKPOINT signatures, ascending by replica.
    pub signatures: Vec<(ReplicaId, Signature)>,
}

impl Versioned for CheckpointProof {
    const VERSION: u8 = 1;
    /// A seq and a digest, then per signer a varint id (at most 5 bytes) and a 64-byte
    /// signature: 256 signers (the most validators a genesis may name) take about 17.5 KiB.
    const MAX_BYTES: usize = 24 << 10;
}

impl CheckpointProof {
    /// The genesis checkpoint: seq 0, nothing executed.
    pub fn genesis() -> CheckpointProof {
        CheckpointProof {
            seq: 0,
            state_root: Digest::ZERO,
            signatures: Vec::new(),
        }
    }

    /// Checks 2f+1 distinct validators signed CHECKPOINT(seq, state_root); seq 0 is genesis.
    pub fn verify(&self, validators: &[PublicKey]) -> Result<(), CertificateError> {
        self.verify_with(validators, &Quorum::new(validators.len()))
    }

    /// Checks f+1 distinct validators signed CHECKPOINT(seq, state_root): at least one correct
    /// replica vouches for the state, which is enough to fetch it (TOCS'02 §6.2) but not to
    /// call it stable. [`crate::FetchState::proof`] satisfies at least this.
    pub fn verify_weak(&self, validators: &[PublicKey]) -> Result<(), CertificateError> {
        self.verify_votes(validators, Quorum::new(validators.len()).weak())
    }

    /// [`CheckpointProof::verify`] with the replica's quorum.
    pub fn verify_with(
        &self,
        validators: &[PublicKey],
        quorum: &Quorum,
    ) -> Result<(), CertificateError> {
        self.verify_votes(validators, quorum.checkpoint_votes_needed())
    }

    /// Checks `needed` distinct validators signed CHECKPOINT(seq, state_root).
    fn verify_votes(
        &self,
        validators: &[PublicKey],
        needed: usize,
    ) -> Result<(), CertificateError> {
        if self.seq == 0 {
            return Ok(());
        }
        let body = Checkpoint {
            seq: self.seq,
            state_root: self.state_root,
        };
        verify_votes(
            validators,
            &self.signatures,
            |from| signing_bytes(from, SignedBody::Checkpoint(&body)),
            needed,
        )
    }
}

/// A prepared certificate (§4.2/§4.4, the P-set entries of a view change): the primary's
/// pre-prepare signature plus 2f prepares from distinct backups, all for (view, seq, digest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreparedCertificate {
    /// The pre-prepare.
    pub pre_prepare: PrePrepare,
    /// The primary's signature over the pre-prepare.
    pub primary_signature: Signature,
    /// 2f prepares from distinct backups (never the primary), ascending by replica.
    pub prepares: Vec<(ReplicaId, Signature)>,
}

impl PreparedCertificate {
    /// Checks the pre-prepare signature of primary(view) and 2f valid backup prepares.
    pub fn verify(&self, validators: &[PublicKey]) -> Result<(), CertificateError> {
        self.verify_with(validators, &Quorum::new(validators.len()))
    }

    /// [`PreparedCertificate::verify`] with the replica's quorum.
    pub fn verify_with(
        &self,
        validators: &[PublicKey],
        quorum: &Quorum,
    ) -> Result<(), CertificateError> {
        let n = validators.len();
        let primary = (self.pre_prepare.view % n as u64) as ReplicaId;
        if let Some((id, _)) = self.prepares.iter().find(|(r, _)| *r == primary) {
            return Err(CertificateError::PrimaryPrepared { id: *id });
        }
        let pp = self.pre_prepare;
        let pp_bytes = signing_bytes(primary, SignedBody::PrePrepare(&pp));
        let key = &validators[primary as usize];
        key.verify(Domain::Consensus, &pp_bytes, &self.primary_signature)
            .map_err(|_| CertificateError::BadSignature { id: primary })?;
        let prepare = Prepare {
            view: pp.view,
            seq: pp.seq,
            digest: pp.digest,
        };
        verify_votes(
            validators,
            &self.prepares,
            |from| signing_bytes(from, SignedBody::Prepare(&prepare)),
            quorum.prepares_needed(),
        )
    }
}

/// VIEW-CHANGE(v+1, n, C, P, i) (§4.4): the sender's stable checkpoint with its proof and a
/// prepared certificate for every sequence number above it it prepared (highest view each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewChange {
    /// The view being moved to.
    pub new_view: View,
    /// The sender's stable checkpoint (C).
    pub stable: CheckpointProof,
    /// The P-set: at most one certificate per seq, seq in (stable.seq, stable.seq + L].
    pub prepared: Vec<PreparedCertificate>,
}

/// A view-change message as embedded in a new-view (sender and signature kept for checking).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedViewChange {
    /// The sender.
    pub from: ReplicaId,
    /// The message.
    pub view_change: ViewChange,
    /// The sender's signature over it.
    pub signature: Signature,
}

/// A pre-prepare of the new primary inside a new-view's O-set, with its own signature so that
/// backups can later build prepared certificates for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedPrePrepare {
    /// The pre-prepare (view = the new view).
    pub pre_prepare: PrePrepare,
    /// Signature of primary(view).
    pub signature: Signature,
}

impl SignedPrePrepare {
    /// `pre_prepare` signed by replica `from` (the primary of its view). The signature is the
    /// one a PRE-PREPARE message of the same (view, seq, digest) carries: the batch is not
    /// signed.
    pub fn sign(from: ReplicaId, pre_prepare: PrePrepare, key: &SecretKey) -> SignedPrePrepare {
        let bytes = signing_bytes(from, SignedBody::PrePrepare(&pre_prepare));
        SignedPrePrepare {
            pre_prepare,
            signature: key.sign(Domain::Consensus, &bytes),
        }
    }

    /// Whether `key`, replica `from`'s, signed it.
    pub fn verify(&self, from: ReplicaId, key: &PublicKey) -> bool {
        let bytes = signing_bytes(from, SignedBody::PrePrepare(&self.pre_prepare));
        key.verify(Domain::Consensus, &bytes, &self.signature)
            .is_ok()
    }
}

/// NEW-VIEW(v+1, V, O) (§4.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewView {
    /// The new view.
    pub view: View,
    /// V: 2f+1 view-change messages for `view` from distinct replicas.
    pub view_changes: Vec<SignedViewChange>,
    /// O: pre-prepares for every seq in (min-s, max-s], null batches in the gaps.
    pub pre_prepares: Vec<SignedPrePrepare>,
}

/// FETCH-BATCH: "send me the batch of this pre-prepare". Sent by a replica that holds the
/// signed pre-prepare of a slot (an O-set entry of a NEW-VIEW, or its own O-set pre-prepare as
/// the new primary) but not its batch; any replica holding a batch with that digest answers by
/// relaying `Message::PrePrepare { pre_prepare, batch }` under `primary_signature`, which the
/// requester checks like any relayed pre-prepare (the batch must match the signed digest).
///
/// The request carries the primary's signature so that *any* holder can answer, also one that is
/// not (yet) in that view or holds the batch only from an earlier view's slot or certificate:
/// the batch is bound to the slot by its digest alone. A forged `primary_signature` only makes
/// the requester (who sent it) reject the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchBatch {
    /// The pre-prepare whose batch is missing (its digest names the batch).
    pub pre_prepare: PrePrepare,
    /// The signature of primary(pre_prepare.view) over it, as the requester holds it.
    pub primary_signature: Signature,
}

/// One protocol message. The only unsigned part is a pre-prepare's `batch`, bound by its digest
/// to the signed pre-prepare.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Pre-prepare with the proposed batch (also relayed by other replicas, under the primary's
    /// signature, to peers that lack the batch).
    PrePrepare {
        /// Signed part.
        pre_prepare: PrePrepare,
        /// The batch; `batch_digest(batch) == pre_prepare.digest`.
        batch: Batch,
    },
    /// Prepare.
    Prepare(Prepare),
    /// Commit.
    Commit(Commit),
    /// Checkpoint.
    Checkpoint(Checkpoint),
    /// View change: checkpoint proof and prepared certificates, digests only.
    ViewChange(ViewChange),
    /// New view: view-changes and O-set pre-prepares, digests only.
    NewView(NewView),
    /// A request for the batch of a pre-prepare this replica holds without it.
    FetchBatch(FetchBatch),
}

/// The signed part of a message (a borrowed view), encoded with the sender id for signing.
#[derive(Debug, Clone, Copy, Serialize)]
pub enum SignedBody<'a> {
    /// See [`PrePrepare`].
    PrePrepare(&'a PrePrepare),
    /// See [`Prepare`].
    Prepare(&'a Prepare),
    /// See [`Commit`].
    Commit(&'a Commit),
    /// See [`Checkpoint`].
    Checkpoint(&'a Checkpoint),
    /// See [`ViewChange`].
    ViewChange(&'a ViewChange),
    /// See [`NewView`].
    NewView(&'a NewView),
    /// See [`FetchBatch`].
    FetchBatch(&'a FetchBatch),
}

/// The bytes a replica signs for `body` sent as `from`.
pub fn signing_bytes(from: ReplicaId, body: SignedBody<'_>) -> Vec<u8> {
    encode(&(from, body))
}

impl Message {
    /// The signed part of this message.
    pub fn body(&self) -> SignedBody<'_> {
        match self {
            Message::PrePrepare { pre_prepare, .. } => SignedBody::PrePrepare(pre_prepare),
            Message::Prepare(p) => SignedBody::Prepare(p),
            Message::Commit(c) => SignedBody::Commit(c),
            Message::Checkpoint(c) => SignedBody::Checkpoint(c),
            Message::ViewChange(view_change) => SignedBody::ViewChange(view_change),
            Message::NewView(new_view) => SignedBody::NewView(new_view),
            Message::FetchBatch(fetch) => SignedBody::FetchBatch(fetch),
        }
    }

    /// Short name of the message kind, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::PrePrepare { .. } => "pre_prepare",
            Message::Prepare(_) => "prepare",
            Message::Commit(_) => "commit",
            Message::Checkpoint(_) => "checkpoint",
            Message::ViewChange(_) => "view_change",
            Message::NewView(_) => "new_view",
            Message::FetchBatch(_) => "fetch_batch",
        }
    }
}

/// A message with its sender and the sender's signature: what travels between replicas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedMessage {
    /// The sender's replica id (index into `Config::validators`).
    pub from: ReplicaId,
    /// The message.
    pub message: Message,
    /// Signature by `validators[from]` over `signing_bytes(from, message.body())`.
    pub signature: Signature,
}

impl SignedMessage {
    /// Signs `message` as replica `from`.
    pub fn sign(from: ReplicaId, message: Message, key: &SecretKey) -> SignedMessage {
        let signature = key.sign(Domain::Consensus, &signing_bytes(from, message.body()));
        SignedMessage {
            from,
            message,
            signature,
        }
    }

    /// Checks the signature against `validators[from]`.
    pub fn verify(&self, validators: &[PublicKey]) -> Result<(), CertificateError> {
        let key = validators
            .get(self.from as usize)
            .ok_or(CertificateError::UnknownSigner { id: self.from })?;
        key.verify(
            Domain::Consensus,
            &signing_bytes(self.from, self.message.body()),
            &self.signature,
        )
        .map_err(|_| CertificateError::BadSignature { id: self.from })
    }

    /// Decodes with the cluster's `max_message_bytes` (checked before parsing).
    pub fn decode(bytes: &[u8], max_message_bytes: usize) -> Result<SignedMessage, DecodeError> {
        if bytes.len() > max_message_bytes {
            return Err(DecodeError::TooLarge {
                len: bytes.len(),
                max_bytes: max_message_bytes,
            });
        }
        SignedMessage::from_bytes(bytes)
    }
}

impl Versioned for SignedMessage {
    /// 2: VIEW-CHANGE and NEW-VIEW without batch attachments, FETCH-BATCH added.
    const VERSION: u8 = 2;
    /// Hard cap; the configured `max_message_bytes` (usually smaller) applies via `decode`.
    const MAX_BYTES: usize = 64 << 20;
}

/// 2f+1 COMMIT signatures for (view, seq, digest): the proof a batch is committed (§4.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitCertificate {
    /// View of the commits.
    pub view: View,
    /// Sequence number.
    pub seq: SeqNum,
    /// Batch digest.
    pub digest: Digest,
    /// Distinct signers and their COMMIT signatures, ascending by replica.
    pub commits: Vec<(ReplicaId, Signature)>,
}

impl CommitCertificate {
    /// Checks 2f+1 distinct validators signed COMMIT(view, seq, digest).
    pub fn verify(&self, validators: &[PublicKey]) -> Result<(), CertificateError> {
        let commit = Commit {
            view: self.view,
            seq: self.seq,
            digest: self.digest,
        };
        verify_votes(
            validators,
            &self.commits,
            |from| signing_bytes(from, SignedBody::Commit(&commit)),
            Quorum::new(validators.len()).strong(),
        )
    }

    /// Decodes bytes produced by `to_bytes` (size-limited).
    pub fn decode(bytes: &[u8]) -> Result<CommitCertificate, DecodeError> {
        CommitCertificate::from_bytes(bytes)
    }
}

impl Versioned for CommitCertificate {
    const VERSION: u8 = 1;
    const MAX_BYTES: usize = 1 << 20;
}

/// Why a certificate (commit, prepared, checkpoint proof) or a signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// Fewer distinct signers than the quorum.
    #[error("{have} signers, {need} needed")]
    TooFewSigners {
        /// Distinct signers present.
        have: usize,
        /// Signers needed.
        need: usize,
    },
    /// A signer appears twice.
    #[error("replica {id} signed twice")]
    DuplicateSigner {
        /// The repeated signer.
        id: ReplicaId,
    },
    /// A signer is not a validator.
    #[error("replica {id} is not a validator")]
    UnknownSigner {
        /// The signer.
        id: ReplicaId,
    },
    /// A signature does not verify.
    #[error("signature of replica {id} does not verify")]
    BadSignature {
        /// The signer.
        id: ReplicaId,
    },
    /// The primary's own prepare was counted (§4.2: prepares come from backups).
    #[error("replica {id} is the primary and cannot count as a prepare")]
    PrimaryPrepared {
        /// The primary.
        id: ReplicaId,
    },
}

/// Verifies `need` or more distinct signers, each a validator with a valid signature over
/// `bytes_for(signer)`, in one batch verification.
fn verify_votes(
    validators: &[PublicKey],
    votes: &[(ReplicaId, Signature)],
    bytes_for: impl Fn(ReplicaId) -> Vec<u8>,
    need: usize,
) -> Result<(), CertificateError> {
    let mut seen = BTreeSet::new();
    for (id, _) in votes {
        if (*id as usize) >= validators.len() {
            return Err(CertificateError::UnknownSigner { id: *id });
        }
        if !seen.insert(*id) {
            return Err(CertificateError::DuplicateSigner { id: *id });
        }
    }
    if votes.len() < need {
        return Err(CertificateError::TooFewSigners {
            have: votes.len(),
            need,
        });
    }
    let messages: Vec<Vec<u8>> = votes.iter().map(|(id, _)| bytes_for(*id)).collect();
    let items: Vec<BatchItem<'_>> = votes
        .iter()
        .zip(&messages)
        .map(|((id, sig), message)| BatchItem {
            signer: &validators[*id as usize],
            message,
            signature: sig,
        })
        .collect();
    verify_batch(Domain::Consensus, &items).map_err(|e| CertificateError::BadSignature {
        id: votes[e.bad[0]].0,
    })
}

/// Decodes a value the replica itself persisted (bounded by `max_bytes`).
pub(crate) fn decode_durable<T: Serialize + serde::de::DeserializeOwned>(
    bytes: &[u8],
    max_bytes: usize,
) -> Result<T, DecodeError> {
    decode(bytes, max_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-string encoding of a request is exactly postcard's `Vec<u8>` encoding.
    #[test]
    fn request_encodes_like_a_byte_vector() {
        for len in [0usize, 1, 127, 128, 300] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let request = Request {
                payload: payload.clone(),
            };
            let bytes = encode(&request);
            assert_eq!(bytes, encode(&payload));
            assert_eq!(decode::<Request>(&bytes, 1024).unwrap(), request);
        }
    }
}
