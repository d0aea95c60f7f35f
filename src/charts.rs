//! Paper-style line charts shared by `bench --plot` and `sweep --plot`: one chart per drawing
//! area, one line with markers per protocol (or protocol and variant), a legend, throughput on
//! the y axis. Colours follow the protocol named by a line's first word, so a protocol keeps its
//! colour across every figure.
//!
//! Text is rendered with the system's sans-serif font (fontconfig); a machine without fonts
//! gets an error, never a panic.

use anyhow::anyhow;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;

/// Pixels per chart.
pub const CHART_W: u32 = 640;
pub const CHART_H: u32 = 440;

/// One line of a chart: its name and its `(x, msgs/s)` points, sorted by `x`.
pub type Line = (String, Vec<(f64, f64)>);

/// What the x axis shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XAxis {
    /// Whole counts on a linear axis (relays per cluster, φ); y linear from 0.
    Count,
    /// Message sizes on a log axis ("100 B", "1 MB"); y log.
    Size,
    /// Multiples on a log axis ("4×"); y log.
    Times,
}

fn color(line: &str) -> RGBColor {
    let protocol = line.split([' ', ',']).next().unwrap_or_default();
    let base = match protocol {
        "picsou" => RGBColor(214, 39, 40),
        "ost" => RGBColor(31, 119, 180),
        "ata" => RGBColor(44, 160, 44),
        "ll" => RGBColor(148, 103, 189),
        "otu" => RGBColor(255, 127, 14),
        _ => RGBColor(90, 90, 90),
    };
    if line == protocol {
        base
    } else {
        // A variant of a protocol (e.g. "picsou, 1/3 crashed"): the same hue, lighter.
        let mix = |c: u8| c + (255 - c) / 2;
        RGBColor(mix(base.0), mix(base.1), mix(base.2))
    }
}

/// `100 B`, `10 kB`, `1 MB`.
pub fn size_label(size: usize) -> String {
    if size >= 1_000_000 {
        format!("{} MB", size as f64 / 1e6)
    } else if size >= 1000 {
        format!("{} kB", size as f64 / 1e3)
    } else {
        format!("{size} B")
    }
}

/// Puts Picsou's lines first so the legend reads like the paper's, keeping the rest in order.
pub fn picsou_first(lines: &mut [Line]) {
    lines.sort_by_key(|(p, _)| !p.starts_with("picsou"));
}

/// Draws one chart of `lines` into `area`.
pub fn draw_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    x_desc: &str,
    lines: &[Line],
    x_axis: XAxis,
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
    if x_axis == XAxis::Count {
        let pad = ((x_hi - x_lo) * 0.08).max(0.5);
        let chart = builder
            .build_cartesian_2d((x_lo - pad)..(x_hi + pad), 0.0..(y_hi * 1.15))
            .map_err(err)?;
        // Counts are whole: ticks between them get no label (with one n, every tick of the
        // padded range read "4").
        let whole = |v: &f64| {
            if (v - v.round()).abs() < 1e-6 {
                format!("{v:.0}")
            } else {
                String::new()
            }
        };
        return plot_lines(chart, x_desc, &whole, lines, err);
    }
    // A log axis has no place for zero (a protocol that delivered nothing in a run's window):
    // such points are left out of the line.
    let lines: Vec<Line> = lines
        .iter()
        .map(|(l, pts)| {
            (
                l.clone(),
                pts.iter().copied().filter(|q| q.1 > 0.0).collect(),
            )
        })
        .collect();
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
    let label = |v: &f64| match x_axis {
        XAxis::Size => size_label(*v as usize),
        _ => format!("{v:.0}×"),
    };
    plot_lines(chart, x_desc, &label, &lines, err)
}

/// Draws the mesh of `chart`, one line with markers per entry of `lines`, and the legend: the
/// same on linear and logarithmic axes.
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
