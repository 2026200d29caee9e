//! Typed reasons for refusing input. A bad message from outside is a [`Rejection`] (counted and
//! reported as an event, never a panic); a broken internal invariant is a panic.

use crate::message::CertificateError;
use crate::{ReplicaId, SeqNum, View};
use bftledger_crypto::encoding::DecodeError;
use bftledger_crypto::Digest;

/// Why an input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The sender id is not a validator.
    #[error("sender {from} is not a validator")]
    UnknownSender {
        /// Claimed sender.
        from: ReplicaId,
    },
    /// The message claims to be from this replica.
    #[error("message claims to come from this replica ({from})")]
    FromSelf {
        /// Claimed sender.
        from: ReplicaId,
    },
    /// The signature does not verify.
    #[error("bad signature from {from}")]
    BadSignature {
        /// Claimed sender.
        from: ReplicaId,
    },
    /// A pre-prepare (or new-view) not sent by the primary of its view.
    #[error("{from} is not the primary of view {view}")]
    NotPrimary {
        /// Sender.
        from: ReplicaId,
        /// View of the message.
        view: View,
    },
    /// A prepare from the primary of its view (§4.2: the pre-prepare is the primary's vote).
    #[error("{from} is the primary of view {view} and cannot send prepares")]
    PrepareFromPrimary {
        /// Sender.
        from: ReplicaId,
        /// View.
        view: View,
    },
    /// A normal-case message for a view other than the current one.
    #[error("message for view {view}, current view is {current}")]
    WrongView {
        /// View of the message.
        view: View,
        /// Our view.
        current: View,
    },
    /// A normal-case message while this replica is changing view.
    #[error("view change to {target} in progress")]
    ViewChanging {
        /// View being changed to.
        target: View,
    },
    /// Sequence number outside (low, high] (§4.2 watermarks).
    #[error("seq {seq} outside the window ({low}, {high}]")]
    OutsideWindow {
        /// Message seq.
        seq: SeqNum,
        /// Low watermark.
        low: SeqNum,
        /// High watermark.
        high: SeqNum,
    },
    /// Batch and digest do not match.
    #[error("seq {seq}: batch digest {actual} does not match {expected}")]
    DigestMismatch {
        /// Seq.
        seq: SeqNum,
        /// Digest in the signed message.
        expected: Digest,
        /// Digest of the batch carried.
        actual: Digest,
    },
    /// A second, different pre-prepare for a (view, seq) already pre-prepared (§4.2).
    #[error("conflicting pre-prepare for view {view} seq {seq}")]
    ConflictingPrePrepare {
        /// View.
        view: View,
        /// Seq.
        seq: SeqNum,
    },
    /// The application refused the batch (a client signature does not check out).
    #[error("seq {seq}: invalid batch, bad requests at {bad:?}")]
    InvalidBatch {
        /// Seq.
        seq: SeqNum,
        /// Positions of the bad requests.
        bad: Vec<usize>,
    },
    /// The batch contains the same request twice, or one already ordered.
    #[error("seq {seq}: request at {index} is a duplicate")]
    DuplicateRequestInBatch {
        /// Seq.
        seq: SeqNum,
        /// Position of the duplicate.
        index: usize,
    },
    /// The batch breaks `max_batch_requests` / `max_batch_bytes` / `max_request_bytes`.
    #[error("seq {seq}: batch of {requests} requests / {bytes} bytes exceeds the limits")]
    BatchTooLarge {
        /// Seq.
        seq: SeqNum,
        /// Requests.
        requests: usize,
        /// Payload bytes.
        bytes: usize,
    },
    /// A client request larger than `max_request_bytes`.
    #[error("request of {bytes} bytes exceeds {max_bytes}")]
    RequestTooLarge {
        /// Size.
        bytes: usize,
        /// Limit.
        max_bytes: usize,
    },
    /// `max_pending_requests` reached.
    #[error("{max} requests already pending")]
    PendingFull {
        /// Limit.
        max: usize,
    },
    /// A request already pending or ordered.
    #[error("request {digest} already pending or ordered")]
    DuplicateRequest {
        /// Request digest.
        digest: Digest,
    },
    /// Signing this would contradict a vote this replica made (and persisted) before.
    #[error("view {view} seq {seq}: would contradict own earlier vote")]
    OwnVoteConflict {
        /// View.
        view: View,
        /// Seq.
        seq: SeqNum,
    },
    /// A second, different vote from the same replica for the same (view, seq) or checkpoint.
    #[error("{from} already voted differently for seq {seq}")]
    Equivocation {
        /// Sender.
        from: ReplicaId,
        /// Seq.
        seq: SeqNum,
    },
    /// A checkpoint for a seq that is not a multiple of K or at/below the low watermark.
    #[error("checkpoint seq {seq} is not a multiple of K or not above {low}")]
    BadCheckpointSeq {
        /// Seq.
        seq: SeqNum,
        /// Low watermark.
        low: SeqNum,
    },
    /// A view-change or new-view for a view we are past or too far ahead.
    #[error("view {view} not in ({current}, {current} + max_future_views]")]
    ViewOutOfRange {
        /// Message view.
        view: View,
        /// Our view.
        current: View,
    },
    /// A malformed view-change message (§4.4).
    #[error("invalid view-change: {0}")]
    InvalidViewChange(ViewChangeFault),
    /// A new-view that does not validate (§4.4).
    #[error("invalid new-view: {0}")]
    InvalidNewView(NewViewFault),
    /// The driver reported an execution the replica did not hand out.
    #[error("executed report for seq {seq}, last handed out {last_executed}")]
    UnexpectedExecuted {
        /// Reported seq.
        seq: SeqNum,
        /// Last seq handed out.
        last_executed: SeqNum,
    },
    /// The driver reported a state transfer that matches no requested fetch.
    #[error("state transfer to seq {seq} matches no requested fetch")]
    UnexpectedStateTransfer {
        /// Reported seq.
        seq: SeqNum,
    },
    /// Bytes that do not decode.
    #[error("undecodable message: {0}")]
    Decode(DecodeError),
}

