//! The paper's figures with plotters: one function per figure turns the aggregated cells
//! into a [`Chart`] (series of points with optional ranges); one function draws any chart
//! on any backend, so the SVG and the PNG are the same picture. Text uses the bundled
//! DejaVu Sans, so no system fonts are needed.

use std::path::Path;

use anyhow::Context;
use image::ImageEncoder;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use super::aggregate::{Aggregate, CellStats};
use super::tables::{crossover_pairs, weak_baseline};

const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const SIZE: (u32, u32) = (800, 520);
/// Colour-blind-safe palette (Okabe and Ito), in series order.
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
];

/// One point; `lo..hi` is drawn as an error bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub range: Option<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<Point>,
    /// Reference lines (ideal speedup, ...) are dashed and grey.
    pub reference: bool,
}

/// A figure as data.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// File stem: `fig-T1-time-vs-size`.
    pub stem: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub log_y: bool,
    /// The x axis counts something (P): label whole numbers only.
    pub integer_x: bool,
    pub series: Vec<Series>,
    /// Shown instead of axes when there is nothing to plot (for example: no GPU).
    pub message: Option<String>,
}

impl Chart {
    fn new(stem: &str, title: &str, x_label: &str, y_label: &str) -> Self {
        Self {
            stem: stem.into(),
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            log_x: false,
            log_y: false,
            integer_x: false,
            series: vec![],
            message: None,
        }
    }

    fn has_points(&self) -> bool {
        self.series.iter().any(|s| !s.reference && !s.points.is_empty())
    }
}

fn point(x: f64, y: f64) -> Point {
    Point { x, y, range: None }
}

/// Groups cells into series by `label`, points ordered by x.
fn series_by(
    cells: &[&CellStats],
    label: impl Fn(&CellStats) -> String,
    point: impl Fn(&CellStats) -> Point,
) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    for c in cells {
        let l = label(c);
        let p = point(c);
        if !(p.x.is_finite() && p.y.is_finite()) {
            continue;
        }
        match out.iter_mut().find(|s| s.label == l) {
            Some(s) => s.points.push(p),
            None => out.push(Series { label: l, points: vec![p], reference: false }),
        }
    }
    for s in &mut out {
        s.points.sort_by(|a, b| a.x.total_cmp(&b.x));
    }
    out
}

fn mode_p(c: &CellStats) -> String {
    let dagger = if c.oversubscribed { "†" } else { "" };
    if c.p() > 1 { format!("{} P={}{dagger}", c.label(), c.p()) } else { c.label() }
}

fn time_vs_size(agg: &Aggregate, id: &str) -> Chart {
    let cells: Vec<&CellStats> = agg.table(id).collect();
    let mut chart = Chart::new(
        &format!("fig-{id}-time-vs-size"),
        "Total training time by data size",
        "training samples N",
        "time (s), median, bars: min-max",
    );
    chart.series =
        series_by(&cells, mode_p, |c| Point { x: c.n as f64, y: c.median_s, range: Some((c.min_s, c.max_s)) });
    chart
}

fn epoch_time(agg: &Aggregate, id: &str) -> Chart {
    let cells: Vec<&CellStats> = agg.table(id).collect();
    let mut chart = Chart::new(
        &format!("fig-{id}-epoch-time"),
        "Time per epoch by data size",
        "training samples N",
        "time per epoch (s), median, bars: IQR",
    );
    chart.series = series_by(
        &cells,
        |c| format!("{} H={}", mode_p(c), c.hidden),
        |c| Point { x: c.n as f64, y: c.epoch_median_s, range: Some((c.epoch_q1_s, c.epoch_q3_s)) },
    );
    chart
}

/// The ideal line from P = 1 (where it is 1) to the largest P of `cells`, where it is
/// `at_top(P)`.
fn ideal_line(cells: &[&CellStats], at_top: impl Fn(f64) -> f64) -> Series {
    let top = cells.iter().map(|c| c.p()).max().unwrap_or(1) as f64;
    Series { label: "ideal".into(), points: vec![point(1.0, 1.0), point(top, at_top(top))], reference: true }
}

