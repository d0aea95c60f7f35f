//! `picsou-relay bench`: runs Picsou and the baselines over real libp2p on loopback (see
//! [`crate::bench`]) for every protocol × cluster size × message size given, prints a table
//! (and the Picsou ratios, the stream capacities and the checks), writes `--json`, draws
//! `--plot`.
//!
//! `--quick` runs a fixed small configuration (n = 4; 1 MB with every protocol, 100 B with
//! Picsou and ATA) in under two minutes and exits non-zero if a bound fails: Picsou/ATA ≥ 3.2 at
//! 1 MB, Picsou's goodput ≥ 70% of stream capacity ÷ copies at 1 MB, and every failure-free run
//! clean (no resend, drop, refusal or duplicate) with every message delivered. `--check` applies
//! the same bounds to any configuration.
//!
//! Exit codes: 0 fine; 1 a checked bound failed, or the benchmark could not run; 2 bad flags.

use crate::bench::{self, Plan, ProgressView, RunSpec, report};
use anyhow::Context as _;
use relayer::protocol::{Params, ProtocolKind};
use relayer::sim::net::parse_duration;
use relayer::sim::{FaultSpec, Placement};
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

/// Flags of `picsou-relay bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Protocols, comma-separated (picsou, ost, ata, ll, otu) or `all`.
    #[arg(long, default_value = "all")]
    pub protocols: String,
    /// Relays per cluster, comma-separated (e.g. 4,7).
    #[arg(long, default_value = "4")]
    pub nodes: String,
    /// Message sizes in bytes, comma-separated (e.g. 100,1000000; k and M suffixes accepted).
    #[arg(long, default_value = "1000000")]
    pub size: String,
    /// Measurement window per configuration, after warm-up (e.g. 10, 10s, 500ms).
    #[arg(long, default_value = "10s")]
    pub duration: String,
    /// Warm-up before the window.
    #[arg(long, default_value = "3s")]
    pub warmup: String,
    /// Length of each stream-capacity probe (three raw and three sealed per message size; the
    /// fastest of each counts).
    #[arg(long, default_value = "3s")]
    pub capacity_time: String,
    /// Longest wait for the last messages after the sources stop.
    #[arg(long, default_value = "30s")]
    pub drain_timeout: String,
    /// Faults per cluster, as in `sim` (e.g. `crash:1`, `crash:1@2s`, `byz-ack-high:1`).
    #[arg(long, default_value = "none")]
    pub faults: String,
    /// Where faulty relays go: consecutive, spread or last.
    #[arg(long, default_value = "consecutive")]
    pub placement: String,
    /// Source window: MiB of payload released past the delivery front.
    #[arg(long, default_value_t = 32)]
    pub window_mib: usize,
    /// Source window: most messages released past the delivery front.
    #[arg(long, default_value_t = 65_536)]
    pub window_msgs: u64,
    /// Picsou's `max_message_delay`: the silence after which a relay is taken for down, and
    /// the longest wait before a loss report counts. A relay's own default is 200 ms, for a
    /// machine of its own; here every relay of both clusters shares this machine's cores, and a
    /// frame can wait longer than that behind the others (see docs/BENCHMARKS.md). Every other
    /// timer of every protocol (batch and ack delays, the fetch wait, OTU's takeover) is scaled
    /// with it from a relay's defaults (`Params::scaled_to`).
    #[arg(long, default_value = "1s")]
    pub max_message_delay: String,
    /// Write the results as JSON to FILE (`-` or no value: stdout, the tables then go to
    /// stderr).
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    pub json: Option<PathBuf>,
    /// Draw throughput vs n and throughput vs message size into FILE.png.
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
    /// The fixed small configuration CI runs; exits non-zero if a bound fails.
    #[arg(
        long,
        conflicts_with_all = ["protocols", "nodes", "size", "duration", "warmup", "faults", "max_message_delay"]
    )]
    pub quick: bool,
    /// Exit non-zero if a bound fails (implied by --quick).
    #[arg(long)]
    pub check: bool,
}

/// Longest `--max-message-delay`: a relay taken for down only after a minute would not be.
const MAX_MESSAGE_DELAY_LIMIT: Duration = Duration::from_secs(60);

/// A flag that does not parse: reported with exit code 2.
#[derive(Debug)]
struct BadFlags(String);

