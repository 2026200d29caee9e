---- MODULE MC_n5_f1_neg_quorum_classic ----
\* Negative model: 5 replicas, f = 1, quorums of 2f+1 = 3 (the classic size) instead of
\* ceil((N+F+1)/2) = 4. Replica 0, the primary of view 0, is Byzantine. Must violate Agreement.
EXTENDS Naturals, FiniteSets
VARIABLES view, status, msgs, forgot
INSTANCE PBFTProperties WITH
    N <- 5,
    F <- 1,
    Byzantine <- {0},
    Values <- {"a", "b", "x"},
    Requests <- {"a", "b"},
    MaxSeq <- 1,
    MaxView <- 1,
    Mutation <- "quorum_classic"
====
