//! The checkpoint state a replica keeps (§4.3), and the rules that tie its parts together.
//! Its fields are visible to the handlers of `checkpoint.rs` (the parent module) only; every
//! other module reads it through the methods here.

use crate::message::CheckpointProof;
use crate::quorum::VoteSet;
use crate::{ReplicaId, SeqNum};
use bftledger_crypto::Digest;
use std::collections::BTreeMap;

/// A replica's checkpoint state (§4.3), with the rules that tie its parts together. Written only
/// by the handlers of this module; other modules read it through the methods below.
///
/// Every part lies above the stable checkpoint (a vote, an own checkpoint, the floor, a fetch,
/// a lagging proof at or below it is garbage): [`Checkpoints::check`] asserts it, and each
/// handler asserts what it changed.
pub(crate) struct Checkpoints {
    /// Checkpoint interval K.
    pub(super) interval: SeqNum,
    /// Signatures of a stable-checkpoint proof (2f+1).
    pub(super) strong: usize,
    /// Most seqs with votes: those of the window, plus each peer's latest beyond it.
    pub(super) max_vote_seqs: usize,
    /// The stable checkpoint: the low watermark.
    pub(super) stable: CheckpointProof,
    /// A checkpoint beyond `last_executed` whose state the driver is fetching.
    pub(super) fetch: Option<CheckpointProof>,
    /// A checkpoint proof inside the window but beyond `last_executed`, and the tick it was
    /// learnt: adopted once executed, fetched if execution does not catch up in time.
    pub(super) lagging: Option<(CheckpointProof, u64)>,
    /// The highest 2f+1 checkpoint proof fetched (or being fetched) above the stable one: the
    /// window's floor, and the checkpoint a view-change reports, until it becomes stable.
    pub(super) floor: Option<CheckpointProof>,
    /// Own checkpoints (seq -> state root) from the stable one up.
    pub(super) own: BTreeMap<SeqNum, Digest>,
    /// Checkpoint votes by seq (in the window, plus each peer's latest beyond it).
    pub(super) votes: BTreeMap<SeqNum, VoteSet<Digest>>,
}

impl Checkpoints {
    /// The state of a fresh replica: the genesis checkpoint is stable.
    pub(crate) fn new(interval: SeqNum, strong: usize, max_vote_seqs: usize) -> Checkpoints {
        Checkpoints {
            interval,
            strong,
            max_vote_seqs,
            stable: CheckpointProof::genesis(),
            fetch: None,
            lagging: None,
            floor: None,
            own: BTreeMap::new(),
            votes: BTreeMap::new(),
        }
    }

    /// The stable checkpoint's proof.
    pub(crate) fn stable(&self) -> &CheckpointProof {
        &self.stable
    }

    /// The checkpoint whose state is being fetched, if any.
    pub(crate) fn fetching(&self) -> Option<&CheckpointProof> {
        self.fetch.as_ref()
    }

    /// The seq being fetched, or 0.
    pub(crate) fn fetching_seq(&self) -> SeqNum {
        self.fetch.as_ref().map_or(0, |f| f.seq)
    }

    /// The low watermark: the floor if there is one, else the stable checkpoint. Only a 2f+1
    /// proof moves the window: a fetch on f+1 signatures may never become stable, and prepared
    /// certificates above stable + L could not be carried in a view-change.
    pub(crate) fn window_low(&self) -> SeqNum {
        self.floor
            .as_ref()
            .map_or(self.stable.seq, |f| f.seq.max(self.stable.seq))
    }

    /// The checkpoint a VIEW-CHANGE reports: the floor if above the stable one (its window holds
    /// this replica's prepared certificates), else the stable checkpoint.
    pub(crate) fn reported(&self) -> &CheckpointProof {
        match &self.floor {
            Some(f) if f.seq > self.stable.seq => f,
            _ => &self.stable,
        }
    }

    /// Own latest checkpoint above the stable one, for retransmission.
    pub(crate) fn latest_own(&self) -> Option<(SeqNum, Digest)> {
        let (&seq, &root) = self.own.iter().next_back()?;
        (seq > self.stable.seq).then_some((seq, root))
    }

    /// A lagging proof at or below `seq` is overtaken (by a fetch or a stable checkpoint).
    pub(super) fn forget_lagging_upto(&mut self, seq: SeqNum) {
        if self.lagging.as_ref().is_some_and(|(l, _)| l.seq <= seq) {
            self.lagging = None;
        }
    }

    /// Whether a proof has 2f+1 signatures (stable) rather than only f+1 (enough to fetch).
    pub(crate) fn is_strong(&self, proof: &CheckpointProof) -> bool {
        proof.seq == 0 || proof.signatures.len() >= self.strong
    }

    /// Recovery: the durable stable checkpoint (verified by the caller).
    pub(crate) fn restore_stable(&mut self, stable: CheckpointProof) {
        assert!(
            stable.seq.is_multiple_of(self.interval) && self.is_strong(&stable),
            "restored stable checkpoint {} is no 2f+1 proof at a multiple of K={}",
            stable.seq,
            self.interval
        );
        self.stable = stable;
    }

