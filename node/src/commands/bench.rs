//! `bftledger bench`: an open-loop load generator against a running network.
//!
//! 1. **Fund**: `--accounts` fresh accounts receive funds from the funder keys (by default the
//!    local testnet's demo accounts) and the generator waits until every funding transfer has
//!    committed.
//! 2. **Pre-sign** `rate × duration` transfers, so signing costs nothing during the run. Account
//!    `j` sends its k-th transfer (nonce k) to account `j + 1`; account `j` always submits to node
//!    `j mod nodes`, so one account's transfers reach the network in nonce order.
//! 3. **Offer load open-loop**: every `--tick-ms` the transfers due by then are submitted in one
//!    batch request per node, whether or not earlier ones have committed (in-flight requests are
//!    bounded by `--max-in-flight`; when the bound is hit the generator falls behind and says so).
//! 4. **Track every transfer** by reading each new block from the first node, and record
//!    accepted-to-commit latency (`latency_ms`: the ledger's) and first-submission-to-commit
//!    latency (`end_to_end_ms`: the client's, waits after `overloaded` refusals included) in HDR
//!    histograms, and the longest time between two new blocks (`max_commit_gap_ms`).
//! 5. **Read every node's `/metrics`** before and after the load: resident memory at start and
//!    end with its growth, the view changes each started and the CPU it used
//!    (`nodes_during_load`), so a run of `--duration 600` shows whether memory stays flat and
//!    whether overload ever cost a view; `cpu_us_per_transfer` is all nodes' CPU per committed
//!    transfer.
//!
//! 6. **Ask where the missing went**: for up to [`MAX_OUTSTANDING_PROBED`] transfers not
//!    committed within the drain, `GET /v1/transfers/{id}` at the node they were submitted to,
//!    counted by status and drop reason (`not_committed_status`).
//!
//! It prints a progress line per second and, last, one JSON object. Whatever it could not measure
//! (transfers refused by the API, rejected at execution, not committed before the drain timeout)
//! is counted and reported, never dropped from the figures silently.

use super::client::{Client, ClientError};
use super::node_figures;
use super::signature_bound::{self, SignatureBound};
use super::Output;
use crate::api::types::{
    AccountResponse, BatchSubmitRequest, BatchSubmitResponse, BlockResponse, StatusResponse,
    TransferResponse,
};
use crate::cli::{BatchForm, BenchArgs, GlobalArgs};
use crate::error::{CliError, CliResult};
use bftledger_crypto::{Address, Digest, SecretKey};
use bftledger_ledger::{Receipt, SignedTransfer, Transfer};
use futures::StreamExt;
use hdrhistogram::Histogram;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Largest number of transfers sent in one batch request.
const MAX_TRANSFERS_PER_REQUEST: usize = 1000;
/// Later than any advised retry time (to take every waiting retry at the end).
const FOREVER: Duration = Duration::from_secs(365 * 24 * 3600);
/// How often the commit tracker asks for the chain height, in milliseconds.
const TRACK_POLL_MS: u64 = 5;
/// Blocks the commit tracker fetches at once. One at a time, it learns of at most one block per
/// round trip to the node: 20 blocks/s at 50 ms, fewer than a WAN testnet commits, so the
/// tracker fell behind and reported its own lag as commit latency (issue 19).
const TRACK_BLOCKS_IN_FLIGHT: usize = 32;

/// Transfers not committed within the drain whose status the bench asks for, at most.
const MAX_OUTSTANDING_PROBED: usize = 10_000;
/// Status requests for them in flight at once.
const PROBES_IN_FLIGHT: usize = 16;

/// Runs `bench`.
pub fn run(args: &BenchArgs, global: &GlobalArgs, out: &Output) -> CliResult {
    check(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::failure)?;
    runtime.block_on(bench(args, global, out))
}

fn check(args: &BenchArgs) -> CliResult {
    if args.rate == 0 || args.duration == 0 || args.accounts == 0 || args.nodes.is_empty() {
        return Err(CliError::usage(
            "--rate, --duration, --accounts and --nodes must all be greater than zero",
        ));
    }
    if args.tick_ms == 0 || args.max_in_flight == 0 {
        return Err(CliError::usage(
            "--tick-ms and --max-in-flight must be greater than zero",
        ));
    }
    Ok(())
}

