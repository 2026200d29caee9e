//! What survives a crash: the key schema of an ordered key-value store, the persist ops that
//! write it, and the parser that reads it back ([`read`]); [`crate::Replica::recover`]
//! (`recovery.rs`) rebuilds a replica from what it reads.
//!
//! Key layout (one-byte prefix, big-endian numbers so keys sort by seq):
//!
//! | key | value | written when |
//! |---|---|---|
//! | `V` | `(view, Option<target view>)` | the view or view-change status changes |
//! | `S` | `CheckpointProof` | a checkpoint becomes stable |
//! | `E` | `(seq, state_root)` | the application reports an execution |
//! | `W` view | `(ViewChange, Signature)` | this replica signs a view-change for view |
//! | `O` seq view kind | `Digest` | this replica signs a pre-prepare / prepare / commit |
//! | `C` seq | `Digest` | this replica signs a checkpoint |
//! | `P` seq | `PreparedCertificate` | this replica's slot for seq becomes prepared |
//! | `B` seq digest | `(view, primary signature, batch)` | this replica pre-prepares / prepares a batch |
//! | `N` | `SignedMessage` (the NEW-VIEW of the current view: digests only, no batches) | this replica enters a view |
//! | `F` | `CheckpointProof` (2f+1) | a fetch moves the window's floor above the stable checkpoint |
//! | `T` | `CheckpointProof` (f+1 or more) | a state transfer is asked for (deleted when it ends) |
//!
//! Own votes (`O`) let a restarted replica re-send the *same* vote and refuse to sign a
//! different digest for a (view, seq) it already voted on. Batches (`B`) are durable with the
//! vote that accepts them: a digest that reaches a prepared certificate (and so possibly every
//! later O-set) must never be left without its batch by crashes of correct replicas. They are
//! mirrored in memory and served to peers that lack them (FETCH-BATCH): VIEW-CHANGE and NEW-VIEW
//! carry digests only, so no value here is larger than the largest message
//! ([`crate::bounds`]). Entries at or below the stable
//! checkpoint, and votes of views below the current one, are deleted.
//!
//! The NEW-VIEW that installed the current view (`N`; the primary's own or a received one) is
//! written in the same Output that enters the view, before any send (TOCS'02 §4.5, liveness: a
//! replica still changing to v, short of 2f+1 view-changes for v, waits for NEW-VIEW(v) forever
//! unless somebody that has it re-sends it, after a crash too). One entry, overwritten at the
//! next view; on recovery it is used only if it is for the recovered view.
//!
//! Own view-changes (`W` view) are kept for every view asked for since the replica was last in
//! normal status (at most `max_future_views`), and deleted when a view is entered: peers left at
//! an earlier target may still need one of them to reach 2f+1.

use crate::message::{
    decode_durable, Batch, CheckpointProof, PreparedCertificate, SignedMessage, ViewChange,
};
use crate::step_io::PersistOp;
use crate::{SeqNum, View};
use bftledger_crypto::encoding::{encode, DecodeError};
use bftledger_crypto::{Digest, Signature};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const VIEW: u8 = b'V';
const STABLE: u8 = b'S';
const EXECUTED: u8 = b'E';
const VIEW_CHANGE: u8 = b'W';
const VOTE: u8 = b'O';
const CHECKPOINT: u8 = b'C';
const PREPARED: u8 = b'P';
const BATCH: u8 = b'B';
const NEW_VIEW: u8 = b'N';
const FLOOR: u8 = b'F';
const FETCH: u8 = b'T';

/// Largest durable value accepted on recovery. No value is larger than the largest message
/// ([`crate::bounds::largest_durable_values`]), and [`Config::validate`] keeps
/// `max_message_bytes` at or below this, so every value a valid configuration writes is read
/// back. A host's store must accept values of this size (the node checks its RocksDB limit).
pub const MAX_VALUE_BYTES: usize = 64 << 20;

/// Which normal-case message a vote was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum VoteKind {
    /// Pre-prepare (primary).
    PrePrepare = 0,
    /// Prepare (backup).
    Prepare = 1,
    /// Commit.
    Commit = 2,
}

impl VoteKind {
    fn from_byte(b: u8) -> Option<VoteKind> {
        match b {
            0 => Some(VoteKind::PrePrepare),
            1 => Some(VoteKind::Prepare),
            2 => Some(VoteKind::Commit),
            _ => None,
        }
    }
}

