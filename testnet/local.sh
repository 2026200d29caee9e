#!/usr/bin/env bash
# The local bftledger testnet: N validators (default 4) as processes on 127.0.0.1.
#
#   ./testnet/local.sh up [--nodes N]   set up (packages, release build), create and start a testnet,
#                                       wait until every node is ready and a first block committed
#   ./testnet/local.sh status           table: node, pid, alive, height, view, primary, peers
#   ./testnet/local.sh logs I [-f]      node I's log (the last 100 lines; -f follows it)
#   ./testnet/local.sh kill I           SIGKILL node I (a crash)
#   ./testnet/local.sh stop I           SIGTERM node I and wait for it to exit
#   ./testnet/local.sh restart I        stop node I (if running) and start it again; it catches up
#   ./testnet/local.sh partition I      cut node I off the network (root: iptables on loopback)
#   ./testnet/local.sh heal             undo every partition
#   ./testnet/local.sh down [--clean]   stop every node (and with --clean delete all testnet data)
#
# Environment: BFTLEDGER_TESTNET_DIR (default testnet/.data), CARGO_TARGET_DIR (default
# $HOME/.cache/bftledger/target), BFTLEDGER_BIN (use this binary instead of building one),
# BFTLEDGER_P2P_PORT_BASE (26600) and BFTLEDGER_API_PORT_BASE (26700): node I uses base + I.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${BFTLEDGER_TESTNET_DIR:-$ROOT/testnet/.data}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bftledger/target}"
BIN="${BFTLEDGER_BIN:-$CARGO_TARGET_DIR/release/bftledger}"
P2P_BASE="${BFTLEDGER_P2P_PORT_BASE:-26600}"
API_BASE="${BFTLEDGER_API_PORT_BASE:-26700}"
READY_TIMEOUT_S="${BFTLEDGER_READY_TIMEOUT_S:-60}"
STOP_TIMEOUT_S=10
CHAIN="BFTLEDGER_PARTITION"   # the iptables chain holding partition rules

die() { echo "local.sh: $*" >&2; exit 1; }
say() { echo "$*"; }

usage() {
  sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 2
}

# ---- set-up -------------------------------------------------------------------------------

ensure_binary() {
  if [ -n "${BFTLEDGER_BIN:-}" ]; then
    [ -x "$BIN" ] || die "BFTLEDGER_BIN=$BIN is not an executable file"
    return
  fi
  "$ROOT/scripts/setup.sh"
  say "building the release binary (the first build takes several minutes) ..."
  (cd "$ROOT" && cargo build --release --locked -q -p bftledger-node --bin bftledger)
}

# ---- node bookkeeping ---------------------------------------------------------------------

# node_count, check_index, pid_of, alive, any_alive, ready, wait_ready, stop_node, cmd_logs, cmd_kill
# shellcheck source=testnet/nodes.sh
source "$ROOT/testnet/nodes.sh"

api_url() { echo "http://127.0.0.1:$((API_BASE + $1))"; }

cli() { "$BIN" "$@"; }

