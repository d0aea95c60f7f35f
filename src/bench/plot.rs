//! Paper-style figures of a benchmark report, drawn with plotters into one PNG: the top row has
//! one "throughput vs n" chart per message size, the bottom row one "throughput vs message size"
//! chart per cluster size (log-log), each with one line per protocol. Only failure-free runs
//! are drawn (runs with faults are in the tables and the JSON).
//!
//! Text is rendered with the system's sans-serif font (fontconfig); a machine without fonts
//! gets an error, never a panic.

use super::report::{Report, RunResult};
use anyhow::{Context as _, anyhow, bail};
use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;
use std::collections::BTreeSet;
use std::path::Path;

/// Pixels per chart.
const CHART_W: u32 = 640;
const CHART_H: u32 = 440;

fn color(protocol: &str) -> RGBColor {
    match protocol {
        "picsou" => RGBColor(214, 39, 40),
        "ost" => RGBColor(31, 119, 180),
        "ata" => RGBColor(44, 160, 44),
        "ll" => RGBColor(148, 103, 189),
        "otu" => RGBColor(255, 127, 14),
        _ => RGBColor(90, 90, 90),
    }
}

fn size_label(size: usize) -> String {
    if size >= 1_000_000 {
        format!("{} MB", size as f64 / 1e6)
    } else if size >= 1000 {
        format!("{} kB", size as f64 / 1e3)
    } else {
        format!("{size} B")
    }
}

/// One line of a chart: a protocol's `(x, msgs/s)` points, sorted by `x`.
type Line = (String, Vec<(f64, f64)>);

fn lines(runs: &[&RunResult], x: impl Fn(&RunResult) -> f64) -> Vec<Line> {
    let protocols: BTreeSet<&str> = runs.iter().map(|r| r.protocol.as_str()).collect();
    let mut out: Vec<Line> = protocols
        .into_iter()
        .map(|p| {
            let mut pts: Vec<(f64, f64)> = runs
                .iter()
                .filter(|r| r.protocol == p)
                .map(|r| (x(r), r.measured.throughput_msgs_per_s))
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            (p.to_owned(), pts)
        })
        .collect();
    // Picsou first so the legend reads like the paper's.
    out.sort_by_key(|(p, _)| p != "picsou");
    out
}

fn draw_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    x_desc: &str,
    lines: &[Line],
    log_x: bool,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let xs = lines.iter().flat_map(|(_, p)| p.iter().map(|q| q.0));
    let ys = lines.iter().flat_map(|(_, p)| p.iter().map(|q| q.1));
    let (x_lo, x_hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let y_hi = ys.fold(0.0f64, f64::max).max(1.0);
    if !x_lo.is_finite() {
        return Ok(());
    }
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing {caption:?}: {e}");
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(caption, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70);
    if log_x {
        let y_lo = lines
            .iter()
            .flat_map(|(_, p)| p.iter().map(|q| q.1))
            .filter(|v| *v > 0.0)
            .fold(f64::INFINITY, f64::min)
            .min(y_hi);
        let chart = builder
            .build_cartesian_2d(
                ((x_lo / 2.0)..(x_hi * 2.0)).log_scale(),
                ((y_lo / 2.0).max(1e-3)..(y_hi * 2.0)).log_scale(),
            )
            .map_err(err)?;
        plot_lines(chart, x_desc, &|v| size_label(*v as usize), lines, err)
    } else {
        let pad = ((x_hi - x_lo) * 0.08).max(0.5);
        let chart = builder
            .build_cartesian_2d((x_lo - pad)..(x_hi + pad), 0.0..(y_hi * 1.15))
            .map_err(err)?;
        // Relay counts are whole: ticks between them get no label (with one n, every tick
        // of the padded range read "4").
        let whole = |v: &f64| {
            if (v - v.round()).abs() < 1e-6 {
                format!("{v:.0}")
            } else {
                String::new()
            }
        };
        plot_lines(chart, x_desc, &whole, lines, err)
    }
}

/// Draws the mesh of `chart`, one line with markers per protocol, and the legend: the same on
/// linear and logarithmic axes.
fn plot_lines<'a, DB, X, Y>(
    mut chart: ChartContext<'a, DB, Cartesian2d<X, Y>>,
    x_desc: &str,
    x_label: &dyn Fn(&f64) -> String,
    lines: &[Line],
    err: impl Fn(DrawingAreaErrorKind<DB::ErrorType>) -> anyhow::Error,
) -> anyhow::Result<()>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("msgs/s delivered to all")
        .x_label_formatter(x_label)
        .draw()
        .map_err(&err)?;
    for (p, pts) in lines {
        let c = color(p);
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
            .map_err(&err)?
            .label(p.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        chart
            .draw_series(pts.iter().map(|&q| Circle::new(q, 4, c.filled())))
            .map_err(&err)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(&err)?;
    Ok(())
}

/// Draws the figures of `report` into `path` (PNG).
pub fn draw(report: &Report, path: &Path) -> anyhow::Result<()> {
    let runs: Vec<&RunResult> = report.runs.iter().filter(|r| r.faults == "none").collect();
    if runs.is_empty() {
        bail!("no failure-free run to plot");
    }
    let sizes: BTreeSet<usize> = runs.iter().map(|r| r.size).collect();
    let nodes: BTreeSet<usize> = runs.iter().map(|r| r.nodes).collect();
    let cols = sizes.len().max(nodes.len());
    let width = CHART_W * u32::try_from(cols).context("too many charts")?;
    let root = BitMapBackend::new(path, (width, CHART_H * 2)).into_drawing_area();
    let bad = |e: DrawingAreaErrorKind<_>| anyhow!("drawing {}: {e}", path.display());
    root.fill(&WHITE).map_err(bad)?;
    let (top, bottom) = root.split_vertically(CHART_H);
    let top_cells = top.split_evenly((1, cols));
    for (cell, size) in top_cells.iter().zip(&sizes) {
        let of_size: Vec<&RunResult> = runs.iter().copied().filter(|r| r.size == *size).collect();
        let ls = lines(&of_size, |r| r.nodes as f64);
        draw_chart(
            cell,
            &format!("Throughput vs n, {} messages", size_label(*size)),
            "relays per cluster (n)",
            &ls,
            false,
        )?;
    }
    let bottom_cells = bottom.split_evenly((1, cols));
    for (cell, n) in bottom_cells.iter().zip(&nodes) {
        let of_n: Vec<&RunResult> = runs.iter().copied().filter(|r| r.nodes == *n).collect();
        let ls = lines(&of_n, |r| r.size as f64);
        draw_chart(
            cell,
            &format!("Throughput vs message size, n = {n}"),
            "message size",
            &ls,
            true,
        )?;
    }
    root.present().map_err(bad)?;
    Ok(())
}
