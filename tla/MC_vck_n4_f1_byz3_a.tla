---- MODULE MC_vck_n4_f1_byz3_a ----
\* Views and checkpoints, the CI model: as MC_vck_n4_f1_byz3 with request a only (a correct
\* primary cannot propose a conflicting request, so Agreement is about state transfer and O-sets).
\* Fixes the constants of PBFTViewCheckpoint.tla and nothing else.
EXTENDS Naturals, FiniteSets
VARIABLES view, status, msgs, forgot, executed, hist, discarded, ckpts
INSTANCE PBFTViewCheckpointProperties WITH
    N <- 4,
    F <- 1,
    Byzantine <- {3},
    Values <- {"a", "b"},
    Requests <- {"a"},
    MaxSeq <- 1,
    MaxView <- 1,
    Mutation <- "none",
    K <- 1,
    CkMutation <- "none"
====
