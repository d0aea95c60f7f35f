//! The paper's figures, reproduced with the simulator, behind `picsou-relay sweep`: series of
//! `sim` runs, one table per series and panel, the bounds the paper sets, and `--plot`.
//!
//! Every run is described by its `sim` flags ([`Point::flags`]) and is run as `picsou-relay sim
//! FLAGS --json`, a process of its own, so any number in a table replays with that command.
//! Runs are deterministic, so the results do not depend on how many run at once (`--jobs`,
//! `--memory`), only the wall time does. Runs start largest first by [`memory_estimate`], and
//! share the machine only while their estimates fit the memory budget.
//!
//! # Series
//!
//! | series | panels | x | lines |
//! |---|---|---|---|
//! | `lan` | 100 B, 1 MB | n ∈ {4, 7, 10, 13, 16, 19} | every protocol |
//! | `size` | n = 4, n = 19 | 100 B … 1 MB | every protocol |
//! | `crash` | 1 MB, 100 B | n, with ⌊(n−1)/3⌋ of each cluster crashed | every protocol at 1 MB; Picsou and ATA at 100 B |
//! | `byz` | one per lying-ack mode | φ ∈ {0, 64, 128, 256} | Picsou with r = 2 of 7 lying, and without faults |
//! | `stake` | 1 MB | one relay of 4 has 1 … 64 × the others' stake | Picsou, ATA |
//! | `geo` | 1 MB | n ∈ {4 … 19} | every protocol |
//! | `large` | 1 MB, 100 B | n ∈ {50, 100} (100 B: 50) | Picsou, OST, LL at both; ATA, OTU at n = 50, 1 MB |
//! | `unequal` | 4 vs 19 | 100 B, 1 MB | every protocol |
//!
//! Message counts fall with size (200 000 of 100 B … 3000 of 1 MB; 1000 of 1 MB at n ≥ 50) so
//! that each run measures a steady state well past the source's warm-up (a run whose entries
//! all fit in the source window is one burst, and its 10%–90% throughput mostly measures how
//! long the crashed senders' entries take to be resent). The 100 B runs with crashes stop at
//! [`CRASH_100B_TIME_LIMIT`] of simulated time.
//!
//! # Bounds
//!
//! A sweep fails (exit 1) when a bound whose runs it made does not hold, or any run breaks an
//! invariant:
//! - `lan`, 1 MB, n = 19: Picsou/ATA ≥ 12.1 (the paper's ratio), Picsou ≥ 90% of the model
//!   limit;
//! - `crash`, 1 MB: Picsou keeps ≥ 80% of its failure-free throughput (a drop of at most 20%;
//!   the paper measured 22.8–30.5%) at every n;
//! - `geo`, 1 MB, n = 19: Picsou/ATA ≥ 44 (the paper's ratio).
//!
//! `--quick` makes only the runs these bounds need at n = 19, for CI.

pub mod plot;

use crate::charts::size_label;
use crate::cmd::sim::config_from_flags;
use anyhow::Context as _;
use relayer::sim::{self, SimResult};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One family of runs (a figure of the paper, or one beyond it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Series {
    /// LAN, failure-free, n = 4 … 19, 100 B and 1 MB.
    Lan,
    /// LAN, failure-free, 100 B … 1 MB at n = 4 and 19.
    Size,
    /// LAN, one third of each cluster crashed.
    Crash,
    /// One third Byzantine: each lying-ack mode against φ.
    Byz,
    /// One relay with 1 … 64 × the others' stake.
    Stake,
    /// The geo preset (170 Mbit/s pairs, 133 ms round trip), 1 MB.
    Geo,
    /// n = 50 and 100.
    Large,
    /// 4 relays against 19.
    Unequal,
}

impl Series {
    /// Every series, in the order a sweep runs them.
    pub const ALL: [Series; 8] = [
        Series::Lan,
        Series::Size,
        Series::Crash,
        Series::Byz,
        Series::Stake,
        Series::Geo,
        Series::Large,
        Series::Unequal,
    ];

    /// The series' name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Series::Lan => "lan",
            Series::Size => "size",
            Series::Crash => "crash",
            Series::Byz => "byz",
            Series::Stake => "stake",
            Series::Geo => "geo",
            Series::Large => "large",
            Series::Unequal => "unequal",
        }
    }

    /// What the series' x axis holds.
    pub fn x_axis(self) -> crate::charts::XAxis {
        use crate::charts::XAxis;
        match self {
            Series::Size | Series::Unequal => XAxis::Size,
            Series::Stake => XAxis::Times,
            _ => XAxis::Count,
        }
    }

    /// How an x value reads in a table.
    pub fn x_label(self, x: f64) -> String {
        match self {
            Series::Size | Series::Unequal => size_label(x as usize),
            Series::Stake => format!("{x:.0}×"),
            Series::Byz => format!("φ = {x:.0}"),
            _ => format!("n = {x:.0}"),
        }
    }

    /// The x axis' description on a chart.
    pub fn x_desc(self) -> &'static str {
        match self {
            Series::Size | Series::Unequal => "message size",
            Series::Stake => "stake of one relay ÷ the others'",
            Series::Byz => "φ (indices an ack's bitmap covers)",
            _ => "relays per cluster (n)",
        }
    }
}

