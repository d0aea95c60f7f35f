//! `picsou-relay`: the command-line entry point.
//!
//! Subcommands: `devnet` (the whole system on one machine), `init` and `start` (one relay),
//! `chain` (a devnet chain process), `transfer`, `status`, `keys`, `config`, `sim` (the deterministic simulator),
//! `bench` (real transport), `sweep` (the paper's figures in simulation) and `version`.

use clap::{Parser, Subcommand};

mod cmd {
    pub mod bench;
    pub mod chain;
    pub mod init;
    pub mod keys;
    pub mod sim;
    pub mod start;
    pub mod status;
    pub mod sweep;
    pub mod transfer;
    pub mod validate;
}
mod bench;
mod charts;
mod config;
mod devnet;
mod keys;
mod logging;
mod sweep;

/// A relayer that bridges two permissioned chains with the Picsou protocol.
#[derive(Debug, Parser)]
#[command(name = "picsou-relay", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run both chains and every relay on this machine, drive transfers both ways, and report.
    Devnet(devnet::DevnetArgs),
    /// Run one relay from its configuration file.
    Start(cmd::start::StartArgs),
    /// Write keys (0600), chain specs and commented configurations for a set of relays.
    Init(cmd::init::InitArgs),
    /// Show a running relay's streams, peers and recent transfers.
    Status(cmd::status::StatusArgs),
    /// Devnet helper: submit one bridge transfer and optionally follow it to `committed`.
    Transfer(cmd::transfer::TransferArgs),
    /// Show this relay's keys.
    #[command(subcommand)]
    Keys(cmd::keys::KeysCommand),
    /// Check a configuration file.
    #[command(subcommand)]
    Config(cmd::validate::ConfigCommand),
    /// Run a devnet chain: a whole validator set of one chain model, one JSON-RPC endpoint per
    /// validator.
    Chain(cmd::chain::ChainArgs),
    /// Run the deterministic simulator (protocols, network model, faults, invariants).
    Sim(Box<cmd::sim::SimArgs>),
    /// Benchmark Picsou against the baselines over real libp2p on loopback.
    Bench(Box<cmd::bench::BenchArgs>),
    /// Reproduce the paper's figures with the simulator: series of runs, tables, the paper's
    /// bounds checked, `--plot`.
    Sweep(cmd::sweep::SweepArgs),
    /// Print the version and exit.
    Version,
}

/// Errors are printed as one line with their causes (`error: what: why: …`), without a
/// backtrace, and exit with code 1.
fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Version => {
            println!("picsou-relay {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Devnet(args) => devnet::run(args),
        Command::Start(args) => cmd::start::run(args),
        Command::Init(args) => cmd::init::run(args),
        Command::Transfer(args) => cmd::transfer::run(args),
        Command::Status(args) => cmd::status::run(args),
        Command::Keys(c) => cmd::keys::run(c),
        Command::Config(c) => cmd::validate::run(c),
        Command::Chain(args) => cmd::chain::run(args),
        Command::Sim(args) => cmd::sim::run(*args),
        Command::Bench(args) => cmd::bench::run(*args),
        Command::Sweep(args) => cmd::sweep::run(args),
    }
}
