//! The outermost layer of the API: every error leaves as the JSON envelope.
//!
//! Why a layer and not only `From<...Rejection>` impls: axum's extractors (path, query, JSON,
//! body limit) and any future one answer malformed requests with `text/plain` bodies before a
//! handler runs. Converting them here, once, keeps the documented rule "every error is
//! `{"error": {"code", "message"}}`" true for requests no handler saw, with a code derived from
//! the status (the framework's text becomes the message).
//!
//! It also refuses request targets longer than [`MAX_URI_BYTES`] (414 `uri_too_long`). hyper
//! itself answers a bare 414, with no body, to request targets longer than 65,534 bytes, before
//! any layer of the router runs; that ceiling is hyper's and cannot be given a body from here.

use super::ApiError;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Longest request target (path and query) the API reads, in bytes. The longest legitimate one
/// is a route with a 64-hex-character id, far below this.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Largest framework error text carried over into the envelope's message, in bytes.
const MAX_MESSAGE_BYTES: usize = 1024;

/// Refuses over-long request targets, then puts every non-JSON error response in the envelope.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let target_len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target_len > MAX_URI_BYTES {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request target is {target_len} bytes, the limit is {MAX_URI_BYTES}"),
        )
        .into_response();
    }
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let headers = response.headers().clone();
    let text = match axum::body::to_bytes(response.into_body(), MAX_MESSAGE_BYTES).await {
        Ok(bytes) if !bytes.is_empty() => String::from_utf8_lossy(&bytes).into_owned(),
        _ => status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_string(),
    };
    let mut enveloped = ApiError::new(status, code_for(status), text).into_response();
    if let Some(retry) = headers.get(header::RETRY_AFTER) {
        enveloped
            .headers_mut()
            .insert(header::RETRY_AFTER, retry.clone());
    }
    enveloped
}

fn is_json(response: &Response<Body>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The stable code of a framework rejection, by status.
fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "route_not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_client_error() => "bad_request",
        _ => "internal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::ErrorBody;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    async fn call(router: Router, uri: &str) -> (StatusCode, Option<String>, Vec<u8>) {
        let request = Request::builder().uri(uri).body(Body::empty()).unwrap();
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let retry = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_string());
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, retry, body.to_vec())
    }

    fn router() -> Router {
        Router::new()
            .route(
                "/text",
                get(|| async { (StatusCode::BAD_REQUEST, "no good") }),
            )
            .route(
                "/bare",
                get(|| async { StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE }),
            )
            .route(
                "/busy",
                get(|| async {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [(header::RETRY_AFTER, "3")],
                        "busy",
                    )
                }),
            )
            .route("/ok", get(|| async { "fine" }))
            .layer(axum::middleware::from_fn(json_errors))
    }

    fn envelope(body: &[u8]) -> (String, String) {
        let e: ErrorBody = serde_json::from_slice(body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)));
        (e.error.code, e.error.message)
    }

    #[tokio::test]
    async fn framework_text_errors_become_the_envelope_with_their_status() {
        let (status, _, body) = call(router(), "/text").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(envelope(&body), ("bad_request".into(), "no good".into()));
        let (status, _, body) = call(router(), "/bare").await;
        assert_eq!(status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert_eq!(envelope(&body).0, "headers_too_large");
        let (status, retry, body) = call(router(), "/busy").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry.as_deref(), Some("3"));
        assert_eq!(envelope(&body), ("unavailable".into(), "busy".into()));
        let (status, _, body) = call(router(), "/ok").await;
        assert_eq!((status, body.as_slice()), (StatusCode::OK, &b"fine"[..]));
    }

    #[tokio::test]
    async fn an_over_long_target_is_refused_before_routing() {
        let at_limit = format!("/ok?{}", "a".repeat(MAX_URI_BYTES - 4));
        assert_eq!(call(router(), &at_limit).await.0, StatusCode::OK);
        let over = format!("/ok?{}", "a".repeat(MAX_URI_BYTES - 3));
        let (status, _, body) = call(router(), &over).await;
        assert_eq!(status, StatusCode::URI_TOO_LONG);
        assert_eq!(envelope(&body).0, "uri_too_long");
    }
}