/// One run of a sweep and where it belongs.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    pub series: Series,
    /// The table (and chart) within the series, e.g. `1 MB` or `n = 19`.
    pub panel: String,
    /// The line within the panel: a protocol, or a protocol and a variant.
    pub line: String,
    pub x: f64,
    /// The `sim` flags of this run.
    pub flags: Vec<String>,
}

impl Point {
    /// The command that replays this run.
    pub fn command(&self) -> String {
        command_of(&self.flags)
    }
}

fn command_of(flags: &[String]) -> String {
    format!("picsou-relay sim {}", flags.join(" "))
}

const PROTOCOLS: [&str; 5] = ["picsou", "ost", "ata", "ll", "otu"];
const NS: [usize; 6] = [4, 7, 10, 13, 16, 19];
const SIZES: [usize; 5] = [100, 1000, 10_000, 100_000, 1_000_000];
const MB: usize = 1_000_000;
/// Simulated time after which a 100 B run with crashes stops: the slowest that completes
/// (n = 16) needs 1.3 s. With 4 of 13 crashed, Picsou falls into a resend storm that moves
/// a few entries per round and costs about 13 s of wall time per simulated second (an open
/// defect, see docs/BENCHMARKS.md); the limit makes it end, as a violation, in about 40 s.
const CRASH_100B_TIME_LIMIT: &str = "3s";
const LYING_ACKS: [&str; 4] = [
    "byz-ack-high",
    "byz-ack-zero",
    "byz-ack-delay",
    "byz-dupack",
];

/// Entries per stream for `size`-byte messages at `n` relays per cluster.
fn messages(size: usize, n: usize) -> u64 {
    let large = n >= 50;
    if size <= 100 {
        if large { 100_000 } else { 200_000 }
    } else if size <= 1000 {
        100_000
    } else if size <= 10_000 {
        30_000
    } else if size <= 100_000 {
        10_000
    } else if large {
        1000
    } else {
        3000
    }
}

/// `⌊(n−1)/3⌋`: the BFT bound of `n` unit-stake relays, one third of the cluster.
fn third(n: usize) -> usize {
    (n - 1) / 3
}

/// The `sim` flags of one run: `protocol` with `size`-byte messages, as many as [`messages`]
/// gives for `n` relays, and `extra`.
fn run_flags(protocol: &str, size: usize, n: usize, extra: &[String]) -> Vec<String> {
    let mut flags = vec![
        "--protocol".to_owned(),
        protocol.to_owned(),
        "--size".to_owned(),
        size.to_string(),
        "--messages".to_owned(),
        messages(size, n).to_string(),
    ];
    flags.extend(extra.iter().cloned());
    flags
}

struct Plan {
    points: Vec<Point>,
}

impl Plan {
    fn add(&mut self, series: Series, panel: &str, line: &str, x: f64, flags: Vec<String>) {
        self.points.push(Point {
            series,
            panel: panel.to_owned(),
            line: line.to_owned(),
            x,
            flags,
        });
    }
}

fn nodes(n: usize) -> Vec<String> {
    vec!["--nodes".to_owned(), n.to_string()]
}

fn with(mut flags: Vec<String>, more: &[&str]) -> Vec<String> {
    flags.extend(more.iter().map(|s| (*s).to_owned()));
    flags
}

