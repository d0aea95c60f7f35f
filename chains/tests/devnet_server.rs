//! The devnet chain server in-process: every method on real local connections, bad inputs,
//! certificates checked with the crate's light client, offline validators, and restarts from a
//! state directory.

use std::collections::BTreeSet;
use std::time::Duration;

use chains::algorand::Algorand;
use chains::devnet::api::{BlockView, TxState};
use chains::devnet::client::DevnetClient;
use chains::devnet::{DevnetConfig, DevnetError, RunningChain, start};
use chains::engine::{EngineConfig, PeerSpec};
use chains::keys::{AccountKey, ecdsa_verify, ed25519_verify};
use chains::model::{LightClient, Model};
use chains::resdb::Resdb;
use chains::tx::{Tx, TxBody};
use chains::types::{Address, Amount, ChainId, ChainKind, Epoch, Height};
use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::params::ObjectParams;
use jsonrpsee::http_client::HttpClientBuilder;
use jsonrpsee::rpc_params;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

fn config(kind: ChainKind, validators: usize) -> DevnetConfig {
    let mut c = DevnetConfig::new(kind, validators, "127.0.0.1:0".parse().expect("address"));
    c.block_interval = Duration::from_millis(20);
    c
}

/// What a light client of the devnet chain starts from (derived exactly as the engine does).
fn peer_spec(c: &DevnetConfig) -> PeerSpec {
    EngineConfig::devnet(
        c.kind,
        ChainId::new(c.chain_id()).expect("valid id"),
        &c.seed,
        c.validators as u64,
        c.accounts,
    )
    .peer_spec()
    .expect("peer spec")
}

async fn wait_block(client: &DevnetClient, height: u64) -> BlockView {
    client
        .wait_for_block(Height(height - 1), WAIT)
        .await
        .expect("wait succeeds")
        .expect("block arrives in time")
}

/// Checks every certificate signature of `view` with the raw key primitives.
fn check_signatures(view: &BlockView) {
    assert!(!view.signatures.is_empty());
    for s in &view.signatures {
        let sig: [u8; 64] = s
            .signature
            .as_slice()
            .try_into()
            .expect("64-byte signature");
        match s.key_type.as_str() {
            "ed25519" => {
                let pk: [u8; 32] = s.public_key.as_slice().try_into().expect("32-byte key");
                assert_eq!(ed25519_verify(&pk, &s.signed_bytes, &sig), Ok(()));
            }
            "secp256k1" => {
                let pk: [u8; 33] = s.public_key.as_slice().try_into().expect("33-byte key");
                assert_eq!(ecdsa_verify(&pk, &s.signed_bytes, &sig), Ok(()));
            }
            other => panic!("unexpected key type {other}"),
        }
    }
}

/// A signed transfer (or bridge-out) from devnet account `from`.
fn transfer(c: &DevnetConfig, from: u64, nonce: u64, bridge: bool) -> Tx {
    let key = AccountKey::devnet(c.kind, &c.seed, from);
    let chain = ChainId::new(c.chain_id()).expect("id");
    let body = if bridge {
        let peer_kind = match c.kind {
            ChainKind::Algorand => ChainKind::Resdb,
            ChainKind::Resdb => ChainKind::Algorand,
        };
        TxBody::BridgeOut {
            from: key.address(),
            dest_chain: ChainId::new(c.peer_chain_id()).expect("id"),
            recipient: AccountKey::devnet(peer_kind, &c.seed, 0).address(),
            amount: Amount(7),
            nonce,
        }
    } else {
        TxBody::Transfer {
            from: key.address(),
            to: AccountKey::devnet(c.kind, &c.seed, from + 1).address(),
            amount: Amount(5),
            nonce,
        }
    };
    Tx::sign(c.kind, &chain, body, &key)
}

