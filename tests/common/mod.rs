//! Helpers shared by the process tests: the binary's path, a child that is killed when the test
//! ends, and starting a devnet chain process and reading the line it prints.

#![allow(dead_code, reason = "each test file uses a different subset")]

use chains::devnet::Announcement;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The `picsou-relay` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_picsou-relay");

/// Kills the child when the test ends, however it ends.
#[derive(Debug)]
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `picsou-relay <args>` to completion.
pub fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Starts `picsou-relay chain <args>` and returns it with the line it printed.
pub fn start_chain(args: &[&str]) -> (Running, Announcement) {
    let mut child = Command::new(BIN)
        .arg("chain")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let running = Running(child);
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("a line within 30 s");
    let announcement: Announcement =
        serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("bad line {line:?}: {e}"));
    (running, announcement)
}

/// One relay of a set written by [`init_relays`].
#[derive(Debug, Clone)]
pub struct RelayFiles {
    /// `a0`, `b3`, …
    pub name: String,
    /// Its configuration file.
    pub config: std::path::PathBuf,
    /// Its JSON-RPC address.
    pub rpc: std::net::SocketAddr,
    /// Its database directory.
    pub data_dir: std::path::PathBuf,
}

impl RelayFiles {
    /// `http://` URL of its JSON-RPC.
    pub fn url(&self) -> String {
        format!("http://{}", self.rpc)
    }
}

/// `n` distinct free loopback ports (see `chains::devnet::ports`).
pub fn free_ports(n: usize) -> Vec<u16> {
    chains::devnet::ports::free_loopback_ports(n).expect("free loopback ports")
}

/// Runs `picsou-relay init --dir dir` for `chain_a.len()` + `chain_b.len()` relays, then moves
/// every relay to free libp2p and RPC ports and points relay `a<i>` at `chain_a[i]` and `b<i>` at
/// `chain_b[i]` (so tests can run side by side; `init` itself writes fixed ports).
pub fn init_relays(
    dir: &std::path::Path,
    chain_a: &[String],
    chain_b: &[String],
) -> Vec<RelayFiles> {
    let out = run(&[
        "init",
        "--dir",
        dir.to_str().expect("a UTF-8 temp path"),
        "--nodes-a",
        &chain_a.len().to_string(),
        "--nodes-b",
        &chain_b.len().to_string(),
    ]);
    assert!(
        out.status.success(),
        "init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<(String, &str, usize, &String)> = [("a", chain_a), ("b", chain_b)]
        .into_iter()
        .flat_map(|(side, eps)| {
            eps.iter()
                .enumerate()
                .map(move |(i, ep)| (format!("{side}{i}"), side, i, ep))
        })
        .collect();
    let ports = free_ports(2 * names.len());
    let p2p = |side: &str, index: usize| -> String {
        let at = names
            .iter()
            .position(|(_, s, i, _)| *s == side && *i == index)
            .expect("a relay of the set");
        format!("/ip4/127.0.0.1/tcp/{}", ports[2 * at])
    };
    let mut relays = Vec::new();
    for (at, (name, side, index, endpoint)) in names.iter().enumerate() {
        let config = dir.join(format!("{name}.toml"));
        let rpc = std::net::SocketAddr::from(([127, 0, 0, 1], ports[2 * at + 1]));
        edit_config(&config, |t| {
            t["network"]["listen"] = toml::Value::Array(vec![p2p(side, *index).into()]);
            t["rpc"]["listen"] = rpc.to_string().into();
            t["chain"]["endpoint"] = endpoint.as_str().into();
            let relays = t["relays"].as_array_mut().expect("[[relays]]");
            for r in relays {
                let side = r["side"].as_str().expect("side").to_owned();
                let index = r["index"].as_integer().expect("index");
                r["addr"] = p2p(&side, usize::try_from(index).expect("index")).into();
            }
        });
        relays.push(RelayFiles {
            name: name.clone(),
            config,
            rpc,
            data_dir: dir.join("data").join(name),
        });
    }
    relays
}

/// Rewrites a relay configuration through `f` (comments are not kept).
pub fn edit_config(path: &std::path::Path, f: impl FnOnce(&mut toml::Table)) {
    let text = std::fs::read_to_string(path).expect("the configuration reads");
    let mut table: toml::Table = text.parse().expect("the configuration is TOML");
    f(&mut table);
    std::fs::write(path, toml::to_string(&table).expect("TOML renders")).expect("writes");
}

/// Starts `picsou-relay start --config <relay>` with extra environment variables; its log goes
/// to `<config dir>/<name>.log` (appended, so restarts keep the history).
pub fn start_relay(relay: &RelayFiles, env: &[(&str, &str)]) -> Running {
    let log_path = relay.config.with_extension("log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .expect("the log file opens");
    Running(
        Command::new(BIN)
            .args(["start", "--config"])
            .arg(&relay.config)
            .envs(env.iter().copied())
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the binary starts"),
    )
}

/// `GET path` on `addr`: the HTTP status and body (HTTP/1.1, one request per connection).
pub fn http_get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, raw.clone());
    let (head, body) = raw.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(bad)?;
    Ok((status, body.to_owned()))
}

/// Polls `f` every 100 ms until it returns `Some`, or panics naming `what` after `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends SIGTERM and waits up to `limit` for the exit status.
pub fn sigterm(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("a pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM is sent");
    wait_for(limit, "the process to exit after SIGTERM", || {
        child.try_wait().expect("try_wait")
    })
}

/// Polls `f` every 100 ms until it returns `Ok`; after `limit`, panics naming `what` with the
/// last `Err` it returned (what was observed instead).
pub fn wait_until<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let start = std::time::Instant::now();
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) => assert!(
                start.elapsed() < limit,
                "timed out after {limit:?} waiting for {what}; last seen: {last}"
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
