//! `picsou-relay config validate --config FILE`: checks a configuration and everything it
//! names (keys and their permissions, spec files, addresses, the relay list) and lists every
//! problem at once, each with file and field. Exit code 0 iff there is none.

use crate::config;
use std::path::PathBuf;

/// Flags of `picsou-relay config`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration file; print every problem.
    Validate {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
}

/// Runs `config`.
pub fn run(cmd: ConfigCommand) -> anyhow::Result<()> {
    match cmd {
        ConfigCommand::Validate { config: path } => match config::load(&path) {
            Ok(r) => {
                println!(
                    "{}: ok (relay {}, {} peers, protocol {})",
                    path.display(),
                    r.node.me,
                    r.node.peers.len(),
                    r.node.protocol.name()
                );
                Ok(())
            }
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        },
    }
}