async fn bench(args: &BenchArgs, global: &GlobalArgs, out: &Output) -> CliResult {
    let clients: Vec<Arc<Client>> = args
        .nodes
        .iter()
        .map(|url| Client::new(url, global.timeout_ms).map(Arc::new))
        .collect::<CliResult<_>>()?;
    let status: StatusResponse = clients[0].get("/v1/status").await?;
    let total = (args.rate * args.duration) as usize;
    let per_account = total.div_ceil(args.accounts) as u64;
    let accounts: Vec<SecretKey> = (0..args.accounts).map(|_| SecretKey::generate()).collect();

    eprintln!(
        "bench: funding {} accounts on chain {} ...",
        args.accounts, status.chain_id
    );
    fund(
        &clients[0],
        &status.chain_id,
        &args.funders,
        &accounts,
        per_account + 1,
    )
    .await?;

    eprintln!("bench: pre-signing {total} transfers ...");
    let plan = presign(&status.chain_id, &accounts, total);
    let sample: Vec<SignedTransfer> = plan.iter().take(4096).map(|p| p.transfer.clone()).collect();
    let bound = signature_bound::measure(&sample, status.validators);
    eprintln!(
        "bench: this machine batch-verifies {:.0} transfers/s on {} threads: bound {:.0}/s for {} validators",
        bound.verify_per_s, bound.threads, bound.bound_per_s, bound.validators
    );
    let tracker = Arc::new(Mutex::new(Tracker::new(total)));
    let start_height = clients[0].get::<StatusResponse>("/v1/status").await?.height;
    let figures_before = node_figures::read(&clients).await;

    eprintln!(
        "bench: offering {} transfers/s for {} s to {} node(s)",
        args.rate,
        args.duration,
        clients.len()
    );
    let started = Instant::now();
    let track = tokio::spawn(track_commits(
        clients[0].clone(),
        tracker.clone(),
        start_height,
    ));
    let progress = tokio::spawn(print_progress(tracker.clone(), started));
    let node_of: HashMap<Digest, usize> = plan
        .iter()
        .map(|p| (p.id, p.account % clients.len()))
        .collect();
    let (lag, load_end) = offer_load(args, &clients, plan, tracker.clone(), started).await;

    let drain_deadline = load_end + Duration::from_secs(args.drain_s);
    while Instant::now() < drain_deadline && tracker.lock().expect("tracker lock").outstanding() > 0
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    track.abort();
    progress.abort();
    let figures_after = node_figures::read(&clients).await;
    let mut report = tracker
        .lock()
        .expect("tracker lock")
        .report(args, started, load_end, lag, bound);
    report["nodes_during_load"] = node_figures::report(&figures_before, &figures_after);
    let outstanding: Vec<Digest> = tracker
        .lock()
        .expect("tracker lock")
        .submit_time
        .keys()
        .take(MAX_OUTSTANDING_PROBED)
        .copied()
        .collect();
    report["not_committed_status"] = probe_outstanding(&clients, &node_of, outstanding).await;
    // CPU of all nodes per committed transfer, in microseconds (funding excluded, the drain
    // included): on a shared machine this moves far less with the neighbours than the rates do.
    let committed = report["committed"].as_u64().unwrap_or(0);
    report["cpu_us_per_transfer"] =
        match node_figures::cpu_seconds_used(&figures_before, &figures_after) {
            Some(cpu) if committed > 0 => serde_json::json!((cpu * 1e6 / committed as f64).round()),
            _ => serde_json::Value::Null,
        };
    out.emit(report.to_string(), report);
    Ok(())
}

