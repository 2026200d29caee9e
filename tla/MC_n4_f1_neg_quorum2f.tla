---- MODULE MC_n4_f1_neg_quorum2f ----
\* NEGATIVE, must violate Agreement: quorums of 2f instead of 2f+1; replica 0 (primary of view 0) Byzantine.
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
    Mutation <- "quorum_2f"
====
