//! The relay's JSON-RPC server: HTTP and WebSocket JSON-RPC plus `GET /health`, `/ready` and
//! `/metrics`, all on one port (see the [crate] docs for the contract).
//!
//! Every answer comes from a [`NodeHandle`]; the server holds no relay state of its own. The
//! plain `GET` routes are a tower HTTP middleware in front of jsonrpsee, so they share the
//! port, the connection handling and the shutdown of the JSON-RPC service.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use chains::devnet::request_id::IdScreenLayer;
use jsonrpsee::core::BoxError;
use jsonrpsee::server::{
    BatchRequestConfig, HttpBody, HttpRequest, HttpResponse, PendingSubscriptionSink, RpcModule,
    Server, ServerConfig, ServerHandle, SubscriptionMessage,
};
use jsonrpsee::types::{ErrorObjectOwned, Params, error::INTERNAL_ERROR_CODE};
use relayer::node::evidence::MAX_PAGE as EVIDENCE_MAX_PAGE;
use relayer::node::handle::{NodeGone, NodeHandle};
use relayer::node::view::{MAX_PAGE, Readiness, TransferFilter, TransferView};
use tokio::sync::broadcast::error::RecvError;

use crate::params::{Args, filter, invalid};
use crate::{DEFAULT_EVIDENCE_PAGE, DEFAULT_PAGE, RELAY_SHUTTING_DOWN, VersionView};

/// How long a call waits for the node's driver before answering `-32603`.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `GET /ready` waits for the node before answering `503`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(5);
/// Content type of `GET /metrics`.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Settings of the JSON-RPC server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcConfig {
    /// Where to listen; default `127.0.0.1:8545` (loopback only).
    pub listen: SocketAddr,
    /// Largest request body (HTTP) or message (WebSocket) accepted, in bytes; default 1 MiB.
    pub max_request_bytes: u32,
    /// Largest response sent, in bytes; a bigger one becomes an error; default 16 MiB.
    pub max_response_bytes: u32,
    /// Concurrent WebSocket connections plus in-flight HTTP requests; default 128.
    pub max_connections: u32,
    /// Most calls in one batch; default 64.
    pub max_batch: u32,
    /// Most live subscriptions on one WebSocket connection; default 16.
    pub max_subscriptions_per_connection: u32,
}

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8545)),
            max_request_bytes: 1 << 20,
            max_response_bytes: 16 << 20,
            max_connections: 128,
            max_batch: 64,
            max_subscriptions_per_connection: 16,
        }
    }
}

