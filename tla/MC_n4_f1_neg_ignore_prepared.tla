---- MODULE MC_n4_f1_neg_ignore_prepared ----
\* NEGATIVE, must violate Agreement: the O-set ignores prepared certificates; replica 0 (primary of view 0) Byzantine.
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
    Mutation <- "vc_ignores_prepared"
====
