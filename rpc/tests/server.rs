//! The relay's JSON-RPC server end to end: a real server on `127.0.0.1:0`, real HTTP and
//! WebSocket clients, and a fake node driver answering `Query` messages from canned data.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jsonrpsee::core::client::{ClientT, SubscriptionClientT};
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::WsClientBuilder;
use relayer::node::handle::{MetricsSource, NodeHandle, Query};
use relayer::node::view::{
    Direction, MAX_PAGE, PeerView, Readiness, RelayStatusView, StreamView, TransferFilter,
    TransferPage, TransferStatus, TransferView,
};
use rpc::client::{ClientError, RelayClient};
use rpc::server::{AdminHooks, METRICS_CONTENT_TYPE, RpcConfig, RpcServer, serve};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

const METRICS: &str = "# TYPE relay_up gauge\nrelay_up 1\n# EOF\n";

#[derive(Debug)]
struct FakeMetrics;

impl MetricsSource for FakeMetrics {
    fn render(&self) -> String {
        METRICS.to_owned()
    }
}

fn transfer(byte: u8, src: u8, direction: Direction, status: TransferStatus) -> TransferView {
    TransferView {
        id: hex::encode([byte; 32]),
        direction,
        amount: 100 * u64::from(byte),
        sender: format!("ed25519:{}", hex::encode([byte; 4])),
        recipient: format!("secp256k1:{}", hex::encode([src; 4])),
        status,
        source_tx: hex::encode([src; 32]),
        source_height: Some(7),
        stream_index: u64::from(byte),
        quacked: status >= TransferStatus::Acknowledged,
        dest_tx: None,
        dest_height: None,
        error: None,
        updated_at: 1_700_000_000_000 + u64::from(byte),
    }
}

fn canned_transfers() -> Vec<TransferView> {
    vec![
        transfer(0x11, 0xaa, Direction::AToB, TransferStatus::Committed),
        transfer(0x22, 0xbb, Direction::BToA, TransferStatus::Sent),
        transfer(0x33, 0xcc, Direction::AToB, TransferStatus::Sent),
    ]
}

fn canned_status() -> RelayStatusView {
    RelayStatusView {
        node: "A0".to_owned(),
        protocol: "picsou".to_owned(),
        peer_id: "12D3KooWfake".to_owned(),
        chain: "algorand-devnet".to_owned(),
        peer_chain: "resdb-devnet".to_owned(),
        chain_height: 42,
        streams: vec![
            StreamView {
                direction: Some(Direction::AToB),
                role: "outbound".to_owned(),
                exported: 10,
                next_expected: 0,
                quack: 8,
                resends: 1,
            },
            StreamView {
                direction: Some(Direction::BToA),
                role: "inbound".to_owned(),
                exported: 5,
                next_expected: 5,
                quack: 0,
                resends: 0,
            },
        ],
        peers_connected: 1,
        peers_configured: 2,
        transfers: [("committed".to_owned(), 1), ("sent".to_owned(), 2)]
            .into_iter()
            .collect(),
        uptime_ms: 1234,
    }
}

fn canned_peers() -> Vec<PeerView> {
    vec![
        PeerView {
            node: "B0".to_owned(),
            peer_id: "12D3KooWb0".to_owned(),
            addr: "/ip4/127.0.0.1/tcp/9000".to_owned(),
            connected: true,
            batches_in: 3,
            batches_out: 4,
            misbehaviour: 0,
        },
        PeerView {
            node: "B1".to_owned(),
            peer_id: "12D3KooWb1".to_owned(),
            addr: "/ip4/127.0.0.1/tcp/9001".to_owned(),
            connected: false,
            batches_in: 0,
            batches_out: 0,
            misbehaviour: 2,
        },
    ]
}

/// The next notification of `sub`, within 10 s.
async fn next(sub: &mut jsonrpsee::core::client::Subscription<TransferView>) -> TransferView {
    tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("an update in time")
        .expect("subscription open")
        .expect("a transfer")
}

type ListCall = (TransferFilter, Option<String>, usize);

/// A fake node: a driver task answering queries from canned data.
struct Fake {
    node: NodeHandle,
    updates: broadcast::Sender<TransferView>,
    ready: Arc<AtomicBool>,
    last_list: Arc<Mutex<Option<ListCall>>>,
    driver: JoinHandle<()>,
}

