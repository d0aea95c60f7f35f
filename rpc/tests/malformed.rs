//! Bad input to every method of the relay's JSON-RPC server: a real server on `127.0.0.1:0`
//! with its shipped limits, raw HTTP bodies and raw WebSocket messages.
//!
//! The methods are not listed here: they are read from the server (`rpc_methods`), and every one
//! must have an entry in [`params_of`] (the parameter kinds the probes are built from), so a new
//! method fails this test until its bad input is covered. For each method: malformed JSON
//! (truncated, not JSON, wrong `jsonrpc`, ids of the wrong type), unknown method names, params
//! of the wrong shape, too many, missing, of the wrong type, out of range (negative, above
//! `u64`, floats, numbers JSON cannot hold, huge strings); and for the server: an oversized
//! request, an oversized, an empty and a mixed batch. Each answer's exact JSON-RPC error code is
//! asserted, and the server must still answer `relay_version` afterwards.
//!
//! The node behind the server is a driver task answering each query from empty data (no relay
//! state is needed to refuse bad input); the admin hook accepts a plain `target=level` list and
//! refuses anything else, as `tracing`'s filter parser would.

use std::sync::Arc;

use jsonrpsee::core::client::{ClientT, SubscriptionClientT};
use jsonrpsee::core::params::ArrayParams;
use jsonrpsee::types::error::{
    INTERNAL_ERROR_CODE, OVERSIZED_REQUEST_CODE, TOO_BIG_BATCH_REQUEST_CODE,
};
use jsonrpsee::ws_client::WsClientBuilder;
use relayer::node::handle::{MetricsSource, NodeHandle, Query};
use relayer::node::view::{MAX_PAGE, Readiness, RelayStatusView, TransferPage, TransferView};
use rpc::server::{AdminHooks, RpcConfig, RpcServer, serve};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

#[path = "../../chains/tests/common/jsonrpc_probe.rs"]
mod jsonrpc_probe;
use jsonrpc_probe::*;

/// Subscription methods: answered over WebSocket only.
const SUBSCRIBE: &str = "bridge_subscribeTransfers";
const UNSUBSCRIBE: &str = "bridge_unsubscribeTransfers";

#[derive(Debug)]
struct NoMetrics;

impl MetricsSource for NoMetrics {
    fn render(&self) -> String {
        "# EOF\n".to_owned()
    }
}

/// Accepts `level` or `target=level` lists, like a tracing filter; refuses anything else.
#[derive(Debug)]
struct LevelHook;

impl AdminHooks for LevelHook {
    fn set_log_level(&self, directive: &str) -> Result<(), String> {
        const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
        let ok = !directive.is_empty()
            && directive.len() <= 256
            && directive.split(',').all(|d| {
                let level = d.rsplit_once('=').map_or(d, |(target, level)| {
                    if target
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_:".contains(c))
                    {
                        level
                    } else {
                        ""
                    }
                });
                LEVELS.contains(&level)
            });
        if ok {
            Ok(())
        } else {
            Err("not a filter directive".to_owned())
        }
    }
}

/// A node whose driver answers every query from empty data.
fn empty_node() -> NodeHandle {
    let (qtx, mut qrx) = mpsc::channel::<Query>(16);
    let (updates, _) = broadcast::channel::<TransferView>(16);
    tokio::spawn(async move {
        while let Some(q) = qrx.recv().await {
            match q {
                Query::Transfer(_, tx) | Query::TransferBySourceTx(_, tx) => {
                    let _ = tx.send(None);
                }
                Query::ListTransfers(_, cursor, _, tx) => {
                    let _ = tx.send(match cursor {
                        None => Ok(TransferPage {
                            transfers: Vec::new(),
                            next_cursor: None,
                        }),
                        Some(c) => {
                            Err(format!("unknown cursor ({} characters)", c.chars().count()))
                        }
                    });
                }
                Query::Status(tx) => {
                    let _ = tx.send(RelayStatusView::default());
                }
                Query::Peers(tx) => {
                    let _ = tx.send(Vec::new());
                }
                Query::Ready(tx) => {
                    let _ = tx.send(Readiness::default());
                }
            }
        }
    });
    NodeHandle::new(qtx, updates, Arc::new(NoMetrics))
}

