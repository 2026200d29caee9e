//! Command-line definitions (clap). The commands themselves live in [`crate::commands`].

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Default API address of the first node of a local testnet made by `testnet init`.
pub const DEFAULT_NODE_URL: &str = "http://127.0.0.1:26700";

/// bftledger: a Byzantine-fault-tolerant ledger (PBFT).
#[derive(Debug, Parser)]
#[command(name = "bftledger", version, about, propagate_version = true)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Print machine-readable JSON instead of human text.
    #[arg(long, global = true)]
    pub json: bool,
    /// HTTP API of the node to talk to.
    #[arg(long, global = true, env = "BFTLEDGER_NODE", default_value = DEFAULT_NODE_URL)]
    pub node: String,
    /// How long to wait for the node to answer one request, in milliseconds.
    #[arg(long, global = true, default_value_t = 10_000)]
    pub timeout_ms: u64,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a new secret key file (mode 0600) and print its address.
    Keygen(KeygenArgs),
    /// Print the address of a key file.
    Address(AddressArgs),
    /// Local testnets.
    #[command(subcommand)]
    Testnet(TestnetCommand),
    /// Run a validator node.
    Node(NodeArgs),
    /// Sign a transfer with a key file and submit it.
    Transfer(TransferArgs),
    /// Show an account's balance and next nonce.
    Balance(BalanceArgs),
    /// Show a transfer's status, and verify its commit certificate locally with --verify.
    Tx(TxArgs),
    /// Show a block.
    Block(BlockArgs),
    /// Show the node's status.
    Status,
    /// Open-loop load generator: committed transfers/s and latency percentiles.
    Bench(BenchArgs),
    /// Print the protocol test vectors (docs/test-vectors.json) generated from fixed keys.
    #[command(hide = true)]
    Vectors,
}

/// `keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the key file.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Replace an existing file (its key is lost).
    #[arg(long)]
    pub force: bool,
}

/// `address`.
#[derive(Debug, Args)]
pub struct AddressArgs {
    /// The key file.
    #[arg(long, short)]
    pub key: PathBuf,
}

/// `testnet ...`.
#[derive(Debug, Subcommand)]
pub enum TestnetCommand {
    /// Create keys, a genesis and one config per validator in a directory.
    Init(TestnetInitArgs),
}

/// `testnet init`.
#[derive(Debug, Args)]
pub struct TestnetInitArgs {
    /// Number of validators (at least 4). With --hosts, the number of hosts (give one or the other).
    #[arg(long)]
    pub validators: Option<usize>,
    /// Validators on separate machines: one host (IPv4 address or DNS name) per validator, comma
    /// separated. Each validator then listens on every interface at the same p2p port
    /// (--p2p-port-base), its API stays on loopback (--api-port-base), and the bootstrap lists
    /// name the hosts.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub hosts: Vec<String>,
    /// How validators find each other: `all` bootstraps from every other validator; `first`
    /// from validator 0 only (the others are found through Kademlia); `mdns` with no bootstrap
    /// list at all, by mDNS on the local network (needs --hosts: mDNS does not run on loopback).
    #[arg(long, value_enum, default_value_t = Discovery::All)]
    pub discovery: Discovery,
    /// Output directory (created; must be empty or absent).
    #[arg(long)]
    pub dir: PathBuf,
    /// Number of funded demo accounts (their keys are written beside the genesis).
    #[arg(long, default_value_t = 4)]
    pub accounts: usize,
    /// Initial balance of each demo account, in minor units.
    #[arg(long, default_value_t = 1_000_000_000)]
    pub balance: u64,
    /// Chain id written in the genesis.
    #[arg(long, default_value = "bftledger-local")]
    pub chain_id: String,
    /// P2P port of validator 0; validator i listens on this + i.
    #[arg(long, default_value_t = 26600)]
    pub p2p_port_base: u16,
    /// API port of validator 0; validator i listens on this + i.
    #[arg(long, default_value_t = 26700)]
    pub api_port_base: u16,
}