fn list(
    all: &[TransferView],
    filter: &TransferFilter,
    cursor: Option<&str>,
    limit: usize,
) -> Result<TransferPage, String> {
    let start = match cursor {
        None => 0,
        Some(c) => c
            .parse::<usize>()
            .map_err(|_| format!("unknown cursor {c:?}"))?,
    };
    let matching: Vec<_> = all
        .iter()
        .filter(|t| filter.status.is_none_or(|s| s == t.status))
        .filter(|t| filter.direction.is_none_or(|d| d == t.direction))
        .cloned()
        .collect();
    let transfers: Vec<_> = matching.iter().skip(start).take(limit).cloned().collect();
    let end = start + transfers.len();
    Ok(TransferPage {
        transfers,
        next_cursor: (end < matching.len()).then(|| end.to_string()),
    })
}

fn fake_with_capacity(capacity: usize) -> Fake {
    let (qtx, mut qrx) = mpsc::channel::<Query>(16);
    let (updates, _) = broadcast::channel(capacity);
    let node = NodeHandle::new(qtx, updates.clone(), Arc::new(FakeMetrics));
    let ready = Arc::new(AtomicBool::new(false));
    let last_list = Arc::new(Mutex::new(None));
    let driver = {
        let ready = ready.clone();
        let last_list = last_list.clone();
        tokio::spawn(async move {
            let all = canned_transfers();
            while let Some(q) = qrx.recv().await {
                match q {
                    Query::Transfer(id, tx) => {
                        let want = hex::encode(id);
                        let _ = tx.send(all.iter().find(|t| t.id == want).cloned());
                    }
                    Query::TransferBySourceTx(id, tx) => {
                        let want = hex::encode(id);
                        let _ = tx.send(all.iter().find(|t| t.source_tx == want).cloned());
                    }
                    Query::ListTransfers(filter, cursor, limit, tx) => {
                        let page = list(&all, &filter, cursor.as_deref(), limit);
                        if let Ok(mut l) = last_list.lock() {
                            *l = Some((filter, cursor, limit));
                        }
                        let _ = tx.send(page);
                    }
                    Query::Status(tx) => {
                        let _ = tx.send(canned_status());
                    }
                    Query::Peers(tx) => {
                        let _ = tx.send(canned_peers());
                    }
                    Query::Ready(tx) => {
                        let r = ready.load(Ordering::SeqCst);
                        let _ = tx.send(Readiness {
                            ready: r,
                            validator_reachable: true,
                            storage_open: true,
                            remote_connected_stake: if r { 2 } else { 1 },
                            remote_quorum_stake: 2,
                        });
                    }
                }
            }
        })
    };
    Fake {
        node,
        updates,
        ready,
        last_list,
        driver,
    }
}

fn fake() -> Fake {
    fake_with_capacity(64)
}

fn local_config() -> RpcConfig {
    RpcConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        ..RpcConfig::default()
    }
}

async fn start(config: RpcConfig) -> (Fake, RpcServer) {
    let f = fake();
    let server = serve(config, f.node.clone(), None)
        .await
        .expect("server starts");
    (f, server)
}

fn client(server: &RpcServer) -> RelayClient {
    RelayClient::new(&server.url()).expect("client")
}

