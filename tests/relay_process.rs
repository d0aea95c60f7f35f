//! `picsou-relay init`, `config validate` and `start` as real processes: generated keys are
//! private and configurations valid; a broken configuration gets every problem named at once;
//! a world-readable key is refused; a relay whose key the others do not list cannot connect;
//! SIGTERM stops a relay cleanly.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{BIN, Running};

fn init(dir: &Path) {
    let out = Command::new(BIN)
        .arg("init")
        .arg("--dir")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start(config: &Path) -> Running {
    Running(
        Command::new(BIN)
            .args(["start", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn init_writes_private_keys_and_valid_configs() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    for name in ["a0", "a3", "b0", "b3"] {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(format!("keys/{name}.identity")))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        let out = Command::new(BIN)
            .args(["config", "validate", "--config"])
            .arg(dir.path().join(format!("{name}.toml")))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A second init into the same directory refuses to overwrite keys.
    let again = Command::new(BIN)
        .arg("init")
        .arg("--dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!again.status.success());
}

#[test]
fn config_validate_lists_every_problem_with_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let path = dir.path().join("a0.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let broken = text
        .replacen("listen = \"127.0.0.1:8100\"", "listen = \"nowhere\"", 1)
        .replacen("[log]", "[log]\ncolour = \"blue\"", 1)
        .replacen(
            "batch = \"keys/a0.batch\"",
            "batch = \"keys/missing.batch\"",
            1,
        );
    std::fs::write(&path, broken).unwrap();
    let out = Command::new(BIN)
        .args(["config", "validate", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    // Shape problems come first (the unknown field); the rest are reported once the shape is
    // right. Fix it and all the others appear together.
    assert!(
        err.contains("a0.toml: log:") && err.contains("colour"),
        "{err}"
    );
    let fixed = std::fs::read_to_string(&path)
        .unwrap()
        .replacen("colour = \"blue\"\n", "", 1);
    std::fs::write(&path, fixed).unwrap();
    let out = Command::new(BIN)
        .args(["config", "validate", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2 problems"), "{err}");
    assert!(err.contains("a0.toml: rpc.listen: \"nowhere\""), "{err}");
    assert!(
        err.contains("a0.toml: keys.batch:") && err.contains("missing.batch"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn a_world_readable_key_is_refused_at_start() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let key = dir.path().join("keys/a2.batch");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new(BIN)
        .args(["start", "--config"])
        .arg(dir.path().join("a2.toml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("keys.batch") && err.contains("chmod 600"),
        "{err}"
    );
}

#[test]
fn a_relay_with_an_unknown_key_cannot_connect_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    // b0 gets a new identity that nobody else lists (its own file is updated so it starts).
    let out = Command::new(BIN)
        .args(["keys", "show", "--config"])
        .arg(dir.path().join("b0.toml"))
        .output()
        .unwrap();
    let old_peer = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("peer_id").map(|p| p.trim().to_owned()))
        .unwrap();
    std::fs::remove_file(dir.path().join("keys/b0.identity")).unwrap();
    std::fs::write(
        dir.path().join("keys/b0.identity"),
        format!("{}\n", "42".repeat(32)),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            dir.path().join("keys/b0.identity"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    let out = Command::new(BIN)
        .args(["keys", "show", "--config"])
        .arg(dir.path().join("b0.toml"))
        .output()
        .unwrap();
    let new_peer = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("peer_id").map(|p| p.trim().to_owned()))
        .unwrap();
    assert_ne!(old_peer, new_peer);
    let b0_cfg = dir.path().join("b0.toml");
    let text = std::fs::read_to_string(&b0_cfg)
        .unwrap()
        .replace(&old_peer, &new_peer);
    std::fs::write(&b0_cfg, text).unwrap();

    let mut a0 = start(&dir.path().join("a0.toml"));
    let _b0 = start(&b0_cfg);
    let rt = runtime();
    let a0_rpc = rpc::client::RelayClient::new("http://127.0.0.1:8100").unwrap();
    let start_t = Instant::now();
    let refused = loop {
        assert!(
            start_t.elapsed() < Duration::from_secs(20),
            "a0 never refused the stranger"
        );
        if let Ok(m) = rt.block_on(a0_rpc.metrics()) {
            let n: f64 = m
                .lines()
                .find_map(|l| l.strip_prefix("picsou_refused_connections_total "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0.0);
            if n >= 1.0 {
                break n;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(refused >= 1.0);
    let peers = rt.block_on(a0_rpc.peers()).unwrap();
    let b0 = peers.iter().find(|p| p.node == "B0").unwrap();
    assert!(
        !b0.connected,
        "B0 with an unknown key must not be connected: {b0:?}"
    );
    assert_eq!(b0.peer_id, old_peer, "a0 still expects the configured key");

    // SIGTERM: a0 exits 0 within 5 s.
    let pid = nix::unistd::Pid::from_raw(a0.0.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(s) = a0.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "a0 did not stop within 5 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "SIGTERM exit: {status}");
}