start_node() {
  local i="$1" dir="$DATA/node$1"
  if alive "$i"; then
    say "node$i is already running (pid $(pid_of "$i"))"
    return
  fi
  # setsid: the node outlives this script and is not killed by the terminal's Ctrl-C.
  setsid "$BIN" node --config "$dir/config.toml" >>"$dir/node.log" 2>&1 < /dev/null &
  echo $! >"$dir/node.pid"
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ---- commands -----------------------------------------------------------------------------

cmd_up() {
  local nodes=4
  while [ $# -gt 0 ]; do
    case "$1" in
      --nodes) nodes="${2:-}"; shift 2 || die "--nodes needs a number" ;;
      *) die "unknown option for up: $1" ;;
    esac
  done
  [[ "$nodes" =~ ^[0-9]+$ ]] && [ "$nodes" -ge 4 ] || die "--nodes must be a number >= 4 (n = 3f+1 with f >= 1)"

  if [ -d "$DATA" ] && any_alive; then
    say "the testnet in $DATA is already running; nothing changed."
    cmd_status
    return
  fi
  ensure_binary

  if [ -f "$DATA/genesis.toml" ]; then
    local existing
    existing="$(node_count)"
    [ "$nodes" = 4 ] || [ "$nodes" = "$existing" ] \
      || die "$DATA holds a $existing-node testnet; run 'down --clean' first to make a $nodes-node one"
    nodes="$existing"
    say "restarting the existing $nodes-node testnet in $DATA"
  else
    for ((i = 0; i < nodes; i++)); do
      for port in $((P2P_BASE + i)) $((API_BASE + i)); do
        ! port_in_use "$port" || die "port $port is in use; stop what uses it or set BFTLEDGER_P2P_PORT_BASE / BFTLEDGER_API_PORT_BASE"
      done
    done
    mkdir -p "$(dirname "$DATA")"
    cli testnet init --validators "$nodes" --dir "$DATA" \
      --p2p-port-base "$P2P_BASE" --api-port-base "$API_BASE" >"$DATA.init.txt" \
      || die "testnet init failed"
    mv "$DATA.init.txt" "$DATA/init.txt"
  fi

  for ((i = 0; i < nodes; i++)); do start_node "$i"; done
  say "waiting for $nodes nodes to be ready ..."
  for ((i = 0; i < nodes; i++)); do wait_ready "$i"; done

  # A first transfer proves the chain commits end to end, and gives a transfer id to verify.
  local a0="$DATA/accounts/account-0.key" a1 out id
  a1="$(cli address --key "$DATA/accounts/account-1.key" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["address"])')"
  out="$(cli --node "$(api_url 0)" --json transfer --key "$a0" --to "$a1" --amount 1 --wait --wait-ms 30000)" \
    || die "the first transfer did not commit; see the logs in $DATA/node*/node.log"
  id="$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
  echo "$id" >"$DATA/first-transfer.txt"
  summary "$nodes" "$a1" "$id"
}

