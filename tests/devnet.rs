//! The whole system as processes: `picsou-relay devnet` starts both chains and 4 + 4 relays,
//! drives transfers both ways and checks them against both chains. These tests read its JSON
//! summary: every transfer committed exactly once, balances conserved — also when one relay per
//! side is killed with SIGKILL mid-run and restarted from its database.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_picsou-relay");

fn devnet(extra: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["devnet", "--json", "--dir"])
        .arg(dir.path().join("net"))
        .args(extra)
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "devnet failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = stdout.lines();
    let announce: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(announce["rpc"].as_array().unwrap().len(), 8, "{announce}");
    assert_eq!(
        announce["chains"]["a"]["endpoints"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    let last = lines.last().expect("a summary line");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("bad summary {last:?}: {e}"))
}

fn check(s: &serde_json::Value, n: u64) {
    for dir in ["a_to_b", "b_to_a"] {
        let d = &s[dir];
        assert!(d["committed"].as_u64().unwrap() >= n, "{dir}: {s}");
        assert_eq!(
            d["committed"], d["submitted"],
            "{dir}: every submitted transfer committed: {s}"
        );
        assert_eq!(d["lost"], 0, "{dir}: {s}");
        assert_eq!(d["duplicated"], 0, "{dir}: {s}");
    }
    assert_eq!(s["balances_conserved"], true, "{s}");
}

#[test]
fn two_hundred_transfers_each_way_commit_exactly_once() {
    let s = devnet(&[
        "--transfers",
        "200",
        "--rate",
        "100",
        "--stall-timeout",
        "30",
    ]);
    check(&s, 200);
    assert_eq!(s["relays_killed"], 0);
}

#[test]
fn a_relay_per_side_killed_and_restarted_loses_nothing() {
    let s = devnet(&[
        "--transfers",
        "200",
        "--rate",
        "50",
        "--kill-relays-at",
        "1.5",
        "--stall-timeout",
        "30",
    ]);
    check(&s, 200);
    assert_eq!(s["relays_killed"], 2, "{s}");
}
