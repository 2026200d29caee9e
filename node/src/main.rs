//! The `bftledger` binary: parses the command line and runs the command.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = bftledger_node::cli::Cli::parse();
    let code = bftledger_node::commands::run(cli);
    std::process::ExitCode::from(code as u8)
}