/// How the validators of a `testnet init` find each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Discovery {
    /// Every validator's bootstrap list names every other validator.
    All,
    /// Only validator 0's address is known; Kademlia finds the rest.
    First,
    /// No bootstrap list; mDNS on the local network.
    Mdns,
}

/// `node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The node's config file.
    #[arg(long, short)]
    pub config: PathBuf,
}

/// `transfer`.
#[derive(Debug, Args)]
pub struct TransferArgs {
    /// Key file of the sender.
    #[arg(long, short)]
    pub key: PathBuf,
    /// Recipient address (`bft1...`).
    #[arg(long)]
    pub to: String,
    /// Amount in minor units.
    #[arg(long)]
    pub amount: u64,
    /// Sender nonce; by default the account's next nonce as reported by the node.
    #[arg(long)]
    pub nonce: Option<u64>,
    /// Optional memo (UTF-8).
    #[arg(long)]
    pub memo: Option<String>,
    /// Wait until the transfer is committed (or rejected) and print its receipt.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub wait_ms: u64,
}

/// `balance`.
#[derive(Debug, Args)]
pub struct BalanceArgs {
    /// Account address (`bft1...`).
    pub address: String,
    /// Verify the balance locally: its proof at the stable checkpoint and the 2f+1 checkpoint
    /// signatures, against the genesis validator set.
    #[arg(long)]
    pub verify: bool,
    /// The validator set --verify trusts.
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// `tx`.
#[derive(Debug, Args)]
pub struct TxArgs {
    /// Transfer id (64 hex characters).
    pub id: String,
    /// Verify the commit certificate locally against the genesis validator set.
    #[arg(long)]
    pub verify: bool,
    /// The validator set --verify trusts.
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// Where a `--verify` takes the validator set it trusts from.
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// Trusted genesis file used by --verify (the validator set comes from it).
    #[arg(long, env = "BFTLEDGER_GENESIS")]
    pub genesis: Option<PathBuf>,
    /// Instead of --genesis: fetch the genesis from the node and require this hash (hex).
    #[arg(long)]
    pub genesis_hash: Option<String>,
}

/// `block`.
#[derive(Debug, Args)]
pub struct BlockArgs {
    /// Block height (= consensus sequence number).
    pub height: u64,
}

/// `bench` arguments.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Offered load in transfers per second.
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// How long to offer load, in seconds.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Number of sending accounts (created and funded first).
    #[arg(long, default_value_t = 1000)]
    pub accounts: usize,
    /// Comma-separated API URLs to submit to (default: the local testnet's four nodes).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "http://127.0.0.1:26700,http://127.0.0.1:26701,http://127.0.0.1:26702,http://127.0.0.1:26703"
    )]
    pub nodes: Vec<String>,
    /// Directory of funded key files (`*.key`) that pay for the bench accounts.
    #[arg(long, default_value = "testnet/.data/accounts")]
    pub funders: PathBuf,
    /// Submission interval in milliseconds (one batch request per node per tick).
    #[arg(long, default_value_t = 10)]
    pub tick_ms: u64,
    /// Bound on concurrent submit requests.
    #[arg(long, default_value_t = 64)]
    pub max_in_flight: usize,
    /// After the load stops, wait at most this long for outstanding transfers, in seconds.
    #[arg(long, default_value_t = 30)]
    pub drain_s: u64,
    /// Do not re-send transfers refused as `overloaded` (by default they are re-sent after the
    /// node's `Retry-After`, each account's in nonce order, as a real client would).
    #[arg(long)]
    pub no_retry: bool,
    /// The form of the batch submissions: `binary` (the transfers' canonical bytes,
    /// `application/octet-stream`, PROTOCOL.md §3.4) or `json` (what nodes before the binary
    /// form accept).
    #[arg(long, value_enum, default_value_t = BatchForm::Binary)]
    pub form: BatchForm,
}

/// The form of a batch submission (`bench --form`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BatchForm {
    /// `application/octet-stream`: length-prefixed canonical signed transfers.
    Binary,
    /// `application/json`: `{"transfers": [...]}`.
    Json,
}
