//! `bftledger-sim`: runs the seeded cluster simulator (see `bftledger_sim`).
//!
//! The last line printed is one JSON object (the [`Summary`]). Exit status: 0 when no seed
//! violated safety or stalled — or, with `--mutant`, when a violation WAS found; 1 otherwise;
//! 2 on bad arguments.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bftledger_sim::cluster::SeedOutcome;
use bftledger_sim::{
    install_panic_recorder, run_seed_with_tla_trace, run_seeds, tla_trace, Mutant, SimOptions,
    Summary,
};
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
    /// Write what the correct replicas did as a TLA+ trace module to FILE (with --seed), for
    /// trace validation against tla/PBFT.tla (tla/PBFTTrace.tla). The module is named after
    /// the file: FILE must end in `<Name>.tla`.
    #[arg(long, value_name = "FILE", requires = "seed")]
    tla_trace: Option<PathBuf>,
    /// Sequence numbers the TLA+ trace keeps (1..=N; the spec allows at most 10).
    #[arg(long, default_value_t = tla_trace::SPEC_MAX_SEQ,
          value_parser = clap::value_parser!(u64).range(1..=tla_trace::SPEC_MAX_SEQ))]
    tla_max_seq: u64,
}

/// The TLA+ module name for a trace file: its stem, which TLC requires to be the module's name
/// (letters, digits and `_`, not starting with a digit).
fn module_name(path: &Path) -> Result<String, String> {
    let ok = |name: &str| {
        name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    match (path.file_stem().and_then(|s| s.to_str()), path.extension()) {
        (Some(stem), Some(ext)) if ext == "tla" && ok(stem) => Ok(stem.to_string()),
        _ => Err(format!(
            "--tla-trace {}: the file must be <Name>.tla with Name a TLA+ identifier \
             (TLC finds a module by its file name)",
            path.display()
        )),
    }
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
    let summary = match &args.tla_trace {
        Some(path) => match write_tla_trace(path, first, &options, args.tla_max_seq) {
            Ok(summary) => summary,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => {
            let report = |outcome: &SeedOutcome| print_failure(&options, outcome);
            run_seeds(first, count, &options, args.jobs, &report)
        }
    };
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

/// Runs `seed` recording its TLA+ trace and writes the trace module to `path`; a failing seed
/// still gets its trace (that is what a trace of a mutant is for).
fn write_tla_trace(
    path: &Path,
    seed: u64,
    options: &SimOptions,
    max_seq: u64,
) -> Result<Summary, String> {
    let module = module_name(path)?;
    let (outcome, summary, trace) = run_seed_with_tla_trace(seed, options, max_seq);
    print_failure(options, &outcome);
    // The replay command's options, without cargo's part and the event-trace flag.
    let replay = options.replay_command(seed);
    let flags = replay
        .split_once(" -- ")
        .map_or(replay.as_str(), |(_, flags)| flags)
        .trim_end_matches(" --trace");
    let about = format!("bftledger-sim {flags} --tla-trace {module}.tla --tla-max-seq {max_seq}");
    std::fs::write(path, trace.to_module(&module, &about))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!(
        "tla trace: {} ({} events, max view {}{})",
        path.display(),
        trace.len(),
        trace.max_view(),
        trace
            .stopped()
            .map(|why| format!(", stopped early: {why}"))
            .unwrap_or_default()
    );
    Ok(summary)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_file_is_named_after_a_tla_module() {
        let name = |p: &str| module_name(Path::new(p));
        assert_eq!(
            name("/tmp/x/PBFTTraceData.tla").as_deref(),
            Ok("PBFTTraceData")
        );
        assert_eq!(name("T_7.tla").as_deref(), Ok("T_7"));
        // TLC looks a module up by its file name: these could never be read.
        for bad in [
            "7seed.tla",
            "trace-7.tla",
            "Trace.txt",
            "Trace",
            "/tmp/.tla",
        ] {
            assert!(name(bad).is_err(), "{bad} accepted");
        }
    }
}
