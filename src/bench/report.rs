//! What a benchmark reports: the per-run figures and how they are derived from two snapshots,
//! the Picsou-to-baseline ratios, the goodput fraction, the bounds a run is checked against,
//! and the text tables.
//!
//! # Definitions
//!
//! Over the measurement window (after warm-up), with `secs` its length:
//! - **throughput** = entries that reached every correct receiver (one receiver for OST) during
//!   the window, summed over both streams, divided by `secs`, but capped by how many entries the
//!   correct relays of the sending cluster took from the source in it, on average: a protocol
//!   whose receivers deliver the first of several copies (ATA) could otherwise be credited, in a
//!   short window, with entries whose other copies its slower senders have yet to send;
//! - **wire bytes per message** = frame bytes every relay wrote (sealed batches, both clusters,
//!   cross and internal, before TCP/Noise/Yamux framing) divided by those entries;
//! - **CPU seconds per message** = process CPU time (user + system, `getrusage`) minus the source
//!   threads' CPU time, divided by those entries;
//! - **QUACK rate**: `Event::Quack`s per second per relay that reports QUACKs, and how many
//!   entries per second the QUACK covers (the mean advance of the reporting relays of each
//!   stream, summed over streams);
//! - **goodput fraction** (Picsou) = `throughput · size / (capacity / copies)`, where `capacity`
//!   is the measured bytes per second of one raw stream and `copies = 1 + (n − 1)` is how many
//!   times each message must cross a stream (once across, then `n − 1` internal copies). Both
//!   streams run at once and the capacity stream has the machine to itself, so a fraction of 1
//!   means every copy moved as fast as the single stream does.

use super::capacity::CapacityResult;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::time::Duration;

/// Counters summed over the measurement window (end minus start).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WindowDelta {
    /// Length of the window, seconds.
    pub secs: f64,
    /// Entries that reached their delivery target during the window (both streams).
    pub delivered: u64,
    /// Frame bytes written to relays of the other cluster.
    pub cross_bytes: u64,
    /// Frame bytes written to relays of the same cluster.
    pub internal_bytes: u64,
    /// Frames written.
    pub frames: u64,
    /// Process CPU time, nanoseconds.
    pub cpu_ns: u64,
    /// CPU time of the source threads, nanoseconds.
    pub source_cpu_ns: u64,
    /// `Event::Quack`s of the relays that report QUACKs.
    pub quack_updates: u64,
    /// How many relays report QUACKs.
    pub quack_relays: u64,
    /// Per stream: mean QUACK advance of its reporting relays.
    pub quack_advance: f64,
}

/// The figures of one window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// Seconds measured.
    pub secs: f64,
    /// Entries delivered to every correct receiver during the window, capped by the entries the
    /// correct sending relays took on average (see the module docs).
    pub delivered: u64,
    /// Delivered entries per second.
    pub throughput_msgs_per_s: f64,
    /// Delivered payload bytes per second.
    pub throughput_bytes_per_s: f64,
    /// `Event::Quack`s per second per reporting relay (`None`: the protocol reports none).
    pub quack_updates_per_s: Option<f64>,
    /// Entries per second the QUACKs advanced over (`None`: no QUACKs).
    pub quack_msgs_per_s: Option<f64>,
    /// Frame bytes per delivered entry, cross and internal.
    pub wire_bytes_per_msg: Option<f64>,
    /// Cross-cluster frame bytes per delivered entry.
    pub cross_bytes_per_msg: Option<f64>,
    /// Intra-cluster frame bytes per delivered entry.
    pub internal_bytes_per_msg: Option<f64>,
    /// Mean frame length.
    pub mean_frame_bytes: Option<f64>,
    /// Relay CPU seconds (process minus source) per delivered entry.
    pub cpu_s_per_msg: Option<f64>,
    /// Process CPU seconds per wall second (cores kept busy, source included).
    pub cpu_cores_busy: f64,
}

fn per(x: f64, n: u64) -> Option<f64> {
    (n > 0).then(|| x / n as f64)
}