/// A request body sent in these chunks, with no `Content-Length` (HTTP/1.1 chunked encoding).
struct Chunks(std::collections::VecDeque<bytes::Bytes>);

impl hyper::body::Body for Chunks {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|c| Ok(hyper::body::Frame::data(c))))
    }
}

/// POSTs `chunks` as one chunked body: the HTTP status and the parsed answer (`null` if not
/// JSON).
async fn post_chunked(url: &str, chunks: Vec<String>) -> (u16, Value) {
    let body = Chunks(chunks.into_iter().map(bytes::Bytes::from).collect());
    post_body(url, "chunked POST", body).await
}

async fn start() -> (RpcServer, RpcConfig) {
    let config = RpcConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        ..RpcConfig::default()
    };
    let server = within(
        "server start",
        serve(config.clone(), empty_node(), Some(Arc::new(LevelHook))),
    )
    .await
    .expect("server starts");
    (server, config)
}

async fn still_serving(server: &RpcServer, after: &str) {
    let (status, answer) = post(&server.url(), call("relay_version", json!([]))).await;
    assert_eq!(status, 200, "after {after}");
    assert_eq!(
        answer["result"]["version"],
        json!(env!("CARGO_PKG_VERSION")),
        "after {after}: {answer}"
    );
}

/// What a parameter holds.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// 64 hex digits.
    Hash,
    /// `{status?, direction?}`.
    Filter,
    /// A string the node or a hook judges (cursor, log directive).
    Text,
    /// An integer in `min..=max`.
    Int { min: u64, max: u64 },
}

#[derive(Debug, Clone, Copy)]
struct Param {
    name: &'static str,
    kind: Kind,
    required: bool,
}

const fn param(name: &'static str, kind: Kind, required: bool) -> Param {
    Param {
        name,
        kind,
        required,
    }
}

const ID: Kind = Kind::Hash;
const U64: Kind = Kind::Int {
    min: 0,
    max: u64::MAX,
};

/// Every method's parameters; `None` for a method this test does not know yet.
fn params_of(method: &str) -> Option<Vec<Param>> {
    Some(match method {
        "bridge_getTransfer" => vec![param("id", ID, true)],
        "bridge_getTransferBySourceTx" => vec![param("tx_id", ID, true)],
        "bridge_listTransfers" => vec![
            param("filter", Kind::Filter, false),
            param("cursor", Kind::Text, false),
            param(
                "limit",
                Kind::Int {
                    min: 1,
                    max: MAX_PAGE as u64,
                },
                false,
            ),
        ],
        SUBSCRIBE => vec![param("filter", Kind::Filter, false)],
        UNSUBSCRIBE => vec![param("subscription", Kind::Text, true)],
        "relay_evidence" => vec![
            param("since", U64, false),
            param("limit", Kind::Int { min: 1, max: 64 }, false),
        ],
        "relay_status" | "relay_peers" | "relay_version" | "rpc_methods" => vec![],
        "admin_setLogLevel" => vec![param("directive", Kind::Text, true)],
        _ => return None,
    })
}

/// A value of `kind` the method accepts.
fn valid(kind: Kind) -> Value {
    match kind {
        Kind::Hash => json!(hex::encode([0x5a; 32])),
        Kind::Filter => json!({"status": "committed", "direction": "a_to_b"}),
        Kind::Text => json!("info"),
        Kind::Int { min, .. } => json!(min),
    }
}

