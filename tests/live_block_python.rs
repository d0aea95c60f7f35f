//! A block of a running `picsou-relay chain` process re-verified by a program in another
//! language written from `docs/CHAINS.md` alone: `docs/verify_example.py --live` (Python's
//! `hashlib` and the `cryptography` package). For each chain model it verifies block 101, which
//! lies in epoch 1, so the script must also follow the epoch-0 → 1 transition (block 100
//! commits the set of epoch 1); then it checks that the script refuses the same block with one
//! header byte flipped. Skipped (with a message) when `python3` with `cryptography` is missing.

use std::process::{Command, Output, Stdio};

mod common;
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/verify_example.py");

use common::start_chain as start;

fn python_has_cryptography() -> bool {
    Command::new("python3")
        .args(["-c", "import cryptography"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn script(endpoint: &str, extra: &[&str]) -> Output {
    Command::new("python3")
        .arg(SCRIPT)
        .args(["--live", endpoint, "--height", "101", "--wait", "30"])
        .args(extra)
        .output()
        .expect("python3 runs")
}

#[test]
fn python_reverifies_live_blocks_across_an_epoch() {
    if !python_has_cryptography() {
        eprintln!("skipped: python3 with the `cryptography` package is not available");
        return;
    }
    // Epochs are 100 blocks; 20 ms blocks reach block 101 in about 2 s.
    let common = [
        "--validators",
        "4",
        "--listen",
        "127.0.0.1:0",
        "--block-interval-ms",
        "20",
        "--load",
        "200",
    ];
    let chains =
        [("algorand", &[][..]), ("resdb", &["--offline", "2"][..])].map(|(kind, extra)| {
            let mut args = vec!["--kind", kind];
            args.extend_from_slice(&common);
            args.extend_from_slice(extra);
            let (running, ann) = start(&args);
            (kind, running, ann)
        });
    for (kind, _running, ann) in &chains {
        let endpoint = &ann.endpoints[0];
        let ok = script(endpoint, &[]);
        let out = String::from_utf8_lossy(&ok.stdout);
        assert!(
            ok.status.success(),
            "{kind}: live verification failed:\n{out}\n{}",
            String::from_utf8_lossy(&ok.stderr)
        );
        assert!(
            out.contains("epoch 0 -> 1"),
            "{kind}: no epoch transition:\n{out}"
        );
        assert!(out.contains("block 101 (epoch 1)"), "{kind}:\n{out}");
        assert!(out.ends_with("all live checks passed\n"), "{kind}:\n{out}");

        let bad = script(endpoint, &["--tamper", "header"]);
        let out = String::from_utf8_lossy(&bad.stdout);
        assert_eq!(
            bad.status.code(),
            Some(1),
            "{kind}: tampered header accepted:\n{out}"
        );
        assert!(out.contains("digest mismatch"), "{kind}:\n{out}");
    }
}
