---- MODULE MC_n6_f1_byz1 ----
\* 6 replicas, f = 1 (quorum ceil((N+F+1)/2) = 4, not 2f+1 = 3), replica 1 (primary of view 1)
\* Byzantine; views 0..1, sequence number 1, one client request "a" (and "x", unsigned): 555,348
\* states, TLC only (--all). With two requests it had 1,104,834 even before Byzantine primaries
\* could pre-prepare the null request. Fixes the constants of PBFT.tla and nothing else.
EXTENDS Naturals, FiniteSets
VARIABLES view, status, msgs, forgot
INSTANCE PBFTProperties WITH
    N <- 6,
    F <- 1,
    Byzantine <- {1},
    Values <- {"a", "x"},
    Requests <- {"a"},
    MaxSeq <- 1,
    MaxView <- 1,
    Mutation <- "none"
====