fn speedup(agg: &Aggregate, id: &str) -> Chart {
    let cells: Vec<&CellStats> = agg.table(id).filter(|c| c.mode != "seq").collect();
    let mut chart = Chart::new(
        &format!("fig-{id}-speedup"),
        "Strong scaling: speedup over sequential",
        "P (ranks or threads)",
        "speedup",
    );
    chart.series = series_by(&cells, |c| c.label(), |c| point(c.p() as f64, c.speedup.unwrap_or(f64::NAN)));
    chart.series.push(ideal_line(&cells, |p| p));
    chart
}

fn efficiency(agg: &Aggregate, id: &str) -> Chart {
    let cells: Vec<&CellStats> = agg.table(id).filter(|c| c.mode != "seq").collect();
    let mut chart = Chart::new(
        &format!("fig-{id}-efficiency"),
        "Strong scaling: efficiency",
        "P (ranks or threads)",
        "speedup / P",
    );
    chart.series = series_by(&cells, |c| c.label(), |c| point(c.p() as f64, c.efficiency.unwrap_or(f64::NAN)));
    chart.series.push(ideal_line(&cells, |_| 1.0));
    chart
}

fn comm_share(agg: &Aggregate, id: &str) -> Chart {
    let cells: Vec<&CellStats> = agg.table(id).filter(|c| c.mode == "mpi").collect();
    let mut chart = Chart::new(
        &format!("fig-{id}-comm-share"),
        "Communication share of training time (MPI)",
        "P (ranks)",
        "share of time (%)",
    );
    chart.series = series_by(&cells, |c| format!("{} comm", c.sync), |c| point(c.p() as f64, 100.0 * c.comm_share));
    chart.series.extend(series_by(
        &cells,
        |c| format!("{} wait", c.sync),
        |c| point(c.p() as f64, 100.0 * c.wait_share),
    ));
    chart
}

fn weak_scaling(agg: &Aggregate, id: &str) -> Chart {
    let cells: Vec<&CellStats> = agg.table(id).collect();
    let mut chart = Chart::new(
        &format!("fig-{id}-weak-scaling"),
        "Weak scaling: N/P fixed",
        "P (ranks or threads)",
        "weak efficiency",
    );
    chart.series = series_by(
        &cells,
        |c| c.label(),
        |c| point(c.p() as f64, weak_baseline(&cells, c).map_or(f64::NAN, |b| b.median_s / c.median_s)),
    );
    chart.series.push(ideal_line(&cells, |_| 1.0));
    chart
}

fn sync_patterns(agg: &Aggregate, id: &str) -> Chart {
    let cells: Vec<&CellStats> = agg.table(id).collect();
    let mut chart = Chart::new(
        &format!("fig-{id}-sync-patterns"),
        "Allreduce versus gather-broadcast",
        "hidden units H",
        "time per step (ms)",
    );
    chart.log_x = true;
    chart.log_y = true;
    chart.series = series_by(&cells, |c| format!("{} P={}", c.sync, c.p()), |c| point(c.hidden as f64, 1e3 * c.step_s));
    chart
}

fn gpu_crossover(agg: &Aggregate, id: &str) -> Chart {
    let cells: Vec<&CellStats> = agg.table(id).collect();
    let mut chart = Chart::new(
        &format!("fig-{id}-gpu-crossover"),
        "GPU versus the fastest CPU mode",
        "training samples N",
        "CPU time / GPU time (above 1: GPU faster)",
    );
    let pairs = crossover_pairs(&cells);
    let mut series: Vec<Series> = Vec::new();
    for (h, n, cpu, gpu) in pairs {
        if let (Some(c), Some(g)) = (cpu, gpu) {
            let label = format!("H={h}");
            let p = point(n as f64, c.median_s / g.median_s);
            match series.iter_mut().find(|s| s.label == label) {
                Some(s) => s.points.push(p),
                None => series.push(Series { label, points: vec![p], reference: false }),
            }
        }
    }
    chart.series = series;
    if chart.has_points() {
        let (lo, hi) = x_extent(&chart);
        chart.series.push(Series {
            label: "parity".into(),
            points: vec![point(lo, 1.0), point(hi, 1.0)],
            reference: true,
        });
    } else {
        let reason = agg.gaps_of(id).find(|g| g.mode == "gpu").map_or("no GPU cells".into(), |g| g.reason.clone());
        chart.message = Some(format!("Not run: {reason}"));
    }
    chart
}

