//! `picsou-relay init --dir DIR`: writes everything a set of relays needs to run beside a devnet
//! pair of chains started with fixed ports — both chains' spec files, a fresh identity key and
//! batch key per relay (mode 0600), and one commented configuration per relay — so that
//!
//! ```sh
//! picsou-relay chain --kind algorand --validators 4 --listen 127.0.0.1:9100 &
//! picsou-relay chain --kind resdb    --validators 4 --listen 127.0.0.1:9200 &
//! picsou-relay start --config DIR/a0.toml      # … and a1..a3, b0..b3
//! ```
//!
//! runs as is. Relay `a<i>` uses validator `i` of chain A (`127.0.0.1:9100+i`), libp2p port
//! `7100+i` and JSON-RPC port `8100+i`; relay `b<i>` uses `9200+i`, `7200+i` and `8200+i`.
//! For a real deployment, edit the endpoints, addresses and spec files in each configuration.

use crate::devnet::{Ports, write_relays, write_specs};
use anyhow::Context as _;
use std::path::PathBuf;

/// Flags of `picsou-relay init`.
#[derive(Debug, Clone, clap::Args)]
pub struct InitArgs {
    /// Directory to write into (created; must not already hold a configuration).
    #[arg(long)]
    pub dir: PathBuf,
    /// Relays (validators) of chain A.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub nodes_a: u16,
    /// Relays (validators) of chain B (at least 4).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(4..=64))]
    pub nodes_b: u16,
    /// First endpoint of chain A's validators (validator i serves PORT+i).
    #[arg(long, default_value_t = 9100)]
    pub chain_a_port: u16,
    /// First endpoint of chain B's validators.
    #[arg(long, default_value_t = 9200)]
    pub chain_b_port: u16,
}

/// Runs `init`.
pub fn run(args: InitArgs) -> anyhow::Result<()> {
    if args.dir.join("a0.toml").exists() {
        anyhow::bail!(
            "{} already holds a configuration; refusing to overwrite keys",
            args.dir.display()
        );
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let (n_a, n_b) = (usize::from(args.nodes_a), usize::from(args.nodes_b));
    write_specs(&args.dir, n_a, n_b)?;
    let endpoints = |base: u16, n: usize| -> Vec<String> {
        (0..n)
            .map(|i| format!("http://127.0.0.1:{}", usize::from(base) + i))
            .collect()
    };
    let relays = write_relays(
        &args.dir,
        &endpoints(args.chain_a_port, n_a),
        &endpoints(args.chain_b_port, n_b),
        "picsou",
        Ports::Fixed,
    )?;
    println!(
        "wrote {} relay configurations to {}",
        relays.len(),
        args.dir.display()
    );
    for r in &relays {
        println!(
            "  {}  {}  peer {}  rpc {}",
            r.name,
            r.config.display(),
            r.peer_id,
            r.rpc_url()
        );
    }
    println!(
        "start the chains with --listen 127.0.0.1:{} (algorand) and 127.0.0.1:{} (resdb), then `picsou-relay start --config <file>` for each relay",
        args.chain_a_port, args.chain_b_port
    );
    Ok(())
}
