---- MODULE PBFTViewCheckpointProperties ----
(***************************************************************************)
(* Safety properties of PBFTViewCheckpoint.tla, each a state invariant.    *)
(***************************************************************************)
EXTENDS PBFTViewCheckpoint

VcMessageTypes == {"PrePrepare", "Prepare", "Commit", "ViewChange", "NewView"}

\* Type invariant: variables have their types; msgs and ckpts hold only
\* messages correct replicas signed; no crash forgets anything (Next has no
\* crashes); discarded stays 0 in the real protocol.
VcTypeOK ==
    /\ view \in [Correct -> Views]
    /\ status \in [Correct -> {"normal", "view-change"}]
    /\ forgot = {}
    /\ executed \in [Correct -> 0..MaxSeq]
    /\ discarded \in [Correct -> 0..MaxSeq]
    /\ CkMutation # "fetch_forgets_prepared" => discarded = [i \in Correct |-> 0]
    /\ \A i \in Correct :
        /\ hist[i] \in StateDigests(executed[i])
    /\ \A c \in ckpts : c.n \in CkSeqs /\ c.r \in Correct /\ c.d \in StateDigests(c.n)
    /\ \A m \in msgs :
        /\ m.type \in VcMessageTypes
        /\ m.v \in Views
        /\ IF m.type \in {"PrePrepare", "NewView"}
           THEN Primary(m.v) \in Correct
           ELSE m.r \in Correct

\* The requests correct replicas committed (committed-local) at n.
CommittedAt(n) ==
    {m.d : m \in {m \in msgs : /\ m.type = "Commit" /\ m.n = n
                               /\ CommittedLocal(m.r, m.v, m.n, m.d)}}

\* What correct replicas decided at n: committed there, or hold in their
\* state at n (executed, or installed by state transfer).
DecidedAt(n) ==
    CommittedAt(n) \cup {hist[i][n] : i \in {i \in Correct : executed[i] >= n}}

\* Agreement across views and checkpoints: no two correct replicas decide
\* different requests at the same seq, whether by committing it (in any
\* view) or by taking it with a state transfer.
VcAgreement ==
    \A n \in Seqs : \A d1, d2 \in DecidedAt(n) : d1 = d2

\* Every stable checkpoint of a correct replica matches the decided prefix:
\* at each seq up to it, its digest holds a request correct replicas
\* committed there (with VcAgreement: the one decided there).
StableCheckpointsDecided ==
    \A i \in Correct : \A n \in 1..Stable(i).n : Stable(i).d[n] \in CommittedAt(n)

\* The state of every correct replica is the decided prefix: at each seq it
\* executed or fetched, a request correct replicas committed there.
StateDecided ==
    \A i \in Correct : \A n \in 1..executed[i] : hist[i][n] \in CommittedAt(n)

\* View-change safety (PBFTProperties.tla's, for this module): once a
\* request is committed at (v, n), every PRE-PREPARE, PREPARE or COMMIT a
\* correct replica sends for n in a later view carries the same request.
VcViewChangeSafety ==
    \A m \in msgs :
        (m.type = "Commit" /\ CommittedLocal(m.r, m.v, m.n, m.d)) =>
            \A m2 \in msgs :
                (/\ m2.type \in {"PrePrepare", "Prepare", "Commit"}
                 /\ m2.n = m.n
                 /\ m2.v > m.v) => m2.d = m.d

\* All of the above in one run.
VcAllInvariants ==
    /\ VcTypeOK
    /\ VcAgreement
    /\ StableCheckpointsDecided
    /\ StateDecided
    /\ VcViewChangeSafety
====
