#!/usr/bin/env bash
# Fuzzing of every decoder of untrusted bytes (fuzz/, targets listed by `scripts/fuzz.sh list`).
#
#   scripts/fuzz.sh ci [SECONDS]        every target: its corpus, then seeded mutations for SECONDS
#                                       each (default 20), on stable Rust (what CI runs)
#   scripts/fuzz.sh run TARGET SECONDS  coverage-guided AFL++ run (cargo-afl) of one target, seeded
#                                       with fuzz/corpus/TARGET; prints executions, crashes, corpus
#                                       (a fresh run each time: it empties the target's output dir)
#   scripts/fuzz.sh campaign EXECS [TARGET...]
#                                       AFL++ runs of every target (or those named) until each has
#                                       done about EXECS executions; one summary line per target
#   scripts/fuzz.sh repro TARGET FILE   replays one input (a crash AFL found, a CI failure)
#   scripts/fuzz.sh seeds               rewrites the seed corpora from genuine values
#   scripts/fuzz.sh list                the targets and what each decodes
#
# `run` needs cargo-afl (`cargo install cargo-afl --locked`, ~6 minutes on 2 cores, which is why CI
# replays and mutates on stable Rust instead). Its builds go to $FUZZ_TARGET_DIR (default
# $CARGO_TARGET_DIR/afl) and its findings to $FUZZ_OUT/TARGET (default $CARGO_TARGET_DIR/fuzz-out/TARGET).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bftledger/target}"
usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

replay() { # env assignments for tests/corpus.rs come first
  env "$@" cargo test --workspace --locked --test corpus -q
}

# afl_run TARGET SECONDS EXECS: one coverage-guided AFL++ run of TARGET, stopped after SECONDS or
# about EXECS executions (0: no such limit), whichever comes first. Prints one summary line;
# returns 1 when AFL saved a crash or a hang (and prints how to replay each).
afl_run() {
  local target="$1" seconds="$2" execs="$3"
  command -v cargo-afl >/dev/null || {
    echo "fuzz.sh: cargo-afl is missing: cargo install cargo-afl --locked" >&2; exit 1; }
  [ -d "fuzz/corpus/$target" ] || { echo "fuzz.sh: no target $target" >&2; exit 2; }
  local afl_target_dir="${FUZZ_TARGET_DIR:-$CARGO_TARGET_DIR/afl}"
  local out="${FUZZ_OUT:-$CARGO_TARGET_DIR/fuzz-out}/$target"
  local bin="$afl_target_dir/release/bftledger-fuzz-afl"
  # Without the node crate first (~70 crates instead of ~330); the node's own targets need it.
  CARGO_TARGET_DIR="$afl_target_dir" cargo afl build --locked --release -q \
    -p bftledger-fuzz --no-default-features --features afl --bin bftledger-fuzz-afl
  if ! "$bin" --list | grep -qx "$target"; then
    afl_target_dir="$afl_target_dir-node"; bin="$afl_target_dir/release/bftledger-fuzz-afl"
    CARGO_TARGET_DIR="$afl_target_dir" cargo afl build --locked --release -q \
      -p bftledger-fuzz --features afl --bin bftledger-fuzz-afl
  fi
  rm -rf "$out"; mkdir -p "$out"
  local limits=(-V "$seconds")
  [ "$execs" -gt 0 ] && limits+=(-E "$execs")
  # -V / -E: stop after SECONDS / about EXECS executions; -t: a 2 s budget per input (hangs count
  # as findings too); AFL_NO_UI: status lines instead of a full-screen display (logs, CI-like shells).
  AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
    cargo afl fuzz "${limits[@]}" -t 2000 -i "fuzz/corpus/$target" -o "$out" \
    -- "$bin" "$target" >"$out/afl.log" 2>&1 || {
      echo "fuzz.sh: afl-fuzz failed, see $out/afl.log:" >&2; tail -20 "$out/afl.log" >&2; exit 1; }
  local stats="$out/default/fuzzer_stats"
  field() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
  local crashes hangs
  crashes=$(field saved_crashes); hangs=$(field saved_hangs)
  echo "$target: $(field execs_done) executions in $(field run_time) s ($(field execs_per_sec)/s)," \
    "corpus $(field corpus_count) inputs (seeds: $(ls "fuzz/corpus/$target" | wc -l))," \
    "crashes $crashes, hangs $hangs, coverage $(field bitmap_cvg)"
  if [ "$crashes" != 0 ] || [ "$hangs" != 0 ]; then
    for f in "$out"/default/crashes/id* "$out"/default/hangs/id*; do
      [ -e "$f" ] && echo "  scripts/fuzz.sh repro $target '$f'"
    done
    return 1
  fi
}

cmd="${1:-}"
case "$cmd" in
  ci)
    seconds="${2:-20}"
    replay BFTLEDGER_FUZZ_SECONDS="$seconds"
    ;;
  repro)
    [ $# -eq 3 ] || usage
    replay BFTLEDGER_FUZZ_TARGET="$2" BFTLEDGER_FUZZ_INPUT="$(realpath "$3")"
    ;;
  seeds)
    cargo run --locked -q -p bftledger-fuzz --bin bftledger-fuzz-seeds -- fuzz/corpus
    ;;
  list)
    cargo run --locked -q -p bftledger-fuzz --bin bftledger-fuzz-seeds -- --list
    ;;
  run)
    [ $# -eq 3 ] || usage
    afl_run "$2" "$3" 0
    ;;
  campaign)
    [ $# -ge 2 ] && [[ "$2" =~ ^[0-9]+$ ]] || usage
    execs="$2"; shift 2
    targets=("$@")
    [ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(ls fuzz/corpus)
    failed=0
    # A day per target at most: the run ends on the execution count, this only bounds a stuck run.
    for target in "${targets[@]}"; do afl_run "$target" 86400 "$execs" || failed=1; done
    exit "$failed"
    ;;
  *) usage ;;
esac
