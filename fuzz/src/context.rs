//! The fixed chain every target runs against: four validators, a funded account, a store with
//! a few committed blocks (for sync answers and snapshots), and the limits to decode under.

use bftledger_consensus::{batch_digest, Request};
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::PublicKey;
use bftledger_host::fixtures::{certificate, genesis, transfer};
use bftledger_ledger::{BatchInput, Genesis, MemoryBackend, Signatures, Store};
#[cfg(feature = "node")]
use bftledger_node::config::NodeConfig;

/// The chain id of the fuzz chain.
pub const CHAIN_ID: &str = "fuzz-chain";
/// Balance of the funded account (`fixtures::key(10)`), in minor units.
pub const FUNDED_BALANCE: u64 = 1_000_000_000;
/// Blocks committed in the context's store.
pub const BLOCKS: u64 = 4;
/// Transfers per committed block.
pub const TRANSFERS_PER_BLOCK: u64 = 3;

/// What the targets decode against.
pub struct Context {
    /// The genesis (validators `fixtures::key(1..=4)`).
    pub genesis: Genesis,
    /// Its validator keys.
    pub validators: Vec<PublicKey>,
    /// A local testnet node's config: its limits are the ones the targets apply.
    #[cfg(feature = "node")]
    pub config: NodeConfig,
    /// The limits the shared targets decode under.
    pub limits: Limits,
    /// A store holding [`BLOCKS`] certified blocks.
    pub store: Store,
}

/// Size limits of the targets that do not need the node crate: with feature `node` the node's
/// configured values, without it each type's hard cap (a superset: more inputs get through).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest consensus message, in bytes.
    pub max_message_bytes: usize,
    /// Largest sync response, in bytes.
    pub max_sync_response_bytes: usize,
    /// Most blocks one sync request asks for and one answer holds.
    pub max_blocks_per_request: u64,
}

impl Limits {
    #[cfg(feature = "node")]
    fn of(config: &NodeConfig) -> Limits {
        Limits {
            max_message_bytes: config.consensus.max_message_bytes,
            max_sync_response_bytes: config.p2p.max_sync_response_bytes,
            max_blocks_per_request: config.sync.max_blocks_per_request,
        }
    }

    #[cfg(not(feature = "node"))]
    fn hard_caps() -> Limits {
        use bftledger_host::sync::SyncResponse;
        Limits {
            max_message_bytes: bftledger_consensus::SignedMessage::MAX_BYTES,
            max_sync_response_bytes: SyncResponse::MAX_BYTES,
            max_blocks_per_request: u64::MAX,
        }
    }
}

impl Context {
    fn new() -> Context {
        let genesis = genesis(CHAIN_ID, FUNDED_BALANCE);
        let validators = genesis.validator_keys();
        let mut store = Store::in_backend(Box::new(MemoryBackend::new()), &genesis)
            .unwrap_or_else(|e| panic!("the fuzz genesis must open a store: {e}"));
        // Parts of the state are served only at heights whose tree is kept: keep them all.
        store.keep_trees_every(1);
        for height in 1..=BLOCKS {
            let transfers: Vec<_> = (1..=TRANSFERS_PER_BLOCK)
                .map(|i| {
                    let nonce = (height - 1) * TRANSFERS_PER_BLOCK + i;
                    transfer(CHAIN_ID, 100 + nonce, nonce)
                })
                .collect();
            let requests: Vec<Request> = transfers
                .iter()
                .map(|t| Request {
                    payload: t.to_bytes(),
                })
                .collect();
            let digest = batch_digest(&requests);
            let input = BatchInput {
                batch_digest: digest,
                transfers,
                certificate: certificate(&[0, 1, 2], height, digest).to_bytes(),
            };
            store
                .commit_batch(input, Signatures::Verify)
                .unwrap_or_else(|e| panic!("block {height} of the fuzz chain must commit: {e}"));
        }
        #[cfg(feature = "node")]
        let config = NodeConfig::local_default(0, 0);
        Context {
            genesis,
            validators,
            #[cfg(feature = "node")]
            limits: Limits::of(&config),
            #[cfg(not(feature = "node"))]
            limits: Limits::hard_caps(),
            #[cfg(feature = "node")]
            config,
            store,
        }
    }
}

thread_local! {
    static CONTEXT: Context = Context::new();
}

/// Runs `f` with this thread's context (built on first use).
pub fn with<R>(f: impl FnOnce(&Context) -> R) -> R {
    CONTEXT.with(f)
}
