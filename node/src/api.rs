//! The HTTP JSON API (axum), documented by `node/openapi.yaml`.
//!
//! * Loopback by default (`api.listen` in the config).
//! * Every error is `{"error": {"code", "message"}}` with a stable snake_case `code` and a 4xx/5xx
//!   status, framework rejections included ([`envelope`]); malformed requests change nothing.
//! * Amounts, balances and nonces are decimal strings in JSON, and are read from strings or
//!   numbers ([`bftledger_ledger::decimal_u64`]).
//! * Bodies are limited to `api.max_body_bytes` (413 `payload_too_large`); batches to
//!   `api.max_batch_transfers`; every request to `api.request_timeout_ms` (503 `timeout`).
//! * The router is built from [`ROUTES`], and a test checks that `openapi.yaml` documents exactly
//!   those (method, path) pairs, so the document cannot drift from the code.

pub mod binary;
pub mod envelope;
pub mod types;

#[cfg(test)]
mod tests;

use crate::admission::{self, Refusal};
use crate::mempool::{AdmitError, Origin};
use crate::node_state::NodeState;
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, Path, RawQuery, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use bftledger_crypto::{Address, Digest};
use bftledger_ledger::{RejectReason, SignedTransfer, TransferStatus};
use std::sync::Arc;
use std::time::Duration;
use types::*;

/// The OpenAPI document served at `GET /openapi.yaml`.
pub const OPENAPI_YAML: &str = include_str!("../openapi.yaml");

/// Every (method, path) the API serves; the router is built from this list.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/transfers"),
    ("POST", "/v1/transfers/batch"),
    ("GET", "/v1/transfers/{id}"),
    ("GET", "/v1/accounts/{address}"),
    ("GET", "/v1/blocks/{height}"),
    ("GET", "/v1/status"),
    ("GET", "/v1/genesis"),
    ("GET", "/metrics"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/openapi.yaml"),
];

fn handler(method: &str, path: &str) -> MethodRouter<Arc<NodeState>> {
    match (method, path) {
        ("POST", "/v1/transfers") => post(submit_transfer),
        ("POST", "/v1/transfers/batch") => post(submit_batch),
        ("GET", "/v1/transfers/{id}") => get(get_transfer),
        ("GET", "/v1/accounts/{address}") => get(get_account),
        ("GET", "/v1/blocks/{height}") => get(get_block),
        ("GET", "/v1/status") => get(get_status),
        ("GET", "/v1/genesis") => get(get_genesis),
        ("GET", "/metrics") => get(get_metrics),
        ("GET", "/health/live") => get(health_live),
        ("GET", "/health/ready") => get(health_ready),
        ("GET", "/openapi.yaml") => get(get_openapi),
        other => panic!("ROUTES lists {other:?} but no handler exists for it"),
    }
}

/// The API router for a node.
pub fn router(shared: Arc<NodeState>) -> Router {
    let timeout = Duration::from_millis(shared.api.request_timeout_ms);
    let mut router = Router::new();
    for (method, path) in ROUTES {
        router = router.route(path, handler(method, path));
    }
    router
        .fallback(not_found_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(shared.api.max_body_bytes))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            with_timeout(req, next, timeout)
        }))
        .layer(middleware::from_fn(envelope::json_errors))
        .with_state(shared)
}

async fn with_timeout(req: Request, next: Next, timeout: Duration) -> Response {
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!("the request took longer than {} ms", timeout.as_millis()),
        )
        .into_response(),
    }
}

/// An API error: status, stable code, message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Seconds for the `Retry-After` header (overload).
    retry_after_s: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after_s: None,
        }
    }

    fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    fn internal(message: impl std::fmt::Display) -> ApiError {
        tracing::error!(%message, "API internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            message.to_string(),
        )
    }

    fn detail(&self) -> ErrorDetail {
        ErrorDetail {
            code: self.code.into(),
            message: self.message.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.detail(),
        };
        with_retry_after(
            (self.status, Json(body)).into_response(),
            self.retry_after_s,
        )
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        let status = r.status();
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
            _ => "bad_json",
        };
        ApiError::new(status, code, r.body_text())
    }
}

