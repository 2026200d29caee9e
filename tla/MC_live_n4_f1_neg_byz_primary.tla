---- MODULE MC_live_n4_f1_neg_byz_primary ----
\* NEGATIVE, must violate Progress: the primary of the last view (replica 1, view 1) is Byzantine and equivocates, so one correct backup never commits; views 0..1, sequence number 1.
\* Fixes the constants of PBFT.tla and nothing else.
EXTENDS Naturals, FiniteSets
VARIABLES view, status, msgs, forgot
INSTANCE PBFTLiveness WITH
    N <- 4,
    F <- 1,
    Byzantine <- {1},
    Values <- {"a", "b", "x"},
    Requests <- {"a", "b"},
    MaxSeq <- 1,
    MaxView <- 1,
    Mutation <- "none"
====
