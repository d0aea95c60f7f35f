//! `picsou-relay sim` as a user runs it: JSON output, exit codes for bad flags.

use std::process::Command;

fn sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_picsou-relay"))
        .arg("sim")
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn json_lines_one_per_run() {
    let out = sim(&[
        "--nodes",
        "4",
        "--messages",
        "500",
        "--seeds",
        "2",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let runs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(runs.len(), 2);
    for (run, seed) in runs.iter().zip([1, 2]) {
        assert_eq!(run["seed"], seed);
        assert_eq!(run["protocol"], "picsou");
        assert_eq!(run["delivered_all"], true);
        for field in [
            "nodes_a",
            "nodes_b",
            "messages",
            "size",
            "net",
            "faults",
            "cross_sends_per_msg",
            "intra_sends_per_msg",
            "metadata_bytes_per_msg",
            "resends",
            "max_transmissions_per_msg",
            "throughput_msgs_per_s",
            "limit_msgs_per_s",
            "sim_time_s",
            "wall_time_s",
            "violations",
        ] {
            assert!(run.get(field).is_some(), "missing {field}");
        }
    }
}

#[test]
fn bad_flags_exit_2_with_one_clear_error() {
    for (args, needle) in [
        (vec!["--faults", "crash:2"], "exceeds u"),
        (vec!["--faults", "explode:1"], "unknown kind"),
        (vec!["--net", "mars"], "unknown network preset"),
        (vec!["--protocol", "foo"], "unknown protocol"),
        (vec!["--nodes", "x"], "invalid value"),
        (vec!["--stake-a", "1,0,1,1"], "zero stake"),
        (vec!["--mix", "chaotic"], "unknown mix"),
    ] {
        let out = sim(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
}

#[test]
fn a_random_mix_run_is_the_scenario_its_seed_names() {
    use relayer::protocol::ProtocolKind;
    for seed in [3u64, 4] {
        let out = sim(&["--mix", "random", "--seed", &seed.to_string(), "--json"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let run: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
        let want = relayer::sim::mix::random(ProtocolKind::Picsou, seed);
        assert_eq!(run["seed"], seed);
        assert_eq!(run["nodes_a"], want.cluster_a.n());
        assert_eq!(run["nodes_b"], want.cluster_b.n());
        assert_eq!(run["messages"], want.messages);
        assert_eq!(run["size"], want.size);
        assert_eq!(run["faults"], want.faults.to_string());
        assert_eq!(run["delivered_all"], true);
    }
}
