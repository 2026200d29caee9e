---- MODULE MC_live_n4_f1_neg_nv_primary_not_normal ----
\* NEGATIVE, must violate Progress: the new primary of view 1 sends NEW-VIEW but stays in view-change status, so it never commits in view 1; replica 0 (primary of view 0) Byzantine; views 0..1, sequence number 1.
\* Fixes the constants of PBFT.tla and nothing else.
EXTENDS Naturals, FiniteSets
VARIABLES view, status, msgs, forgot
INSTANCE PBFTLiveness WITH
    N <- 4,
    F <- 1,
    Byzantine <- {0},
    Values <- {"a", "b", "x"},
    Requests <- {"a", "b"},
    MaxSeq <- 1,
    MaxView <- 1,
    Mutation <- "nv_primary_not_normal"
====
