//! Replays every fuzz target's corpus (`fuzz/corpus/<target>/`), then seeded mutations of it,
//! on stable Rust: what CI runs instead of the coverage-guided fuzzer (see `scripts/fuzz.sh`).
//!
//! Environment (all optional):
//! * `BFTLEDGER_FUZZ_SECONDS`: mutate each target for this many seconds (default: none, only
//!   `BFTLEDGER_FUZZ_MUTATIONS` mutants);
//! * `BFTLEDGER_FUZZ_MUTATIONS`: mutants per target when no time is given (default 300);
//! * `BFTLEDGER_FUZZ_SEED`: the seed of the mutation sequence (default fixed, printed);
//! * `BFTLEDGER_FUZZ_TARGET`: only this target;
//! * `BFTLEDGER_FUZZ_INPUT`: replay this one file (with `BFTLEDGER_FUZZ_TARGET`) and stop.
//!
//! A failing input is written under the cargo target directory and its replay command printed.

use bftledger_fuzz::mutate::Mutator;
use bftledger_fuzz::Target;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const DEFAULT_SEED: u64 = 0x00bf_71ed_9e70_0017;
const DEFAULT_MUTATIONS: u64 = 300;

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    let text = std::env::var(name).ok()?;
    Some(text.parse().unwrap_or_else(|_| {
        eprintln!("{name}={text:?} is not a valid value");
        std::process::exit(2)
    }))
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

fn read_corpus(target: &Target) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir().join(target.name);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: the target has no corpus ({e})", dir.display()));
    let mut files: Vec<(String, Vec<u8>)> = entries
        .map(|entry| {
            let path = entry
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.display().to_string(), bytes)
        })
        .collect();
    files.sort();
    files
}

/// Runs one input; on a panic saves it and returns where.
fn check(target: &Target, what: &str, data: &[u8]) -> Result<(), PathBuf> {
    if catch_unwind(AssertUnwindSafe(|| bftledger_fuzz::run(target, data))).is_ok() {
        return Ok(());
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
    let path = dir.join(format!("{}-{}", target.name, what.replace(['/', ' '], "_")));
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, data)) {
        eprintln!("cannot save the failing input to {}: {e}", path.display());
    }
    eprintln!(
        "FAILED {}: {what}\n  input saved: {}\n  replay: BFTLEDGER_FUZZ_TARGET={} BFTLEDGER_FUZZ_INPUT={} cargo test -p bftledger-fuzz --test corpus",
        target.name,
        path.display(),
        target.name,
        path.display()
    );
    Err(path)
}

struct Budget {
    seconds: Option<u64>,
    mutations: u64,
}

impl Budget {
    fn more(&self, started: Instant, done: u64) -> bool {
        match self.seconds {
            Some(s) => started.elapsed() < Duration::from_secs(s),
            None => done < self.mutations,
        }
    }
}

/// The corpus, then mutants until the budget is spent; stops at the first failure.
fn fuzz_target(target: &Target, seed: u64, budget: &Budget) -> Result<(), PathBuf> {
    let corpus = read_corpus(target);
    assert!(!corpus.is_empty(), "fuzz/corpus/{} is empty", target.name);
    for (path, bytes) in &corpus {
        check(target, &format!("corpus file {path}"), bytes)?;
    }
    let inputs: Vec<Vec<u8>> = corpus.into_iter().map(|(_, b)| b).collect();
    let target_seed = seed ^ fnv1a(target.name.as_bytes());
    let mut mutator = Mutator::new(target_seed);
    let started = Instant::now();
    let mut done = 0u64;
    while budget.more(started, done) {
        let mutant = mutator.mutant(&inputs);
        check(target, &format!("mutant {done} of seed {seed}"), &mutant)?;
        done += 1;
    }
    println!(
        "fuzz {:<20} {:>3} corpus files, {:>8} mutants in {:>6.1} s",
        target.name,
        inputs.len(),
        done,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Per-target seeds differ, and do not depend on the order of the targets.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn main() {
    let only: Option<String> = env("BFTLEDGER_FUZZ_TARGET");
    let targets: Vec<&Target> = bftledger_fuzz::targets()
        .into_iter()
        .filter(|t| only.as_deref().is_none_or(|name| t.name == name))
        .collect();
    if targets.is_empty() {
        eprintln!("no target is called {only:?}");
        std::process::exit(2);
    }
    bftledger_fuzz::prepare();
    if let Some(input) = env::<PathBuf>("BFTLEDGER_FUZZ_INPUT") {
        let data = std::fs::read(&input).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        let failed = targets
            .iter()
            .filter(|t| check(t, &input.display().to_string(), &data).is_err())
            .count();
        println!("{} passed, {failed} failed", targets.len() - failed);
        std::process::exit(i32::from(failed > 0));
    }
    check_corpus_dirs();
    let seed = env("BFTLEDGER_FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    let budget = Budget {
        seconds: env("BFTLEDGER_FUZZ_SECONDS"),
        mutations: env("BFTLEDGER_FUZZ_MUTATIONS").unwrap_or(DEFAULT_MUTATIONS),
    };
    println!("fuzz corpus replay, seed {seed} (BFTLEDGER_FUZZ_SEED)");
    let failed = targets
        .iter()
        .filter(|t| fuzz_target(t, seed, &budget).is_err())
        .count();
    println!("{} passed, {failed} failed", targets.len() - failed);
    std::process::exit(i32::from(failed > 0));
}

/// Every corpus directory belongs to a target (a renamed target must take its corpus along).
fn check_corpus_dirs() {
    let dir = corpus_dir();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let name = entry
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .file_name()
            .to_string_lossy()
            .into_owned();
        assert!(
            bftledger_fuzz::find(&name).is_some(),
            "fuzz/corpus/{name} belongs to no target"
        );
    }
}