/// The runs of `series` (all of them, or the ones the bounds need at n = 19 when `quick`).
pub fn plan(series: &[Series], quick: bool) -> Vec<Point> {
    let mut p = Plan { points: Vec::new() };
    // Every protocol, or the two the ratio bounds compare.
    let all: &[&str] = if quick {
        &["picsou", "ata"]
    } else {
        &PROTOCOLS
    };
    let ns: &[usize] = if quick { &[19] } else { &NS };
    for &s in series {
        match s {
            Series::Lan => {
                let sizes: &[usize] = if quick { &[MB] } else { &[100, MB] };
                for &size in sizes {
                    for &n in ns {
                        for &proto in all {
                            p.add(
                                s,
                                &size_label(size),
                                proto,
                                n as f64,
                                run_flags(proto, size, n, &nodes(n)),
                            );
                        }
                    }
                }
            }
            Series::Size if !quick => {
                for n in [4, 19] {
                    for size in SIZES {
                        for proto in PROTOCOLS {
                            let panel = format!("n = {n}");
                            p.add(
                                s,
                                &panel,
                                proto,
                                size as f64,
                                run_flags(proto, size, n, &nodes(n)),
                            );
                        }
                    }
                }
            }
            Series::Crash => {
                let panels: &[(usize, &[&str])] = if quick {
                    &[(MB, &["picsou"])]
                } else {
                    &[(MB, &PROTOCOLS), (100, &["picsou", "ata"])]
                };
                for &(size, protocols) in panels {
                    for &n in ns {
                        let crash = format!("crash:{}", third(n));
                        let mut flags = with(nodes(n), &["--faults", &crash]);
                        if size == 100 {
                            flags = with(flags, &["--time-limit", CRASH_100B_TIME_LIMIT]);
                        }
                        for &proto in protocols {
                            let run = run_flags(proto, size, n, &flags);
                            p.add(s, &size_label(size), proto, n as f64, run);
                        }
                    }
                }
            }
            Series::Byz if !quick => {
                let n = 7;
                for mode in LYING_ACKS {
                    let faults = format!("{mode}:{}", third(n));
                    for phi in [0u32, 64, 128, 256] {
                        let phi_s = phi.to_string();
                        let clean = with(nodes(n), &["--phi", &phi_s]);
                        let lying = with(clean.clone(), &["--faults", &faults]);
                        let x = f64::from(phi);
                        p.add(s, mode, "picsou", x, run_flags("picsou", 100, n, &lying));
                        p.add(
                            s,
                            mode,
                            "picsou, no faults",
                            x,
                            run_flags("picsou", 100, n, &clean),
                        );
                    }
                }
            }
            Series::Stake if !quick => {
                for skew in [1u32, 2, 4, 8, 16, 32, 64] {
                    let stakes = format!("{skew},1,1,1");
                    let flags = vec![
                        "--stake-a".to_owned(),
                        stakes.clone(),
                        "--stake-b".to_owned(),
                        stakes,
                    ];
                    for proto in ["picsou", "ata"] {
                        p.add(
                            s,
                            "1 MB",
                            proto,
                            f64::from(skew),
                            run_flags(proto, MB, 4, &flags),
                        );
                    }
                }
            }
            Series::Geo => {
                for &n in ns {
                    let flags = with(nodes(n), &["--net", "geo"]);
                    for &proto in all {
                        p.add(s, "1 MB", proto, n as f64, run_flags(proto, MB, n, &flags));
                    }
                }
            }
            Series::Large if !quick => {
                for (n, size, protocols) in [
                    (50, MB, &PROTOCOLS[..]),
                    (100, MB, &["picsou", "ost", "ll"][..]),
                    (50, 100, &["picsou", "ost", "ll"][..]),
                ] {
                    for &proto in protocols {
                        let panel = size_label(size);
                        p.add(
                            s,
                            &panel,
                            proto,
                            n as f64,
                            run_flags(proto, size, n, &nodes(n)),
                        );
                    }
                }
            }
            Series::Unequal if !quick => {
                let flags: Vec<String> = ["--nodes-a", "4", "--nodes-b", "19"]
                    .map(str::to_owned)
                    .to_vec();
                for size in [100, MB] {
                    for proto in PROTOCOLS {
                        p.add(
                            s,
                            "4 vs 19",
                            proto,
                            size as f64,
                            run_flags(proto, size, 19, &flags),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    p.points
}

/// A point and its run's result.
#[derive(Clone, Debug, Serialize)]
pub struct Done {
    #[serde(flatten)]
    pub point: Point,
    pub command: String,
    pub result: SimResult,
}

/// Runs every point of `points`, up to `jobs` at once, each distinct flag list once, and calls
/// `progress(done, total, command, result)` as runs finish. Runs start in decreasing order of
/// [`memory_estimate`], and a run starts beside others only while the estimates of all that
/// run fit in `memory_budget` bytes (a run larger than the budget runs alone). Fails on the
/// first configuration a point's flags do not describe.
pub fn run(
    points: Vec<Point>,
    jobs: usize,
    memory_budget: u64,
    progress: &(dyn Fn(usize, usize, &str, &SimResult) + Sync),
) -> anyhow::Result<Vec<Done>> {
    let mut distinct: Vec<Vec<String>> = Vec::new();
    let mut index_of: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    let mut run_of = Vec::with_capacity(points.len());
    for pt in &points {
        let i = *index_of.entry(pt.flags.clone()).or_insert_with(|| {
            distinct.push(pt.flags.clone());
            distinct.len() - 1
        });
        run_of.push(i);
    }
    let configs = distinct
        .iter()
        .map(|f| {
            config_from_flags(f)
                .map_err(|e| anyhow::anyhow!("sweep point `{}`: {e}", command_of(f)))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let finished = AtomicUsize::new(0);
    let costs: Vec<u64> = configs.iter().map(memory_estimate).collect();
    // Runs are deterministic, so which thread ran what, and when, changes nothing but the wall
    // time.
    let ran = schedule(&costs, jobs, memory_budget, |i| {
        let r = run_in_child(&distinct[i]);
        if let Ok(res) = &r {
            let done = finished.fetch_add(1, Ordering::Relaxed) + 1;
            progress(done, configs.len(), &command_of(&distinct[i]), res);
        }
        r
    })
    .map_err(|_| anyhow::anyhow!("a sweep worker panicked"))?;
    let by_run = ran
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.with_context(|| command_of(&distinct[i])))
        .collect::<anyhow::Result<Vec<SimResult>>>()?;
    Ok(points
        .into_iter()
        .zip(run_of)
        .map(|(point, i)| Done {
            command: point.command(),
            point,
            result: by_run[i].clone(),
        })
        .collect())
}

/// Runs `picsou-relay sim FLAGS --json` as a process of its own and reads its result.
///
/// A process per run, not a thread: one process kept the memory its large runs had freed (a
/// sweep on two threads stood at 19.5 GiB of RSS while running 1 MB runs of a few hundred MB,
/// after the 100 B ATA runs), so a budget counting only the runs under way did not hold. It
/// also runs each point exactly as its replay command does. What a run that succeeds writes to
/// stderr (warnings) is passed on; a run that broke an invariant has its violations listed by
/// the sweep instead.
fn run_in_child(flags: &[String]) -> anyhow::Result<SimResult> {
    let exe = std::env::current_exe().context("finding this program to run `sim` with")?;
    let out = std::process::Command::new(exe)
        .arg("sim")
        .args(flags)
        .arg("--json")
        .output()
        .context("starting `sim`")?;
    // Exit code 1 only says the run broke an invariant; its result lists which.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match serde_json::from_str::<SimResult>(stdout.trim()) {
        Ok(r) if out.status.success() => {
            if !stderr.trim().is_empty() {
                eprintln!("{}", stderr.trim_end());
            }
            Ok(r)
        }
        Ok(r) if out.status.code() == Some(1) => Ok(r),
        _ => anyhow::bail!("`sim` ended with {}: {}", out.status, stderr.trim()),
    }
}

/// Bytes a run is expected to take at its peak, from its protocol, cluster sizes, entry count
/// and entry size.
///
/// Peak memory grows with entries × copies: ATA at n = 19 took 1.7, 4.3 and 16.8 GB for 20 000,
/// 50 000 and 200 000 entries of 100 B, and 1.2 GB at n = 10 for 50 000 (3.5 times less, for
/// 3.6 times fewer copies). Payloads are 16 bytes in memory whatever size the links charge, but
/// entries that travel one per batch cost more per copy (ATA: 600 bytes at 1 MB against 116 at
/// 100 B). The estimate is `64 MiB + 4 MiB · (n_a + n_b) + streams · entries · copies · (c + 500 /
/// entries per batch)`, with `copies` = `n_s · n_r` for ATA and `n_r` for the others, and `c`
/// per protocol, set at or above these measurements of peak RSS (`/usr/bin/time -f %M`,
/// 2026-11-22, wire version 4, both directions):
///
/// | run | peak | bytes per entry and copy | estimate |
/// |---|---|---|---|
/// | ATA, n = 19, 200 000 × 100 B | 16.8 GB | 116 | 20.4 GB |
/// | ATA, n = 19, 100 000 × 1000 B | 10.0 GB | 139 | 10.5 GB |
/// | ATA, n = 50, 1000 × 1 MB | 3.0 GB | 600 | 3.7 GB |
/// | Picsou, n = 50, 100 000 × 100 B | 3.3 GB | 330 | 4.1 GB |
/// | Picsou, n = 19, 200 000 × 100 B | 2.3 GB | 300 | 3.0 GB |
/// | OTU, n = 19, 200 000 × 100 B | 1.2 GB | 158 | 1.5 GB |
/// | OTU, n = 50, 1000 × 1 MB | 0.37 GB | 3 700 | 0.55 GB |
/// | LL, n = 19, 200 000 × 100 B | 0.94 GB | 123 | 1.2 GB |
/// | OST, n = 19, 200 000 × 100 B | 0.16 GB | 21 | 0.53 GB |
///
/// Runs with crashed relays are estimated as if every relay sent: ATA at n = 19 with 6 of each
/// cluster crashed took 7.9 GB.
///
/// An estimate only decides which runs may share the machine; a wrong one costs wall time or,
/// if far too low, memory, never a result.
pub fn memory_estimate(cfg: &sim::SimConfig) -> u64 {
    use relayer::protocol::ProtocolKind;
    use relayer::types::Side;
    const MIB: u64 = 1 << 20;
    let (n_a, n_b) = (
        cfg.cluster_a.stakes.len() as u64,
        cfg.cluster_b.stakes.len() as u64,
    );
    let (copies, c) = match cfg.protocol {
        ProtocolKind::Ata => (n_a * n_b, 140),
        ProtocolKind::Picsou => (n_a.max(n_b), 360),
        ProtocolKind::Otu => (n_a.max(n_b), 170),
        ProtocolKind::Ll => (n_a.max(n_b), 125),
        ProtocolKind::Ost => (n_a.max(n_b), 40),
    };
    let per_batch = (cfg.params.batch_bytes as u64 / (cfg.size as u64 + 64)).max(1);
    let per_copy = c + 500 / per_batch;
    let streams = [Side::A, Side::B]
        .into_iter()
        .filter(|&s| cfg.directions.runs(s))
        .count() as u64;
    (64 * MIB + 4 * MIB * (n_a + n_b)).saturating_add(
        streams
            .saturating_mul(cfg.messages)
            .saturating_mul(copies)
            .saturating_mul(per_copy),
    )
}

/// Calls `work(i)` for every `i < costs.len()` on up to `jobs` threads, in decreasing order of
/// cost (ties in index order), starting one only while the costs of those running, its own
/// included, fit in `budget`, or when nothing else runs. Returns the results by index, or
/// `Err` if a call panicked.
fn schedule<R: Send>(
    costs: &[u64],
    jobs: usize,
    budget: u64,
    work: impl Fn(usize) -> R + Sync,
) -> Result<Vec<R>, ()> {
    use std::sync::{Condvar, Mutex, PoisonError};
    let mut order: Vec<usize> = (0..costs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(costs[i]));
    // (position in `order` of the next run to start, cost of the runs under way)
    let state = Mutex::new((0usize, 0u64));
    let freed = Condvar::new();
    let outcomes = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs.clamp(1, costs.len().max(1)))
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = {
                            let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
                            loop {
                                let Some(&i) = order.get(s.0) else {
                                    return mine;
                                };
                                if s.1 == 0 || s.1.saturating_add(costs[i]) <= budget {
                                    s.0 += 1;
                                    s.1 += costs[i];
                                    break i;
                                }
                                s = freed.wait(s).unwrap_or_else(PoisonError::into_inner);
                            }
                        };
                        // Give the run's share back even if it panics, so others do not wait
                        // for it forever.
                        let release = Release {
                            state: &state,
                            freed: &freed,
                            cost: costs[i],
                        };
                        mine.push((i, work(i)));
                        drop(release);
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join()).collect::<Vec<_>>()
    });
    let mut by_index: Vec<Option<R>> = (0..costs.len()).map(|_| None).collect();
    for outcome in outcomes {
        for (i, r) in outcome.map_err(|_| ())? {
            by_index[i] = Some(r);
        }
    }
    by_index.into_iter().collect::<Option<_>>().ok_or(())
}

/// Hands a finished run's cost back to [`schedule`] and wakes the workers waiting for room.
struct Release<'a> {
    state: &'a std::sync::Mutex<(usize, u64)>,
    freed: &'a std::sync::Condvar,
    cost: u64,
}

impl Drop for Release<'_> {
    fn drop(&mut self) {
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.1 -= self.cost;
        self.freed.notify_all();
    }
}

