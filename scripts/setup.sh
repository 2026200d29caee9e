#!/usr/bin/env bash
# Installs what building and testing bftledger needs on a fresh Debian machine, idempotently:
#   clang, libclang-dev  bindgen, used by the rocksdb crate's build
#   librocksdb-dev       RocksDB itself, linked dynamically (see .cargo/config.toml)
#   iptables             network fault injection in the local testnet (partition/heal)
#   faketime             clock jumps and skew on one node (testnet/chaos.sh)
#   iproute2             network namespaces: testnet/netns.sh and the mDNS tests (`ip netns`)
# Run as root, or with passwordless sudo. Prints nothing when everything is present.
set -euo pipefail

packages=(clang libclang-dev librocksdb-dev pkg-config iptables faketime iproute2)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
  echo "setup: cargo (the Rust toolchain) is required and not on PATH; install it with rustup" >&2
  exit 1
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component"
  fi
done
