//! `picsou-relay keys show --config FILE`: prints the relay's peer id and public keys, the
//! values other relays list for it in their `[[relays]]` tables.

use crate::{config, keys};
use std::path::PathBuf;

/// Flags of `picsou-relay keys`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum KeysCommand {
    /// Print this relay's peer id and batch public key.
    Show {
        /// The relay's configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
}

/// Runs `keys`.
pub fn run(cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Show { config: path } => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
            let f = config::parse(&path, &text, std::env::vars())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let base = path.parent().map(PathBuf::from).unwrap_or_default();
            let at = |p: &PathBuf| {
                if p.is_absolute() {
                    p.clone()
                } else {
                    base.join(p)
                }
            };
            let id = keys::read_identity(&at(&f.keys.identity))?;
            let batch = keys::read_batch_key(&at(&f.keys.batch))?;
            println!("relay      {}{}", f.relay.side, f.relay.index);
            println!("peer_id    {}", id.public().to_peer_id());
            println!(
                "batch_key  {}",
                hex::encode(batch.verifying_key().as_bytes())
            );
            println!("listen     {}", f.network.listen.join(", "));
            Ok(())
        }
    }
}
