//! Paper-style figures of a benchmark report, drawn with plotters into one PNG: the top row has
//! one "throughput vs n" chart per message size, the bottom row one "throughput vs message size"
//! chart per cluster size (log-log), each with one line per protocol. Only failure-free runs
//! are drawn (runs with faults are in the tables and the JSON). The charts themselves are
//! [`crate::charts`]'s.

use super::report::{Report, RunResult};
use crate::charts::{CHART_H, CHART_W, Line, XAxis, draw_chart, picsou_first, size_label};
use anyhow::{Context as _, anyhow, bail};
use plotters::prelude::*;
use std::collections::BTreeSet;
use std::path::Path;

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
    picsou_first(&mut out);
    out
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
            XAxis::Count,
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
            XAxis::Size,
        )?;
    }
    root.present().map_err(bad)?;
    Ok(())
}