/// One bound of the paper, checked on a sweep's results.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub what: String,
    pub value: f64,
    pub bound: f64,
    /// `%` or `×`.
    pub unit: &'static str,
    pub holds: bool,
    /// The runs the value comes from.
    pub commands: Vec<String>,
}

impl Check {
    fn at_least(what: String, value: f64, bound: f64, unit: &'static str, from: &[&Done]) -> Self {
        Check {
            what,
            value,
            bound,
            unit,
            holds: value >= bound,
            commands: from.iter().map(|d| d.command.clone()).collect(),
        }
    }
}

fn find<'a>(done: &'a [Done], series: Series, panel: &str, line: &str, x: f64) -> Option<&'a Done> {
    done.iter().find(|d| {
        d.point.series == series && d.point.panel == panel && d.point.line == line && d.point.x == x
    })
}

fn thr(d: &Done) -> f64 {
    d.result.throughput_msgs_per_s
}

/// `a / b`, with a zero `b` counted as the smallest positive number.
fn ratio(a: f64, b: f64) -> f64 {
    a / b.max(f64::MIN_POSITIVE)
}

/// Picsou over ATA at n = 19, 1 MB, in `series`, at least `bound` times.
fn picsou_over_ata(done: &[Done], series: Series, what: &str, bound: f64) -> Option<Check> {
    let mb = size_label(MB);
    let p = find(done, series, &mb, "picsou", 19.0)?;
    let a = find(done, series, &mb, "ata", 19.0)?;
    Some(Check::at_least(
        format!("{what}, 1 MB, n = 19: Picsou/ATA"),
        ratio(thr(p), thr(a)),
        bound,
        "×",
        &[p, a],
    ))
}

