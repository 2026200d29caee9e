---- MODULE PBFTViewCheckpoint ----
(***************************************************************************)
(* PBFT with views AND checkpoints in one spec (issue 16): the normal case *)
(* and the prepared certificates of PBFT.tla, plus execution, CHECKPOINT   *)
(* every K sequence numbers, stable checkpoints on a quorum, garbage       *)
(* collection of prepared certificates at or below the stable checkpoint,  *)
(* state transfer, and a view change whose VIEW-CHANGE carries the stable  *)
(* checkpoint with its proof and whose O-set starts at min-s (TOCS'02      *)
(* 4.4-4.5, signature variant).  Safety only.                              *)
(*                                                                         *)
(* What is reused from PBFT.tla (by EXTENDS, unchanged): the constants,    *)
(* Quorum, Primary, the message constructors, PrePrepareSigned,            *)
(* PrepareSigners, CommitSigners, PreparedCertificate, CommittedLocal,     *)
(* PreparedAt, ExistingCerts, MaxCertSeq, ChosenDigests, Send, and the     *)
(* actions AcceptPrePrepare and SendCommit (wrapped below with the low     *)
(* watermark).  PBFT.tla's S1-S3 and S5-S9 hold here too; S4 is what this  *)
(* module lifts.  Mutation (PBFT.tla's mutants) must be "none": the        *)
(* mutants of this module are CkMutation.                                  *)
(*                                                                         *)
(* What is written again, and why:                                         *)
(*  - CkSendPrePrepare: PBFT.tla's SendPrePrepare numbers a view's         *)
(*    requests from 1 (it asks for a PRE-PREPARE at every lower seq of the *)
(*    view), which a new view that starts at min-s > 0 never has.  Here a  *)
(*    correct primary assigns the seq after the highest of its stable      *)
(*    checkpoint, what it executed (or fetched) and its PRE-PREPAREs of    *)
(*    the view, as Replica::enter_view sets last_assigned.                 *)
(*  - VcStartViewChange, VcSendNewView, VcAcceptNewView: VIEW-CHANGE and   *)
(*    NEW-VIEW carry a checkpoint, and the O-set starts at min-s, so the   *)
(*    messages and the O-set computation differ from PBFT.tla's.          *)
(*                                                                         *)
(* Modelling simplifications (besides PBFT.tla's S1-S3, S5-S9):            *)
(*  V1. A state digest is the executed history itself, a function from     *)
(*      1..n to digests (PBFTCheckpoint.tla's C2): collision-free, and a   *)
(*      checkpoint "matches the decided prefix" iff each entry is a        *)
(*      request correct replicas committed there.                          *)
(*  V2. Byzantine replicas sign a CHECKPOINT for every (n, digest), n a    *)
(*      multiple of K (S2: CheckpointSigners answers TRUE for them).  A    *)
(*      Byzantine VIEW-CHANGE carries any checkpoint with a valid proof    *)
(*      (or genesis) and any subset of the existing prepared certificates  *)
(*      above it (validate_view_change rejects certificates at or below    *)
(*      its checkpoint).                                                   *)
(*  V3. State transfer is one atomic step: the fetched state is the        *)
(*      proof's digest (the driver checks the state against it).  With a  *)
(*      quorum proof the checkpoint is then stable at the replica (the     *)
(*      code first raises the window's floor, which a VIEW-CHANGE reports, *)
(*      then makes it stable when the transfer is done; a VIEW-CHANGE in   *)
(*      between reports the same proof).  With only f+1 matching           *)
(*      CHECKPOINTs the replica fetches but its stable checkpoint, its     *)
(*      window and what its VIEW-CHANGE reports stay where they were, and  *)
(*      it then signs its own CHECKPOINT for the fetched state.            *)
(*  V4. The stable checkpoint is not a variable but Stable(i): the highest *)
(*      checkpoint up to what i executed whose digest (i's own state       *)
(*      there) has a quorum proof.  A replica adopts a stable checkpoint   *)
(*      the moment the quorum's CHECKPOINTs exist, and with it the low     *)
(*      watermark and the collection of its prepared certificates up to    *)
(*      it.  This removes the behaviours in which a replica that could     *)
(*      adopt a checkpoint has not yet (it then reports an older           *)
(*      checkpoint and more certificates), to keep the model small         *)
(*      enough for tla-checker.  A proof learnt from a VIEW-CHANGE         *)
(*      (Replica::on_view_change) or NEW-VIEW is a quorum of CHECKPOINTs   *)
(*      that exist, so it is covered too.                                  *)
(*  V5. No high watermark: the window (h, h + L] is PBFTCheckpoint.tla's   *)
(*      concern; here every model has MaxSeq <= L.  The low watermark is   *)
(*      modelled: a replica neither prepares nor commits at or below its   *)
(*      stable checkpoint.                                                 *)
(*  V6. Mutants (CkMutation; "none" is the real protocol):                 *)
(*      "checkpoint_quorum_f": a checkpoint proof (stable checkpoint,      *)
(*      VIEW-CHANGE, NEW-VIEW, state transfer) needs only f CHECKPOINTs.   *)
(*      "checkpoint_quorum_2f": 2f CHECKPOINTs                             *)
(*      (Mutant::StableOnFewerCheckpoints at N = 4).  Not a safety bug:    *)
(*      2f >= f+1 signers include a correct one, so the digest is a state  *)
(*      a correct replica executed; what it loses is availability (f+1     *)
(*      correct holders of the state).  The model checks it stays safe.    *)
(*      "fetch_forgets_prepared": when a replica asks for the state of a   *)
(*      checkpoint with only f+1 matching CHECKPOINTs, it discards its     *)
(*      prepared certificates up to that seq, while its VIEW-CHANGE still  *)
(*      reports the old stable checkpoint (Mutant::FetchForgetsPrepared).  *)
(***************************************************************************)
EXTENDS PBFT

CONSTANTS
    K,          \* checkpoint interval: a CHECKPOINT every K sequence numbers
    CkMutation  \* "none", or a broken checkpoint rule for a negative model (V6)

VARIABLES
    executed,   \* executed[i]: the last seq correct replica i executed or fetched
    hist,       \* hist[i]: i's service state, the history 1..executed[i] -> digest (V1)
    discarded,  \* discarded[i]: mutant "fetch_forgets_prepared" only: i dropped its
                \*   prepared certificates at seqs <= this (0 in the real protocol)
    ckpts       \* every CHECKPOINT message sent by a correct replica

ckVars == <<executed, hist, discarded, ckpts>>
vcVars == <<view, status, msgs, forgot, executed, hist, discarded, ckpts>>

CkMutations == {"none", "checkpoint_quorum_f", "checkpoint_quorum_2f", "fetch_forgets_prepared"}

ASSUME
    /\ K \in 1..MaxSeq
    /\ CkMutation \in CkMutations
    /\ Mutation = "none"

MaxOf(S) == CHOOSE x \in S : \A y \in S : y <= x

\* Sequence numbers that carry a checkpoint.
CkSeqs == {n \in Seqs : n % K = 0}

\* The state digests a CHECKPOINT for n can carry: histories 1..n -> digest (V1).
StateDigests(n) == [1..n -> Digests]

\* A checkpoint [n, d]; genesis is seq 0 with the empty history, and needs no proof.
Ck(n, d) == [n |-> n, d |-> d]
Genesis == Ck(0, [m \in 1..0 |-> NullDigest])

\* Implemented by: consensus/src/message.rs  Checkpoint
CheckpointMsg(n, d, r) == [n |-> n, d |-> d, r |-> r]

CheckpointSigners(n, d) ==
    {r \in Replicas : r \in Byzantine \/ CheckpointMsg(n, d, r) \in ckpts}

\* The signatures a checkpoint proof needs: the strong quorum of PBFT.tla
\* (2f+1 at N = 3f+1); with the mutant "checkpoint_quorum_f", f; with
\* "checkpoint_quorum_2f", 2f (Mutant::StableOnFewerCheckpoints at N = 4).
\* Implemented by: consensus/src/quorum.rs  Quorum::checkpoint_votes_needed
CkQuorum == CASE CkMutation = "checkpoint_quorum_f" -> F
              [] CkMutation = "checkpoint_quorum_2f" -> 2 * F
              [] OTHER -> Quorum

\* A valid stable-checkpoint proof for [n, d]: CkQuorum matching CHECKPOINTs.
\* Implemented by: consensus/src/message.rs  CheckpointProof::verify_with
\*   (checked in validate_view_change for VIEW-CHANGE and NEW-VIEW)
StrongProof(n, d) == n = 0 \/ Cardinality(CheckpointSigners(n, d)) >= CkQuorum

\* f+1 matching CHECKPOINTs: one signer is correct, enough to fetch the state
\* (TOCS'02 6.2), not to call it stable.
\* Implemented by: consensus/src/message.rs  CheckpointProof::verify_weak,
\*   consensus/src/quorum.rs  Quorum::weak
WeakProof(n, d) == Cardinality(CheckpointSigners(n, d)) >= F + 1

\* Every checkpoint with a valid proof: what a Byzantine VIEW-CHANGE can report.
ValidCheckpoints ==
    {Genesis} \cup
    UNION {{Ck(n, d) : d \in {d \in StateDigests(n) : StrongProof(n, d)}} : n \in CkSeqs}

\* Messages of the view change with checkpoints.
\* Implemented by: consensus/src/message.rs  ViewChange, NewView
VCMsg(v, ck, P, r) == [type |-> "ViewChange", v |-> v, ck |-> ck, P |-> P, r |-> r]
NVMsg(v, ck, O) == [type |-> "NewView", v |-> v, ck |-> ck, O |-> O]

\* The stable checkpoint of correct replica i, its low watermark: the
\* highest checkpoint up to what it executed (or fetched) whose digest, its
\* own state there, has a quorum proof (V4: adopted as soon as the proof
\* exists).  Genesis if none.
\* Implemented by: consensus/src/checkpoint.rs  Replica::check_stable,
\*   Replica::adopt_stable_proof, Replica::make_stable (Checkpoints::stable)
Stable(i) ==
    LET ns == {n \in CkSeqs : /\ n <= executed[i]
                              /\ StrongProof(n, [m \in 1..n |-> hist[i][m]])}
        top == MaxOf({0} \cup ns)
    IN  Ck(top, [m \in 1..top |-> hist[i][m]])

\* A correct replica fetches the state of checkpoint ck if it is behind it
\* (state transfer, V3); otherwise nothing changes (the checkpoint is then
\* stable at i by Stable(i), as i's own state matches it).
\* Implemented by: consensus/src/checkpoint.rs  Replica::adopt_stable_proof,
\*   Replica::request_fetch, Replica::raise_floor, Replica::on_state_transferred
AdoptCheckpoint(i, ck) ==
    IF executed[i] >= ck.n
    THEN UNCHANGED <<executed, hist>>
    ELSE /\ executed' = [executed EXCEPT ![i] = ck.n]
         /\ hist' = [hist EXCEPT ![i] = ck.d]

(***************************************************************************)
(* Normal case, with the low watermark.                                    *)
(***************************************************************************)
\* The primary of v assigns the next sequence number to request d: the one
\* after what it executed or fetched (so after its stable checkpoint), the
\* seq it is fetching (with the mutant, discarded[p]) and its PRE-PREPAREs
\* of the view (so after the O-set of a new view).  Written again, see the
\* header.
\* Implemented by: consensus/src/normal_case.rs  Replica::propose_batch
\*   (last_assigned: consensus/src/view_change.rs  Replica::enter_view,
\*   consensus/src/checkpoint.rs  Replica::request_fetch)
CkSendPrePrepare(p, v, n, d) ==
    /\ p = Primary(v)
    /\ view[p] = v
    /\ status[p] = "normal"
    /\ d \in Requests
    /\ n = 1 + MaxOf({executed[p], discarded[p]} \cup
                     {m.n : m \in {m \in msgs : m.type = "PrePrepare" /\ m.v = v}})
    \* d is not already ordered in this view (S6)
    /\ \A m \in Seqs : ~Remembers(PrePrepareMsg(v, m, d))
    /\ Send({PrePrepareMsg(v, n, d)})
    /\ UNCHANGED <<view, status>>
    /\ UNCHANGED ckVars

\* PBFT.tla's AcceptPrePrepare above the low watermark.
\* Implemented by: consensus/src/normal_case.rs  Replica::on_pre_prepare
\*   (window: Replica::in_window, Checkpoints::window_low)
CkAcceptPrePrepare(i, v, n, d) ==
    /\ n > Stable(i).n
    /\ AcceptPrePrepare(i, v, n, d)
    /\ UNCHANGED ckVars

\* PBFT.tla's SendCommit above the low watermark.
\* Implemented by: consensus/src/normal_case.rs  Replica::on_prepare
CkSendCommit(i, v, n, d) ==
    /\ n > Stable(i).n
    /\ SendCommit(i, v, n, d)
    /\ UNCHANGED ckVars

(***************************************************************************)
(* Execution, checkpoints and state transfer (paper 4.3).                  *)
(***************************************************************************)
\* Correct replica i executes the next seq, committed-local at i in some
\* view; at every K-th seq it multicasts CHECKPOINT(n, state, i).
\* Implemented by: consensus/src/normal_case.rs  Replica::execute_committed,
\*   consensus/src/checkpoint.rs  Replica::on_executed, Replica::send_checkpoint
Execute(i) ==
    LET n == executed[i] + 1 IN
    /\ n <= MaxSeq
    /\ \E v \in Views, d \in Digests :
        /\ CommittedLocal(i, v, n, d)
        /\ hist' = [hist EXCEPT ![i] = [m \in 1..n |-> IF m = n THEN d ELSE hist[i][m]]]
    /\ executed' = [executed EXCEPT ![i] = n]
    /\ ckpts' = IF n % K = 0 THEN ckpts \cup {CheckpointMsg(n, hist'[i], i)} ELSE ckpts
    /\ UNCHANGED <<view, status, msgs, forgot, discarded>>

\* Correct replica i, behind n, holds a quorum proof for checkpoint [n, d]
\* (from CHECKPOINTs or a VIEW-CHANGE, V4): it fetches the state, and the
\* checkpoint is stable at i.
\* Implemented by: consensus/src/checkpoint.rs  Replica::on_checkpoint,
\*   Replica::check_stable (count >= strong), Replica::adopt_stable_proof
StrongFetch(i, n, d) ==
    /\ n > executed[i]
    /\ StrongProof(n, d)
    /\ AdoptCheckpoint(i, Ck(n, d))
    /\ UNCHANGED <<view, status, msgs, forgot, discarded, ckpts>>

\* Correct replica i, behind n, holds f+1 (but fewer than CkQuorum) matching
\* CHECKPOINTs for n: it fetches the state (one signer is correct), then
\* signs its own CHECKPOINT for it, which may complete the quorum.  Until
\* then its stable checkpoint, its window and what its VIEW-CHANGE reports
\* stay where they were, and so do its prepared certificates
\* (safety-holes issue, item 1: a correct replica never forgets a prepared
\* certificate above the checkpoint it would report).
\* Implemented by: consensus/src/checkpoint.rs  Replica::check_stable
\*   (count >= weak), Replica::request_fetch (drop_slots_upto, not
\*   collect_garbage), Replica::on_state_transferred (send_checkpoint)
WeakFetch(i, n, d) ==
    /\ n > executed[i]
    /\ WeakProof(n, d)
    /\ ~StrongProof(n, d)
    /\ executed' = [executed EXCEPT ![i] = n]
    /\ hist' = [hist EXCEPT ![i] = d]
    /\ ckpts' = ckpts \cup {CheckpointMsg(n, d, i)}
    /\ UNCHANGED <<view, status, msgs, forgot, discarded>>

\* Mutant "fetch_forgets_prepared" only: when it asks for the state of a
\* checkpoint with only f+1 matching CHECKPOINTs (before the transfer, which
\* WeakFetch then completes, or not), replica i discards its prepared
\* certificates up to n, while its stable checkpoint, which its VIEW-CHANGE
\* reports, stays.  In the real protocol this request changes nothing the
\* model shows (the code drops only the log slots), so it is no step.
\* Implemented by: consensus/src/checkpoint.rs  Replica::request_fetch
\*   under Mutant::FetchForgetsPrepared (collect_garbage on a weak proof)
FetchForgetsPrepared(i, n, d) ==
    /\ CkMutation = "fetch_forgets_prepared"
    /\ n > executed[i]
    /\ n > discarded[i]
    /\ WeakProof(n, d)
    /\ ~StrongProof(n, d)
    /\ discarded' = [discarded EXCEPT ![i] = n]
    /\ UNCHANGED <<view, status, msgs, forgot, executed, hist, ckpts>>

(***************************************************************************)
(* View change with checkpoints (paper 4.4).                               *)
(***************************************************************************)
\* The prepared certificates i holds: those above its stable checkpoint
\* (collected below it) and above what the mutant discarded.
\* Implemented by: consensus/src/log.rs  Log::prepared, Log::collect_garbage
HeldCerts(i) == {c \in PreparedAt(i) : c.n > MaxOf({Stable(i).n, discarded[i]})}

\* Replica i times out and multicasts VIEW-CHANGE(view+1, n, C, P, i): its
\* stable checkpoint with the proof (C exists in ckpts, V2) and the
\* prepared certificates it holds above it.
\* Implemented by: consensus/src/view_change.rs  Replica::start_view_change
\*   (Checkpoints::reported)
VcStartViewChange(i) ==
    /\ view[i] < MaxView
    /\ Send({VCMsg(view[i] + 1, Stable(i), HeldCerts(i), i)})
    /\ view' = [view EXCEPT ![i] = view[i] + 1]
    /\ status' = [status EXCEPT ![i] = "view-change"]
    /\ UNCHANGED ckVars

\* What a valid set V of VIEW-CHANGEs for nv can carry: the checkpoints it
\* reports (cks) and the union of its prepared certificates (C).  V has the
\* correct senders' VIEW-CHANGEs S, and the Byzantine ones, which report any
\* valid checkpoint and any existing certificates above it (V2).
VSets(nv) ==
    LET vcs == {m \in msgs : m.type = "ViewChange" /\ m.v = nv}
        byzClaims ==
            IF Byzantine = {} THEN {[ck |-> Genesis, P |-> {}]}
            ELSE UNION {{[ck |-> c, P |-> B] :
                            B \in SUBSET {x \in ExistingCerts(nv) : x.n > c.n}} :
                        c \in ValidCheckpoints}
        correctSets == {S \in SUBSET vcs : Cardinality(S) + Cardinality(Byzantine) >= Quorum}
    IN  {[cks |-> {m.ck : m \in S} \cup {b.ck}, C |-> UNION {m.P : m \in S} \cup b.P] :
            S \in correctSets, b \in byzClaims}

\* The NEW-VIEWs [ck, O] computable from one V: min-s is the highest
\* checkpoint reported in V (with its proof), max-s the highest seq of a
\* certificate above it; O has, for each n in min-s+1..max-s, the digest of
\* the certificate of the highest view at n, or the null request.
\* Certificates at or below min-s are ignored.
\* Implemented by: consensus/src/view_change.rs  compute_o_set
NewViewsFrom(vs, nv) ==
    UNION {
        LET C == {c \in vs.C : c.n > ck.n}
            top == IF C = {} THEN ck.n ELSE MaxCertSeq(C)
            range == (ck.n + 1)..top
        IN  {[ck |-> ck, O |-> {PrePrepareMsg(nv, n, f[n]) : n \in range}] :
                f \in {f \in [range -> Digests] : \A n \in range : f[n] \in ChosenDigests(C, n)}} :
        ck \in {c \in vs.cks : \A c2 \in vs.cks : c2.n <= c.n}}

\* Every NEW-VIEW a backup would accept for view nv.
\* Implemented by: consensus/src/view_change.rs  Replica::validate_new_view
ValidNewViews(nv) == UNION {NewViewsFrom(vs, nv) : vs \in VSets(nv)}

\* The correct primary of nv, with a quorum of VIEW-CHANGEs, multicasts
\* NEW-VIEW(nv, V, O), pre-prepares O, adopts min-s's checkpoint (fetching
\* its state if behind) and enters nv.
\* Implemented by: consensus/src/view_change.rs  Replica::send_new_view,
\*   Replica::enter_view
VcSendNewView(p, nv) ==
    /\ p = Primary(nv)
    /\ view[p] = nv
    /\ status[p] = "view-change"
    /\ \E nvw \in ValidNewViews(nv) :
        /\ Send({NVMsg(nv, nvw.ck, nvw.O)} \cup nvw.O)
        /\ AdoptCheckpoint(p, nvw.ck)
    /\ status' = [status EXCEPT ![p] = "normal"]
    /\ UNCHANGED <<view, discarded, ckpts>>

\* Backup i accepts a NEW-VIEW for its view (from a correct primary the one
\* it sent; from a Byzantine one any valid one, S2), adopts its checkpoint
\* (fetching the state if behind), enters the view and prepares the entries
\* of O above its stable checkpoint.
\* Implemented by: consensus/src/view_change.rs  Replica::on_new_view,
\*   Replica::enter_view
VcAcceptNewView(i, nv) ==
    /\ i # Primary(nv)
    /\ view[i] = nv
    /\ status[i] = "view-change"
    /\ \E nvw \in IF Primary(nv) \in Byzantine
                  THEN ValidNewViews(nv)
                  ELSE {[ck |-> m.ck, O |-> m.O] :
                            m \in {m \in msgs : m.type = "NewView" /\ m.v = nv}} :
        /\ AdoptCheckpoint(i, nvw.ck)
        /\ Send({PrepareMsg(nv, pp.n, pp.d, i) :
                    pp \in {pp \in nvw.O : pp.n > MaxOf({Stable(i).n, nvw.ck.n})}})
    /\ status' = [status EXCEPT ![i] = "normal"]
    /\ UNCHANGED <<view, discarded, ckpts>>

(***************************************************************************)
(* The specification.                                                      *)
(***************************************************************************)
VcInit ==
    /\ Init
    /\ executed = [i \in Correct |-> 0]
    /\ hist = [i \in Correct |-> Genesis.d]
    /\ discarded = [i \in Correct |-> 0]
    /\ ckpts = {}

VcNext ==
    \/ \E i \in Correct, n \in Seqs, d \in Requests : CkSendPrePrepare(i, view[i], n, d)
    \/ \E i \in Correct, n \in Seqs, d \in Values : CkAcceptPrePrepare(i, view[i], n, d)
    \/ \E i \in Correct, n \in Seqs, d \in Digests : CkSendCommit(i, view[i], n, d)
    \/ \E i \in Correct :
        \/ Execute(i)
        \/ VcStartViewChange(i)
        \/ VcSendNewView(i, view[i])
        \/ VcAcceptNewView(i, view[i])
        \/ \E n \in CkSeqs : \E d \in StateDigests(n) :
            \/ StrongFetch(i, n, d)
            \/ WeakFetch(i, n, d)
            \/ FetchForgetsPrepared(i, n, d)

VcSpec == VcInit /\ [][VcNext]_vcVars
====