fn protocols(list: &str) -> Result<Vec<ProtocolKind>, BadFlags> {
    if list.trim() == "all" {
        return Ok(ProtocolKind::ALL.to_vec());
    }
    let mut out = Vec::new();
    for p in list.split(',') {
        let p = p
            .trim()
            .parse::<ProtocolKind>()
            .map_err(|e| BadFlags(format!("--protocols: {e}")))?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

fn nodes(list: &str) -> Result<Vec<usize>, BadFlags> {
    let mut out = Vec::new();
    for n in list.split(',') {
        let n: usize = n
            .trim()
            .parse()
            .map_err(|_| BadFlags(format!("--nodes: {n:?} is not a number")))?;
        if !(1..=64).contains(&n) {
            return Err(BadFlags(format!(
                "--nodes: {n} relays per cluster is outside 1..=64"
            )));
        }
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

/// One size: digits with an optional decimal suffix (`k`/`kB` = 1000, `M`/`MB` = 10⁶).
fn parse_size(s: &str) -> Result<usize, BadFlags> {
    let t = s.trim();
    let (num, mul) = if let Some(v) = t.strip_suffix("MB").or_else(|| t.strip_suffix('M')) {
        (v, 1_000_000)
    } else if let Some(v) = t.strip_suffix("kB").or_else(|| t.strip_suffix('k')) {
        (v, 1000)
    } else if let Some(v) = t.strip_suffix('B') {
        (v, 1)
    } else {
        (t, 1)
    };
    let n: usize = num.trim().parse().map_err(|_| {
        BadFlags(format!(
            "--size: {s:?} is not a size (e.g. 100, 1000000, 1MB)"
        ))
    })?;
    let size = n
        .checked_mul(mul)
        .ok_or_else(|| BadFlags(format!("--size: {s:?} is too large")))?;
    // A message must fit in one sealed batch under the network's frame limit.
    let max = relayer::wire::MAX_BATCH_LEN / 2;
    if size == 0 || size > max {
        return Err(BadFlags(format!(
            "--size: {size} bytes is outside 1..={max}"
        )));
    }
    Ok(size)
}

fn sizes(list: &str) -> Result<Vec<usize>, BadFlags> {
    let mut out = Vec::new();
    for s in list.split(',') {
        let size = parse_size(s)?;
        if !out.contains(&size) {
            out.push(size);
        }
    }
    Ok(out)
}

fn duration(flag: &str, s: &str, allow_zero: bool) -> Result<Duration, BadFlags> {
    let d = parse_duration(s).map_err(|e| BadFlags(format!("{flag}: {e}")))?;
    if d.is_zero() && !allow_zero {
        return Err(BadFlags(format!("{flag}: must be positive")));
    }
    Ok(d)
}

/// The `--quick` configuration.
fn quick_runs() -> Vec<RunSpec> {
    let mut runs: Vec<RunSpec> = ProtocolKind::ALL
        .into_iter()
        .map(|protocol| RunSpec {
            protocol,
            nodes: 4,
            size: 1_000_000,
            faults: FaultSpec::none(),
        })
        .collect();
    for protocol in [ProtocolKind::Picsou, ProtocolKind::Ata] {
        runs.push(RunSpec {
            protocol,
            nodes: 4,
            size: 100,
            faults: FaultSpec::none(),
        });
    }
    runs
}

fn plan(args: &BenchArgs) -> Result<Plan, BadFlags> {
    let faults = args
        .faults
        .parse::<FaultSpec>()
        .map_err(|e| BadFlags(format!("--faults: {e}")))?;
    let placement = args
        .placement
        .parse::<Placement>()
        .map_err(|e| BadFlags(format!("--placement: {e}")))?;
    let runs = if args.quick {
        quick_runs()
    } else {
        let ps = protocols(&args.protocols)?;
        let ns = nodes(&args.nodes)?;
        let ss = sizes(&args.size)?;
        let mut runs = Vec::new();
        for &size in &ss {
            for &nodes in &ns {
                for &protocol in &ps {
                    runs.push(RunSpec {
                        protocol,
                        nodes,
                        size,
                        faults: faults.clone(),
                    });
                }
            }
        }
        runs
    };
    let (warmup, dur, cap) = if args.quick {
        (
            Duration::from_secs(2),
            Duration::from_secs(5),
            // Three probes of each kind per size (see `bench::capacity`).
            Duration::from_secs(1),
        )
    } else {
        (
            duration("--warmup", &args.warmup, true)?,
            duration("--duration", &args.duration, false)?,
            duration("--capacity-time", &args.capacity_time, false)?,
        )
    };
    let max_message_delay = duration("--max-message-delay", &args.max_message_delay, false)?;
    if max_message_delay > MAX_MESSAGE_DELAY_LIMIT {
        return Err(BadFlags(format!(
            "--max-message-delay: {} is over {} s",
            args.max_message_delay,
            MAX_MESSAGE_DELAY_LIMIT.as_secs()
        )));
    }
    if args.window_mib == 0 || args.window_msgs == 0 {
        return Err(BadFlags(
            "--window-mib and --window-msgs must be positive".into(),
        ));
    }
    // Check every configuration's clusters and faults before running anything.
    for r in &runs {
        let mut cfg = relayer::sim::SimConfig::new(r.protocol, r.nodes, r.nodes);
        cfg.faults = r.faults.clone();
        cfg.placement = placement;
        cfg.validate()
            .map_err(|e| BadFlags(format!("{} relays per cluster: {e}", r.nodes)))?;
        if r.faults
            .items
            .iter()
            .any(|i| i.kind == relayer::sim::FaultKind::Restart && i.count > 0)
        {
            return Err(BadFlags(
                "--faults: restart needs a store; the bench keeps none (use crash, \
                 omit-broadcast or byz-*)"
                    .into(),
            ));
        }
    }
    Ok(Plan {
        runs,
        warmup,
        duration: dur,
        capacity_time: cap,
        drain_timeout: duration("--drain-timeout", &args.drain_timeout, false)?,
        window_bytes: args.window_mib.saturating_mul(1 << 20),
        window_entries: args.window_msgs,
        placement,
        // Every timer keeps the defaults' proportion to it: OTU's takeover at 1 s resent 184
        // entries in a failure-free `--quick` run on these shared cores, and Picsou's 20 ms
        // fetch wait and 2 ms ack rounds cost copies and frames (docs/BENCHMARKS.md).
        params: Params::scaled_to(max_message_delay),
        bounds: report::Bounds::default(),
    })
}

fn bad_flags(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2);
}

/// Runs `picsou-relay bench`.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let plan = match plan(&args) {
        Ok(p) => p,
        Err(BadFlags(msg)) => bad_flags(&msg),
    };
    crate::logging::init("warn", false)?;
    let json_to_stdout = args.json.as_deref().is_some_and(|p| p.as_os_str() == "-");
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let view = ProgressView::new(plan.runs.len(), false);
    let report = runtime.block_on(bench::execute(&plan, command, &view));
    view.finish();
    // Give the relays' background tasks a moment to end, then leave.
    runtime.shutdown_timeout(Duration::from_secs(2));
    let report = report?;

    let tables = report::tables(&report);
    if json_to_stdout {
        eprint!("{tables}");
        let json = serde_json::to_string_pretty(&report).context("encoding the report")?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{json}").context("writing the report to stdout")?;
    } else {
        print!("{tables}");
        if let Some(path) = &args.json {
            let json = serde_json::to_string_pretty(&report).context("encoding the report")?;
            std::fs::write(path, json + "\n")
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    if let Some(path) = &args.plot {
        bench::plot::draw(&report, path).with_context(|| format!("plotting {}", path.display()))?;
        eprintln!("figures written to {}", path.display());
    }
    if (args.quick || args.check) && !report.passed {
        let failed: Vec<String> = report
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect();
        anyhow::bail!(
            "{} bound(s) failed:\n  {}",
            failed.len(),
            failed.join("\n  ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_plain_bytes_and_decimal_suffixes() {
        assert_eq!(sizes("100,1000000").unwrap(), vec![100, 1_000_000]);
        assert_eq!(sizes("1MB, 4k,100B").unwrap(), vec![1_000_000, 4000, 100]);
        assert_eq!(sizes("100,100").unwrap(), vec![100]);
        assert!(sizes("0").is_err());
        assert!(sizes("abc").is_err());
        assert!(sizes("1000M").is_err(), "over the frame limit");
    }

    #[test]
    fn lists_parse_and_refuse_nonsense() {
        assert_eq!(nodes("4,7").unwrap(), vec![4, 7]);
        assert!(nodes("0").is_err());
        assert!(nodes("x").is_err());
        assert_eq!(protocols("all").unwrap().len(), 5);
        assert_eq!(
            protocols("picsou, ata").unwrap(),
            vec![ProtocolKind::Picsou, ProtocolKind::Ata]
        );
        assert!(protocols("tcp").is_err());
    }

    #[test]
    fn quick_is_small_and_covers_every_protocol() {
        let runs = quick_runs();
        for p in ProtocolKind::ALL {
            assert!(runs.iter().any(|r| r.protocol == p && r.size == 1_000_000));
        }
        assert!(runs.iter().all(|r| r.nodes == 4 && r.faults.is_empty()));
    }

    #[test]
    fn max_message_delay_scales_every_timer() {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            bench: BenchArgs,
        }
        let args = |extra: &[&str]| {
            let mut v = vec!["bench"];
            v.extend_from_slice(extra);
            Cli::parse_from(v).bench
        };
        let p = plan(&args(&[])).unwrap().params;
        assert_eq!(p, Params::scaled_to(Duration::from_secs(1)));
        assert_eq!(p.resend_timeout, Duration::from_secs(5));
        assert_eq!(p.fetch_delay, Duration::from_millis(100));
        let p = plan(&args(&["--max-message-delay", "200ms"]))
            .unwrap()
            .params;
        assert_eq!(p, Params::default(), "a relay's own defaults");
        assert!(plan(&args(&["--max-message-delay", "0ms"])).is_err());
        assert!(plan(&args(&["--max-message-delay", "2m"])).is_err());
    }
}
