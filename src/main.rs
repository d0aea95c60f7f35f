//! `picsou-relay`: the command-line entry point.

use clap::{Parser, Subcommand};

mod cmd {
    pub mod chain;
    pub mod sim;
}

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
    /// Run a devnet chain: a whole validator set of one chain model, one JSON-RPC endpoint per
    /// validator.
    Chain(cmd::chain::ChainArgs),
    /// Run the deterministic simulator (protocols, network model, faults, invariants).
    Sim(cmd::sim::SimArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("picsou-relay {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Chain(args) => cmd::chain::run(args),
        Command::Sim(args) => cmd::sim::run(args),
    }
}
