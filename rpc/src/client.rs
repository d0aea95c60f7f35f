//! [`RelayClient`]: a typed client of a relay's JSON-RPC server, over jsonrpsee's HTTP client,
//! plus the plain `GET /health`, `/ready` and `/metrics` (over hyper).
//!
//! Used by `picsou-relay status`, the devnet driver, tests and examples. Every error names the
//! relay's URL.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::params::ArrayParams;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use relayer::node::view::{
    PeerView, Readiness, RelayStatusView, TransferFilter, TransferPage, TransferView,
};
use serde::de::DeserializeOwned;

use crate::{EvidenceView, VersionView};

/// How long one call may take, by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response accepted (a full `bridge_listTransfers` page fits easily).
const MAX_RESPONSE_BYTES: usize = 32 << 20;

/// Why a call to the relay failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not an `http://host:port` (or `https://`) URL.
    #[error("invalid relay url {url:?}: {why}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// Nothing answered (connection refused, reset, timed out).
    #[error("cannot reach the relay at {url}: {why}")]
    Unreachable {
        /// The relay's URL.
        url: String,
        /// The transport's reason.
        why: String,
    },
    /// The relay answered with a JSON-RPC error.
    #[error("the relay at {url} answered error {code}: {message}")]
    Rpc {
        /// The relay's URL.
        url: String,
        /// JSON-RPC error code (`-32602` invalid params, `-32000` shutting down, …).
        code: i32,
        /// Its message.
        message: String,
    },
    /// A `GET` got an unexpected HTTP status.
    #[error("the relay at {url} answered HTTP {status} to GET {path}: {body}")]
    Http {
        /// The relay's URL.
        url: String,
        /// The path asked for.
        path: &'static str,
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The answer did not have the expected shape.
    #[error("the relay at {url} sent an unexpected answer: {why}")]
    Decode {
        /// The relay's URL.
        url: String,
        /// What did not parse.
        why: String,
    },
}

