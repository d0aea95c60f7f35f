//! Bad input to the real `picsou-relay` binary: broken configuration files (for `config
//! validate` and `start`), bad flags for every subcommand, and bad `sim` specifications.
//!
//! Every case must fail with a non-zero exit code and one clear message — for a configuration,
//! `<file>: 1 problem` and `<file>: <field>: <what is wrong>` — and never with a panic. The
//! subcommands probed with an unknown flag are read from `--help`, so a new one is covered
//! without editing this file. (What `relay_process.rs` and `sim_cli.rs` already check — an
//! unknown `[log]` field, `rpc.listen = "nowhere"`, a missing batch key, a world-readable key,
//! the first `sim` flag errors — is not repeated here.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{BIN, edit_config, run};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Neither a panic nor a backtrace, whatever the input.
fn no_panic(what: &str, out: &Output) {
    let err = text(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{what}: {err}"
    );
}

/// A fresh `init` directory: keys, chain specs and `a0.toml`…`b3.toml` that validate.
fn init_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    let out = run(&["init", "--dir", dir.path().to_str().expect("a UTF-8 path")]);
    assert!(out.status.success(), "init: {}", text(&out.stderr));
    dir
}

/// Copies `a0.toml` to `<name>.toml` through `f`.
fn variant(dir: &Path, name: &str, f: impl FnOnce(&mut toml::Table)) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::copy(dir.join("a0.toml"), &path).expect("copy a0.toml");
    edit_config(&path, f);
    path
}

