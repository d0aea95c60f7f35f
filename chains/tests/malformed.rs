//! Bad input to every method of the devnet chain's JSON-RPC server: a real chain (in-process,
//! producing blocks) on `127.0.0.1:0`, raw HTTP bodies and raw WebSocket messages.
//!
//! The methods are read from the server (`rpc_methods`), and every one must have an entry in
//! [`params_of`], so a new method fails this test until its bad input is covered. For each
//! method: malformed JSON (truncated, not JSON, wrong `jsonrpc`, ids of the wrong type), unknown
//! method names, params of the wrong shape, too many, missing, of the wrong type, out of range
//! (negative, above `u64`, floats, numbers JSON cannot hold, huge strings); for the server: an
//! oversized request and an empty, a large and a mixed batch. Each answer's exact JSON-RPC error
//! code is asserted, and the chain must still answer `chain_status` afterwards.

use std::time::Duration;

use chains::devnet::{DevnetConfig, MAX_WAIT_MS, RunningChain, start};
use chains::keys::AccountKey;
use chains::tx::{Tx, TxBody};
use chains::types::{Amount, ChainId, ChainKind};
use jsonrpsee::core::client::SubscriptionClientT;
use jsonrpsee::core::params::ArrayParams;
use jsonrpsee::types::error::{INTERNAL_ERROR_CODE, OVERSIZED_REQUEST_CODE};
use jsonrpsee::ws_client::WsClientBuilder;
use serde_json::{Value, json};

mod common {
    pub mod jsonrpc_probe;
}
use common::jsonrpc_probe::*;

/// The chain server's request limit (`MAX_REQUEST_BYTES` in its server module).
const MAX_REQUEST_BYTES: usize = 4 << 20;

const SUBSCRIBE: &str = "chain_subscribeBlocks";
const UNSUBSCRIBE: &str = "chain_unsubscribeBlocks";

fn config() -> DevnetConfig {
    let mut c = DevnetConfig::new(
        ChainKind::Algorand,
        2,
        "127.0.0.1:0".parse().expect("address"),
    );
    c.block_interval = Duration::from_millis(50);
    c
}

async fn chain() -> (RunningChain, DevnetConfig, String) {
    let c = config();
    let chain = start(c.clone()).await.expect("the chain starts");
    let url = chain.endpoints()[0].clone();
    (chain, c, url)
}

async fn still_serving(url: &str, after: &str) {
    let (status, answer) = post(url, call("chain_status", json!([]))).await;
    assert_eq!(status, 200, "after {after}");
    assert_eq!(
        answer["result"]["chain"],
        json!("algorand-devnet"),
        "after {after}: {answer}"
    );
}

/// What a parameter holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// 64 hex digits.
    Hash,
    /// An integer in `min..=max`.
    Int { min: u64, max: u64 },
    /// Hex of an encoded transaction.
    TxHex,
    /// `ed25519:<hex>` or `secp256k1:<hex>`.
    Address,
    /// A subscription id.
    Subscription,
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

/// `after_height + 1` must exist, so the largest `after_height` is refused too.
const HEIGHT: Kind = Kind::Int {
    min: 0,
    max: u64::MAX,
};

/// Every method's parameters; `None` for a method this test does not know yet.
fn params_of(method: &str) -> Option<Vec<Param>> {
    Some(match method {
        "chain_status" | "rpc_methods" => vec![],
        "chain_getBlock" => vec![param("height", HEIGHT, true)],
        "chain_waitForBlock" => vec![
            param(
                "after_height",
                Kind::Int {
                    min: 0,
                    max: u64::MAX - 1,
                },
                true,
            ),
            param(
                "timeout_ms",
                Kind::Int {
                    min: 0,
                    max: MAX_WAIT_MS,
                },
                false,
            ),
        ],
        SUBSCRIBE => vec![param("after_height", HEIGHT, false)],
        UNSUBSCRIBE => vec![param("subscription", Kind::Subscription, true)],
        "chain_submitTransaction" => vec![param("tx", Kind::TxHex, true)],
        "chain_getTransaction" => vec![param("id", Kind::Hash, true)],
        "chain_getAccount" => vec![param("address", Kind::Address, true)],
        "chain_isTransferApplied" => vec![param("transfer_id", Kind::Hash, true)],
        "chain_getValidatorSet" => vec![param("epoch", HEIGHT, true)],
        _ => return None,
    })
}

