//! PBFT consensus core (being written).