/// Why durable state could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoverError {
    /// A key this version does not write.
    #[error("unknown durable key {key:02x?}")]
    UnknownKey {
        /// The key.
        key: Vec<u8>,
    },
    /// A value does not decode.
    #[error("durable value under key {key:02x?} does not decode: {error}")]
    Value {
        /// The key.
        key: Vec<u8>,
        /// Why.
        error: DecodeError,
    },
    /// Stored state contradicts itself (e.g. signed by another replica id).
    #[error("inconsistent durable state: {0}")]
    Inconsistent(&'static str),
}

/// Everything read back from the durable store.
#[derive(Debug, Clone, Default)]
pub struct DurableState {
    /// View and view-change target.
    pub view: Option<(View, Option<View>)>,
    /// Stable checkpoint.
    pub stable: Option<CheckpointProof>,
    /// Last execution the application reported.
    pub executed: Option<(SeqNum, Digest)>,
    /// Own view-changes by target view (every view this replica has asked for since it last
    /// was in normal status, up to `max_future_views`).
    pub view_changes: BTreeMap<View, (ViewChange, Signature)>,
    /// Own votes.
    pub votes: BTreeMap<(SeqNum, View, VoteKind), Digest>,
    /// Own checkpoints.
    pub checkpoints: BTreeMap<SeqNum, Digest>,
    /// Prepared certificates.
    pub prepared: BTreeMap<SeqNum, PreparedCertificate>,
    /// Batches this replica voted for: (seq, digest) -> (view, primary's pre-prepare signature,
    /// batch).
    pub batches: BTreeMap<(SeqNum, Digest), (View, Signature, Batch)>,
    /// The NEW-VIEW that installed the latest view entered.
    pub new_view: Option<SignedMessage>,
    /// A 2f+1 checkpoint above the stable one whose state was being fetched (the window floor).
    pub floor: Option<CheckpointProof>,
    /// The outstanding state transfer.
    pub fetch: Option<CheckpointProof>,
}

/// Key of an own vote.
pub fn vote_key(seq: SeqNum, view: View, kind: VoteKind) -> Vec<u8> {
    let mut key = vec![VOTE];
    key.extend_from_slice(&seq.to_be_bytes());
    key.extend_from_slice(&view.to_be_bytes());
    key.push(kind as u8);
    key
}

