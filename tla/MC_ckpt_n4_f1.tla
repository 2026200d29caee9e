---- MODULE MC_ckpt_n4_f1 ----
\* Checkpoints: 4 replicas, f = 1, replica 0 Byzantine; sequence numbers 1..4, a checkpoint every 2, window 2.
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
    Mutation <- "none"
====
