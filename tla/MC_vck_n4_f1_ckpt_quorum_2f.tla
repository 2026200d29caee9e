---- MODULE MC_vck_n4_f1_ckpt_quorum_2f ----
\* As MC_vck_n4_f1_byz3, with checkpoint proofs of 2f CHECKPOINTs (Mutant::StableOnFewerCheckpoints):
\* NOT a negative model. 2f = f+1 signers include a correct one, so the model stays safe.
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
    CkMutation <- "checkpoint_quorum_2f"
====
