---- MODULE MC_n4_f1_neg_vc_any_cert ----
\* NEGATIVE, must violate ViewChangeSafety: the O-set takes any prepared certificate, not the highest-view one; replica 3 (a backup in views 0..2) Byzantine; views 0..2, sequence number 1.
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
    Mutation <- "vc_any_cert"
====
