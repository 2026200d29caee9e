//! The run of one seed as a TLA+ trace of what correct replicas did, for trace validation
//! against `tla/PBFT.tla` (`tla/PBFTTrace.tla` reads it; `tla/check.sh` runs TLC on it).
//!
//! The simulator already sees every message a correct replica signs, every view it enters and
//! every block it stores (the checkers watch the same points); this module writes them down in
//! the spec's own terms, one event per step of a replica, in the order they happened:
//!
//! | event | what the replica did | spec action (`PBFTTrace.tla`) |
//! |---|---|---|
//! | `PrePrepare` | the primary signed PRE-PREPARE(v, n, d) | `SendPrePrepare` |
//! | `Prepare` | a backup signed PREPARE(v, n, d) | `AcceptPrePrepare` |
//! | `Commit` | it signed COMMIT(v, n, d) | `SendCommit` |
//! | `ViewChange` | it signed VIEW-CHANGE(v) | `StartViewChange` |
//! | `NewView` | the new primary signed NEW-VIEW(v) with these O-set entries | `SendNewView` |
//! | `Enter` | it entered view v (normal status) | `AcceptNewView`, or a check |
//! | `Execute` | it executed batch d at n (committed-local) | a check: `CommittedLocal` |
//! | `Fetched` | it applied d at n from a certified block (state transfer) | a check: 2f+1 COMMITs |
//! | `Restart` | it crashed and recovered from its durable state | `CrashRestart` |
//!
//! **Mapping onto the spec's constants.** Replica ids and views are the implementation's (the
//! primary of v is v mod n in both). Batch digests become the values `"d1"`, `"d2"`, ... in
//! order of first appearance; the null batch is the spec's `"null"`. Only sequence numbers
//! 1..=`max_seq` are kept (the spec allows at most 10): an event about a higher sequence number
//! is left out, which the spec cannot tell from a message not sent yet, because no action at
//! n <= `max_seq` depends on a message at a higher one. Two things cannot be projected that
//! way, and the trace stops before them (the reason is written in the module's header): a
//! NEW-VIEW whose O-set has null requests at the top of 1..=`max_seq` below a certificate
//! beyond it (the implementation fills that gap, the projected spec, whose max-s is the
//! highest certificate it sees, would not), and a view beyond the spec's bound of 10.
//!
//! Each signed message is written once per replica: retransmissions and the re-sends of a
//! restarted replica are the same message, a stutter for the spec.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use bftledger_consensus::message::null_digest;
use bftledger_consensus::{Message, SignedMessage};
use bftledger_crypto::Digest;

/// The spec's bound on sequence numbers (`PBFT.tla`: `MaxSeq \in 1..10`).
pub const SPEC_MAX_SEQ: u64 = 10;
/// The spec's bound on views (`PBFT.tla`: `MaxView \in 0..10`).
pub const SPEC_MAX_VIEW: u64 = 10;

/// A batch, by its name in the trace: `"null"` or `"d<k>"`.
type Name = String;

/// One step of a correct replica, in the spec's terms (see the module's table).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TraceEvent {
    /// PRE-PREPARE(v, n, d) signed by primary `r`.
    PrePrepare { r: u32, v: u64, n: u64, d: Name },
    /// PREPARE(v, n, d) signed by backup `r`.
    Prepare { r: u32, v: u64, n: u64, d: Name },
    /// COMMIT(v, n, d) signed by `r`.
    Commit { r: u32, v: u64, n: u64, d: Name },
    /// VIEW-CHANGE for view `v` signed by `r`.
    ViewChange { r: u32, v: u64 },
    /// NEW-VIEW(v) signed by `r`: its O-set entries (n, d) with min_s < n <= max_seq.
    NewView {
        r: u32,
        v: u64,
        min_s: u64,
        o: Vec<(u64, Name)>,
    },
    /// `r` entered view `v`.
    Enter { r: u32, v: u64 },
    /// `r` executed `d` at `n` itself.
    Execute { r: u32, n: u64, d: Name },
    /// `r` applied `d` at `n` from a peer's certified block.
    Fetched { r: u32, n: u64, d: Name },
    /// `r` restarted after a crash.
    Restart { r: u32 },
}

