---- MODULE MC_vck_n4_f1_neg_fetch_forgets_prepared ----
\* NEGATIVE, must violate VcViewChangeSafety: a replica that asks for the state of a checkpoint
\* on f+1 matching CHECKPOINTs discards its prepared certificates up to it, but its VIEW-CHANGE
\* still reports the old stable checkpoint, so the new view misses a committed request.
\* Fixes the constants of PBFTViewCheckpoint.tla and nothing else.
EXTENDS Naturals, FiniteSets
VARIABLES view, status, msgs, forgot, executed, hist, discarded, ckpts
INSTANCE PBFTViewCheckpointProperties WITH
    N <- 4,
    F <- 1,
    Byzantine <- {3},
    Values <- {"a", "b"},
    Requests <- {"a", "b"},
    MaxSeq <- 1,
    MaxView <- 1,
    Mutation <- "none",
    K <- 1,
    CkMutation <- "fetch_forgets_prepared"
====
