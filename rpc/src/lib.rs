//! `rpc`: the JSON-RPC surface of a relay — the server that answers from a
//! [`NodeHandle`](relayer::node::handle::NodeHandle), and the typed client that talks to it.
//!
//! # Contract
//!
//! [`server::serve`] binds **one port** (default `127.0.0.1:8545`, loopback only unless told
//! otherwise) that serves, side by side:
//!
//! - JSON-RPC 2.0 over HTTP (`POST`, `Content-Type: application/json`) and over WebSocket
//!   (subscriptions need WebSocket);
//! - plain HTTP `GET`s:
//!   - `GET /health` → `200 {"status":"ok"}` while the process is alive (never asks the node);
//!   - `GET /ready` → the [`Readiness`] JSON, `200` when `ready`, `503` otherwise (also `503`,
//!     with an `error` field, when the node is gone or does not answer in time);
//!   - `GET /metrics` → `200`, the node's Prometheus/OpenMetrics text,
//!     `Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8`;
//!   - any other `GET` path → `404`.
//!
//! Every method takes its parameters by position (`[a, b]`) or by name (`{"a": …}`); optional
//! trailing parameters may be left out or `null`.
//!
//! | method | params | result |
//! |---|---|---|
//! | `bridge_getTransfer` | `id` (64 hex digits, optional `0x`) | [`TransferView`] or `null` |
//! | `bridge_getTransferBySourceTx` | `tx_id` (64 hex digits, optional `0x`) | [`TransferView`] or `null` |
//! | `bridge_listTransfers` | `filter`? `{status?, direction?}`, `cursor`?, `limit`? (default 100, `1..=`[`MAX_PAGE`]) | [`TransferPage`], oldest first |
//! | `bridge_subscribeTransfers` | `filter`? | WebSocket subscription; `bridge_transfer` notifications carry a [`TransferView`]; `bridge_unsubscribeTransfers` ends it |
//! | `relay_status` | — | [`RelayStatusView`] |
//! | `relay_peers` | — | `[`[`PeerView`]`]` |
//! | `relay_evidence` | `since`? (default 0), `limit`? (default 16, `1..=64`) | `[`[`EvidenceView`]`]`: signed frames proving a peer misbehaved, `seq >= since`, oldest first |
//! | `relay_version` | — | [`VersionView`] `{version, wire_version, protocols}` |
//! | `admin_setLogLevel` | `directive` | `true` (only registered when admin hooks are given) |
//! | `rpc_methods` | — | the names of every method this server answers (subscribe and unsubscribe included), sorted |
//!
//! A subscriber that falls behind the node's broadcast skips ahead to the newest updates; its
//! connection is not closed.
//!
//! # Errors
//!
//! JSON-RPC 2.0 codes: `-32700` parse error, `-32600` invalid request, `-32601` method not
//! found, `-32602` invalid params (the message names the parameter or field, e.g.
//! ``invalid params: `id` must be 64 hex digits (optionally 0x-prefixed), got 3 characters``),
//! `-32603` internal error (e.g. the node did not answer within [`server::QUERY_TIMEOUT`]).
//! A request whose `id` is not a string, a non-negative integer or `null` (an object, an array,
//! a bool, a negative or fractional number) gets `-32600` with `"id": null`, over HTTP and over
//! WebSocket, alone or as an entry of a batch; a notification (no `id`) gets no answer.
//! jsonrpsee alone would take such a request for a notification and drop it (upstream issue
//! paritytech/jsonrpsee#1653); the layer in `chains::devnet::request_id`, which the devnet
//! chain's server uses too, screens HTTP bodies and proxies WebSocket connections to fix that.
//! [`RELAY_SHUTTING_DOWN`] (`-32000`, "relay shutting down") means the node's driver has
//! stopped; the server keeps serving `/health` until it is stopped.
//!
//! # Limits
//!
//! From [`server::RpcConfig`]: a request body above `max_request_bytes` (default 1 MiB) gets an
//! HTTP 413 with error `-32007`; a batch above `max_batch` (default 64) gets error `-32010`; a
//! connection above `max_connections` (default 128 concurrent WebSocket connections plus
//! in-flight HTTP requests) is refused with HTTP 429. The server keeps serving after each.
//! Nothing in a request can make the server panic.

pub mod client;
mod params;
pub mod server;

pub use relayer::node::evidence::EvidenceView;
pub use relayer::node::view::{
    Direction, MAX_PAGE, PeerView, Readiness, RelayStatusView, StreamView, TransferFilter,
    TransferPage, TransferStatus, TransferView,
};

use serde::{Deserialize, Serialize};

/// Error code of every call made after the node's driver stopped ("relay shutting down"), in
/// the JSON-RPC 2.0 range reserved for implementation-defined server errors.
pub const RELAY_SHUTTING_DOWN: i32 = -32000;

/// `limit` of `bridge_listTransfers` when none is given.
pub const DEFAULT_PAGE: usize = 100;

/// `limit` of `relay_evidence` when none is given.
pub const DEFAULT_EVIDENCE_PAGE: usize = 16;

/// `relay_version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionView {
    /// The relay's crate version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// The batch wire format version ([`relayer::wire::VERSION`]).
    pub wire_version: u8,
    /// The protocols this build can run, by name (`picsou`, `ost`, …).
    pub protocols: Vec<String>,
}

impl VersionView {
    /// This build's version.
    pub fn current() -> Self {
        VersionView {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            wire_version: relayer::wire::VERSION,
            protocols: relayer::protocol::ProtocolKind::ALL
                .iter()
                .map(|p| p.name().to_owned())
                .collect(),
        }
    }
}
