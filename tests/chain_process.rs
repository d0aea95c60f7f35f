//! The `picsou-relay chain` process, for real: start the binary, read its JSON line, fetch a
//! block over JSON-RPC and verify its certificate with the `chains` light client; kill it with
//! SIGKILL and check it restarts from its directory with the same blocks; refuse bad flags.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chains::devnet::client::DevnetClient;
use chains::engine::{EngineConfig, PeerSpec};
use chains::resdb::{LightClient, Resdb};
use chains::types::{ChainId, ChainKind, Height};

mod common;
use common::BIN;
const WAIT: Duration = Duration::from_secs(30);

use common::start_chain as start;

fn args<'a>(dir: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "--kind",
        "resdb",
        "--validators",
        "4",
        "--listen",
        "127.0.0.1:0",
        "--block-interval-ms",
        "50",
        "--load",
        "200",
        "--offline",
        "2",
        "--dir",
        dir.to_str().expect("utf-8 path"),
    ];
    v.extend_from_slice(extra);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_process_serves_verifiable_blocks_and_survives_kill() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("chain");
    let (running, ann) = start(&args(&dir, &[]));
    assert_eq!(ann.kind, ChainKind::Resdb);
    assert_eq!(ann.chain, "resdb-devnet");
    assert_eq!(ann.endpoints.len(), 4);

    let client = DevnetClient::new(&ann.endpoints[0]).expect("url");
    let view = client
        .wait_for_block(Height(4), WAIT)
        .await
        .expect("wait")
        .expect("block 5 arrives");
    let block = view.to_block::<Resdb>().expect("canonical bytes decode");
    assert_eq!(block.cert.sigs.len(), 3, "validator 2 is offline");

    // Verify with the crate's light client, set up from the chain's public genesis.
    let spec = EngineConfig::devnet(
        ChainKind::Resdb,
        ChainId::new("resdb-devnet").expect("id"),
        "picsou-devnet",
        4,
        chains::devnet::DEFAULT_ACCOUNTS,
    )
    .peer_spec()
    .expect("spec");
    let PeerSpec::Resdb { params, genesis } = spec else {
        panic!("a resdb spec");
    };
    let lc = LightClient::new(
        params,
        ChainId::new("algorand-devnet").expect("id"),
        genesis,
    );
    lc.verify_block(&block).expect("the certificate verifies");
    let mut tampered = block.clone();
    tampered.header.timestamp += 1;
    assert!(lc.verify_block(&tampered).is_err());

    // kill -9, restart from the directory: the same blocks, and it goes on.
    let tip = client.status().await.expect("status").height;
    drop(running);
    let (_running, ann2) = start(&args(&dir, &[]));
    let client = DevnetClient::new(&ann2.endpoints[3]).expect("url");
    let st = client.status().await.expect("status");
    assert!(st.height >= tip, "restarted at {} after {tip}", st.height);
    let again = client
        .block(Height(5))
        .await
        .expect("get")
        .expect("block 5 kept");
    assert_eq!(again.hash, view.hash);
    let more = client
        .wait_for_block(Height(st.height + 1), WAIT)
        .await
        .expect("wait");
    assert!(more.is_some(), "the restarted chain keeps producing");
}

#[test]
fn bad_flags_fail_with_one_clear_error() {
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "--kind",
                "resdb",
                "--validators",
                "4",
                "--listen",
                "127.0.0.1:0",
                "--offline",
                "9",
            ],
            "--offline",
        ),
        (
            &[
                "--kind",
                "eth",
                "--validators",
                "4",
                "--listen",
                "127.0.0.1:0",
            ],
            "--kind",
        ),
        (
            &[
                "--kind",
                "resdb",
                "--validators",
                "2",
                "--listen",
                "127.0.0.1:0",
            ],
            "--validators",
        ),
        (
            &[
                "--kind",
                "algorand",
                "--validators",
                "4",
                "--listen",
                "nowhere",
            ],
            "--listen",
        ),
    ];
    for (args, flag) in cases {
        let out = Command::new(BIN)
            .arg("chain")
            .args(args)
            .output()
            .expect("the binary runs");
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{args:?}: {err}");
    }
}
