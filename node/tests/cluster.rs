//! Four real validators on loopback, driven through the CLI.

mod common;

use common::{request, run, run_json, s, Cluster};
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(30);

fn transfer(
    c: &Cluster,
    node: usize,
    from: usize,
    to: usize,
    amount: u64,
    extra: &[&str],
) -> (i32, String, String) {
    let to = c.account(to);
    let key = c.account_key(from);
    let amount = amount.to_string();
    let mut args = vec![
        "transfer",
        "--key",
        s(&key),
        "--to",
        &to,
        "--amount",
        &amount,
        "--node",
        &c.nodes[node].url,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn balance(c: &Cluster, node: usize, account: usize) -> u64 {
    let addr = c.account(account);
    // u64 amounts are decimal strings in JSON.
    run_json(&["balance", &addr, "--node", &c.nodes[node].url])["balance"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn transfers_commit_everywhere_and_proofs_verify_locally() {
    let c = Cluster::start(4, "transfers_commit", Duration::from_secs(90));
    // --wait returns once committed, with the receipt.
    let (code, out, err) = transfer(&c, 1, 0, 1, 100, &["--wait", "--json"]);
    assert_eq!(code, 0, "{out}{err}\n{}", c.log_tail(1));
    let receipt: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(receipt["status"], "committed");
    let id = receipt["id"].as_str().unwrap().to_string();
    // More transfers through different nodes (explicit nonces: they are in flight together).
    for (node, nonce) in [(2usize, 2u64), (3, 3), (0, 4)] {
        let (code, out, err) = transfer(&c, node, 0, 2, 10, &["--nonce", &nonce.to_string()]);
        assert_eq!(code, 0, "{out}{err}");
    }
    let (height, _) = c.wait_converged(&[0, 1, 2, 3], 1, CONVERGE);
    common::wait_for(
        "all transfers applied on every node",
        CONVERGE,
        || (0..4).all(|i| balance(&c, i, 2) == 1_000_000 + 30),
        || c.log_tail(0),
    );
    c.wait_converged(&[0, 1, 2, 3], height, CONVERGE);
    assert_eq!(balance(&c, 3, 1), 1_000_000 + 100);
    assert_eq!(balance(&c, 2, 0), 1_000_000 - 130);

    // tx --verify against the local genesis, on every node.
    for node in &c.nodes {
        let v = run_json(&[
            "tx",
            &id,
            "--verify",
            "--genesis",
            s(&c.genesis()),
            "--node",
            &node.url,
        ]);
        assert_eq!(v["verified"]["ok"], true, "{v}");
        assert!(v["verified"]["signers"].as_array().unwrap().len() >= 3);
    }
    let (code, out, _) = run(&[
        "tx",
        &id,
        "--verify",
        "--genesis",
        s(&c.genesis()),
        "--node",
        &c.nodes[0].url,
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("verified"), "{out}");
    // ... or against the node's genesis pinned by its hash.
    let hash = c.status(0).unwrap()["genesis_hash"]
        .as_str()
        .unwrap()
        .to_string();
    let v = run_json(&[
        "tx",
        &id,
        "--verify",
        "--genesis-hash",
        &hash,
        "--node",
        &c.nodes[0].url,
    ]);
    assert_eq!(v["verified"]["ok"], true);
    let (code, _, err) = run(&[
        "tx",
        &id,
        "--verify",
        "--genesis-hash",
        &"00".repeat(32),
        "--node",
        &c.nodes[0].url,
    ]);
    assert_eq!(code, 5, "{err}");

    // A tampered certificate (served by a fake node) fails verification with exit code 5.
    let fake = tampering_proxy(&c.nodes[0].url);
    let (code, _, err) = run(&[
        "tx",
        &id,
        "--verify",
        "--genesis",
        s(&c.genesis()),
        "--node",
        &fake,
    ]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("does NOT verify"), "{err}");

    // block and status commands.
    let h = receipt["committed"]["height"].as_u64().unwrap();
    let b = run_json(&["block", &h.to_string(), "--node", &c.nodes[2].url]);
    assert_eq!(b["block"]["height"], h);
    let st = run_json(&["status", "--node", &c.nodes[0].url]);
    assert_eq!(st["peers"].as_array().unwrap().len(), 3);
    assert_eq!(st["ready"], true);

    // Refused at the door: more than the sender's committed balance (exit code 3, the reason).
    let (code, out, err) = transfer(&c, 0, 1, 0, 50_000_000, &["--wait"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("insufficient_funds"), "{err}");
    // Rejected at execution: two transfers each within the balance (1,000,100), together beyond
    // it, admitted in one batch (the door checks the committed balance only).
    overdrawing_pair_is_rejected_at_execution(&c);
    // The very same signed transfer again (the CLI signs the same fields): refused, it was
    // already executed. Exit code 3 with the reason.
    let (code, _, err) = transfer(&c, 0, 1, 0, 600_000, &["--nonce", "2", "--wait"]);
    assert_eq!(code, 3);
    assert!(err.contains("already_rejected"), "{err}");
    // A used nonce is refused at the door.
    let (code, _, err) = transfer(&c, 0, 1, 0, 5, &["--nonce", "1"]);
    assert_eq!(code, 3);
    assert!(err.contains("nonce_used"), "{err}");
    // Refused by the API (unknown recipient is fine, a zero amount is a usage error).
    let (code, _, _) = transfer(&c, 0, 1, 0, 0, &[]);
    assert_eq!(code, 2);

    // A batch submission of many transfers commits, spread over several blocks.
    batch_of_transfers_commits(&c, 120);

    // Node 1 was configured to log JSON lines.
    let log = std::fs::read_to_string(&c.nodes[1].log).unwrap();
    let line = log.lines().find(|l| l.contains("block committed")).unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["message"], "block committed", "{line}");

    // Malformed API requests change nothing.
    let before = c.wait_converged(&[0, 1, 2, 3], 1, CONVERGE);
    for body in ["{", "{\"transfer\": 5}", "[]"] {
        let (status, text) = request(
            "POST",
            &format!("{}/v1/transfers", c.nodes[0].url),
            Some(body),
        )
        .unwrap();
        assert!((400..500).contains(&status), "{status} {text}");
        assert!(text.contains("\"code\""), "{text}");
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(c.wait_converged(&[0, 1, 2, 3], 1, CONVERGE), before);
    assert!(c.metrics(0).contains("bftledger_transfers_committed_total"));
    common::wait_for(
        "p2p counters in /metrics",
        Duration::from_secs(5),
        || c.metrics(0).contains("bftledger_p2p{kind=\"frames_in\"}"),
        || c.metrics(0),
    );
}

/// A fake node that relays to `upstream` but flips one bit of every commit signature it serves.
fn tampering_proxy(upstream: &str) -> String {
    let upstream = upstream.to_string();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
                let upstream = upstream.clone();
                async move {
                    let url = format!("{upstream}{uri}");
                    let body = reqwest::get(url).await.unwrap().text().await.unwrap();
                    let mut v: serde_json::Value = serde_json::from_str(&body).unwrap();
                    if let Some(cert) = v.get("certificate").and_then(|c| c.as_str()) {
                        v["certificate"] = serde_json::json!(tamper(cert));
                    }
                    // An account proof: one more minor unit than the validators signed.
                    if let Some(balance) = v.pointer("/proof/balance").and_then(|b| b.as_str()) {
                        let more = balance.parse::<u64>().unwrap() + 1;
                        v["proof"]["balance"] = serde_json::json!(more.to_string());
                    }
                    axum::Json(v)
                }
            });
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{addr}")
}

/// Flips a bit near the end of the certificate (inside the last commit signature).
fn tamper(cert_hex: &str) -> String {
    let mut bytes = hex::decode(cert_hex).unwrap();
    let i = bytes.len() - 5;
    bytes[i] ^= 1;
    hex::encode(bytes)
}

#[test]
fn a_stopped_validator_does_not_stop_commits_and_catches_up_after_restart() {
    let mut c = Cluster::start(4, "stopped_validator", Duration::from_secs(90));
    let (code, out, err) = transfer(&c, 0, 0, 1, 5, &["--wait"]);
    assert_eq!(code, 0, "{out}{err}");
    c.wait_converged(&[0, 1, 2, 3], 1, CONVERGE);
    c.kill_node(3);
    // More blocks than the checkpoint interval (4) and the window (8) while it is down.
    for nonce in 2..=10u64 {
        let (code, out, err) = transfer(&c, 1, 0, 1, 5, &["--wait", "--nonce", &nonce.to_string()]);
        assert_eq!(
            code,
            0,
            "with a validator down: {out}{err}\n{}",
            c.log_tail(1)
        );
    }
    let (height, root) = c.wait_converged(&[0, 1, 2], 10, CONVERGE);
    garbage_frames_are_refused_without_harm(&c);
    let (height, root) = if c.status(0).unwrap()["height"].as_u64().unwrap() > height {
        c.wait_converged(&[0, 1, 2], height + 1, CONVERGE)
    } else {
        (height, root)
    };
    c.start_node(3);
    c.wait_ready(3, CONVERGE);
    let (h3, r3) = c.wait_converged(&[0, 1, 2, 3], height, CONVERGE);
    assert!(h3 >= height);
    if h3 == height {
        assert_eq!(r3, root);
    }
    // And it takes part again: new transfers commit with it.
    let (code, out, err) = transfer(&c, 3, 0, 1, 5, &["--wait", "--nonce", "12"]);
    assert_eq!(code, 0, "{out}{err}");
    let (top, _) = c.wait_converged(&[0, 1, 2, 3], h3 + 1, CONVERGE);
    assert_eq!(balance(&c, 3, 1), 1_000_000 + 60);
    c.assert_same_block_hashes(&[0, 1, 2, 3], top);
    // Checkpoints became stable on the restarted node too.
    assert!(c.status(3).unwrap()["stable_checkpoint"].as_u64().unwrap() >= 8);
    balances_verify_at_the_stable_checkpoint(&c);
}

/// `balance --verify` (issue 14): on every node, the restarted one included, the account's
/// balance is proven at the stable checkpoint against the genesis validators; a node that
/// serves a tampered proof fails with exit code 5.
fn balances_verify_at_the_stable_checkpoint(c: &Cluster) {
    let account = c.account(1);
    for node in &c.nodes {
        let v = run_json(&[
            "balance",
            &account,
            "--verify",
            "--genesis",
            s(&c.genesis()),
            "--node",
            &node.url,
        ]);
        let verified = &v["verified"];
        assert_eq!(verified["ok"], true, "{v}");
        let height = verified["height"].as_u64().unwrap();
        assert!(height >= 8 && height.is_multiple_of(4), "{v}");
        assert!(verified["signers"].as_array().unwrap().len() >= 3, "{v}");
        // The proven balance is the one at the checkpoint: account 1 gets 5 per block.
        let proven: u64 = verified["balance"].as_str().unwrap().parse().unwrap();
        assert!((1_000_000 + 5..=1_000_000 + 60).contains(&proven), "{v}");
    }
    // An account that never existed is proven absent.
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("nobody.key");
    assert_eq!(run(&["keygen", "--out", s(&key)]).0, 0);
    let nobody = run_json(&["address", "--key", s(&key)])["address"]
        .as_str()
        .unwrap()
        .to_string();
    let v = run_json(&[
        "balance",
        &nobody,
        "--verify",
        "--genesis",
        s(&c.genesis()),
        "--node",
        &c.nodes[0].url,
    ]);
    assert_eq!(v["verified"]["ok"], true, "{v}");
    assert_eq!(v["verified"]["balance"], "0", "{v}");
    let fake = tampering_proxy(&c.nodes[0].url);
    let (code, _, err) = run(&[
        "balance",
        &account,
        "--verify",
        "--genesis",
        s(&c.genesis()),
        "--node",
        &fake,
    ]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("does NOT verify"), "{err}");
}

#[test]
fn a_primary_restarted_mid_view_never_equivocates() {
    let mut c = Cluster::start(4, "restart_primary", Duration::from_secs(150));
    let primary = c.status(0).unwrap()["primary"].as_u64().unwrap() as usize;
    // Transfers in flight through the primary, then it crashes and comes straight back.
    for nonce in 1..=4u64 {
        let (code, out, err) = transfer(&c, primary, 0, 1, 1, &["--nonce", &nonce.to_string()]);
        assert_eq!(code, 0, "{out}{err}");
    }
    std::thread::sleep(Duration::from_millis(150));
    c.kill_node(primary);
    c.start_node(primary);
    c.wait_ready(primary, CONVERGE);
    // Transfers the crash lost are submitted again (the same signed transfer: a duplicate of
    // one that survived is refused, which is fine).
    for nonce in 1..=4u64 {
        transfer(
            &c,
            (primary + 1) % 4,
            0,
            1,
            1,
            &["--nonce", &nonce.to_string()],
        );
    }
    for nonce in 5..=6u64 {
        let (code, out, err) = transfer(
            &c,
            (primary + 1) % 4,
            0,
            1,
            1,
            &["--wait", "--nonce", &nonce.to_string()],
        );
        assert_eq!(code, 0, "{out}{err}\n{}", c.log_tail(primary));
    }
    // The primary goes down for good: a view change elects another, and transfers commit.
    c.kill_node(primary);
    let backup = (primary + 1) % 4;
    let (code, out, err) = transfer(&c, backup, 0, 1, 1, &["--wait", "--nonce", "7"]);
    assert_eq!(
        code,
        0,
        "after the primary died: {out}{err}\n{}",
        c.log_tail(backup)
    );
    let status = c.status(backup).unwrap();
    assert!(status["view"].as_u64().unwrap() >= 1, "{status}");
    assert_ne!(status["primary"].as_u64().unwrap() as usize, primary);
    // It comes back behind, in an old view, and catches up without contradicting itself.
    c.start_node(primary);
    c.wait_ready(primary, CONVERGE);
    let (code, out, err) = transfer(&c, backup, 0, 1, 1, &["--wait", "--nonce", "8"]);
    assert_eq!(code, 0, "{out}{err}");
    c.wait_converged(&[0, 1, 2, 3], 1, CONVERGE);
    common::wait_for(
        "all eight transfers applied everywhere",
        CONVERGE,
        || (0..4).all(|i| balance(&c, i, 1) == 1_000_008),
        || c.log_tail(0),
    );
    // Issue 11 item 10: blocks committed before, during and after the view change (in different
    // views on different validators) have one hash per height on every validator.
    let (height, _) = c.wait_converged(&[0, 1, 2, 3], 1, CONVERGE);
    c.assert_same_block_hashes(&[0, 1, 2, 3], height);
    // No replica saw two different votes from one replica for the same slot.
    for i in 0..4 {
        let m = c.metrics(i);
        for reason in ["equivocation", "conflicting_pre_prepare"] {
            assert!(
                !m.contains(&format!("reason=\"{reason}\"")),
                "node {i} saw {reason}:\n{m}"
            );
        }
    }
}

/// While validator 3 is down, its key (a validator's: frames from non-validators never reach
/// the node) sends garbage on the consensus protocol to validator 0, which refuses it, counts
/// it, and goes on committing.
fn garbage_frames_are_refused_without_harm(c: &Cluster) {
    use bftledger_node::config::NodeConfig;
    use bftledger_node::p2p::{self, P2pConfig};
    let genesis = bftledger_ledger::Genesis::load(&c.genesis()).unwrap();
    let key = bftledger_crypto::keyfile::read(&c.net().join("node3/validator.key")).unwrap();
    let node0 = NodeConfig::parse(&std::fs::read_to_string(&c.nodes[0].config).unwrap()).unwrap();
    let target = genesis.validators[0].public_key;
    let addr = format!("{}/p2p/{}", node0.p2p.listen[0], p2p::peer_id_of(&target));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut cfg = P2pConfig::new(genesis.hash(), genesis.validator_keys());
        cfg.settings.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
        cfg.settings.bootstrap = vec![addr.parse().unwrap()];
        let (handle, _events) = p2p::spawn(&key, cfg).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while !handle.connected_validators().contains(&target) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "could not connect to validator 0"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for garbage in [
            vec![],
            vec![0xff; 100],
            vec![1, 0, 5, 9, 9],
            vec![1; 70_000],
        ] {
            handle.send(target, garbage).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        handle.shutdown().await;
    });
    common::wait_for(
        "node 0 counted the garbage frames",
        Duration::from_secs(10),
        || c.metrics(0).contains("reason=\"undecodable\""),
        || c.metrics(0),
    );
    assert_eq!(c.status(0).unwrap()["ready"], true);
    let (code, out, err) = transfer(c, 0, 0, 1, 5, &["--wait", "--nonce", "11"]);
    assert_eq!(code, 0, "after garbage: {out}{err}");
}

/// Signs `count` transfers from demo account 2 (nonces 1..=count) and submits them in one
/// `POST /v1/transfers/batch` to validator 1; waits until all are applied everywhere.
/// Account 1 sends 600,000 twice (nonces 1 and 2) in one batch; the second is rejected at
/// execution with `InsufficientFunds`, and reported so on every node.
fn overdrawing_pair_is_rejected_at_execution(c: &Cluster) {
    let key = bftledger_crypto::keyfile::read(&c.account_key(1)).unwrap();
    let to: bftledger_crypto::Address = c.account(0).parse().unwrap();
    let chain = c.status(0).unwrap()["chain_id"]
        .as_str()
        .unwrap()
        .to_string();
    let transfers: Vec<_> = (1..=2)
        .map(|nonce| {
            bftledger_ledger::Transfer {
                chain_id: chain.clone(),
                from: key.public(),
                to: to.public_key(),
                amount: 600_000,
                nonce,
                memo: None,
            }
            .sign(&key)
        })
        .collect();
    let second = transfers[1].id();
    let body = serde_json::json!({ "transfers": transfers }).to_string();
    let url = format!("{}/v1/transfers/batch", c.nodes[0].url);
    let (status, text) = request("POST", &url, Some(&body)).unwrap();
    assert_eq!(status, 200, "{text}");
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(r["accepted"], 2, "{text}");
    common::wait_for(
        "the second transfer rejected at execution on every node",
        CONVERGE,
        || {
            (0..4).all(|i| {
                let url = format!("{}/v1/transfers/{second}", c.nodes[i].url);
                request("GET", &url, None).is_ok_and(|(_, text)| {
                    text.contains("\"rejected\"") && text.contains("insufficient funds")
                })
            })
        },
        || c.log_tail(0),
    );
}

fn batch_of_transfers_commits(c: &Cluster, count: u64) {
    let key = bftledger_crypto::keyfile::read(&c.account_key(2)).unwrap();
    let to: bftledger_crypto::Address = c.account(1).parse().unwrap();
    let chain = c.status(0).unwrap()["chain_id"]
        .as_str()
        .unwrap()
        .to_string();
    let transfers: Vec<_> = (1..=count)
        .map(|nonce| {
            bftledger_ledger::Transfer {
                chain_id: chain.clone(),
                from: key.public(),
                to: to.public_key(),
                amount: 1,
                nonce,
                memo: Some(format!("batch {nonce}")),
            }
            .sign(&key)
        })
        .collect();
    let before = balance(c, 0, 1);
    let body = serde_json::json!({ "transfers": transfers }).to_string();
    let url = format!("{}/v1/transfers/batch", c.nodes[1].url);
    let (status, text) = request("POST", &url, Some(&body)).unwrap();
    assert_eq!(status, 200, "{text}");
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(r["accepted"], count, "{text}");
    common::wait_for(
        "the batch applied everywhere",
        CONVERGE,
        || (0..4).all(|i| balance(c, i, 2) == 1_000_000 + 30 - count),
        || c.log_tail(0),
    );
    assert_eq!(balance(c, 3, 1), before + count);
}