/// A signed transfer from devnet account 0 (a fresh nonce per call).
fn signed_tx(c: &DevnetConfig, nonce: u64) -> Tx {
    let key = AccountKey::devnet(c.kind, &c.seed, 0);
    let body = TxBody::Transfer {
        from: key.address(),
        to: AccountKey::devnet(c.kind, &c.seed, 1).address(),
        amount: Amount(1),
        nonce,
    };
    Tx::sign(c.kind, &ChainId::new(c.chain_id()).expect("id"), body, &key)
}

/// A value of `kind` the method accepts.
fn valid(kind: Kind, c: &DevnetConfig) -> Value {
    match kind {
        Kind::Hash => json!(hex::encode([0x5a; 32])),
        Kind::Int { min, .. } => json!(min),
        Kind::TxHex => json!(hex::encode(signed_tx(c, 1).to_bytes())),
        Kind::Address => json!(AccountKey::devnet(c.kind, &c.seed, 3).address().to_text()),
        Kind::Subscription => json!("0"),
    }
}

/// Values of the wrong type or out of range for `kind`, as raw JSON text.
fn invalid(kind: Kind, c: &DevnetConfig) -> Vec<String> {
    let huge = format!("\"{}\"", "9".repeat(200_000));
    let mut v: Vec<String> = ["true", "[]", "[1, 2]", "{}"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    match kind {
        Kind::Hash => v.extend([
            "5".to_owned(),
            "-1".to_owned(),
            "1.5".to_owned(),
            "\"\"".to_owned(),
            "\"0x12\"".to_owned(),
            format!("\"{}\"", "zz".repeat(32)),
            format!("\"{}\"", "a".repeat(65)),
            format!("\"{}\"", "é".repeat(32)),
            huge,
        ]),
        Kind::Int { min, max } => {
            v.extend(
                [
                    "-1",
                    "18446744073709551616",
                    "-18446744073709551617",
                    "1.5",
                    "1e400",
                    "\"5\"",
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
        Kind::TxHex => {
            let good = hex::encode(signed_tx(c, 2).to_bytes());
            v.extend([
                "5".to_owned(),
                "\"\"".to_owned(),
                "\"zz\"".to_owned(),
                "\"abc\"".to_owned(),
                "\"deadbeef\"".to_owned(),
                // A real transaction cut short, and one with a byte appended.
                format!("\"{}\"", &good[..good.len() - 2]),
                format!("\"{good}00\""),
                // A real transaction whose signature no longer verifies.
                format!("\"{}\"", {
                    let mut t = signed_tx(c, 3);
                    t.sig[0] ^= 1;
                    hex::encode(t.to_bytes())
                }),
                format!("\"{}\"", "ab".repeat(500_000)),
                huge,
            ]);
        }
        Kind::Address => v.extend([
            "5".to_owned(),
            "\"\"".to_owned(),
            "\"nope\"".to_owned(),
            "\"ed25519:00\"".to_owned(),
            format!("\"secp256k1:{}\"", "zz".repeat(33)),
            format!("\"rsa:{}\"", "00".repeat(32)),
            format!("\"ed25519:{}\"", "00".repeat(33)),
            huge,
        ]),
        Kind::Subscription => {}
    }
    v
}

/// Positional params: `slot` holds `value`, the others valid values up to the last required
/// param or the slot.
fn positional(params: &[Param], slot: usize, value: &str, c: &DevnetConfig) -> String {
    let last = params
        .iter()
        .rposition(|p| p.required)
        .map_or(slot, |r| r.max(slot));
    let items: Vec<String> = (0..=last)
        .map(|i| {
            if i == slot {
                value.to_owned()
            } else {
                valid(params[i].kind, c).to_string()
            }
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// Named params: `slot` holds `value`, every other required param a valid value.
fn named(params: &[Param], slot: usize, value: &str, c: &DevnetConfig) -> String {
    let items: Vec<String> = params
        .iter()
        .enumerate()
        .filter(|(i, p)| *i == slot || p.required)
        .map(|(i, p)| {
            let v = if i == slot {
                value.to_owned()
            } else {
                valid(p.kind, c).to_string()
            };
            format!("\"{}\": {v}", p.name)
        })
        .collect();
    format!("{{{}}}", items.join(", "))
}

async fn methods(url: &str) -> Vec<String> {
    let (_, answer) = post(url, call("rpc_methods", json!([]))).await;
    let names: Vec<String> = serde_json::from_value(answer["result"].clone())
        .unwrap_or_else(|e| panic!("rpc_methods: {e}: {answer}"));
    assert!(names.len() >= 10, "rpc_methods lists too few: {names:?}");
    names
}

async fn probe_http(url: &str, c: &DevnetConfig, method: &str, params: &[Param]) {
    let required: Vec<String> = params
        .iter()
        .filter(|p| p.required)
        .map(|p| valid(p.kind, c).to_string())
        .collect();
    let good = raw_call(method, &format!("[{}]", required.join(", ")));
    let (_, answer) = post(url, good.clone()).await;
    assert_eq!(code_of(&answer), None, "{method} valid call: {answer}");

    expect_code(
        url,
        &format!("{method}: truncated"),
        good[..good.len() - 3].to_owned(),
        PARSE,
    )
    .await;
    expect_code(
        url,
        &format!("{method}: not JSON"),
        format!("{method}(1)"),
        PARSE,
    )
    .await;
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
            "method a number",
            json!({"jsonrpc": "2.0", "id": 1, "method": 7}),
        ),
    ] {
        expect_code(
            url,
            &format!("{method}: {what}"),
            body.to_string(),
            INVALID_REQUEST,
        )
        .await;
    }
    expect_unholdable_ids_refused(url, method, "chain_status").await;
    for name in [format!("{method}X"), method.to_uppercase()] {
        expect_code(
            url,
            &format!("unknown {name:?}"),
            call(&name, json!([])),
            NOT_FOUND,
        )
        .await;
    }
    let too_many = format!("[{}]", vec!["null"; params.len() + 1].join(", "));
    for bad in ["\"x\"", "5", too_many.as_str(), r#"{"no_such_param": 1}"#] {
        expect_code(
            url,
            &format!("{method}: params {bad}"),
            raw_call(method, bad),
            INVALID_PARAMS,
        )
        .await;
    }
    if let Some(first) = params.iter().find(|p| p.required) {
        for bad in ["[]", "{}", "null"] {
            let answer = expect_code(
                url,
                &format!("{method}: params {bad}"),
                raw_call(method, bad),
                INVALID_PARAMS,
            )
            .await;
            let msg = answer["error"]["message"].as_str().unwrap_or("");
            assert!(msg.contains(first.name), "{method}: {msg}");
        }
    }
    for (slot, p) in params.iter().enumerate() {
        for value in invalid(p.kind, c) {
            for (how, text) in [
                ("position", positional(params, slot, &value, c)),
                ("name", named(params, slot, &value, c)),
            ] {
                let shown: String = value.chars().take(40).collect();
                let answer = expect_code(
                    url,
                    &format!("{method}: `{}` = {shown} by {how}", p.name),
                    raw_call(method, &text),
                    INVALID_PARAMS,
                )
                .await;
                let msg = answer["error"]["message"].as_str().unwrap_or("");
                assert!(msg.len() <= 600, "{method}: a {}-byte refusal", msg.len());
                if value != "1e400" {
                    assert!(msg.contains(p.name), "{method}: names `{}`: {msg}", p.name);
                }
            }
        }
    }
    still_serving(url, method).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_answers_bad_input_over_http_with_the_right_code() {
    let (chain, c, url) = chain().await;
    let names = methods(&url).await;
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
                &url,
                &format!("{m} over HTTP"),
                call(m, json!([])),
                INTERNAL_ERROR_CODE as i64,
            )
            .await;
            continue;
        }
        probe_http(&url, &c, m, &params).await;
    }
    chain.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_requests_and_batches() {
    let (chain, _, url) = chain().await;
    // One byte over the limit: HTTP 413 and -32007; at the limit it is served.
    let base = call("chain_status", json!([]));
    let at_limit = format!("{base}{}", " ".repeat(MAX_REQUEST_BYTES - base.len()));
    let (status, answer) = post(&url, at_limit.clone()).await;
    assert_eq!((status, code_of(&answer)), (200, None), "{answer}");
    let (status, answer) = post_announced(&url, MAX_REQUEST_BYTES as u64 + 1).await;
    assert_eq!(
        (status, code_of(&answer)),
        (413, Some(i64::from(OVERSIZED_REQUEST_CODE))),
        "{answer}"
    );
    still_serving(&url, "an oversized request").await;

    expect_code(&url, "empty batch", "[]", INVALID_REQUEST).await;
    expect_code(&url, "truncated batch", "[{\"jsonrpc\": \"2.0\"", PARSE).await;
    // The chain sets no count limit on batches: a large one is served call by call (the byte
    // limit above bounds it).
    let batch = Value::Array(
        (0..1000)
            .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "chain_status"}))
            .collect(),
    )
    .to_string();
    let (_, answer) = post(&url, batch).await;
    let answers = answer.as_array().unwrap_or_else(|| panic!("{answer}"));
    assert_eq!(answers.len(), 1000);
    assert!(answers.iter().all(|a| code_of(a).is_none()));
    let mixed = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "chain_status"},
        5,
        {"jsonrpc": "2.0", "id": 3, "method": "chain_nope"},
        {"jsonrpc": "2.0", "id": 4, "method": "chain_getBlock", "params": [-1]},
        {"jsonrpc": "1.0", "id": 5, "method": "chain_status"},
    ]);
    let (_, answer) = post(&url, mixed.to_string()).await;
    let answers = answer.as_array().unwrap_or_else(|| panic!("{answer}"));
    let by_id = |id: Value| {
        answers
            .iter()
            .find(|a| a["id"] == id)
            .unwrap_or_else(|| panic!("no answer for id {id}: {answer}"))
    };
    assert_eq!(answers.len(), 5, "{answer}");
    assert_eq!(code_of(by_id(json!(1))), None);
    assert_eq!(code_of(by_id(json!(3))), Some(NOT_FOUND));
    assert_eq!(code_of(by_id(json!(4))), Some(INVALID_PARAMS));
    assert_eq!(code_of(by_id(json!(5))), Some(INVALID_REQUEST));
    still_serving(&url, "batches").await;
    chain.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_answers_bad_input_over_websocket_with_the_right_code() {
    let (chain, c, url) = chain().await;
    let names = methods(&url).await;
    let ws_url = url.replace("http://", "ws://");
    let (mut tx, mut rx) = ws_connect(&ws_url).await;
    for m in &names {
        let params = params_of(m).unwrap_or_else(|| panic!("{m} has no parameter table entry"));
        ws_expect_framing_errors(&mut tx, &mut rx, m).await;
        ws_expect_unholdable_ids_refused(&mut tx, &mut rx, m, "chain_status").await;
        ws_expect(
            &mut tx,
            &mut rx,
            format!("{m}X"),
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
            for value in invalid(p.kind, &c) {
                let shown: String = value.chars().take(40).collect();
                ws_expect(
                    &mut tx,
                    &mut rx,
                    format!("{m}: `{}` = {shown}", p.name),
                    raw_call(m, &positional(&params, slot, &value, &c)),
                    INVALID_PARAMS,
                )
                .await;
            }
        }
    }
    let oversized = call("chain_getAccount", json!(["a".repeat(MAX_REQUEST_BYTES)]));
    let answer = ws_ask(&mut tx, &mut rx, oversized)
        .await
        .expect("an oversized message is answered, not dropped");
    assert_eq!(
        code_of(&answer),
        Some(i64::from(OVERSIZED_REQUEST_CODE)),
        "{answer}"
    );
    let answer = ws_ask(&mut tx, &mut rx, call("chain_status", json!([])))
        .await
        .expect("the connection survives");
    assert_eq!(code_of(&answer), None, "{answer}");
    ws_expect_pong(&mut tx, &mut rx).await;

    // The subscription refuses bad starting heights, then subscribes on the same connection.
    let ws = WsClientBuilder::default()
        .build(ws_url.as_str())
        .await
        .expect("ws client");
    for bad in [json!(-1), json!("1"), json!(1.5), json!([1]), json!({})] {
        let mut p = ArrayParams::new();
        p.insert(bad.clone()).expect("param");
        match ws.subscribe::<Value, _>(SUBSCRIBE, p, UNSUBSCRIBE).await {
            Err(jsonrpsee::core::ClientError::Call(e)) => {
                assert_eq!(i64::from(e.code()), INVALID_PARAMS, "{bad}: {e:?}");
                assert!(e.message().contains("after_height"), "{bad}: {e:?}");
            }
            other => panic!("{bad}: expected -32602, got {other:?}"),
        }
    }
    let mut sub = ws
        .subscribe::<Value, _>(SUBSCRIBE, ArrayParams::new(), UNSUBSCRIBE)
        .await
        .expect("a valid subscription");
    let block = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("a block within 10 s")
        .expect("open")
        .expect("a block");
    assert!(block["height"].as_u64().is_some(), "{block}");
    still_serving(&url, "WebSocket probes").await;
    chain.stop().await;
    ws_expect_closed(&mut rx).await;
}