async fn exercise_methods<M: Model>(kind: ChainKind, validators: usize) {
    let c = config(kind, validators);
    let chain = start(c.clone()).await.expect("chain starts");
    let endpoints = chain.endpoints().to_vec();
    assert_eq!(endpoints.len(), validators);
    assert_eq!(chain.announcement().kind, kind);

    // Status on every endpoint names its validator.
    for (i, url) in endpoints.iter().enumerate() {
        let st = DevnetClient::new(url)
            .expect("url")
            .status()
            .await
            .expect("status");
        assert_eq!(st.validator, i);
        assert!(st.online);
        assert_eq!(st.kind, kind);
        assert_eq!(st.validators, validators);
        assert_eq!(st.chain, c.chain_id());
    }
    let client = DevnetClient::new(&endpoints[validators - 1]).expect("url");

    // Transactions: a transfer and a bridge-out, committed in a block.
    let t1 = transfer(&c, 0, 1, false);
    let t2 = transfer(&c, 0, 2, true);
    let id1 = client.submit(&t1).await.expect("transfer accepted");
    let id2 = client.submit(&t2).await.expect("bridge-out accepted");
    assert_eq!(id1, t1.id(kind, &ChainId::new(c.chain_id()).expect("id")));
    let mut committed = None;
    for _ in 0..200 {
        if let Some(h) = client.committed_at(&id2).await.expect("tx query") {
            committed = Some(h);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let height = committed.expect("bridge-out committed");
    let st = client
        .transaction(&id2)
        .await
        .expect("query")
        .expect("known");
    assert_eq!(st.status, TxState::Committed);
    let record = st.record.expect("record");
    assert_eq!(record.export.map(|k| k.0), Some(0));
    assert!(client.committed_at(&id1).await.expect("query").is_some());

    // The block: typed from its bytes, certificate checked by the light client and by hand.
    let view = client
        .block(height)
        .await
        .expect("getBlock")
        .expect("block exists");
    assert_eq!(view.height, height.0);
    assert!(view.transactions.iter().any(|t| t.id == id2));
    check_signatures(&view);
    let block = view.to_block::<M>().expect("canonical bytes decode");
    assert_eq!(block.hash(), view.hash);
    let lc = light_client::<M>(&c);
    lc.verify_block(&block)
        .expect("certificate and body verify");

    // Subscription: blocks 1, 2, 3 in order.
    let mut sub = client
        .subscribe_blocks(Some(Height(0)))
        .await
        .expect("subscribe");
    for h in 1..=3 {
        let b = tokio::time::timeout(WAIT, sub.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("decodes");
        assert_eq!(b.height, h);
    }

    // Accounts and validator sets.
    let a0 = AccountKey::devnet(kind, &c.seed, 0).address();
    let acc = client.account(&a0).await.expect("account").expect("exists");
    assert_eq!(acc.nonce, 2);
    assert_eq!(acc.balance, 1_000_000 - 5 - 7);
    let nobody = match kind {
        ChainKind::Algorand => Address::Ed25519([9; 32]),
        ChainKind::Resdb => AccountKey::devnet(kind, "other-seed", 0).address(),
    };
    assert!(client.account(&nobody).await.expect("account").is_none());
    let set = client
        .validator_set_of::<M>(Epoch(0))
        .await
        .expect("set")
        .expect("epoch 0 exists");
    assert_eq!(M::set_epoch(&set), Epoch(0));
    assert!(
        client
            .validator_set(Epoch(1_000))
            .await
            .expect("set")
            .is_none()
    );

    // Long poll: a far block times out with null; a missing block is null.
    let far = client
        .wait_for_block(Height(1_000_000), Duration::from_millis(50))
        .await
        .expect("wait");
    assert!(far.is_none());
    assert!(
        client
            .block(Height(1_000_000))
            .await
            .expect("getBlock")
            .is_none()
    );

    // Following typed blocks from height 1.
    let mut follower = client.follow::<M>(Height(1)).await.expect("follow");
    for h in 1..=3 {
        let b = follower.next_block().await.expect("next block");
        assert_eq!(b.height(), Height(h));
        lc.verify_block(&b).expect("verifies");
    }

    bad_inputs(&endpoints[0]).await;
    chain.stop().await;
}

fn light_client<M: Model>(c: &DevnetConfig) -> LightClient<M> {
    let local = ChainId::new(c.peer_chain_id()).expect("id");
    let spec = serde_json::to_value(peer_spec(c)).expect("spec serializes");
    // The spec is `{"<kind>": {"params": .., "genesis": ..}}`; rebuild the typed client.
    let inner = spec
        .as_object()
        .and_then(|o| o.values().next())
        .cloned()
        .expect("tagged spec");
    let params: M::Params = serde_json::from_value(inner["params"].clone()).expect("params decode");
    let genesis: M::Set = serde_json::from_value(inner["genesis"].clone()).expect("set decodes");
    LightClient::new(params, local, genesis)
}

/// Every method refuses bad input with -32602 and names the parameter.
async fn bad_inputs(url: &str) {
    let http = HttpClientBuilder::default().build(url).expect("client");
    async fn err(
        http: &jsonrpsee::http_client::HttpClient,
        method: &str,
        params: jsonrpsee::core::params::ArrayParams,
    ) -> (i32, String) {
        match http.request::<Value, _>(method, params).await {
            Err(jsonrpsee::core::ClientError::Call(e)) => (e.code(), e.message().to_owned()),
            other => panic!("{method}: expected an error, got {other:?}"),
        }
    }
    let cases: Vec<(&str, jsonrpsee::core::params::ArrayParams, &str)> = vec![
        ("chain_getBlock", rpc_params!["x"], "`height`"),
        ("chain_getBlock", rpc_params![], "`height`"),
        ("chain_getBlock", rpc_params![-1], "`height`"),
        ("chain_getBlock", rpc_params![1.5], "`height`"),
        ("chain_getBlock", rpc_params![1, 2], "at most 1"),
        (
            "chain_waitForBlock",
            rpc_params![0, 999_999_999],
            "`timeout_ms`",
        ),
        ("chain_waitForBlock", rpc_params!["0"], "`after_height`"),
        (
            "chain_waitForBlock",
            rpc_params![u64::MAX, 10],
            "`after_height`",
        ),
        ("chain_submitTransaction", rpc_params!["zz"], "`tx`"),
        ("chain_submitTransaction", rpc_params![], "`tx`"),
        ("chain_submitTransaction", rpc_params![42], "`tx`"),
        ("chain_submitTransaction", rpc_params!["deadbeef"], "`tx`"),
        ("chain_getTransaction", rpc_params!["abc"], "`id`"),
        ("chain_getTransaction", rpc_params!["abcd"], "`id`"),
        ("chain_getAccount", rpc_params!["nope"], "`address`"),
        ("chain_getAccount", rpc_params!["ed25519:00"], "`address`"),
        ("chain_getAccount", rpc_params![7], "`address`"),
        ("chain_getValidatorSet", rpc_params![-1], "`epoch`"),
        ("chain_getValidatorSet", rpc_params![], "`epoch`"),
        ("chain_status", rpc_params![1], "at most 0"),
    ];
    for (method, params, needle) in cases {
        let (code, msg) = err(&http, method, params).await;
        assert_eq!(code, -32602, "{method}: {msg}");
        assert!(
            msg.contains(needle),
            "{method}: {msg:?} should mention {needle}"
        );
    }
    // A well-formed transaction with a bad signature is refused, naming `tx`.
    let c = DevnetConfig::new(ChainKind::Algorand, 1, "127.0.0.1:0".parse().expect("addr"));
    // (A fresh nonce: resubmitting a known transaction id just returns the id.)
    let mut t = transfer(&c, 0, 99, false);
    t.sig[0] ^= 1;
    let (code, msg) = err(
        &http,
        "chain_submitTransaction",
        rpc_params![hex::encode(t.to_bytes())],
    )
    .await;
    assert_eq!(code, -32602);
    assert!(msg.contains("`tx`") && msg.contains("rejected"), "{msg}");
    // Named parameters work, and unknown names are refused.
    let mut named = ObjectParams::new();
    named.insert("height", 1).expect("insert");
    let ok: Result<Value, _> = http.request("chain_getBlock", named).await;
    assert!(ok.is_ok(), "{ok:?}");
    let mut named = ObjectParams::new();
    named.insert("hieght", 1).expect("insert");
    match http.request::<Value, _>("chain_getBlock", named).await {
        Err(jsonrpsee::core::ClientError::Call(e)) => {
            assert_eq!(e.code(), -32602);
            assert!(e.message().contains("hieght"));
        }
        other => panic!("expected an error, got {other:?}"),
    }
    // Unknown methods are refused by the server.
    match http.request::<Value, _>("chain_nope", rpc_params![]).await {
        Err(jsonrpsee::core::ClientError::Call(e)) => assert_eq!(e.code(), -32601),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn algorand_methods() {
    exercise_methods::<Algorand>(ChainKind::Algorand, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resdb_methods() {
    exercise_methods::<Resdb>(ChainKind::Resdb, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_validators_do_not_sign_and_too_many_stall() {
    let mut c = config(ChainKind::Resdb, 4);
    c.offline = BTreeSet::from([3]);
    let chain = start(c.clone()).await.expect("starts");
    let client = DevnetClient::new(&chain.endpoints()[3]).expect("url");
    let st = client.status().await.expect("status");
    assert!(!st.online, "validator 3 is offline");
    let b = wait_block(&client, 2).await;
    assert_eq!(b.signatures.len(), 3);
    assert!(b.signatures.iter().all(|s| s.signer != "replica-3"));
    chain.stop().await;

    let mut c = config(ChainKind::Algorand, 4);
    c.offline = BTreeSet::from([0, 1]);
    let chain = start(c).await.expect("starts");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(chain.tip(), Height(0), "half the stake cannot certify");
    chain.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_fills_blocks_with_transfers_and_bridge_outs() {
    let mut c = config(ChainKind::Algorand, 4);
    c.load_tps = 1_000;
    let chain = start(c).await.expect("starts");
    let client = DevnetClient::new(&chain.endpoints()[0]).expect("url");
    let mut txs = 0;
    let mut bridge_outs = 0;
    let mut h = 1;
    while txs < 300 && h < 500 {
        let b = wait_block(&client, h).await;
        txs += b.transactions.len();
        bridge_outs += b
            .transactions
            .iter()
            .filter(|t| matches!(t.record.tx.body, TxBody::BridgeOut { .. }))
            .count();
        h += 1;
    }
    assert!(txs >= 300, "only {txs} transactions in {h} blocks");
    assert!(bridge_outs > 0);
    chain.stop().await;
}

async fn run_until(chain: &RunningChain, height: u64) {
    let client = DevnetClient::new(&chain.endpoints()[0]).expect("url");
    wait_block(&client, height).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_where_it_stopped() {
    for kind in [ChainKind::Algorand, ChainKind::Resdb] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = config(kind, 4);
        c.dir = Some(dir.path().join("state"));
        c.load_tps = 300;
        let chain = start(c.clone()).await.expect("starts");
        run_until(&chain, 8).await;
        let client = DevnetClient::new(&chain.endpoints()[0]).expect("url");
        let before: Vec<BlockView> = {
            let mut v = Vec::new();
            for h in 1..=8 {
                v.push(client.block(Height(h)).await.expect("get").expect("exists"));
            }
            v
        };
        chain.stop().await;
        let stopped_at = before.len() as u64;

        let chain = start(c.clone()).await.expect("restarts");
        assert!(chain.tip().0 >= stopped_at, "resumed at {}", chain.tip());
        let client = DevnetClient::new(&chain.endpoints()[0]).expect("url");
        for b in &before {
            let again = client
                .block(Height(b.height))
                .await
                .expect("get")
                .expect("kept");
            assert_eq!(again.hash, b.hash, "{kind} block {} changed", b.height);
            assert_eq!(again.encoded_certificate, b.encoded_certificate);
        }
        let next = chain.tip().0 + 2;
        run_until(&chain, next).await;
        chain.stop().await;

        // Other flags on the same directory are refused with a clear error.
        let mut other = c.clone();
        other.validators = 7;
        match start(other).await {
            Err(DevnetError::State(msg)) => assert!(msg.contains("validators"), "{msg}"),
            Err(e) => panic!("expected a state error, got {e}"),
            Ok(_) => panic!("expected a state error, got a running chain"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_ports_are_consecutive_and_a_clash_is_an_error() {
    // Find a free base port by binding port 0, then release it.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = probe.local_addr().expect("addr").port();
    drop(probe);
    let mut c = config(ChainKind::Algorand, 2);
    c.listen = format!("127.0.0.1:{base}").parse().expect("addr");
    let chain = match start(c.clone()).await {
        Ok(chain) => chain,
        // Someone took the port in between: nothing to check here.
        Err(DevnetError::Listen { .. }) => return,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        chain.endpoints(),
        &[
            format!("http://127.0.0.1:{base}"),
            format!("http://127.0.0.1:{}", base + 1)
        ]
    );
    match start(c).await {
        Err(DevnetError::Listen { addr, .. }) => assert_eq!(addr.port(), base),
        Err(e) => panic!("expected a listen error, got {e}"),
        Ok(_) => panic!("expected a listen error, got a running chain"),
    }
    chain.stop().await;
}

/// Two chains side by side: a bridge-out on the Algorand-style chain, exported with its proof,
/// is minted on the ResDB-style chain through the adapter traits, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_transfer_crosses_through_the_adapter() {
    use chains::adapter::{ChainFollower, ChainSubmitter};
    use chains::engine::{AnyBlock, TxStatus};
    use chains::model::Exporter;

    let a_cfg = config(ChainKind::Algorand, 4);
    let b_cfg = config(ChainKind::Resdb, 4);
    let a = start(a_cfg.clone()).await.expect("algorand starts");
    let b = start(b_cfg.clone()).await.expect("resdb starts");
    let a_client = DevnetClient::new(&a.endpoints()[1]).expect("url");
    let b_client = DevnetClient::new(&b.endpoints()[2]).expect("url");

    let out = transfer(&a_cfg, 3, 1, true);
    let out_id = ChainSubmitter::submit(&a_client, &out)
        .await
        .expect("accepted");
    let mut blocks: Vec<chains::algorand::Block> = Vec::new();
    let mut exported = None;
    while exported.is_none() {
        let next = Height(blocks.len() as u64 + 1);
        for any in ChainFollower::blocks_from(&a_client, next, 16)
            .await
            .expect("follow")
        {
            let AnyBlock::Algorand(block) = any else {
                panic!("an algorand chain served another kind");
            };
            blocks.push(block);
        }
        if let Some(TxStatus::Committed { .. }) = ChainSubmitter::tx_status(&a_client, out_id)
            .await
            .expect("status")
        {
            let spec = peer_spec(&a_cfg);
            let PeerSpec::Algorand { params, .. } = spec else {
                panic!("algorand spec");
            };
            let entries = Exporter::<Algorand>::export_all(&params, &blocks).expect("export");
            exported = entries.into_iter().next();
        }
    }
    let entry = exported.expect("one entry");
    let bridge_in = Tx::bridge_in(entry.k, entry.payload.clone(), entry.proof.clone());
    let in_id = ChainSubmitter::submit(&b_client, &bridge_in)
        .await
        .expect("proof accepted");
    let transfer_id = chains::tx::BridgeTransfer::from_bytes(&entry.payload)
        .expect("payload")
        .id();
    let mut applied = false;
    for _ in 0..500 {
        if ChainSubmitter::transfer_applied(&b_client, transfer_id)
            .await
            .expect("query")
        {
            applied = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(applied, "transfer minted on the resdb chain");
    assert!(matches!(
        ChainSubmitter::tx_status(&b_client, in_id)
            .await
            .expect("status"),
        Some(TxStatus::Committed { .. })
    ));
    let recipient = AccountKey::devnet(ChainKind::Resdb, &b_cfg.seed, 0).address();
    let acc = b_client
        .account(&recipient)
        .await
        .expect("account")
        .expect("exists");
    assert_eq!(acc.balance, 1_000_000 + 7);
    assert!(
        ChainFollower::finalized_height(&b_client)
            .await
            .expect("height")
            .0
            > 0
    );
    // A second submission of the same transfer is refused or a no-op: minted once.
    let _ = ChainSubmitter::submit(&b_client, &bridge_in).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let acc = b_client
        .account(&recipient)
        .await
        .expect("account")
        .expect("exists");
    assert_eq!(acc.balance, 1_000_000 + 7);
    a.stop().await;
    b.stop().await;
}