impl Rejection {
    /// Stable short name for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Rejection::UnknownSender { .. } => "unknown_sender",
            Rejection::FromSelf { .. } => "from_self",
            Rejection::BadSignature { .. } => "bad_signature",
            Rejection::NotPrimary { .. } => "not_primary",
            Rejection::PrepareFromPrimary { .. } => "prepare_from_primary",
            Rejection::WrongView { .. } => "wrong_view",
            Rejection::ViewChanging { .. } => "view_changing",
            Rejection::OutsideWindow { .. } => "outside_window",
            Rejection::DigestMismatch { .. } => "digest_mismatch",
            Rejection::ConflictingPrePrepare { .. } => "conflicting_pre_prepare",
            Rejection::InvalidBatch { .. } => "invalid_batch",
            Rejection::DuplicateRequestInBatch { .. } => "duplicate_request_in_batch",
            Rejection::BatchTooLarge { .. } => "batch_too_large",
            Rejection::RequestTooLarge { .. } => "request_too_large",
            Rejection::PendingFull { .. } => "pending_full",
            Rejection::DuplicateRequest { .. } => "duplicate_request",
            Rejection::OwnVoteConflict { .. } => "own_vote_conflict",
            Rejection::Equivocation { .. } => "equivocation",
            Rejection::BadCheckpointSeq { .. } => "bad_checkpoint_seq",
            Rejection::ViewOutOfRange { .. } => "view_out_of_range",
            Rejection::InvalidViewChange(_) => "invalid_view_change",
            Rejection::InvalidNewView(_) => "invalid_new_view",
            Rejection::UnexpectedExecuted { .. } => "unexpected_executed",
            Rejection::UnexpectedStateTransfer { .. } => "unexpected_state_transfer",
            Rejection::Decode(_) => "decode",
        }
    }
}

