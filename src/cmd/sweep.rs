//! `picsou-relay sweep`: the paper's figures with the simulator (see [`crate::sweep`]). Prints a
//! line per finished run to stderr, then one table per series and panel and the bounds checked;
//! writes `--json`, draws `--plot`.
//!
//! Exit codes: 0 every bound holds and no run broke an invariant; 1 otherwise (each failure is
//! listed with the `sim` command that replays it); 2 bad flags.

use crate::sweep::{self, Series};
use anyhow::Context as _;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

/// Flags of `picsou-relay sweep`.
#[derive(Debug, Clone, clap::Args)]
pub struct SweepArgs {
    /// Only the runs the bounds need, at n = 19 (what CI runs).
    #[arg(long)]
    pub quick: bool,
    /// Series to run, comma-separated (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Series>,
    /// Runs at once at most (default: one per core).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Memory, in GiB, the runs under way may be expected to take together (default: 90% of
    /// the memory available when the sweep starts). A run whose estimate is larger runs alone.
    #[arg(long, value_name = "GIB")]
    pub memory: Option<f64>,
    /// Write every run (its series, panel, line, x, `sim` command and full result) and the
    /// checks as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Draw one chart per series and panel into FILE.png.
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,
}

/// What `--json` writes.
#[derive(serde::Serialize)]
struct Output<'a> {
    quick: bool,
    runs: &'a [sweep::Done],
    checks: &'a [sweep::Check],
}

/// Runs `picsou-relay sweep`.
pub fn run(args: SweepArgs) -> anyhow::Result<()> {
    crate::logging::init("warn", false)?;
    if args.jobs == Some(0) {
        eprintln!("error: --jobs must be at least 1");
        std::process::exit(2);
    }
    let series = if args.only.is_empty() {
        Series::ALL.to_vec()
    } else {
        args.only.clone()
    };
    let points = sweep::plan(&series, args.quick);
    if points.is_empty() {
        eprintln!("error: --quick has no runs in the series given (it uses lan, crash and geo)");
        std::process::exit(2);
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let budget = match args.memory {
        Some(gib) if gib.is_finite() && gib > 0.0 => (gib * GIB) as u64,
        Some(gib) => {
            eprintln!("error: --memory must be a positive number of GiB, not {gib}");
            std::process::exit(2);
        }
        None => available_memory().map_or(u64::MAX, |b| b / 10 * 9),
    };
    let start = Instant::now();
    let progress = |done: usize, total: usize, command: &str, r: &relayer::sim::SimResult| {
        let flag = if r.violations.is_empty() {
            ""
        } else {
            "  VIOLATIONS"
        };
        eprintln!(
            "[{done:>3}/{total}] {:>7.1} s  {:>6.1} s wall  {command}{flag}",
            start.elapsed().as_secs_f64(),
            r.wall_time_s
        );
    };
    let done = sweep::run(points, jobs, budget, &progress)?;
    let checks = sweep::checks(&done);
    let broken = sweep::broken(&done);

    let mut out = sweep::tables(&done);
    out.push_str("\n== checks\n");
    for c in &checks {
        let verdict = if c.holds { "ok" } else { "FAIL" };
        let (v, b, u) = (c.value, c.bound, c.unit);
        let _ = writeln!(out, "{verdict:<5} {}: {v:.1}{u} (bound ≥ {b}{u})", c.what);
        if !c.holds {
            for cmd in &c.commands {
                let _ = writeln!(out, "        {cmd}");
            }
        }
    }
    let mut distinct: Vec<&str> = done.iter().map(|d| d.command.as_str()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let verdict = if broken.is_empty() { "ok" } else { "FAIL" };
    let _ = writeln!(
        out,
        "{verdict:<5} every run free of invariant violations ({} of {} broke one)",
        broken.len(),
        distinct.len()
    );
    for d in &broken {
        let _ = writeln!(out, "        {}", d.command);
        for v in &d.result.violations {
            let _ = writeln!(out, "          - {v}");
        }
    }
    let within = if budget == u64::MAX {
        "no memory budget".to_owned()
    } else {
        format!("a memory budget of {:.1} GiB", budget as f64 / GIB)
    };
    let _ = write!(
        out,
        "{} runs in {:.1} s, up to {jobs} at once, {within}",
        distinct.len(),
        start.elapsed().as_secs_f64()
    );
    crate::cmd::sim::emit(&out);

    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&Output {
            quick: args.quick,
            runs: &done,
            checks: &checks,
        })
        .context("serialising the results")?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.plot {
        sweep::plot::draw(&done, path).with_context(|| format!("plotting {}", path.display()))?;
    }
    if checks.iter().all(|c| c.holds) && broken.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("the sweep failed: see the checks above")
    }
}

const GIB: f64 = (1u64 << 30) as f64;

/// The memory the kernel says is available for new work (`MemAvailable` in `/proc/meminfo`), in
/// bytes; `None` where that file does not exist or does not say.
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}
