//! Deliberately broken protocol rules, for mutation testing of the simulator's checkers.
//!
//! Each [`Mutant`] brings back one rule the way it was before a bug was fixed (or a classic PBFT
//! mistake), so that `bftledger-sim --mutant NAME` can show that the simulator catches it. A
//! real configuration never sets one: [`crate::Config::mutant`] is `None` by default, hidden from
//! the docs, and the node has no way to set it.

use serde::{Deserialize, Serialize};

/// One deliberately unsafe (or unlive) variant of a rule of the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Mutant {
    /// Strong quorum 2f instead of ceil((n+f+1)/2): two quorums may share only a faulty replica.
    WeakQuorum,
    /// Strong quorum 2f+1 for every n (the old rule): for n = 5 or 6 two quorums need not
    /// intersect in a correct replica.
    ClassicQuorum,
    /// A fetch on f+1 checkpoint votes deletes the prepared certificates at or below it, while
    /// the checkpoint a VIEW-CHANGE reports stays the old one (TOCS'02 §4.4 violated).
    FetchForgetsPrepared,
    /// Any execution stops the view-change timer and resets its backoff, so a primary that
    /// keeps executing other batches can censor a request forever (§4.4 violated).
    TimerStopsOnAnyExecution,
    /// A batch that does not match the signed digest still counts against the primary, so any
    /// relayer can make a backup accuse a correct primary.
    UnsignedBatchBlamesPrimary,
    /// A backup waiting on a request never relays it to the primary (§4.4 violated): a request
    /// the primary never received causes a view change.
    NoRequestRelay,
    /// Requests are identified by their exact bytes instead of the application's identity, so
    /// a second signature of an executed transfer stays pending forever.
    RequestIdentityByBytes,
    /// A replica holding a pre-prepare without its batch (an O-set entry of a NEW-VIEW, which
    /// carries digests only) never sends FETCH-BATCH for it: a new primary that lacks an
    /// O-set batch never gets it (safety-holes issue, item 8).
    NoBatchFetch,
    /// Host-level (applied by the driver that executes blocks, not by the core): the block
    /// records the view in which this replica committed it, so correct replicas build different
    /// block hashes for the same block.
    ViewInBlockHash,
    /// Host-level: a state-transfer snapshot is installed without checking its height and block
    /// hash against the checkpoint that 2f+1 validators signed.
    UncheckedSnapshot,
    /// Classic: prepared with one prepare fewer than the rule needs (2f-1 when n = 3f+1), so two
    /// prepared certificates for one (view, seq) need not share a correct replica (§4.2).
    PreparedOnFewerPrepares,
    /// Classic: committed-local with one COMMIT fewer than a strong quorum (2f when n = 3f+1):
    /// a committed batch need not be prepared at any correct replica of a later view's
    /// quorum (§4.2, §4.4).
    CommittedOnFewerCommits,
    /// Classic: a checkpoint is stable with one vote fewer than a strong quorum (2f when
    /// n = 3f+1). Still at least f+1 votes, so still a state some correct replica executed:
    /// what it loses is that f+1 correct replicas hold it to serve state transfer (§4.3).
    StableOnFewerCheckpoints,
    /// Classic: a NEW-VIEW is built and accepted on one VIEW-CHANGE fewer than a strong quorum
    /// (2f), so V need not hold a prepared certificate of every committed batch (§4.4).
    NewViewOnFewerViewChanges,
    /// Classic: a backup accepts the O-set of a NEW-VIEW without recomputing it from V, so a
    /// Byzantine new primary can re-propose any digest (or null) at any seq (§4.4).
    NewViewUncheckedOSet,
    /// Classic: no high watermark check on PRE-PREPARE, PREPARE and COMMIT: a faulty primary
    /// can make backups hold slots beyond the window (§4.2: h < n <= H).
    NoWatermarkCheck,
    /// Classic: a backup accepts (and prepares) a second PRE-PREPARE for a (view, seq) it
    /// already accepted one for, with another digest (§4.2: "it has not accepted a
    /// pre-prepare for view v and sequence number n containing a different digest").
    SecondPrePrepareAccepted,
    /// Host-level, classic: the driver sends a step's messages before its persist ops are
    /// durable, so a crash in between makes a restarted replica forget a vote it sent and sign
    /// a conflicting one (TOCS'02 §5: persist before send).
    SendBeforePersist,
    /// Conflicting requests stay pending (issue 12, found by the simulator on the real
    /// ledger): when a client double-spends (two transfers, one nonce, to two validators) and
    /// one executes, the other stays pending at the backups, a correct primary rightly never
    /// proposes it, and their view-change timers replace that primary.
    ConflictsStayPending,
}

impl Mutant {
    /// Every mutant of the core, in a fixed order.
    pub const ALL: [Mutant; 19] = [
        Mutant::WeakQuorum,
        Mutant::ClassicQuorum,
        Mutant::FetchForgetsPrepared,
        Mutant::TimerStopsOnAnyExecution,
        Mutant::UnsignedBatchBlamesPrimary,
        Mutant::NoRequestRelay,
        Mutant::RequestIdentityByBytes,
        Mutant::NoBatchFetch,
        Mutant::ViewInBlockHash,
        Mutant::UncheckedSnapshot,
        Mutant::PreparedOnFewerPrepares,
        Mutant::CommittedOnFewerCommits,
        Mutant::StableOnFewerCheckpoints,
        Mutant::NewViewOnFewerViewChanges,
        Mutant::NewViewUncheckedOSet,
        Mutant::NoWatermarkCheck,
        Mutant::SecondPrePrepareAccepted,
        Mutant::SendBeforePersist,
        Mutant::ConflictsStayPending,
    ];

    /// The command-line name (`bftledger-sim --mutant NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Mutant::WeakQuorum => "weak-quorum",
            Mutant::ClassicQuorum => "classic-quorum",
            Mutant::FetchForgetsPrepared => "fetch-forgets-prepared",
            Mutant::TimerStopsOnAnyExecution => "timer-stops-on-any-execution",
            Mutant::UnsignedBatchBlamesPrimary => "unsigned-batch-blames-primary",
            Mutant::NoRequestRelay => "no-request-relay",
            Mutant::RequestIdentityByBytes => "request-identity-by-bytes",
            Mutant::NoBatchFetch => "no-batch-fetch",
            Mutant::ViewInBlockHash => "view-in-block-hash",
            Mutant::UncheckedSnapshot => "unchecked-snapshot",
            Mutant::PreparedOnFewerPrepares => "prepared-on-fewer-prepares",
            Mutant::CommittedOnFewerCommits => "committed-on-fewer-commits",
            Mutant::StableOnFewerCheckpoints => "stable-on-fewer-checkpoints",
            Mutant::NewViewOnFewerViewChanges => "new-view-on-fewer-view-changes",
            Mutant::NewViewUncheckedOSet => "new-view-unchecked-o-set",
            Mutant::NoWatermarkCheck => "no-watermark-check",
            Mutant::SecondPrePrepareAccepted => "second-pre-prepare-accepted",
            Mutant::SendBeforePersist => "send-before-persist",
            Mutant::ConflictsStayPending => "conflicts-stay-pending",
        }
    }
}
