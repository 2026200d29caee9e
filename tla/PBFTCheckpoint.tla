---- MODULE PBFTCheckpoint ----
(***************************************************************************)
(* Checkpoints, watermarks, log garbage collection and state transfer of   *)
(* PBFT (paper 4.3), as a separate, abstract module.                       *)
(*                                                                         *)
(* Abstraction: PBFT.tla shows Agreement, so at most one request is ever   *)
(* committed at each sequence number.  Here the commits of all correct     *)
(* replicas are therefore one partial function, decided, from sequence     *)
(* numbers to requests.  A request can be decided at n only if n lies in   *)
(* the watermark window (h, h + L] of at least f+1 correct replicas: 2f+1  *)
(* COMMITs are needed and correct replicas ignore messages outside their   *)
(* window.  On top of that the module models, per correct replica,         *)
(* in-order execution, CHECKPOINT messages every K requests, stable        *)
(* checkpoints (2f+1 matching CHECKPOINTs), the low watermark h moving to  *)
(* the stable checkpoint (which garbage-collects the log up to it), and    *)
(* state transfer for a replica whose stable checkpoint is ahead of what   *)
(* it executed.                                                            *)
(*                                                                         *)
(* Modelling simplifications:                                              *)
(*  C1. The normal case and view changes are abstracted into decided, see  *)
(*      above; views do not appear.  VIEW-CHANGE's checkpoint proof (the   *)
(*      min-s of the O-set) is modelled in PBFTViewCheckpoint.tla.         *)
(*  C2. A state digest is the executed history itself (the function from   *)
(*      1..n to requests): digests are collision-free.                     *)
(*  C3. Byzantine replicas sign a CHECKPOINT for every (n, digest); as in   *)
(*      PBFT.tla they are not given actions (CheckpointSigners answers     *)
(*      TRUE for them).  State fetched by state transfer is checked        *)
(*      against the stable checkpoint's digest, so it is that state.       *)
(*  C4. Sequence numbers are bounded by MaxSeq.                            *)
(***************************************************************************)
EXTENDS Naturals, FiniteSets

CONSTANTS
    N,          \* number of replicas, replicas are 0..N-1
    F,          \* faults tolerated; N >= 3F+1
    Byzantine,  \* the faulty replicas, at most F of them
    Values,     \* requests
    MaxSeq,     \* sequence numbers are 1..MaxSeq
    K,          \* checkpoint interval: a checkpoint every K sequence numbers
    L,          \* log window: a replica accepts n only if h < n <= h + L
    Mutation    \* "none", or "checkpoint_quorum_f": stable with f signatures,
                \* or "no_high_watermark": execution ignores the high watermark

VARIABLES
    decided,    \* decided[n]: the request committed at n, or NoRequest
    executed,   \* executed[i]: the last sequence number correct replica i executed
    state,      \* state[i]: i's service state, the history 1..executed[i] -> request
    stable,     \* stable[i]: sequence number of i's stable checkpoint, its low watermark h
    ckpts       \* CHECKPOINT messages sent by correct replicas

ckVars == <<decided, executed, state, stable, ckpts>>

Replicas == 0..(N - 1)
Correct == Replicas \ Byzantine
Seqs == 1..MaxSeq
NoRequest == "none"

ASSUME
    /\ N \in 1..20 /\ F \in 0..6 /\ N >= 3 * F + 1
    /\ Byzantine \subseteq Replicas /\ Cardinality(Byzantine) <= F
    /\ NoRequest \notin Values
    /\ MaxSeq \in 1..10 /\ K \in 1..MaxSeq /\ L \in K..MaxSeq
    /\ Mutation \in {"none", "checkpoint_quorum_f", "no_high_watermark"}

\* The strong quorum ceil((N+F+1)/2) as in PBFT.tla (2f+1 when N = 3f+1).
\* Implemented by: consensus/src/quorum.rs  Quorum::strong
Quorum == IF Mutation = "checkpoint_quorum_f" THEN F ELSE (N + F + 2) \div 2

\* The state after executing 1..n, as a digest (C2).
History(n) == [m \in 1..n |-> decided[m]]

\* Every state digest a CHECKPOINT for n can carry.
Digests(n) == [1..n -> Values]

CheckpointMsg(n, d, r) == [n |-> n, d |-> d, r |-> r]

CheckpointSigners(n, d) ==
    {r \in Replicas : r \in Byzantine \/ CheckpointMsg(n, d, r) \in ckpts}

InWindow(i, n) == stable[i] < n /\ n <= stable[i] + L

(***************************************************************************)
(* Actions.                                                                *)
(***************************************************************************)
\* A request is committed at n (by PBFT.tla's normal case or a new view).
\* Implemented by: consensus/src/normal_case.rs  Replica::on_commit
Decide(n, d) ==
    /\ decided[n] = NoRequest
    /\ Cardinality({i \in Correct : InWindow(i, n)}) >= F + 1
    /\ decided' = [decided EXCEPT ![n] = d]
    /\ UNCHANGED <<executed, state, stable, ckpts>>

\* Correct replica i executes the next committed request, in order, if it is
\* below its high watermark; at every K-th it multicasts CHECKPOINT.
\* Implemented by: consensus/src/normal_case.rs  Replica::execute_committed
\*   and consensus/src/checkpoint.rs  Replica::send_checkpoint
Execute(i) ==
    LET n == executed[i] + 1 IN
    /\ n <= MaxSeq
    /\ (InWindow(i, n) \/ Mutation = "no_high_watermark")
    /\ decided[n] # NoRequest
    /\ executed' = [executed EXCEPT ![i] = n]
    /\ state' = [state EXCEPT ![i] = [m \in 1..n |-> IF m = n THEN decided[n] ELSE state[i][m]]]
    /\ ckpts' = IF n % K = 0 THEN ckpts \cup {CheckpointMsg(n, state'[i], i)} ELSE ckpts
    /\ UNCHANGED <<decided, stable>>

\* Correct replica i has 2f+1 matching CHECKPOINTs for n above its low
\* watermark: the checkpoint is stable, h moves to n and the log up to n is
\* discarded.  If i has not executed up to n it fetches the state from
\* peers and checks it against the digest d (state transfer).
\* Implemented by: consensus/src/checkpoint.rs  Replica::on_checkpoint
\*   (state transfer: the "state transfer finished" input of Replica::step)
StableCheckpoint(i, n) ==
    /\ n > stable[i]
    /\ n % K = 0
    /\ \E d \in Digests(n) :
        /\ Cardinality(CheckpointSigners(n, d)) >= Quorum
        /\ stable' = [stable EXCEPT ![i] = n]
        /\ IF executed[i] < n
           THEN /\ executed' = [executed EXCEPT ![i] = n]
                /\ state' = [state EXCEPT ![i] = d]
           ELSE UNCHANGED <<executed, state>>
    /\ UNCHANGED <<decided, ckpts>>

CkInit ==
    /\ decided = [n \in Seqs |-> NoRequest]
    /\ executed = [i \in Correct |-> 0]
    /\ state = [i \in Correct |-> [m \in 1..0 |-> NoRequest]]
    /\ stable = [i \in Correct |-> 0]
    /\ ckpts = {}

CkNext ==
    \/ \E n \in Seqs, d \in Values : Decide(n, d)
    \/ \E i \in Correct :
        \/ Execute(i)
        \/ \E n \in Seqs : StableCheckpoint(i, n)

CkSpec == CkInit /\ [][CkNext]_ckVars
====
