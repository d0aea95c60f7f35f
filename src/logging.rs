//! Logging: `tracing` to stderr, as text or JSON, with a filter that can be changed while the
//! relay runs (the `admin_setLogLevel` JSON-RPC method).

use std::sync::Arc;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// Changes the log filter at runtime.
#[derive(Debug, Clone)]
pub struct LevelControl(Arc<reload::Handle<EnvFilter, Registry>>);

impl rpc::server::AdminHooks for LevelControl {
    fn set_log_level(&self, directive: &str) -> Result<(), String> {
        let filter = EnvFilter::try_new(directive).map_err(|e| format!("{directive:?}: {e}"))?;
        self.0.reload(filter).map_err(|e| e.to_string())?;
        tracing::info!(directive, "log level changed");
        Ok(())
    }
}

/// Installs the global subscriber. `RUST_LOG`, when set, wins over `level`.
pub fn init(level: &str, json: bool) -> anyhow::Result<LevelControl> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .map_err(|e| anyhow::anyhow!("log level {level:?}: {e}"))?;
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    // Colour only for a terminal: a log file or journald gets plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    if json {
        registry.with(fmt.json()).try_init()?;
    } else {
        registry.with(fmt).try_init()?;
    }
    Ok(LevelControl(Arc::new(handle)))
}