/// Every figure the tables of `agg` support, by table name.
pub fn charts(agg: &Aggregate, tables: &[(String, String)]) -> Vec<Chart> {
    let mut out = Vec::new();
    for (id, name) in tables {
        match name.as_str() {
            "time-vs-size" => out.push(time_vs_size(agg, id)),
            "epoch-time" => out.push(epoch_time(agg, id)),
            "strong-scaling" => out.extend(
                [speedup(agg, id), efficiency(agg, id), comm_share(agg, id)].map(|c| Chart { integer_x: true, ..c }),
            ),
            "weak-scaling" => out.push(Chart { integer_x: true, ..weak_scaling(agg, id) }),
            "sync-patterns" => out.push(sync_patterns(agg, id)),
            "gpu-crossover" => out.push(gpu_crossover(agg, id)),
            _ => {}
        }
    }
    for chart in &mut out {
        if chart.message.is_none() && !chart.has_points() {
            chart.message = Some("No measurements for this figure (see the table's notes).".into());
        }
    }
    out
}

fn x_extent(chart: &Chart) -> (f64, f64) {
    extent(chart.series.iter().flat_map(|s| s.points.iter().map(|p| p.x)))
}

fn y_extent(chart: &Chart) -> (f64, f64) {
    extent(chart.series.iter().flat_map(|s| {
        s.points.iter().flat_map(|p| [p.y].into_iter().chain(p.range.map(|r| r.0)).chain(p.range.map(|r| r.1)))
    }))
}

fn extent(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

/// Axis range with a margin; from zero on linear axes where the data is positive.
fn axis(lo: f64, hi: f64, log: bool) -> (f64, f64) {
    if log {
        let lo = if lo > 0.0 { lo } else { 1e-3 };
        (lo / 1.3, hi.max(lo) * 1.3)
    } else {
        let lo = lo.min(0.0);
        let span = (hi - lo).max(1e-9);
        (lo, hi + 0.08 * span)
    }
}

fn tick(v: f64) -> String {
    match v.abs() {
        0.0 => "0".into(),
        a if a >= 1000.0 => format!("{}k", v / 1000.0),
        a if a >= 10.0 => format!("{v:.0}"),
        a if a >= 1.0 => format!("{v:.1}"),
        a if a >= 0.01 => format!("{v:.2}"),
        _ => format!("{v:.1e}"),
    }
}

fn fail<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing failed: {e:?}")
}

fn draw_chart<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &Chart) -> anyhow::Result<()> {
    root.fill(&WHITE).map_err(fail)?;
    if let Some(message) = chart.message.as_ref().filter(|_| !chart.has_points()) {
        let titled = root.titled(&chart.title, (FONT, 24)).map_err(fail)?;
        let (w, h) = titled.dim_in_pixel();
        let style = TextStyle::from((FONT, 18).into_font()).pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        ));
        // Wrap long reasons at about 70 characters.
        let mut lines = vec![String::new()];
        for word in message.split_whitespace() {
            if lines.last().is_some_and(|l| l.len() + word.len() > 70) {
                lines.push(String::new());
            }
            let last = lines.last_mut().expect("one line");
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
        for (i, line) in lines.iter().enumerate() {
            let y = h as i32 / 2 + (i as i32 - lines.len() as i32 / 2) * 26;
            titled.draw_text(line, &style, (w as i32 / 2, y)).map_err(fail)?;
        }
        return Ok(());
    }
    let (x0, x1) = x_extent(chart);
    let (y0, y1) = y_extent(chart);
    let (x0, x1) =
        if chart.log_x { axis(x0, x1, true) } else { (x0 - 0.05 * (x1 - x0).max(1.0), x1 + 0.05 * (x1 - x0).max(1.0)) };
    let (y0, y1) = axis(y0, y1, chart.log_y);
    match (chart.log_x, chart.log_y) {
        (false, false) => plot(root, chart, x0..x1, y0..y1),
        (true, true) => plot(root, chart, (x0..x1).log_scale(), (y0..y1).log_scale()),
        (true, false) => plot(root, chart, (x0..x1).log_scale(), y0..y1),
        (false, true) => plot(root, chart, x0..x1, (y0..y1).log_scale()),
    }
}