/// A raw JSON-RPC POST: HTTP status and the parsed body.
async fn post(server: &RpcServer, body: impl Into<Bytes>) -> (u16, Value) {
    let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = hyper::Request::post(server.url())
        .header("content-type", "application/json")
        .body(Full::new(body.into()))
        .expect("request");
    let rsp = http.request(req).await.expect("POST answered");
    let status = rsp.status().as_u16();
    let bytes = rsp.into_body().collect().await.expect("body").to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

/// A raw GET: status, content type and body.
async fn get(server: &RpcServer, path: &str) -> (u16, String, String) {
    let http = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri: hyper::Uri = format!("{}{path}", server.url()).parse().expect("uri");
    let rsp = http.get(uri).await.expect("GET answered");
    let status = rsp.status().as_u16();
    let ctype = rsp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = rsp.into_body().collect().await.expect("body").to_bytes();
    (status, ctype, String::from_utf8_lossy(&bytes).into_owned())
}

/// RFC 6455's example `Sec-WebSocket-Key` and the `Sec-WebSocket-Accept` it calls for.
const RFC_KEY: (&str, &str) = ("dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");

/// A raw WebSocket upgrade request with `key`: the status, the `Sec-WebSocket-Accept` header and
/// the body of the answer (read only when it is not a `101`).
async fn upgrade(server: &RpcServer, key: Option<&str>) -> (u16, String, String) {
    let http = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut req = hyper::Request::get(server.url())
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13");
    if let Some(key) = key {
        req = req.header("sec-websocket-key", key);
    }
    let req = req.body(Empty::new()).expect("request");
    let rsp = http.request(req).await.expect("upgrade answered");
    let status = rsp.status().as_u16();
    let accept = rsp
        .headers()
        .get("sec-websocket-accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if status == 101 {
        return (status, accept, String::new());
    }
    let bytes = rsp.into_body().collect().await.expect("body").to_bytes();
    (status, accept, String::from_utf8_lossy(&bytes).into_owned())
}

/// The `error` of a raw JSON-RPC answer: code and message.
fn error_of(v: &Value) -> (i64, String) {
    let e = &v["error"];
    (
        e["code"].as_i64().unwrap_or(0),
        e["message"].as_str().unwrap_or("").to_owned(),
    )
}

fn call_body(method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string()
}

fn rpc_error(r: Result<impl std::fmt::Debug, ClientError>) -> (i32, String) {
    match r {
        Err(ClientError::Rpc { code, message, .. }) => (code, message),
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
}

#[test]
fn default_listen_address_is_loopback() {
    let c = RpcConfig::default();
    assert!(c.listen.ip().is_loopback());
    assert_eq!(c.listen.to_string(), "127.0.0.1:8545");
    assert_eq!(c.max_request_bytes, 1 << 20);
    assert_eq!(c.max_connections, 128);
    assert_eq!(c.max_batch, 64);
}

#[tokio::test]
async fn methods_return_the_canned_data() {
    let (f, server) = start(local_config()).await;
    let c = client(&server);
    let all = canned_transfers();

    assert_eq!(
        c.transfer(&all[0].id).await.expect("call"),
        Some(all[0].clone())
    );
    let prefixed = format!("0x{}", all[1].id.to_uppercase());
    assert_eq!(
        c.transfer(&prefixed).await.expect("call"),
        Some(all[1].clone())
    );
    assert_eq!(
        c.transfer(&hex::encode([0x99; 32])).await.expect("call"),
        None
    );
    assert_eq!(
        c.transfer_by_source_tx(&all[2].source_tx)
            .await
            .expect("call"),
        Some(all[2].clone())
    );
    assert_eq!(
        c.transfer_by_source_tx(&all[0].id).await.expect("call"),
        None
    );

    let page = c
        .list_transfers(&TransferFilter::default(), None, 2)
        .await
        .expect("call");
    assert_eq!(page.transfers, all[..2].to_vec());
    let cursor = page.next_cursor.expect("a second page");
    let page2 = c
        .list_transfers(&TransferFilter::default(), Some(&cursor), 2)
        .await
        .expect("call");
    assert_eq!(page2.transfers, all[2..].to_vec());
    assert_eq!(page2.next_cursor, None);

    let sent = TransferFilter {
        status: Some(TransferStatus::Sent),
        direction: Some(Direction::AToB),
    };
    let page = c.list_transfers(&sent, None, 10).await.expect("call");
    assert_eq!(page.transfers, vec![all[2].clone()]);

    assert_eq!(c.status().await.expect("call"), canned_status());
    assert_eq!(c.peers().await.expect("call"), canned_peers());
    let v = c.version().await.expect("call");
    assert_eq!(v.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(v.wire_version, relayer::wire::VERSION);
    assert!(v.protocols.iter().any(|p| p == "picsou"), "{v:?}");

    // By name as well as by position; defaults when left out.
    let (_, r) = post(
        &server,
        call_body("bridge_getTransfer", json!({"id": all[0].id})),
    )
    .await;
    assert_eq!(r["result"]["id"], json!(all[0].id));
    let (_, r) = post(
        &server,
        call_body(
            "bridge_getTransferBySourceTx",
            json!({"tx_id": all[1].source_tx}),
        ),
    )
    .await;
    assert_eq!(r["result"]["id"], json!(all[1].id));
    let (_, r) = post(&server, call_body("bridge_listTransfers", json!([]))).await;
    assert_eq!(r["result"]["transfers"].as_array().map(Vec::len), Some(3));
    let last = f.last_list.lock().expect("lock").clone();
    assert_eq!(
        last,
        Some((TransferFilter::default(), None, rpc::DEFAULT_PAGE))
    );
    let (_, r) = post(
        &server,
        call_body(
            "bridge_listTransfers",
            json!({"limit": 1, "filter": {"direction": "b_to_a"}}),
        ),
    )
    .await;
    assert_eq!(r["result"]["transfers"][0]["id"], json!(all[1].id));
    let (_, r) = post(
        &server,
        r#"{"jsonrpc":"2.0","id":1,"method":"relay_status"}"#,
    )
    .await;
    assert_eq!(r["result"]["node"], json!("A0"));

    server.stop().await;
}

#[tokio::test]
async fn bad_ids_are_invalid_params_naming_the_parameter() {
    let (_f, server) = start(local_config()).await;
    let c = client(&server);
    for bad in [
        "abcd",
        &"zz".repeat(32),
        &format!("{}0", hex::encode([1u8; 32])),
        "",
    ] {
        let (code, msg) = rpc_error(c.transfer(bad).await);
        assert_eq!(code, -32602, "{bad:?}: {msg}");
        assert!(msg.contains("`id` must be 64 hex digits"), "{bad:?}: {msg}");
    }
    let (code, msg) = rpc_error(c.transfer_by_source_tx("0x12").await);
    assert_eq!(code, -32602);
    assert!(msg.contains("tx_id"), "{msg}");

    for params in [
        json!([5]),
        json!([null]),
        json!([]),
        json!({"id": true}),
        json!([["x"]]),
    ] {
        let (_, r) = post(&server, call_body("bridge_getTransfer", params.clone())).await;
        let (code, msg) = error_of(&r);
        assert_eq!(code, -32602, "{params}: {r}");
        assert!(msg.contains("`id`"), "{params}: {msg}");
    }
    // Unknown and extra parameters are named too.
    let (_, r) = post(
        &server,
        call_body("bridge_getTransfer", json!({"idd": "00"})),
    )
    .await;
    let (code, msg) = error_of(&r);
    assert_eq!(code, -32602);
    assert!(msg.contains("idd"), "{msg}");
    let (_, r) = post(
        &server,
        call_body("bridge_getTransfer", json!([hex::encode([1u8; 32]), 1])),
    )
    .await;
    assert_eq!(error_of(&r).0, -32602);
    let (_, r) = post(&server, call_body("relay_status", json!([1]))).await;
    assert_eq!(error_of(&r).0, -32602);
    server.stop().await;
}

#[tokio::test]
async fn protocol_errors_follow_json_rpc() {
    let (_f, server) = start(local_config()).await;
    let (_, r) = post(&server, call_body("bridge_nope", json!([]))).await;
    assert_eq!(error_of(&r).0, -32601, "{r}");
    let (_, r) = post(&server, "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ").await;
    assert_eq!(error_of(&r).0, -32700, "{r}");
    let (_, r) = post(&server, r#"{"jsonrpc":"2.0","id":1,"params":[]}"#).await;
    assert_eq!(error_of(&r).0, -32600, "{r}");
    // Still serving.
    assert_eq!(client(&server).status().await.expect("call").node, "A0");
    server.stop().await;
}

#[tokio::test]
async fn list_transfers_validates_filter_cursor_and_limit() {
    let (_f, server) = start(local_config()).await;
    let cases = [
        (json!([{"status": 5}]), "filter.status"),
        (json!([{"status": "lost"}]), "filter.status"),
        (json!([{"direction": ["a_to_b"]}]), "filter.direction"),
        (json!([{"direction": "up"}]), "filter.direction"),
        (json!([{"colour": "red"}]), "colour"),
        (json!(["sent"]), "filter"),
        (json!([null, 5]), "cursor"),
        (json!([null, null, 0]), "limit"),
        (json!([null, null, MAX_PAGE + 1]), "limit"),
        (json!([null, null, -1]), "limit"),
        (json!([null, null, "10"]), "limit"),
        (json!({"limit": 1.5}), "limit"),
        (json!({"cursor": "not-a-cursor"}), "cursor"),
    ];
    for (params, field) in cases {
        let (_, r) = post(&server, call_body("bridge_listTransfers", params.clone())).await;
        let (code, msg) = error_of(&r);
        assert_eq!(code, -32602, "{params}: {r}");
        assert!(msg.contains(field), "{params}: {msg}");
    }
    // The bounds themselves are fine.
    let c = client(&server);
    for limit in [1, MAX_PAGE] {
        c.list_transfers(&TransferFilter::default(), None, limit)
            .await
            .expect("in range");
    }
    let (code, _) = rpc_error(c.list_transfers(&TransferFilter::default(), None, 0).await);
    assert_eq!(code, -32602);
    server.stop().await;
}

#[tokio::test]
async fn oversized_requests_and_batches_are_refused_and_serving_goes_on() {
    let config = RpcConfig {
        max_request_bytes: 4096,
        max_batch: 4,
        ..local_config()
    };
    let (_f, server) = start(config).await;
    let huge = call_body("bridge_getTransfer", json!(["0".repeat(8192)]));
    let (status, r) = post(&server, huge).await;
    assert_eq!(status, 413);
    assert_eq!(error_of(&r).0, -32007, "{r}");
    assert_eq!(
        client(&server).status().await.expect("still serving").node,
        "A0"
    );

    let batch = |n: usize| {
        Value::Array(
            (0..n)
                .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "relay_version"}))
                .collect(),
        )
        .to_string()
    };
    let (_, r) = post(&server, batch(4)).await;
    assert_eq!(r.as_array().map(Vec::len), Some(4), "{r}");
    let (_, r) = post(&server, batch(5)).await;
    assert!(r["error"]["code"].as_i64().is_some(), "{r}");
    assert!(r.as_array().is_none(), "{r}");
    assert_eq!(
        client(&server).status().await.expect("still serving").node,
        "A0"
    );

    // Over WebSocket too: an oversized message does not take the server down.
    let ws = WsClientBuilder::default()
        .request_timeout(Duration::from_secs(5))
        .build(server.ws_url())
        .await
        .expect("ws connects");
    let r: Result<Value, _> = ws
        .request("bridge_getTransfer", rpc_params!["0".repeat(8192)])
        .await;
    assert!(r.is_err());
    assert_eq!(
        client(&server).status().await.expect("still serving").node,
        "A0"
    );
    server.stop().await;
}

#[tokio::test]
async fn subscriptions_deliver_transfer_updates() {
    let (f, server) = start(local_config()).await;
    let ws = WsClientBuilder::default()
        .build(server.ws_url())
        .await
        .expect("ws connects");
    let mut all_sub = ws
        .subscribe::<TransferView, _>(
            "bridge_subscribeTransfers",
            rpc_params![],
            "bridge_unsubscribeTransfers",
        )
        .await
        .expect("subscribes");
    let mut committed_sub = ws
        .subscribe::<TransferView, _>(
            "bridge_subscribeTransfers",
            rpc_params![json!({"status": "committed"})],
            "bridge_unsubscribeTransfers",
        )
        .await
        .expect("subscribes with a filter");
    let bad = ws
        .subscribe::<TransferView, _>(
            "bridge_subscribeTransfers",
            rpc_params![json!({"status": "lost"})],
            "bridge_unsubscribeTransfers",
        )
        .await;
    match bad {
        Err(jsonrpsee::core::ClientError::Call(e)) => {
            assert_eq!(e.code(), -32602);
            assert!(e.message().contains("filter.status"), "{}", e.message());
        }
        other => panic!("a bad filter must be refused, got {other:?}"),
    }

    let mut a = canned_transfers()[1].clone();
    let mut b = a.clone();
    a.status = TransferStatus::Acknowledged;
    b.status = TransferStatus::Committed;
    f.updates.send(a.clone()).expect("a subscriber");
    f.updates.send(b.clone()).expect("a subscriber");

    assert_eq!(next(&mut all_sub).await, a);
    assert_eq!(next(&mut all_sub).await, b);
    assert_eq!(next(&mut committed_sub).await, b);

    all_sub.unsubscribe().await.expect("unsubscribes");
    committed_sub.unsubscribe().await.expect("unsubscribes");
    server.stop().await;
}

#[tokio::test]
async fn a_lagging_subscriber_skips_ahead() {
    let f = fake_with_capacity(2);
    let server = serve(local_config(), f.node.clone(), None)
        .await
        .expect("server starts");
    let ws = WsClientBuilder::default()
        .build(server.ws_url())
        .await
        .expect("ws connects");
    let mut sub = ws
        .subscribe::<TransferView, _>(
            "bridge_subscribeTransfers",
            rpc_params![],
            "bridge_unsubscribeTransfers",
        )
        .await
        .expect("subscribes");
    let base = canned_transfers()[0].clone();
    for i in 0..200 {
        let mut t = base.clone();
        t.updated_at = i;
        let _ = f.updates.send(t);
    }
    // Whatever was skipped, the newest update arrives and the subscription stays open.
    let mut seen = 0;
    loop {
        let t = next(&mut sub).await;
        seen += 1;
        if t.updated_at == 199 {
            break;
        }
    }
    assert!(seen <= 200);
    let mut t = base;
    t.updated_at = 1000;
    f.updates.send(t).expect("a subscriber");
    let after = next(&mut sub).await;
    assert_eq!(after.updated_at, 1000);
    server.stop().await;
}

#[tokio::test]
async fn get_routes() {
    let (f, server) = start(local_config()).await;
    let (status, ctype, body) = get(&server, "/health").await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("application/json"), "{ctype}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json"),
        json!({"status": "ok"})
    );

    let (status, _, body) = get(&server, "/ready").await;
    assert_eq!(status, 503);
    let r: Readiness = serde_json::from_str(&body).expect("readiness json");
    assert!(!r.ready);
    assert_eq!(r.remote_connected_stake, 1);
    f.ready.store(true, Ordering::SeqCst);
    let (status, _, body) = get(&server, "/ready").await;
    assert_eq!(status, 200);
    let r: Readiness = serde_json::from_str(&body).expect("readiness json");
    assert!(r.ready);

    let (status, ctype, body) = get(&server, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(ctype, METRICS_CONTENT_TYPE);
    assert_eq!(body, METRICS);

    for path in ["/", "/nope", "/health/x", "/metrics?x=1&y"] {
        let (status, _, _) = get(&server, path).await;
        let want = if path.starts_with("/metrics") {
            200
        } else {
            404
        };
        assert_eq!(status, want, "{path}");
    }

    // A WebSocket upgrade passes the id screen's proxy and gets jsonrpsee's own handshake,
    // computed from this client's key; one without a key is refused, not upgraded.
    let (status, accept, body) = upgrade(&server, Some(RFC_KEY.0)).await;
    assert_eq!((status, accept.as_str()), (101, RFC_KEY.1), "{body}");
    let (status, _, body) = upgrade(&server, None).await;
    assert_ne!(status, 101, "{body}");
    assert!(body.contains("Could not upgrade"), "{status}: {body}");

    // The typed client sees the same.
    let c = client(&server);
    c.health().await.expect("healthy");
    assert!(c.ready().await.expect("ready answers").ready);
    assert_eq!(c.metrics().await.expect("metrics"), METRICS);
    server.stop().await;
}

