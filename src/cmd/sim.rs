//! `picsou-relay sim`: runs the deterministic simulator (`relayer::sim`) for one or more
//! protocols and seeds, prints a table (or one JSON object per run with `--json`), and exits
//! non-zero with a replay command when any run breaks an invariant.
//!
//! Exit codes: 0 all runs fine; 1 some run has violations; 2 bad flags or configuration.

use anyhow::Context as _;
use clap::Parser as _;
use relayer::protocol::{ClusterConfig, ProtocolKind};
use relayer::sim::{self, Directions, FaultSpec, NetConfig, Partition, Placement, SimConfig};
use relayer::types::{Side, Stake};

/// Flags of `picsou-relay sim`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Protocols to run, comma-separated (picsou, ost, ata, ll, otu) or `all`.
    #[arg(long, default_value = "picsou")]
    pub protocol: String,
    /// Nodes in each cluster (unit stake).
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Nodes in cluster A (overrides --nodes).
    #[arg(long)]
    pub nodes_a: Option<usize>,
    /// Nodes in cluster B (overrides --nodes).
    #[arg(long)]
    pub nodes_b: Option<usize>,
    /// Stakes of cluster A, comma-separated (sets its size).
    #[arg(long)]
    pub stake_a: Option<String>,
    /// Stakes of cluster B, comma-separated (sets its size).
    #[arg(long)]
    pub stake_b: Option<String>,
    /// Crash-fault-tolerant clusters (u = ⌊(Δ−1)/2⌋, r = 0) instead of BFT (u = r = ⌊(Δ−1)/3⌋).
    #[arg(long)]
    pub cft: bool,
    /// Faults per cluster, e.g. `crash:1,byz-ack-high:1` or `restart:1@100ms-300ms`.
    #[arg(long, default_value = "none")]
    pub faults: String,
    /// Where faulty nodes go: consecutive, spread or last.
    #[arg(long, default_value = "consecutive")]
    pub placement: String,
    /// Entries in each stream.
    #[arg(long, default_value_t = 1000)]
    pub messages: u64,
    /// Payload bytes each entry is charged as on the links.
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// φ: indices covered by an ack's bitmap (multiple of 8).
    #[arg(long)]
    pub phi: Option<u32>,
    /// Network preset: lan or geo.
    #[arg(long, default_value = "lan")]
    pub net: String,
    /// Probability that a batch is lost.
    #[arg(long)]
    pub loss: Option<f64>,
    /// Cut links for a while: `cross@1s-2s`, `A0@0-500ms` or `A0-B1@1s-2s` (repeatable).
    #[arg(long)]
    pub partition: Vec<String>,
    /// Which streams run: both, a-to-b or b-to-a.
    #[arg(long, default_value = "both")]
    pub directions: String,
    /// Source back-pressure window, entries past the delivery front (default 2 × send window).
    #[arg(long)]
    pub window: Option<u64>,
    /// Source rate, entries per second per stream (default: as fast as the protocol takes).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Time to make a persist op durable, e.g. 1ms (0 = at once).
    #[arg(long, default_value = "1ms")]
    pub flush_delay: String,
    /// Simulated time after which a run stops, e.g. 600s.
    #[arg(long, default_value = "600s")]
    pub time_limit: String,
    /// First seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of seeds: runs seeds S .. S+COUNT-1.
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
    /// Draw each run's whole scenario from its seed instead of the flags above (sizes, stakes,
    /// bounds, faults, placement, messages, size, network): `random`. Only --protocol, --seed,
    /// --seeds and --json still apply. A sweep's broken seed replays with --seed S alone.
    #[arg(long, value_name = "MIX")]
    pub mix: Option<String>,
    /// Print one JSON object per run instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// A configuration error: reported with exit code 2.
#[derive(Debug)]
struct BadFlags(String);

fn parse_stakes(side: Side, list: &str, cft: bool) -> Result<ClusterConfig, BadFlags> {
    let stakes = list
        .split(',')
        .map(|s| s.trim().parse::<u64>().map(Stake))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| BadFlags(format!("--stake-{side}: expected comma-separated integers")))?;
    Ok(ClusterConfig::with_stakes(side, stakes, cft))
}

fn protocols(list: &str) -> Result<Vec<ProtocolKind>, BadFlags> {
    if list == "all" {
        return Ok(ProtocolKind::ALL.to_vec());
    }
    list.split(',')
        .map(|p| p.trim().parse::<ProtocolKind>().map_err(BadFlags))
        .collect()
}

