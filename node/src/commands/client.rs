//! The HTTP client the CLI commands use to talk to a node's API.

use crate::api::types::ErrorBody;
use crate::error::{CliError, CliResult, ExitCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

/// A failed API call.
#[derive(Debug)]
pub enum ClientError {
    /// No answer (connection refused, timeout, DNS).
    Unreachable(String),
    /// The node answered with an error.
    Api {
        /// HTTP status.
        status: u16,
        /// The stable error code.
        code: String,
        /// The message.
        message: String,
    },
    /// The answer was not what the API documents.
    BadAnswer(String),
}

impl ClientError {
    /// The default mapping to a CLI error: unreachable → 4, 404 → 6, else 1.
    pub fn into_cli(self) -> CliError {
        match self {
            ClientError::Unreachable(m) => CliError::unreachable(m),
            ClientError::Api {
                status: 404,
                message,
                ..
            } => CliError::new(ExitCode::NotFound, "not_found", message),
            ClientError::Api { code, message, .. } => {
                CliError::failure(format!("node refused the request ({code}): {message}"))
            }
            ClientError::BadAnswer(m) => CliError::failure(m),
        }
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> CliError {
        e.into_cli()
    }
}

/// A client for one node.
pub struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    /// A client for the node at `base` (e.g. `http://127.0.0.1:26700`).
    pub fn new(base: &str, timeout_ms: u64) -> CliResult<Client> {
        if !base.starts_with("http://") {
            return Err(CliError::usage(format!(
                "--node {base:?}: expected an http:// URL such as http://127.0.0.1:26700"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(timeout_ms))
            .build()
            .map_err(CliError::failure)?;
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            http,
        })
    }

    /// The node's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path`, decoding JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let response = self.send(self.http.get(self.url(path))).await?;
        response
            .json()
            .await
            .map_err(|e| ClientError::BadAnswer(format!("GET {path}: {e}")))
    }

    /// `GET path`, as text.
    pub async fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let response = self.send(self.http.get(self.url(path))).await?;
        response
            .text()
            .await
            .map_err(|e| ClientError::Unreachable(format!("GET {path}: {e}")))
    }

    /// `POST path` with a JSON body, decoding JSON.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.post_advised(path, body)
            .await
            .map(|(answer, _)| answer)
    }

    /// `POST path` with a JSON body, decoding JSON; also returns the `Retry-After` header's
    /// seconds, if the node advised one.
    pub async fn post_advised<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<(T, Option<u64>), ClientError> {
        let response = self.send(self.http.post(self.url(path)).json(body)).await?;
        Self::advised_answer(path, response).await
    }

    /// `POST path` with a body of `content_type` (the binary batch form), decoding JSON; also
    /// returns the `Retry-After` header's seconds, if the node advised one.
    pub async fn post_bytes_advised<T: DeserializeOwned>(
        &self,
        path: &str,
        content_type: &'static str,
        body: Vec<u8>,
    ) -> Result<(T, Option<u64>), ClientError> {
        let request = self
            .http
            .post(self.url(path))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body);
        let response = self.send(request).await?;
        Self::advised_answer(path, response).await
    }

    async fn advised_answer<T: DeserializeOwned>(
        path: &str,
        response: reqwest::Response,
    ) -> Result<(T, Option<u64>), ClientError> {
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        let body = response
            .json()
            .await
            .map_err(|e| ClientError::BadAnswer(format!("POST {path}: {e}")))?;
        Ok((body, retry_after))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let response = request.send().await.map_err(|e| {
            ClientError::Unreachable(format!("node {} is unreachable: {e}", self.base))
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => Err(ClientError::Api {
                status: status.as_u16(),
                code: body.error.code,
                message: body.error.message,
            }),
            Err(_) => Err(ClientError::BadAnswer(format!(
                "node answered {status} without a JSON error body"
            ))),
        }
    }
}

/// Runs an async client command on a small runtime.
pub fn block_on<F: std::future::Future<Output = CliResult>>(f: F) -> CliResult {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::failure)?
        .block_on(f)
}
