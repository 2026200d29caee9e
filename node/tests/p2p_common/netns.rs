//! Runs one test inside a private network namespace of its own, so that what it sends (mDNS
//! multicast) stays on a link no other host sees: the test re-executes its own binary, filtered
//! to itself, under `ip netns exec`. Needs root and `ip` (iproute2): CI runs as root and
//! `scripts/setup.sh` installs iproute2. Without them the test fails and says why.
//!
//! The namespace holds `lo` and one veth pair (`bflt-a` 10.214.0.1/24, `bflt-b` 10.214.0.2/24):
//! libp2p-mdns skips loopback interfaces, so it needs a link that is not loopback and carries
//! multicast. Nothing routes out of the namespace; it is deleted when the test ends.

use std::process::Command;

/// Set in the re-executed test: the name of the namespace it runs in.
const ENV_NETNS: &str = "BFTLEDGER_TEST_NETNS";

/// Addresses of the namespace's link, one per veth end.
const LINK_ADDRESSES: [(&str, &str); 2] =
    [("bflt-a", "10.214.0.1/24"), ("bflt-b", "10.214.0.2/24")];

/// Deletes the namespace when dropped (also when the test panics).
struct Namespace(String);

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) {
    let output = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip` (install iproute2: scripts/setup.sh): {e}"));
    assert!(
        output.status.success(),
        "`ip {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0")
}

/// True inside the namespace: the caller runs the test's body. Otherwise (the first run) it
/// creates the namespace, re-runs the test `test` (its exact name) inside it, asserts that exactly
/// that one test ran and passed, deletes the namespace, and returns false: the caller returns.
pub fn inside_private_netns(test: &str) -> bool {
    if std::env::var_os(ENV_NETNS).is_some() {
        return true;
    }
    assert!(
        is_root(),
        "{test} runs in a private network namespace (mDNS multicast must not reach a real \
         network) and creating one needs root; run the test as root (CI does)"
    );
    let name = format!(
        "bflt-{}-{}",
        std::process::id(),
        &test[..test.len().min(24)]
    );
    ip(&["netns", "add", &name]);
    let namespace = Namespace(name);
    let ns = namespace.0.as_str();
    ip(&["-n", ns, "link", "set", "lo", "up"]);
    ip(&[
        "-n",
        ns,
        "link",
        "add",
        LINK_ADDRESSES[0].0,
        "type",
        "veth",
        "peer",
        "name",
        LINK_ADDRESSES[1].0,
    ]);
    for (device, address) in LINK_ADDRESSES {
        ip(&["-n", ns, "addr", "add", address, "dev", device]);
        ip(&["-n", ns, "link", "set", device, "multicast", "on", "up"]);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let output = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(exe)
        .args([test, "--exact", "--nocapture", "--test-threads", "1"])
        .env(ENV_NETNS, ns)
        .output()
        .expect("run the test binary in the namespace");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("--- {test} in namespace {ns}:\n{stdout}{stderr}");
    assert!(output.status.success(), "{test} failed in namespace {ns}");
    // A filter that matched nothing would pass with 0 tests: insist on this one.
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "{test} did not run in namespace {ns}"
    );
    false
}
