//! A raw JSON-RPC client for the malformed-input tests of both JSON-RPC servers: the devnet
//! chain's (`chains/tests/malformed.rs`) and the relay's (`rpc/tests/malformed.rs`, which
//! includes this file by path). It sends bytes as they are, over HTTP or a raw WebSocket, so that
//! bodies no well-behaved client would send reach the server, and bounds every network step by
//! [`STEP`] so that a server that stops answering fails the test instead of hanging it.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jsonrpsee::core::client::{ReceivedMessage, TransportReceiverT, TransportSenderT};
use jsonrpsee::types::error::{
    INVALID_PARAMS_CODE, INVALID_REQUEST_CODE, METHOD_NOT_FOUND_CODE, PARSE_ERROR_CODE,
};
use serde_json::{Value, json};

pub const PARSE: i64 = PARSE_ERROR_CODE as i64;
pub const INVALID_REQUEST: i64 = INVALID_REQUEST_CODE as i64;
pub const NOT_FOUND: i64 = METHOD_NOT_FOUND_CODE as i64;
pub const INVALID_PARAMS: i64 = INVALID_PARAMS_CODE as i64;

/// The longest any single network step (connect, send, answer, body, stop) may take.
pub const STEP: Duration = Duration::from_secs(10);

/// `fut`, or a panic naming `what` if it takes longer than [`STEP`].
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {}s", STEP.as_secs()))
}

/// A raw POST of `body` as JSON: the HTTP status and the body as sent back.
pub async fn post_raw(url: &str, body: impl Into<Bytes>) -> (u16, Bytes) {
    let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = hyper::Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(body.into()))
        .expect("request");
    let rsp = within("POST", http.request(req))
        .await
        .expect("POST answered");
    let status = rsp.status().as_u16();
    let bytes = within("answer body", rsp.into_body().collect())
        .await
        .expect("body")
        .to_bytes();
    (status, bytes)
}

/// A raw JSON-RPC POST: the HTTP status and the parsed body (`null` if not JSON).
pub async fn post(url: &str, body: impl Into<Bytes>) -> (u16, Value) {
    let (status, bytes) = post_raw(url, body).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The HTTP status of a JSON-RPC answer: 400 when the body is not even a JSON object or array
/// (the server looks at its first non-blank byte), else 200 whatever the JSON-RPC error.
pub fn http_status(body: &[u8]) -> u16 {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{' | b'[') => 200,
        _ => 400,
    }
}

/// A request body that announces `len` bytes and never sends one: the server must refuse it
/// from its `Content-Length` alone, before reading anything.
pub struct Announced(pub u64);

impl hyper::body::Body for Announced {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Pending
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.0)
    }
}

/// Announces a body of `len` bytes: the HTTP status and the parsed answer.
pub async fn post_announced(url: &str, len: u64) -> (u16, Value) {
    post_body(url, "announced POST", Announced(len)).await
}

/// POSTs `body` as JSON (`what` names the step if it hangs): the HTTP status and the parsed
/// answer (`null` if not JSON).
pub async fn post_body<B>(url: &str, what: &str, body: B) -> (u16, Value)
where
    B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let http = Client::builder(TokioExecutor::new()).build_http::<B>();
    let req = hyper::Request::post(url)
        .header("content-type", "application/json")
        .body(body)
        .expect("request");
    let rsp = within(what, http.request(req)).await.expect("answered");
    let status = rsp.status().as_u16();
    let bytes = within("answer body", rsp.into_body().collect())
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A well-formed call of `method` with `params`, id 1.
pub fn call(method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string()
}

