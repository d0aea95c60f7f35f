//! Process tests of `picsou-relay bench`: real relays over real libp2p on loopback, real
//! signatures, in the binary under test. The runs share the machine's cores, so they run one at
//! a time.

mod common;

use common::{BIN, run};
use serde_json::Value;
use std::process::Command;
use std::sync::Mutex;

/// One bench process at a time: they measure throughput.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {v}"))
}

fn u(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not an integer in {v}"))
}

/// Runs `bench` with `args` plus `--json` into a temporary file; returns the report after
/// checking the command succeeded.
fn bench_report(args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let out = Command::new(BIN)
        .arg("bench")
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr:\n{stderr}");
    serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap()
}

#[test]
fn a_small_run_reports_every_figure_and_delivers_everything() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let png = dir.path().join("bench.png");
    let out = Command::new(BIN)
        .args([
            "bench",
            "--protocols",
            "picsou,ata",
            "--nodes",
            "4",
            "--size",
            "10000",
            "--warmup",
            "1s",
            "--duration",
            "3s",
            "--capacity-time",
            "1s",
            "--json",
        ])
        .arg(&json)
        .arg("--plot")
        .arg(&png)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("picsou") && stdout.contains("raw MB/s"),
        "{stdout}"
    );

    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(
        f(&report, "max_message_delay_s"),
        1.0,
        "the bench's default"
    );
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{report}");
    for r in runs {
        let name = r["protocol"].as_str().unwrap();
        assert_eq!(u(r, "nodes"), 4);
        assert_eq!(u(r, "size"), 10_000);
        assert_eq!(r["faults"], "none");
        // Failure-free: nothing dropped, refused or duplicated; everything delivered. Zero
        // resends and zero misbehaviour reports are bounds `--quick` checks (see
        // `quick_holds_its_bounds`): on these shared cores neither holds yet (a clean-clone CI
        // run saw 14 misbehaviour reports here, another run none).
        assert_eq!(u(r, "dropped_frames"), 0, "{name}: {r}");
        assert_eq!(u(r, "wire_errors"), 0, "{name}: {r}");
        assert_eq!(u(r, "duplicate_deliveries"), 0, "{name}: {r}");
        assert_eq!(r["delivered_all"], true, "{name}: {r}");
        assert_eq!(r["completed"], r["released"], "{name}: {r}");
        assert!(u(r, "delivered") > 0, "{name}: {r}");
        assert!(f(r, "secs") >= 3.0, "{name}: {r}");
        let thr = f(r, "throughput_msgs_per_s");
        assert!(
            (thr * f(r, "secs") - u(r, "delivered") as f64).abs() < 1.0,
            "{r}"
        );
        // Computed from the same counts in another order: equal up to rounding.
        let bytes = f(r, "throughput_bytes_per_s");
        assert!((bytes - thr * 10_000.0).abs() <= 1e-9 * bytes, "{r}");
        // Every delivered message crossed the wire at least once. Bytes and deliveries are
        // counted over the same window, but what was in flight when it opened crossed before
        // it: up to the protocol's window, several percent of a 3 s run here.
        assert!(f(r, "cross_bytes_per_msg") > 10_000.0 * 0.75, "{name}: {r}");
        assert!(f(r, "cpu_s_per_msg") > 0.0, "{name}: {r}");
        assert!(f(r, "cpu_cores_busy") > 0.0, "{name}: {r}");
    }
    let (picsou, ata) = (&runs[0], &runs[1]);
    assert_eq!(picsou["protocol"], "picsou");
    assert_eq!(ata["protocol"], "ata");
    // Picsou sends each message across once and broadcasts it (n − 1 copies); ATA sends n²
    // cross copies and no internal ones.
    assert!(
        f(picsou, "cross_bytes_per_msg") < 2.0 * 10_000.0,
        "{picsou}"
    );
    assert!(
        f(picsou, "internal_bytes_per_msg") > 2.0 * 10_000.0,
        "{picsou}"
    );
    assert!(f(ata, "cross_bytes_per_msg") > 10.0 * 10_000.0, "{ata}");
    assert_eq!(f(ata, "internal_bytes_per_msg"), 0.0, "{ata}");
    assert!(f(picsou, "quack_msgs_per_s") > 0.0, "{picsou}");
    assert!(ata["quack_msgs_per_s"].is_null(), "ATA has no QUACK: {ata}");
    assert!(picsou["goodput_fraction"].as_f64().unwrap() > 0.0);
    assert!(ata["goodput_fraction"].is_null());

    let cap = &report["capacity"].as_array().unwrap()[0];
    assert_eq!(u(cap, "size"), 10_000);
    assert!(f(cap, "raw_bytes_per_s") > 0.0 && f(cap, "sealed_bytes_per_s") > 0.0);
    assert_eq!(u(cap, "dropped"), 0);
    let ratio = &report["ratios"].as_array().unwrap()[0];
    assert_eq!(ratio["baseline"], "ata");
    let expect = f(picsou, "throughput_msgs_per_s") / f(ata, "throughput_msgs_per_s");
    assert!((f(ratio, "picsou_over") - expect).abs() < 1e-9);
    assert!(report["checks"].as_array().is_some_and(|c| !c.is_empty()));

    let png = std::fs::read(&png).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
}