impl RpcConfig {
    /// Refuses limits that would make the server useless.
    pub fn validate(&self) -> Result<(), RpcError> {
        let nonzero = [
            ("max_request_bytes", self.max_request_bytes),
            ("max_response_bytes", self.max_response_bytes),
            ("max_connections", self.max_connections),
            ("max_batch", self.max_batch),
            (
                "max_subscriptions_per_connection",
                self.max_subscriptions_per_connection,
            ),
        ];
        for (name, v) in nonzero {
            if v == 0 {
                return Err(RpcError::Config(format!("{name} must be at least 1")));
            }
        }
        Ok(())
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// A setting is out of range.
    #[error("invalid rpc settings: {0}")]
    Config(String),
    /// The address could not be bound.
    #[error("cannot listen for JSON-RPC on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A method could not be registered (a bug: duplicate name).
    #[error("cannot register JSON-RPC method: {0}")]
    Register(String),
}

/// Operator hooks reachable through the `admin_` methods (registered only when given).
pub trait AdminHooks: Send + Sync + std::fmt::Debug {
    /// Replaces the log filter with `directive` (e.g. `info,relayer=debug`); `Err` says why it
    /// was refused.
    fn set_log_level(&self, directive: &str) -> Result<(), String>;
}

/// A running server. Dropping it does not stop it; call [`RpcServer::stop`].
#[derive(Debug)]
pub struct RpcServer {
    addr: SocketAddr,
    handle: ServerHandle,
}

impl RpcServer {
    /// The bound address (with the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://host:port`, for JSON-RPC over HTTP and the `GET` routes.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://host:port`, for JSON-RPC over WebSocket (subscriptions).
    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Stops accepting, closes connections, and waits until every connection is done.
    pub async fn stop(self) {
        let _ = self.handle.stop();
        self.handle.stopped().await;
    }
}

/// Binds `config.listen` and starts serving `node`'s JSON-RPC methods and `GET` routes;
/// `admin_*` methods exist only with `admin`.
pub async fn serve(
    config: RpcConfig,
    node: NodeHandle,
    admin: Option<Arc<dyn AdminHooks>>,
) -> Result<RpcServer, RpcError> {
    config.validate()?;
    let module = rpc_module(node.clone(), admin)?;
    let server_config = ServerConfig::builder()
        .max_request_body_size(config.max_request_bytes)
        .max_response_body_size(config.max_response_bytes)
        .max_connections(config.max_connections)
        .max_subscriptions_per_connection(config.max_subscriptions_per_connection)
        .set_batch_request_config(BatchRequestConfig::Limit(config.max_batch))
        .build();
    let server = Server::builder()
        .set_config(server_config)
        .set_http_middleware(
            tower::ServiceBuilder::new()
                .layer(GetRoutesLayer { node })
                .layer(IdScreenLayer::new(config.max_request_bytes)),
        )
        .build(config.listen)
        .await
        .map_err(|source| RpcError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = server.local_addr().map_err(|source| RpcError::Listen {
        addr: config.listen,
        source,
    })?;
    let handle = server.start(module);
    tracing::info!(%addr, "JSON-RPC server listening");
    Ok(RpcServer { addr, handle })
}

// ---------------------------------------------------------------------------------------------
// JSON-RPC methods

/// Maps the node's answer (or its absence) to a JSON-RPC result.
async fn ask<T>(fut: impl Future<Output = Result<T, NodeGone>>) -> Result<T, ErrorObjectOwned> {
    match tokio::time::timeout(QUERY_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(NodeGone)) => Err(shutting_down()),
        Err(_) => Err(ErrorObjectOwned::owned(
            INTERNAL_ERROR_CODE,
            format!(
                "internal error: the relay did not answer within {}s",
                QUERY_TIMEOUT.as_secs()
            ),
            None::<()>,
        )),
    }
}

fn shutting_down() -> ErrorObjectOwned {
    ErrorObjectOwned::owned(RELAY_SHUTTING_DOWN, "relay shutting down", None::<()>)
}

fn rpc_module(
    node: NodeHandle,
    admin: Option<Arc<dyn AdminHooks>>,
) -> Result<RpcModule<NodeHandle>, RpcError> {
    let reg = |e: jsonrpsee::core::RegisterMethodError| RpcError::Register(e.to_string());
    let mut m = RpcModule::new(node);

    m.register_async_method("bridge_getTransfer", |params, node, _| async move {
        let id = Args::parse(&params, &["id"])?.hash32(0)?;
        ask(node.transfer(id)).await
    })
    .map_err(reg)?;

    m.register_async_method(
        "bridge_getTransferBySourceTx",
        |params, node, _| async move {
            let tx_id = Args::parse(&params, &["tx_id"])?.hash32(0)?;
            ask(node.transfer_by_source_tx(tx_id)).await
        },
    )
    .map_err(reg)?;

    m.register_async_method("bridge_listTransfers", |params, node, _| async move {
        let a = Args::parse(&params, &["filter", "cursor", "limit"])?;
        let filter = filter(&a, 0)?;
        let cursor = a.opt_str(1)?.map(str::to_owned);
        let limit = match a.opt_u64(2)? {
            None => DEFAULT_PAGE,
            Some(l) => usize::try_from(l)
                .ok()
                .filter(|l| (1..=MAX_PAGE).contains(l))
                .ok_or_else(|| {
                    invalid(format!("limit must be between 1 and {MAX_PAGE}, got {l}"))
                })?,
        };
        ask(node.list_transfers(filter, cursor, limit))
            .await?
            .map_err(|why| invalid(format!("cursor: {why}")))
    })
    .map_err(reg)?;

    m.register_subscription(
        "bridge_subscribeTransfers",
        "bridge_transfer",
        "bridge_unsubscribeTransfers",
        |params, pending, node, _| async move { subscribe_transfers(params, pending, node).await },
    )
    .map_err(reg)?;

    m.register_async_method("relay_status", |params, node, _| async move {
        Args::parse(&params, &[])?;
        ask(node.status()).await
    })
    .map_err(reg)?;

    m.register_async_method("relay_peers", |params, node, _| async move {
        Args::parse(&params, &[])?;
        ask(node.peers()).await
    })
    .map_err(reg)?;

    m.register_method("relay_evidence", |params, node, _| {
        let a = Args::parse(&params, &["since", "limit"])?;
        let since = a.opt_u64(0)?.unwrap_or(0);
        let limit = match a.opt_u64(1)? {
            None => DEFAULT_EVIDENCE_PAGE,
            Some(l) => usize::try_from(l)
                .ok()
                .filter(|l| (1..=EVIDENCE_MAX_PAGE).contains(l))
                .ok_or_else(|| {
                    invalid(format!(
                        "limit must be between 1 and {EVIDENCE_MAX_PAGE}, got {l}"
                    ))
                })?,
        };
        Ok::<_, ErrorObjectOwned>(node.evidence(since, limit))
    })
    .map_err(reg)?;

    m.register_method("relay_version", |params, _, _| {
        Args::parse(&params, &[])?;
        Ok::<_, ErrorObjectOwned>(VersionView::current())
    })
    .map_err(reg)?;

    if let Some(admin) = admin {
        m.register_method("admin_setLogLevel", move |params, _, _| {
            let a = Args::parse(&params, &["directive"])?;
            let directive = a.str(0)?;
            admin
                .set_log_level(directive)
                .map_err(|why| invalid(format!("directive refused: {why}")))?;
            tracing::info!(directive, "log level changed over JSON-RPC");
            Ok::<_, ErrorObjectOwned>(true)
        })
        .map_err(reg)?;
    }

    chains::devnet::params::register_rpc_methods(&mut m).map_err(reg)?;
    Ok(m)
}

fn matches(filter: &TransferFilter, t: &TransferView) -> bool {
    filter.status.is_none_or(|s| s == t.status) && filter.direction.is_none_or(|d| d == t.direction)
}

/// `bridge_subscribeTransfers`: forwards every matching update until the client leaves or the
/// node stops; a lagging subscriber skips what it missed.
async fn subscribe_transfers(
    params: Params<'static>,
    pending: PendingSubscriptionSink,
    node: Arc<NodeHandle>,
) {
    let filter = match Args::parse(&params, &["filter"]).and_then(|a| filter(&a, 0)) {
        Ok(f) => f,
        Err(e) => {
            pending.reject(e).await;
            return;
        }
    };
    // Subscribe before accepting, so nothing between the two is missed.
    let mut rx = node.subscribe_transfers();
    let Ok(sink) = pending.accept().await else {
        return;
    };
    loop {
        let update = tokio::select! {
            u = rx.recv() => u,
            _ = sink.closed() => return,
        };
        let view = match update {
            Ok(v) => v,
            Err(RecvError::Lagged(skipped)) => {
                tracing::debug!(
                    skipped,
                    subscription = ?sink.subscription_id(),
                    "transfer subscriber lagged; skipping ahead"
                );
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        if !matches(&filter, &view) {
            continue;
        }
        let msg = match serde_json::value::to_raw_value(&view) {
            Ok(raw) => SubscriptionMessage::from(raw),
            Err(e) => {
                tracing::warn!(error = %e, "cannot serialize a transfer update");
                continue;
            }
        };
        if sink.send(msg).await.is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Plain HTTP GET routes

/// The tower layer that answers `GET /health`, `/ready`, `/metrics` (and 404s other `GET`s)
/// before jsonrpsee sees the request. WebSocket upgrades and `POST`s pass through.
#[derive(Debug, Clone)]
struct GetRoutesLayer {
    node: NodeHandle,
}

impl<S> tower::Layer<S> for GetRoutesLayer {
    type Service = GetRoutes<S>;
    fn layer(&self, inner: S) -> GetRoutes<S> {
        GetRoutes {
            inner,
            node: self.node.clone(),
        }
    }
}

/// The service of [`GetRoutesLayer`].
#[derive(Debug, Clone)]
struct GetRoutes<S> {
    inner: S,
    node: NodeHandle,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S> tower::Service<HttpRequest> for GetRoutes<S>
where
    S: tower::Service<HttpRequest, Response = HttpResponse, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = BoxFuture<Result<HttpResponse, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: HttpRequest) -> Self::Future {
        let is_plain_get =
            req.method() == hyper::Method::GET && !jsonrpsee::server::ws::is_upgrade_request(&req);
        if !is_plain_get {
            // Take the service that was driven to readiness, leave a fresh clone behind.
            let clone = self.inner.clone();
            let mut inner = std::mem::replace(&mut self.inner, clone);
            return Box::pin(async move { inner.call(req).await });
        }
        let node = self.node.clone();
        let path = req.uri().path().to_owned();
        Box::pin(async move { Ok(get_route(&path, &node).await) })
    }
}

async fn get_route(path: &str, node: &NodeHandle) -> HttpResponse {
    match path {
        "/health" => respond(
            hyper::StatusCode::OK,
            "application/json",
            r#"{"status":"ok"}"#.to_owned(),
        ),
        "/ready" => ready(node).await,
        "/metrics" => respond(
            hyper::StatusCode::OK,
            METRICS_CONTENT_TYPE,
            node.metrics_text(),
        ),
        _ => respond(
            hyper::StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: GET serves /health, /ready and /metrics; JSON-RPC is POST or WebSocket\n"
                .to_owned(),
        ),
    }
}

async fn ready(node: &NodeHandle) -> HttpResponse {
    let (readiness, error) = match tokio::time::timeout(READY_TIMEOUT, node.ready()).await {
        Ok(Ok(r)) => (r, None),
        Ok(Err(NodeGone)) => (Readiness::default(), Some("relay shutting down".to_owned())),
        Err(_) => (
            Readiness::default(),
            Some(format!(
                "the relay did not answer within {}s",
                READY_TIMEOUT.as_secs()
            )),
        ),
    };
    let status = if readiness.ready && error.is_none() {
        hyper::StatusCode::OK
    } else {
        hyper::StatusCode::SERVICE_UNAVAILABLE
    };
    let body = match serde_json::to_value(&readiness) {
        Ok(mut v) => {
            if let (Some(obj), Some(e)) = (v.as_object_mut(), error) {
                obj.insert("error".to_owned(), serde_json::Value::String(e));
            }
            v.to_string()
        }
        Err(e) => {
            return respond(
                hyper::StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain; charset=utf-8",
                format!("cannot render readiness: {e}\n"),
            );
        }
    };
    respond(status, "application/json", body)
}

fn respond(status: hyper::StatusCode, content_type: &'static str, body: String) -> HttpResponse {
    let mut rsp = HttpResponse::new(HttpBody::from(body));
    *rsp.status_mut() = status;
    rsp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    rsp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_listen_is_loopback_8545() {
        let c = RpcConfig::default();
        assert_eq!(
            c.listen,
            "127.0.0.1:8545".parse::<SocketAddr>().expect("addr")
        );
        assert_eq!(c.max_request_bytes, 1 << 20);
        assert!(c.validate().is_ok());
        let bad = RpcConfig {
            max_batch: 0,
            ..RpcConfig::default()
        };
        assert!(bad.validate().is_err());
    }
}