/// What is wrong with a view-change message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewChangeFault {
    /// The stable checkpoint proof does not verify.
    #[error("stable checkpoint proof: {0}")]
    StableProof(CertificateError),
    /// A prepared certificate does not verify.
    #[error("prepared certificate for seq {seq}: {error}")]
    PreparedCertificate {
        /// Seq.
        seq: SeqNum,
        /// Why.
        error: CertificateError,
    },
    /// A prepared certificate outside (stable, stable + L], or two for one seq.
    #[error("prepared certificate for seq {seq} outside the window or repeated")]
    PreparedSeq {
        /// Seq.
        seq: SeqNum,
    },
    /// A prepared certificate not from an earlier view.
    #[error("prepared certificate of view {view} is not below the new view {new_view}")]
    PreparedView {
        /// View of the certificate.
        view: View,
        /// The new view.
        new_view: View,
    },
    /// The stable proof or a prepared certificate carries more signatures than a quorum (a
    /// correct replica never builds one; it would only inflate the message, item 8).
    #[error("proof or certificate for seq {seq} has {have} signatures, at most {max} allowed")]
    ExtraSignatures {
        /// Seq of the proof or certificate.
        seq: SeqNum,
        /// Signatures present.
        have: usize,
        /// The quorum's size (prepares only, for a certificate).
        max: usize,
    },
}

/// What is wrong with a new-view message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NewViewFault {
    /// Fewer than 2f+1 view changes from distinct replicas.
    #[error("{have} view changes from distinct replicas, {need} needed")]
    TooFewViewChanges {
        /// Distinct senders.
        have: usize,
        /// Needed.
        need: usize,
    },
    /// An embedded view change for another view.
    #[error("embedded view change from {from} is for view {view}")]
    ViewChangeForOtherView {
        /// Sender.
        from: ReplicaId,
        /// Its view.
        view: View,
    },
    /// An embedded view change is signed badly.
    #[error("embedded view change from {from} has a bad signature")]
    ViewChangeSignature {
        /// Sender.
        from: ReplicaId,
    },
    /// An embedded view change is malformed.
    #[error("embedded view change from {from}: {fault}")]
    ViewChange {
        /// Sender.
        from: ReplicaId,
        /// Fault.
        fault: ViewChangeFault,
    },
    /// The O-set differs from the one recomputed from V.
    #[error("O-set does not match the one computed from the view changes (first difference at seq {seq})")]
    OSetMismatch {
        /// First seq that differs.
        seq: SeqNum,
    },
    /// An O-set pre-prepare signature does not verify.
    #[error("O-set pre-prepare for seq {seq} has a bad signature")]
    PrePrepareSignature {
        /// Seq.
        seq: SeqNum,
    },
    /// More view changes than a strong quorum (item 8: they would only inflate the message).
    #[error("{have} view changes, at most {max} allowed")]
    ExtraViewChanges {
        /// View changes present.
        have: usize,
        /// Strong quorum.
        max: usize,
    },
}

/// A [`crate::Config`] that cannot work: every rule it breaks, in the order
/// [`crate::Config::validate`] checks them (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render_problems(.problems))]
pub struct ConfigError {
    /// One entry per broken rule.
    pub problems: Vec<ConfigProblem>,
}

fn render_problems(problems: &[ConfigProblem]) -> String {
    let mut out = format!("consensus config has {} problem(s):", problems.len());
    for p in problems {
        out.push_str(&format!("\n  - {}: {p}", p.key()));
    }
    out
}

