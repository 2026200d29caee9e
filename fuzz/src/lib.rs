//! Fuzz targets for every decoder of bytes that reach a node from outside.
//!
//! Each [`Target`] feeds its input to the **same entry point the node uses** on untrusted bytes
//! (size limits included, with the limits of [`context::Context::config`]) and asserts:
//! * no panic (a panic from peer bytes would take a validator down);
//! * bounded memory ([`memory`]: at most [`memory::MEMORY_PER_INPUT_BYTE`] bytes per input
//!   byte plus [`memory::MEMORY_SLACK_BYTES`], or the allocator aborts the process);
//! * a round trip: whatever decodes re-encodes to an equal value, and for the canonical postcard
//!   formats to the very same bytes;
//! * and, where the node goes on to check what it decoded (signatures, certificates,
//!   snapshots, configs), that those checks return typed errors rather than panic.
//!
//! Three drivers run the targets:
//! * `bftledger-fuzz-afl TARGET` (feature `afl`): coverage-guided, for `cargo afl fuzz`
//!   (`scripts/fuzz.sh run TARGET SECONDS`);
//! * `tests/corpus.rs`: replays every file of `fuzz/corpus/TARGET/` and then seeded random
//!   mutations of them on stable Rust (`cargo test`; `scripts/fuzz.sh ci` runs it longer);
//! * `bftledger-fuzz-seeds`: writes the seed corpora from genuine values built by the project's
//!   own encoders.

pub mod context;
pub mod memory;
pub mod mutate;
pub mod seeds;
mod targets;

/// A fuzz target: a name (its corpus directory under `fuzz/corpus/`) and the function that
/// checks one input.
#[derive(Clone, Copy)]
pub struct Target {
    /// Name, as given on the command line and as the corpus directory.
    pub name: &'static str,
    /// What it decodes, and with which entry point.
    pub what: &'static str,
    check: fn(&context::Context, &[u8]),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("name", &self.name).finish()
    }
}

/// The targets of the crates below the node (consensus, ledger, host, crypto).
const SHARED_TARGETS: &[Target] = &[
    Target {
        name: "consensus_message",
        what: "a signed consensus message: SignedMessage::decode with consensus.max_message_bytes, then verify",
        check: targets::consensus_message,
    },
    Target {
        name: "sync_request",
        what: "a peer's sync request: sync::answer from a store with blocks (SyncRequest::from_bytes inside)",
        check: targets::sync_request,
    },
    Target {
        name: "sync_response",
        what: "a peer's sync answer: sync::decode_response and sync::check_blocks with p2p.max_sync_response_bytes, snapshot parts verified",
        check: targets::sync_response,
    },
    Target {
        name: "snapshot",
        what: "a state-transfer snapshot: Snapshot::decode, then Snapshot::verify against the genesis",
        check: targets::snapshot,
    },
    Target {
        name: "snapshot_part",
        what: "a part of a state-transfer snapshot: SnapshotPart::from_bytes, then SnapshotAssembly::add (the region proof) against its own header",
        check: targets::snapshot_part,
    },
    Target {
        name: "transfer",
        what: "a request payload: transfer::decode_payload, check, decode_and_check_batch",
        check: targets::transfer,
    },
    Target {
        name: "commit_certificate",
        what: "a commit certificate: CommitCertificate::decode, then verify against the validators",
        check: targets::commit_certificate,
    },
    Target {
        name: "key_file",
        what: "key file bytes: keyfile::decode (size, UTF-8, parse)",
        check: targets::key_file,
    },
    Target {
        name: "genesis",
        what: "genesis TOML: Genesis::from_toml_str (size, parse, validate)",
        check: targets::genesis,
    },
    Target {
        name: "api_path",
        what: "API path parameters: Address::from_str (accounts) and Digest::from_hex (transfer ids)",
        check: targets::api_path,
    },
];

/// The targets of the node crate's decoders (feature `node`).
#[cfg(feature = "node")]
const NODE_TARGETS: &[Target] = &[
    Target {
        name: "wire_frame",
        what: "bytes of a p2p stream: codec::read_frame with p2p.max_frame_bytes, then Frame::decode with consensus.max_message_bytes (the driver's on_frame)",
        check: targets::wire_frame,
    },
    Target {
        name: "node_config",
        what: "node config TOML: NodeConfig::parse within MAX_CONFIG_FILE_BYTES, then validate",
        check: targets::node_config,
    },
    Target {
        name: "api_transfer",
        what: "POST /v1/transfers body: axum Json::<SignedTransfer>::from_bytes within api.max_body_bytes, then check",
        check: targets::api_transfer,
    },
    Target {
        name: "api_batch",
        what: "POST /v1/transfers/batch body: axum Json::<BatchSubmitRequest>::from_bytes within api.max_body_bytes",
        check: targets::api_batch,
    },
    Target {
        name: "api_batch_binary",
        what: "POST /v1/transfers/batch binary body: api::binary::decode within api.max_body_bytes and api.max_batch_transfers; encode must give the input back",
        check: targets::api_batch_binary,
    },
];

/// Every target of this build, one per decoder of untrusted bytes.
pub fn targets() -> Vec<&'static Target> {
    let all = SHARED_TARGETS.iter();
    #[cfg(feature = "node")]
    let all = all.chain(NODE_TARGETS.iter());
    all.collect()
}

/// The target called `name`.
pub fn find(name: &str) -> Option<&'static Target> {
    targets().into_iter().find(|t| t.name == name)
}

/// Runs `target` on `data` under the memory bound. Panics if the target finds a bug.
pub fn run(target: &Target, data: &[u8]) {
    context::with(|cx| memory::bounded(data.len(), || (target.check)(cx, data)));
}

/// Builds the shared context now (a store with blocks, signed certificates), so that a fuzzer
/// forks after the one-time set-up instead of repeating it per input.
pub fn prepare() {
    context::with(|_| ());
}