/// The bounds whose runs `done` holds.
pub fn checks(done: &[Done]) -> Vec<Check> {
    let mut out = Vec::new();
    let mb = size_label(MB);
    out.extend(picsou_over_ata(done, Series::Lan, "LAN", 12.1));
    if let Some(p) = find(done, Series::Lan, &mb, "picsou", 19.0) {
        out.push(Check::at_least(
            "LAN, 1 MB, n = 19: Picsou's share of the model limit".into(),
            100.0 * ratio(thr(p), p.result.limit_msgs_per_s),
            90.0,
            "%",
            &[p],
        ));
    }
    for crashed in done.iter().filter(|d| {
        d.point.series == Series::Crash && d.point.panel == mb && d.point.line == "picsou"
    }) {
        let n = crashed.point.x;
        if let Some(free) = find(done, Series::Lan, &mb, "picsou", n) {
            out.push(Check::at_least(
                format!("one third crashed, 1 MB, n = {n}: Picsou's throughput kept"),
                100.0 * ratio(thr(crashed), thr(free)),
                80.0,
                "%",
                &[crashed, free],
            ));
        }
    }
    out.extend(picsou_over_ata(done, Series::Geo, "geo", 44.0));
    out
}

/// The runs that broke an invariant (each distinct run once).
pub fn broken(done: &[Done]) -> Vec<&Done> {
    let mut seen = std::collections::BTreeSet::new();
    done.iter()
        .filter(|d| !d.result.violations.is_empty() && seen.insert(d.command.clone()))
        .collect()
}

