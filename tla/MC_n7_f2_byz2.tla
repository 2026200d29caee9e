---- MODULE MC_n7_f2_byz2 ----
\* 7 replicas, f = 2 (quorum 5), replicas 1 (primary of view 1) and 3 Byzantine; views 0..2,
\* sequence numbers 1..2. Far beyond exhaustive checking: TLC's simulation mode checks random
\* behaviours of bounded depth (tla/check.sh, expected "simulate:..."). Fixes the constants of
\* PBFT.tla and nothing else.
EXTENDS Naturals, FiniteSets
VARIABLES view, status, msgs, forgot
INSTANCE PBFTProperties WITH
    N <- 7,
    F <- 2,
    Byzantine <- {1, 3},
    Values <- {"a", "b", "x"},
    Requests <- {"a", "b"},
    MaxSeq <- 2,
    MaxView <- 2,
    Mutation <- "none"
====