/// One broken rule of a [`crate::Config`]. Its text states the value, with its unit, and the
/// rule; [`ConfigProblem::key`] names the setting it is reported under.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigProblem {
    /// Fewer than 4 validators cannot tolerate a fault (n >= 3f+1 with f >= 1).
    #[error("{n} validators: at least 4 are needed (n = 3f+1, f >= 1)")]
    TooFewValidators {
        /// Validators given.
        n: usize,
    },
    /// The same key appears twice.
    #[error("validator {second} repeats the key of validator {first}")]
    DuplicateValidator {
        /// First index with the key.
        first: ReplicaId,
        /// Second index with the key.
        second: ReplicaId,
    },
    /// A limit that must be positive is zero.
    #[error("must be greater than 0")]
    Zero {
        /// The setting.
        key: &'static str,
    },
    /// L is not a multiple of K of at least 2K (§4.3: the window holds the log between two
    /// stable checkpoints).
    #[error(
        "is {window} seqs; it must be a multiple of checkpoint_interval_seqs ({interval} seqs) \
         and at least twice it"
    )]
    WindowNotMultiple {
        /// L.
        window: SeqNum,
        /// K.
        interval: SeqNum,
    },
    /// A request cannot be larger than a batch.
    #[error(
        "is {request} bytes, more than max_batch_bytes ({batch} bytes): a request must fit a batch"
    )]
    RequestLargerThanBatch {
        /// max_request_bytes.
        request: usize,
        /// max_batch_bytes.
        batch: usize,
    },
    /// The view-change timer would expire before the primary even proposes a batch.
    #[error(
        "is {timeout} ticks, not more than batch_delay_ticks ({batch_delay} ticks): every batch \
         would trigger a view change"
    )]
    TimeoutNotAboveBatchDelay {
        /// view_change_timeout_ticks.
        timeout: u64,
        /// batch_delay_ticks.
        batch_delay: u64,
    },
    /// More batches in flight than the watermark window holds can never be.
    #[error(
        "is {eager} batches, more than watermark_window_seqs ({window} seqs): at most the window \
         can be in flight"
    )]
    EagerBeyondWindow {
        /// eager_batches_in_flight.
        eager: u64,
        /// watermark_window_seqs.
        window: SeqNum,
    },
    /// The cap is below the base timeout.
    #[error("is {max} ticks, less than view_change_timeout_ticks ({base} ticks)")]
    TimeoutCapTooSmall {
        /// Base.
        base: u64,
        /// Cap.
        max: u64,
    },
    /// The adaptive base's ceiling is below its floor.
    #[error("is {ceiling} ticks, less than view_change_timeout_ticks ({floor} ticks), the floor")]
    AdaptiveCeilingBelowFloor {
        /// view_change_timeout_adaptive_max_ticks.
        ceiling: u64,
        /// view_change_timeout_ticks.
        floor: u64,
    },
    /// `max_message_bytes` above what a message may be decoded at or a durable value may hold
    /// (the cap of `bounds.rs`).
    #[error("is {max_message_bytes} bytes, more than the cap of {cap} bytes (what a message decodes at and a durable value holds)")]
    MessageLimitAboveCap {
        /// max_message_bytes.
        max_message_bytes: usize,
        /// The cap.
        cap: usize,
    },
    /// The largest message of some kind (a pre-prepare with a full batch, a VIEW-CHANGE with a
    /// full window of prepared certificates, a NEW-VIEW with a quorum of those) would not fit in
    /// `max_message_bytes` (the message bounds of `bounds.rs`).
    #[error(
        "is {max_message_bytes} bytes, less than the largest {kind} message ({bytes} bytes); \
         raise it or lower watermark_window_seqs / the batch limits"
    )]
    MessageTooSmall {
        /// Message kind ([`crate::Message::kind`]).
        kind: &'static str,
        /// Its largest encoding under this config.
        bytes: usize,
        /// max_message_bytes.
        max_message_bytes: usize,
    },
}

impl ConfigProblem {
    /// The setting (a field of [`crate::Settings`], and its key in the node's TOML) the problem
    /// is reported under; `validators` for the validator set, which comes from the genesis.
    pub fn key(&self) -> &'static str {
        match self {
            ConfigProblem::TooFewValidators { .. } | ConfigProblem::DuplicateValidator { .. } => {
                "validators"
            }
            ConfigProblem::Zero { key } => key,
            ConfigProblem::WindowNotMultiple { .. } => "watermark_window_seqs",
            ConfigProblem::RequestLargerThanBatch { .. } => "max_request_bytes",
            ConfigProblem::TimeoutNotAboveBatchDelay { .. } => "view_change_timeout_ticks",
            ConfigProblem::TimeoutCapTooSmall { .. } => "view_change_timeout_max_ticks",
            ConfigProblem::EagerBeyondWindow { .. } => "eager_batches_in_flight",
            ConfigProblem::AdaptiveCeilingBelowFloor { .. } => {
                "view_change_timeout_adaptive_max_ticks"
            }
            ConfigProblem::MessageLimitAboveCap { .. } | ConfigProblem::MessageTooSmall { .. } => {
                "max_message_bytes"
            }
        }
    }
}