fn seq_key(prefix: u8, seq: SeqNum) -> Vec<u8> {
    let mut key = vec![prefix];
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// Put of the view status.
pub fn put_view(view: View, target: Option<View>) -> PersistOp {
    put(vec![VIEW], &(view, target))
}

/// Put of the stable checkpoint.
pub fn put_stable(proof: &CheckpointProof) -> PersistOp {
    put(vec![STABLE], proof)
}

/// Put of the window floor: a 2f+1 checkpoint fetched above the stable one.
pub fn put_floor(proof: &CheckpointProof) -> PersistOp {
    put(vec![FLOOR], proof)
}

/// Delete of the window floor (it became stable, or was overtaken).
pub fn delete_floor() -> PersistOp {
    PersistOp::Delete { key: vec![FLOOR] }
}

/// Put of the outstanding state transfer's checkpoint.
pub fn put_fetch(proof: &CheckpointProof) -> PersistOp {
    put(vec![FETCH], proof)
}

/// Delete of the outstanding state transfer (it ended).
pub fn delete_fetch() -> PersistOp {
    PersistOp::Delete { key: vec![FETCH] }
}

/// Put of the last execution.
pub fn put_executed(seq: SeqNum, root: Digest) -> PersistOp {
    put(vec![EXECUTED], &(seq, root))
}

/// Put of an own view-change (keyed by its target view, so earlier ones survive next to it).
pub fn put_view_change(vc: &ViewChange, signature: &Signature) -> PersistOp {
    put(seq_key(VIEW_CHANGE, vc.new_view), &(vc, signature))
}

/// Delete of the own view-change for `view`.
pub fn delete_view_change(view: View) -> PersistOp {
    PersistOp::Delete {
        key: seq_key(VIEW_CHANGE, view),
    }
}

/// Put of the own NEW-VIEW (written before it is sent).
pub fn put_new_view(message: &SignedMessage) -> PersistOp {
    put(vec![NEW_VIEW], message)
}

/// Put of an own vote.
pub fn put_vote(seq: SeqNum, view: View, kind: VoteKind, digest: Digest) -> PersistOp {
    put(vote_key(seq, view, kind), &digest)
}

/// Put of an own checkpoint.
pub fn put_checkpoint(seq: SeqNum, root: Digest) -> PersistOp {
    put(seq_key(CHECKPOINT, seq), &root)
}

/// Put of a prepared certificate.
pub fn put_prepared(cert: &PreparedCertificate) -> PersistOp {
    put(seq_key(PREPARED, cert.pre_prepare.seq), cert)
}

fn batch_key(seq: SeqNum, digest: &Digest) -> Vec<u8> {
    let mut key = seq_key(BATCH, seq);
    key.extend_from_slice(&digest.0);
    key
}

/// Put of a batch this replica votes for, with the pre-prepare that carried it.
pub fn put_batch(
    seq: SeqNum,
    digest: &Digest,
    view: View,
    primary_signature: &Signature,
    batch: &Batch,
) -> PersistOp {
    put(batch_key(seq, digest), &(view, primary_signature, batch))
}

/// Delete of a durable batch.
pub fn delete_batch(seq: SeqNum, digest: &Digest) -> PersistOp {
    PersistOp::Delete {
        key: batch_key(seq, digest),
    }
}

/// Delete of an own checkpoint.
pub fn delete_checkpoint(seq: SeqNum) -> PersistOp {
    PersistOp::Delete {
        key: seq_key(CHECKPOINT, seq),
    }
}

/// Delete of a prepared certificate.
pub fn delete_prepared(seq: SeqNum) -> PersistOp {
    PersistOp::Delete {
        key: seq_key(PREPARED, seq),
    }
}

/// Delete of an own vote.
pub fn delete_vote(seq: SeqNum, view: View, kind: VoteKind) -> PersistOp {
    PersistOp::Delete {
        key: vote_key(seq, view, kind),
    }
}

fn put<T: Serialize + ?Sized>(key: Vec<u8>, value: &T) -> PersistOp {
    PersistOp::Put {
        key,
        value: encode(value),
    }
}

fn value<T: Serialize + serde::de::DeserializeOwned>(
    key: &[u8],
    bytes: &[u8],
) -> Result<T, RecoverError> {
    decode_durable(bytes, MAX_VALUE_BYTES).map_err(|error| RecoverError::Value {
        key: key.to_vec(),
        error,
    })
}

fn be_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// Parses the durable entries (any order).
pub fn read(
    entries: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
) -> Result<DurableState, RecoverError> {
    let mut state = DurableState::default();
    for (key, bytes) in entries {
        let unknown = || RecoverError::UnknownKey { key: key.clone() };
        match (key.first().copied(), key.len()) {
            (Some(VIEW), 1) => state.view = Some(value(&key, &bytes)?),
            (Some(STABLE), 1) => state.stable = Some(value(&key, &bytes)?),
            (Some(EXECUTED), 1) => state.executed = Some(value(&key, &bytes)?),
            (Some(VIEW_CHANGE), 9) => {
                let view = be_u64(&key[1..9]).ok_or_else(unknown)?;
                let (vc, signature): (ViewChange, Signature) = value(&key, &bytes)?;
                if vc.new_view != view {
                    return Err(RecoverError::Inconsistent(
                        "own view-change stored under another view",
                    ));
                }
                state.view_changes.insert(view, (vc, signature));
            }
            (Some(NEW_VIEW), 1) => state.new_view = Some(value(&key, &bytes)?),
            (Some(FLOOR), 1) => state.floor = Some(value(&key, &bytes)?),
            (Some(FETCH), 1) => state.fetch = Some(value(&key, &bytes)?),
            (Some(VOTE), 18) => {
                let seq = be_u64(&key[1..9]).ok_or_else(unknown)?;
                let view = be_u64(&key[9..17]).ok_or_else(unknown)?;
                let kind = VoteKind::from_byte(key[17]).ok_or_else(unknown)?;
                state.votes.insert((seq, view, kind), value(&key, &bytes)?);
            }
            (Some(CHECKPOINT), 9) => {
                let seq = be_u64(&key[1..9]).ok_or_else(unknown)?;
                state.checkpoints.insert(seq, value(&key, &bytes)?);
            }
            (Some(BATCH), 41) => {
                let seq = be_u64(&key[1..9]).ok_or_else(unknown)?;
                let mut digest = Digest::ZERO;
                digest.0.copy_from_slice(&key[9..41]);
                state.batches.insert((seq, digest), value(&key, &bytes)?);
            }
            (Some(PREPARED), 9) => {
                let seq = be_u64(&key[1..9]).ok_or_else(unknown)?;
                state.prepared.insert(seq, value(&key, &bytes)?);
            }
            _ => return Err(unknown()),
        }
    }
    Ok(state)
}

/// Applies persist ops to an in-memory ordered map (tests and the simulator's "disk").
pub fn apply(store: &mut BTreeMap<Vec<u8>, Vec<u8>>, ops: &[PersistOp]) {
    for op in ops {
        match op {
            PersistOp::Put { key, value } => {
                store.insert(key.clone(), value.clone());
            }
            PersistOp::Delete { key } => {
                store.remove(key);
            }
        }
    }
}