/// Funds every account with `amount` from the funder keys and waits until all funding
/// transfers have committed.
async fn fund(
    client: &Client,
    chain_id: &str,
    funders_dir: &PathBuf,
    accounts: &[SecretKey],
    amount: u64,
) -> CliResult {
    let funders = read_funders(funders_dir)?;
    let mut transfers = Vec::with_capacity(accounts.len());
    let mut nonces: Vec<u64> = Vec::with_capacity(funders.len());
    for funder in &funders {
        let address = Address::from(funder.public());
        let account: AccountResponse = client.get(&format!("/v1/accounts/{address}")).await?;
        nonces.push(account.next_nonce);
    }
    for (i, account) in accounts.iter().enumerate() {
        let f = i % funders.len();
        let transfer = Transfer {
            chain_id: chain_id.to_string(),
            from: funders[f].public(),
            to: account.public(),
            amount,
            nonce: nonces[f],
            memo: None,
        };
        nonces[f] += 1;
        transfers.push(transfer.sign(&funders[f]));
    }
    let ids: Vec<Digest> = transfers.iter().map(SignedTransfer::id).collect();
    // One request at a time, in nonce order; what the node refuses as overloaded is sent again
    // after its `Retry-After` before anything later.
    for chunk in transfers.chunks(MAX_TRANSFERS_PER_REQUEST) {
        let mut waiting = chunk.to_vec();
        while !waiting.is_empty() {
            let (response, retry_after): (BatchSubmitResponse, _) = client
                .post_advised(
                    "/v1/transfers/batch",
                    &BatchSubmitRequest {
                        transfers: waiting.clone(),
                    },
                )
                .await?;
            let mut again = Vec::new();
            for (t, r) in waiting.into_iter().zip(&response.results) {
                match &r.error {
                    None => {}
                    Some(e) if e.code == "overloaded" => again.push(t),
                    Some(e) => {
                        return Err(CliError::failure(format!(
                            "a funding transfer was refused ({}): {}",
                            e.code, e.message
                        )))
                    }
                }
            }
            if !again.is_empty() {
                tokio::time::sleep(Duration::from_secs(retry_after.unwrap_or(1))).await;
            }
            waiting = again;
        }
    }
    // The last transfer of each funder commits after all earlier ones (nonce order).
    let deadline = Instant::now() + Duration::from_secs(60);
    for id in ids.iter().rev().take(funders.len()) {
        loop {
            let r: Result<crate::api::types::TransferResponse, _> =
                client.get(&format!("/v1/transfers/{id}")).await;
            match r {
                Ok(r) if r.status == "committed" => break,
                Ok(r) if r.committed.is_some() => {
                    return Err(CliError::failure(format!(
                        "funding transfer {id} was rejected: {}",
                        r.committed.map(|c| c.receipt_text).unwrap_or_default()
                    )))
                }
                Ok(_) | Err(ClientError::Api { status: 404, .. }) => {}
                Err(e) => return Err(e.into()),
            }
            if Instant::now() > deadline {
                return Err(CliError::failure(
                    "funding transfers did not commit within 60 s; is the network healthy?",
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

fn read_funders(dir: &PathBuf) -> CliResult<Vec<SecretKey>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        CliError::usage(format!(
            "--funders {}: {e} (point it at a directory of funded key files)",
            dir.display()
        ))
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "key"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(CliError::usage(format!(
            "--funders {}: no *.key files there",
            dir.display()
        )));
    }
    paths.iter().map(|p| super::read_key(p)).collect()
}

/// One pre-signed transfer, in submission order.
struct Planned {
    id: Digest,
    account: usize,
    transfer: SignedTransfer,
}

fn presign(chain_id: &str, accounts: &[SecretKey], total: usize) -> Vec<Planned> {
    let n = accounts.len();
    (0..total)
        .map(|i| {
            let account = i % n;
            let transfer = Transfer {
                chain_id: chain_id.to_string(),
                from: accounts[account].public(),
                to: accounts[(account + 1) % n].public(),
                amount: 1,
                nonce: (i / n) as u64 + 1,
                memo: None,
            }
            .sign(&accounts[account]);
            Planned {
                id: transfer.id(),
                account,
                transfer,
            }
        })
        .collect()
}

/// Transfers refused as `overloaded`, waiting to be re-sent: per account, in nonce order, with
/// the time the node advised (`Retry-After`). While an account has any, its later transfers
/// wait behind them, so each account's nonces still reach the network in order.
#[derive(Default)]
struct Retries {
    accounts: HashMap<usize, (Instant, VecDeque<Planned>)>,
}

impl Retries {
    /// `refused` (one request's transfers, in nonce order per account) come back after
    /// `after`, before whatever their accounts still have waiting.
    fn refused(&mut self, refused: Vec<Planned>, after: Duration) {
        let due = Instant::now() + after;
        let mut by_account: BTreeMap<usize, Vec<Planned>> = BTreeMap::new();
        for p in refused {
            by_account.entry(p.account).or_default().push(p);
        }
        for (account, mut ps) in by_account {
            let entry = self
                .accounts
                .entry(account)
                .or_insert_with(|| (due, VecDeque::new()));
            entry.0 = entry.0.max(due);
            ps.reverse();
            for p in ps {
                entry.1.push_front(p);
            }
        }
    }

    /// Whether `p` must wait behind its account's refused transfers (then it is queued).
    fn defer(&mut self, p: Planned) -> Option<Planned> {
        match self.accounts.get_mut(&p.account) {
            Some((_, waiting)) => {
                waiting.push_back(p);
                None
            }
            None => Some(p),
        }
    }

    /// The transfers whose advised time has come, each account's in order.
    fn due(&mut self, now: Instant) -> Vec<Planned> {
        let ready: Vec<usize> = self
            .accounts
            .iter()
            .filter(|(_, (due, _))| *due <= now)
            .map(|(a, _)| *a)
            .collect();
        ready
            .into_iter()
            .flat_map(|a| self.accounts.remove(&a).map(|(_, w)| w).unwrap_or_default())
            .collect()
    }

    fn len(&self) -> usize {
        self.accounts.values().map(|(_, w)| w.len()).sum()
    }
}

/// Submits the plan at the offered rate, then re-sends refused transfers until none is left or
/// `drain_s` passed. Returns how far (ms) the generator fell behind at most, and when the plan
/// was all offered.
async fn offer_load(
    args: &BenchArgs,
    clients: &[Arc<Client>],
    plan: Vec<Planned>,
    tracker: Arc<Mutex<Tracker>>,
    started: Instant,
) -> (u64, Instant) {
    let in_flight = Arc::new(Semaphore::new(args.max_in_flight));
    let retries = Arc::new(Mutex::new(Retries::default()));
    let mut plan = plan.into_iter().peekable();
    let mut sent = 0usize;
    let mut max_lag_ms = 0u64;
    // When the last planned transfer was offered; after it only refused ones are re-sent.
    let mut offered: Option<Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(args.tick_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let now = Instant::now();
        if let Some(at) = offered {
            let retrying = retries.lock().expect("retries lock").len();
            if retrying == 0 || now.duration_since(at).as_secs() >= args.drain_s {
                break;
            }
        }
        let elapsed = started.elapsed();
        let due = ((elapsed.as_secs_f64() * args.rate as f64) as usize).max(sent);
        let mut per_node: Vec<Vec<Planned>> = (0..clients.len()).map(|_| Vec::new()).collect();
        {
            let mut retries = retries.lock().expect("retries lock");
            for p in retries.due(now) {
                per_node[p.account % clients.len()].push(p);
            }
            while sent < due {
                let Some(p) = plan.next() else { break };
                sent += 1;
                if let Some(p) = retries.defer(p) {
                    per_node[p.account % clients.len()].push(p);
                }
            }
        }
        if plan.peek().is_none() && offered.is_none() {
            offered = Some(now);
        }
        for (node, batch) in per_node.into_iter().enumerate() {
            for chunk in chunked(batch) {
                let waited = Instant::now();
                let permit = in_flight
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore never closed");
                max_lag_ms = max_lag_ms.max(waited.elapsed().as_millis() as u64);
                let client = clients[node].clone();
                let tracker = tracker.clone();
                let retries = (!args.no_retry).then(|| retries.clone());
                let form = args.form;
                tokio::spawn(async move {
                    submit(&client, form, chunk, &tracker, retries.as_deref()).await;
                    drop(permit);
                });
            }
        }
    }
    // Still refused when the drain time ran out: final refusals.
    let left = retries
        .lock()
        .expect("retries lock")
        .due(Instant::now() + FOREVER);
    let mut t = tracker.lock().expect("tracker lock");
    left.iter().for_each(|p| t.refused(p.id, "overloaded"));
    (max_lag_ms, offered.unwrap_or_else(Instant::now))
}

fn chunked(mut batch: Vec<Planned>) -> Vec<Vec<Planned>> {
    let mut out = Vec::new();
    while batch.len() > MAX_TRANSFERS_PER_REQUEST {
        let rest = batch.split_off(MAX_TRANSFERS_PER_REQUEST);
        out.push(std::mem::replace(&mut batch, rest));
    }
    if !batch.is_empty() {
        out.push(batch);
    }
    out
}

/// Submits one request; refusals are counted, and with `retries` the ones refused as
/// `overloaded` come back after the advised time (1 s if none).
async fn submit(
    client: &Client,
    form: BatchForm,
    chunk: Vec<Planned>,
    tracker: &Mutex<Tracker>,
    retries: Option<&Mutex<Retries>>,
) {
    let now = Instant::now();
    tracker
        .lock()
        .expect("tracker lock")
        .submitted(chunk.iter().map(|p| p.id), now);
    let transfers: Vec<SignedTransfer> = chunk.iter().map(|p| p.transfer.clone()).collect();
    let result: Result<(BatchSubmitResponse, Option<u64>), _> = match form {
        BatchForm::Binary => {
            let body = crate::api::binary::encode(&transfers);
            let content_type = crate::api::binary::CONTENT_TYPE;
            client
                .post_bytes_advised("/v1/transfers/batch", content_type, body)
                .await
        }
        BatchForm::Json => {
            let request = BatchSubmitRequest { transfers };
            client.post_advised("/v1/transfers/batch", &request).await
        }
    };
    let mut overloaded: HashSet<Digest> = HashSet::new();
    let mut advised = None;
    {
        let mut t = tracker.lock().expect("tracker lock");
        match result {
            Ok((response, retry_after)) => {
                advised = retry_after;
                for r in response.results {
                    match r.error {
                        Some(e) if e.code == "overloaded" && retries.is_some() => {
                            t.retried();
                            overloaded.insert(r.id);
                        }
                        Some(e) => t.refused(r.id, &e.code),
                        None => t.accepted(r.id, Instant::now()),
                    }
                }
            }
            Err(ClientError::Api { code, .. }) => chunk.iter().for_each(|p| t.refused(p.id, &code)),
            Err(_) => chunk.iter().for_each(|p| t.refused(p.id, "unreachable")),
        }
    }
    if let (Some(retries), false) = (retries, overloaded.is_empty()) {
        let refused = chunk
            .into_iter()
            .filter(|p| overloaded.contains(&p.id))
            .collect();
        let after = Duration::from_secs(advised.unwrap_or(1));
        retries
            .lock()
            .expect("retries lock")
            .refused(refused, after);
    }
}

/// Where the transfers not committed within the drain are, by `status` (and `status:reason`
/// for a dropped one), as the node each was submitted to says.
async fn probe_outstanding(
    clients: &[Arc<Client>],
    node_of: &HashMap<Digest, usize>,
    ids: Vec<Digest>,
) -> serde_json::Value {
    let answers: Vec<String> = futures::stream::iter(ids)
        .map(|id| async move {
            let node = node_of.get(&id).copied().unwrap_or(0);
            let path = format!("/v1/transfers/{id}");
            match clients[node].get::<TransferResponse>(&path).await {
                Ok(r) => match r.dropped {
                    Some(why) => format!("{}:{}", r.status, why.code),
                    None => r.status,
                },
                Err(ClientError::Api { code, .. }) => code,
                Err(_) => "unreachable".to_string(),
            }
        })
        .buffer_unordered(PROBES_IN_FLIGHT)
        .collect()
        .await;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for a in answers {
        *counts.entry(a).or_default() += 1;
    }
    serde_json::json!(counts)
}

/// Follows the chain from the first node and records when each tracked transfer committed.
async fn track_commits(client: Arc<Client>, tracker: Arc<Mutex<Tracker>>, start_height: u64) {
    let mut next = start_height + 1;
    loop {
        let height = match client.get::<StatusResponse>("/v1/status").await {
            Ok(s) => s.height,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Up to TRACK_BLOCKS_IN_FLIGHT requests at once, taken in height order as they arrive.
        let mut blocks = futures::stream::iter(next..=height)
            .map(|h| {
                let client = &client;
                async move {
                    client
                        .get::<BlockResponse>(&format!("/v1/blocks/{h}"))
                        .await
                }
            })
            .buffered(TRACK_BLOCKS_IN_FLIGHT);
        while let Some(fetched) = blocks.next().await {
            let Ok(b) = fetched else { break };
            let now = Instant::now();
            let mut t = tracker.lock().expect("tracker lock");
            t.block_seen(now);
            for (transfer, receipt) in b.block.transfers.iter().zip(&b.block.receipts) {
                t.committed(transfer.id(), receipt, now);
            }
            next += 1;
        }
        tokio::time::sleep(Duration::from_millis(TRACK_POLL_MS)).await;
    }
}

async fn print_progress(tracker: Arc<Mutex<Tracker>>, started: Instant) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        let t = tracker.lock().expect("tracker lock");
        eprintln!(
            "bench: t={:>3}s submitted={} committed={} rejected={} refused={} outstanding={} p50={:.1}ms p99={:.1}ms",
            started.elapsed().as_secs(),
            t.submitted,
            t.committed,
            t.rejected_total(),
            t.refused_total(),
            t.outstanding(),
            t.latency_us.value_at_quantile(0.5) as f64 / 1000.0,
            t.latency_us.value_at_quantile(0.99) as f64 / 1000.0,
        );
    }
}

/// A histogram's quantile `q`, in milliseconds.
fn ms_of(histogram: &Histogram<u64>, q: f64) -> f64 {
    histogram.value_at_quantile(q) as f64 / 1000.0
}

/// What happened to every transfer of the run.
struct Tracker {
    total: usize,
    submit_time: HashMap<Digest, Instant>,
    submitted: usize,
    committed: usize,
    first_commit: Option<Instant>,
    last_commit: Option<Instant>,
    rejected: BTreeMap<String, usize>,
    refused: BTreeMap<String, usize>,
    /// Re-sends after an `overloaded` refusal.
    retries: usize,
    /// When the node accepted each transfer (its last submission).
    accept_time: HashMap<Digest, Instant>,
    /// Accepted → committed: the ledger's latency.
    latency_us: Histogram<u64>,
    /// First submission → committed: what the client saw, waits after refusals included.
    end_to_end_us: Histogram<u64>,
    /// When the last new block was seen, and the longest time between two (issue 13: no
    /// commit gap longer than 1 s under sustained load).
    last_block: Option<Instant>,
    max_commit_gap: Duration,
}

impl Tracker {
    fn new(total: usize) -> Tracker {
        Tracker {
            total,
            submit_time: HashMap::with_capacity(total),
            submitted: 0,
            committed: 0,
            first_commit: None,
            last_commit: None,
            rejected: BTreeMap::new(),
            refused: BTreeMap::new(),
            retries: 0,
            accept_time: HashMap::with_capacity(total),
            // 1 µs .. 10 min, 3 significant digits.
            latency_us: Histogram::new_with_bounds(1, 600_000_000, 3)
                .expect("valid histogram bounds"),
            end_to_end_us: Histogram::new_with_bounds(1, 600_000_000, 3)
                .expect("valid histogram bounds"),
            last_block: None,
            max_commit_gap: Duration::ZERO,
        }
    }

    /// A new block was seen at `at` (the chain is followed every few milliseconds).
    fn block_seen(&mut self, at: Instant) {
        if let Some(last) = self.last_block {
            self.max_commit_gap = self.max_commit_gap.max(at.saturating_duration_since(last));
        }
        self.last_block = Some(at);
    }

    /// Sent (again, for a retried one: its latency counts from its first submission).
    fn submitted(&mut self, ids: impl Iterator<Item = Digest>, at: Instant) {
        for id in ids {
            if let std::collections::hash_map::Entry::Vacant(e) = self.submit_time.entry(id) {
                e.insert(at);
                self.submitted += 1;
            }
        }
    }

    /// Accepted by a node (its latency to commit counts from now).
    fn accepted(&mut self, id: Digest, at: Instant) {
        if self.submit_time.contains_key(&id) {
            self.accept_time.insert(id, at);
        }
    }

    /// Refused as `overloaded`, to be re-sent.
    fn retried(&mut self) {
        self.retries += 1;
    }

    fn refused(&mut self, id: Digest, code: &str) {
        self.accept_time.remove(&id);
        if self.submit_time.remove(&id).is_some() {
            *self.refused.entry(code.to_string()).or_default() += 1;
        }
    }

    fn committed(&mut self, id: Digest, receipt: &Receipt, at: Instant) {
        let Some(submitted) = self.submit_time.remove(&id) else {
            return;
        };
        let accepted = self.accept_time.remove(&id).unwrap_or(submitted);
        match receipt {
            Receipt::Applied => {
                self.committed += 1;
                let us = at.saturating_duration_since(accepted).as_micros() as u64;
                self.latency_us.saturating_record(us.max(1));
                let us = at.saturating_duration_since(submitted).as_micros() as u64;
                self.end_to_end_us.saturating_record(us.max(1));
                self.first_commit.get_or_insert(at);
                self.last_commit = Some(at);
            }
            Receipt::Rejected(reason) => {
                let key = format!("{reason:?}");
                let key = key.split(['(', ' ', '{']).next().unwrap_or("rejected");
                *self.rejected.entry(key.to_string()).or_default() += 1;
            }
        }
    }

    fn outstanding(&self) -> usize {
        self.submit_time.len() + (self.total - self.submitted)
    }

    fn rejected_total(&self) -> usize {
        self.rejected.values().sum()
    }

    fn refused_total(&self) -> usize {
        self.refused.values().sum()
    }

    fn report(
        &self,
        args: &BenchArgs,
        started: Instant,
        load_end: Instant,
        max_lag_ms: u64,
        bound: SignatureBound,
    ) -> serde_json::Value {
        let offered_s = load_end.duration_since(started).as_secs_f64();
        let commit_window_s = match (self.first_commit, self.last_commit) {
            (Some(a), Some(b)) if b > a => b.duration_since(a).as_secs_f64(),
            _ => 0.0,
        };
        let ms = |q: f64| ms_of(&self.latency_us, q);
        let committed_per_s = if commit_window_s > 0.0 {
            (self.committed as f64 / commit_window_s).round()
        } else {
            0.0
        };
        serde_json::json!({
            "offered_rate_per_s": args.rate,
            "duration_s": args.duration,
            "accounts": args.accounts,
            "form": match args.form {
                BatchForm::Binary => "binary",
                BatchForm::Json => "json",
            },
            "nodes": args.nodes.len(),
            "submitted": self.submitted,
            "submitted_rate_per_s": (self.submitted as f64 / offered_s).round(),
            "committed": self.committed,
            "committed_rate_per_s": committed_per_s,
            "bound": bound,
            "committed_to_bound": (committed_per_s / bound.bound_per_s * 1000.0).round() / 1000.0,
            "rejected_at_execution": self.rejected,
            "refused_by_api": self.refused,
            "retries_after_overload": self.retries,
            "not_committed_within_drain": self.submit_time.len(),
            "generator_max_lag_ms": max_lag_ms,
            "max_commit_gap_ms": self.max_commit_gap.as_millis() as u64,
            "end_to_end_ms": {
                "p50": ms_of(&self.end_to_end_us, 0.50), "p99": ms_of(&self.end_to_end_us, 0.99),
            },
            "latency_ms": {
                "p50": ms(0.50), "p90": ms(0.90), "p99": ms(0.99),
                "max": self.latency_us.max() as f64 / 1000.0,
                "samples": self.latency_us.len(),
            },
        })
    }
}
