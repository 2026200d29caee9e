//! The bftledger validator node and its command-line tool.
//!
//! All IO of bftledger lives here. A running node ([`commands`] `node`) is:
//!
//! ```text
//!   HTTP API (api) ──transfers──▶ mempool ──┐
//!   p2p (libp2p) ──consensus frames────────▶ driver ──▶ Replica::step ──▶ Output
//!   ticker ──Tick──────────────────────────▶   │   persist (RocksDB consensus CF, synced)
//!                                              │ → send (p2p) → execute (ledger) → Input::Executed
//!   sync_worker (state transfer) ◀── fetch_state ┘
//! ```
//!
//! The command-line client commands (`transfer`, `balance`, `tx`, `block`, `status`) talk to a
//! node over the same HTTP API ([`commands::client`]).

pub mod account_proof;
pub mod admission;
pub mod api;
pub mod cli;
pub mod commands;
pub mod config;
pub mod disk;
pub mod driver;
pub mod dropped;
pub mod error;
pub mod load;
pub mod logging;
pub mod mempool;
pub mod metrics;
pub mod node_state;
pub mod p2p;
pub mod phases;
pub mod proof;
pub mod sync_worker;
#[cfg(test)]
mod test_support;
pub mod vectors;
pub mod wire;
