//! The `bftledger` binary: parses the command line and runs the command.

use clap::Parser;

/// mimalloc instead of glibc's malloc: a node allocates and frees small buffers (frames, batches,
/// transfers) across its tokio threads all the time; under load glibc's allocator took about a
/// fifth of the CPU (`perf`, testnet/BENCHMARKS.md "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = bftledger_node::cli::Cli::parse();
    let code = bftledger_node::commands::run(cli);
    std::process::ExitCode::from(code as u8)
}
