#!/usr/bin/env bash
# The namespace testnet: N validators (default 4), each in its own network namespace with its own
# address, as if each were a separate machine; plus a namespace for clients (the load generator).
# Root only. Traffic never leaves the machine: each namespace has one link, a TUN device owned by
# the WAN emulator (testnet/wanem.py), which routes between the namespaces only.
#
#   ./testnet/netns.sh up [--nodes N] [--discovery mdns|kademlia] [--profile P] [--rate MBIT]
#                                       create namespaces, links and configs, start the nodes,
#                                       wait until all are ready and a first transfer committed.
#                                       mdns: no bootstrap list at all (the default); kademlia:
#                                       every validator knows validator 0's address only
#   ./testnet/netns.sh status           table: node, namespace, address, pid, alive, height, view,
#                                       primary, peers; the profile; partitioned nodes
#   ./testnet/netns.sh logs I [-f]      node I's log
#   ./testnet/netns.sh kill I           SIGKILL node I (a crash)
#   ./testnet/netns.sh stop I           SIGTERM node I and wait for it to exit
#   ./testnet/netns.sh restart I        stop node I (if running) and start it again; it catches up
#   ./testnet/netns.sh partition I      cut host I off its peers (iptables inside its namespace:
#                                       p2p and mDNS dropped, its API still answers)
#   ./testnet/netns.sh heal             undo every partition
#   ./testnet/netns.sh profile P [--rate MBIT]
#                                       WAN profile of every validator's link: lan (RTT 0.2 ms),
#                                       region (RTT 10 ms, 1% jitter), global (RTT 100 ms, jitter,
#                                       0.1% loss); --rate caps each link's bandwidth (0: no cap)
#   ./testnet/netns.sh net [--nodes N] [--profile P] [--rate MBIT]
#                                       the namespaces and links only (hosts without a testnet)
#   ./testnet/netns.sh exec I CMD...    run CMD in node I's namespace ('gen' for the client one)
#   ./testnet/netns.sh url I            node I's API URL (reachable from the namespaces)
#   ./testnet/netns.sh down [--clean]   stop the nodes, remove every namespace and link it made
#                                       (and with --clean delete the testnet's data)
#
# Environment: BFTLEDGER_NETNS_DIR (default testnet/.netns), BFTLEDGER_BIN, CARGO_TARGET_DIR (as
# local.sh), BFTLEDGER_NETNS_PREFIX (default bfl: namespaces <prefix>-n<I> and <prefix>-gen,
# links <prefix>-t<I> and <prefix>-tgen), BFTLEDGER_NETNS_SUBNET (default 10.213.0: host I has
# .(10+I), the client namespace .100). Every host uses p2p port 26600 and API port 26700.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${BFTLEDGER_NETNS_DIR:-$ROOT/testnet/.netns}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bftledger/target}"
# The binary: BFTLEDGER_BIN, else the one the running testnet was started with, else the build's.
BIN="${BFTLEDGER_BIN:-$(cat "$DATA/bin" 2>/dev/null || echo "$CARGO_TARGET_DIR/release/bftledger")}"
PREFIX="${BFTLEDGER_NETNS_PREFIX:-bfl}"
SUBNET="${BFTLEDGER_NETNS_SUBNET:-10.213.0}"
P2P_PORT=26600
API_PORT=26700
MDNS_PORT=5353
READY_TIMEOUT_S="${BFTLEDGER_READY_TIMEOUT_S:-90}"
STOP_TIMEOUT_S=10
WANEM_DIR="$DATA/wanem"
CHAIN="BFTLEDGER_PARTITION"   # the iptables chain, inside a namespace, holding its partition rules
MTU_BYTES=9000                # as wanem.py's MTU_BYTES
LINK_QUEUE_PACKETS=10000      # each link's transmit queue (txqueuelen)
MAX_NODES=50                  # host addresses .10 .. .59 stay below the client namespace's .100

die() { echo "netns.sh: $*" >&2; exit 1; }
say() { echo "$*"; }
# node_count, check_index, pid_of, alive, any_alive, ready, wait_ready, stop_node, cmd_logs, cmd_kill
# shellcheck source=testnet/nodes.sh
source "$ROOT/testnet/nodes.sh"

usage() {
  sed -n '2,35p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 2
}

