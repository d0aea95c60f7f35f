//! A short chaos run of the real devnet through the binary: `picsou-relay devnet --chaos` with a
//! fixed seed kills and restarts relays (SIGKILL), cuts every link between the clusters, and cuts
//! relays off their validators while load runs, then checks every transfer against both chains.
//! This test reads its JSON report: each kind of fault was injected for real (the proxies cut
//! connections), nothing was lost, duplicated or forged, and balances are conserved.

use std::process::Command;

mod common;

/// The schedule's seed: its first three faults are one of each kind (every seed's are).
const SEED: &str = "20261121";

#[test]
fn a_short_chaos_run_loses_duplicates_and_forges_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(common::BIN)
        .args([
            "devnet",
            "--chaos",
            "--json",
            "--chaos-seed",
            SEED,
            "--duration",
            "35",
            "--rate",
            "50",
            "--drain-timeout",
            "90",
            "--dir",
        ])
        .arg(dir.path().join("net"))
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut lines = stdout.lines();
    let announce: serde_json::Value = serde_json::from_str(lines.next().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no start line ({e}):\n{stdout}\n{stderr}"));
    assert_eq!(announce["chaos_seed"].as_u64(), Some(SEED.parse().unwrap()));
    let last = lines.last().unwrap_or_default();
    let r: serde_json::Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("no report ({e}): {}\n{stdout}\n{stderr}", out.status));
    let ctx = format!("{r:#}\nstderr:\n{stderr}");

    // Every kind of fault happened, for real.
    for kind in ["relay_kill", "partition", "validator_offline"] {
        assert!(
            r["faults_by_kind"][kind].as_u64() >= Some(1),
            "{kind}: {ctx}"
        );
    }
    let cut =
        |p: &serde_json::Value| p["severed"].as_u64().unwrap() + p["refused"].as_u64().unwrap();
    assert!(
        cut(&r["p2p_proxies"]) > 0,
        "the partition cut nothing: {ctx}"
    );
    assert!(
        cut(&r["validator_proxies"]) > 0,
        "no validator outage cut anything: {ctx}"
    );
    for f in r["faults"].as_array().unwrap() {
        assert!(f["heal_s"].as_f64() >= f["start_s"].as_f64(), "{f}");
    }
    assert_eq!(
        r["unexpected_exits"].as_array().map(Vec::len),
        Some(0),
        "{ctx}"
    );

    // Every transfer's outcome, against both chains.
    assert!(r["submitted"].as_u64() > Some(100), "{ctx}");
    assert_eq!(r["lost"], 0, "{ctx}");
    assert_eq!(r["duplicated"], 0, "{ctx}");
    assert_eq!(r["forged_applied"], 0, "{ctx}");
    assert_eq!(r["not_escrowed"], 0, "{ctx}");
    assert_eq!(r["committed"], r["escrowed"], "{ctx}");
    assert!(r["escrowed"].as_u64() >= r["submitted"].as_u64(), "{ctx}");
    assert_eq!(r["balances_conserved"], true, "{ctx}");
    assert_eq!(r["drained"], true, "{ctx}");
    assert_eq!(r["ok"], true, "{ctx}");
    assert!(out.status.success(), "{}: {ctx}", out.status);
}

#[test]
fn chaos_flags_need_chaos_and_exclude_a_fixed_transfer_count() {
    let out = common::run(&["devnet", "--chaos-seed", "1"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("add --chaos"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = common::run(&["devnet", "--chaos", "--transfers", "10"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot be used with"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
