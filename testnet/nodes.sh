# Node bookkeeping shared by testnet/local.sh and testnet/netns.sh (sourced, not run): node
# directories, pid files, liveness, readiness, stopping, and the `logs` and `kill` commands. The
# caller defines DATA (the testnet directory holding node0, node1, ...), STOP_TIMEOUT_S,
# READY_TIMEOUT_S, die, say, cli (the bftledger CLI as it reaches the nodes) and api_url I.

node_count() {
  local n=0
  while [ -d "$DATA/node$n" ]; do n=$((n + 1)); done
  echo "$n"
}

check_index() {
  [[ "${1:-}" =~ ^[0-9]+$ ]] || die "give a node index, e.g. '$(basename "$0") $2 0'"
  [ -d "$DATA/node$1" ] || die "there is no node $1 (the testnet has $(node_count) nodes: 0..$(( $(node_count) - 1 )))"
}

pid_of() { cat "$DATA/node$1/node.pid" 2>/dev/null || true; }

alive() {
  local pid
  pid="$(pid_of "$1")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

any_alive() {
  local n i
  n="$(node_count)"
  for ((i = 0; i < n; i++)); do alive "$i" && return 0; done
  return 1
}

# ready I: node I answers its status and says it is ready.
ready() {
  cli --node "$(api_url "$1")" --timeout-ms 1000 status --json 2>/dev/null \
    | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["ready"] else 1)' 2>/dev/null
}

wait_ready() {
  local i="$1" deadline=$(( $(date +%s) + READY_TIMEOUT_S ))
  until ready "$i"; do
    alive "$i" || die "node$i exited; its log: $DATA/node$i/node.log (last lines below)
$(tail -n 20 "$DATA/node$i/node.log" 2>/dev/null)"
    [ "$(date +%s)" -lt "$deadline" ] || die "node$i was not ready within ${READY_TIMEOUT_S}s; see $DATA/node$i/node.log"
    sleep 0.5
  done
}

# stop_node I [SIGNAL]: signals node I (TERM by default), waits up to STOP_TIMEOUT_S, then KILLs.
stop_node() {
  local i="$1" signal="${2:-TERM}" pid
  pid="$(pid_of "$i")"
  if ! alive "$i"; then
    rm -f "$DATA/node$i/node.pid"
    return
  fi
  kill -s "$signal" "$pid"
  local deadline=$(( $(date +%s) + STOP_TIMEOUT_S ))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      say "node$i did not stop within ${STOP_TIMEOUT_S}s of SIG$signal; sending SIGKILL"
      kill -s KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.2
  done
  rm -f "$DATA/node$i/node.pid"
}

cmd_logs() {
  check_index "${1:-}" logs
  if [ "${2:-}" = "-f" ]; then
    exec tail -n 100 -f "$DATA/node$1/node.log"
  fi
  tail -n 100 "$DATA/node$1/node.log"
}

cmd_kill() {
  check_index "${1:-}" kill
  alive "$1" || die "node$1 is not running"
  stop_node "$1" KILL
  say "node$1 killed (SIGKILL)"
}