impl TraceEvent {
    /// The event as a TLA+ record. Every record has every field (unused ones are 0, `"-"` or
    /// `{}`), so that TLC can compare any two and the module reads any field of any event.
    fn to_tla(&self) -> String {
        let (kind, r, v, n, d, min_s, o) = match self {
            TraceEvent::PrePrepare { r, v, n, d } => ("PrePrepare", *r, *v, *n, d.as_str(), 0, ""),
            TraceEvent::Prepare { r, v, n, d } => ("Prepare", *r, *v, *n, d.as_str(), 0, ""),
            TraceEvent::Commit { r, v, n, d } => ("Commit", *r, *v, *n, d.as_str(), 0, ""),
            TraceEvent::ViewChange { r, v } => ("ViewChange", *r, *v, 0, "-", 0, ""),
            TraceEvent::NewView { r, v, min_s, o } => {
                let entries: Vec<String> =
                    o.iter().map(|(n, d)| format!("<<{n}, \"{d}\">>")).collect();
                let set = entries.join(", ");
                return format!(
                    "[e |-> \"NewView\", r |-> {r}, v |-> {v}, n |-> 0, d |-> \"-\", \
                     mins |-> {min_s}, O |-> {{{set}}}]"
                );
            }
            TraceEvent::Enter { r, v } => ("Enter", *r, *v, 0, "-", 0, ""),
            TraceEvent::Execute { r, n, d } => ("Execute", *r, 0, *n, d.as_str(), 0, ""),
            TraceEvent::Fetched { r, n, d } => ("Fetched", *r, 0, *n, d.as_str(), 0, ""),
            TraceEvent::Restart { r } => ("Restart", *r, 0, 0, "-", 0, ""),
        };
        format!(
            "[e |-> \"{kind}\", r |-> {r}, v |-> {v}, n |-> {n}, d |-> \"{d}\", \
             mins |-> {min_s}, O |-> {{{o}}}]"
        )
    }
}

/// The trace of one seed being recorded.
#[derive(Clone, Debug)]
pub struct TlaTrace {
    replicas: usize,
    byzantine: BTreeSet<u32>,
    max_seq: u64,
    /// Batch digest -> its number k in the name `d<k>` (1-based, in order of appearance).
    names: BTreeMap<Digest, usize>,
    null: Digest,
    events: Vec<TraceEvent>,
    /// Votes, view-changes and blocks already recorded ([`TlaTrace::record_once`]).
    written: BTreeSet<TraceEvent>,
    /// Why the trace stops early, if it does: nothing is recorded after this.
    stopped: Option<String>,
}

impl TlaTrace {
    /// An empty trace of a cluster of `replicas` of which `byzantine` are faulty, keeping
    /// sequence numbers 1..=`max_seq`.
    ///
    /// # Panics
    /// If `max_seq` is not in 1..=[`SPEC_MAX_SEQ`] or a Byzantine id is not a replica.
    pub fn new(replicas: usize, byzantine: BTreeSet<u32>, max_seq: u64) -> TlaTrace {
        assert!(
            (1..=SPEC_MAX_SEQ).contains(&max_seq),
            "max_seq {max_seq} outside the spec's 1..={SPEC_MAX_SEQ}"
        );
        assert!(
            byzantine.iter().all(|&b| (b as usize) < replicas),
            "Byzantine {byzantine:?} not all among {replicas} replicas"
        );
        TlaTrace {
            replicas,
            byzantine,
            max_seq,
            names: BTreeMap::new(),
            null: null_digest(),
            events: Vec::new(),
            written: BTreeSet::new(),
            stopped: None,
        }
    }