fn base_config(args: &SimArgs) -> Result<SimConfig, BadFlags> {
    let bad = |flag: &str, e: String| BadFlags(format!("{flag}: {e}"));
    let n_a = args.nodes_a.or(args.nodes).unwrap_or(4);
    let n_b = args.nodes_b.or(args.nodes).unwrap_or(4);
    let mut cfg = SimConfig::new(ProtocolKind::Picsou, n_a, n_b);
    let cluster = |side, n| {
        if args.cft {
            ClusterConfig::cft(side, n)
        } else {
            ClusterConfig::bft(side, n)
        }
    };
    cfg.cluster_a = match &args.stake_a {
        Some(l) => parse_stakes(Side::A, l, args.cft)?,
        None => cluster(Side::A, n_a),
    };
    cfg.cluster_b = match &args.stake_b {
        Some(l) => parse_stakes(Side::B, l, args.cft)?,
        None => cluster(Side::B, n_b),
    };
    cfg.faults = args
        .faults
        .parse::<FaultSpec>()
        .map_err(|e| bad("--faults", e))?;
    cfg.placement = args
        .placement
        .parse::<Placement>()
        .map_err(|e| bad("--placement", e))?;
    cfg.messages = args.messages;
    cfg.size = args.size;
    if let Some(phi) = args.phi {
        cfg.params.phi = phi;
    }
    cfg.net = NetConfig::preset(&args.net).map_err(|e| bad("--net", e))?;
    if let Some(loss) = args.loss {
        cfg.net.loss = loss;
    }
    for p in &args.partition {
        cfg.net
            .partitions
            .push(p.parse::<Partition>().map_err(|e| bad("--partition", e))?);
    }
    cfg.directions = match args.directions.as_str() {
        "both" => Directions::Both,
        "a-to-b" => Directions::AToB,
        "b-to-a" => Directions::BToA,
        other => {
            return Err(bad(
                "--directions",
                format!("unknown value {other:?} (expected both, a-to-b or b-to-a)"),
            ));
        }
    };
    if let Some(w) = args.window {
        cfg.window = w;
    }
    cfg.rate = args.rate;
    cfg.flush_delay =
        sim::net::parse_duration(&args.flush_delay).map_err(|e| bad("--flush-delay", e))?;
    cfg.time_limit =
        sim::net::parse_duration(&args.time_limit).map_err(|e| bad("--time-limit", e))?;
    if args.seeds == 0 {
        return Err(bad("--seeds", "must be at least 1".into()));
    }
    Ok(cfg)
}

/// `sim`'s flags parsed from a list rather than the process's arguments.
#[derive(Debug, clap::Parser)]
#[command(name = "sim")]
struct SimFlags {
    #[command(flatten)]
    args: SimArgs,
}

/// The run that the `sim` flags `flags` describe: one protocol, its seed, no `--mix`. Callers
/// that describe runs by their flags (`sweep`) get the same configuration `sim` would build,
/// and a replay command that is exactly `picsou-relay sim` and those flags.
pub fn config_from_flags(flags: &[String]) -> Result<SimConfig, String> {
    let parsed =
        SimFlags::try_parse_from(std::iter::once("sim".to_owned()).chain(flags.iter().cloned()))
            .map_err(|e| e.to_string())?;
    let args = parsed.args;
    if args.mix.is_some() || args.seeds != 1 {
        return Err("one run: no --mix, --seeds 1".into());
    }
    let kinds = protocols(&args.protocol).map_err(|BadFlags(e)| format!("--protocol: {e}"))?;
    let [protocol] = kinds[..] else {
        return Err("--protocol: exactly one protocol".into());
    };
    let mut cfg = base_config(&args).map_err(|BadFlags(e)| e)?;
    cfg.protocol = protocol;
    cfg.seed = args.seed;
    cfg.validate().map_err(|e| e.to_string())?;
    Ok(cfg)
}

