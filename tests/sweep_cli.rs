//! `picsou-relay sweep` as a user runs it: the quick geo series checks the paper's ratio, its
//! JSON names each run's `sim` command, and that command replays the run exactly; bad flags
//! exit 2.

use std::process::{Command, Output};

fn relay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_picsou-relay"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn quick_geo_checks_the_papers_ratio_and_each_run_replays_with_sim() {
    let dir = std::env::temp_dir().join(format!("sweep-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let json = dir.join("geo.json");
    let out = relay(&[
        "sweep",
        "--quick",
        "--only",
        "geo",
        "--json",
        json.to_str().expect("utf-8 path"),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("== geo: 1 MB"), "{stdout}");
    assert!(
        stdout.contains("ok    geo, 1 MB, n = 19: Picsou/ATA"),
        "{stdout}"
    );

    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("--json written")).expect("JSON");
    let checks = v["checks"].as_array().expect("checks");
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!(checks[0]["holds"], true);
    assert!(checks[0]["value"].as_f64().expect("a ratio") >= 44.0);
    let runs = v["runs"].as_array().expect("runs");
    let lines: Vec<&str> = runs
        .iter()
        .map(|r| r["line"].as_str().expect("line"))
        .collect();
    assert_eq!(lines, ["picsou", "ata"]);

    // The Picsou run again, as `sim` with the flags the sweep recorded.
    let picsou = &runs[0];
    let flags: Vec<&str> = picsou["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .map(|f| f.as_str().expect("a flag"))
        .collect();
    assert_eq!(
        picsou["command"].as_str(),
        Some(format!("picsou-relay sim {}", flags.join(" ")).as_str())
    );
    let mut args = vec!["sim", "--json"];
    args.extend(&flags);
    let again = relay(&args);
    assert_eq!(again.status.code(), Some(0));
    let replay: serde_json::Value = serde_json::from_slice(&again.stdout).expect("one JSON run");
    for field in [
        "throughput_msgs_per_s",
        "limit_msgs_per_s",
        "resends",
        "events",
    ] {
        assert_eq!(replay[field], picsou["result"][field], "{field}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_flags_exit_2_with_a_clear_error() {
    for (args, says) in [
        (&["sweep", "--jobs", "0"][..], "--jobs must be at least 1"),
        (
            &["sweep", "--memory", "0"][..],
            "--memory must be a positive number of GiB",
        ),
        (&["sweep", "--memory", "lots"][..], "invalid value 'lots'"),
        (&["sweep", "--only", "nope"][..], "invalid value 'nope'"),
        (
            &["sweep", "--quick", "--only", "byz"][..],
            "--quick has no runs",
        ),
    ] {
        let out = relay(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
