---- MODULE MC_n4_f1_neg_send_before_persist ----
\* NEGATIVE, must violate NoEquivocation: crash-restart (NextCrash) where a replica sends before its votes are durable, so a crash forgets a vote it sent; replica 0 (primary of view 0) Byzantine.
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
    Mutation <- "send_before_persist"
====
