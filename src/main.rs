//! `picsou-relay`: the command-line entry point.

use clap::{Parser, Subcommand};

/// A relayer that bridges two permissioned chains with the Picsou protocol.
#[derive(Debug, Parser)]
#[command(name = "picsou-relay", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the version and exit.
    Version,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("picsou-relay {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    }
}