impl Measured {
    /// Derives the figures of a window of `size`-byte messages.
    pub fn from_delta(d: &WindowDelta, size: usize) -> Self {
        let secs = d.secs.max(f64::MIN_POSITIVE);
        let thr = d.delivered as f64 / secs;
        let relay_cpu = d.cpu_ns.saturating_sub(d.source_cpu_ns) as f64 / 1e9;
        let quack = d.quack_relays > 0;
        Measured {
            secs: d.secs,
            delivered: d.delivered,
            throughput_msgs_per_s: thr,
            throughput_bytes_per_s: thr * size as f64,
            quack_updates_per_s: quack
                .then(|| d.quack_updates as f64 / d.quack_relays as f64 / secs),
            quack_msgs_per_s: quack.then(|| d.quack_advance / secs),
            wire_bytes_per_msg: per((d.cross_bytes + d.internal_bytes) as f64, d.delivered),
            cross_bytes_per_msg: per(d.cross_bytes as f64, d.delivered),
            internal_bytes_per_msg: per(d.internal_bytes as f64, d.delivered),
            mean_frame_bytes: per((d.cross_bytes + d.internal_bytes) as f64, d.frames),
            cpu_s_per_msg: per(relay_cpu, d.delivered),
            cpu_cores_busy: d.cpu_ns as f64 / 1e9 / secs,
        }
    }
}

/// How many times each message must cross a stream: once across, then to the `n − 1` others.
pub fn copies_per_message(nodes: usize) -> usize {
    1 + nodes.saturating_sub(1)
}

/// `throughput · size / (capacity / copies)`; `None` without a capacity.
pub fn goodput_fraction(
    throughput_msgs_per_s: f64,
    size: usize,
    capacity_bytes_per_s: f64,
    nodes: usize,
) -> Option<f64> {
    (capacity_bytes_per_s > 0.0).then(|| {
        throughput_msgs_per_s * size as f64
            / (capacity_bytes_per_s / copies_per_message(nodes) as f64)
    })
}

/// The goodput fraction from CPU costs: `(stream CPU per byte · copies) / (relay CPU per
/// delivered byte)`, where the stream's CPU per byte is the cores the capacity probe kept busy
/// divided by its bytes per second. When every part saturates the same cores this equals
/// [`goodput_fraction`].
pub fn goodput_fraction_cpu(
    cpu_s_per_msg: f64,
    size: usize,
    stream_cores_busy: f64,
    stream_bytes_per_s: f64,
    nodes: usize,
) -> Option<f64> {
    (cpu_s_per_msg > 0.0 && stream_bytes_per_s > 0.0 && size > 0).then(|| {
        let stream_cpu_per_byte = stream_cores_busy / stream_bytes_per_s;
        stream_cpu_per_byte * copies_per_message(nodes) as f64 / (cpu_s_per_msg / size as f64)
    })
}

/// One configuration's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Protocol name.
    pub protocol: String,
    /// Relays per cluster.
    pub nodes: usize,
    /// Payload bytes per message.
    pub size: usize,
    /// Fault spec, canonical form.
    pub faults: String,
    /// Seconds of warm-up before the window.
    pub warmup_s: f64,
    /// The window's figures.
    #[serde(flatten)]
    pub measured: Measured,
    /// Picsou only: goodput as a fraction of raw stream capacity ÷ copies per message.
    pub goodput_fraction: Option<f64>,
    /// Same, against the sealed-batch capacity.
    pub goodput_fraction_sealed: Option<f64>,
    /// Picsou only: the same fraction from CPU costs instead of rates (see
    /// [`goodput_fraction_cpu`]); unlike the rates, it does not depend on how much of the machine
    /// other processes took while each part ran.
    pub goodput_fraction_cpu: Option<f64>,
    /// `Event::Resent`s over the whole run (all relays).
    pub resends: u64,
    /// Frames the network layer dropped over the whole run.
    pub dropped_frames: u64,
    /// Frames refused by `wire::open` or the network layer, and failed sends.
    pub wire_errors: u64,
    /// Misbehaviour events reported by any relay.
    pub misbehaviours: u64,
    /// Deliveries beyond one per correct receiver and entry.
    pub duplicate_deliveries: u64,
    /// Entries the sources released, per stream (A, B).
    pub released: [u64; 2],
    /// Entries delivered to every correct receiver by the end, per stream.
    pub completed: [u64; 2],
    /// Every released entry reached every correct receiver after the sources stopped.
    pub delivered_all: bool,
    /// Seconds from the first start to the last stop.
    pub wall_s: f64,
}

