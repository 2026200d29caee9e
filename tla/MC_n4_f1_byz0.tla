---- MODULE MC_n4_f1_byz0 ----
\* 4 replicas, f = 1; replica 0, the primary of view 0, is Byzantine.
\* Views 0..1, sequence numbers 1..2, requests a and b; x is unrequested.
EXTENDS Naturals, FiniteSets
VARIABLES view, status, msgs
INSTANCE PBFTProperties WITH
    N <- 4, F <- 1, Byzantine <- {0},
    Values <- {"a", "b", "x"}, Requests <- {"a", "b"},
    MaxSeq <- 2, MaxView <- 1, Mutation <- "none"
====