/// Adds `Retry-After: seconds` (overload: when to come back), if there is a time to advise.
fn with_retry_after(mut response: Response, seconds: Option<u64>) -> Response {
    if let Some(seconds) = seconds {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    }
    response
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> ApiError {
        let status = match &refusal {
            Refusal::Overloaded(o) => {
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    refusal.code(),
                    refusal.to_string(),
                );
                e.retry_after_s = Some(o.retry_after_s);
                return e;
            }
            Refusal::Pool(AdmitError::Invalid(_)) => StatusCode::BAD_REQUEST,
            Refusal::Pool(AdmitError::Duplicate(_))
            | Refusal::AlreadyExecuted { .. }
            | Refusal::NonceUsed { .. }
            | Refusal::InsufficientFunds { .. } => StatusCode::CONFLICT,
            Refusal::Pool(AdmitError::Full { .. }) | Refusal::DiskLow { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Refusal::Store(message) => return ApiError::internal(message),
        };
        ApiError::new(status, refusal.code(), refusal.to_string())
    }
}

type ApiResult<T> = Result<T, ApiError>;

async fn not_found_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        "no such route; see GET /openapi.yaml",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method; see GET /openapi.yaml",
    )
}

/// Admits transfers from a client (see [`crate::admission`]), each verdict as the API answers it.
fn admit(shared: &NodeState, transfers: Vec<SignedTransfer>) -> Vec<Result<Digest, ApiError>> {
    admission::admit(shared, transfers, Origin::Client)
        .into_iter()
        .map(|v| v.map_err(ApiError::from))
        .collect()
}

async fn submit_transfer(
    State(shared): State<Arc<NodeState>>,
    body: Result<Json<SignedTransfer>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<SubmitResponse>)> {
    let Json(transfer) = body?;
    let id = admit(&shared, vec![transfer]).pop().expect("one result")?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SubmitResponse {
            id,
            status: "pending".into(),
        }),
    ))
}

/// A batch submission's transfers, from either form: JSON (`application/json`) or binary
/// (`application/octet-stream`, [`binary`]).
struct SubmittedBatch {
    transfers: Vec<SignedTransfer>,
}

impl FromRequest<Arc<NodeState>> for SubmittedBatch {
    type Rejection = ApiError;

    async fn from_request(req: Request, shared: &Arc<NodeState>) -> ApiResult<SubmittedBatch> {
        let binary = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|media| media.trim().eq_ignore_ascii_case(binary::CONTENT_TYPE));
        if !binary {
            let Json(batch) = Json::<BatchSubmitRequest>::from_request(req, shared).await?;
            return Ok(SubmittedBatch {
                transfers: batch.transfers,
            });
        }
        let body = Bytes::from_request(req, shared).await.map_err(|r| {
            let code = match r.status() {
                StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
                _ => "bad_body",
            };
            ApiError::new(r.status(), code, r.body_text())
        })?;
        let transfers = binary::decode(&body, shared.api.max_batch_transfers)
            .map_err(|e| ApiError::bad_request("bad_transfer_bytes", e.to_string()))?;
        Ok(SubmittedBatch { transfers })
    }
}

async fn submit_batch(
    State(shared): State<Arc<NodeState>>,
    batch: SubmittedBatch,
) -> ApiResult<Response> {
    let max = shared.api.max_batch_transfers;
    if batch.transfers.is_empty() || batch.transfers.len() > max {
        return Err(ApiError::bad_request(
            "bad_batch_size",
            format!(
                "a batch holds 1..={max} transfers; this one has {}",
                batch.transfers.len()
            ),
        ));
    }
    let ids: Vec<Digest> = batch.transfers.iter().map(SignedTransfer::id).collect();
    let verdicts = admit(&shared, batch.transfers);
    // Items refused as overloaded advise a retry time; the response carries the longest.
    let retry_after_s = verdicts
        .iter()
        .filter_map(|v| v.as_ref().err()?.retry_after_s)
        .max();
    let results: Vec<BatchItemResult> = verdicts
        .into_iter()
        .zip(ids)
        .map(|(r, id)| BatchItemResult {
            id,
            error: r.err().map(|e| e.detail()),
        })
        .collect();
    let response = Json(BatchSubmitResponse {
        accepted: results.iter().filter(|r| r.error.is_none()).count(),
        results,
    });
    Ok(with_retry_after(response.into_response(), retry_after_s))
}

