//! The CLI without a running cluster: keys, testnet layout, config validation, exit codes.

mod common;

use common::{run, run_json, s};
use std::fs;
use std::os::unix::fs::PermissionsExt;

#[test]
fn keygen_writes_a_private_key_and_address_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("me.key");
    let made = run_json(&["keygen", "--out", s(&key)]);
    let mode = fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let read = run_json(&["address", "--key", s(&key)]);
    assert_eq!(made["address"], read["address"]);
    assert!(read["address"].as_str().unwrap().starts_with("bft1"));
    // Never overwrites without --force: a usage error (2).
    let (code, _, err) = run(&["keygen", "--out", s(&key)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--force"), "{err}");
}

#[test]
fn testnet_init_is_self_contained() {
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("net");
    let v = run_json(&["testnet", "init", "--validators", "4", "--dir", s(&net)]);
    assert_eq!(v["nodes"].as_array().unwrap().len(), 4);
    assert!(net.join("genesis.toml").is_file());
    let mut ports = std::collections::BTreeSet::new();
    for i in 0..4 {
        let node = net.join(format!("node{i}"));
        let mode = fs::metadata(node.join("validator.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        assert!(node.join("data").is_dir());
        let (config, _genesis) =
            bftledger_node::config::NodeConfig::load(&node.join("config.toml")).unwrap();
        assert_eq!(config.genesis_path, node.join("../genesis.toml"));
        assert_eq!(config.p2p.bootstrap.len(), 3);
        assert!(ports.insert(config.api.listen.port()));
        assert!(ports.insert(
            config.p2p.listen[0]
                .to_string()
                .rsplit('/')
                .next()
                .unwrap()
                .parse::<u16>()
                .unwrap()
        ));
        assert!(config.api.listen.ip().is_loopback());
    }
    let account = net.join("accounts/account-0.key");
    assert_eq!(
        fs::metadata(&account).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The genesis funds the demo accounts.
    let genesis = bftledger_ledger::Genesis::load(&net.join("genesis.toml")).unwrap();
    let addr = run_json(&["address", "--key", s(&account)]);
    assert!(genesis
        .balances
        .iter()
        .any(|b| bftledger_crypto::Address::from(b.account).to_string() == addr["address"]));
    // A second init into the same directory is refused.
    let (code, _, err) = run(&["testnet", "init", "--dir", s(&net)]);
    assert_eq!(code, 2, "{err}");
    // Too few validators.
    let (code, _, _) = run(&[
        "testnet",
        "init",
        "--validators",
        "3",
        "--dir",
        s(&dir.path().join("x")),
    ]);
    assert_eq!(code, 2);
}

/// Issue 19: `--hosts` writes configs for separate machines: p2p on every interface at one
/// port, the API on loopback, bootstrap addresses on the other hosts (with their peer ids); the
/// discovery modes leave validator 0 alone (`first`) or no bootstrap list at all (`mdns`).
#[test]
fn testnet_init_hosts_writes_configs_for_separate_machines() {
    let dir = tempfile::tempdir().unwrap();
    let load = |net: &std::path::Path, i: usize| {
        bftledger_node::config::NodeConfig::load(&net.join(format!("node{i}/config.toml")))
            .unwrap()
            .0
    };
    let hosts = "10.0.0.1,10.0.0.2,val-3.example.org,10.0.0.4";
    let net = dir.path().join("all");
    run_json(&["testnet", "init", "--hosts", hosts, "--dir", s(&net)]);
    let genesis = fs::read_to_string(net.join("genesis.toml")).unwrap();
    assert!(
        genesis.contains("/dns/val-3.example.org/tcp/26600/p2p/"),
        "{genesis}"
    );
    for i in 0..4 {
        let c = load(&net, i);
        assert_eq!(c.p2p.listen[0].to_string(), "/ip4/0.0.0.0/tcp/26600");
        assert_eq!(c.api.listen.to_string(), "127.0.0.1:26700");
        assert!(!c.p2p.enable_mdns);
        let boot: Vec<String> = c.p2p.bootstrap.iter().map(|a| a.to_string()).collect();
        assert_eq!(boot.len(), 3, "{boot:?}");
        let own = hosts.split(',').nth(i).unwrap();
        assert!(
            boot.iter().all(|a| !a.contains(&format!("/{own}/"))),
            "{boot:?}"
        );
        assert!(
            boot.iter().all(|a| a.contains("/tcp/26600/p2p/")),
            "{boot:?}"
        );
    }
    let net = dir.path().join("first");
    run_json(&[
        "testnet",
        "init",
        "--hosts",
        hosts,
        "--discovery",
        "first",
        "--dir",
        s(&net),
    ]);
    assert!(load(&net, 0).p2p.bootstrap.is_empty());
    for i in 1..4 {
        let boot = &load(&net, i).p2p.bootstrap;
        assert_eq!(boot.len(), 1);
        assert!(boot[0]
            .to_string()
            .starts_with("/ip4/10.0.0.1/tcp/26600/p2p/"));
    }
    let net = dir.path().join("mdns");
    run_json(&[
        "testnet",
        "init",
        "--hosts",
        hosts,
        "--discovery",
        "mdns",
        "--dir",
        s(&net),
    ]);
    for i in 0..4 {
        let c = load(&net, i);
        assert!(c.p2p.bootstrap.is_empty() && c.p2p.enable_mdns);
    }
    // Refused, with a usage error: a bad host, a count that disagrees, mDNS on loopback.
    for (args, says) in [
        (
            vec!["--hosts", "10.0.0.1,bad_host!,10.0.0.3,10.0.0.4"],
            "bad_host!",
        ),
        (
            vec!["--hosts", "0.0.0.0,10.0.0.2,10.0.0.3,10.0.0.4"],
            "0.0.0.0",
        ),
        (
            vec!["--hosts", hosts, "--validators", "5"],
            "--validators 5",
        ),
        (
            vec!["--hosts", "10.0.0.1,10.0.0.2,10.0.0.3"],
            "3 validators",
        ),
        (vec!["--discovery", "mdns"], "needs --hosts"),
    ] {
        let out = dir.path().join("refused");
        let mut argv = vec!["testnet", "init", "--dir", s(&out)];
        argv.extend(args);
        let (code, _, err) = run(&argv);
        assert_eq!(code, 2, "{argv:?}: {err}");
        assert!(err.contains(says), "{argv:?}: {err}");
        assert!(!out.exists(), "{argv:?} wrote {}", out.display());
    }
}

#[test]
fn a_bad_config_lists_every_problem_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let net = dir.path().join("net");
    run_json(&["testnet", "init", "--dir", s(&net)]);
    let path = net.join("node0/config.toml");
    let text = fs::read_to_string(&path)
        .unwrap()
        .replace("max_body_bytes = 1048576", "max_body_bytes = 0")
        .replace("tick_interval_ms = 20", "tick_interval_ms = 0")
        .replace("retransmit_ticks = 25", "retransmit_ticks = 0")
        .replace(
            "redial_backoff_initial_ms = 200",
            "redial_backoff_initial_ms = 0",
        );
    fs::write(&path, text).unwrap();
    let (code, _, err) = run(&["node", "--config", s(&path)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("4 problem(s)"), "{err}");
    for line in [
        "p2p.redial_backoff_initial_ms: must be greater than 0",
        "api.max_body_bytes: must be greater than 0",
        "consensus.retransmit_ticks: must be greater than 0",
        "driver.tick_interval_ms: must be greater than 0",
    ] {
        assert!(err.contains(line), "{line}: {err}");
    }
    // An unknown key names itself.
    fs::write(&path, "genesis_pth = 1\n").unwrap();
    let (code, _, err) = run(&["node", "--config", s(&path)]);
    assert_eq!(code, 2);
    assert!(err.contains("genesis_pth"), "{err}");
}

#[test]
fn exit_codes_distinguish_usage_unreachable_and_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    run_json(&["keygen", "--out", s(&key)]);
    let addr = run_json(&["address", "--key", s(&key)])["address"]
        .as_str()
        .unwrap()
        .to_string();
    let dead = format!("http://127.0.0.1:{}", common::free_port());
    // Usage: clap errors, bad address, bad id, --verify without a trusted genesis.
    assert_eq!(run(&["transfer"]).0, 2);
    assert_eq!(run(&["balance", "bft1nope", "--node", &dead]).0, 2);
    assert_eq!(run(&["tx", "xyz", "--node", &dead]).0, 2);
    assert_eq!(
        run(&["tx", &"ab".repeat(32), "--verify", "--node", &dead]).0,
        2
    );
    // Unreachable node.
    let (code, _, err) = run(&["balance", &addr, "--node", &dead, "--json"]);
    assert_eq!(code, 4, "{err}");
    let e: serde_json::Value = serde_json::from_str(err.trim()).unwrap();
    assert_eq!(e["error"]["code"], "unreachable");
    let (code, _, _) = run(&[
        "transfer",
        "--key",
        s(&key),
        "--to",
        &addr,
        "--amount",
        "1",
        "--node",
        &dead,
    ]);
    assert_eq!(code, 4);
    assert_eq!(run(&["status", "--node", &dead]).0, 4);
}

/// Runs `bftledger args...` and returns (exit code, stderr); kills it after `limit` (a node that
/// fails to refuse would otherwise run forever) and returns code -1 then.
fn run_bounded(args: &[&str], limit: std::time::Duration) -> (i32, String) {
    use std::io::Read;
    let mut child = std::process::Command::new(common::BIN)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running bftledger");
    let started = std::time::Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            break -1;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (code, err)
}

#[test]
fn a_damaged_ledger_database_refuses_to_start_and_says_what_to_do() {
    type Damage = fn(&std::path::Path);
    fn files_starting(dir: &std::path::Path, prefix: &str) -> Vec<std::path::PathBuf> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .collect()
    }
    let damages: [(&str, Damage); 3] = [
        ("empty CURRENT", |db| {
            fs::write(db.join("CURRENT"), b"").unwrap()
        }),
        ("CURRENT names a missing manifest", |db| {
            fs::write(db.join("CURRENT"), b"MANIFEST-999999\n").unwrap()
        }),
        ("truncated manifest", |db| {
            for path in files_starting(db, "MANIFEST-") {
                let len = fs::metadata(&path).unwrap().len();
                fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_len(len / 2)
                    .unwrap();
            }
        }),
    ];
    for (what, damage) in damages {
        let dir = tempfile::tempdir().unwrap();
        let net = dir.path().join("net");
        run_json(&["testnet", "init", "--dir", s(&net)]);
        let genesis = bftledger_ledger::Genesis::load(&net.join("genesis.toml")).unwrap();
        let db = net.join("node0/data/ledger");
        drop(bftledger_ledger::Store::create(&db, &genesis).unwrap());
        damage(&db);
        let config = net.join("node0/config.toml");
        let (code, err) = run_bounded(
            &["node", "--config", s(&config)],
            std::time::Duration::from_secs(30),
        );
        assert_eq!(
            code, 1,
            "{what}: the node must refuse to start (exit 1):\n{err}"
        );
        assert!(
            !err.contains("panicked"),
            "{what}: a panic, not a refusal:\n{err}"
        );
        for needed in [
            "cannot open the ledger database",
            "move",
            "aside",
            "catches up",
        ] {
            assert!(
                err.contains(needed),
                "{what}: {needed:?} missing from:\n{err}"
            );
        }
    }
}
