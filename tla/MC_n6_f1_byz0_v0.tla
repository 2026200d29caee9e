---- MODULE MC_n6_f1_byz0_v0 ----
\* 6 replicas, f = 1 (quorum ceil((N+F+1)/2) = 4, not 2f+1 = 3), replica 0 (primary of view 0)
\* Byzantine; view 0 only (no view change), sequence number 1. The normal case at N > 3f+1, where
\* the quorum size matters, small enough for CI; MC_n6_f1_byz1 adds a view change (555,348
\* states). Fixes the constants of PBFT.tla and nothing else.
EXTENDS Naturals, FiniteSets
VARIABLES view, status, msgs, forgot
INSTANCE PBFTProperties WITH
    N <- 6,
    F <- 1,
    Byzantine <- {0},
    Values <- {"a", "b", "x"},
    Requests <- {"a", "b"},
    MaxSeq <- 1,
    MaxView <- 0,
    Mutation <- "none"
====