/// ATA sends every 1 MB entry to all four receivers, and each receiver delivers the first copy:
/// the other copies used to queue on the slowest links past the queue cap and be dropped (625
/// frames in one 5 s run), so ATA read faster than it is. A relay now takes no new entries while
/// a queue to the other cluster is long, so every copy is sent.
#[test]
fn ata_is_held_to_its_copies_instead_of_dropping_them() {
    let _g = serial();
    let report = bench_report(&[
        "--protocols",
        "ata",
        "--nodes",
        "4",
        "--size",
        "1000000",
        "--warmup",
        "2s",
        "--duration",
        "4s",
        "--capacity-time",
        "1s",
        // A small source window bounds how far the fastest sender runs ahead of the
        // slowest, so the copies sent in the window match the messages delivered in it.
        "--window-mib",
        "4",
    ]);
    let r = &report["runs"][0];
    assert_eq!(r["protocol"], "ata", "{r}");
    assert_eq!(u(r, "dropped_frames"), 0, "{r}");
    assert_eq!(r["delivered_all"], true, "{r}");
    // 16 copies of 1 000 000 payload bytes per message, give or take the window's edges.
    let wire = f(r, "cross_bytes_per_msg");
    assert!(wire > 14.0e6 && wire < 18.0e6, "{r}");
}

/// Broadcasts to a crashed relay stay queued: a relay that waited for every queue to its own
/// cluster to drain before reading the other cluster again never read again (0 msg/s and an
/// incomplete stream with `--faults crash:1` at 1 MB). Queues to relays that are down are not
/// waited on.
#[test]
fn a_crashed_relay_does_not_stall_the_others_at_1_mb() {
    let _g = serial();
    let report = bench_report(&[
        "--protocols",
        "picsou",
        "--nodes",
        "4",
        "--size",
        "1000000",
        "--faults",
        "crash:1",
        "--warmup",
        "2s",
        "--duration",
        "3s",
        "--capacity-time",
        "1s",
    ]);
    let r = &report["runs"][0];
    assert_eq!(r["delivered_all"], true, "{r}");
    assert!(f(r, "throughput_msgs_per_s") > 0.0, "{r}");
}

#[test]
fn bad_flags_are_refused_with_exit_code_2() {
    for (args, needle) in [
        (vec!["bench", "--size", "0"], "--size"),
        (vec!["bench", "--size", "big"], "--size"),
        (vec!["bench", "--protocols", "tcp"], "--protocols"),
        (vec!["bench", "--nodes", "0"], "--nodes"),
        (vec!["bench", "--duration", "soon"], "--duration"),
        (
            vec!["bench", "--max-message-delay", "0s"],
            "--max-message-delay",
        ),
        (vec!["bench", "--max-message-delay", "61s"], "over 60 s"),
        (
            vec!["bench", "--max-message-delay=-1s"],
            "--max-message-delay",
        ),
        (vec!["bench", "--faults", "restart:1@1s-2s"], "store"),
        (
            vec!["bench", "--faults", "crash:2", "--nodes", "4"],
            "exceeds u",
        ),
    ] {
        let out = run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    for extra in ["--nodes", "--max-message-delay"] {
        let out = run(&["bench", "--quick", extra, "7"]);
        assert_eq!(out.status.code(), Some(2), "--quick takes no {extra}");
    }
}

#[test]
#[ignore = "open in issue 5: in ten --quick runs on these shared cores Picsou/ATA at 1 MB read \
            2.94 to 3.98, below 3.2 in three, and Picsou at 1 MB resent in some runs before the \
            late-entry floor (docs/BENCHMARKS.md): not yet bounds"]
fn quick_holds_its_bounds() {
    let _g = serial();
    let out = Command::new(BIN)
        .args(["bench", "--quick", "--json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr:\n{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["passed"], true, "{report}");
    let runs = report["runs"].as_array().unwrap();
    for p in ["picsou", "ost", "ata", "ll", "otu"] {
        assert!(
            runs.iter()
                .any(|r| r["protocol"] == p && r["size"] == 1_000_000)
        );
    }
    let ata = report["ratios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["baseline"] == "ata" && r["size"] == 1_000_000)
        .unwrap();
    assert!(f(ata, "picsou_over") >= 3.2, "{ata}");
}
