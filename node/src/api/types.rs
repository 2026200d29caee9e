//! JSON bodies of the HTTP API, shared by the server ([`crate::api`]) and the CLI client
//! ([`crate::commands::client`]). `node/openapi.yaml` documents the same shapes.
//!
//! Keys and accounts are addresses (`bft1...`), digests and signatures hex, amounts u64 minor
//! units. Amounts, balances and nonces are decimal strings ([`bftledger_ledger::decimal_u64`]);
//! heights, views and counts stay JSON numbers (they stay far below 2^53).

use bftledger_crypto::Digest;
use bftledger_ledger::{Block, BlockHeader, Receipt, SignedTransfer};
use serde::{Deserialize, Serialize};

/// Every error: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// An error's stable code and readable message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorDetail {
    /// Stable snake_case code; scripts match on it.
    pub code: String,
    /// One readable sentence.
    pub message: String,
}

/// `POST /v1/transfers` answer (202).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SubmitResponse {
    /// The transfer id.
    pub id: Digest,
    /// Always `pending` on acceptance.
    pub status: String,
}

/// `POST /v1/transfers/batch` body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BatchSubmitRequest {
    /// The transfers, at most `api.max_batch_transfers`.
    pub transfers: Vec<SignedTransfer>,
}

/// `POST /v1/transfers/batch` answer: one result per transfer, in order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BatchSubmitResponse {
    /// Transfers accepted.
    pub accepted: usize,
    /// Per transfer.
    pub results: Vec<BatchItemResult>,
}

/// One transfer of a batch submission.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BatchItemResult {
    /// Its id.
    pub id: Digest,
    /// The error when not accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

/// `GET /v1/transfers/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TransferResponse {
    /// The transfer id.
    pub id: Digest,
    /// `pending`, `committed` (applied), `rejected` (in a block, not applied) or `dropped`
    /// (accepted, then let go of before ordering: it may be submitted again).
    pub status: String,
    /// Where it was committed, with the proof; absent while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed: Option<CommittedTransfer>,
    /// Why it was dropped; only with status `dropped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<ErrorDetail>,
}

/// A transfer in a block, with its proof.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommittedTransfer {
    /// The signed transfer.
    pub transfer: SignedTransfer,
    /// Block height (= consensus sequence number).
    pub height: u64,
    /// Position in the block.
    pub position: u32,
    /// The receipt.
    pub receipt: Receipt,
    /// Readable receipt: `applied` or the rejection reason.
    pub receipt_text: String,
    /// Hash of the block.
    pub block_hash: Digest,
    /// Consensus digest of the batch the certificate covers.
    pub batch_digest: Digest,
    /// The commit certificate (hex of its canonical encoding).
    pub certificate: String,
}

/// `GET /v1/accounts/{address}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccountResponse {
    /// The account (`bft1...`).
    pub address: String,
    /// Balance in minor units (a decimal string in JSON).
    #[serde(with = "bftledger_ledger::decimal_u64")]
    pub balance: u64,
    /// Last used nonce (0 if none; a decimal string in JSON).
    #[serde(with = "bftledger_ledger::decimal_u64")]
    pub nonce: u64,
    /// The nonce its next transfer must carry (a decimal string in JSON).
    #[serde(with = "bftledger_ledger::decimal_u64")]
    pub next_nonce: u64,
    /// Height at which this was read.
    pub height: u64,
    /// With `?proof=true`: the account at the stable checkpoint, proven (see
    /// [`AccountProofBody`]); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<AccountProofBody>,
}

/// An account at the stable checkpoint with its proof (`GET /v1/accounts/{address}?proof=true`).
///
/// A light client checks, trusting only the genesis validator set ([`crate::account_proof`]):
/// the checkpoint certificate holds 2f+1 distinct validators' CHECKPOINT(`height`, d)
/// signatures; d is the hash of `header`, whose height is `height`; and `siblings` with
/// `terminal` lead from the account's leaf (or its absence) to `header.state_root`, as
/// `bftledger_ledger::state_tree` defines the root.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccountProofBody {
    /// Height of the stable checkpoint the proof is at (the tip may be later).
    pub height: u64,
    /// Balance at that height, minor units (a decimal string in JSON).
    #[serde(with = "bftledger_ledger::decimal_u64")]
    pub balance: u64,
    /// Last used nonce at that height (a decimal string in JSON).
    #[serde(with = "bftledger_ledger::decimal_u64")]
    pub nonce: u64,
    /// The header of the block at `height`.
    pub header: BlockHeader,
    /// The checkpoint certificate: hex of the canonical encoding of the consensus
    /// `CheckpointProof` (seq, block hash, and (replica, signature) pairs).
    pub checkpoint_certificate: String,
    /// Sibling hashes along the account's path, the root's children first.
    pub siblings: Vec<Digest>,
    /// What ends the path.
    pub terminal: ProofTerminal,
}

/// What ends an account's path in the state tree.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProofTerminal {
    /// The account's own leaf: it exists, with the balance and nonce above.
    Account,
    /// An empty subtree: the account does not exist (balance and nonce are 0).
    Empty,
    /// Another account's leaf where this one would be: it does not exist.
    OtherAccount {
        /// That account's public key (hex).
        key: String,
        /// Its balance (a decimal string in JSON).
        #[serde(with = "bftledger_ledger::decimal_u64")]
        balance: u64,
        /// Its last used nonce (a decimal string in JSON).
        #[serde(with = "bftledger_ledger::decimal_u64")]
        nonce: u64,
    },
}

/// `GET /v1/blocks/{height}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BlockResponse {
    /// Hash of the block (`Block::hash`: no view, no certificate), the same on every validator.
    pub hash: Digest,
    /// The block.
    pub block: Block,
    /// The commit certificate (hex of its canonical encoding); it carries the view its signers
    /// committed in, which may differ between validators.
    pub certificate: String,
}

/// `GET /v1/status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StatusResponse {
    /// Chain id from the genesis.
    pub chain_id: String,
    /// Genesis hash.
    pub genesis_hash: Digest,
    /// This validator's address.
    pub validator: String,
    /// This validator's replica id.
    pub replica_id: u32,
    /// Height of the last executed block.
    pub height: u64,
    /// State root after it.
    pub state_root: Digest,
    /// Current view.
    pub view: u64,
    /// Replica id of the view's primary.
    pub primary: u32,
    /// Whether a view change is under way.
    pub view_changing: bool,
    /// Last stable checkpoint (sequence number).
    pub stable_checkpoint: u64,
    /// Connected validators (addresses).
    pub peers: Vec<String>,
    /// Number of validators in the genesis.
    pub validators: usize,
    /// Transfers waiting in the mempool.
    pub mempool_size: usize,
    /// Whether the node is catching up from peers.
    pub catching_up: bool,
    /// Ready: connected to a quorum (with itself) and not catching up.
    pub ready: bool,
}

/// `GET /health/live` and `/health/ready`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HealthResponse {
    /// `ok`, or why not.
    pub status: String,
}
