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
