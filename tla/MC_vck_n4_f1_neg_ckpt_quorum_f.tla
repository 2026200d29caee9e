---- MODULE MC_vck_n4_f1_neg_ckpt_quorum_f ----
\* NEGATIVE, must violate StableCheckpointsDecided and VcAgreement: a checkpoint proof (stable
\* checkpoint, VIEW-CHANGE, NEW-VIEW, state transfer) needs only f CHECKPOINTs, so the Byzantine
\* replica alone makes a forged state stable and a correct replica fetches it.
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
    CkMutation <- "checkpoint_quorum_f"
====
