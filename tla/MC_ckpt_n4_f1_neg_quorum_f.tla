---- MODULE MC_ckpt_n4_f1_neg_quorum_f ----
\* NEGATIVE, must violate StateCorrect: a checkpoint is stable with f signatures, so a Byzantine replica alone can make a false state stable.
\* Fixes the constants of PBFTCheckpoint.tla and nothing else.
EXTENDS Naturals, FiniteSets
VARIABLES decided, executed, state, stable, ckpts
INSTANCE PBFTCheckpointProperties WITH
    N <- 4,
    F <- 1,
    Byzantine <- {0},
    Values <- {"a", "b"},
    MaxSeq <- 4,
    K <- 2,
    L <- 2,
    Mutation <- "checkpoint_quorum_f"
====