need_root() {
  [ "$(id -u)" -eq 0 ] || die "the namespace testnet creates network namespaces and devices: run it as root"
  for tool in ip iptables python3; do
    command -v "$tool" >/dev/null || die "'$tool' is missing (scripts/setup.sh installs iproute2 and iptables)"
  done
  [ -c /dev/net/tun ] || die "/dev/net/tun is missing: the kernel needs TUN support for the WAN emulator"
}

# ---- names --------------------------------------------------------------------------------

ns_of() { if [ "$1" = gen ]; then echo "$PREFIX-gen"; else echo "$PREFIX-n$1"; fi; }
link_of() { if [ "$1" = gen ]; then echo "$PREFIX-tgen"; else echo "$PREFIX-t$1"; fi; }
ip_of() { if [ "$1" = gen ]; then echo "$SUBNET.100"; else echo "$SUBNET.$((10 + $1))"; fi; }
api_url() { echo "http://$(ip_of "$1"):$API_PORT"; }

# Runs a command inside host $1's namespace (a node index or 'gen').
in_ns() { local host="$1"; shift; ip netns exec "$(ns_of "$host")" "$@"; }
cli() { in_ns gen "$BIN" "$@"; }

# ---- the network --------------------------------------------------------------------------

wanem_pid() { cat "$WANEM_DIR/pid" 2>/dev/null || true; }
wanem_alive() { local p; p="$(wanem_pid)"; [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

# Creates the namespaces and starts the emulator, whose TUN devices then move into them.
net_up() {
  local nodes="$1" profile="$2" rate="$3" hosts=(gen) h
  for ((i = 0; i < nodes; i++)); do hosts+=("$i"); done
  if wanem_alive; then
    for h in "${hosts[@]}"; do
      ip netns exec "$(ns_of "$h")" true 2>/dev/null || die "the emulator runs but namespace $(ns_of "$h") is missing; run 'down' first"
    done
    return
  fi
  for h in "${hosts[@]}"; do
    ! ip link show "$(link_of "$h")" >/dev/null 2>&1 || die "a device named $(link_of "$h") exists already; set BFTLEDGER_NETNS_PREFIX"
    ip netns add "$(ns_of "$h")" 2>/dev/null || true
    ip -n "$(ns_of "$h")" link set lo up
  done
  mkdir -p "$WANEM_DIR"
  echo "$nodes" >"$WANEM_DIR/hosts"
  echo "$profile $rate" >"$WANEM_DIR/profile"
  rm -f "$WANEM_DIR/wanem.ready"
  local links=()
  for h in "${hosts[@]}"; do
    # The client namespace is not shaped: latency figures are the validators' paths.
    if [ "$h" = gen ]; then links+=(--link "$(link_of "$h")=$(ip_of "$h")");
    else links+=(--link "$(link_of "$h")=$(ip_of "$h"):shaped"); fi
  done
  # The emulator stands in for the kernel's network path, so it must not wait behind the nodes
  # for a CPU: a real-time priority (or, failing that, a high one) keeps each hop's added delay
  # at microseconds on a busy machine; under nice 0 it waited milliseconds and let the links'
  # queues overflow. The kernel's real-time throttling still leaves the others 5% of each CPU.
  local priority=(chrt --fifo 10)
  chrt --fifo 10 true 2>/dev/null || priority=(nice -n -10)
  setsid "${priority[@]}" python3 "$ROOT/testnet/wanem.py" --state "$WANEM_DIR" "${links[@]}" \
    >>"$WANEM_DIR/wanem.log" 2>&1 </dev/null &
  echo $! >"$WANEM_DIR/pid"
  local deadline=$(( $(date +%s) + 10 ))
  until [ -f "$WANEM_DIR/wanem.ready" ]; do
    wanem_alive || die "the WAN emulator exited: $(tail -n 5 "$WANEM_DIR/wanem.log")"
    [ "$(date +%s)" -lt "$deadline" ] || die "the WAN emulator did not start within 10s"
    sleep 0.1
  done
  for h in "${hosts[@]}"; do
    local ns link
    ns="$(ns_of "$h")" link="$(link_of "$h")"
    ip link set "$link" netns "$ns"
    ip -n "$ns" addr add "$(ip_of "$h")/24" dev "$link"
    # Multicast on: mDNS. The MTU is the emulator's (see wanem.py). A long queue: a burst
    # waits for the emulator instead of being dropped (drops stall TCP for a retransmission).
    ip -n "$ns" link set "$link" mtu "$MTU_BYTES" txqueuelen "$LINK_QUEUE_PACKETS" multicast on up
  done
}

net_down() {
  local pid n i
  pid="$(wanem_pid)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"   # its devices vanish with it
    local deadline=$(( $(date +%s) + STOP_TIMEOUT_S ))
    while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
    kill -s KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$WANEM_DIR/pid" "$WANEM_DIR/wanem.ready"
  n="$(cat "$WANEM_DIR/hosts" 2>/dev/null || echo "$MAX_NODES")"
  for ns in "$(ns_of gen)" $(for ((i = 0; i < n; i++)); do ns_of "$i"; done); do
    ip netns del "$ns" 2>/dev/null || true
  done
}

# ---- nodes --------------------------------------------------------------------------------

start_node() {
  local i="$1" dir="$DATA/node$1"
  if alive "$i"; then say "node$i is already running (pid $(pid_of "$i"))"; return; fi
  # setsid: the node outlives this script; 'ip netns exec' execs the node in the same process.
  setsid ip netns exec "$(ns_of "$i")" "$BIN" node --config "$dir/config.toml" \
    >>"$dir/node.log" 2>&1 </dev/null &
  echo $! >"$dir/node.pid"
}

ensure_binary() {
  if [ -n "${BFTLEDGER_BIN:-}" ] || [ -f "$DATA/bin" ]; then
    [ -x "$BIN" ] || die "$BIN (BFTLEDGER_BIN, or the testnet's binary) is not an executable file"
    return
  fi
  "$ROOT/scripts/setup.sh"
  say "building the release binary (the first build takes several minutes) ..."
  (cd "$ROOT" && cargo build --release --locked -q -p bftledger-node --bin bftledger)
}

# Writes the testnet with `testnet init --hosts`, as for real machines; then, because the client
# namespace must reach every API, each API listens on its host's address instead of loopback.
init_testnet() {
  local nodes="$1" discovery="$2" host_list="" i
  for ((i = 0; i < nodes; i++)); do host_list+="${host_list:+,}$(ip_of "$i")"; done
  mkdir -p "$(dirname "$DATA")"
  local tmp="$DATA.init"
  rm -rf "$tmp"
  "$BIN" testnet init --hosts "$host_list" --discovery "$discovery" --dir "$tmp" \
    --p2p-port-base "$P2P_PORT" --api-port-base "$API_PORT" >"$DATA.init.txt" \
    || die "testnet init failed: $(cat "$DATA.init.txt")"
  for ((i = 0; i < nodes; i++)); do
    sed -i "s|^listen = \"127.0.0.1:$API_PORT\"|listen = \"$(ip_of "$i"):$API_PORT\"|" "$tmp/node$i/config.toml"
    grep -q "^listen = \"$(ip_of "$i"):$API_PORT\"" "$tmp/node$i/config.toml" \
      || die "could not set node$i's API address in $tmp/node$i/config.toml"
  done
  mv "$tmp" "$DATA"
  mv "$DATA.init.txt" "$DATA/init.txt"
  echo "$discovery" >"$DATA/discovery"
}

# ---- commands -----------------------------------------------------------------------------

cmd_up() {
  local nodes=4 discovery=mdns profile=lan rate=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --nodes) nodes="${2:-}"; shift 2 || die "--nodes needs a number" ;;
      --discovery) discovery="${2:-}"; shift 2 || die "--discovery needs mdns or kademlia" ;;
      --profile) profile="${2:-}"; shift 2 || die "--profile needs lan, region or global" ;;
      --rate) rate="${2:-}"; shift 2 || die "--rate needs Mbit/s" ;;
      *) die "unknown option for up: $1" ;;
    esac
  done
  if ! [[ "$nodes" =~ ^[0-9]+$ ]] || [ "$nodes" -lt 4 ] || [ "$nodes" -gt "$MAX_NODES" ]; then
    die "--nodes must be a number from 4 to $MAX_NODES"
  fi
  case "$discovery" in mdns) ;; kademlia) discovery=first ;; *) die "--discovery must be mdns or kademlia" ;; esac
  check_profile "$profile" "$rate"
  need_root
  if [ -d "$DATA" ] && any_alive; then
    say "the namespace testnet in $DATA is already running; nothing changed."
    cmd_status
    return
  fi
  ensure_binary
  if [ -f "$DATA/genesis.toml" ]; then
    nodes="$(node_count)"
    say "restarting the existing $nodes-node namespace testnet in $DATA ($(cat "$DATA/discovery") discovery)"
  else
    init_testnet "$nodes" "$discovery"
  fi
  net_up "$nodes" "$profile" "$rate"
  echo "$BIN" >"$DATA/bin"
  for ((i = 0; i < nodes; i++)); do start_node "$i"; done
  say "waiting for $nodes nodes to be ready ($(cat "$DATA/discovery") discovery, profile $profile) ..."
  for ((i = 0; i < nodes; i++)); do wait_ready "$i"; done

  local a1 out id
  a1="$("$BIN" address --key "$DATA/accounts/account-1.key" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["address"])')"
  out="$(cli --node "$(api_url 0)" --json transfer --key "$DATA/accounts/account-0.key" --to "$a1" \
    --amount 1 --wait --wait-ms 30000)" || die "the first transfer did not commit; see $DATA/node*/node.log"
  id="$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
  echo "$id" >"$DATA/first-transfer.txt"
  say ""
  say "namespace testnet is up: $nodes validators, first block committed (transfer $id)."
  for ((i = 0; i < nodes; i++)); do
    say "  node$i  namespace $(ns_of "$i")  p2p $(ip_of "$i"):$P2P_PORT  api $(api_url "$i")"
  done
  say "  clients: namespace $(ns_of gen) ($(ip_of gen)), e.g."
  say "    ip netns exec $(ns_of gen) $BIN --node $(api_url 0) status"
}

