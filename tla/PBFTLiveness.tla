---- MODULE PBFTLiveness ----
(***************************************************************************)
(* Liveness of PBFT.tla after stabilisation, on small models.              *)
(*                                                                         *)
(* Stabilisation is modelled by the bound MaxView: timeouts may fire, and  *)
(* under fairness they do fire, until every correct replica is in the last *)
(* view MaxView; there no timer fires any more (StartViewChange is         *)
(* disabled).  The models choose a correct primary for MaxView.  "Timely   *)
(* messages" is weak fairness on every action of a correct replica: a      *)
(* step that stays enabled (a message that can be received and acted on)   *)
(* is eventually taken.  Byzantine replicas need no fairness: their        *)
(* messages exist from the start (S2) and they are free to stay silent.    *)
(* The f+1 join rule, timer backoff and retransmission are what make this  *)
(* fairness hold in the implementation (consensus/src/timer.rs,            *)
(* retransmit.rs); they are not modelled.                                  *)
(***************************************************************************)
EXTENDS PBFTProperties

\* Weak fairness on every step of every correct replica.
Fairness ==
    \A i \in Correct :
        /\ WF_vars(StartViewChange(i))
        /\ WF_vars(SendNewView(i, view[i]))
        /\ WF_vars(AcceptNewView(i, view[i]))
        /\ WF_vars(\E n \in Seqs, d \in Values : SendPrePrepare(i, view[i], n, d))
        /\ WF_vars(\E n \in Seqs, d \in Digests : AcceptPrePrepare(i, view[i], n, d))
        /\ WF_vars(\E n \in Seqs, d \in Digests : SendCommit(i, view[i], n, d))

LiveSpec == Init /\ [][Next]_vars /\ Fairness

\* Progress: eventually every correct replica has committed a request at
\* sequence number 1 in the last view (a client request, or the null request
\* that fills a gap in the O-set).
Progress ==
    <>(\A i \in Correct : \E d \in Digests : CommittedLocal(i, MaxView, 1, d))
====
