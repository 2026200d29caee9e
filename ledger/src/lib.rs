//! Ledger (being written).
