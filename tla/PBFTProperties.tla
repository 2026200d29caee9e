---- MODULE PBFTProperties ----
(***************************************************************************)
(* Safety properties of PBFT.tla, each a state invariant over msgs, the    *)
(* messages correct replicas sent.  One .cfg per property checks it.       *)
(***************************************************************************)
EXTENDS PBFT

\* Type invariant: variables have their types, and msgs holds only messages
\* signed by correct replicas (Byzantine ones cannot forge them).
TypeOK ==
    /\ view \in [Correct -> Views]
    /\ status \in [Correct -> {"normal", "view-change"}]
    /\ \A m \in msgs : IsMessage(m)
    /\ forgot \subseteq msgs
    /\ \A m \in msgs :
        IF m.type \in {"PrePrepare", "NewView"}
        THEN Primary(m.v) \in Correct
        ELSE m.r \in Correct

CommitsSent == {m \in msgs : m.type = "Commit"}
IsCommitted(m) == CommittedLocal(m.r, m.v, m.n, m.d)

\* Agreement: no two correct replicas commit different requests at the same
\* sequence number, in the same view or in different views.
Agreement ==
    \A m1, m2 \in CommitsSent :
        (IsCommitted(m1) /\ IsCommitted(m2) /\ m1.n = m2.n) => m1.d = m2.d

\* Validity: a correct replica commits only requests a client signed and
\* sent, or the null request a NEW-VIEW uses to fill a gap.
Validity ==
    \A m \in CommitsSent :
        IsCommitted(m) => m.d \in Requests \cup {NullDigest}

\* Prepared uniqueness (paper 4.2): no two correct replicas are prepared
\* for different requests with the same view and sequence number.
PreparedUnique ==
    \A m1, m2 \in CommitsSent :
        (m1.v = m2.v /\ m1.n = m2.n) => m1.d = m2.d

\* No equivocation: a correct replica never signs two different
\* PRE-PREPARE, PREPARE or COMMIT messages for the same view and sequence
\* number, nor two different VIEW-CHANGE or NEW-VIEW messages for one view.
SameSlot(m1, m2) == m1.v = m2.v /\ m1.n = m2.n
NoEquivocation ==
    \A m1, m2 \in msgs :
        /\ ((m1.type = "PrePrepare" /\ m2.type = "PrePrepare" /\ SameSlot(m1, m2))
                => m1 = m2)
        /\ ((m1.type \in {"Prepare", "Commit"} /\ m2.type = m1.type
                /\ m1.r = m2.r /\ SameSlot(m1, m2))
                => m1 = m2)
        /\ ((m1.type = "ViewChange" /\ m2.type = "ViewChange"
                /\ m1.r = m2.r /\ m1.v = m2.v)
                => m1 = m2)
        /\ ((m1.type = "NewView" /\ m2.type = "NewView" /\ m1.v = m2.v)
                => m1 = m2)

\* View-change safety: once a request is committed at (v, n), every correct
\* replica that pre-prepares, prepares or commits at n in a later view does
\* so for the same request; in particular every NEW-VIEW re-proposes it.
ViewChangeSafety ==
    \A m \in CommitsSent : IsCommitted(m) =>
        \A m2 \in msgs :
            (/\ m2.type \in {"PrePrepare", "Prepare", "Commit"}
             /\ m2.n = m.n
             /\ m2.v > m.v) => m2.d = m.d

\* All of the above, for the larger models where one run should check all.
AllInvariants ==
    /\ TypeOK
    /\ Agreement
    /\ Validity
    /\ PreparedUnique
    /\ NoEquivocation
    /\ ViewChangeSafety
====
