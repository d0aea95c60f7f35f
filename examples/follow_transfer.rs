//! Submit one bridge transfer on a devnet chain and follow it to `committed` through a relay of
//! the destination chain, over JSON-RPC.
//!
//! ```sh
//! picsou-relay devnet            # prints {"chains": {"a": {"endpoints": [...]}}, "rpc": [...]}
//! cargo run --release --example follow_transfer -- <chain A endpoint> <RPC URL of a B relay>
//! ```
//! (the B relays are the last four URLs of `rpc` in a default 4 + 4 devnet).

use chains::devnet::client::DevnetClient;
use chains::devnet::default_chain_id;
use chains::engine::EngineConfig;
use chains::types::{ChainId, ChainKind};
use rpc::client::RelayClient;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(chain_url), Some(relay_url)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: follow_transfer <source chain endpoint> <destination relay RPC URL>");
    };
    let chain = DevnetClient::new(&chain_url)?;
    let status = chain.status().await?;
    let kind = status.kind;
    let other = match kind {
        ChainKind::Algorand => ChainKind::Resdb,
        ChainKind::Resdb => ChainKind::Algorand,
    };
    // Devnet accounts are derived from the devnet seed; account 7 pays, account 7 receives.
    let src = EngineConfig::devnet(
        kind,
        ChainId::new(status.chain.clone())?,
        "picsou-devnet",
        4,
        64,
    );
    let dst = EngineConfig::devnet(
        other,
        ChainId::new(default_chain_id(other))?,
        "picsou-devnet",
        4,
        64,
    );
    let payer = src.account_key(7);
    let nonce = chain
        .account(&payer.address())
        .await?
        .map_or(0, |a| a.nonce)
        + 1;
    let (tx, id) = src.bridge_out(&dst, 7, 42, nonce);
    let tx_id = chain.submit(&tx).await?;
    println!(
        "submitted BridgeOut {} → transfer {}",
        tx_id.0.to_hex(),
        id.0.to_hex()
    );

    let relay = RelayClient::new(&relay_url)?;
    let start = Instant::now();
    let mut last = None;
    loop {
        if let Some(t) = relay.transfer(&id.0.to_hex()).await? {
            if last != Some(t.status) {
                println!(
                    "{:>6} ms  {}",
                    start.elapsed().as_millis(),
                    serde_json::to_string(&t)?
                );
                last = Some(t.status);
            }
            if t.status.name() == "committed" {
                return Ok(());
            }
        }
        if start.elapsed() > Duration::from_secs(60) {
            anyhow::bail!("not committed after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