/// Picsou's throughput over each baseline's, for one configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// Relays per cluster.
    pub nodes: usize,
    /// Message size.
    pub size: usize,
    /// Fault spec.
    pub faults: String,
    /// The baseline.
    pub baseline: String,
    /// Picsou's throughput ÷ the baseline's (`None` if the baseline delivered nothing).
    pub picsou_over: Option<f64>,
    /// The baseline's CPU seconds per delivered message ÷ Picsou's: the throughput ratio a
    /// CPU-bound machine would show if both had the same cores to themselves.
    pub cpu_ratio: Option<f64>,
}

/// One bound checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// What is checked.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// The measured value and the bound.
    pub detail: String,
}

/// The bounds a run is checked against.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    /// Least Picsou/ATA ratio at n = 4 with the largest message size (the paper's 3.2 at 1 MB).
    pub picsou_over_ata_min: f64,
    /// Least goodput fraction for failure-free Picsou runs with messages of at least
    /// `goodput_min_size` bytes.
    pub goodput_min: f64,
    /// Smallest message size the goodput bound applies to.
    pub goodput_min_size: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            picsou_over_ata_min: 3.2,
            goodput_min: 0.70,
            goodput_min_size: 1_000_000,
        }
    }
}

/// Everything one `bench` invocation measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The command line.
    pub command: String,
    /// When it started, seconds since the Unix epoch.
    pub started_unix_s: u64,
    /// CPU cores available to the process.
    pub cores: usize,
    /// Picsou's `max_message_delay` in the runs, in seconds (`--max-message-delay`); every
    /// other timer is a relay's default scaled by the same factor (`Params::scaled_to`).
    pub max_message_delay_s: f64,
    /// Per message size: the reference limit.
    pub capacity: Vec<CapacityResult>,
    /// Every configuration.
    pub runs: Vec<RunResult>,
    /// Picsou over each baseline, where both ran.
    pub ratios: Vec<Ratio>,
    /// The bounds checked.
    pub bounds: Bounds,
    /// The checks and their outcome.
    pub checks: Vec<Check>,
    /// Every check passed.
    pub passed: bool,
}

impl Report {
    /// Assembles a report: fills in goodput fractions, ratios and checks.
    pub fn new(
        command: String,
        started_unix_s: u64,
        cores: usize,
        max_message_delay: Duration,
        capacity: Vec<CapacityResult>,
        mut runs: Vec<RunResult>,
        bounds: Bounds,
    ) -> Self {
        for r in &mut runs {
            if r.protocol != "picsou" {
                continue;
            }
            if let Some(c) = capacity.iter().find(|c| c.size == r.size) {
                let thr = r.measured.throughput_msgs_per_s;
                r.goodput_fraction = goodput_fraction(thr, r.size, c.raw_bytes_per_s, r.nodes);
                r.goodput_fraction_sealed =
                    goodput_fraction(thr, r.size, c.sealed_bytes_per_s, r.nodes);
                r.goodput_fraction_cpu = r.measured.cpu_s_per_msg.and_then(|cpu| {
                    goodput_fraction_cpu(cpu, r.size, c.raw_cores_busy, c.raw_bytes_per_s, r.nodes)
                });
            }
        }
        let ratios = ratios(&runs);
        let checks = checks(&runs, &ratios, &capacity, &bounds);
        let passed = checks.iter().all(|c| c.passed);
        Report {
            command,
            started_unix_s,
            cores,
            max_message_delay_s: max_message_delay.as_secs_f64(),
            capacity,
            runs,
            ratios,
            bounds,
            checks,
            passed,
        }
    }
}

