//! bftledger testnet tooling. Today: the seeded deterministic cluster simulator ([`sim`]),
//! driven by the `bftledger-sim` binary:
//!
//! ```text
//! bftledger-sim --seeds 1000 --replicas 4 --byzantine 1      # 1000 seeds, summary as JSON
//! bftledger-sim --seed 17 --replicas 4 --byzantine 1 --trace # replay one seed, print its events
//! bftledger-sim --seeds 300 --mutant weak-quorum             # must find a violation
//! ```

pub mod sim;
