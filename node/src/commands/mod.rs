//! One file per CLI command. [`run`] dispatches and maps errors to exit codes.

mod address;
mod balance;
pub mod bench;
mod block;
pub mod client;
mod keygen;
mod node;
mod node_figures;
mod send_order;
mod signature_bound;
mod status;
mod testnet;
mod transfer;
mod tx;

use crate::cli::{Cli, Command, GlobalArgs, TestnetCommand};
use crate::error::{CliError, CliResult, ExitCode};

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let out = Output {
        json: cli.global.json,
    };
    match dispatch(cli.command, &cli.global, &out) {
        Ok(()) => ExitCode::Ok,
        Err(e) => {
            out.error(&e);
            e.code
        }
    }
}

fn dispatch(command: Command, global: &GlobalArgs, out: &Output) -> CliResult {
    match command {
        Command::Keygen(a) => keygen::run(&a, out),
        Command::Address(a) => address::run(&a, out),
        Command::Testnet(TestnetCommand::Init(a)) => testnet::init(&a, out),
        Command::Node(a) => node::run(&a),
        Command::Transfer(a) => transfer::run(&a, global, out),
        Command::Balance(a) => balance::run(&a, global, out),
        Command::Tx(a) => tx::run(&a, global, out),
        Command::Block(a) => block::run(&a, global, out),
        Command::Status => status::run(global, out),
        Command::Bench(a) => bench::run(&a, global, out),
        Command::Vectors => {
            print!("{}", crate::vectors::render());
            Ok(())
        }
    }
}

/// Prints results as human text or as one JSON document (`--json`).
pub struct Output {
    /// Whether `--json` was given.
    pub json: bool,
}

impl Output {
    /// Prints `human` or `json` to stdout.
    pub fn emit(&self, human: impl std::fmt::Display, json: serde_json::Value) {
        if self.json {
            println!("{json}");
        } else {
            println!("{human}");
        }
    }

    /// Prints an error to stderr (as `{"error": {"code", "message"}}` with `--json`).
    pub fn error(&self, e: &CliError) {
        if self.json {
            let v = serde_json::json!({"error": {"code": e.kind, "message": e.message}});
            eprintln!("{v}");
        } else {
            eprintln!("error: {}", e.message);
        }
    }
}

/// Reads a key file, mapping its errors to usage errors (the user named the file).
pub(crate) fn read_key(path: &std::path::Path) -> CliResult<bftledger_crypto::SecretKey> {
    bftledger_crypto::keyfile::read(path).map_err(CliError::usage)
}

/// Parses an address given on the command line.
pub(crate) fn parse_address(text: &str) -> CliResult<bftledger_crypto::Address> {
    text.parse()
        .map_err(|e| CliError::usage(format!("{text:?} is not an address: {e}")))
}

/// A not-found error.
pub(crate) fn not_found(message: impl std::fmt::Display) -> CliError {
    CliError::new(ExitCode::NotFound, "not_found", message)
}
