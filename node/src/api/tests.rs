//! API tests: the OpenAPI document matches the router, and malformed requests get 4xx JSON
//! errors with stable codes and change nothing.

use super::types::ErrorBody;
use super::*;
use crate::config::NodeConfig;
use crate::test_support::{self, key};
use axum::body::Body;
use axum::http::Request as HttpRequest;
use bftledger_ledger::Store;
use std::collections::BTreeSet;
use tower::ServiceExt;

const CHAIN: &str = "api-test";

fn shared(max_body_bytes: usize) -> (tempfile::TempDir, Arc<NodeState>) {
    let dir = tempfile::tempdir().unwrap();
    let genesis = test_support::genesis(CHAIN, 1_000);
    let store = Store::open_or_create(&dir.path().join("ledger"), &genesis).unwrap();
    let mut api = NodeConfig::local_default(1, 2).api;
    api.max_body_bytes = max_body_bytes;
    let hold = std::time::Duration::from_millis(500);
    let shared = Arc::new(test_support::shared(genesis, store, 100, hold, api));
    (dir, shared)
}

fn transfer(nonce: u64) -> SignedTransfer {
    test_support::transfer(CHAIN, 5, nonce)
}

async fn call(
    shared: &Arc<NodeState>,
    method: &str,
    path: &str,
    body: Option<(&str, Vec<u8>)>,
) -> (StatusCode, Vec<u8>) {
    let (status, _, bytes) = call_with_headers(shared, method, path, body).await;
    (status, bytes)
}

async fn call_with_headers(
    shared: &Arc<NodeState>,
    method: &str,
    path: &str,
    body: Option<(&str, Vec<u8>)>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut builder = HttpRequest::builder().method(method).uri(path);
    let body = match body {
        Some((content_type, bytes)) => {
            builder = builder.header(header::CONTENT_TYPE, content_type);
            Body::from(bytes)
        }
        None => Body::empty(),
    };
    let response = router(shared.clone())
        .oneshot(builder.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, headers, bytes.to_vec())
}

fn error_code(body: &[u8]) -> String {
    serde_json::from_slice::<ErrorBody>(body)
        .unwrap_or_else(|e| panic!("not a JSON error ({e}): {}", String::from_utf8_lossy(body)))
        .error
        .code
}

fn json(value: serde_json::Value) -> Option<(&'static str, Vec<u8>)> {
    Some(("application/json", value.to_string().into_bytes()))
}

