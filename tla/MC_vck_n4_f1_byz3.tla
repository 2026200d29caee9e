---- MODULE MC_vck_n4_f1_byz3 ----
\* Views and checkpoints: 4 replicas, f = 1, replica 3 (a backup) Byzantine; views 0..1,
\* sequence number 1, a checkpoint at every sequence number, requests a and b.
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
    CkMutation <- "none"
====