/// Runs `config validate` and `start` on `path`: both must fail with exactly one problem,
/// naming the file, `field` and `needle`.
fn refused_with_one_problem(path: &Path, field: &str, needle: &str) {
    let shown = path.display().to_string();
    for args in [
        &["config", "validate", "--config"][..],
        &["start", "--config"],
    ] {
        let out = Command::new(BIN)
            .args(args)
            .arg(path)
            .env_remove("RUST_LOG")
            .output()
            .expect("the binary runs");
        let what = format!("{} {shown} ({field})", args[0]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(
            err.contains(&format!("{shown}: 1 problem")),
            "{what}: one problem: {err}"
        );
        assert!(
            err.contains(&format!("{shown}: {field}: ")),
            "{what}: names the field: {err}"
        );
        assert!(err.contains(needle), "{what}: says {needle:?}: {err}");
        no_panic(&what, &out);
        assert!(out.stdout.is_empty(), "{what}: nothing on stdout");
    }
}

type Edit = Box<dyn FnOnce(&mut toml::Table)>;

fn set(path: &'static [&'static str], value: impl Into<toml::Value>) -> Edit {
    let value = value.into();
    Box::new(move |t: &mut toml::Table| {
        let (last, parents) = path.split_last().expect("a path");
        let mut at = &mut *t;
        for p in parents {
            at = at
                .entry(p.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .expect("a table");
        }
        at.insert(last.to_string(), value);
    })
}

fn set_relay(i: usize, key: &'static str, value: impl Into<toml::Value>) -> Edit {
    let value = value.into();
    Box::new(move |t: &mut toml::Table| {
        let relays = t["relays"].as_array_mut().expect("[[relays]]");
        relays[i]
            .as_table_mut()
            .expect("a table")
            .insert(key.to_owned(), value);
    })
}

fn remove(section: &'static str, key: &'static str) -> Edit {
    Box::new(move |t: &mut toml::Table| {
        t[section].as_table_mut().expect("a table").remove(key);
    })
}

#[test]
fn each_broken_field_is_one_problem_naming_file_field_and_cause() {
    let dir = init_dir();
    let d = dir.path();
    // A key file whose content is not a key (private, so only its content is wrong).
    let garbage = d.join("keys/garbage.batch");
    std::fs::write(&garbage, "not a key\n").expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let too_big = 1_i64 << 40;
    let too_big_text = too_big.to_string();
    let cases: Vec<(&str, Edit, &str, &str)> = vec![
        // Wrong types.
        (
            "index_text",
            set(&["relay", "index"], "zero"),
            "relay.index",
            "invalid type",
        ),
        (
            "admin_text",
            set(&["rpc", "admin"], "yes"),
            "rpc.admin",
            "expected a boolean",
        ),
        (
            "listen_number",
            set(&["network", "listen"], toml::Value::Array(vec![5.into()])),
            "network.listen[0]",
            "invalid type",
        ),
        (
            "stake_text",
            set_relay(3, "stake", "lots"),
            "relays[3].stake",
            "invalid type",
        ),
        // Negative and out-of-range numbers.
        (
            "index_negative",
            set(&["relay", "index"], -1),
            "relay.index",
            "-1",
        ),
        (
            "index_too_big",
            set(&["relay", "index"], too_big),
            "relay.index",
            &too_big_text,
        ),
        (
            "stake_negative",
            set_relay(2, "stake", -5),
            "relays[2].stake",
            "-5",
        ),
        (
            "bound_negative",
            set(&["clusters", "b", "r"], -1),
            "clusters.b.r",
            "-1",
        ),
        (
            "index_not_listed",
            set(&["relay", "index"], 9),
            "relays",
            "not in the list",
        ),
        // Unknown and missing fields.
        (
            "unknown_key_field",
            set(&["keys", "colour"], "blue"),
            "keys",
            "unknown field `colour`",
        ),
        (
            "unknown_relay_field",
            set_relay(3, "weight", 2),
            "relays[3]",
            "unknown field `weight`",
        ),
        (
            "unknown_section",
            set(&["colour", "x"], 1),
            "colour",
            "unknown section",
        ),
        (
            "missing_data_dir",
            remove("relay", "data_dir"),
            "relay",
            "missing field `data_dir`",
        ),
        (
            "missing_peer_id",
            Box::new(|t: &mut toml::Table| {
                t["relays"][1]
                    .as_table_mut()
                    .expect("a table")
                    .remove("peer_id");
            }),
            "relays[1]",
            "missing field `peer_id`",
        ),
        (
            "relays_not_a_list",
            set(&["relays"], 5),
            "relays",
            "array of tables",
        ),
        // Bad addresses.
        (
            "listen_not_multiaddr",
            set(
                &["network", "listen"],
                toml::Value::Array(vec!["127.0.0.1:7100".into()]),
            ),
            "network.listen[0]",
            "127.0.0.1:7100",
        ),
        (
            "peer_addr",
            set_relay(5, "addr", "/ip4/999.0.0.1/tcp/1"),
            "relays[5].addr",
            "999.0.0.1",
        ),
        (
            "endpoint_scheme",
            set(&["chain", "endpoint"], "127.0.0.1:9100"),
            "chain.endpoint",
            "expected http://host:port",
        ),
        (
            "rpc_port",
            set(&["rpc", "listen"], "127.0.0.1:99999"),
            "rpc.listen",
            "99999",
        ),
        // Bad keys.
        (
            "batch_key_hex",
            set_relay(1, "batch_key", "zz".repeat(32)),
            "relays[1].batch_key",
            "hex",
        ),
        (
            "batch_key_short",
            set_relay(1, "batch_key", "abcd"),
            "relays[1].batch_key",
            "abcd",
        ),
        (
            "peer_id",
            set_relay(2, "peer_id", "12D3KooW-not-base58"),
            "relays[2].peer_id",
            "12D3KooW-not-base58",
        ),
        (
            "identity_missing",
            set(&["keys", "identity"], "keys/nope.identity"),
            "keys.identity",
            "nope.identity",
        ),
        (
            "batch_garbage",
            set(&["keys", "batch"], "keys/garbage.batch"),
            "keys.batch",
            "garbage.batch",
        ),
        // Bad values the node cannot run with.
        ("side", set(&["relay", "side"], "c"), "relay.side", "\"c\""),
        (
            "protocol",
            set(&["relay", "protocol"], "bogus"),
            "relay.protocol",
            "bogus",
        ),
        (
            "log_format",
            set(&["log", "format"], "xml"),
            "log.format",
            "xml",
        ),
        (
            "log_level",
            set(&["log", "level"], "info,[[["),
            "log.level",
            "[[[",
        ),
        (
            "spec_not_json",
            set(&["chain", "spec"], "a1.toml"),
            "chain.spec",
            "not a chain spec",
        ),
        (
            "spec_missing",
            set(&["peer_chain", "spec"], "nope.json"),
            "peer_chain.spec",
            "nope.json",
        ),
    ];
    for (name, edit, field, needle) in cases {
        let path = variant(d, name, edit);
        refused_with_one_problem(&path, field, needle);
    }
}

#[test]
fn unreadable_and_unparsable_files_are_one_problem_too() {
    let dir = init_dir();
    let d = dir.path();
    let not_toml = d.join("not_toml.toml");
    std::fs::write(&not_toml, "[relay\nside = \"a\"\n").expect("write");
    refused_with_one_problem(&not_toml, "(syntax)", "TOML parse error");
    let duplicate = d.join("duplicate.toml");
    let a0 = std::fs::read_to_string(d.join("a0.toml")).expect("read");
    std::fs::write(
        &duplicate,
        a0.replacen("[relay]", "[relay]\nside = \"b\"", 1),
    )
    .expect("write");
    refused_with_one_problem(&duplicate, "(syntax)", "duplicate key");
    let binary = d.join("binary.toml");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, b'[', b'r']).expect("write");
    refused_with_one_problem(&binary, "(file)", "UTF-8");
    refused_with_one_problem(&d.join("absent.toml"), "(file)", "cannot read");
    refused_with_one_problem(d, "(file)", "cannot read");

    // An empty file: every missing section, each on its own line.
    let empty = d.join("empty.toml");
    std::fs::write(&empty, "").expect("write");
    let out = Command::new(BIN)
        .args(["config", "validate", "--config"])
        .arg(&empty)
        .output()
        .expect("the binary runs");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let shown = empty.display().to_string();
    for section in ["relay", "keys", "network", "chain", "peer_chain", "relays"] {
        assert!(
            err.contains(&format!("{shown}: {section}: missing")),
            "{section}: {err}"
        );
    }
    no_panic("empty file", &out);
}