#[tokio::test]
async fn node_gone_is_an_error_and_health_stays_up() {
    let (f, server) = start(local_config()).await;
    f.driver.abort();
    let _ = f.driver.await;
    let c = client(&server);
    let (code, msg) = rpc_error(c.status().await);
    assert_eq!(code, rpc::RELAY_SHUTTING_DOWN, "{msg}");
    assert!(msg.contains("shutting down"), "{msg}");
    let (code, _) = rpc_error(c.transfer(&hex::encode([1u8; 32])).await);
    assert_eq!(code, rpc::RELAY_SHUTTING_DOWN);
    let (code, _) = rpc_error(c.list_transfers(&TransferFilter::default(), None, 5).await);
    assert_eq!(code, rpc::RELAY_SHUTTING_DOWN);
    // Version needs no node.
    c.version().await.expect("version");

    let (status, _, _) = get(&server, "/health").await;
    assert_eq!(status, 200);
    let (status, _, body) = get(&server, "/ready").await;
    assert_eq!(status, 503);
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["ready"], json!(false));
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("shutting down")),
        "{v}"
    );
    server.stop().await;
}

#[tokio::test]
async fn connections_above_the_limit_are_refused() {
    let config = RpcConfig {
        max_connections: 2,
        ..local_config()
    };
    let (_f, server) = start(config).await;
    let ws1 = WsClientBuilder::default()
        .build(server.ws_url())
        .await
        .expect("1st");
    let ws2 = WsClientBuilder::default()
        .build(server.ws_url())
        .await
        .expect("2nd");
    // Both WebSocket connections pass through the id screen's proxy and count once each: a
    // third is refused, and the refusal reaches the client as jsonrpsee's HTTP 429.
    assert!(
        WsClientBuilder::default()
            .build(server.ws_url())
            .await
            .is_err()
    );
    let (status, _, body) = upgrade(&server, Some(RFC_KEY.0)).await;
    assert_eq!(status, 429, "{body}");
    // HTTP calls need a slot too; /health does not.
    let (status, _) = post(&server, call_body("relay_version", json!([]))).await;
    assert_eq!(status, 429);
    let (status, _, _) = get(&server, "/health").await;
    assert_eq!(status, 200);

    drop(ws1);
    // The slot is released once the server notices the close.
    let mut ok = false;
    for _ in 0..100 {
        if WsClientBuilder::default()
            .build(server.ws_url())
            .await
            .is_ok()
        {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "a connection slot must come back");
    let _: Value = ws2
        .request("relay_version", rpc_params![])
        .await
        .expect("still serving");
    server.stop().await;
}

#[derive(Debug)]
struct Hooks(Mutex<Vec<String>>);

impl AdminHooks for Hooks {
    fn set_log_level(&self, directive: &str) -> Result<(), String> {
        if directive.contains('!') {
            return Err(format!("bad directive {directive:?}"));
        }
        self.0
            .lock()
            .map_err(|e| e.to_string())?
            .push(directive.to_owned());
        Ok(())
    }
}

#[tokio::test]
async fn admin_methods_only_with_hooks() {
    let (_f, plain) = start(local_config()).await;
    let (_, r) = post(&plain, call_body("admin_setLogLevel", json!(["debug"]))).await;
    assert_eq!(error_of(&r).0, -32601);
    plain.stop().await;

    let f = fake();
    let hooks = Arc::new(Hooks(Mutex::new(Vec::new())));
    let server = serve(local_config(), f.node.clone(), Some(hooks.clone()))
        .await
        .expect("server starts");
    let (_, r) = post(
        &server,
        call_body("admin_setLogLevel", json!(["info,relayer=debug"])),
    )
    .await;
    assert_eq!(r["result"], json!(true), "{r}");
    let (_, r) = post(
        &server,
        call_body("admin_setLogLevel", json!({"directive": "warn"})),
    )
    .await;
    assert_eq!(r["result"], json!(true), "{r}");
    let (_, r) = post(&server, call_body("admin_setLogLevel", json!(["!!"]))).await;
    let (code, msg) = error_of(&r);
    assert_eq!(code, -32602);
    assert!(msg.contains("directive"), "{msg}");
    let (_, r) = post(&server, call_body("admin_setLogLevel", json!([3]))).await;
    assert_eq!(error_of(&r).0, -32602);
    assert_eq!(
        *hooks.0.lock().expect("lock"),
        vec!["info,relayer=debug".to_owned(), "warn".to_owned()]
    );
    server.stop().await;
}

#[tokio::test]
async fn unreachable_relay_is_a_clear_error() {
    // Bind then drop, so nothing listens on the port.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let url = format!("http://{addr}");
    let c = RelayClient::with_timeout(&url, Duration::from_secs(5)).expect("client");
    let e = c.status().await.expect_err("nothing listens");
    assert!(matches!(e, ClientError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains(&url), "{e}");
    let e = c.health().await.expect_err("nothing listens");
    assert!(e.to_string().contains(&url), "{e}");
    assert!(RelayClient::new("not a url").is_err());
    assert!(RelayClient::new("ftp://127.0.0.1:1").is_err());
}
