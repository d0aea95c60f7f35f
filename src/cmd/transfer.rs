//! `picsou-relay transfer`: a devnet helper. Submits one `BridgeOut` from a devnet account of the
//! chain at `--chain` to the same-numbered account of the other chain, prints the transfer id,
//! and with `--follow RELAY_URL` (a relay of the destination chain) follows it to `committed`.

use anyhow::Context as _;
use chains::devnet::client::DevnetClient;
use chains::devnet::default_chain_id;
use chains::engine::EngineConfig;
use chains::types::{ChainId, ChainKind};
use std::time::{Duration, Instant};

/// Flags of `picsou-relay transfer`.
#[derive(Debug, Clone, clap::Args)]
pub struct TransferArgs {
    /// Endpoint of a validator of the source chain.
    #[arg(long)]
    pub chain: String,
    /// Devnet account index that pays (and, on the other chain, receives).
    #[arg(long, default_value_t = 0)]
    pub account: u64,
    /// Amount.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub amount: u64,
    /// The devnet seed both chains were started with.
    #[arg(long, default_value = "picsou-devnet")]
    pub seed: String,
    /// JSON-RPC URL of a relay of the destination chain: wait until it reports `committed`.
    #[arg(long)]
    pub follow: Option<String>,
}

/// Runs `transfer`.
pub fn run(args: TransferArgs) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(transfer(args))
}

async fn transfer(args: TransferArgs) -> anyhow::Result<()> {
    let chain = DevnetClient::new(&args.chain)?;
    let status = chain
        .status()
        .await
        .with_context(|| format!("cannot reach the chain at {}", args.chain))?;
    let other = match status.kind {
        ChainKind::Algorand => ChainKind::Resdb,
        ChainKind::Resdb => ChainKind::Algorand,
    };
    let config = |kind, id: &str| -> anyhow::Result<EngineConfig> {
        Ok(EngineConfig::devnet(
            kind,
            ChainId::new(id)?,
            &args.seed,
            4,
            64,
        ))
    };
    let src = config(status.kind, &status.chain)?;
    let dst = config(other, default_chain_id(other))?;
    let nonce = chain
        .account(&src.account_key(args.account).address())
        .await?
        .map_or(0, |a| a.nonce)
        + 1;
    let (tx, id) = src.bridge_out(&dst, args.account, args.amount, nonce);
    chain
        .submit(&tx)
        .await
        .context("the chain refused the transfer")?;
    println!("{}", id.0.to_hex());
    let Some(url) = args.follow else {
        return Ok(());
    };
    let relay = rpc::client::RelayClient::new(&url)?;
    let start = Instant::now();
    let mut last = None;
    while start.elapsed() < Duration::from_secs(60) {
        if let Some(t) = relay.transfer(&id.0.to_hex()).await? {
            if last != Some(t.status) {
                eprintln!("{:>6} ms  {}", start.elapsed().as_millis(), t.status.name());
                last = Some(t.status);
            }
            if t.status.name() == "committed" {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("not committed at {url} within 60 s")
}