/// The tables of a sweep: for each series and panel, one row per x and one throughput column
/// (msgs/s delivered to every correct receiver) per line, then Picsou's ratio to ATA and its
/// share of the model limit where the panel has them.
pub fn tables(done: &[Done]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for (series, panel) in panels(done) {
        let here: Vec<&Done> = done
            .iter()
            .filter(|d| d.point.series == series && d.point.panel == panel)
            .collect();
        let lines = in_order(here.iter().map(|d| d.point.line.as_str()));
        let xs = in_order_f(here.iter().map(|d| d.point.x));
        let has = |l: &str| lines.iter().any(|x| x == l);
        let ratio = has("picsou") && has("ata");
        let width = lines.iter().map(|l| l.len()).max().unwrap_or(0).max(10);
        let _ = writeln!(out, "\n== {}: {panel}", series.name());
        let _ = write!(out, "{:<10}", "");
        for l in &lines {
            let _ = write!(out, " {l:>width$}");
        }
        if ratio {
            let _ = write!(out, " {:>11}", "picsou/ata");
        }
        if has("picsou") {
            let _ = write!(out, " {:>13}", "picsou %limit");
        }
        out.push('\n');
        // A missing value (no run, or nothing to divide by) reads "-".
        let cell = |v: Option<String>, w: usize| format!(" {:>w$}", v.as_deref().unwrap_or("-"));
        for x in xs {
            out.push_str(&format!("{:<10}", series.x_label(x)));
            let at = |l: &str| here.iter().find(|d| d.point.line == l && d.point.x == x);
            for l in &lines {
                let v = at(l).map(|d| {
                    let mark = if d.result.violations.is_empty() {
                        ""
                    } else {
                        "!"
                    };
                    format!("{:.0}{mark}", thr(d))
                });
                out.push_str(&cell(v, width));
            }
            if ratio {
                let v = match (at("picsou"), at("ata")) {
                    (Some(p), Some(a)) if thr(a) > 0.0 => Some(format!("{:.1}", thr(p) / thr(a))),
                    _ => None,
                };
                out.push_str(&cell(v, 11));
            }
            if has("picsou") {
                let v = at("picsou")
                    .filter(|p| p.result.limit_msgs_per_s > 0.0)
                    .map(|p| format!("{:.1}", 100.0 * thr(p) / p.result.limit_msgs_per_s));
                out.push_str(&cell(v, 13));
            }
            out.push('\n');
        }
    }
    out
}

