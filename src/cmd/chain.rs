//! `picsou-relay chain`: runs a devnet chain process — a whole validator set of one chain model,
//! one JSON-RPC endpoint per validator — until interrupted.
//!
//! On start it prints exactly one JSON line to stdout,
//! `{"chain": <id>, "kind": "algorand"|"resdb", "endpoints": ["http://127.0.0.1:…", …]}`,
//! where `endpoints[i]` is validator `i`'s endpoint (HTTP and WebSocket on the same port). Logs
//! go to stderr.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use chains::devnet::DevnetConfig;
use chains::types::ChainKind;

/// The chain model to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KindArg {
    /// The Algorand-style chain (stake-weighted ed25519 vote certificates).
    Algorand,
    /// The ResDB-style chain (PBFT, 2f+1 of 3f+1 commit certificates).
    Resdb,
}

/// Flags of `picsou-relay chain`.
#[derive(Debug, Clone, clap::Args)]
pub struct ChainArgs {
    /// Which chain model to run.
    #[arg(long, value_enum)]
    pub kind: KindArg,
    /// Number of validators; each serves its own endpoint (resdb: at least 4).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=128))]
    pub validators: u16,
    /// Validator 0's endpoint, e.g. 127.0.0.1:9100; validator i listens on PORT+i. With port 0,
    /// every endpoint gets a free port (read them from the printed line).
    #[arg(long)]
    pub listen: SocketAddr,
    /// Time between blocks, in milliseconds.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub block_interval_ms: u64,
    /// Keep submitting this many random valid transactions per second (transfers and
    /// bridge-outs), so blocks are not empty.
    #[arg(long, default_value_t = 0, value_name = "TPS")]
    pub load: u32,
    /// Comma-separated validator indices that do not sign (their endpoints still serve).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub offline: Vec<usize>,
    /// Keep the chain's state in this directory, so a restart continues where it stopped.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Seed of every devnet key (validators and accounts); both chains of a devnet use the same.
    #[arg(long, default_value = "picsou-devnet")]
    pub seed: String,
    /// This chain's id [default: algorand-devnet or resdb-devnet].
    #[arg(long)]
    pub chain_id: Option<String>,
    /// The peer chain's id (the other model): the destination of bridge-outs and the source of
    /// accepted bridge-ins [default: the other model's default id].
    #[arg(long)]
    pub peer_chain_id: Option<String>,
    /// The peer chain's validator count; must match the peer process [default: --validators,
    /// at least 4 for a resdb peer].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=128))]
    pub peer_validators: Option<u16>,
    /// Funded devnet accounts on each chain; must match the peer process.
    #[arg(long, default_value_t = chains::devnet::DEFAULT_ACCOUNTS)]
    pub accounts: u64,
}

impl ChainArgs {
    /// The library's settings for these flags (not yet validated).
    pub fn to_config(&self) -> DevnetConfig {
        let kind = match self.kind {
            KindArg::Algorand => ChainKind::Algorand,
            KindArg::Resdb => ChainKind::Resdb,
        };
        let mut c = DevnetConfig::new(kind, usize::from(self.validators), self.listen);
        c.block_interval = Duration::from_millis(self.block_interval_ms);
        c.load_tps = self.load;
        c.offline = self.offline.iter().copied().collect::<BTreeSet<_>>();
        c.dir = self.dir.clone();
        c.seed = self.seed.clone();
        c.chain_id = self.chain_id.clone();
        c.peer_chain_id = self.peer_chain_id.clone();
        c.peer_validators = self.peer_validators.map(usize::from);
        c.accounts = self.accounts;
        c
    }
}

/// Runs the chain until Ctrl-C or SIGTERM; fails if it cannot start or its block producer stops.
pub fn run(args: ChainArgs) -> anyhow::Result<()> {
    let config = args.to_config();
    if let Err(e) = config.validate() {
        // A bad flag: report it like the argument parser does (one line, exit status 2).
        eprintln!("error: {e}\n\nFor more information, try '--help'.");
        std::process::exit(2);
    }
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: DevnetConfig) -> anyhow::Result<()> {
    let mut chain = chains::devnet::start(config).await?;
    println!("{}", serde_json::to_string(chain.announcement())?);
    tracing::info!(
        chain = %chain.announcement().chain,
        kind = %chain.announcement().kind,
        endpoints = ?chain.endpoints(),
        height = %chain.tip(),
        "devnet chain running"
    );
    let outcome = tokio::select! {
        r = shutdown_signal() => r,
        () = chain.failed() => Err(anyhow::anyhow!("the block producer stopped; see the log")),
    };
    chain.stop().await;
    tracing::info!("devnet chain stopped");
    outcome
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM.
async fn shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot listen for SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("cannot listen for Ctrl-C"),
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .context("cannot listen for Ctrl-C")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        args: ChainArgs,
    }

    #[test]
    fn flags_parse_into_settings() {
        let t = T::try_parse_from([
            "t",
            "--kind",
            "resdb",
            "--validators",
            "4",
            "--listen",
            "127.0.0.1:0",
            "--offline",
            "1,3",
            "--load",
            "50",
        ])
        .expect("valid flags");
        let c = t.args.to_config();
        assert_eq!(c.kind, ChainKind::Resdb);
        assert_eq!(c.offline.into_iter().collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(c.block_interval, Duration::from_millis(200));
        assert_eq!(c.load_tps, 50);
    }

    #[test]
    fn bad_flags_are_refused() {
        for bad in [
            &[
                "t",
                "--kind",
                "eth",
                "--validators",
                "4",
                "--listen",
                "127.0.0.1:0",
            ][..],
            &[
                "t",
                "--kind",
                "resdb",
                "--validators",
                "0",
                "--listen",
                "127.0.0.1:0",
            ],
            &[
                "t",
                "--kind",
                "resdb",
                "--validators",
                "4",
                "--listen",
                "localhost",
            ],
            &[
                "t",
                "--kind",
                "resdb",
                "--validators",
                "4",
                "--listen",
                "127.0.0.1:0",
                "--block-interval-ms",
                "0",
            ],
        ] {
            assert!(T::try_parse_from(bad).is_err(), "{bad:?}");
        }
        let t = T::try_parse_from([
            "t",
            "--kind",
            "resdb",
            "--validators",
            "4",
            "--listen",
            "127.0.0.1:0",
            "--offline",
            "4",
        ])
        .expect("parses");
        let err = t
            .args
            .to_config()
            .validate()
            .expect_err("validator 4 does not exist");
        assert!(err.to_string().contains("--offline"), "{err}");
    }
}
