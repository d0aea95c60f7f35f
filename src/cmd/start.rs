//! `picsou-relay start --config FILE`: runs one relay until SIGINT or SIGTERM.
//!
//! On a first signal the relay stops intake, drains and flushes its database, closes its
//! connections and exits 0 (within 5 s, or it exits 1 saying what hung); a second signal exits at
//! once with code 130.

use crate::{config, logging};
use anyhow::Context as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How long a graceful stop may take.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Flags of `picsou-relay start`.
#[derive(Debug, Clone, clap::Args)]
pub struct StartArgs {
    /// The relay's configuration file (see `picsou-relay init`).
    #[arg(long, short)]
    pub config: PathBuf,
    /// Override `[log] level` (a tracing filter, e.g. `debug` or `relayer=debug,info`).
    #[arg(long)]
    pub log_level: Option<String>,
    /// Override `[log] format`.
    #[arg(long, value_parser = ["text", "json"])]
    pub log_format: Option<String>,
}

/// Runs the relay.
pub fn run(args: StartArgs) -> anyhow::Result<()> {
    let resolved = config::load(&args.config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let level = args.log_level.unwrap_or(resolved.log.level.clone());
    let json = args.log_format.as_deref().unwrap_or(&resolved.log.format) == "json";
    let control = logging::init(&level, json)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(serve(resolved, control))
}

async fn serve(resolved: config::Resolved, control: logging::LevelControl) -> anyhow::Result<()> {
    let node = relayer::node::start(resolved.node)
        .await
        .context("cannot start the relay")?;
    let admin: Option<Arc<dyn rpc::server::AdminHooks>> =
        if resolved.admin && resolved.rpc.ip().is_loopback() {
            Some(Arc::new(control))
        } else {
            None
        };
    let server = rpc::server::serve(
        rpc::server::RpcConfig {
            listen: resolved.rpc,
            ..Default::default()
        },
        node.handle(),
        admin,
    )
    .await
    .context("cannot start JSON-RPC")?;
    tracing::info!(rpc = %server.url(), peer_id = %node.peer_id(), "serving");
    let mut node = node;
    let outcome = tokio::select! {
        r = node.wait() => Some(r),
        r = shutdown_signal() => { r?; None }
    };
    if let Some(r) = outcome {
        server.stop().await;
        return r.context("the relay stopped");
    }
    tracing::info!("stopping (a second signal exits at once)");
    let stopping = async {
        server.stop().await;
        node.stop().await
    };
    tokio::select! {
        r = tokio::time::timeout(STOP_GRACE, stopping) => match r {
            Ok(r) => r.context("stopping the relay")?,
            Err(_) => anyhow::bail!("the relay did not stop within {STOP_GRACE:?}"),
        },
        _ = shutdown_signal() => {
            tracing::warn!("second signal: exiting now");
            std::process::exit(130);
        }
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.context("cannot watch Ctrl-C")
    }
}
