---- MODULE MC_n4_f1_byz0 ----
\* 4 replicas, f = 1, replica 0 (primary of view 0) Byzantine; views 0..1, sequence number 1.
\* Fixes the constants of PBFT.tla and nothing else.
EXTENDS Naturals, FiniteSets
VARIABLES view, status, msgs, forgot
INSTANCE PBFTProperties WITH
    N <- 4,
    F <- 1,
    Byzantine <- {0},
    Values <- {"a", "b", "x"},
    Requests <- {"a", "b"},
    MaxSeq <- 1,
    MaxView <- 1,
    Mutation <- "none"
====