check_profile() {
  case "$1" in lan|region|global) ;; *) die "unknown profile '$1' (lan, region, global)" ;; esac
  [[ "$2" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--rate must be a number of Mbit/s (0: no cap)"
}

# The network alone: namespaces and links, no testnet (hosts without software, e.g. to follow
# docs/DEPLOY.md by hand with each namespace as a machine).
cmd_net() {
  local nodes=4 profile=lan rate=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --nodes) nodes="${2:-}"; shift 2 || die "--nodes needs a number" ;;
      --profile) profile="${2:-}"; shift 2 || die "--profile needs lan, region or global" ;;
      --rate) rate="${2:-}"; shift 2 || die "--rate needs Mbit/s" ;;
      *) die "unknown option for net: $1" ;;
    esac
  done
  if ! [[ "$nodes" =~ ^[0-9]+$ ]] || [ "$nodes" -lt 1 ] || [ "$nodes" -gt "$MAX_NODES" ]; then
    die "--nodes must be a number from 1 to $MAX_NODES"
  fi
  check_profile "$profile" "$rate"
  need_root
  net_up "$nodes" "$profile" "$rate"
  for ((i = 0; i < nodes; i++)); do say "host$i: namespace $(ns_of "$i"), address $(ip_of "$i")"; done
  say "clients: namespace $(ns_of gen), address $(ip_of gen); 'down' removes them all"
}

