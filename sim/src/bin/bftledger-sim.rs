//! `bftledger-sim`: runs the seeded cluster simulator (see `bftledger_sim`).
//!
//! The last line printed is one JSON object (the [`Summary`]). Exit status: 0 when no seed
//! violated safety or stalled — or, with `--mutant`, when a violation WAS found; 1 otherwise;
//! 2 on bad arguments.

use std::process::ExitCode;

use bftledger_sim::cluster::SeedOutcome;
use bftledger_sim::{install_panic_recorder, run_seeds, Mutant, SimOptions, Summary};
use clap::Parser;

/// Seeded deterministic simulation of a PBFT cluster with network faults, crash-restarts and
/// Byzantine replicas; checks agreement, execution order, equal states, vote consistency and
/// liveness after healing.
#[derive(Parser, Debug)]
#[command(name = "bftledger-sim", version)]
struct Args {
    /// Number of seeds to run (seeds FIRST_SEED .. FIRST_SEED+N).
    #[arg(long, default_value_t = 100, conflicts_with = "seed")]
    seeds: u64,
    /// First seed of a multi-seed run.
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// Replay exactly this one seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Replicas in the cluster (n >= 4).
    #[arg(long, default_value_t = 4)]
    replicas: usize,
    /// Byzantine replicas (default: f = (n-1)/3).
    #[arg(long)]
    byzantine: Option<usize>,
    /// Run a deliberately broken protocol; succeed only if the checkers catch it.
    #[arg(long, value_parser = parse_mutant)]
    mutant: Option<Mutant>,
    /// Print the event trace of the run (use with --seed).
    #[arg(long)]
    trace: bool,
    /// Worker threads (seeds are independent; results do not depend on this).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Upper bound of the fault period, in ticks.
    #[arg(long, default_value_t = SimOptions::new(4, 1).fault_ticks)]
    fault_ticks: u64,
    /// Liveness bound: ticks after the heal within which everything must be executed.
    #[arg(long, default_value_t = SimOptions::new(4, 1).liveness_ticks)]
    liveness_ticks: u64,
    /// Disable crash-restarts of correct replicas.
    #[arg(long)]
    no_crashes: bool,
}

/// `--mutant NAME`: one of [`Mutant::ALL`] by its name.
fn parse_mutant(name: &str) -> Result<Mutant, String> {
    Mutant::ALL
        .into_iter()
        .find(|m| m.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = Mutant::ALL.iter().map(|m| m.name()).collect();
            format!("unknown mutant '{name}'; one of: {}", names.join(", "))
        })
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.replicas < 4 {
        eprintln!("error: --replicas must be at least 4 (n = 3f+1, f >= 1)");
        return ExitCode::from(2);
    }
    let f = (args.replicas - 1) / 3;
    let byzantine = args.byzantine.unwrap_or(f);
    if byzantine > args.replicas {
        eprintln!(
            "error: --byzantine {byzantine} exceeds --replicas {}",
            args.replicas
        );
        return ExitCode::from(2);
    }
    if byzantine > f && args.mutant.is_none() {
        eprintln!(
            "warning: {byzantine} Byzantine replicas exceed f = {f}: violations are expected"
        );
    }
    let mut options = SimOptions::new(args.replicas, byzantine);
    options.mutant = args.mutant;
    options.trace = args.trace;
    options.fault_ticks = args.fault_ticks;
    options.liveness_ticks = args.liveness_ticks;
    options.crashes = !args.no_crashes;
    let (first, count) = match args.seed {
        Some(seed) => (seed, 1),
        None => (args.first_seed, args.seeds),
    };
    install_panic_recorder();
    let report = |outcome: &SeedOutcome| print_failure(&options, outcome);
    let summary = run_seeds(first, count, &options, args.jobs, &report);
    let failed = summary.violations > 0 || summary.stalls > 0;
    // The verdict goes first (stdout), so that the JSON summary stays the last line printed.
    let code = match (options.mutant, failed) {
        (None, false) => ExitCode::SUCCESS,
        (None, true) => ExitCode::FAILURE,
        (Some(mutant), true) => {
            let how = if summary.violations > 0 {
                "violates safety"
            } else {
                "stalls"
            };
            println!(
                "mutant {} caught: seed {} {how} ({} seeds run)",
                mutant.name(),
                summary.first_failing_seed.unwrap_or_default(),
                summary.seeds
            );
            ExitCode::SUCCESS
        }
        (Some(mutant), _) => {
            println!(
                "mutant {} NOT caught in {} seeds",
                mutant.name(),
                summary.seeds
            );
            ExitCode::FAILURE
        }
    };
    print_summary(&summary);
    code
}

fn print_failure(options: &SimOptions, outcome: &SeedOutcome) {
    let what = match (&outcome.violation, &outcome.stall) {
        (Some(v), _) => format!("VIOLATION {v}"),
        (None, Some(s)) => format!("STALL {s}"),
        (None, None) => return,
    };
    println!("seed {} failed: {what}", outcome.seed);
    println!("  replay: {}", options.replay_command(outcome.seed));
}

fn print_summary(summary: &Summary) {
    println!(
        "{}",
        serde_json::to_string(summary).expect("the summary serializes")
    );
}