/// The (series, panel) pairs of `done`, in the order they first appear.
pub fn panels(done: &[Done]) -> Vec<(Series, String)> {
    let mut out: Vec<(Series, String)> = Vec::new();
    for d in done {
        let key = (d.point.series, d.point.panel.clone());
        if !out.contains(&key) {
            out.push(key);
        }
    }
    out
}

fn in_order<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in items {
        if !out.iter().any(|o| o == i) {
            out.push(i.to_owned());
        }
    }
    out
}

fn in_order_f(items: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut out: Vec<f64> = items.collect();
    out.sort_by(f64::total_cmp);
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `schedule` with work that sleeps a little and records which runs overlapped;
    /// returns the results, the order runs started in, and the largest total cost under way.
    fn scheduled(costs: &[u64], jobs: usize, budget: u64) -> (Vec<usize>, Vec<usize>, u64) {
        use std::sync::Mutex;
        let seen = Mutex::new((Vec::new(), 0u64, 0u64));
        let out = schedule(costs, jobs, budget, |i| {
            {
                let mut s = seen.lock().unwrap();
                s.0.push(i);
                s.1 += costs[i];
                s.2 = s.2.max(s.1);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            seen.lock().unwrap().1 -= costs[i];
            i * 10
        })
        .expect("no run panicked");
        let (order, _, peak) = seen.into_inner().unwrap();
        (out, order, peak)
    }

    #[test]
    fn runs_start_largest_first_and_only_while_their_estimates_fit_the_budget() {
        let costs = [3, 5, 1, 4, 3, 2];
        let (out, order, peak) = scheduled(&costs, 3, 7);
        assert_eq!(out, [0, 10, 20, 30, 40, 50], "results by index");
        assert!(peak <= 7, "runs costing {peak} were under way at once");
        assert_eq!(order.len(), costs.len(), "each run once");
        let (_, alone, _) = scheduled(&costs, 1, u64::MAX);
        assert_eq!(alone, [1, 3, 0, 4, 5, 2], "decreasing cost, ties by index");
    }

    #[test]
    fn a_run_larger_than_the_budget_runs_alone() {
        let (out, _, peak) = scheduled(&[1, 10, 1, 1], 4, 5);
        assert_eq!(out, [0, 10, 20, 30]);
        assert_eq!(peak, 10, "nothing ran beside the run of 10");
    }

    #[test]
    fn a_run_that_panics_fails_the_schedule_instead_of_hanging_it() {
        let r = schedule(&[2, 2, 2], 2, 3, |i| {
            assert_ne!(i, 0, "planted failure");
            i
        });
        assert!(r.is_err());
    }

    #[test]
    fn memory_estimates_lie_between_the_measured_peak_and_a_third_plus_half_a_gigabyte_above_it() {
        // Measured peak RSS, the table in `memory_estimate`'s docs.
        for (flags, peak) in [
            ("ata --nodes 19 --messages 200000 --size 100", 16.8),
            ("ata --nodes 19 --messages 100000 --size 1000", 10.0),
            ("ata --nodes 50 --messages 1000 --size 1000000", 3.0),
            ("picsou --nodes 50 --messages 100000 --size 100", 3.3),
            ("picsou --nodes 19 --messages 200000 --size 100", 2.3),
            ("otu --nodes 19 --messages 200000 --size 100", 1.2),
            ("ll --nodes 19 --messages 200000 --size 100", 0.94),
            ("otu --nodes 50 --messages 1000 --size 1000000", 0.37),
            ("ost --nodes 19 --messages 200000 --size 100", 0.16),
        ] {
            let run: Vec<String> = format!("--protocol {flags}")
                .split(' ')
                .map(str::to_owned)
                .collect();
            let est = memory_estimate(&config_from_flags(&run).unwrap()) as f64 / 1e9;
            assert!(
                est >= peak && est <= peak * 4.0 / 3.0 + 0.5,
                "{flags}: estimated {est:.2} GB, measured {peak} GB"
            );
        }
    }

    #[test]
    fn every_point_of_the_full_plan_is_a_valid_sim_run() {
        let points = plan(&Series::ALL, false);
        assert!(points.len() > 100, "{} points", points.len());
        for p in &points {
            config_from_flags(&p.flags).unwrap_or_else(|e| panic!("{}: {e}", p.command()));
        }
    }

    #[test]
    fn the_quick_plan_holds_every_bound_at_n_19_and_nothing_else() {
        let points = plan(&Series::ALL, true);
        let mut keys: Vec<String> = points
            .iter()
            .map(|p| format!("{} {} {} {}", p.series.name(), p.panel, p.line, p.x))
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "crash 1 MB picsou 19",
                "geo 1 MB ata 19",
                "geo 1 MB picsou 19",
                "lan 1 MB ata 19",
                "lan 1 MB picsou 19",
            ]
        );
    }

    fn done(series: Series, line: &str, x: f64, thr: f64, limit: f64) -> Done {
        let mut cfg = relayer::sim::SimConfig::new(relayer::protocol::ProtocolKind::Picsou, 1, 1);
        cfg.messages = 1;
        let mut result = relayer::sim::run(&cfg).expect("a one-entry run");
        result.throughput_msgs_per_s = thr;
        result.limit_msgs_per_s = limit;
        let point = Point {
            series,
            panel: "1 MB".into(),
            line: line.into(),
            x,
            flags: vec![line.into()],
        };
        Done {
            command: point.command(),
            point,
            result,
        }
    }

    #[test]
    fn checks_compare_the_runs_their_bounds_name() {
        let runs = [
            done(Series::Lan, "picsou", 19.0, 3600.0, 3750.0),
            done(Series::Lan, "ata", 19.0, 200.0, 3750.0),
            done(Series::Crash, "picsou", 19.0, 2800.0, 3750.0),
            done(Series::Geo, "picsou", 19.0, 800.0, 3750.0),
            done(Series::Geo, "ata", 19.0, 40.0, 3750.0),
        ];
        let c = checks(&runs);
        let got: Vec<(f64, bool)> = c
            .iter()
            .map(|c| ((c.value * 10.0).round() / 10.0, c.holds))
            .collect();
        // 18×, 96%, 2800/3600 = 77.8% (fails), 20× (fails).
        assert_eq!(
            got,
            [(18.0, true), (96.0, true), (77.8, false), (20.0, false)]
        );
        // Without the failure-free run at the same n, the crash bound is not listed.
        assert_eq!(checks(&runs[2..]).len(), 1);
    }
}