impl ClientError {
    /// The JSON-RPC error code, for [`ClientError::Rpc`].
    pub fn code(&self) -> Option<i32> {
        match self {
            ClientError::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// An error and its causes, `a: b: c`, without repeating a cause already quoted.
fn with_sources(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// A client of one relay's JSON-RPC server. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RelayClient {
    url: String,
    /// `scheme://authority` for the `GET` routes.
    base: String,
    rpc: HttpClient,
    http: HyperClient<HttpConnector, Empty<Bytes>>,
    timeout: Duration,
}

impl RelayClient {
    /// A client of the relay at `url` (`http://host:port`), with [`DEFAULT_TIMEOUT`].
    pub fn new(url: &str) -> Result<Self, ClientError> {
        Self::with_timeout(url, DEFAULT_TIMEOUT)
    }

    /// A client whose every call gives up after `timeout`.
    pub fn with_timeout(url: &str, timeout: Duration) -> Result<Self, ClientError> {
        let bad = |why: String| ClientError::Url {
            url: url.to_owned(),
            why,
        };
        let uri: hyper::Uri = url.parse().map_err(|e| bad(format!("{e}")))?;
        let scheme = uri
            .scheme_str()
            .ok_or_else(|| bad("missing scheme (expected http://host:port)".to_owned()))?;
        if scheme != "http" && scheme != "https" {
            return Err(bad(format!(
                "unsupported scheme {scheme:?} (expected http)"
            )));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| bad("missing host (expected http://host:port)".to_owned()))?;
        let base = format!("{scheme}://{authority}");
        let rpc = HttpClientBuilder::default()
            .request_timeout(timeout)
            .max_response_size(u32::try_from(MAX_RESPONSE_BYTES).unwrap_or(u32::MAX))
            .build(url)
            .map_err(|e| bad(e.to_string()))?;
        let http = HyperClient::builder(TokioExecutor::new()).build_http();
        Ok(RelayClient {
            url: url.to_owned(),
            base,
            rpc,
            http,
            timeout,
        })
    }

    /// The relay's URL, as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn call<R: DeserializeOwned>(
        &self,
        method: &str,
        params: ArrayParams,
    ) -> Result<R, ClientError> {
        use jsonrpsee::core::ClientError as E;
        let url = self.url.clone();
        self.rpc.request(method, params).await.map_err(|e| match e {
            E::Call(e) => ClientError::Rpc {
                url,
                code: e.code(),
                message: e.message().to_owned(),
            },
            E::ParseError(e) => ClientError::Decode {
                url,
                why: format!("{method}: {e}"),
            },
            E::RequestTimeout => ClientError::Unreachable {
                url,
                why: format!("{method} timed out after {:?}", self.timeout),
            },
            other => ClientError::Unreachable {
                url,
                why: with_sources(&other),
            },
        })
    }

    /// `bridge_getTransfer`: the transfer with this id (64 hex digits), `None` if unknown.
    pub async fn transfer(&self, id_hex: &str) -> Result<Option<TransferView>, ClientError> {
        self.call("bridge_getTransfer", rpc_params![id_hex]).await
    }

    /// `bridge_getTransferBySourceTx`: the transfer made by this source transaction.
    pub async fn transfer_by_source_tx(
        &self,
        tx_hex: &str,
    ) -> Result<Option<TransferView>, ClientError> {
        self.call("bridge_getTransferBySourceTx", rpc_params![tx_hex])
            .await
    }

    /// `bridge_listTransfers`: one page (oldest first) of up to `limit` transfers matching
    /// `filter`, after `cursor` (the previous page's `next_cursor`).
    pub async fn list_transfers(
        &self,
        filter: &TransferFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<TransferPage, ClientError> {
        self.call("bridge_listTransfers", rpc_params![filter, cursor, limit])
            .await
    }

    /// `relay_status`.
    pub async fn status(&self) -> Result<RelayStatusView, ClientError> {
        self.call("relay_status", rpc_params![]).await
    }

    /// `relay_peers`.
    pub async fn peers(&self) -> Result<Vec<PeerView>, ClientError> {
        self.call("relay_peers", rpc_params![]).await
    }

    /// `relay_version`.
    pub async fn version(&self) -> Result<VersionView, ClientError> {
        self.call("relay_version", rpc_params![]).await
    }

    /// `relay_evidence`: up to `limit` (default 16) kept pieces of evidence with
    /// `seq >= since`, oldest first.
    pub async fn evidence(
        &self,
        since: u64,
        limit: Option<usize>,
    ) -> Result<Vec<EvidenceView>, ClientError> {
        self.call("relay_evidence", rpc_params![since, limit]).await
    }

    /// `GET path`: the HTTP status and body.
    async fn get(&self, path: &'static str) -> Result<(u16, Bytes), ClientError> {
        let unreachable = |why: String| ClientError::Unreachable {
            url: self.url.clone(),
            why,
        };
        if !self.base.starts_with("http://") {
            return Err(ClientError::Url {
                url: self.url.clone(),
                why: format!("GET {path} needs a plain http:// URL"),
            });
        }
        let uri: hyper::Uri =
            format!("{}{path}", self.base)
                .parse()
                .map_err(|e| ClientError::Url {
                    url: self.url.clone(),
                    why: format!("{e}"),
                })?;
        let exchange = async {
            let rsp = self
                .http
                .get(uri)
                .await
                .map_err(|e| unreachable(format!("GET {path}: {}", with_sources(&e))))?;
            let status = rsp.status().as_u16();
            let body = Limited::new(rsp.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| unreachable(format!("GET {path}: reading the body: {e}")))?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| unreachable(format!("GET {path} timed out after {:?}", self.timeout)))?
    }

    fn http_error(&self, path: &'static str, status: u16, body: &[u8]) -> ClientError {
        let text = String::from_utf8_lossy(body);
        ClientError::Http {
            url: self.url.clone(),
            path,
            status,
            body: text.chars().take(200).collect(),
        }
    }

    /// `GET /health`: `Ok` iff the relay's process answers 200.
    pub async fn health(&self) -> Result<(), ClientError> {
        match self.get("/health").await? {
            (200, _) => Ok(()),
            (status, body) => Err(self.http_error("/health", status, &body)),
        }
    }

    /// `GET /ready`: the readiness conditions (200 and 503 both carry them; `ready` says which).
    pub async fn ready(&self) -> Result<Readiness, ClientError> {
        match self.get("/ready").await? {
            (200 | 503, body) => serde_json::from_slice(&body).map_err(|e| ClientError::Decode {
                url: self.url.clone(),
                why: format!("GET /ready: {e}"),
            }),
            (status, body) => Err(self.http_error("/ready", status, &body)),
        }
    }

    /// `GET /metrics`: the OpenMetrics text.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        match self.get("/metrics").await? {
            (200, body) => Ok(String::from_utf8_lossy(&body).into_owned()),
            (status, body) => Err(self.http_error("/metrics", status, &body)),
        }
    }
}