/// The subcommands `--help` lists (except `help`).
fn subcommands() -> Vec<String> {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    let list: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect();
    assert!(list.len() >= 8, "too few subcommands in --help: {help}");
    list
}

/// A clap usage error: exit code 2, the error names `needle`, a usage hint, nothing on stdout.
fn usage_error(args: &[&str], needle: &str) {
    let out = run(args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.starts_with("error: "), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: says {needle:?}: {err}");
    assert_eq!(
        err.matches("error:").count(),
        1,
        "{args:?}: one error: {err}"
    );
    no_panic(&format!("{args:?}"), &out);
    assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
}

#[test]
fn every_subcommand_refuses_an_unknown_flag_with_exit_2() {
    for sub in subcommands() {
        usage_error(
            &[&sub, "--no-such-flag"],
            "unexpected argument '--no-such-flag'",
        );
    }
    usage_error(&["no-such-command"], "unrecognized subcommand");
    // A missing subcommand prints the usage (to stderr) and exits 2.
    for args in [&[][..], &["config"], &["keys"]] {
        let out = run(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("Usage: picsou-relay"), "{args:?}: {err}");
        no_panic(&format!("{args:?}"), &out);
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
}

#[test]
fn bad_flag_values_are_usage_errors() {
    let chain = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut v = vec!["chain", "--kind", "algorand", "--validators", "4"];
        v.extend_from_slice(extra);
        v
    };
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["start"], "--config"),
        (vec!["start", "--config"], "a value is required"),
        (vec!["config", "validate"], "--config"),
        (vec!["keys", "show"], "--config"),
        (vec!["init"], "--dir"),
        (
            vec!["init", "--dir", "x", "--nodes-b", "3"],
            "3 is not in 4..=64",
        ),
        (
            vec!["init", "--dir", "x", "--nodes-a", "0"],
            "0 is not in 1..=64",
        ),
        (
            vec!["init", "--dir", "x", "--chain-a-port", "70000"],
            "70000",
        ),
        (vec!["init", "--dir", "x", "--chain-b-port", "-1"], "-1"),
        (
            vec![
                "chain",
                "--kind",
                "bitcoin",
                "--validators",
                "4",
                "--listen",
                "127.0.0.1:0",
            ],
            "bitcoin",
        ),
        (chain(&["--listen", "nowhere"]), "nowhere"),
        (
            chain(&["--listen", "127.0.0.1:0", "--block-interval-ms", "0"]),
            "0 is not in",
        ),
        (chain(&["--listen", "127.0.0.1:0", "--offline", "x"]), "'x'"),
        (chain(&["--listen", "127.0.0.1:0", "--load", "-1"]), "-1"),
        (
            chain(&["--listen", "127.0.0.1:0", "--accounts", "ten"]),
            "ten",
        ),
        (
            chain(&["--listen", "127.0.0.1:0", "--offline", "7"]),
            "--offline",
        ),
        (
            chain(&["--listen", "127.0.0.1:0", "--accounts", "0"]),
            "--accounts",
        ),
        (
            chain(&["--listen", "127.0.0.1:0", "--chain-id", "has space"]),
            "--chain-id",
        ),
        (
            vec![
                "chain",
                "--kind",
                "resdb",
                "--validators",
                "0",
                "--listen",
                "127.0.0.1:0",
            ],
            "0 is not in 1..=128",
        ),
        (
            vec![
                "chain",
                "--kind",
                "resdb",
                "--validators",
                "129",
                "--listen",
                "127.0.0.1:0",
            ],
            "129 is not in 1..=128",
        ),
        (
            vec!["transfer", "--chain", "http://127.0.0.1:1", "--amount", "0"],
            "0 is not in 1..",
        ),
        (
            vec![
                "transfer",
                "--chain",
                "http://127.0.0.1:1",
                "--amount",
                "ten",
            ],
            "ten",
        ),
        (vec!["transfer", "--amount", "5"], "--chain"),
        (vec!["status", "--rpc"], "a value is required"),
        (vec!["devnet", "--nodes-b", "2"], "2 is not in 4..=64"),
        (vec!["devnet", "--protocol", "bogus"], "bogus"),
        (
            vec!["devnet", "--block-interval-ms", "5"],
            "5 is not in 10..=10000",
        ),
        (
            vec!["devnet", "--chaos", "--transfers", "5"],
            "cannot be used with",
        ),
        (vec!["sim", "--messages", "-1"], "-1"),
        (vec!["sim", "--seeds", "0"], "--seeds"),
        (vec!["version", "extra"], "unexpected argument 'extra'"),
    ];
    for (args, needle) in cases {
        usage_error(&args, needle);
    }
}