/// The text of a path parameter, or `code` if it is not UTF-8 once percent-decoded (`%FF`).
fn path_text(path: Result<Path<String>, PathRejection>, code: &'static str) -> ApiResult<String> {
    path.map(|Path(text)| text)
        .map_err(|r| ApiError::bad_request(code, r.body_text()))
}

fn parse_digest(text: &str) -> ApiResult<Digest> {
    Digest::from_hex(text)
        .map_err(|_| ApiError::bad_request("bad_id", format!("{text:?} is not 64 hex characters")))
}

/// A stable snake_case code for an execution-time rejection (metric labels).
pub fn reject_code(reason: &RejectReason) -> &'static str {
    match reason {
        RejectReason::Invalid(e) => crate::mempool::transfer_error_code(e),
        RejectReason::NonceReplayed { .. } => "nonce_replayed",
        RejectReason::NonceGap { .. } => "nonce_gap",
        RejectReason::InsufficientFunds { .. } => "insufficient_funds",
        RejectReason::RecipientOverflow { .. } => "recipient_overflow",
    }
}

async fn get_transfer(
    State(shared): State<Arc<NodeState>>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<TransferResponse>> {
    let id = parse_digest(&path_text(id, "bad_id")?)?;
    let record = shared
        .store
        .read()
        .expect("store lock poisoned")
        .transfer(&id)
        .map_err(ApiError::internal)?;
    if let Some(r) = record {
        let status = match r.status() {
            TransferStatus::Committed => "committed",
            TransferStatus::Rejected(_) => "rejected",
            TransferStatus::Pending => "pending",
        };
        return Ok(Json(TransferResponse {
            id,
            status: status.into(),
            committed: Some(CommittedTransfer {
                receipt_text: r.receipt.to_string(),
                transfer: r.transfer,
                height: r.height,
                position: r.position,
                receipt: r.receipt,
                block_hash: r.block_hash,
                batch_digest: r.batch_digest,
                certificate: hex::encode(&r.certificate),
            }),
            dropped: None,
        }));
    }
    let (in_flight, dropped) = {
        let mempool = shared.mempool.lock().expect("mempool lock poisoned");
        (mempool.is_in_flight(&id), mempool.dropped_reason(&id))
    };
    if in_flight {
        return Ok(Json(TransferResponse {
            id,
            status: "pending".into(),
            committed: None,
            dropped: None,
        }));
    }
    if let Some(reason) = dropped {
        return Ok(Json(TransferResponse {
            id,
            status: "dropped".into(),
            committed: None,
            dropped: Some(ErrorDetail {
                code: reason.code().into(),
                message: reason.explain().into(),
            }),
        }));
    }
    Err(ApiError::not_found(format!(
        "transfer {id} is neither pending at this node nor in a block"
    )))
}

async fn get_account(
    State(shared): State<Arc<NodeState>>,
    address: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<AccountResponse>> {
    let address = path_text(address, "bad_address")?;
    let parsed: Address = address.parse().map_err(|e| {
        ApiError::bad_request("bad_address", format!("{address:?} is not an address: {e}"))
    })?;
    let with_proof = proof_requested(query.as_deref())?;
    // Every address is an account: one never credited and never used is the zero account
    // (balance 0, next nonce 1), which is what a client needs to sign its first transfer.
    let store = shared.store.read().expect("store lock poisoned");
    let key = parsed.public_key();
    let account = store.account(&key);
    let proof = if with_proof {
        let proven = store.account_proof(&key).map_err(ApiError::internal)?;
        let proven = proven.ok_or_else(|| ApiError {
            retry_after_s: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "proof_unavailable",
                "no stable checkpoint has been executed here since the node started; \
                 accounts are provable after the next one",
            )
        })?;
        Some(crate::account_proof::body_of(&proven))
    } else {
        None
    };
    Ok(Json(AccountResponse {
        address: parsed.to_string(),
        balance: account.balance,
        nonce: account.nonce,
        next_nonce: account.nonce.saturating_add(1),
        height: store.latest_height(),
        proof,
    }))
}

/// The query of `GET /v1/accounts/{address}`: nothing, `proof=true` or `proof=false`; anything
/// else is refused (a misspelt parameter must not silently drop the proof a client asked for).
fn proof_requested(query: Option<&str>) -> ApiResult<bool> {
    match query {
        None | Some("") | Some("proof=false") => Ok(false),
        Some("proof=true") => Ok(true),
        Some(other) => Err(ApiError::bad_request(
            "bad_query",
            format!("unknown query {other:?}: the only parameter is proof=true or proof=false"),
        )),
    }
}

async fn get_block(
    State(shared): State<Arc<NodeState>>,
    height: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<BlockResponse>> {
    let height = path_text(height, "bad_height")?;
    let h: u64 = height.parse().map_err(|_| {
        ApiError::bad_request("bad_height", format!("{height:?} is not a block height"))
    })?;
    let store = shared.store.read().expect("store lock poisoned");
    let block = store.block(h).map_err(ApiError::internal)?;
    let Some(certified) = block else {
        return Err(ApiError::not_found(format!(
            "no block at height {h} here (latest is {})",
            store.latest_height()
        )));
    };
    Ok(Json(BlockResponse {
        hash: certified.block.hash(),
        block: certified.block,
        certificate: hex::encode(&certified.certificate),
    }))
}

/// The status document (also used by the driver's logs).
pub fn status(shared: &NodeState) -> StatusResponse {
    let (height, state_root) = {
        let store = shared.store.read().expect("store lock poisoned");
        (store.latest_height(), store.state_root())
    };
    let mempool_size = shared.mempool.lock().expect("mempool lock poisoned").len();
    let ready = shared.is_ready();
    let live = shared.live.read().expect("live lock poisoned").clone();
    StatusResponse {
        chain_id: shared.genesis.chain_id.clone(),
        genesis_hash: shared.genesis_hash,
        validator: Address::from(shared.validator).to_string(),
        replica_id: shared.replica_id,
        height,
        state_root,
        view: live.view,
        primary: live.primary,
        view_changing: live.view_changing,
        stable_checkpoint: live.stable_checkpoint,
        peers: live
            .peers
            .iter()
            .map(|p| Address::from(*p).to_string())
            .collect(),
        validators: shared.genesis.validators.len(),
        mempool_size,
        catching_up: live.catching_up,
        ready,
    }
}

async fn get_status(State(shared): State<Arc<NodeState>>) -> Json<StatusResponse> {
    Json(status(&shared))
}

async fn get_genesis(State(shared): State<Arc<NodeState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/toml")],
        shared.genesis.to_toml(),
    )
        .into_response()
}

async fn get_metrics(State(shared): State<Arc<NodeState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.render(),
    )
        .into_response()
}

async fn health_live() -> Json<HealthResponse> {
    Json(HealthResponse {
        status: "ok".into(),
    })
}

async fn health_ready(State(shared): State<Arc<NodeState>>) -> Response {
    if shared.is_ready() {
        return Json(HealthResponse {
            status: "ok".into(),
        })
        .into_response();
    }
    let live = shared.live.read().expect("live lock poisoned").clone();
    let why = if let Some(free) = shared.disk.low() {
        format!(
            "the data disk has {free} bytes free, below {}: no new transfers until space is freed",
            shared.disk.threshold_bytes()
        )
    } else if live.catching_up {
        "catching up from peers".to_string()
    } else {
        format!(
            "connected to {} of the {} other validators a quorum needs",
            live.peers.len(),
            shared.quorum() - 1
        )
    };
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", why).into_response()
}

async fn get_openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/yaml")], OPENAPI_YAML).into_response()
}