summary() {
  local nodes="$1" to="$2" id="$3" rel
  rel="$(realpath --relative-to="$PWD" "$DATA" 2>/dev/null || echo "$DATA")"
  # The binary lives outside the clone (cargo's target dir): show it by its absolute path.
  local bin_rel
  bin_rel="$(realpath "$BIN" 2>/dev/null || echo "$BIN")"
  case "$bin_rel" in "$PWD"/*) bin_rel="${bin_rel#"$PWD"/}" ;; esac
  say ""
  say "bftledger testnet is up: $nodes validators, first block committed (transfer $id)."
  say ""
  for ((i = 0; i < nodes; i++)); do
    say "  node$i  $(api_url "$i")   log: $rel/node$i/node.log"
  done
  say ""
  say "funded demo accounts (key files):"
  for key in "$DATA"/accounts/*.key; do
    say "  $(realpath --relative-to="$PWD" "$key" 2>/dev/null || echo "$key")  $(cli address --key "$key")"
  done
  say ""
  say "try (the CLI talks to node0 by default; --node URL picks another):"
  say "  $bin_rel transfer --key $rel/accounts/account-0.key --to $to --amount 25 --wait"
  say "  $bin_rel balance $to"
  say "  $bin_rel tx $id --verify --genesis $rel/genesis.toml"
  say ""
  say "more: ./testnet/local.sh status | logs I | kill I | restart I | partition I | heal | down [--clean]"
}

cmd_status() {
  [ -d "$DATA" ] || die "no testnet in $DATA; start one with: ./testnet/local.sh up"
  local n i
  n="$(node_count)"
  printf '%-6s %-8s %-6s %-8s %-6s %-8s %-6s\n' node pid alive height view primary peers
  for ((i = 0; i < n; i++)); do
    local pid state="no" row="-       -      -        -"
    pid="$(pid_of "$i")"
    if alive "$i"; then
      state="yes"
      row="$(cli --node "$(api_url "$i")" --timeout-ms 2000 status --json 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)
print("%-8s %-6s %-8s %-6s" % (s["height"], s["view"], s["primary"], len(s["peers"])))' 2>/dev/null \
        || echo "?        ?      ?        ?")"
    fi
    printf '%-6s %-8s %-6s %s\n' "node$i" "${pid:--}" "$state" "$row"
  done
  if partitioned_nodes | grep -q .; then
    say "partitioned: $(partitioned_nodes | tr '\n' ' ')"
  fi
}

cmd_stop() {
  check_index "${1:-}" stop
  stop_node "$1" TERM
  say "node$1 stopped"
}

cmd_restart() {
  check_index "${1:-}" restart
  [ -x "$BIN" ] || ensure_binary
  stop_node "$1" TERM
  start_node "$1"
  wait_ready "$1"
  say "node$1 restarted and ready"
}

cmd_down() {
  local clean=no
  [ "${1:-}" = "--clean" ] && clean=yes
  [ -n "${1:-}" ] && [ "$clean" = no ] && die "unknown option for down: $1"
  if [ -d "$DATA" ]; then
    local n i
    n="$(node_count)"
    for ((i = 0; i < n; i++)); do stop_node "$i" TERM; done
  fi
  heal_quietly
  if [ "$clean" = yes ]; then
    rm -rf "$DATA"
    say "testnet stopped and its data deleted"
  else
    say "testnet stopped (data kept in $DATA; 'up' restarts it, 'down --clean' deletes it)"
  fi
}

# ---- network faults -----------------------------------------------------------------------
# libp2p dials from its listening port (port reuse), so every byte of node I's p2p traffic on
# loopback has node I's p2p port as its source or destination. Dropping both isolates node I
# from every peer while its HTTP API (another port) keeps answering 'status'.

need_iptables() {
  [ "$(id -u)" -eq 0 ] || die "partition/heal change firewall rules and must run as root"
  if ! command -v iptables >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables >/dev/null
  fi
  iptables -N "$CHAIN" 2>/dev/null || true
  iptables -C OUTPUT -j "$CHAIN" 2>/dev/null || iptables -I OUTPUT -j "$CHAIN"
}

partitioned_nodes() {
  command -v iptables >/dev/null && [ "$(id -u)" -eq 0 ] || return 0
  iptables -S "$CHAIN" 2>/dev/null | grep -o 'bftledger-node[0-9]*' | sort -u | sed 's/bftledger-//'
}

cmd_partition() {
  check_index "${1:-}" partition
  need_iptables
  local port=$((P2P_BASE + $1)) tag="bftledger-node$1"
  for dir in --sport --dport; do
    iptables -A "$CHAIN" -o lo -p tcp "$dir" "$port" -m comment --comment "$tag" -j DROP
  done
  say "node$1 is partitioned: all TCP traffic to and from port $port is dropped ('heal' undoes it)"
}

heal_quietly() {
  command -v iptables >/dev/null && [ "$(id -u)" -eq 0 ] || return 0
  if iptables -L "$CHAIN" -n >/dev/null 2>&1; then
    iptables -D OUTPUT -j "$CHAIN" 2>/dev/null || true
    iptables -F "$CHAIN"
    iptables -X "$CHAIN"
  fi
}

cmd_heal() {
  need_iptables
  heal_quietly
  say "every partition is healed"
}

# ---- dispatch -----------------------------------------------------------------------------

command="${1:-}"
[ $# -gt 0 ] && shift
case "$command" in
  up) cmd_up "$@" ;;
  status) cmd_status ;;
  logs) cmd_logs "$@" ;;
  kill) cmd_kill "$@" ;;
  stop) cmd_stop "$@" ;;
  restart) cmd_restart "$@" ;;
  partition) cmd_partition "$@" ;;
  heal) cmd_heal ;;
  down) cmd_down "$@" ;;
  ""|-h|--help|help) usage ;;
  *) echo "local.sh: unknown command '$command'" >&2; usage ;;
esac
