---- MODULE PBFTCheckpointProperties ----
(***************************************************************************)
(* Safety properties of PBFTCheckpoint.tla, each a state invariant.        *)
(***************************************************************************)
EXTENDS PBFTCheckpoint

CkTypeOK ==
    /\ decided \in [Seqs -> Values \cup {NoRequest}]
    /\ executed \in [Correct -> 0..MaxSeq]
    /\ stable \in [Correct -> 0..MaxSeq]
    /\ \A i \in Correct : state[i] \in Digests(executed[i])
    /\ \A c \in ckpts : c.n \in Seqs /\ c.r \in Correct /\ c.d \in Digests(c.n)

\* Every correct replica's state is the history of decided requests up to
\* what it executed: execution is in order and exactly once, and state
\* transfer only installs correct state.
StateCorrect ==
    \A i \in Correct : state[i] = History(executed[i])

\* A stable checkpoint certifies the correct state: no digest other than the
\* history of decided requests gathers 2f+1 CHECKPOINT signatures, even
\* with the Byzantine replicas signing every digest.
StableCheckpointsCorrect ==
    \A n \in Seqs : \A d \in Digests(n) :
        (Cardinality(CheckpointSigners(n, d)) >= 2 * F + 1)
            => (d = History(n))

\* Watermarks: a correct replica has executed up to its stable checkpoint
\* (itself or by state transfer), never executes above its high watermark
\* h + L, and its stable checkpoints are at multiples of K.
Watermarks ==
    \A i \in Correct :
        /\ stable[i] <= executed[i]
        /\ executed[i] <= stable[i] + L
        /\ stable[i] % K = 0
====