#[test]
fn checked_values_fail_with_one_clear_line() {
    // Values clap accepts but the command refuses before doing anything: exit 1, one line.
    for (args, needle) in [
        (
            vec!["devnet", "--rate", "0"],
            "--rate must be in (0, 100000]",
        ),
        (
            vec!["devnet", "--rate", "NaN"],
            "--rate must be in (0, 100000]",
        ),
        (vec!["status", "--rpc", "nope://x"], "unsupported scheme"),
        (
            vec!["transfer", "--chain", "ftp://x", "--amount", "5"],
            "expected http://host:port",
        ),
        (
            vec!["keys", "show", "--config", "/nonexistent/a0.toml"],
            "cannot read",
        ),
    ] {
        let out = run(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line: {err}"
        );
        no_panic(&format!("{args:?}"), &out);
    }
}

#[test]
fn bad_sim_specifications_exit_2_naming_the_flag() {
    for (args, needle) in [
        (vec!["--faults", "crash:"], "--faults: bad fault \"crash:\""),
        (vec!["--faults", "crash:x"], "count must be a number"),
        (vec!["--faults", "crash:-1"], "count must be a number"),
        (
            vec!["--faults", "crash:99999999999999999999999"],
            "count must be a number",
        ),
        (vec!["--faults", "crash:1:c"], "side must be a or b"),
        (vec!["--faults", "crash:1,nope:1"], "bad fault \"nope:1\""),
        (vec!["--faults", " , "], "--faults"),
        (vec!["--stake-a", ""], "comma-separated integers"),
        (vec!["--stake-a", "1,,1"], "comma-separated integers"),
        (vec!["--stake-a", "1.5,1,1,1"], "comma-separated integers"),
        (vec!["--stake-b", "x"], "comma-separated integers"),
        (
            vec!["--stake-b", "18446744073709551616,1,1,1"],
            "comma-separated integers",
        ),
        (vec!["--stake-b", "0,0,0,0"], "zero stake"),
        (vec!["--partition", "nonsense"], "--partition"),
        (vec!["--loss", "1.5"], "loss must be in [0, 1)"),
        (vec!["--loss=-0.1"], "loss must be in [0, 1)"),
        (vec!["--loss", "NaN"], "loss must be in [0, 1)"),
        (vec!["--rate", "0"], "rate must be positive"),
        (vec!["--rate", "NaN"], "rate must be positive"),
        (vec!["--flush-delay", "soon"], "--flush-delay"),
        (vec!["--time-limit=-1s"], "--time-limit"),
        (vec!["--directions", "sideways"], "--directions"),
        (vec!["--placement", "nowhere"], "--placement"),
        (vec!["--nodes", "0"], "has no nodes"),
        (vec!["--window", "0"], "window must be at least 1"),
        (vec!["--protocol", ""], "--protocol"),
    ] {
        let mut all = vec!["sim", "--messages", "20"];
        all.extend(args.iter().copied());
        let out = run(&all);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: says {needle:?}: {err}");
        no_panic(&format!("{args:?}"), &out);
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
}