/// The command line that replays one run: the flags given, minus the seed sweep, with this
/// protocol and seed.
fn replay_command(protocol: ProtocolKind, seed: u64) -> String {
    let argv: Vec<String> = std::env::args().collect();
    let start = argv
        .iter()
        .position(|a| a == "sim")
        .map_or(argv.len(), |i| i + 1);
    let mut kept = Vec::new();
    let mut skip_value = false;
    for a in &argv[start..] {
        if skip_value {
            skip_value = false;
            continue;
        }
        let name = a.split('=').next().unwrap_or_default();
        if matches!(name, "--seed" | "--seeds" | "--protocol") {
            skip_value = !a.contains('=');
            continue;
        }
        kept.push(shell_quote(a));
    }
    format!(
        "cargo run --release -- sim {}{}--protocol {} --seed {seed}",
        kept.join(" "),
        if kept.is_empty() { "" } else { " " },
        protocol.name()
    )
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_=.,:@/+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn header() -> String {
    format!(
        "{:<7} {:>7} {:>8} {:>8} {:>5} {:<4} {:<22} {:>5} {:>13} {:>13} {:>6} {:>7} {:>7} {:>7} {:>7} {:>5} {:>8} {:>7} {:>4}",
        "proto",
        "nodes",
        "msgs",
        "size",
        "seed",
        "net",
        "faults",
        "all?",
        "thr msg/s",
        "limit msg/s",
        "%lim",
        "x/msg",
        "int/msg",
        "meta B",
        "resend",
        "maxTx",
        "sim s",
        "wall s",
        "viol"
    )
}

fn row(r: &sim::SimResult) -> String {
    let pct = if r.limit_msgs_per_s > 0.0 {
        100.0 * r.throughput_msgs_per_s / r.limit_msgs_per_s
    } else {
        0.0
    };
    format!(
        "{:<7} {:>7} {:>8} {:>8} {:>5} {:<4} {:<22} {:>5} {:>13.0} {:>13.0} {:>6.1} {:>7.2} {:>7.2} {:>7.1} {:>7} {:>5} {:>8.3} {:>7.2} {:>4}",
        r.protocol,
        format!("{}+{}", r.nodes_a, r.nodes_b),
        r.messages,
        r.size,
        r.seed,
        r.net,
        r.faults,
        if r.delivered_all { "yes" } else { "no" },
        r.throughput_msgs_per_s,
        r.limit_msgs_per_s,
        pct,
        r.cross_sends_per_msg,
        r.intra_sends_per_msg,
        r.metadata_bytes_per_msg,
        r.resends,
        r.max_transmissions_per_msg,
        r.sim_time_s,
        r.wall_time_s,
        r.violations.len()
    )
}

/// Writes one line to stdout; a closed pipe (`| head`) ends the program quietly.
pub fn emit(line: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to stdout: {e}");
        std::process::exit(1);
    }
}

fn bad_flags(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2);
}

/// Runs `picsou-relay sim`.
pub fn run(args: SimArgs) -> anyhow::Result<()> {
    // Quiet unless asked: `RUST_LOG=relayer::sim::wire=trace` prints every batch sent, with its
    // simulated time, ack and indices.
    crate::logging::init("warn", false)?;
    let prepared = protocols(&args.protocol)
        .map_err(|BadFlags(e)| BadFlags(format!("--protocol: {e}")))
        .and_then(|ps| base_config(&args).map(|cfg| (ps, cfg)));
    let (protocols, base) = match prepared {
        Ok(v) => v,
        Err(BadFlags(msg)) => bad_flags(&msg),
    };
    // The fault spec against u and r, sizes, bandwidths: refuse before printing anything.
    if let Err(e) = base.validate() {
        bad_flags(&e.to_string());
    }
    if let Some(mix) = &args.mix
        && let Err(e) = sim::mix::by_name(mix, ProtocolKind::Picsou, args.seed)
    {
        bad_flags(&format!("--mix: {e}"));
    }
    if !args.json {
        emit(&header());
    }
    let mut failed = Vec::new();
    for protocol in protocols {
        for seed in args.seed..args.seed.saturating_add(args.seeds) {
            let mut cfg = match &args.mix {
                Some(mix) => {
                    sim::mix::by_name(mix, protocol, seed).unwrap_or_else(|e| bad_flags(&e))
                }
                None => base.clone(),
            };
            cfg.protocol = protocol;
            cfg.seed = seed;
            let result = match sim::run(&cfg) {
                Ok(r) => r,
                Err(e) => bad_flags(&e.to_string()),
            };
            if args.json {
                emit(&serde_json::to_string(&result).context("serialising a result")?);
            } else {
                emit(&row(&result));
            }
            if !result.violations.is_empty() {
                failed.push((protocol, seed, result.violations));
            }
        }
    }
    if failed.is_empty() {
        return Ok(());
    }
    for (protocol, seed, violations) in &failed {
        eprintln!(
            "{} violation(s) with protocol {} seed {seed}:",
            violations.len(),
            protocol.name()
        );
        for v in violations {
            eprintln!("  - {v}");
        }
        eprintln!("replay: {}", replay_command(*protocol, *seed));
    }
    std::process::exit(1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_of_flags_parse() {
        assert_eq!(
            sim::net::parse_duration("1ms").unwrap(),
            Duration::from_millis(1)
        );
    }

    #[test]
    fn stakes_give_bft_bounds() {
        let c = parse_stakes(Side::A, "1,1,1,4", false).unwrap();
        assert_eq!((c.u, c.r, c.n()), (Stake(2), Stake(2), 4));
        assert!(parse_stakes(Side::A, "1,x", false).is_err());
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("--faults=crash:1"), "--faults=crash:1");
        assert_eq!(shell_quote("a b"), "'a b'");
    }
}