/// Values of the wrong type or out of range for `kind`, as raw JSON text (some are numbers
/// `serde_json::Value` cannot hold).
fn invalid(kind: Kind) -> Vec<String> {
    let huge = format!("\"{}\"", "9".repeat(200_000));
    let mut v: Vec<String> = ["true", "[]", "[1, 2]"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    match kind {
        Kind::Hash => v.extend([
            "5".to_owned(),
            "-1".to_owned(),
            "1.5".to_owned(),
            "{}".to_owned(),
            "\"\"".to_owned(),
            "\"0x12\"".to_owned(),
            format!("\"{}\"", "zz".repeat(32)),
            format!("\"{}\"", "a".repeat(65)),
            format!("\"{}\"", "é".repeat(32)),
            huge,
        ]),
        Kind::Filter => v.extend(
            [
                "5",
                "\"committed\"",
                r#"{"status": 5}"#,
                r#"{"status": "nope"}"#,
                r#"{"direction": []}"#,
                r#"{"direction": "sideways"}"#,
                r#"{"colour": "red"}"#,
            ]
            .into_iter()
            .map(str::to_owned)
            .chain([format!(r#"{{"status": {huge}}}"#), huge]),
        ),
        Kind::Text => v.extend(
            ["5", "-1", "1.5", "{}", "\"\""]
                .into_iter()
                .map(str::to_owned)
                .chain([format!("\"{}\"", "]{".repeat(100_000))]),
        ),
        Kind::Int { min, max } => {
            v.extend(
                [
                    "-1",
                    "18446744073709551616",
                    "-18446744073709551617",
                    "1.5",
                    "1e400",
                    "\"5\"",
                    "{}",
                ]
                .into_iter()
                .map(str::to_owned)
                .chain([huge]),
            );
            if min > 0 {
                v.push((min - 1).to_string());
            }
            if let Some(above) = max.checked_add(1) {
                v.push(above.to_string());
            }
        }
    }
    v
}

/// Positional params: `slot` holds `value`, the others valid values up to the last required or
/// the slot.
fn positional(params: &[Param], slot: usize, value: &str) -> String {
    let last = params
        .iter()
        .rposition(|p| p.required)
        .map_or(slot, |r| r.max(slot));
    let items: Vec<String> = (0..=last)
        .map(|i| {
            if i == slot {
                value.to_owned()
            } else {
                valid(params[i].kind).to_string()
            }
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// Named params: `slot` holds `value`, every other required param a valid value.
fn named(params: &[Param], slot: usize, value: &str) -> String {
    let items: Vec<String> = params
        .iter()
        .enumerate()
        .filter(|(i, p)| *i == slot || p.required)
        .map(|(i, p)| {
            let v = if i == slot {
                value.to_owned()
            } else {
                valid(p.kind).to_string()
            };
            format!("\"{}\": {v}", p.name)
        })
        .collect();
    format!("{{{}}}", items.join(", "))
}

async fn methods(server: &RpcServer) -> Vec<String> {
    let (_, answer) = post(&server.url(), call("rpc_methods", json!([]))).await;
    let names: Vec<String> = serde_json::from_value(answer["result"].clone())
        .unwrap_or_else(|e| panic!("rpc_methods: {e}: {answer}"));
    assert!(
        names.len() >= 8,
        "rpc_methods lists too few methods: {names:?}"
    );
    names
}

/// Bad envelopes and bad params for one method called over HTTP.
async fn probe_http(server: &RpcServer, method: &str, params: &[Param]) {
    let required: Vec<String> = params
        .iter()
        .filter(|p| p.required)
        .map(|p| valid(p.kind).to_string())
        .collect();
    let good = raw_call(method, &format!("[{}]", required.join(", ")));
    // A valid call works (so every refusal below is about the bad part only).
    let (_, answer) = post(&server.url(), good.clone()).await;
    assert_eq!(code_of(&answer), None, "{method} valid call: {answer}");

    // Malformed JSON.
    expect_code(
        &server.url(),
        &format!("{method}: truncated"),
        good[..good.len() - 3].to_owned(),
        PARSE,
    )
    .await;
    expect_code(
        &server.url(),
        &format!("{method}: not JSON"),
        format!("{method}(1, 2)"),
        PARSE,
    )
    .await;
    expect_code(
        &server.url(),
        &format!("{method}: trailing garbage"),
        format!("{good} }}"),
        PARSE,
    )
    .await;
    // Not a JSON-RPC 2.0 request.
    for (what, body) in [
        (
            "jsonrpc 1.0",
            json!({"jsonrpc": "1.0", "id": 1, "method": method, "params": []}),
        ),
        (
            "jsonrpc missing",
            json!({"id": 1, "method": method, "params": []}),
        ),
        (
            "jsonrpc as a number",
            json!({"jsonrpc": 2.0, "id": 1, "method": method, "params": []}),
        ),
        (
            "method key misspelt",
            json!({"jsonrpc": "2.0", "id": 1, "methd": method}),
        ),
        ("an array of numbers", json!([1, 2, 3])),
        ("a string", json!(method)),
    ] {
        let expected = if what == "a string" {
            // JSON-RPC 2.0 says -32600 (valid JSON, not a Request); jsonrpsee answers -32700 to
            // any body not starting with `{` or `[`, before our code sees it.
            PARSE
        } else if what == "an array of numbers" {
            // A batch of three invalid requests: one -32600 each.
            let (_, answer) = post(&server.url(), body.to_string()).await;
            let answers = answer.as_array().unwrap_or_else(|| panic!("{answer}"));
            assert_eq!(answers.len(), 3, "{answer}");
            for a in answers {
                assert_eq!(code_of(a), Some(INVALID_REQUEST), "{method}: {what}: {a}");
            }
            continue;
        } else {
            INVALID_REQUEST
        };
        expect_code(
            &server.url(),
            &format!("{method}: {what}"),
            body.to_string(),
            expected,
        )
        .await;
    }
    expect_unholdable_ids_refused(&server.url(), method, "relay_version").await;
    // Unknown methods, however close.
    for name in [
        format!("{method}X"),
        method.to_uppercase(),
        format!(" {method}"),
        format!("{method}\u{0}"),
    ] {
        expect_code(
            &server.url(),
            &format!("unknown {name:?}"),
            call(&name, json!([])),
            NOT_FOUND,
        )
        .await;
    }
    // Params of the wrong shape, too many, with unknown names.
    let too_many = format!("[{}]", vec!["null"; params.len() + 1].join(", "));
    for bad in [
        "\"x\"",
        "5",
        "true",
        too_many.as_str(),
        r#"{"no_such_param": 1}"#,
    ] {
        let answer = expect_code(
            &server.url(),
            &format!("{method}: params {bad}"),
            raw_call(method, bad),
            INVALID_PARAMS,
        )
        .await;
        let msg = answer["error"]["message"].as_str().unwrap_or("");
        assert!(msg.starts_with("invalid params: "), "{method}: {msg}");
    }
    // Missing required params.
    if let Some(first) = params.iter().find(|p| p.required) {
        for bad in ["[]", "{}", "null"] {
            let answer = expect_code(
                &server.url(),
                &format!("{method}: params {bad}"),
                raw_call(method, bad),
                INVALID_PARAMS,
            )
            .await;
            let msg = answer["error"]["message"].as_str().unwrap_or("");
            assert!(
                msg.contains(first.name),
                "{method}: the refusal names `{}`: {msg}",
                first.name
            );
        }
        // Also with the params member left out entirely.
        expect_code(
            &server.url(),
            &format!("{method}: no params member"),
            json!({"jsonrpc": "2.0", "id": 1, "method": method}).to_string(),
            INVALID_PARAMS,
        )
        .await;
    }
    // Each param of the wrong type or out of range, by position and by name.
    for (slot, p) in params.iter().enumerate() {
        for value in invalid(p.kind) {
            for (how, text) in [
                ("position", positional(params, slot, &value)),
                ("name", named(params, slot, &value)),
            ] {
                let shown: String = value.chars().take(40).collect();
                let answer = expect_code(
                    &server.url(),
                    &format!("{method}: `{}` = {shown} by {how}", p.name),
                    raw_call(method, &text),
                    INVALID_PARAMS,
                )
                .await;
                let msg = answer["error"]["message"].as_str().unwrap_or("");
                assert!(
                    msg.len() <= 600,
                    "{method}: a {}-byte refusal echoes the value",
                    msg.len()
                );
                // The parser names the parameter; a number JSON cannot hold fails before any
                // parameter is looked at.
                if value != "1e400" {
                    assert!(msg.contains(p.name), "{method}: names `{}`: {msg}", p.name);
                }
            }
        }
    }
    still_serving(server, method).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_answers_bad_input_over_http_with_the_right_code() {
    let (server, _) = start().await;
    let names = methods(&server).await;
    let unknown: Vec<&String> = names.iter().filter(|m| params_of(m).is_none()).collect();
    assert!(
        unknown.is_empty(),
        "methods without a parameter table entry in this test: {unknown:?}"
    );
    for m in &names {
        let params = params_of(m).unwrap_or_default();
        if m == SUBSCRIBE || m == UNSUBSCRIBE {
            // WebSocket-only: over HTTP any call is refused as a server-side condition.
            expect_code(
                &server.url(),
                &format!("{m} over HTTP"),
                call(m, json!([])),
                INTERNAL_ERROR_CODE as i64,
            )
            .await;
            continue;
        }
        probe_http(&server, m, &params).await;
    }
    within("server stop", server.stop()).await;
}

#[tokio::test]
async fn oversized_empty_and_mixed_batches_and_requests() {
    let (server, config) = start().await;
    let limit = config.max_request_bytes as usize;

    // A request at the limit is served; one byte more is HTTP 413 with -32007.
    let base = call("relay_version", json!([]));
    let at_limit = format!("{base}{}", " ".repeat(limit - base.len()));
    assert_eq!(at_limit.len(), limit);
    let (status, answer) = post(&server.url(), at_limit.clone()).await;
    assert_eq!((status, code_of(&answer)), (200, None), "{answer}");
    // Over the limit (announced by Content-Length, refused before the body is read).
    for len in [limit as u64 + 1, 64 * limit as u64] {
        let (status, answer) = post_announced(&server.url(), len).await;
        assert_eq!(
            (status, code_of(&answer)),
            (413, Some(i64::from(OVERSIZED_REQUEST_CODE))),
            "{len} bytes: {answer}"
        );
    }
    // Over the limit without a Content-Length (chunked): refused once the limit is passed.
    // A chunked body that fits, with an id of the wrong type, is read and answered -32600.
    let chunk = " ".repeat(limit / 4);
    let mut over: Vec<String> = vec![chunk; 4];
    over.insert(0, base.clone());
    let (status, answer) = post_chunked(&server.url(), over).await;
    assert_eq!(
        (status, code_of(&answer)),
        (413, Some(i64::from(OVERSIZED_REQUEST_CODE))),
        "chunked, over the limit: {answer}"
    );
    let bad_id = r#"{"jsonrpc": "2.0", "id": false, "method": "relay_version"}"#;
    let (status, answer) = post_chunked(
        &server.url(),
        vec![bad_id[..10].to_owned(), bad_id[10..].to_owned()],
    )
    .await;
    assert_eq!(
        (status, &answer["id"], code_of(&answer)),
        (200, &Value::Null, Some(INVALID_REQUEST)),
        "chunked, id false: {answer}"
    );
    still_serving(&server, "oversized requests").await;

    // A batch of `max_batch` calls is served; one more is refused as a whole.
    let n = config.max_batch as usize;
    let batch = |n: usize| {
        Value::Array(
            (0..n)
                .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "relay_version"}))
                .collect(),
        )
        .to_string()
    };
    let (_, answer) = post(&server.url(), batch(n)).await;
    let answers = answer.as_array().unwrap_or_else(|| panic!("{answer}"));
    assert_eq!(answers.len(), n);
    assert!(answers.iter().all(|a| code_of(a).is_none()), "{answer}");
    expect_code(
        &server.url(),
        "oversized batch",
        batch(n + 1),
        i64::from(TOO_BIG_BATCH_REQUEST_CODE),
    )
    .await;
    expect_code(&server.url(), "empty batch", "[]", INVALID_REQUEST).await;
    expect_code(
        &server.url(),
        "truncated batch",
        "[{\"jsonrpc\": \"2.0\"",
        PARSE,
    )
    .await;

    // A mixed batch: every member answered on its own, by id.
    let mixed = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "relay_version"},
        5,
        {"jsonrpc": "2.0", "id": 3, "method": "relay_nope"},
        {"jsonrpc": "2.0", "id": 4, "method": "relay_version", "params": [1]},
        {"jsonrpc": "2.0", "id": 5, "method": "bridge_getTransfer", "params": ["x"]},
        {"jsonrpc": "1.0", "id": 6, "method": "relay_version"},
    ]);
    let (_, answer) = post(&server.url(), mixed.to_string()).await;
    let answers = answer.as_array().unwrap_or_else(|| panic!("{answer}"));
    let by_id = |id: Value| {
        answers
            .iter()
            .find(|a| a["id"] == id)
            .unwrap_or_else(|| panic!("no answer for id {id}: {answer}"))
    };
    assert_eq!(answers.len(), 6, "{answer}");
    assert_eq!(code_of(by_id(json!(1))), None);
    assert_eq!(code_of(by_id(json!(3))), Some(NOT_FOUND));
    assert_eq!(code_of(by_id(json!(4))), Some(INVALID_PARAMS));
    assert_eq!(code_of(by_id(json!(5))), Some(INVALID_PARAMS));
    assert_eq!(code_of(by_id(json!(6))), Some(INVALID_REQUEST));
    assert_eq!(
        answers
            .iter()
            .filter(|a| a["id"].is_null() && code_of(a) == Some(INVALID_REQUEST))
            .count(),
        1,
        "the bare number gets one -32600 with a null id: {answer}"
    );
    still_serving(&server, "batches").await;
    within("server stop", server.stop()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_answers_bad_input_over_websocket_with_the_right_code() {
    let (server, config) = start().await;
    let names = methods(&server).await;
    let ws_url = server.ws_url();
    let (mut tx, mut rx) = ws_connect(&ws_url).await;
    for m in &names {
        let params =
            params_of(m).unwrap_or_else(|| panic!("{m} has no parameter table entry in this test"));
        ws_expect_framing_errors(&mut tx, &mut rx, m).await;
        // JSON-RPC 2.0 says -32600 for an id that is not a string, number or null; jsonrpsee
        // alone reads such a request as a notification and sends nothing
        // (paritytech/jsonrpsee#1653). The server's id screen proxies WebSocket connections and
        // answers it -32600 with a null id, alone or in a batch; real notifications stay
        // unanswered.
        ws_expect_unholdable_ids_refused(&mut tx, &mut rx, m, "relay_version").await;
        ws_expect(
            &mut tx,
            &mut rx,
            format!("{m}X: unknown"),
            call(&format!("{m}X"), json!([])),
            NOT_FOUND,
        )
        .await;
        if m == UNSUBSCRIBE {
            // Any JSON value may name a subscription; an unknown or missing one is answered
            // `false` (jsonrpsee's rule), never an error.
            for params in [json!(["nope"]), json!([]), json!([[1]])] {
                let answer = ws_ask(&mut tx, &mut rx, call(m, params.clone()))
                    .await
                    .expect("answered");
                assert_eq!(answer["result"], json!(false), "{params}: {answer}");
            }
            continue;
        }
        for bad in ["\"x\"", "5", r#"{"no_such_param": 1}"#] {
            ws_expect(
                &mut tx,
                &mut rx,
                format!("{m}: params {bad}"),
                raw_call(m, bad),
                INVALID_PARAMS,
            )
            .await;
        }
        for (slot, p) in params.iter().enumerate() {
            for value in invalid(p.kind) {
                let shown: String = value.chars().take(40).collect();
                ws_expect(
                    &mut tx,
                    &mut rx,
                    format!("{m}: `{}` = {shown}", p.name),
                    raw_call(m, &positional(&params, slot, &value)),
                    INVALID_PARAMS,
                )
                .await;
            }
        }
    }
    // The same connection still serves.
    let answer = ws_ask(&mut tx, &mut rx, call("relay_version", json!([])))
        .await
        .expect("still open");
    assert_eq!(code_of(&answer), None, "{answer}");
    ws_expect_pong(&mut tx, &mut rx).await;

    // A message over the limit: refused with -32007, and the server keeps serving.
    let limit = config.max_request_bytes as usize;
    let oversized = call("bridge_getTransfer", json!(["a".repeat(limit)]));
    match ws_ask(&mut tx, &mut rx, oversized).await {
        Some(answer) => assert_eq!(
            code_of(&answer),
            Some(i64::from(OVERSIZED_REQUEST_CODE)),
            "{answer}"
        ),
        None => panic!("the server closed the connection instead of answering -32007"),
    }
    let answer = ws_ask(&mut tx, &mut rx, call("relay_version", json!([])))
        .await
        .expect("the connection survives an oversized message");
    assert_eq!(code_of(&answer), None, "{answer}");
    let (mut tx2, mut rx2) = ws_connect(&ws_url).await;
    let answer = ws_ask(&mut tx2, &mut rx2, call("relay_version", json!([])))
        .await
        .expect("a new connection is served");
    assert_eq!(code_of(&answer), None, "{answer}");
    still_serving(&server, "WebSocket probes").await;
    within("server stop", server.stop()).await;
    ws_expect_closed(&mut rx).await;
    ws_expect_closed(&mut rx2).await;
}

#[tokio::test]
async fn the_subscription_refuses_bad_filters_and_still_subscribes() {
    let (server, _) = start().await;
    let ws = within(
        "WebSocket connect",
        WsClientBuilder::default().build(server.ws_url()),
    )
    .await
    .expect("ws client");
    let mut bad: Vec<ArrayParams> = Vec::new();
    for v in [
        json!(5),
        json!("committed"),
        json!([]),
        json!({"colour": "red"}),
        json!({"status": "nope"}),
        json!({"direction": 5}),
    ] {
        let mut p = ArrayParams::new();
        p.insert(v).expect("param");
        bad.push(p);
    }
    let mut two = ArrayParams::new();
    two.insert(json!({})).expect("param");
    two.insert(json!(1)).expect("param");
    bad.push(two);
    for params in bad {
        let shown = format!("{params:?}");
        let r = within(
            "subscribe",
            ws.subscribe::<TransferView, _>(SUBSCRIBE, params, UNSUBSCRIBE),
        )
        .await;
        match r {
            Err(jsonrpsee::core::ClientError::Call(e)) => {
                assert_eq!(i64::from(e.code()), INVALID_PARAMS, "{shown}: {e:?}");
                assert!(
                    e.message().contains("filter") || e.message().contains("at most"),
                    "{shown}: {e:?}"
                );
            }
            other => panic!("{shown}: expected -32602, got {other:?}"),
        }
    }
    // The same connection then subscribes and calls normally.
    let sub = within(
        "subscribe",
        ws.subscribe::<TransferView, _>(SUBSCRIBE, ArrayParams::new(), UNSUBSCRIBE),
    )
    .await
    .expect("a valid subscription");
    let v: Value = within(
        "relay_version",
        ws.request("relay_version", ArrayParams::new()),
    )
    .await
    .expect("relay_version");
    assert_eq!(v["version"], json!(env!("CARGO_PKG_VERSION")));
    within("unsubscribe", sub.unsubscribe())
        .await
        .expect("unsubscribe");
    within("server stop", server.stop()).await;
}
