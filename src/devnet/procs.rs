//! Child processes of a devnet: the two chain processes and one relay process per validator,
//! each logging to its own file. Children are stopped with SIGTERM (then SIGKILL after a grace
//! period) and are killed if the devnet itself goes away.

use anyhow::Context as _;
use chains::devnet::Announcement;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// How long a child may take to stop after SIGTERM.
const GRACE: Duration = Duration::from_secs(6);

/// One running child.
#[derive(Debug)]
pub struct Proc {
    /// Name for messages, e.g. `relay a1`.
    pub name: String,
    child: Child,
    args: Vec<String>,
    log: PathBuf,
}

fn log_file(path: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open log {}", path.display()))
}

fn spawn(args: &[String], log: &Path, stdout: Stdio) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("cannot find the picsou-relay binary")?;
    Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(log_file(log)?)
        .kill_on_drop(true)
        .spawn()
        .context("cannot start a child process")
}

impl Proc {
    /// Starts `picsou-relay <args>` logging to `log`.
    pub fn start(name: &str, args: Vec<String>, log: PathBuf) -> anyhow::Result<Proc> {
        let child = spawn(&args, &log, Stdio::null())?;
        Ok(Proc {
            name: name.to_owned(),
            child,
            args,
            log,
        })
    }

    /// Starts a chain process and reads the JSON line it prints.
    pub async fn start_chain(
        name: &str,
        args: Vec<String>,
        log: PathBuf,
    ) -> anyhow::Result<(Proc, Announcement)> {
        let mut child = spawn(&args, &log, Stdio::piped())?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .with_context(|| format!("{name} printed nothing within 60 s; see {}", log.display()))??
            .with_context(|| format!("{name} exited at start; see {}", log.display()))?;
        let ann: Announcement = serde_json::from_str(&line)
            .with_context(|| format!("{name} printed {line:?}, not its endpoints"))?;
        Ok((
            Proc {
                name: name.to_owned(),
                child,
                args,
                log,
            },
            ann,
        ))
    }

    /// Whether it has exited (and how).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGKILL, then wait for it.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Starts it again with the same arguments (after [`Proc::kill`]).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.child = spawn(&self.args, &self.log, Stdio::null())?;
        Ok(())
    }

    /// SIGTERM, wait up to the grace period, then SIGKILL. Returns the exit status if it
    /// stopped by itself.
    pub async fn stop(&mut self) -> Option<std::process::ExitStatus> {
        if let Some(s) = self.exited() {
            return Some(s);
        }
        if let Some(pid) = self.child.id() {
            let pid = nix::unistd::Pid::from_raw(pid as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
        match tokio::time::timeout(GRACE, self.child.wait()).await {
            Ok(Ok(s)) => Some(s),
            _ => {
                let _ = self.child.kill().await;
                None
            }
        }
    }
}
