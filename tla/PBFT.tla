---- MODULE PBFT ----
(***************************************************************************)
(* PBFT (Castro and Liskov, OSDI'99 / TOCS'02, signature variant) as the   *)
(* bftledger consensus core implements it: pre-prepare, prepare, commit    *)
(* with 2f+1 quorums, view change with prepared certificates, new view     *)
(* with an O-set that the backups recompute.  Safety only.                 *)
(*                                                                         *)
(* Replicas are 0..N-1; the primary of view v is v % N (consensus/src).   *)
(* A set Byzantine of at most F replicas may send any message signed with  *)
(* their own keys; they cannot forge messages of correct replicas.         *)
(*                                                                         *)
(* Modelling simplifications (each one is deliberate; see README.md):      *)
(*  S1. The network is the set msgs of all messages correct replicas ever  *)
(*      sent.  A replica may receive any sent message at any time, late,   *)
(*      twice or never: loss, delay, duplication and reordering are all    *)
(*      covered.  A replica's log is not a variable: what it accepted is   *)
(*      what it sent (a backup that accepts PRE-PREPARE(v,n,d) sends       *)
(*      PREPARE(v,n,d) in the same step; prepared = sent COMMIT).          *)
(*  S2. Byzantine replicas are not given actions.  Every PRE-PREPARE,      *)
(*      PREPARE and COMMIT they could sign is taken to exist from the      *)
(*      start (the predicates ...Signed below answer TRUE for them), which *)
(*      covers any order of injection, equivocation and silence.  Their    *)
(*      VIEW-CHANGE messages may carry any subset of the prepared          *)
(*      certificates that exist (they can relay real signatures but not    *)
(*      forge them), and a Byzantine new primary may send any NEW-VIEW a   *)
(*      correct backup would validate, a different one to each backup.    *)
(*  S3. Requests are values, a request is its digest, batches have one     *)
(*      request, and all client requests (the constant Requests) are       *)
(*      issued at the start.  Values \ Requests are values no client       *)
(*      signed; a Byzantine primary may propose them.  It may also propose *)
(*      the null request in the normal case (an empty batch), and correct  *)
(*      backups accept it, as the code does (AcceptPrePrepare).  Replies   *)
(*      to clients, client timestamps and exactly-once execution are not   *)
(*      modelled.                                                          *)
(*  S4. Committed-local is a predicate on msgs (the replica sent COMMIT    *)
(*      and 2f+1 COMMITs exist), not a variable: it over-approximates when *)
(*      a replica may commit, which is sound for safety.  Execution,       *)
(*      checkpoints, watermarks and garbage collection are not in this     *)
(*      module; they are in PBFTCheckpoint.tla.  Hence min-s = 0 in the    *)
(*      O-set and VIEW-CHANGE carries no checkpoint proof.                 *)
(*  S5. Views are bounded by MaxView and sequence numbers by MaxSeq.       *)
(*      Timeouts are nondeterministic: any replica may start a view change *)
(*      at any time, which subsumes the f+1 "join a higher view" rule.     *)
(*      A backup adopts NEW-VIEW(v) only after sending VIEW-CHANGE(v).     *)
(*      Replica::on_new_view also adopts it straight from a lower view; in *)
(*      the model that replica first sends VIEW-CHANGE(v), which only adds *)
(*      a message others may use, so those behaviours are covered.         *)
(*  S6. A correct primary assigns sequence numbers consecutively and       *)
(*      proposes each request at most once per view.                       *)
(*  S7. Signatures and digests are perfect (no collisions, no forgery).    *)
(*  S8. The constant Mutation selects a deliberately broken protocol for   *)
(*      the negative models; "none" is the real protocol.  "quorum_2f":    *)
(*      quorums of 2f; "vc_ignores_prepared": the O-set ignores prepared   *)
(*      certificates; "no_request_check": backups accept a PRE-PREPARE     *)
(*      without checking that a client signed the request.                 *)
(*      "vc_any_cert": the O-set takes the digest of any prepared          *)
(*      certificate at n, not the one of the highest view.                 *)
(*      "vc_last_view_only": a correct replica's VIEW-CHANGE carries only  *)
(*      the certificates of the view it is leaving, not those it kept from *)
(*      earlier views.  Both are indistinguishable from the real protocol  *)
(*      with MaxView = 1 (every certificate is from view 0); they need     *)
(*      MaxView >= 2.  "send_before_persist": a replica sends a step's     *)
(*      messages before they are durable, so a crash can forget them (S9). *)
(*      "nv_primary_not_normal" (liveness, PBFTLiveness.tla): the new      *)
(*      primary sends NEW-VIEW but does not return to normal status, so it *)
(*      neither commits the O-set nor proposes.                            *)
(*  S9. Crash-restart (only in NextCrash; Next has no crashes).  A         *)
(*      correct replica persists before it sends (consensus/src/step_io.rs *)
(*      Output::persisted; durable.rs keys V, W, O, P): its view and       *)
(*      view-change target, its own signed votes and view-changes and its  *)
(*      prepared certificates are durable.  CrashRestart(i) is a crash     *)
(*      followed by Replica::recover: i keeps view and status, and forgets *)
(*      what recovery drops, its own PRE-PREPAREs and PREPAREs of views    *)
(*      below its own (recovery.rs keeps own votes with view >= its view). *)
(*      What it received is volatile, but the model has no receive buffer: *)
(*      peers retransmit, and msgs still holds every message.  A crashed   *)
(*      replica that has not restarted yet is a slow one (S1).  The        *)
(*      variable forgot holds the messages their correct sender no longer  *)
(*      remembers; a replica's own-message checks read msgs \ forgot.      *)
(*      With the mutant "send_before_persist" a crash may also forget one  *)
(*      vote of the current view that was sent but not yet durable (a      *)
(*      real crash loses only the last step's writes; any one vote of the  *)
(*      view over-approximates that).                                      *)
(***************************************************************************)
EXTENDS Naturals, FiniteSets

CONSTANTS
    N,          \* number of replicas, replicas are 0..N-1
    F,          \* faults tolerated; N >= 3F+1
    Byzantine,  \* the faulty replicas, at most F of them
    Values,     \* every request value a message can carry
    Requests,   \* the values clients have signed and sent (subset of Values)
    MaxSeq,     \* sequence numbers are 1..MaxSeq
    MaxView,    \* views are 0..MaxView
    Mutation    \* "none", or a broken protocol for a negative model

VARIABLES
    view,       \* view[i]: the view correct replica i is in (or moving to)
    status,     \* status[i]: "normal", or "view-change" while waiting for NEW-VIEW
    msgs,       \* every message sent by a correct replica
    forgot      \* messages in msgs their correct sender forgot at a crash (S9)

vars == <<view, status, msgs, forgot>>

Replicas == 0..(N - 1)
Correct == Replicas \ Byzantine
Seqs == 1..MaxSeq
Views == 0..MaxView
NullDigest == "null"                  \* the null request that fills O-set gaps
Digests == Values \cup {NullDigest}
Mutations == {"none", "quorum_2f", "quorum_classic", "vc_ignores_prepared", "no_request_check",
              "vc_any_cert", "vc_last_view_only", "send_before_persist",
              "nv_primary_not_normal"}

ASSUME
    /\ N \in 1..20 /\ F \in 0..6 /\ N >= 3 * F + 1
    /\ Byzantine \subseteq Replicas /\ Cardinality(Byzantine) <= F
    /\ Requests \subseteq Values /\ NullDigest \notin Values
    /\ MaxSeq \in 1..10 /\ MaxView \in 0..10
    /\ Mutation \in Mutations

\* The one quorum size: ceil((N+F+1)/2) distinct replicas, which is 2f+1 when N = 3f+1. Any
\* two quorums then share at least F+1 replicas (2Q - N >= F+1), so a correct one; the classic
\* 2f+1 does not guarantee that once N > 3f+1 (N = 5, F = 1: two quorums of 3 share one
\* replica, which may be the Byzantine one). Mutants: "quorum_2f" (2f at any N) and
\* "quorum_classic" (2f+1 at any N).
\* Implemented by: consensus/src/quorum.rs  Quorum::strong
Quorum == CASE Mutation = "quorum_2f" -> 2 * F
            [] Mutation = "quorum_classic" -> 2 * F + 1
            [] OTHER -> (N + F + 2) \div 2

\* Implemented by: consensus/src/config.rs  Config::primary
Primary(v) == v % N

(***************************************************************************)
(* Messages.  Field names follow the paper: v view, n sequence number, d   *)
(* digest, r sender, P prepared certificates, O pre-prepares.              *)
(* Implemented by: consensus/src/message.rs                                *)
(***************************************************************************)
PrePrepareMsg(v, n, d) == [type |-> "PrePrepare", v |-> v, n |-> n, d |-> d]
PrepareMsg(v, n, d, r) == [type |-> "Prepare", v |-> v, n |-> n, d |-> d, r |-> r]
CommitMsg(v, n, d, r)  == [type |-> "Commit", v |-> v, n |-> n, d |-> d, r |-> r]
\* A prepared certificate, as carried in VIEW-CHANGE: <<v, n, d>> prepared.
Cert(v, n, d) == [v |-> v, n |-> n, d |-> d]
ViewChangeMsg(v, P, r) == [type |-> "ViewChange", v |-> v, P |-> P, r |-> r]
NewViewMsg(v, O) == [type |-> "NewView", v |-> v, O |-> O]

CertType == [v: Views, n: Seqs, d: Digests]
PrePrepareType == [type: {"PrePrepare"}, v: Views, n: Seqs, d: Digests]
PrepareType == [type: {"Prepare"}, v: Views, n: Seqs, d: Digests, r: Replicas]
CommitType == [type: {"Commit"}, v: Views, n: Seqs, d: Digests, r: Replicas]
ViewChangeType == [type: {"ViewChange"}, v: Views, P: SUBSET CertType, r: Replicas]
NewViewType == [type: {"NewView"}, v: Views, O: SUBSET PrePrepareType]

\* m is a well-formed message (checked field by field, so that neither
\* checker has to enumerate the message space).
IsMessage(m) ==
    \/ m \in PrePrepareType
    \/ m \in PrepareType
    \/ m \in CommitType
    \/ m \in ViewChangeType
    \/ m \in NewViewType

\* The correct replica that signed m.
Sender(m) == IF m.type \in {"PrePrepare", "NewView"} THEN Primary(m.v) ELSE m.r

\* m's sender remembers sending it: m was sent and not forgotten at a crash.
\* Every check a correct replica makes against its own messages uses this.
\* Implemented by: consensus/src/replica.rs  own_votes (restored from durable key O)
Remembers(m) == m \in msgs /\ m \notin forgot

\* Correct replicas send the messages S (after persisting them, S9).
Send(S) ==
    /\ msgs' = msgs \cup S
    /\ forgot' = forgot \ S

(***************************************************************************)
(* What signed messages exist: those correct replicas sent, plus anything  *)
(* a Byzantine replica can sign (simplification S2).                       *)
(***************************************************************************)
PrePrepareSigned(v, n, d) ==
    Primary(v) \in Byzantine \/ PrePrepareMsg(v, n, d) \in msgs

\* Backups (not the primary of v) that signed PREPARE(v, n, d).
PrepareSigners(v, n, d) ==
    {r \in Replicas \ {Primary(v)} :
        r \in Byzantine \/ PrepareMsg(v, n, d, r) \in msgs}

CommitSigners(v, n, d) ==
    {r \in Replicas : r \in Byzantine \/ CommitMsg(v, n, d, r) \in msgs}

\* A prepared certificate for <<v, n, d>> exists: a PRE-PREPARE from the
\* primary of v and 2f matching PREPAREs from distinct backups, 2f+1
\* signatures in all.  Anyone holding the messages can show it.
\* Implemented by: consensus/src/quorum.rs  Quorum::prepares_needed
\*   (checked in Replica::on_prepare and validate_view_change)
PreparedCertificate(v, n, d) ==
    /\ PrePrepareSigned(v, n, d)
    /\ Cardinality(PrepareSigners(v, n, d)) >= Quorum - 1

\* committed-local at correct replica i: i is prepared (it sent COMMIT, S1)
\* and 2f+1 distinct replicas signed matching COMMITs (S4).
\* Implemented by: consensus/src/normal_case.rs  Replica::on_commit
CommittedLocal(i, v, n, d) ==
    /\ CommitMsg(v, n, d, i) \in msgs
    /\ Cardinality(CommitSigners(v, n, d)) >= Quorum

(***************************************************************************)
(* Normal case (paper 4.2).                                                *)
(***************************************************************************)
\* The primary of view v assigns sequence number n to request d.
\* Implemented by: consensus/src/normal_case.rs  Replica::propose_batch
SendPrePrepare(p, v, n, d) ==
    /\ p = Primary(v)
    /\ view[p] = v
    /\ status[p] = "normal"
    /\ d \in Requests
    \* n is the next free sequence number of this view (S6)
    /\ \A dd \in Digests : ~Remembers(PrePrepareMsg(v, n, dd))
    /\ \A m \in 1..(n - 1) : \E dd \in Digests : Remembers(PrePrepareMsg(v, m, dd))
    \* d is not already ordered in this view (S6)
    /\ \A m \in Seqs : ~Remembers(PrePrepareMsg(v, m, d))
    /\ Send({PrePrepareMsg(v, n, d)})
    /\ UNCHANGED <<view, status>>

\* Backup i accepts PRE-PREPARE(v, n, d) and multicasts PREPARE(v, n, d, i):
\* it is in view v and normal, the request carries a client signature or is
\* the null request, and it has not accepted a different PRE-PREPARE for
\* (v, n).  The null request is acceptable in the normal case too: the code
\* accepts an empty batch from the primary (it executes nothing, which is
\* what the null request does), and a Byzantine primary may send one.  A
\* correct primary never proposes it outside an O-set (SendPrePrepare).
\* Trace validation found this (seeds 9, 27 and 35, README.md).
\* Implemented by: consensus/src/normal_case.rs  Replica::on_pre_prepare
\*   (Replica::can_accept_pre_prepare)
AcceptPrePrepare(i, v, n, d) ==
    /\ i # Primary(v)
    /\ view[i] = v
    /\ status[i] = "normal"
    /\ PrePrepareSigned(v, n, d)
    /\ (d \in Requests \cup {NullDigest} \/ Mutation = "no_request_check")
    /\ \A dd \in Digests : ~Remembers(PrepareMsg(v, n, dd, i))
    /\ Send({PrepareMsg(v, n, d, i)})
    /\ UNCHANGED <<view, status>>

\* Replica i becomes prepared(d, v, n) and multicasts COMMIT(v, n, d, i): it
\* accepted the PRE-PREPARE (sent it, as primary, or sent PREPARE, as backup)
\* and a prepared certificate exists.
\* Implemented by: consensus/src/normal_case.rs  Replica::on_prepare
SendCommit(i, v, n, d) ==
    /\ view[i] = v
    /\ status[i] = "normal"
    /\ IF i = Primary(v) THEN Remembers(PrePrepareMsg(v, n, d))
                         ELSE Remembers(PrepareMsg(v, n, d, i))
    /\ PreparedCertificate(v, n, d)
    /\ ~Remembers(CommitMsg(v, n, d, i))
    /\ Send({CommitMsg(v, n, d, i)})
    /\ UNCHANGED <<view, status>>

(***************************************************************************)
(* View change (paper 4.4).                                                *)
(***************************************************************************)
\* The prepared certificates of correct replica i, the one of the highest
\* view for each sequence number; kept across views (prepared = sent
\* COMMIT, S1).
\* Implemented by: consensus/src/log.rs  Log::record_prepared, Log::prepared
PreparedAt(i) ==
    LET mine == {m \in msgs \ forgot : m.type = "Commit" /\ m.r = i}
    IN  {Cert(m.v, m.n, m.d) :
            m \in {m \in mine : \A m2 \in mine : m2.n = m.n => m2.v <= m.v}}

\* The certificates i puts in its VIEW-CHANGE: all of PreparedAt(i); with the
\* mutant "vc_last_view_only" only those of the view it is leaving.
VCCerts(i) ==
    IF Mutation = "vc_last_view_only"
    THEN {c \in PreparedAt(i) : c.v = view[i]}
    ELSE PreparedAt(i)

\* Replica i times out in its view and multicasts VIEW-CHANGE(view+1, P, i).
\* Implemented by: consensus/src/view_change.rs  Replica::start_view_change
\*   (and the f+1 join rule of Replica::on_view_change, see S5)
StartViewChange(i) ==
    /\ view[i] < MaxView
    /\ Send({ViewChangeMsg(view[i] + 1, VCCerts(i), i)})
    /\ view' = [view EXCEPT ![i] = view[i] + 1]
    /\ status' = [status EXCEPT ![i] = "view-change"]

\* Prepared certificates that exist for views below nv: what a Byzantine
\* replica can put in its VIEW-CHANGE for nv; anything else fails
\* consensus/src/view_change.rs  validate_view_change.
ExistingCerts(nv) ==
    {c \in [v: 0..(nv - 1), n: Seqs, d: Digests] : PreparedCertificate(c.v, c.n, c.d)}

\* The sets of prepared certificates that a valid set V of 2f+1 VIEW-CHANGE
\* messages for view nv can carry: the union of the P sets of the correct
\* senders in V plus whatever the Byzantine senders in V claim.
VSetCerts(nv) ==
    LET vcs == {m \in msgs : m.type = "ViewChange" /\ m.v = nv}
        byzClaims == IF Byzantine = {} THEN {{}} ELSE SUBSET ExistingCerts(nv)
        correctSets == {S \in SUBSET vcs : Cardinality(S) + Cardinality(Byzantine) >= Quorum}
    IN  {UNION {m.P : m \in S} \cup B : S \in correctSets, B \in byzClaims}

\* max-s: the highest sequence number with a prepared certificate in V.
MaxCertSeq(C) ==
    IF C = {} THEN 0 ELSE CHOOSE n \in {c.n : c \in C} : \A c \in C : c.n <= n

\* The digests the new primary must re-propose at n: the one of the
\* certificate with the highest view, or the null request if none.
\* (Two such digests can only exist when quorums are broken.)  With the
\* mutant "vc_any_cert", the digest of any certificate at n.
ChosenDigests(C, n) ==
    LET Cn == {c \in C : c.n = n}
    IN  IF Cn = {} THEN {NullDigest}
        ELSE IF Mutation = "vc_any_cert" THEN {c.d : c \in Cn}
        ELSE {c.d : c \in {c \in Cn : \A c2 \in Cn : c2.v <= c.v}}

\* The O-sets computable from certificates C for new view nv.
OSetsFrom(C, nv) ==
    LET C2 == IF Mutation = "vc_ignores_prepared" THEN {} ELSE C
        k == MaxCertSeq(C2)
    IN  {{PrePrepareMsg(nv, n, f[n]) : n \in 1..k} :
            f \in {f \in [1..k -> Digests] : \A n \in 1..k : f[n] \in ChosenDigests(C2, n)}}

\* Every O-set a backup would accept in NEW-VIEW for view nv.
\* Implemented by: consensus/src/view_change.rs  compute_o_set
ValidOSets(nv) == UNION {OSetsFrom(C, nv) : C \in VSetCerts(nv)}

\* The correct primary of view nv has 2f+1 VIEW-CHANGE messages, multicasts
\* NEW-VIEW(nv, V, O), pre-prepares O and enters view nv.
\* Implemented by: consensus/src/view_change.rs  Replica::send_new_view
SendNewView(p, nv) ==
    /\ p = Primary(nv)
    /\ view[p] = nv
    /\ status[p] = "view-change"
    /\ \E O \in ValidOSets(nv) :
        Send({NewViewMsg(nv, O)} \cup O)
    /\ status' = IF Mutation = "nv_primary_not_normal" THEN status
                 ELSE [status EXCEPT ![p] = "normal"]
    /\ UNCHANGED view

\* Backup i accepts a NEW-VIEW for its view: from a correct primary the one it
\* sent; from a Byzantine primary any NEW-VIEW whose O-set i recomputes from
\* a valid V (S2).  i enters the view and prepares every pre-prepare in O.
\* Implemented by: consensus/src/view_change.rs  Replica::on_new_view
AcceptNewView(i, nv) ==
    /\ i # Primary(nv)
    /\ view[i] = nv
    /\ status[i] = "view-change"
    /\ \E O \in IF Primary(nv) \in Byzantine
                THEN ValidOSets(nv)
                ELSE {m.O : m \in {m \in msgs : m.type = "NewView" /\ m.v = nv}} :
        Send({PrepareMsg(nv, pp.n, pp.d, i) : pp \in O})
    /\ status' = [status EXCEPT ![i] = "normal"]
    /\ UNCHANGED view

(***************************************************************************)
(* The specification.                                                      *)
(***************************************************************************)
Init ==
    /\ view = [i \in Correct |-> 0]
    /\ status = [i \in Correct |-> "normal"]
    /\ msgs = {}
    /\ forgot = {}

Next ==
    \/ \E i \in Correct, n \in Seqs, d \in Values :
        SendPrePrepare(i, view[i], n, d)
    \/ \E i \in Correct, n \in Seqs, d \in Digests :
        \/ AcceptPrePrepare(i, view[i], n, d)
        \/ SendCommit(i, view[i], n, d)
    \/ \E i \in Correct :
        \/ StartViewChange(i)
        \/ SendNewView(i, view[i])
        \/ AcceptNewView(i, view[i])

(***************************************************************************)
(* Crash-restart (S9).                                                     *)
(***************************************************************************)
\* Own votes of correct replica i that recovery does not restore: its
\* PRE-PREPAREs and PREPAREs of views below its own.
DroppedAtRecovery(i) ==
    {m \in msgs : m.type \in {"PrePrepare", "Prepare"} /\ Sender(m) = i /\ m.v < view[i]}

\* What a crash may lose besides: nothing when i persists before it sends;
\* with "send_before_persist", one vote of the current view i already sent.
LostAtCrash(i) ==
    IF Mutation = "send_before_persist"
    THEN {{}} \cup {{m} : m \in {m \in msgs \ forgot :
                     /\ m.type \in {"PrePrepare", "Prepare", "Commit"}
                     /\ Sender(m) = i
                     /\ m.v = view[i]}}
    ELSE {{}}

\* Correct replica i crashes and recovers from its durable state.
\* Implemented by: consensus/src/recovery.rs  Replica::recover
\*   (persist before send: consensus/src/step_io.rs  Output::persisted)
CrashRestart(i) ==
    /\ \E lost \in LostAtCrash(i) :
        forgot' = forgot \cup DroppedAtRecovery(i) \cup lost
    /\ UNCHANGED <<view, status, msgs>>

\* The protocol with crash-restarts of correct replicas.
NextCrash ==
    \/ Next
    \/ \E i \in Correct : CrashRestart(i)

Spec == Init /\ [][Next]_vars
SpecCrash == Init /\ [][NextCrash]_vars
====