/// (method, path) pairs documented in openapi.yaml: a path is a line `  /...:`, its methods
/// the `    get:` / `    post:` lines under it.
fn documented_routes() -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut in_paths = false;
    for line in OPENAPI_YAML.lines() {
        if !line.starts_with(' ') {
            in_paths = line == "paths:";
            current = None;
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(path) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
            current = Some(format!("/{path}"));
        } else if let (Some(path), Some(method)) = (
            &current,
            line.strip_prefix("    ").and_then(|l| l.strip_suffix(':')),
        ) {
            if ["get", "post", "put", "delete", "patch"].contains(&method) {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

#[test]
fn openapi_documents_exactly_the_served_routes() {
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(ROUTES.len(), served.len(), "ROUTES has a duplicate");
    assert_eq!(documented_routes(), served);
}

#[tokio::test]
async fn every_listed_route_is_routed() {
    let (_dir, shared) = shared(1 << 20);
    for (method, path) in ROUTES {
        let path = path
            .replace("{id}", &"0".repeat(64))
            .replace("{address}", "x")
            .replace("{height}", "1");
        let (status, body) = call(&shared, method, &path, None).await;
        if !status.is_success() {
            let code = error_code(&body);
            assert!(
                code != "route_not_found" && code != "method_not_allowed",
                "{method} {path}: {code}"
            );
        }
    }
    let (status, body) = call(&shared, "GET", "/nope", None).await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (StatusCode::NOT_FOUND, "route_not_found")
    );
    let (status, body) = call(&shared, "DELETE", "/v1/status", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(&body), "method_not_allowed");
}

#[tokio::test]
async fn malformed_submissions_get_4xx_json_errors_and_change_nothing() {
    let (_dir, shared) = shared(4096);
    let good = serde_json::to_value(transfer(1)).unwrap();
    let mut wrong_type = good.clone();
    wrong_type["transfer"]["amount"] = serde_json::json!("five");
    let mut bad_address = good.clone();
    bad_address["transfer"]["to"] = serde_json::json!("bft1notanaddress");
    let mut forged = good.clone();
    forged["signature"] = serde_json::to_value(transfer(2).signature).unwrap();
    let mut zero = transfer(1).transfer;
    zero.amount = 0;
    let zero = serde_json::to_value(zero.sign(&key(10))).unwrap();
    let zero_nonce = serde_json::to_value(transfer(0)).unwrap();
    let mut padded_amount = good.clone();
    padded_amount["transfer"]["amount"] = serde_json::json!("05");
    let mut negative_amount = good.clone();
    negative_amount["transfer"]["amount"] = serde_json::json!(-5);
    let mut huge_nonce = good.clone();
    huge_nonce["transfer"]["nonce"] = serde_json::json!("18446744073709551616");
    type Case<'a> = (&'a str, Option<(&'a str, Vec<u8>)>, StatusCode, &'a str);
    let cases: Vec<Case> = vec![
        (
            "bad json",
            Some(("application/json", b"{not json".to_vec())),
            StatusCode::BAD_REQUEST,
            "bad_json",
        ),
        (
            "wrong types",
            json(wrong_type),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "bad address",
            json(bad_address),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "missing fields",
            json(serde_json::json!({"transfer": {}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "no content type",
            Some(("text/plain", good.to_string().into_bytes())),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "oversized",
            Some(("application/json", vec![b' '; 5000])),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "bad signature",
            json(forged),
            StatusCode::BAD_REQUEST,
            "bad_signature",
        ),
        (
            "zero amount",
            json(zero),
            StatusCode::BAD_REQUEST,
            "zero_amount",
        ),
        (
            "zero nonce",
            json(zero_nonce),
            StatusCode::BAD_REQUEST,
            "zero_nonce",
        ),
        (
            "amount with a leading zero",
            json(padded_amount),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "negative amount",
            json(negative_amount),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "nonce above u64",
            json(huge_nonce),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "no body",
            None,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "json content type, empty body",
            Some(("application/json", Vec::new())),
            StatusCode::BAD_REQUEST,
            "bad_json",
        ),
    ];
    for (name, body, status, code) in cases {
        let (got, response) = call(&shared, "POST", "/v1/transfers", body).await;
        assert_eq!(
            got,
            status,
            "{name}: {}",
            String::from_utf8_lossy(&response)
        );
        assert_eq!(error_code(&response), code, "{name}");
    }
    assert!(shared.mempool.lock().unwrap().is_empty());
    let (status, body) = call(
        &shared,
        "POST",
        "/v1/transfers/batch",
        json(serde_json::json!({"transfers": []})),
    )
    .await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (StatusCode::BAD_REQUEST, "bad_batch_size")
    );
    assert!(shared.mempool.lock().unwrap().is_empty());
    assert!(shared.metrics.render().contains("reason=\"bad_signature\""));
}

#[tokio::test]
async fn malformed_queries_get_4xx_json_errors() {
    let (_dir, shared) = shared(4096);
    // Above the API's 8 KiB limit; a target above 65,534 bytes cannot even be built as a
    // request (the http crate's limit, which hyper shares: it answers those with a bare 414).
    let long = format!("/v1/transfers/{}", "a".repeat(60 * 1024));
    for (path, status, code) in [
        // Not UTF-8 once percent-decoded: refused by the path extractor, before the handler.
        (
            "/v1/transfers/%FF".to_string(),
            StatusCode::BAD_REQUEST,
            "bad_id",
        ),
        (
            "/v1/accounts/%FF".to_string(),
            StatusCode::BAD_REQUEST,
            "bad_address",
        ),
        (
            "/v1/blocks/%FF".to_string(),
            StatusCode::BAD_REQUEST,
            "bad_height",
        ),
        (long, StatusCode::URI_TOO_LONG, "uri_too_long"),
        (
            "/v1/blocks/18446744073709551616".to_string(),
            StatusCode::BAD_REQUEST,
            "bad_height",
        ),
        (
            "/v1/transfers/xyz".to_string(),
            StatusCode::BAD_REQUEST,
            "bad_id",
        ),
        (
            format!("/v1/transfers/{}", "ab".repeat(32)),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/v1/accounts/bft1nope".to_string(),
            StatusCode::BAD_REQUEST,
            "bad_address",
        ),
        (
            "/v1/blocks/-1".to_string(),
            StatusCode::BAD_REQUEST,
            "bad_height",
        ),
        (
            "/v1/blocks/7".to_string(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/health/ready".to_string(),
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
        ),
    ] {
        let (got, body) = call(&shared, "GET", &path, None).await;
        assert_eq!((got, error_code(&body).as_str()), (status, code), "{path}");
    }
}

#[tokio::test]
async fn a_valid_transfer_is_accepted_once_and_reported_pending() {
    let (_dir, shared) = shared(4096);
    let body = serde_json::to_value(transfer(1)).unwrap();
    let (status, response) = call(&shared, "POST", "/v1/transfers", json(body.clone())).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let submitted: SubmitResponse = serde_json::from_slice(&response).unwrap();
    assert_eq!(submitted.id, transfer(1).id());
    let (status, response) = call(&shared, "POST", "/v1/transfers", json(body)).await;
    assert_eq!(
        (status, error_code(&response).as_str()),
        (StatusCode::CONFLICT, "duplicate")
    );
    let (status, response) = call(
        &shared,
        "GET",
        &format!("/v1/transfers/{}", submitted.id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let r: TransferResponse = serde_json::from_slice(&response).unwrap();
    assert_eq!(r.status, "pending");
    let batch = serde_json::json!({"transfers": [transfer(2), transfer(2), transfer(3)]});
    let (status, response) = call(&shared, "POST", "/v1/transfers/batch", json(batch)).await;
    assert_eq!(status, StatusCode::OK);
    let r: BatchSubmitResponse = serde_json::from_slice(&response).unwrap();
    assert_eq!(r.accepted, 2);
    assert_eq!(r.results[1].error.as_ref().unwrap().code, "duplicate");
    assert_eq!(shared.mempool.lock().unwrap().len(), 3);
    let (status, response) = call(
        &shared,
        "GET",
        &format!("/v1/accounts/{}", Address::from(key(10).public())),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let a: AccountResponse = serde_json::from_slice(&response).unwrap();
    assert_eq!((a.balance, a.next_nonce), (1_000, 1));
    let (status, response) = call(&shared, "GET", "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8(response)
        .unwrap()
        .contains("bftledger_mempool_size 3"));
}

/// An address nobody credited or used is the zero account, so a client can read the nonce of
/// its first transfer from it; u64 fields are decimal strings.
#[tokio::test]
async fn an_unknown_account_is_the_zero_account() {
    let (_dir, shared) = shared(4096);
    let unknown = Address::from(key(99).public());
    let (status, body) = call(&shared, "GET", &format!("/v1/accounts/{unknown}"), None).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["address"], serde_json::json!(unknown.to_string()));
    assert_eq!(value["balance"], serde_json::json!("0"));
    assert_eq!(value["nonce"], serde_json::json!("0"));
    assert_eq!(value["next_nonce"], serde_json::json!("1"));
    assert_eq!(value["height"], serde_json::json!(0));
}

/// Amounts and nonces go out as decimal strings and come in as strings or numbers.
#[tokio::test]
async fn u64_fields_are_decimal_strings_and_numbers_are_still_read() {
    let (_dir, shared) = shared(4096);
    let as_strings = serde_json::to_value(transfer(1)).unwrap();
    assert_eq!(as_strings["transfer"]["amount"], serde_json::json!("5"));
    assert_eq!(as_strings["transfer"]["nonce"], serde_json::json!("1"));
    let mut as_numbers = serde_json::to_value(transfer(2)).unwrap();
    as_numbers["transfer"]["amount"] = serde_json::json!(5);
    as_numbers["transfer"]["nonce"] = serde_json::json!(2);
    for (body, id) in [
        (as_strings, transfer(1).id()),
        (as_numbers, transfer(2).id()),
    ] {
        let (status, response) = call(&shared, "POST", "/v1/transfers", json(body)).await;
        assert_eq!(
            status,
            StatusCode::ACCEPTED,
            "{}",
            String::from_utf8_lossy(&response)
        );
        let submitted: SubmitResponse = serde_json::from_slice(&response).unwrap();
        assert_eq!(submitted.id, id);
    }
    let (_, body) = call(
        &shared,
        "GET",
        &format!("/v1/accounts/{}", Address::from(key(10).public())),
        None,
    )
    .await;
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["balance"], serde_json::json!("1000"));
}

/// Overload is refused at the door: 503 with the code `overloaded`, the JSON envelope and a
/// `Retry-After`, for a single transfer and for every item of a batch; nothing is pooled.
#[tokio::test]
async fn overload_is_refused_with_503_and_retry_after() {
    let (_dir, shared) = shared(4096);
    // The test node's budget is its pool (100); the core already holds 100 pending requests.
    shared.load.set_core_pending(100);
    let body = serde_json::to_value(transfer(1)).unwrap();
    let (status, headers, response) =
        call_with_headers(&shared, "POST", "/v1/transfers", json(body)).await;
    assert_eq!(
        (status, error_code(&response).as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "overloaded")
    );
    let retry: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=crate::load::MAX_RETRY_AFTER_S).contains(&retry),
        "{retry}"
    );
    let batch = serde_json::json!({"transfers": [transfer(2), transfer(3)]});
    let (status, headers, response) =
        call_with_headers(&shared, "POST", "/v1/transfers/batch", json(batch)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.contains_key(header::RETRY_AFTER));
    let r: BatchSubmitResponse = serde_json::from_slice(&response).unwrap();
    assert_eq!(r.accepted, 0);
    assert!(r
        .results
        .iter()
        .all(|i| i.error.as_ref().unwrap().code == "overloaded"));
    assert!(shared.mempool.lock().unwrap().is_empty());
    // Room again: accepted.
    shared.load.set_core_pending(0);
    let body = serde_json::to_value(transfer(1)).unwrap();
    let (status, _) = call(&shared, "POST", "/v1/transfers", json(body)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

/// An accepted transfer that the node let go of is reported as dropped, with the reason, not
/// as unknown.
#[tokio::test]
async fn a_dropped_transfer_is_reported_with_its_reason() {
    let (_dir, shared) = shared(4096);
    let gap = transfer(7);
    let body = serde_json::to_value(&gap).unwrap();
    let (status, _) = call(&shared, "POST", "/v1/transfers", json(body)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // Nonce 7 while the sender's next is 1: the gap does not close within the hold (500 ms).
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert!(shared.mempool.lock().unwrap().drain(10, |_| 0).is_empty());
    let (status, response) =
        call(&shared, "GET", &format!("/v1/transfers/{}", gap.id()), None).await;
    assert_eq!(status, StatusCode::OK);
    let r: TransferResponse = serde_json::from_slice(&response).unwrap();
    assert_eq!(r.status, "dropped");
    assert_eq!(r.dropped.unwrap().code, "nonce_gap");
}

/// A node whose data disk is low refuses client transfers with 503 `disk_full` and is not ready,
/// saying why; with room again it takes them (`disk.rs`).
#[tokio::test]
async fn a_low_data_disk_refuses_transfers_and_readiness_until_space_returns() {
    let (_dir, shared) = shared(4096);
    shared.disk.set_threshold_bytes(u64::MAX);
    let body = serde_json::to_value(transfer(1)).unwrap();
    let (status, response) = call(&shared, "POST", "/v1/transfers", json(body)).await;
    assert_eq!(
        (status, error_code(&response).as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "disk_full")
    );
    assert!(shared.mempool.lock().unwrap().is_empty());
    let (status, response) = call(&shared, "GET", "/health/ready", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let text = String::from_utf8_lossy(&response);
    assert!(text.contains("data disk"), "{text}");
    shared.disk.set_threshold_bytes(0);
    let body = serde_json::to_value(transfer(1)).unwrap();
    let (status, _) = call(&shared, "POST", "/v1/transfers", json(body)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

/// The binary form of a batch (`application/octet-stream`, PROTOCOL.md §3.5) goes through the
/// same admission as the JSON form and gets the same answer; a malformed body is refused as a
/// whole with where it broke, and pools nothing.
#[tokio::test]
async fn a_binary_batch_is_admitted_like_a_json_one() {
    let (_dir, shared) = shared(1 << 20);
    let binary_type = Some(binary::CONTENT_TYPE);
    let post = |body: Vec<u8>, content_type: Option<&'static str>| {
        let shared = shared.clone();
        async move {
            let body = content_type.map(|t| (t, body));
            call(&shared, "POST", "/v1/transfers/batch", body).await
        }
    };
    let mut truncated = binary::encode(&[transfer(1)]);
    truncated.pop();
    for (name, body) in [
        ("empty", Vec::new()),
        ("truncated", truncated),
        ("zero length", vec![0, 0]),
    ] {
        let (status, response) = post(body, binary_type).await;
        assert_eq!(
            (status, error_code(&response).as_str()),
            (StatusCode::BAD_REQUEST, "bad_transfer_bytes"),
            "{name}: {}",
            String::from_utf8_lossy(&response)
        );
    }
    let too_many = vec![transfer(1); shared.api.max_batch_transfers + 1];
    let (status, response) = post(binary::encode(&too_many), binary_type).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&response).contains("this one has more"));
    assert!(shared.mempool.lock().unwrap().is_empty());

    let (status, response) = post(
        binary::encode(&[transfer(1), transfer(1), transfer(2)]),
        Some("Application/Octet-Stream; charset=binary"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&response)
    );
    let r: BatchSubmitResponse = serde_json::from_slice(&response).unwrap();
    assert_eq!(r.accepted, 2);
    assert_eq!(r.results[0].id, transfer(1).id());
    assert_eq!(r.results[1].error.as_ref().unwrap().code, "duplicate");
    assert_eq!(shared.mempool.lock().unwrap().len(), 2);
    // Another media type is neither form.
    let (status, response) = post(binary::encode(&[transfer(3)]), Some("text/plain")).await;
    assert_eq!(
        (status, error_code(&response).as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
}

/// `?proof=true` (issue 14): refused with 503 `proof_unavailable` and `Retry-After` until a
/// checkpoint is stable; then the account at the checkpoint with a proof that verifies against
/// the genesis validators. Any other query is refused, so a misspelt one never silently drops
/// the proof a client asked for.
#[tokio::test]
async fn an_account_proof_is_served_once_a_checkpoint_is_stable() {
    use bftledger_crypto::encoding::Versioned;
    let (_dir, shared) = shared(4096);
    let sender = Address::from(key(10).public());
    let path = format!("/v1/accounts/{sender}?proof=true");
    let (status, headers, body) = call_with_headers(&shared, "GET", &path, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(String::from_utf8_lossy(&body).contains("proof_unavailable"));
    assert_eq!(headers.get(header::RETRY_AFTER).unwrap(), "1");
    for query in ["proof=yes", "proof", "prof=true", "proof=true&x=1"] {
        let (status, body) = call(
            &shared,
            "GET",
            &format!("/v1/accounts/{sender}?{query}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            String::from_utf8_lossy(&body).contains("bad_query"),
            "{query}"
        );
    }
    let block = {
        let mut store = shared.store.write().unwrap();
        store.keep_trees_every(1);
        let input = bftledger_ledger::BatchInput {
            batch_digest: Digest::of(b"batch 1"),
            transfers: vec![transfer(1)],
            certificate: vec![],
        };
        let block = store
            .commit_batch(input, bftledger_ledger::Signatures::Verify)
            .unwrap();
        let proof = test_support::checkpoint_proof(&[0, 1, 2], 1, block.hash());
        store.set_stable_checkpoint(1, proof.to_bytes()).unwrap();
        block
    };
    let (status, body) = call(&shared, "GET", &path, None).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let a: AccountResponse = serde_json::from_slice(&body).unwrap();
    let proof = a.proof.expect("a proof");
    assert_eq!((proof.height, proof.balance, proof.nonce), (1, 995, 1));
    assert_eq!(proof.header, block.header());
    let validators = shared.genesis.validator_keys();
    let v = crate::account_proof::verify(&validators, &key(10).public(), &proof).unwrap();
    assert_eq!(v.signers, vec![0, 1, 2]);
    // Without the query, no proof.
    let (_, body) = call(&shared, "GET", &format!("/v1/accounts/{sender}"), None).await;
    assert!(!String::from_utf8_lossy(&body).contains("\"proof\""));
}
