//! The latency of one JSON-RPC call over WebSocket to the relay's server: starts the server on
//! `127.0.0.1:0` (with its shipped limits and HTTP layers, so WebSocket connections go through
//! the id screen's proxy), opens one connection, and times `relay_version` calls made one after
//! the other; prints the median, p99 and max.
//!
//! ```text
//! cargo run --release -p rpc --example ws_call_latency -- [calls]   # default 2000
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use jsonrpsee::core::client::ClientT;
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::WsClientBuilder;
use relayer::node::handle::{MetricsSource, NodeHandle};
use rpc::server::{RpcConfig, serve};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};

/// Calls made before timing starts.
const WARMUP: usize = 200;

#[derive(Debug)]
struct NoMetrics;

impl MetricsSource for NoMetrics {
    fn render(&self) -> String {
        "# EOF\n".to_owned()
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let calls: usize = match std::env::args().nth(1) {
        None => 2000,
        Some(n) => n.parse().context("the argument is the number of calls")?,
    };
    if calls == 0 {
        bail!("the number of calls must be at least 1");
    }
    // `relay_version` needs no node: nothing answers the query channel.
    let (queries, _unanswered) = mpsc::channel(1);
    let (transfers, _) = broadcast::channel(1);
    let node = NodeHandle::new(queries, transfers, Arc::new(NoMetrics));
    let config = RpcConfig {
        listen: "127.0.0.1:0".parse()?,
        ..RpcConfig::default()
    };
    let server = serve(config, node, None).await?;
    let ws = WsClientBuilder::default().build(server.ws_url()).await?;

    let mut took = Vec::with_capacity(calls);
    for i in 0..WARMUP + calls {
        let start = Instant::now();
        let _: Value = ws.request("relay_version", rpc_params![]).await?;
        if i >= WARMUP {
            took.push(start.elapsed());
        }
    }
    took.sort();
    let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "relay_version over WebSocket, {calls} calls on one connection: median {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        us(at(0.5)),
        us(at(0.99)),
        us(at(1.0)),
    );
    drop(ws);
    server.stop().await;
    Ok(())
}