fn plot<DB, X, Y>(root: &DrawingArea<DB, Shift>, chart: &Chart, x: X, y: Y) -> anyhow::Result<()>
where
    DB: DrawingBackend,
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut ctx = ChartBuilder::on(root)
        .caption(&chart.title, (FONT, 24))
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)
        .map_err(fail)?;
    ctx.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .x_label_formatter(&|v| match (chart.integer_x, v.fract() == 0.0) {
            (true, true) => format!("{v:.0}"),
            (true, false) => String::new(),
            (false, _) => tick(*v),
        })
        .y_label_formatter(&|v| tick(*v))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(fail)?;
    let mut colour = PALETTE.iter().cycle();
    for s in &chart.series {
        let pts: Vec<(f64, f64)> = s.points.iter().map(|p| (p.x, p.y)).collect();
        if s.reference {
            let style = RGBColor(120, 120, 120).stroke_width(2);
            ctx.draw_series(DashedLineSeries::new(pts, 8, 6, style))
                .map_err(fail)?
                .label(&s.label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RGBColor(120, 120, 120)));
            continue;
        }
        let c = *colour.next().expect("a cycle never ends");
        ctx.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
            .map_err(fail)?
            .label(&s.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        ctx.draw_series(pts.iter().map(|&(x, y)| Circle::new((x, y), 4, c.filled()))).map_err(fail)?;
        let bars =
            s.points.iter().filter_map(|p| p.range.map(|(lo, hi)| ErrorBar::new_vertical(p.x, lo, p.y, hi, c, 8)));
        ctx.draw_series(bars).map_err(fail)?;
    }
    // Efficiencies sit near the top of their axis: their legend goes below them.
    let legend = if chart.y_label.contains("efficiency") || chart.y_label.contains("/ P") {
        SeriesLabelPosition::LowerRight
    } else {
        SeriesLabelPosition::UpperLeft
    };
    ctx.configure_series_labels()
        .position(legend)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .label_font((FONT, 15))
        .draw()
        .map_err(fail)?;
    root.present().map_err(fail)?;
    Ok(())
}

fn register_font() -> anyhow::Result<()> {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok());
    anyhow::ensure!(ok, "the bundled font assets/fonts/DejaVuSans.ttf could not be loaded");
    Ok(())
}

/// The chart as SVG text.
pub fn svg(chart: &Chart) -> anyhow::Result<String> {
    register_font()?;
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
        draw_chart(&root, chart).with_context(|| format!("cannot draw {}", chart.stem))?;
    }
    Ok(text)
}

/// The chart as PNG bytes.
pub fn png(chart: &Chart) -> anyhow::Result<Vec<u8>> {
    register_font()?;
    let mut rgb = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        draw_chart(&root, chart).with_context(|| format!("cannot draw {}", chart.stem))?;
    }
    // Encoded here rather than by plotters' file backend, so the file is written atomically.
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(&rgb, SIZE.0, SIZE.1, image::ColorType::Rgb8)
        .with_context(|| format!("cannot encode {} as PNG", chart.stem))?;
    Ok(bytes)
}

/// Writes `<stem>.svg` and `<stem>.png` of every chart into `dir`, atomically.
pub fn write_all(charts: &[Chart], dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut written = Vec::new();
    for chart in charts {
        let svg_path = dir.join(format!("{}.svg", chart.stem));
        crate::fsutil::write_atomic(&svg_path, svg(chart)?.as_bytes())?;
        let png_path = dir.join(format!("{}.png", chart.stem));
        crate::fsutil::write_atomic(&png_path, &png(chart)?)?;
        written.push(chart.stem.clone());
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Chart {
        let mut c = Chart::new("fig-demo", "Demo", "N", "time (s)");
        c.series.push(Series {
            label: "seq".into(),
            points: vec![Point { x: 1000.0, y: 1.0, range: Some((0.9, 1.2)) }, point(2000.0, 2.0)],
            reference: false,
        });
        c
    }

    #[test]
    fn svg_and_png_are_drawn_with_the_bundled_font() {
        let svg = svg(&demo()).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("Demo") && svg.contains("seq"), "{}", &svg[..200]);
        let png = png(&demo()).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert!(png.len() > 5000, "an 800x520 chart with text is more than a blank image");
    }

    #[test]
    fn an_empty_chart_says_why() {
        let mut c = Chart::new("fig-gpu", "GPU", "N", "s");
        c.message = Some("Not run: no GPU found".into());
        assert!(svg(&c).unwrap().contains("Not run: no GPU found"));
    }
}
