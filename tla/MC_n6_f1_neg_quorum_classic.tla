---- MODULE MC_n6_f1_neg_quorum_classic ----
\* Negative model: 6 replicas, f = 1, quorums of 2f+1 = 3 (the classic size) instead of
\* ceil((N+F+1)/2) = 4: two quorums of 3 out of 6 need not share any replica. Replica 0, the
\* primary of view 0, is Byzantine; view 0 only (the violation needs no view change). Must
\* violate Agreement.
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
    Mutation <- "quorum_classic"
====
