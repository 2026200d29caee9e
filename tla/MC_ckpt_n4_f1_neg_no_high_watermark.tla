---- MODULE MC_ckpt_n4_f1_neg_no_high_watermark ----
\* NEGATIVE, must violate Watermarks: Execute leaves out the window check, so a replica executes above its high watermark h + L.
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
    Mutation <- "no_high_watermark"
====
