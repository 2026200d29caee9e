//! `bftledger bench`: an open-loop load generator against a running network.
//!
//! 1. **Fund**: `--accounts` fresh accounts receive funds from the funder keys (by default the
//!    local testnet's demo accounts) and the generator waits until every funding transfer has
//!    committed.
//! 2. **Pre-sign** `rate × duration` transfers, so signing costs nothing during the run. Account
//!    `j` sends its k-th transfer (nonce k) to account `j + 1`; account `j` always submits to node
//!    `j mod nodes`, and sends its next transfer only once the node answered the previous one
//!    (`send_order`), so its nonces reach the network in order even when a node refuses one.
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
//! 6. **Ask about every transfer that did not commit** within the drain (`not_committed_by_status`:
//!    pending, or dropped by the node with its reason), so none vanishes from the report.
//!
//! It prints a progress line per second and, last, one JSON object. Whatever it could not measure
//! (transfers refused by the API, rejected at execution, not committed before the drain timeout)
//! is counted and reported, never dropped from the figures silently.

use super::client::{Client, ClientError};
use super::node_figures;
use super::send_order::{self, OfAccount, SendOrder};
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
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Largest number of transfers sent in one batch request.
const MAX_TRANSFERS_PER_REQUEST: usize = 1000;
/// How often the commit tracker asks for the chain height, in milliseconds.
const TRACK_POLL_MS: u64 = 5;
/// Blocks the commit tracker fetches at once. One at a time, it learns of at most one block per
/// round trip to the node: 20 blocks/s at 50 ms, fewer than a WAN testnet commits, so the
/// tracker fell behind and reported its own lag as commit latency (issue 19).
const TRACK_BLOCKS_IN_FLIGHT: usize = 32;

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
    // Which node each transfer goes to, to ask it later about those that did not commit.
    let node_of: HashMap<Digest, usize> = plan
        .iter()
        .map(|p| (p.id, p.account % clients.len()))
        .collect();
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
    let (lag, load_end) = offer_load(args, &clients, plan, tracker.clone(), started).await;

    let drain_deadline = load_end + Duration::from_secs(args.drain_s);
    while Instant::now() < drain_deadline && tracker.lock().expect("tracker lock").outstanding() > 0
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    track.abort();
    progress.abort();
    let figures_after = node_figures::read(&clients).await;
    let unfinished = tracker.lock().expect("tracker lock").unfinished();
    let fates = fates(&clients, &node_of, unfinished).await;
    let mut report = tracker
        .lock()
        .expect("tracker lock")
        .report(args, started, load_end, lag, bound);
    report["nodes_during_load"] = node_figures::report(&figures_before, &figures_after);
    report["not_committed_by_status"] = serde_json::json!(fates);
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

/// Largest number of uncommitted transfers whose status `bench` asks for after the drain.
const MAX_FATES_ASKED: usize = 50_000;
/// Status requests in flight at once while asking.
const FATES_IN_FLIGHT: usize = 32;

/// What became of transfers that did not commit within the drain, by asking the node each was
/// submitted to (`GET /v1/transfers/{id}`): `pending`, `dropped:<reason>` (the node let it go
/// and says why), `committed`/`rejected` (after the drain), `unreachable`, and `not_asked`
/// beyond [`MAX_FATES_ASKED`]. A transfer answered 202 must end in one of these, never vanish.
async fn fates(
    clients: &[Arc<Client>],
    node_of: &HashMap<Digest, usize>,
    ids: Vec<Digest>,
) -> BTreeMap<String, usize> {
    let mut out: BTreeMap<String, usize> = BTreeMap::new();
    if ids.len() > MAX_FATES_ASKED {
        out.insert("not_asked".into(), ids.len() - MAX_FATES_ASKED);
    }
    let answers: Vec<String> = futures::stream::iter(ids.into_iter().take(MAX_FATES_ASKED))
        .map(|id| {
            let client = clients[node_of.get(&id).copied().unwrap_or(0)].clone();
            async move {
                match client
                    .get::<TransferResponse>(&format!("/v1/transfers/{id}"))
                    .await
                {
                    Ok(r) => match r.dropped {
                        Some(reason) => format!("dropped:{}", reason.code),
                        None => r.status,
                    },
                    Err(ClientError::Api { code, .. }) => code,
                    Err(_) => "unreachable".into(),
                }
            }
        })
        .buffer_unordered(FATES_IN_FLIGHT)
        .collect()
        .await;
    for a in answers {
        *out.entry(a).or_default() += 1;
    }
    out
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

impl OfAccount for Planned {
    fn account(&self) -> usize {
        self.account
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
    let order = Arc::new(Mutex::new(SendOrder::<Planned>::default()));
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
            let pending = order.lock().expect("send order lock").pending();
            if pending == 0 || now.duration_since(at).as_secs() >= args.drain_s {
                break;
            }
        }
        let elapsed = started.elapsed();
        let due = ((elapsed.as_secs_f64() * args.rate as f64) as usize).max(sent);
        let mut per_node: Vec<Vec<Planned>> = (0..clients.len()).map(|_| Vec::new()).collect();
        {
            let mut order = order.lock().expect("send order lock");
            for p in order.due(now) {
                per_node[p.account % clients.len()].push(p);
            }
            while sent < due {
                let Some(p) = plan.next() else { break };
                sent += 1;
                if let Some(p) = order.offer(p) {
                    per_node[p.account % clients.len()].push(p);
                }
            }
        }
        if plan.peek().is_none() && offered.is_none() {
            offered = Some(now);
        }
        for (node, batch) in per_node.into_iter().enumerate() {
            for chunk in send_order::requests(batch, MAX_TRANSFERS_PER_REQUEST) {
                let waited = Instant::now();
                let permit = in_flight
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore never closed");
                max_lag_ms = max_lag_ms.max(waited.elapsed().as_millis() as u64);
                let client = clients[node].clone();
                let tracker = tracker.clone();
                let order = order.clone();
                let (form, retry) = (args.form, !args.no_retry);
                tokio::spawn(async move {
                    submit(&client, form, chunk, &tracker, &order, retry).await;
                    drop(permit);
                });
            }
        }
    }
    // Every request answered (each permit back), so each transfer is accepted or refused.
    let _all = in_flight
        .acquire_many(args.max_in_flight as u32)
        .await
        .expect("semaphore never closed");
    // Still refused when the drain time ran out: final refusals.
    let left = order.lock().expect("send order lock").take_waiting();
    let mut t = tracker.lock().expect("tracker lock");
    left.iter().for_each(|p| t.refused(p.id, "overloaded"));
    (max_lag_ms, offered.unwrap_or_else(Instant::now))
}

/// Submits one request; refusals are counted, and with `retry` the ones refused as
/// `overloaded` come back after the advised time (1 s if none). `order` learns the answer.
async fn submit(
    client: &Client,
    form: BatchForm,
    chunk: Vec<Planned>,
    tracker: &Mutex<Tracker>,
    order: &Mutex<SendOrder<Planned>>,
    retry: bool,
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
                        Some(e) if e.code == "overloaded" && retry => {
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
    let accounts: Vec<usize> = chunk.iter().map(|p| p.account).collect();
    let refused = chunk
        .into_iter()
        .filter(|p| overloaded.contains(&p.id))
        .collect();
    let after = Duration::from_secs(advised.unwrap_or(1));
    order
        .lock()
        .expect("send order lock")
        .answered(accounts, refused, after);
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

    /// Submitted transfers not committed (nor refused) so far.
    fn unfinished(&self) -> Vec<Digest> {
        self.submit_time.keys().copied().collect()
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
