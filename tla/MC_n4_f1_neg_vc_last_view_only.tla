---- MODULE MC_n4_f1_neg_vc_last_view_only ----
\* NEGATIVE, must violate ViewChangeSafety: a VIEW-CHANGE carries only the certificates of the view being left; replica 3 (a backup in views 0..2) Byzantine; views 0..2, sequence number 1.
\* Fixes the constants of PBFT.tla and nothing else.
EXTENDS Naturals, FiniteSets
VARIABLES view, status, msgs, forgot
INSTANCE PBFTProperties WITH
    N <- 4,
    F <- 1,
    Byzantine <- {3},
    Values <- {"a", "b"},
    Requests <- {"a", "b"},
    MaxSeq <- 1,
    MaxView <- 2,
    Mutation <- "vc_last_view_only"
====
