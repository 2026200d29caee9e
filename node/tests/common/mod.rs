//! Helpers for tests that run the real `bftledger` binary: a local cluster on loopback with
//! OS-assigned free ports, child processes killed on drop, and a watchdog per test.

#![allow(dead_code)]

use bftledger_node::config::NodeConfig;
use serde_json::Value;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_bftledger");

/// Runs `bftledger args...`, returning its output.
pub fn cli(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("BFTLEDGER_NODE")
        .env_remove("BFTLEDGER_GENESIS")
        .output()
        .expect("running bftledger")
}

/// Exit code, stdout, stderr.
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = cli(args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs with `--json` and parses stdout; panics with the output on a non-zero exit.
pub fn run_json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (code, stdout, stderr) = run(&all);
    assert_eq!(code, 0, "bftledger {args:?} failed:\n{stdout}\n{stderr}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// A free TCP port on 127.0.0.1 (bound then released; good enough on a test machine).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the registered children if the test overruns its time limit, then aborts the test
/// process (a hung cluster must never hang the test suite).
pub struct Watchdog {
    pids: Arc<Mutex<Vec<u32>>>,
    done: Arc<Mutex<bool>>,
}

impl Watchdog {
    /// Starts a watchdog of `limit`.
    pub fn start(name: &'static str, limit: Duration) -> Watchdog {
        let pids: Arc<Mutex<Vec<u32>>> = Arc::default();
        let done: Arc<Mutex<bool>> = Arc::default();
        let (p, d) = (pids.clone(), done.clone());
        std::thread::spawn(move || {
            let start = Instant::now();
            while start.elapsed() < limit {
                std::thread::sleep(Duration::from_millis(200));
                if *d.lock().unwrap() {
                    return;
                }
            }
            eprintln!("test {name} exceeded its {limit:?} limit: killing the cluster");
            for pid in p.lock().unwrap().iter() {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            }
            std::process::exit(101);
        });
        Watchdog { pids, done }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        *self.done.lock().unwrap() = true;
    }
}

/// One validator process.
pub struct Node {
    /// Its config file.
    pub config: PathBuf,
    /// Its API base URL.
    pub url: String,
    /// Its log file (stderr).
    pub log: PathBuf,
    child: Option<Child>,
}

/// Cluster tests of one test binary run one at a time (a 2-core machine runs 4 validators
/// well, not 12).
static SERIAL: Mutex<()> = Mutex::new(());

/// A local cluster made by `bftledger testnet init`, re-ported to free ports.
pub struct Cluster {
    _serial: std::sync::MutexGuard<'static, ()>,
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// The validators.
    pub nodes: Vec<Node>,
    watchdog: Watchdog,
}

impl Cluster {
    /// Initialises an `n`-validator testnet (not started).
    pub fn init(n: usize, name: &'static str, limit: Duration) -> Cluster {
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let watchdog = Watchdog::start(name, limit);
        let dir = tempfile::tempdir().unwrap();
        let net = dir.path().join("net");
        let (code, out, err) = run(&[
            "testnet",
            "init",
            "--validators",
            &n.to_string(),
            "--dir",
            net.to_str().unwrap(),
            "--accounts",
            "3",
            "--balance",
            "1000000",
        ]);
        assert_eq!(code, 0, "testnet init: {out}{err}");
        let p2p: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let api: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let mut nodes = Vec::new();
        for i in 0..n {
            let path = net.join(format!("node{i}/config.toml"));
            let mut config = NodeConfig::parse(&fs::read_to_string(&path).unwrap()).unwrap();
            config.p2p.listen = vec![format!("/ip4/127.0.0.1/tcp/{}", p2p[i]).parse().unwrap()];
            config.api.listen = format!("127.0.0.1:{}", api[i]).parse().unwrap();
            config.p2p.bootstrap = config
                .p2p
                .bootstrap
                .iter()
                .map(|addr| {
                    (0..n)
                        .fold(addr.to_string(), |a, j| {
                            a.replace(
                                &format!("/tcp/{}/", 26600 + j),
                                &format!("/tcp/{}/", p2p[j]),
                            )
                        })
                        .parse()
                        .unwrap()
                })
                .collect();
            // Small checkpoint interval and window: checkpoints, log garbage collection and
            // state transfer run within a few transfers.
            config.consensus.checkpoint_interval_seqs = 4;
            config.consensus.watermark_window_seqs = 8;
            // One node logs JSON lines (the config's other log format).
            if i == 1 {
                config.log.format = bftledger_node::config::LogFormat::Json;
            }
            fs::write(&path, config.to_toml()).unwrap();
            nodes.push(Node {
                config: path,
                url: format!("http://127.0.0.1:{}", api[i]),
                log: net.join(format!("node{i}.log")),
                child: None,
            });
        }
        Cluster {
            _serial: serial,
            dir,
            nodes,
            watchdog,
        }
    }

    /// Initialises and starts all validators, and waits until every one is ready.
    pub fn start(n: usize, name: &'static str, limit: Duration) -> Cluster {
        let mut c = Cluster::init(n, name, limit);
        for i in 0..n {
            c.start_node(i);
        }
        for i in 0..n {
            c.wait_ready(i, Duration::from_secs(30));
        }
        c
    }

    /// The testnet directory.
    pub fn net(&self) -> PathBuf {
        self.dir.path().join("net")
    }

    /// The genesis file.
    pub fn genesis(&self) -> PathBuf {
        self.net().join("genesis.toml")
    }

    /// Demo account key file `i`.
    pub fn account_key(&self, i: usize) -> PathBuf {
        self.net().join(format!("accounts/account-{i}.key"))
    }

    /// Demo account `i`'s address.
    pub fn account(&self, i: usize) -> String {
        let v = run_json(&["address", "--key", self.account_key(i).to_str().unwrap()]);
        v["address"].as_str().unwrap().to_string()
    }

    /// Starts validator `i` (appending to its log).
    pub fn start_node(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        assert!(node.child.is_none(), "node {i} already running");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .unwrap();
        let child = Command::new(BIN)
            .args(["node", "--config", node.config.to_str().unwrap()])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawning a node");
        self.watchdog.pids.lock().unwrap().push(child.id());
        node.child = Some(child);
    }

    /// Kills validator `i` with SIGKILL (a crash) and waits for it to exit.
    pub fn kill_node(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until `GET /health/ready` of validator `i` answers 200.
    pub fn wait_ready(&self, i: usize, limit: Duration) {
        let url = self.nodes[i].url.clone();
        wait_for(
            &format!("node {i} ready"),
            limit,
            || {
                get(&format!("{url}/health/ready"))
                    .map(|(s, _)| s == 200)
                    .unwrap_or(false)
            },
            || self.log_tail(i),
        );
    }

    /// `/v1/status` of validator `i`.
    pub fn status(&self, i: usize) -> Option<Value> {
        get(&format!("{}/v1/status", self.nodes[i].url))
            .ok()
            .and_then(|(s, body)| {
                (s == 200)
                    .then(|| serde_json::from_str(&body).ok())
                    .flatten()
            })
    }

    /// Waits until the listed validators report the same height (at least `min_height`) and the
    /// same state root; returns (height, root).
    pub fn wait_converged(
        &self,
        nodes: &[usize],
        min_height: u64,
        limit: Duration,
    ) -> (u64, String) {
        let mut result = (0, String::new());
        wait_for(
            &format!("nodes {nodes:?} converged at height >= {min_height}"),
            limit,
            || {
                let statuses: Vec<Option<Value>> = nodes.iter().map(|&i| self.status(i)).collect();
                let Some(first) = statuses[0].clone() else {
                    return false;
                };
                let h = first["height"].as_u64().unwrap();
                let root = first["state_root"].as_str().unwrap().to_string();
                let same = statuses.iter().all(|s| {
                    s.as_ref().is_some_and(|s| {
                        s["height"].as_u64() == Some(h) && s["state_root"].as_str() == Some(&root)
                    })
                });
                result = (h, root);
                same && h >= min_height
            },
            || {
                nodes
                    .iter()
                    .map(|&i| format!("node {i}: {:?}\n{}", self.status(i), self.log_tail(i)))
                    .collect::<Vec<_>>()
                    .join("\n")
            },
        );
        result
    }

    /// Asserts that the listed validators serve the same block hash at every height 1..=`top`
    /// (`GET /v1/blocks/H`); a validator that started from a snapshot lacks the blocks below it
    /// (404) and is left out there, but every height must be served by two validators at least.
    pub fn assert_same_block_hashes(&self, nodes: &[usize], top: u64) {
        for height in 1..=top {
            let hashes: Vec<(usize, String)> = nodes
                .iter()
                .filter_map(|&i| {
                    let (status, body) =
                        get(&format!("{}/v1/blocks/{height}", self.nodes[i].url)).unwrap();
                    if status == 404 {
                        return None;
                    }
                    assert_eq!(status, 200, "node {i} block {height}: {body}");
                    let block: Value = serde_json::from_str(&body).unwrap();
                    Some((i, block["hash"].as_str().unwrap().to_string()))
                })
                .collect();
            assert!(
                hashes.len() >= 2 && hashes.iter().all(|(_, h)| *h == hashes[0].1),
                "height {height}: block hashes per node {hashes:?}"
            );
        }
    }

    /// The Prometheus text of validator `i`.
    pub fn metrics(&self, i: usize) -> String {
        get(&format!("{}/metrics", self.nodes[i].url))
            .map(|(_, b)| b)
            .unwrap_or_default()
    }

    /// The last lines of validator `i`'s log.
    pub fn log_tail(&self, i: usize) -> String {
        let text = fs::read_to_string(&self.nodes[i].log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill_node(i);
        }
    }
}

/// Polls `check` every 100 ms until it holds; panics after `limit` with `context()`.
pub fn wait_for(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "timed out after {limit:?} waiting for {what}\n{}",
        context()
    );
}

/// A blocking HTTP GET: (status, body).
pub fn get(url: &str) -> Result<(u16, String), String> {
    request("GET", url, None)
}

/// A blocking HTTP request with an optional JSON body: (status, body).
pub fn request(method: &str, url: &str, json: Option<&str>) -> Result<(u16, String), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let mut req = client.request(method.parse().unwrap(), url);
        if let Some(body) = json {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await.map_err(|e| e.to_string())?))
    })
}

/// Path as &str.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