    /// Recovery: the durable floor (a verified 2f+1 proof above the stable checkpoint), fetched
    /// again if its state is not here.
    pub(crate) fn restore_floor(&mut self, floor: CheckpointProof, last_executed: SeqNum) {
        assert!(
            floor.seq > self.stable.seq && self.is_strong(&floor),
            "restored floor {} is no 2f+1 proof above stable {}",
            floor.seq,
            self.stable.seq
        );
        if floor.seq > last_executed {
            self.fetch = Some(floor.clone());
        }
        self.floor = Some(floor);
    }

    /// Recovery: the durable fetch (a verified proof beyond `last_executed`), unless the floor
    /// is fetched and higher.
    pub(crate) fn restore_fetch(&mut self, fetch: CheckpointProof, last_executed: SeqNum) {
        assert!(
            fetch.seq > last_executed,
            "restored fetch {} at or below executed {last_executed}",
            fetch.seq
        );
        if self.fetch.as_ref().is_none_or(|f| f.seq < fetch.seq) {
            self.fetch = Some(fetch);
        }
    }

    /// Recovery: own durable checkpoints (those at or above the stable one are kept).
    pub(crate) fn restore_own(&mut self, own: impl IntoIterator<Item = (SeqNum, Digest)>) {
        let stable = self.stable.seq;
        self.own = own.into_iter().filter(|(seq, _)| *seq > stable).collect();
    }

    /// Postcondition of making a checkpoint stable: nothing at or below it is left (§4.3: the
    /// log, votes and checkpoints it covers are discarded), and only own checkpoints above it.
    pub(crate) fn assert_collected(&self, replica: ReplicaId) {
        let low = self.stable.seq;
        let first_vote = self.votes.keys().next().copied();
        let first_own = self.own.keys().next().copied();
        let left = |p: Option<&CheckpointProof>| p.map(|p| p.seq).filter(|s| *s <= low);
        assert!(
            first_vote.is_none_or(|s| s > low)
                && first_own.is_none_or(|s| s >= low)
                && left(self.floor.as_ref()).is_none()
                && left(self.fetch.as_ref()).is_none()
                && left(self.lagging.as_ref().map(|l| &l.0)).is_none(),
            "replica {replica}: stable {low} left garbage: first vote {first_vote:?}, first own \
             {first_own:?}, {self:?}"
        );
    }

    /// Postcondition of asking for `seq`'s state: it is the fetch, no lagging proof at or
    /// below it, and no vote below it (the votes for `seq` may still complete its proof).
    pub(crate) fn assert_fetching(&self, replica: ReplicaId, seq: SeqNum) {
        let first_vote = self.votes.keys().next().copied();
        assert!(
            self.fetching_seq() == seq
                && self.lagging.as_ref().is_none_or(|(l, _)| l.seq > seq)
                && first_vote.is_none_or(|s| s >= seq),
            "replica {replica}: after asking for {seq}: first vote {first_vote:?}, {self:?}"
        );
    }

    /// Panics (with the values) unless every part is consistent with the stable checkpoint and
    /// the execution progress (`last_reported <= last_executed`).
    pub(crate) fn check(&self, replica: ReplicaId, last_executed: SeqNum, last_reported: SeqNum) {
        let (low, k) = (self.stable.seq, self.interval);
        assert!(
            low <= last_reported && low.is_multiple_of(k),
            "replica {replica}: stable checkpoint {low} beyond reported execution {last_reported} \
             or not a multiple of K={k}"
        );
        if let Some(floor) = &self.floor {
            assert!(
                floor.seq > low && self.is_strong(floor),
                "replica {replica}: window floor {} not a 2f+1 proof above stable {low}",
                floor.seq
            );
        }
        if let Some(fetch) = &self.fetch {
            assert!(
                fetch.seq > last_executed,
                "replica {replica}: fetching {} but executed {last_executed}",
                fetch.seq
            );
        }
        if let Some((lagging, _)) = &self.lagging {
            assert!(
                lagging.seq > last_reported && lagging.seq > low,
                "replica {replica}: lagging proof {} not beyond reported {last_reported} / \
                 stable {low}",
                lagging.seq
            );
        }
        if let Some((&first, _)) = self.own.iter().next() {
            assert!(
                first >= low,
                "replica {replica}: own checkpoint {first} below stable {low}"
            );
        }
        let vote_seqs = self.votes.len();
        assert!(
            vote_seqs <= self.max_vote_seqs,
            "replica {replica}: checkpoint votes for {vote_seqs} seqs (bound {})",
            self.max_vote_seqs
        );
        if let Some((&first, _)) = self.votes.iter().next() {
            assert!(
                first > low,
                "replica {replica}: checkpoint votes at {first}, stable {low}"
            );
        }
    }
}

impl std::fmt::Debug for Checkpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoints")
            .field("stable", &self.stable.seq)
            .field("floor", &self.floor.as_ref().map(|p| p.seq))
            .field("fetch", &self.fetch.as_ref().map(|p| p.seq))
            .field("lagging", &self.lagging.as_ref().map(|l| l.0.seq))
            .field("own", &self.own.keys().collect::<Vec<_>>())
            .finish()
    }
}
