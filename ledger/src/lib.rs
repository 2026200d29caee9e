//! The bftledger ledger: what consensus orders, this crate executes and keeps.
//!
//! It knows nothing of PBFT beyond "a committed batch at a sequence number, with its certificate"
//! (kept as opaque bytes), and does not depend on the consensus crate.
//!
//! * [`transfer`]: [`Transfer`], [`SignedTransfer`], stateless checks, [`verify_signatures`],
//!   decoding request payloads ([`decode_and_check_batch`]).
//! * [`decimal_u64`]: u64 amounts and nonces as decimal strings in JSON (binary unchanged).
//! * [`genesis`]: the [`Genesis`] file (TOML), validated; its hash identifies the chain.
//! * [`state`]: [`State::apply`] executes a batch deterministically into [`Receipt`]s and
//!   maintains the [`State::state_root`]; total supply asserted.
//! * [`state_tree`]: the authenticated account tree whose root is the state root (its exact
//!   definition, for external verifiers) and [`AccountProof`]s of an account or its absence.
//! * [`block`]: [`Block`], its [`BlockHeader`] and hash (a deterministic function of what was
//!   agreed: no view, no certificate), [`CertifiedBlock`]; the checkpoint digest is defined there.
//! * [`store`]: [`Store`] on RocksDB or in memory (one [`Backend`] seam): one atomic synced write
//!   per block, crash recovery, queries,
//!   a column family reserved for the consensus layer.
//! * [`snapshot`]: [`Snapshot`] export/import verified against a checkpoint digest (state
//!   transfer).
//!
//! How the node drives it, per committed batch (sequence number `seq`):
//!
//! ```no_run
//! # use bftledger_ledger::*;
//! # fn run(genesis: Genesis, payloads: Vec<Vec<u8>>, seq: u64,
//! #        digest: bftledger_crypto::Digest, cert: Vec<u8>) -> Result<(), Box<dyn std::error::Error>> {
//! let mut store = Store::open_or_create(std::path::Path::new("data/ledger"), &genesis)?;
//! // Before preparing a proposed batch (consensus `Application::validate_batch`):
//! let transfers = decode_and_check_batch(&payloads, &genesis.chain_id)?;
//! // When the batch commits (signatures were checked above, on 2f+1 replicas):
//! assert_eq!(seq, store.latest_height() + 1);
//! let block = store.commit_batch(BatchInput { batch_digest: digest, transfers,
//!                                             certificate: cert }, Signatures::AlreadyVerified)?;
//! // Tell consensus the checkpoint digest, the block hash: Input::Executed { seq, state_root: block.hash() }
//! # Ok(()) }
//! ```

pub mod block;
pub mod decimal_u64;
pub mod error;
pub mod genesis;
pub mod snapshot;
pub mod snapshot_part;
pub mod state;
pub mod state_tree;
pub mod store;
pub mod transfer;

pub use block::{
    receipts_digest, Block, BlockHeader, CertifiedBlock, MAX_BLOCK_TRANSFERS, MAX_CERTIFICATE_BYTES,
};
pub use error::{
    GenesisError, InvalidPayloads, PayloadError, RejectReason, SnapshotError, StoreError,
    TransferError,
};
pub use genesis::{Genesis, InitialBalance, Validator};
pub use snapshot::Snapshot;
pub use snapshot_part::{SnapshotAssembly, SnapshotPart, MAX_PART_ACCOUNTS};
pub use state::{state_root_of, Account, Receipt, Signatures, State};
pub use state_tree::{AccountProof, ProofError, Region, RegionContent, StateTree, Terminal};
pub use store::{
    free_disk_bytes, Backend, BatchInput, ConsensusEntry, ConsensusOp, MemoryBackend,
    ProvenAccount, RocksBackend, StableCheckpoint, Store, TransferRecord, TransferStatus,
    KEPT_BELOW_STABLE, LOW_DISK_BYTES, MAX_KEPT_TREES, MIN_FREE_DISK_BYTES,
};
pub use transfer::{
    decode_and_check_batch, decode_batch, decode_payload, verify_signatures, SignedTransfer,
    Transfer, MAX_CHAIN_ID_BYTES, MAX_MEMO_BYTES,
};