/// Picsou over every baseline that ran the same configuration.
pub fn ratios(runs: &[RunResult]) -> Vec<Ratio> {
    let mut out = Vec::new();
    for p in runs.iter().filter(|r| r.protocol == "picsou") {
        for b in runs.iter().filter(|r| {
            r.protocol != "picsou" && r.nodes == p.nodes && r.size == p.size && r.faults == p.faults
        }) {
            let base = b.measured.throughput_msgs_per_s;
            let cpu_ratio = match (b.measured.cpu_s_per_msg, p.measured.cpu_s_per_msg) {
                (Some(b), Some(p)) if p > 0.0 => Some(b / p),
                _ => None,
            };
            out.push(Ratio {
                nodes: p.nodes,
                size: p.size,
                faults: p.faults.clone(),
                baseline: b.protocol.clone(),
                picsou_over: (base > 0.0).then(|| p.measured.throughput_msgs_per_s / base),
                cpu_ratio,
            });
        }
    }
    out
}

fn c3b(protocol: &str) -> bool {
    matches!(protocol, "picsou" | "ata" | "otu")
}

/// Evaluates the bounds (see [`Bounds`]) and the invariants every run must keep:
/// failure-free runs resend nothing, drop nothing, refuse nothing, duplicate nothing and deliver
/// everything; runs with faults of a C3B protocol (Picsou, ATA, OTU) still deliver everything.
pub fn checks(
    runs: &[RunResult],
    ratios: &[Ratio],
    capacity: &[CapacityResult],
    bounds: &Bounds,
) -> Vec<Check> {
    let mut out = Vec::new();
    let largest = runs.iter().map(|r| r.size).max().unwrap_or(0);
    for r in ratios
        .iter()
        .filter(|r| r.baseline == "ata" && r.nodes == 4 && r.size == largest && r.faults == "none")
    {
        // No ratio (ATA delivered nothing) is a failed measurement, not a pass.
        let passed = r
            .picsou_over
            .is_some_and(|v| v >= bounds.picsou_over_ata_min && v.is_finite());
        out.push(Check {
            name: format!("picsou/ata at n=4, {} B", r.size),
            passed,
            detail: format!(
                "{} (bound ≥ {})",
                opt(r.picsou_over, 2),
                bounds.picsou_over_ata_min
            ),
        });
    }
    for r in runs.iter().filter(|r| {
        r.protocol == "picsou" && r.faults == "none" && r.size >= bounds.goodput_min_size
    }) {
        let v = r.goodput_fraction.unwrap_or(0.0);
        out.push(Check {
            name: format!("picsou goodput at n={}, {} B", r.nodes, r.size),
            passed: v >= bounds.goodput_min,
            detail: format!(
                "{:.0}% of raw capacity ÷ {} copies (bound ≥ {:.0}%)",
                v * 100.0,
                copies_per_message(r.nodes),
                bounds.goodput_min * 100.0
            ),
        });
    }
    for r in runs {
        let what = format!(
            "{} n={} {} B faults={}",
            r.protocol, r.nodes, r.size, r.faults
        );
        if r.measured.delivered == 0 {
            out.push(Check {
                name: format!("{what}: progress"),
                passed: false,
                detail: "nothing was delivered during the window".into(),
            });
        }
        if r.faults == "none" {
            let clean = r.resends == 0
                && r.dropped_frames == 0
                && r.wire_errors == 0
                && r.misbehaviours == 0
                && r.duplicate_deliveries == 0;
            out.push(Check {
                name: format!("{what}: clean"),
                passed: clean,
                detail: format!(
                    "{} resends, {} dropped frames, {} wire errors, {} misbehaviours, {} \
                     duplicate deliveries (all must be 0)",
                    r.resends,
                    r.dropped_frames,
                    r.wire_errors,
                    r.misbehaviours,
                    r.duplicate_deliveries
                ),
            });
        }
        if r.faults == "none" || c3b(&r.protocol) {
            out.push(Check {
                name: format!("{what}: delivered all"),
                passed: r.delivered_all,
                detail: format!("completed {:?} of released {:?}", r.completed, r.released),
            });
        }
    }
    for c in capacity.iter().filter(|c| c.dropped > 0) {
        out.push(Check {
            name: format!("capacity probe at {} B", c.size),
            passed: false,
            detail: format!("{} frames dropped", c.dropped),
        });
    }
    out
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

/// The slowest and fastest of a capacity's probes in MB/s ("566–605"), or "-" without probes.
fn probe_range(probes: &[f64]) -> String {
    let lo = probes.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = probes.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if probes.is_empty() {
        "-".to_owned()
    } else {
        format!("{:.0}–{:.0}", lo / 1e6, hi / 1e6)
    }
}

fn human_size(size: usize) -> String {
    if size >= 1_000_000 && size.is_multiple_of(1_000_000) {
        format!("{} MB", size / 1_000_000)
    } else if size >= 1000 && size.is_multiple_of(1000) {
        format!("{} kB", size / 1000)
    } else {
        format!("{size} B")
    }
}

/// The results as text tables.
pub fn tables(report: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<7} {:>3} {:>7} {:<10} {:>10} {:>8} {:>8} {:>10} {:>10} {:>9} {:>6} {:>7} {:>5} {:>4} {:>8}",
        "proto",
        "n",
        "size",
        "faults",
        "msg/s",
        "MB/s",
        "QUACK/s",
        "QUACKmsg/s",
        "wire B/msg",
        "CPU ms/m",
        "cores",
        "resends",
        "drops",
        "all?",
        "goodput"
    );
    for r in &report.runs {
        let m = &r.measured;
        let _ = writeln!(
            s,
            "{:<7} {:>3} {:>7} {:<10} {:>10.1} {:>8.1} {:>8} {:>10} {:>10} {:>9} {:>6.2} {:>7} {:>5} {:>4} {:>8}",
            r.protocol,
            r.nodes,
            human_size(r.size),
            r.faults,
            m.throughput_msgs_per_s,
            m.throughput_bytes_per_s / 1e6,
            opt(m.quack_updates_per_s, 0),
            opt(m.quack_msgs_per_s, 0),
            opt(m.wire_bytes_per_msg, 0),
            opt(m.cpu_s_per_msg.map(|c| c * 1e3), 3),
            m.cpu_cores_busy,
            r.resends,
            r.dropped_frames,
            if r.delivered_all { "yes" } else { "NO" },
            r.goodput_fraction
                .map_or_else(|| "-".into(), |g| format!("{:.0}%", g * 100.0)),
        );
    }
    if !report.ratios.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{:<3} {:>7} {:<10} {:<8} {:>9} {:>12}",
            "n", "size", "faults", "baseline", "picsou/x", "x/picsou CPU"
        );
        for r in &report.ratios {
            let _ = writeln!(
                s,
                "{:<3} {:>7} {:<10} {:<8} {:>9} {:>12}",
                r.nodes,
                human_size(r.size),
                r.faults,
                r.baseline,
                opt(r.picsou_over, 2),
                opt(r.cpu_ratio, 2)
            );
        }
    }
    if !report.capacity.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{:>7} {:>9} {:>9} {:>10} {:>11} {:>6} {:>12} {:>6} {:>9} {:>9} {:>9}",
            "size",
            "entries",
            "frame B",
            "raw MB/s",
            "raw probes",
            "cores",
            "sealed MB/s",
            "cores",
            "seal µs",
            "open µs",
            "verify µs"
        );
        for c in &report.capacity {
            let _ = writeln!(
                s,
                "{:>7} {:>9} {:>9} {:>10.1} {:>11} {:>6.2} {:>12.1} {:>6.2} {:>9.0} {:>9.0} {:>9.0}",
                human_size(c.size),
                c.entries_per_frame,
                c.frame_len,
                c.raw_bytes_per_s / 1e6,
                probe_range(&c.raw_probes_bytes_per_s),
                c.raw_cores_busy,
                c.sealed_bytes_per_s / 1e6,
                c.sealed_cores_busy,
                c.seal_us,
                c.open_us,
                c.verify_us
            );
        }
    }
    if !report.checks.is_empty() {
        let _ = writeln!(s);
        for c in &report.checks {
            let _ = writeln!(
                s,
                "{} {}: {}",
                if c.passed { "ok  " } else { "FAIL" },
                c.name,
                c.detail
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(protocol: &str, nodes: usize, size: usize, thr: f64) -> RunResult {
        RunResult {
            protocol: protocol.into(),
            nodes,
            size,
            faults: "none".into(),
            warmup_s: 1.0,
            measured: Measured {
                secs: 10.0,
                delivered: (thr * 10.0) as u64,
                throughput_msgs_per_s: thr,
                cpu_s_per_msg: Some(2.0 / thr),
                ..Measured::default()
            },
            goodput_fraction: None,
            goodput_fraction_sealed: None,
            goodput_fraction_cpu: None,
            resends: 0,
            dropped_frames: 0,
            wire_errors: 0,
            misbehaviours: 0,
            duplicate_deliveries: 0,
            released: [10, 10],
            completed: [10, 10],
            delivered_all: true,
            wall_s: 12.0,
        }
    }

    fn cap(size: usize, raw: f64) -> CapacityResult {
        CapacityResult {
            size,
            entries_per_frame: 1,
            frame_len: size + 200,
            raw_bytes_per_s: raw,
            raw_probes_bytes_per_s: vec![raw],
            sealed_bytes_per_s: raw / 2.0,
            sealed_probes_bytes_per_s: vec![raw / 2.0],
            raw_cores_busy: 1.0,
            sealed_cores_busy: 1.0,
            seal_us: 1.0,
            open_us: 1.0,
            verify_us: 1.0,
            secs: 1.0,
            dropped: 0,
        }
    }

    #[test]
    fn the_capacity_table_shows_the_spread_of_the_probes() {
        assert_eq!(probe_range(&[5.66e8, 6.05e8, 5.82e8]), "566–605");
        assert_eq!(probe_range(&[]), "-");
    }

    #[test]
    fn window_figures_follow_their_definitions() {
        let d = WindowDelta {
            secs: 2.0,
            delivered: 100,
            cross_bytes: 1000,
            internal_bytes: 3000,
            frames: 8,
            cpu_ns: 3_000_000_000,
            source_cpu_ns: 1_000_000_000,
            quack_updates: 40,
            quack_relays: 4,
            quack_advance: 90.0,
        };
        let m = Measured::from_delta(&d, 1000);
        assert_eq!(m.throughput_msgs_per_s, 50.0);
        assert_eq!(m.throughput_bytes_per_s, 50_000.0);
        assert_eq!(m.wire_bytes_per_msg, Some(40.0));
        assert_eq!(m.cross_bytes_per_msg, Some(10.0));
        assert_eq!(m.internal_bytes_per_msg, Some(30.0));
        assert_eq!(m.mean_frame_bytes, Some(500.0));
        assert_eq!(m.cpu_s_per_msg, Some(0.02), "source CPU excluded");
        assert_eq!(m.cpu_cores_busy, 1.5);
        assert_eq!(m.quack_updates_per_s, Some(5.0));
        assert_eq!(m.quack_msgs_per_s, Some(45.0));
    }

    #[test]
    fn an_empty_window_has_no_per_message_figures() {
        let m = Measured::from_delta(
            &WindowDelta {
                secs: 1.0,
                ..WindowDelta::default()
            },
            100,
        );
        assert_eq!(m.throughput_msgs_per_s, 0.0);
        assert_eq!(m.wire_bytes_per_msg, None);
        assert_eq!(m.cpu_s_per_msg, None);
        assert_eq!(m.quack_updates_per_s, None, "no QUACK reported");
    }

    #[test]
    fn goodput_divides_capacity_by_the_copies_a_message_needs() {
        assert_eq!(copies_per_message(4), 4);
        assert_eq!(copies_per_message(7), 7);
        // 100 msg/s of 1 MB = 100 MB/s; capacity 400 MB/s over 4 copies = 100 MB/s: 100%.
        assert_eq!(goodput_fraction(100.0, 1_000_000, 400e6, 4), Some(1.0));
        assert_eq!(goodput_fraction(35.0, 1_000_000, 400e6, 4), Some(0.35));
        assert_eq!(goodput_fraction(1.0, 1, 0.0, 4), None);
    }

    #[test]
    fn cpu_goodput_matches_the_rate_one_when_both_saturate_the_same_cores() {
        // Stream: 400 MB/s on 2 cores = 5 ns per byte. Relays: 80 msg/s of 1 MB on 2 cores
        // = 25 ms per message = 25 ns per byte. 5 · 4 copies / 25 = 0.8.
        let cpu = goodput_fraction_cpu(0.025, 1_000_000, 2.0, 400e6, 4).unwrap();
        let rate = goodput_fraction(80.0, 1_000_000, 400e6, 4).unwrap();
        assert!((cpu - 0.8).abs() < 1e-12 && (rate - 0.8).abs() < 1e-12);
        assert_eq!(goodput_fraction_cpu(0.0, 1, 1.0, 1.0, 4), None);
    }

    #[test]
    fn report_fills_ratios_goodput_and_checks() {
        let runs = vec![
            run("picsou", 4, 1_000_000, 80.0),
            run("ata", 4, 1_000_000, 20.0),
            run("ost", 4, 1_000_000, 100.0),
            run("picsou", 4, 100, 9000.0),
        ];
        let caps = vec![cap(1_000_000, 400e6), cap(100, 100e6)];
        let r = Report::new(
            "x".into(),
            0,
            2,
            Duration::from_secs(1),
            caps,
            runs,
            Bounds::default(),
        );
        let ata = r.ratios.iter().find(|x| x.baseline == "ata").unwrap();
        assert_eq!(ata.picsou_over, Some(4.0));
        assert_eq!(
            ata.cpu_ratio,
            Some(4.0),
            "both saturate 2 cores in the fixture"
        );
        let ost = r.ratios.iter().find(|x| x.baseline == "ost").unwrap();
        assert_eq!(ost.picsou_over, Some(0.8));
        assert_eq!(r.runs[0].goodput_fraction, Some(0.8));
        assert_eq!(r.runs[0].goodput_fraction_sealed, Some(1.6));
        assert!(r.runs[1].goodput_fraction.is_none(), "picsou only");
        assert!(r.passed, "{:#?}", r.checks);
        let names: Vec<&str> = r.checks.iter().map(|c| c.name.as_str()).collect();
        assert!(names.contains(&"picsou/ata at n=4, 1000000 B"));
        assert!(names.contains(&"picsou goodput at n=4, 1000000 B"));
        assert!(
            !names
                .iter()
                .any(|n| n.starts_with("picsou goodput at n=4, 100 B")),
            "the goodput bound is for large messages only"
        );
    }

    #[test]
    fn bounds_fail_when_they_should() {
        let mut slow = run("picsou", 4, 1_000_000, 30.0);
        slow.resends = 2;
        let mut lossy = run("ata", 4, 1_000_000, 10.0);
        lossy.delivered_all = false;
        let r = Report::new(
            "x".into(),
            0,
            2,
            Duration::from_secs(1),
            vec![cap(1_000_000, 400e6)],
            vec![slow, lossy],
            Bounds::default(),
        );
        assert!(!r.passed);
        let failed: Vec<&str> = r
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            failed,
            vec![
                "picsou/ata at n=4, 1000000 B",
                "picsou goodput at n=4, 1000000 B",
                "picsou n=4 1000000 B faults=none: clean",
                "ata n=4 1000000 B faults=none: delivered all",
            ],
            "{:#?}",
            r.checks
        );
    }

    #[test]
    fn a_ratio_without_a_baseline_fails() {
        let mut ata = run("ata", 4, 1_000_000, 0.0);
        ata.measured.delivered = 0;
        let r = Report::new(
            "x".into(),
            0,
            2,
            Duration::from_secs(1),
            vec![cap(1_000_000, 400e6)],
            vec![run("picsou", 4, 1_000_000, 90.0), ata],
            Bounds::default(),
        );
        let c = r
            .checks
            .iter()
            .find(|c| c.name.starts_with("picsou/ata"))
            .unwrap();
        assert!(!c.passed, "{c:?}");
    }

    #[test]
    fn lossy_non_c3b_protocols_with_faults_are_not_held_to_delivery() {
        let mut ll = run("ll", 4, 1000, 10.0);
        ll.faults = "crash:1".into();
        ll.delivered_all = false;
        let checks = checks(&[ll], &[], &[], &Bounds::default());
        assert!(checks.iter().all(|c| c.passed), "{checks:#?}");
    }

    #[test]
    fn tables_render_every_run() {
        let r = Report::new(
            "x".into(),
            0,
            2,
            Duration::from_secs(1),
            vec![cap(1000, 1e6)],
            vec![run("picsou", 4, 1000, 5.0), run("ata", 4, 1000, 5.0)],
            Bounds::default(),
        );
        let t = tables(&r);
        assert!(t.contains("picsou") && t.contains("ata") && t.contains("1 kB"));
        assert!(t.contains("raw MB/s"));
    }
}
