//! The synchronous host of a bftledger replica: the consensus core ([`bftledger_consensus`]),
//! the ledger store ([`bftledger_ledger`]), and the order in which the core's outputs are
//! honoured ([`Host`]: persist → send → execute → fetch state → events, with group commit).
//!
//! One host serves the node (which wraps it in tokio, libp2p and an HTTP API) and the
//! simulator (which wraps it in a seeded, faulty world), so the code the simulator attacks is
//! the code validators run. It does no IO beyond the store, reads no clock and draws no random
//! number.
//!
//! * [`host`]: [`Host`], [`HostIo`] (what the host asks of its surroundings), crash points.
//! * [`ledger_app`]: [`LedgerApp`], the ledger as the core's `Application` (which requests make
//!   a valid batch; a request's identity).
//! * [`verified`]: transfers already decoded and signature-checked on this replica.
//! * [`sync`]: the state-transfer protocol, its answers and the checks of what peers send.
//! * [`certified`]: the one check of a block against its commit certificate.
//! * [`state_transfer`]: which fetched state may be installed, and when a transfer is complete.

pub mod certified;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod host;
pub mod ledger_app;
pub mod state_transfer;
pub mod sync;
pub mod verified;

pub use certified::{verify_certified, CertifiedBlockError};
pub use host::{batch_input, CrashPoint, Host, HostError, HostIo, MAX_GROUP_INPUTS};
pub use ledger_app::LedgerApp;
pub use state_transfer::{FetchTarget, PartOutcome, SnapshotRefusal};
pub use verified::{SharedVerified, VerifiedTransfers};