cmd_profile() {
  local profile="${1:-}" rate=0
  [ $# -gt 0 ] && shift
  [ "${1:-}" = --rate ] && { rate="${2:-}"; shift 2 || die "--rate needs Mbit/s"; }
  [ $# -eq 0 ] || die "unknown option for profile: $1"
  check_profile "$profile" "$rate"
  need_root
  wanem_alive || die "the namespace testnet is not up"
  echo "$profile $rate" >"$WANEM_DIR/profile"
  kill -s HUP "$(wanem_pid)"
  say "profile $profile (rate cap: $([ "$rate" = 0 ] && echo none || echo "$rate Mbit/s per link")) on every validator's link"
}

partitioned_nodes() {
  local n i
  n="$(node_count)"
  for ((i = 0; i < n; i++)); do
    in_ns "$i" iptables -S "$CHAIN" >/dev/null 2>&1 && echo "node$i"
  done
  return 0
}

cmd_status() {
  [ -d "$DATA" ] || die "no namespace testnet in $DATA; start one with: ./testnet/netns.sh up"
  need_root
  local n i
  n="$(node_count)"
  printf '%-6s %-10s %-12s %-8s %-6s %-8s %-6s %-8s %-6s\n' node namespace address pid alive height view primary peers
  for ((i = 0; i < n; i++)); do
    local pid state="no" row="-        -      -        -"
    pid="$(pid_of "$i")"
    if alive "$i"; then
      state="yes"
      row="$(cli --node "$(api_url "$i")" --timeout-ms 2000 status --json 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)
print("%-8s %-6s %-8s %-6s" % (s["height"], s["view"], s["primary"], len(s["peers"])))' 2>/dev/null \
        || echo "?        ?      ?        ?")"
    fi
    printf '%-6s %-10s %-12s %-8s %-6s %s\n' "node$i" "$(ns_of "$i")" "$(ip_of "$i")" "${pid:--}" "$state" "$row"
  done
  if wanem_alive; then
    say "network: profile $(cat "$WANEM_DIR/profile") (name, Mbit/s cap); emulator pid $(wanem_pid); $(cat "$WANEM_DIR/wanem.stats" 2>/dev/null || true)"
  else
    say "network: down (the WAN emulator is not running)"
  fi
  local parts
  parts="$(partitioned_nodes | tr '\n' ' ')"
  [ -z "$parts" ] || say "partitioned: $parts"
}

cmd_partition() {
  check_index "${1:-}" partition
  need_root
  local i="$1"
  in_ns "$i" iptables -N "$CHAIN" 2>/dev/null || die "node$i is already partitioned"
  for hook in INPUT OUTPUT; do in_ns "$i" iptables -I "$hook" -j "$CHAIN"; done
  # Its peers listen on the same port and dial from it, so every p2p segment has the port on
  # one side; mDNS too, so that it neither finds nor is found. Its API port stays open.
  for dir in --sport --dport; do
    in_ns "$i" iptables -A "$CHAIN" -p tcp "$dir" "$P2P_PORT" -j DROP
    in_ns "$i" iptables -A "$CHAIN" -p udp "$dir" "$MDNS_PORT" -j DROP
  done
  say "node$i is partitioned: its namespace drops p2p (tcp $P2P_PORT) and mDNS traffic ('heal' undoes it)"
}

heal_quietly() {
  local n i
  n="$(node_count)"
  for ((i = 0; i < n; i++)); do
    if in_ns "$i" iptables -S "$CHAIN" >/dev/null 2>&1; then
      for hook in INPUT OUTPUT; do in_ns "$i" iptables -D "$hook" -j "$CHAIN" 2>/dev/null || true; done
      in_ns "$i" iptables -F "$CHAIN"
      in_ns "$i" iptables -X "$CHAIN"
    fi
  done
}

cmd_heal() { need_root; heal_quietly; say "every partition is healed"; }

cmd_stop() { check_index "${1:-}" stop; stop_node "$1" TERM; say "node$1 stopped"; }

cmd_restart() {
  check_index "${1:-}" restart
  need_root
  wanem_alive || die "the network is down; use 'up'"
  [ -x "$BIN" ] || ensure_binary
  stop_node "$1" TERM
  start_node "$1"
  wait_ready "$1"
  say "node$1 restarted and ready"
}

cmd_exec() {
  local host="${1:-}"
  [ "$host" = gen ] || check_index "$host" exec
  shift
  [ $# -gt 0 ] || die "give a command to run in $(ns_of "$host")"
  need_root
  exec ip netns exec "$(ns_of "$host")" "$@"
}

cmd_url() { [ "${1:-}" = gen ] && die "the client namespace has no API"; check_index "${1:-}" url; api_url "$1"; }

cmd_down() {
  local clean=no
  [ "${1:-}" = "--clean" ] && clean=yes
  [ -n "${1:-}" ] && [ "$clean" = no ] && die "unknown option for down: $1"
  need_root
  if [ -d "$DATA" ]; then
    local n i
    n="$(node_count)"
    for ((i = 0; i < n; i++)); do stop_node "$i" TERM; done
  fi
  net_down
  if [ "$clean" = yes ]; then
    rm -rf "$DATA" "$DATA.init" "$DATA.init.txt"
    say "namespace testnet stopped, its namespaces and links removed, its data deleted"
  else
    say "namespace testnet stopped, its namespaces and links removed (data kept in $DATA)"
  fi
}

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
  profile) cmd_profile "$@" ;;
  net) cmd_net "$@" ;;
  exec) cmd_exec "$@" ;;
  url) cmd_url "$@" ;;
  down) cmd_down "$@" ;;
  ""|-h|--help|help) usage ;;
  *) echo "netns.sh: unknown command '$command'" >&2; usage ;;
esac
