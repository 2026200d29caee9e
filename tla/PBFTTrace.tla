---- MODULE PBFTTrace ----
(***************************************************************************)
(* Trace validation: is a run of the implementation a behaviour of         *)
(* PBFT.tla?  (The method of Cirstea, Kuppe, Merz et al., "Validating      *)
(* Traces of Distributed Programs Against TLA+ Specifications", 2024.)     *)
(*                                                                         *)
(* `bftledger-sim --seed S --tla-trace PBFTTraceData.tla` writes what the  *)
(* correct replicas of seed S did as the module PBFTTraceData: the         *)
(* constants of PBFT.tla for the run (TraceN, TraceF, TraceByzantine,      *)
(* TraceValues, TraceMaxSeq, TraceMaxView) and the sequence Trace of       *)
(* events (sim/src/tla_trace.rs).  This module runs PBFT.tla's Init and    *)
(* then, for each event in order, one action of PBFT.tla that does what    *)
(* the event says.  The variable i counts the events consumed.  TLC        *)
(* explores every way of doing so (some events leave the spec a choice);   *)
(* the trace is ACCEPTED if some behaviour consumes all of it, i.e. TLC    *)
(* finds a state violating the invariant TraceNotAccepted (tla/check.sh    *)
(* reads that violation as success).  Otherwise the trace is REJECTED at   *)
(* the first event no behaviour could take: the last "consumed" line TLC  *)
(* prints (TraceProgress) is the event before it.                          *)
(*                                                                         *)
(* Events and the actions they must be (Mutation = "none": the real        *)
(* protocol, also for traces of mutants, which is what rejects them):      *)
(*   PrePrepare(r,v,n,d)  SendPrePrepare                                   *)
(*   Prepare(r,v,n,d)     AcceptPrePrepare                                 *)
(*   Commit(r,v,n,d)      SendCommit                                       *)
(*   ViewChange(r,v)      StartViewChange                                  *)
(*   NewView(r,v,mins,O)  SendNewView whose O-set has the logged entries   *)
(*                        above mins                                       *)
(*   Enter(r,v)           AcceptNewView (backup), or a check that r is     *)
(*                        already in normal status in v                    *)
(*   Execute(r,n,d)       a check: CommittedLocal(r, v, n, d) for some v   *)
(*   Fetched(r,n,d)       a check: 2f+1 COMMITs for (v, n, d) for some v   *)
(*   Restart(r)           CrashRestart (the spec's NextCrash)              *)
(* A send event whose message the replica already sent is a stutter.       *)
(*                                                                         *)
(* Steps the log does not show (hidden steps, which do not consume an      *)
(* event).  Each moves replica r one view or one status closer to the      *)
(* event's view, so there are at most 2 * MaxView per replica:             *)
(*  H1. StartViewChange(r) while r is below the view of its next event.    *)
(*      The implementation may move from v to v+k at once (the f+1 join    *)
(*      rule) or adopt a NEW-VIEW straight from a lower view (S5).         *)
(*  H2. AcceptNewView(r, v) before a PREPARE or COMMIT of backup r in v:   *)
(*      the implementation sends a step's messages before the step's       *)
(*      events, so the prepares of a NEW-VIEW's O-set come before "Enter". *)
(*                                                                         *)
(* Abstraction gaps (what the trace leaves out, and why that is sound):    *)
(*  T1. Sequence numbers: only 1..TraceMaxSeq (<= 10, the spec's bound).   *)
(*      No action at n <= MaxSeq depends on a message at a higher n, so    *)
(*      leaving those out hides nothing the spec looks at.  Except: a      *)
(*      NEW-VIEW whose O-set has null requests at the top of 1..MaxSeq     *)
(*      below a certificate beyond it (the projected spec's max-s is the   *)
(*      highest certificate it sees, so it would not propose them).  The   *)
(*      trace stops before such a NEW-VIEW, and before a view above 10     *)
(*      (its header says so).                                              *)
(*  T2. Batches: a batch is one spec value, named "d1", "d2", ... by its   *)
(*      digest in order of appearance; the null batch is "null".  Every    *)
(*      value is a client request (Requests = Values): a correct replica   *)
(*      never prepares a batch whose transfers it did not verify.          *)
(*  T3. Checkpoints and garbage collection are not in PBFT.tla (S4).  The  *)
(*      implementation's O-set starts above min-s, the highest stable      *)
(*      checkpoint in V; the spec's starts at 1.  So only the O-set        *)
(*      entries above mins are compared; those at or below are the spec's  *)
(*      choice (committed requests, by ViewChangeSafety), and the extra    *)
(*      PRE-PREPAREs and PREPAREs they add to msgs are never looked at     *)
(*      again by an event (the implementation never acts on them).         *)
(*  T4. State transfer: the blocks a replica applies from a peer (with     *)
(*      their commit certificates) are checked against the COMMITs in      *)
(*      msgs (Fetched); a snapshot installed without its blocks is not in  *)
(*      the trace (it has no batch digest), nor are CHECKPOINT messages.   *)
(*  T5. A backup prepares an O-set entry only once it holds the batch      *)
(*      (view_change.rs enter_view); AcceptNewView sends all the prepares  *)
(*      at once.  The later PREPARE is a stutter (the message is out).     *)
(*  T6. A crash that strikes before a step's messages leave is invisible   *)
(*      (nothing was sent); Restart is logged when the replica comes back. *)
(*  T7. Byzantine replicas are not traced: by S2 everything they could     *)
(*      sign exists already, so a correct replica may act on it at any     *)
(*      time.  Received messages are not traced either: what a replica     *)
(*      acts on must have been sent, which msgs checks.                    *)
(*  T8. TLC runs this module with TraceValidOSets in place of PBFT.tla's   *)
(*      ValidOSets (PBFTTrace.cfg): the same set, computed so that TLC can *)
(*      afford MaxSeq = 10 and Byzantine claims (see its comment).         *)
(***************************************************************************)
EXTENDS Naturals, Sequences, FiniteSets, TLC, PBFTTraceData

VARIABLES view, status, msgs, forgot, i

specVars == <<view, status, msgs, forgot>>

S == INSTANCE PBFT WITH
        N <- TraceN,
        F <- TraceF,
        Byzantine <- TraceByzantine,
        Values <- TraceValues,
        Requests <- TraceValues,
        MaxSeq <- TraceMaxSeq,
        MaxView <- TraceMaxView,
        Mutation <- "none"

(***************************************************************************)
(* PBFT.tla's ValidOSets(nv), computed so that TLC can afford it at        *)
(* MaxSeq = 10.  PBFT.tla enumerates every subset B of ExistingCerts(nv)   *)
(* (what Byzantine senders in V may claim: 2^20 sets with 20 certificates) *)
(* and, for each, the function space [1..max-s -> Digests] (|Digests|^10). *)
(* Here: the O-set's entry at n depends only on the certificates at n      *)
(* (ChosenDigests), and a Byzantine claim can be chosen for each n on its  *)
(* own, so the O-sets are a product, built one n at a time:               *)
(*   - for n below max-s: any digest ChosenDigests gives for U_n \cup B_n, *)
(*     B_n any subset of the existing certificates at n (Poss);            *)
(*   - max-s = k: a sequence number with a certificate in U_k \cup B_k     *)
(*     (PossTop) and none above: k >= max-s of U, the correct senders'.    *)
(* With no Byzantine replica B is empty and this is OSetsFrom(U, nv).      *)
(* The same set as PBFT.tla's (Mutation = "none"); PBFTTrace.cfg puts it   *)
(* in place of ValidOSets (ValidOSets <- [PBFT] TraceValidOSets).          *)
(***************************************************************************)
CertsAt(C, n) == {c \in C : c.n = n}

Poss(U, E, n) ==
    UNION {S!ChosenDigests(CertsAt(U, n) \cup B, n) : B \in SUBSET CertsAt(E, n)}

PossTop(U, E, n) ==
    UNION {S!ChosenDigests(CertsAt(U, n) \cup B, n) :
              B \in {B \in SUBSET CertsAt(E, n) : CertsAt(U, n) \cup B # {}}}

\* The O-sets' entries 1..k, each n below the top.
RECURSIVE Prefixes(_, _, _, _)
Prefixes(U, E, nv, k) ==
    IF k = 0 THEN {{}}
    ELSE {O \cup {S!PrePrepareMsg(nv, k, d)} :
            O \in Prefixes(U, E, nv, k - 1), d \in Poss(U, E, k)}

\* The O-sets computable from the certificates U of correct senders plus any
\* claims among E.
OSetsWith(U, E, nv) ==
    (IF U = {} THEN {{}} ELSE {})
    \cup UNION {{O \cup {S!PrePrepareMsg(nv, k, d)} :
                  O \in Prefixes(U, E, nv, k - 1), d \in PossTop(U, E, k)} :
                k \in {k \in S!Seqs : k >= S!MaxCertSeq(U)}}

TraceValidOSets(nv) ==
    LET vcs == {m \in msgs : m.type = "ViewChange" /\ m.v = nv}
        correctSets == {V \in SUBSET vcs :
                          Cardinality(V) + Cardinality(TraceByzantine) >= S!Quorum}
        E == IF TraceByzantine = {} THEN {} ELSE S!ExistingCerts(nv)
    IN  UNION {OSetsWith(UNION {m.P : m \in V}, E, nv) : V \in correctSets}

SendKinds == {"PrePrepare", "Prepare", "Commit"}

\* The message a send event names.
EventMsg(e) ==
    CASE e.e = "PrePrepare" -> S!PrePrepareMsg(e.v, e.n, e.d)
      [] e.e = "Prepare" -> S!PrepareMsg(e.v, e.n, e.d, e.r)
      [] e.e = "Commit" -> S!CommitMsg(e.v, e.n, e.d, e.r)

\* r is in normal status in view v.
InView(r, v) == view[r] = v /\ status[r] = "normal"

\* The view r must reach before the spec can take event e.
TargetView(e) == IF e.e = "ViewChange" THEN e.v - 1 ELSE e.v

\* The O-set of the NEW-VIEW for view v that the step sent, restricted to
\* entries above mins (T3), as <<n, d>> pairs.
SentOSet(v, mins) ==
    LET nv == {m \in msgs' \ msgs : m.type = "NewView" /\ m.v = v}
    IN  {<<pp.n, pp.d>> : pp \in UNION {{pp \in m.O : pp.n > mins} : m \in nv}}

\* One action of PBFT.tla that does what event e says.
Step(e) ==
    \/ /\ e.e = "PrePrepare"
       /\ S!SendPrePrepare(e.r, e.v, e.n, e.d)
    \/ /\ e.e = "Prepare"
       /\ S!AcceptPrePrepare(e.r, e.v, e.n, e.d)
    \/ /\ e.e = "Commit"
       /\ S!SendCommit(e.r, e.v, e.n, e.d)
    \/ /\ e.e \in SendKinds
       /\ InView(e.r, e.v)
       /\ S!Remembers(EventMsg(e))
       /\ UNCHANGED specVars
    \/ /\ e.e = "ViewChange"
       /\ view[e.r] = e.v - 1
       /\ S!StartViewChange(e.r)
    \/ /\ e.e = "NewView"
       /\ S!SendNewView(e.r, e.v)
       /\ SentOSet(e.v, e.mins) = e.O
    \/ /\ e.e = "Enter"
       /\ \/ InView(e.r, e.v) /\ UNCHANGED specVars
          \/ e.r # S!Primary(e.v) /\ S!AcceptNewView(e.r, e.v)
    \/ /\ e.e = "Execute"
       /\ \E v \in S!Views : S!CommittedLocal(e.r, v, e.n, e.d)
       /\ UNCHANGED specVars
    \/ /\ e.e = "Fetched"
       /\ \E v \in S!Views : Cardinality(S!CommitSigners(v, e.n, e.d)) >= S!Quorum
       /\ UNCHANGED specVars
    \/ /\ e.e = "Restart"
       /\ S!CrashRestart(e.r)

\* A step of the spec the log does not show, bringing e's replica towards
\* e's view (H1, H2).
Hidden(e) ==
    \/ /\ e.e \in {"Prepare", "Commit", "Enter", "ViewChange"}
       /\ view[e.r] < TargetView(e)
       /\ S!StartViewChange(e.r)
    \/ /\ e.e \in {"Prepare", "Commit"}
       /\ view[e.r] = e.v
       /\ status[e.r] = "view-change"
       /\ e.r # S!Primary(e.v)
       /\ S!AcceptNewView(e.r, e.v)

TraceInit ==
    /\ S!Init
    /\ i = 0

TraceNext ==
    /\ i < Len(Trace)
    /\ \/ Step(Trace[i + 1]) /\ i' = i + 1
       \/ Hidden(Trace[i + 1]) /\ UNCHANGED i

\* Violated exactly when the whole trace was consumed: a counterexample to
\* this invariant is the behaviour of the spec that matches the trace.
TraceNotAccepted == i < Len(Trace)

\* A state constraint that is always true and prints each new high-water
\* mark of consumed events, so a rejected trace shows how far it got.
ASSUME TLCSet(1, 0)
TraceProgress ==
    i > TLCGet(1) =>
        /\ TLCSet(1, i)
        /\ PrintT(<<"consumed", i, Trace[i].e>>)
====
