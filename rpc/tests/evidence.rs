//! `relay_evidence` end to end: a real server on `127.0.0.1:0`, the typed client and raw
//! JSON-RPC calls, over a node handle whose evidence log holds frames sealed with real batch
//! keys. What comes back re-verifies with the sender's public key, and with no other key.

use std::sync::Arc;

use bytes::Bytes;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::params::ObjectParams;
use jsonrpsee::http_client::HttpClientBuilder;
use jsonrpsee::rpc_params;
use relayer::node::evidence::{EvidenceLog, Signed};
use relayer::node::handle::{MetricsSource, NodeHandle};
use relayer::protocol::{Ack, Batch, BatchKind, Entry};
use relayer::types::{NodeId, Side, StreamIndex};
use relayer::wire;
use rpc::client::RelayClient;
use rpc::server::{RpcConfig, RpcServer, serve};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};

#[derive(Debug)]
struct NoMetrics;

impl MetricsSource for NoMetrics {
    fn render(&self) -> String {
        "# EOF\n".to_owned()
    }
}

fn far_batch(i: u64) -> Batch {
    Batch {
        epoch: 0,
        kind: BatchKind::Cross {
            ack: Some(Ack {
                next: StreamIndex(i),
                phi: Bytes::new(),
            }),
            quack_claim: None,
            exported: StreamIndex(10),
        },
        entries: vec![Entry {
            k: StreamIndex(u64::MAX - i),
            payload: vec![i as u8; 8].into(),
            proof: Bytes::from_static(b"proof"),
        }],
    }
}

/// Seeds of the two senders' batch keys.
const SEEDS: [&[u8]; 2] = [b"evidence test A1", b"evidence test A3"];

struct Fixture {
    server: RpcServer,
    batches: Vec<(NodeId, Batch)>,
    // Keeps the query channel open, as a live driver would.
    _queries: mpsc::Receiver<relayer::node::handle::Query>,
}

/// B0's evidence: three out-of-window frames from A1, two from A3 (other kind).
async fn fixture() -> Fixture {
    let b0 = NodeId::new(Side::B, 0);
    let senders = [NodeId::new(Side::A, 1), NodeId::new(Side::A, 3)];
    let keys = SEEDS.map(wire::key_from_seed);
    let log = Arc::new(EvidenceLog::default());
    let mut batches = Vec::new();
    for i in 0..5u64 {
        let s = usize::from(i >= 3);
        let (from, kind) = (senders[s], ["out_of_window", "impossible_ack"][s]);
        let batch = far_batch(i);
        let frame = wire::seal(from, b0, &batch, &keys[s]);
        let peer_id = format!("12D3KooWpeer{s}");
        log.keep(
            from,
            &peer_id,
            b0,
            kind,
            "far",
            1_700_000_000_000 + i,
            &frame,
        )
        .expect("within bounds");
        batches.push((from, batch));
    }
    let (qtx, qrx) = mpsc::channel(4);
    let (updates, _) = broadcast::channel(4);
    let node = NodeHandle::new(qtx, updates, Arc::new(NoMetrics)).with_evidence(log);
    let config = RpcConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        ..RpcConfig::default()
    };
    let server = serve(config, node, None).await.expect("server starts");
    Fixture {
        server,
        batches,
        _queries: qrx,
    }
}

#[tokio::test]
async fn evidence_is_served_in_pages_and_reverifies_with_the_senders_key_only() {
    let f = fixture().await;
    let client = RelayClient::new(&f.server.url()).expect("url");

    let all = client.evidence(0, None).await.expect("relay_evidence");
    let seqs: Vec<u64> = all.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![0, 1, 2, 3, 4]);
    for (e, (from, batch)) in all.iter().zip(&f.batches) {
        assert_eq!(e.peer, from.to_string());
        assert_eq!(e.recipient, "B0");
        let (key, other) = if e.peer == "A1" {
            (SEEDS[0], SEEDS[1])
        } else {
            (SEEDS[1], SEEDS[0])
        };
        let (key, other) = (wire::key_from_seed(key), wire::key_from_seed(other));
        assert_eq!(
            e.verify(&key.verifying_key()),
            Ok(Signed::Batch(batch.clone())),
            "#{} re-verifies",
            e.seq
        );
        assert!(
            e.verify(&other.verifying_key()).is_err(),
            "#{} must not verify under another relay's key",
            e.seq
        );
    }
    assert_eq!(all[3].kind, "impossible_ack");
    assert_eq!(all[3].peer_id, "12D3KooWpeer1");

    let page = client.evidence(2, Some(2)).await.expect("page");
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3]);
    assert!(
        client
            .evidence(5, None)
            .await
            .expect("past the end")
            .is_empty()
    );

    // By name, and the defaults for what is left out.
    let raw = HttpClientBuilder::default()
        .build(f.server.url())
        .expect("client");
    let mut named = ObjectParams::new();
    named.insert("since", 4).expect("param");
    let v: Value = raw.request("relay_evidence", named).await.expect("named");
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v[0]["seq"], 4);
    assert!(v[0]["signed_batch"].as_str().is_some_and(|h| h.len() > 128));

    f.server.stop().await;
}

#[tokio::test]
async fn bad_parameters_are_refused_naming_the_parameter() {
    let f = fixture().await;
    let raw = HttpClientBuilder::default()
        .build(f.server.url())
        .expect("client");
    for (params, name) in [
        (rpc_params![0, 0], "limit"),
        (rpc_params![0, 65], "limit"),
        (rpc_params!["soon"], "since"),
        (rpc_params![-1], "since"),
        (rpc_params![0, 1, 2], ""),
    ] {
        let err = raw
            .request::<Value, _>("relay_evidence", params)
            .await
            .expect_err("refused");
        let jsonrpsee::core::ClientError::Call(e) = err else {
            panic!("not a call error: {err}");
        };
        assert_eq!(e.code(), -32602, "{}", e.message());
        assert!(e.message().contains(name), "{name}: {}", e.message());
    }
    f.server.stop().await;
}