/// A call whose params are the raw text `params_text` (which need not be JSON), id 7.
pub fn raw_call(method: &str, params_text: &str) -> String {
    format!(r#"{{"jsonrpc": "2.0", "id": 7, "method": "{method}", "params": {params_text}}}"#)
}

/// The error code of one JSON-RPC answer (`None` for a result).
pub fn code_of(answer: &Value) -> Option<i64> {
    answer.get("error").map(|e| {
        e["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("an error without a code: {answer}"))
    })
}

/// Posts `body` and asserts the answer is error `code`, with the HTTP status it implies.
pub async fn expect_code(url: &str, what: &str, body: impl Into<Bytes>, code: i64) -> Value {
    let body: Bytes = body.into();
    let (status, answer) = post(url, body.clone()).await;
    assert_eq!(status, http_status(&body), "{what}: HTTP status ({answer})");
    assert_eq!(code_of(&answer), Some(code), "{what}: {answer}");
    answer
}

/// Requests to `method` whose id is of the wrong type (or a number jsonrpsee cannot hold:
/// negative, fractional, above u64) get `-32600` with a null id over HTTP, alone and inside a
/// batch whose other calls (to the parameterless `answered`) are still answered.
/// jsonrpsee alone reads them as notifications and answers `null` (paritytech/jsonrpsee#1653);
/// both servers put `chains::devnet::request_id` in front of it (over WebSocket too:
/// [`ws_expect_unholdable_ids_refused`]).
pub async fn expect_unholdable_ids_refused(url: &str, method: &str, answered: &str) {
    for (id, alone, batch) in unholdable_requests(method, answered) {
        let (status, answer) = post(url, alone).await;
        assert_eq!(status, 200, "{method}: id {id}");
        assert_refused_alone(&format!("{method}: id {id}"), &answer);
        let (status, answer) = post(url, batch).await;
        assert_eq!(status, 200, "{method}: batch with id {id}: {answer}");
        assert_refused_in_batch(&format!("{method}: batch with id {id}"), &answer);
    }
}

/// The same over a raw WebSocket ([`expect_unholdable_ids_refused`]); the servers' id screen
/// proxies WebSocket connections for this. A real notification (no id) still gets no answer:
/// the first answer after it is the next call's.
pub async fn ws_expect_unholdable_ids_refused<S, R>(
    tx: &mut S,
    rx: &mut R,
    method: &str,
    answered: &str,
) where
    S: TransportSenderT,
    R: TransportReceiverT,
{
    for (id, alone, batch) in unholdable_requests(method, answered) {
        let answer = ws_ask(tx, rx, alone)
            .await
            .unwrap_or_else(|| panic!("{method}: id {id}: the connection closed"));
        assert_refused_alone(&format!("{method}: id {id}"), &answer);
        let answer = ws_ask(tx, rx, batch)
            .await
            .unwrap_or_else(|| panic!("{method}: batch with id {id}: the connection closed"));
        assert_refused_in_batch(&format!("{method}: batch with id {id}"), &answer);
    }
    let notification = json!({"jsonrpc": "2.0", "method": method, "params": []});
    within("WebSocket send", tx.send(notification.to_string()))
        .await
        .unwrap_or_else(|e| panic!("{method}: notification not sent: {e}"));
    let next = json!({"jsonrpc": "2.0", "id": "after-notification", "method": answered});
    let answer = ws_ask(tx, rx, next.to_string())
        .await
        .unwrap_or_else(|| panic!("{method}: notification: the connection closed"));
    assert_eq!(
        (&answer["id"], code_of(&answer)),
        (&json!("after-notification"), None),
        "{method}: a notification is not answered: {answer}"
    );
}

/// For each id JSON-RPC 2.0 refuses or jsonrpsee cannot hold (negative, fractional, above
/// `u64`): the id, a call of `method` with it, and a batch of that call between two calls of
/// `answered` (ids `"before"` and `2`).
fn unholdable_requests(method: &str, answered: &str) -> Vec<(Value, String, String)> {
    let ids = [
        json!({"a": 1}),
        json!([1]),
        json!(true),
        json!(1.5),
        json!(-1),
        json!(1e300),
    ];
    ids.into_iter()
        .map(|id| {
            let alone = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": []});
            let batch = json!([
                {"jsonrpc": "2.0", "id": "before", "method": answered},
                alone,
                {"jsonrpc": "2.0", "id": 2, "method": answered},
            ]);
            (id, alone.to_string(), batch.to_string())
        })
        .collect()
}

/// `answer` is `-32600` with a null id.
fn assert_refused_alone(what: &str, answer: &Value) {
    assert_eq!(
        (&answer["jsonrpc"], &answer["id"], code_of(answer)),
        (&json!("2.0"), &Value::Null, Some(INVALID_REQUEST)),
        "{what}: {answer}"
    );
}

/// `answer` to a batch of [`unholdable_requests`] has one `-32600` with a null id, and both
/// calls around it answered without error.
fn assert_refused_in_batch(what: &str, answer: &Value) {
    let what = format!("{what}: {answer}");
    let answers = answer.as_array().unwrap_or_else(|| panic!("{what}"));
    assert_eq!(answers.len(), 3, "{what}");
    let bad: Vec<&Value> = answers.iter().filter(|a| a["id"].is_null()).collect();
    assert_eq!(bad.len(), 1, "{what}");
    assert_eq!(code_of(bad[0]), Some(INVALID_REQUEST), "{what}");
    for good in [json!("before"), json!(2)] {
        assert!(
            answers
                .iter()
                .any(|a| a["id"] == good && code_of(a).is_none()),
            "{what}"
        );
    }
}

/// A raw WebSocket to `url` (`ws://…`), with no request size limit on this side.
pub async fn ws_connect(url: &str) -> (impl TransportSenderT, impl TransportReceiverT) {
    use jsonrpsee::client_transport::ws::{Url, WsTransportClientBuilder};
    let url = Url::parse(url).expect("ws url");
    within(
        "WebSocket connect",
        WsTransportClientBuilder::default()
            .max_request_size(u32::MAX)
            .build(url),
    )
    .await
    .expect("WebSocket connects")
}

/// Over a raw WebSocket, a call of `method` cut short or not JSON gets `-32700`, one not
/// JSON-RPC 2.0 gets `-32600`.
pub async fn ws_expect_framing_errors<S, R>(tx: &mut S, rx: &mut R, method: &str)
where
    S: TransportSenderT,
    R: TransportReceiverT,
{
    let good = raw_call(method, "[]");
    for (what, text, code) in [
        ("truncated", good[..good.len() - 2].to_owned(), PARSE),
        ("not JSON", format!("{method}!"), PARSE),
        (
            "jsonrpc 1.0",
            json!({"jsonrpc": "1.0", "id": 1, "method": method}).to_string(),
            INVALID_REQUEST,
        ),
    ] {
        ws_expect(tx, rx, format!("{method}: {what}"), text, code).await;
    }
}

/// Sends `text` on a raw WebSocket and returns the next answer (`None` if the connection
/// closed).
pub async fn ws_ask<S, R>(tx: &mut S, rx: &mut R, text: String) -> Option<Value>
where
    S: TransportSenderT,
    R: TransportReceiverT,
{
    within("WebSocket send", tx.send(text)).await.ok()?;
    loop {
        let msg = within("WebSocket answer", rx.receive()).await.ok()?;
        match msg {
            ReceivedMessage::Text(t) => {
                return Some(serde_json::from_str(&t).unwrap_or_else(|e| panic!("{e}: {t}")));
            }
            ReceivedMessage::Bytes(b) => {
                return Some(serde_json::from_slice(&b).unwrap_or_else(|e| panic!("{e}")));
            }
            ReceivedMessage::Pong => {}
        }
    }
}

/// A ping on a raw WebSocket is answered with a pong (nothing else is pending on it).
pub async fn ws_expect_pong<S, R>(tx: &mut S, rx: &mut R)
where
    S: TransportSenderT,
    R: TransportReceiverT,
{
    within("WebSocket ping", tx.send_ping())
        .await
        .unwrap_or_else(|e| panic!("ping not sent: {e}"));
    match within("WebSocket pong", rx.receive()).await {
        Ok(ReceivedMessage::Pong) => {}
        Ok(ReceivedMessage::Text(t)) => panic!("a message instead of a pong: {t}"),
        Ok(ReceivedMessage::Bytes(b)) => panic!("a message instead of a pong: {b:?}"),
        Err(e) => panic!("no pong: {e}"),
    }
}

/// Once the server stops, a raw WebSocket to it is closed (within [`STEP`]).
pub async fn ws_expect_closed<R: TransportReceiverT>(rx: &mut R) {
    loop {
        match within("WebSocket close after the server stopped", rx.receive()).await {
            Err(_) => return,
            Ok(ReceivedMessage::Pong) => {}
            Ok(other) => panic!("a message after the server stopped: {other:?}"),
        }
    }
}

/// Sends `text` on a raw WebSocket and asserts the answer is error `code`.
pub async fn ws_expect<S, R>(tx: &mut S, rx: &mut R, what: String, text: String, code: i64)
where
    S: TransportSenderT,
    R: TransportReceiverT,
{
    let answer = ws_ask(tx, rx, text)
        .await
        .unwrap_or_else(|| panic!("{what}: the connection closed"));
    assert_eq!(code_of(&answer), Some(code), "{what}: {answer}");
}