    /// The number of events recorded so far.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Why recording stopped before the end of the run, if it did.
    pub fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }

    /// The highest view of any event (the spec's `MaxView` for this trace).
    pub fn max_view(&self) -> u64 {
        self.events
            .iter()
            .filter_map(|e| match e {
                TraceEvent::PrePrepare { v, .. }
                | TraceEvent::Prepare { v, .. }
                | TraceEvent::Commit { v, .. }
                | TraceEvent::ViewChange { v, .. }
                | TraceEvent::NewView { v, .. }
                | TraceEvent::Enter { v, .. } => Some(*v),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }

    fn name(&mut self, digest: Digest) -> Name {
        if digest == self.null {
            return "null".to_string();
        }
        let next = self.names.len() + 1;
        format!("d{}", self.names.entry(digest).or_insert(next))
    }

    fn stop(&mut self, why: String) {
        if self.stopped.is_none() {
            self.stopped = Some(why);
        }
    }

    /// Whether events about `view` are recorded: a view beyond the spec's bound stops the trace.
    fn within_views(&mut self, view: u64) -> bool {
        if view > SPEC_MAX_VIEW {
            self.stop(format!(
                "view {view} is beyond the spec's bound {SPEC_MAX_VIEW}"
            ));
        }
        self.stopped.is_none()
    }

    /// Whether events about (`view`, `seq`) are recorded (T1 of `PBFTTrace.tla`).
    fn keeps(&mut self, view: u64, seq: u64) -> bool {
        self.within_views(view) && (1..=self.max_seq).contains(&seq)
    }

    /// Appends `event` unless it was recorded before: a retransmission, or a re-send after a
    /// restart, is the same message (a stutter for the spec).
    fn record_once(&mut self, event: TraceEvent) {
        if self.written.insert(event.clone()) {
            self.events.push(event);
        }
    }

    /// A vote on (`view`, `seq`, `digest`), made into its event by `event`.
    fn on_vote(
        &mut self,
        view: u64,
        seq: u64,
        digest: Digest,
        event: impl FnOnce(u64, u64, Name) -> TraceEvent,
    ) {
        if self.keeps(view, seq) {
            let d = self.name(digest);
            self.record_once(event(view, seq, d));
        }
    }

    /// Correct replica `r` sent `message` (its own or a relayed one: only its own is recorded).
    pub fn on_sent(&mut self, r: u32, message: &SignedMessage) {
        if message.from != r || self.stopped.is_some() {
            return;
        }
        match &message.message {
            Message::PrePrepare { pre_prepare: p, .. } => {
                self.on_vote(p.view, p.seq, p.digest, |v, n, d| TraceEvent::PrePrepare {
                    r,
                    v,
                    n,
                    d,
                })
            }
            Message::Prepare(p) => self.on_vote(p.view, p.seq, p.digest, |v, n, d| {
                TraceEvent::Prepare { r, v, n, d }
            }),
            Message::Commit(c) => self.on_vote(c.view, c.seq, c.digest, |v, n, d| {
                TraceEvent::Commit { r, v, n, d }
            }),
            Message::ViewChange(vc) => {
                if self.within_views(vc.new_view) {
                    self.record_once(TraceEvent::ViewChange { r, v: vc.new_view });
                }
            }
            Message::NewView(nv) => self.on_new_view_sent(r, nv),
            // Checkpoints are outside PBFT.tla (PBFTCheckpoint.tla has no views); a fetch is
            // not a vote.
            Message::Checkpoint(_) | Message::FetchBatch(_) => {}
        }
    }

    fn on_new_view_sent(&mut self, r: u32, nv: &bftledger_consensus::message::NewView) {
        let v = nv.view;
        if !self.within_views(v) {
            return;
        }
        // min-s as every backup recomputes it: the highest stable checkpoint in V.
        let min_s = nv
            .view_changes
            .iter()
            .map(|s| s.view_change.stable.seq)
            .max()
            .unwrap_or(0);
        // Entries above max_seq are left out (T1). That is exact unless the entries kept end in
        // null requests that fill a gap below a certificate above max_seq: the projected spec,
        // whose max-s is the highest certificate it sees, would not propose those.
        let top = nv
            .pre_prepares
            .iter()
            .map(|s| s.pre_prepare)
            .filter(|p| p.seq <= self.max_seq && p.digest != self.null)
            .map(|p| p.seq)
            .max()
            .unwrap_or(min_s);
        let gap = nv
            .pre_prepares
            .iter()
            .map(|s| s.pre_prepare.seq)
            .find(|&n| n > top && n <= self.max_seq);
        let beyond = nv
            .pre_prepares
            .iter()
            .map(|s| s.pre_prepare.seq)
            .find(|&n| n > self.max_seq);
        if let (Some(gap), Some(beyond)) = (gap, beyond) {
            self.stop(format!(
                "NEW-VIEW({v}) of replica {r} proposes null at {gap} below its certificate at \
                 {beyond}, beyond the trace's sequence numbers 1..={} (the projected spec would \
                 not fill that gap)",
                self.max_seq
            ));
            return;
        }
        let max_seq = self.max_seq;
        let o = nv
            .pre_prepares
            .iter()
            .filter(|s| s.pre_prepare.seq <= max_seq)
            .map(|s| (s.pre_prepare.seq, self.name(s.pre_prepare.digest)))
            .collect();
        self.record_once(TraceEvent::NewView { r, v, min_s, o });
    }

    /// Correct replica `r` entered `view`.
    pub fn on_view_entered(&mut self, r: u32, view: u64) {
        if self.within_views(view) {
            self.events.push(TraceEvent::Enter { r, v: view });
        }
    }

    /// Correct replica `r` stored the block at `seq` holding batch `digest`: executed by
    /// itself, or applied from a peer's certified block.
    pub fn on_block(&mut self, r: u32, seq: u64, digest: Digest, executed: bool) {
        if self.stopped.is_some() || !(1..=self.max_seq).contains(&seq) {
            return;
        }
        let (n, d) = (seq, self.name(digest));
        self.record_once(if executed {
            TraceEvent::Execute { r, n, d }
        } else {
            TraceEvent::Fetched { r, n, d }
        });
    }

    /// Correct replica `r` restarted from its durable state.
    pub fn on_restart(&mut self, r: u32) {
        if self.stopped.is_none() {
            self.events.push(TraceEvent::Restart { r });
        }
    }

    /// The trace as a TLA+ module named `module` that `tla/PBFTTrace.tla` extends: the
    /// constants of `PBFT.tla` for this run and the sequence `Trace`. `about` (the command
    /// that made it) goes into the header.
    pub fn to_module(&self, module: &str, about: &str) -> String {
        let f = (self.replicas - 1) / 3;
        let byzantine: Vec<String> = self.byzantine.iter().map(u32::to_string).collect();
        let mut values: Vec<String> = (1..=self.names.len())
            .map(|k| format!("\"d{k}\""))
            .collect();
        if values.is_empty() {
            // The spec's Values must not be empty for the checkers' enumerations to type.
            values.push("\"d1\"".to_string());
        }
        let mut out = String::new();
        let _ = writeln!(out, "---- MODULE {module} ----");
        let _ = writeln!(out, "\\* Generated by {about}");
        let _ = writeln!(
            out,
            "\\* Trace of the correct replicas, sequence numbers 1..{}: {} events.",
            self.max_seq,
            self.events.len()
        );
        match &self.stopped {
            Some(why) => {
                let _ = writeln!(out, "\\* Stopped early: {why}.");
            }
            None => {
                let _ = writeln!(out, "\\* Complete: the whole run.");
            }
        }
        let _ = writeln!(out, "TraceN == {}", self.replicas);
        let _ = writeln!(out, "TraceF == {f}");
        let _ = writeln!(out, "TraceByzantine == {{{}}}", byzantine.join(", "));
        let _ = writeln!(out, "TraceValues == {{{}}}", values.join(", "));
        let _ = writeln!(out, "TraceMaxSeq == {}", self.max_seq);
        let _ = writeln!(out, "TraceMaxView == {}", self.max_view());
        let _ = writeln!(out, "Trace == <<");
        for (k, event) in self.events.iter().enumerate() {
            let sep = if k + 1 < self.events.len() { "," } else { "" };
            let _ = writeln!(out, "    {}{sep}", event.to_tla());
        }
        let _ = writeln!(out, ">>");
        let _ = writeln!(out, "====");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bftledger_consensus::message::{
        CheckpointProof, Commit, NewView, PrePrepare, Prepare, SignedPrePrepare,
    };
    use bftledger_crypto::SecretKey;

    fn key() -> SecretKey {
        SecretKey::from_bytes(&[7; 32])
    }

    fn digest(k: u8) -> Digest {
        Digest([k; 32])
    }

    fn signed(from: u32, message: Message) -> SignedMessage {
        SignedMessage::sign(from, message, &key())
    }

    /// NEW-VIEW(view) of primary `from` with these O-set entries and no view-changes (min-s 0).
    fn new_view(from: u32, view: u64, entries: &[(u64, Digest)]) -> SignedMessage {
        let pre_prepares = entries
            .iter()
            .map(|&(seq, digest)| {
                SignedPrePrepare::sign(from, PrePrepare { view, seq, digest }, &key())
            })
            .collect();
        signed(
            from,
            Message::NewView(NewView {
                view,
                view_changes: Vec::new(),
                pre_prepares,
            }),
        )
    }

    fn trace() -> TlaTrace {
        TlaTrace::new(4, BTreeSet::from([3]), 4)
    }

    #[test]
    fn digests_are_named_in_order_of_appearance_and_null_is_the_specs_null() {
        let mut t = trace();
        let (a, b) = (digest(1), digest(2));
        for (seq, d) in [(1, b), (2, a), (3, null_digest())] {
            let pp = PrePrepare {
                view: 0,
                seq,
                digest: d,
            };
            let message = Message::PrePrepare {
                pre_prepare: pp,
                batch: Vec::new().into(),
            };
            t.on_sent(0, &signed(0, message));
        }
        let names: Vec<&str> = t
            .events
            .iter()
            .map(|e| match e {
                TraceEvent::PrePrepare { d, .. } => d.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(names, ["d1", "d2", "null"]);
        let module = t.to_module("M", "test");
        assert!(
            module.contains("TraceValues == {\"d1\", \"d2\"}\n"),
            "{module}"
        );
        assert!(module.contains("TraceByzantine == {3}\n"), "{module}");
    }

    #[test]
    fn retransmissions_relays_and_seqs_beyond_the_bound_are_left_out() {
        let mut t = trace();
        let prepare = |seq| {
            Message::Prepare(Prepare {
                view: 0,
                seq,
                digest: digest(1),
            })
        };
        t.on_sent(1, &signed(1, prepare(1)));
        t.on_sent(1, &signed(1, prepare(1))); // retransmitted
        t.on_sent(2, &signed(1, prepare(1))); // replica 1's, relayed by 2
        t.on_sent(1, &signed(1, prepare(5))); // beyond max_seq 4
        let commit = Commit {
            view: 0,
            seq: 1,
            digest: digest(1),
        };
        t.on_sent(2, &signed(2, Message::Commit(commit)));
        t.on_block(2, 1, digest(1), true);
        t.on_block(2, 1, digest(1), true); // handed out again after a restart
        t.on_block(2, 5, digest(3), false);
        assert_eq!(
            t.events,
            [
                TraceEvent::Prepare {
                    r: 1,
                    v: 0,
                    n: 1,
                    d: "d1".into()
                },
                TraceEvent::Commit {
                    r: 2,
                    v: 0,
                    n: 1,
                    d: "d1".into()
                },
                TraceEvent::Execute {
                    r: 2,
                    n: 1,
                    d: "d1".into()
                },
            ]
        );
    }

    #[test]
    fn a_new_view_keeps_its_entries_within_the_bound() {
        let mut t = trace();
        // Every entry within the bound: kept as it is, the null one included.
        let null = null_digest();
        t.on_sent(
            1,
            &new_view(1, 1, &[(1, digest(1)), (2, null), (3, digest(2))]),
        );
        assert_eq!(
            t.events,
            [TraceEvent::NewView {
                r: 1,
                v: 1,
                min_s: 0,
                o: vec![(1, "d1".into()), (2, "null".into()), (3, "d2".into())],
            }]
        );
        // Entries beyond the bound, none of them a gap below: the kept part is exact.
        t.on_sent(2, &new_view(2, 2, &[(4, digest(3)), (5, digest(4))]));
        assert!(t.stopped().is_none());
        assert_eq!(t.len(), 2);
        // A null at 4 below the certificate at 5: the projected spec could not propose it.
        t.on_sent(
            3,
            &new_view(3, 3, &[(3, digest(1)), (4, null), (5, digest(4))]),
        );
        let why = t.stopped().expect("the trace stops");
        assert!(why.contains("null at 4"), "{why}");
        assert_eq!(t.len(), 2, "nothing recorded from the stopping event on");
        t.on_view_entered(0, 3);
        assert_eq!(t.len(), 2);
        assert!(t
            .to_module("M", "test")
            .contains("Stopped early: NEW-VIEW(3)"));
    }

    #[test]
    fn min_s_is_the_highest_stable_checkpoint_in_v() {
        use bftledger_consensus::message::{SignedViewChange, ViewChange};
        let mut t = trace();
        let vc = |seq| SignedViewChange {
            from: 0,
            view_change: ViewChange {
                new_view: 1,
                stable: CheckpointProof {
                    seq,
                    state_root: digest(9),
                    signatures: Vec::new(),
                },
                prepared: Vec::new(),
            },
            signature: key().sign(bftledger_crypto::Domain::Consensus, b"x"),
        };
        let pp = PrePrepare {
            view: 1,
            seq: 4,
            digest: digest(1),
        };
        let message = Message::NewView(NewView {
            view: 1,
            view_changes: vec![vc(0), vc(3), vc(2)],
            pre_prepares: vec![SignedPrePrepare::sign(1, pp, &key())],
        });
        t.on_sent(1, &signed(1, message));
        assert!(
            matches!(&t.events[..], [TraceEvent::NewView { min_s: 3, .. }]),
            "{:?}",
            t.events
        );
    }
}
