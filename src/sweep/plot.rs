//! A sweep's figures in one PNG: one chart per series and panel (the tables' layout), three to
//! a row, each with one line per protocol or variant, drawn with [`crate::charts`].

use super::{Done, panels};
use crate::charts::{CHART_H, CHART_W, Line, draw_chart, picsou_first};
use anyhow::{Context as _, anyhow, bail};
use plotters::prelude::*;
use std::path::Path;

/// Charts per row.
const COLS: usize = 3;

/// Draws every panel of `done` into `path`.
pub fn draw(done: &[Done], path: &Path) -> anyhow::Result<()> {
    let panels = panels(done);
    if panels.is_empty() {
        bail!("no run to plot");
    }
    let cols = panels.len().min(COLS);
    let rows = panels.len().div_ceil(COLS);
    let size = (
        CHART_W * u32::try_from(cols).context("too many charts")?,
        CHART_H * u32::try_from(rows).context("too many charts")?,
    );
    let root = BitMapBackend::new(path, size).into_drawing_area();
    let bad = |e: DrawingAreaErrorKind<_>| anyhow!("drawing {}: {e}", path.display());
    root.fill(&WHITE).map_err(bad)?;
    let cells = root.split_evenly((rows, cols));
    for (cell, (series, panel)) in cells.iter().zip(&panels) {
        let here: Vec<&Done> = done
            .iter()
            .filter(|d| d.point.series == *series && d.point.panel == *panel)
            .collect();
        let mut lines: Vec<Line> = Vec::new();
        for d in &here {
            let pt = (d.point.x, d.result.throughput_msgs_per_s);
            match lines.iter_mut().find(|(l, _)| *l == d.point.line) {
                Some((_, pts)) => pts.push(pt),
                None => lines.push((d.point.line.clone(), vec![pt])),
            }
        }
        for (_, pts) in &mut lines {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        picsou_first(&mut lines);
        draw_chart(
            cell,
            &format!("{}: {panel}", series.name()),
            series.x_desc(),
            &lines,
            series.x_axis(),
        )?;
    }
    root.present().map_err(bad)?;
    Ok(())
}
