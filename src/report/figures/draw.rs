//! Any [`Chart`] drawn with plotters on any backend, so the SVG and the PNG are the same
//! picture. Text uses the bundled DejaVu Sans, so no system fonts are needed. Returns
//! bytes; `report` writes them.

use anyhow::Context;
use image::ImageEncoder;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use super::{Chart, Look, labels};

const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
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

/// Axis range with a margin; on a linear axis from zero where the data is positive and
/// `from_zero` asks for it, else from just below the data.
fn axis(lo: f64, hi: f64, log: bool, from_zero: bool) -> (f64, f64) {
    if log {
        let lo = if lo > 0.0 { lo } else { 1e-3 };
        (lo / 1.3, hi.max(lo) * 1.3)
    } else if from_zero {
        let lo = lo.min(0.0);
        let span = (hi - lo).max(1e-9);
        (lo, hi + 0.08 * span)
    } else {
        let span = (hi - lo).max(1e-3 * hi.abs()).max(1e-9);
        (lo - 0.08 * span, hi + 0.08 * span)
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

/// A linear axis's label, with as many decimals as ticks about `step` apart need to read
/// apart: [`tick`]'s two decimals print 0.885 and 0.89 both as "0.89" on an axis of
/// accuracies from 0.875 to 0.92.
fn tick_on(v: f64, step: f64) -> String {
    let given = match v.abs() {
        a if !(0.01..1000.0).contains(&a) => return tick(v),
        a if a >= 10.0 => 0,
        a if a >= 1.0 => 1,
        _ => 2,
    };
    let needed = if step > 0.0 && step.is_finite() { (-step.log10()).ceil().clamp(0.0, 6.0) as usize } else { 0 };
    if needed <= given { tick(v) } else { format!("{v:.needed$}") }
}

/// The spacing of about ten ticks over `lo..hi`: what plotters' labels are at most.
fn tick_step(lo: f64, hi: f64) -> f64 {
    (hi - lo) / 10.0
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
    let (x0, x1) = chart.x_extent();
    let (y0, y1) = chart.y_extent();
    let (x0, x1) = if chart.log_x {
        axis(x0, x1, true, false)
    } else {
        (x0 - 0.05 * (x1 - x0).max(1.0), x1 + 0.05 * (x1 - x0).max(1.0))
    };
    let (y0, y1) = axis(y0, y1, chart.log_y, chart.y_from_zero);
    let steps = (tick_step(x0, x1), tick_step(y0, y1));
    match (chart.log_x, chart.log_y) {
        (false, false) => plot(root, chart, x0..x1, y0..y1, steps),
        (true, true) => plot(root, chart, (x0..x1).log_scale(), (y0..y1).log_scale(), steps),
        (true, false) => plot(root, chart, (x0..x1).log_scale(), y0..y1, steps),
        (false, true) => plot(root, chart, x0..x1, (y0..y1).log_scale(), steps),
    }
}

/// `steps`: the tick spacing of each linear axis, (x, y), which sets its labels' decimals.
fn plot<DB, X, Y>(root: &DrawingArea<DB, Shift>, chart: &Chart, x: X, y: Y, steps: (f64, f64)) -> anyhow::Result<()>
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
    // A counting axis gets a label per whole number when there are few (P = 1, 2, 4).
    let (lo, hi) = chart.x_extent();
    let x_labels = if chart.integer_x && hi - lo <= 16.0 { (hi - lo).round() as usize + 1 } else { 10 };
    ctx.configure_mesh()
        .x_labels(x_labels)
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .x_label_formatter(&|v| match (chart.integer_x, v.fract() == 0.0) {
            (true, true) => format!("{v:.0}"),
            (true, false) => String::new(),
            (false, _) if chart.log_x => tick(*v),
            (false, _) => tick_on(*v, steps.0),
        })
        .y_label_formatter(&|v| if chart.log_y { tick(*v) } else { tick_on(*v, steps.1) })
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(fail)?;
    let mut colour = PALETTE.iter().cycle();
    let mut keyed: Vec<(&str, RGBColor)> = Vec::new();
    // Placed once every series is drawn, each clear of the others (`labels`).
    let mut notes: Vec<((f64, f64), &str, RGBColor)> = Vec::new();
    let mut markers: Vec<(f64, f64)> = Vec::new();
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
        let c = match s.colour_key.as_deref() {
            Some(key) => match keyed.iter().find(|(k, _)| *k == key) {
                Some(&(_, c)) => c,
                None => {
                    let c = *colour.next().expect("a cycle never ends");
                    keyed.push((key, c));
                    c
                }
            },
            None => *colour.next().expect("a cycle never ends"),
        };
        match s.look {
            Look::Solid => {
                ctx.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                    .map_err(fail)?
                    .label(&s.label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
                ctx.draw_series(pts.iter().map(|&(x, y)| Circle::new((x, y), 4, c.filled()))).map_err(fail)?;
            }
            Look::Dashed => {
                ctx.draw_series(DashedLineSeries::new(pts.clone(), 6, 4, c.stroke_width(2)))
                    .map_err(fail)?
                    .label(&s.label)
                    .legend(move |(x, y)| {
                        EmptyElement::at((x, y))
                            + PathElement::new(vec![(0, 0), (6, 0)], c.stroke_width(2))
                            + PathElement::new(vec![(10, 0), (16, 0)], c.stroke_width(2))
                            + TriangleMarker::new((8, 0), 5, c.filled())
                    });
                ctx.draw_series(pts.iter().map(|&(x, y)| TriangleMarker::new((x, y), 6, c.filled()))).map_err(fail)?;
            }
        }
        markers.extend(&pts);
        notes.extend(s.points.iter().filter_map(|p| p.note.as_ref().map(|note| ((p.x, p.y), note.as_str(), c))));
        let bars =
            s.points.iter().filter_map(|p| p.range.map(|(lo, hi)| ErrorBar::new_vertical(p.x, lo, p.y, hi, c, 8)));
        ctx.draw_series(bars).map_err(fail)?;
        let x_bars =
            s.points.iter().filter_map(|p| p.x_range.map(|(lo, hi)| ErrorBar::new_horizontal(p.y, lo, p.x, hi, c, 8)));
        ctx.draw_series(x_bars).map_err(fail)?;
    }
    // Efficiencies and accuracies sit near the top of their axis: their legend goes below;
    // and off points wherever another spot is clear of them.
    let high = ["efficiency", "/ P", "accuracy"];
    let preferred = if chart.legend_upper_right {
        labels::LegendSpot::UpperRight
    } else if high.iter().any(|w| chart.y_label.contains(w)) {
        labels::LegendSpot::LowerRight
    } else {
        labels::LegendSpot::UpperLeft
    };
    let pixels: Vec<(i32, i32)> = markers.iter().map(|m| ctx.backend_coord(m)).collect();
    let (xs, ys) = ctx.plotting_area().get_pixel_range();
    let area = labels::Rect { left: xs.start, top: ys.start, width: xs.end - xs.start, height: ys.end - ys.start };
    let size = legend_size(root, chart)?;
    let spot = if chart.legend_upper_right { preferred } else { labels::legend_spot(preferred, size, &pixels, area) };
    draw_notes(root, &mut ctx, &notes, &pixels, area, spot.legend_box(size, &area))?;
    let legend = match spot {
        labels::LegendSpot::UpperLeft => SeriesLabelPosition::UpperLeft,
        labels::LegendSpot::UpperRight => SeriesLabelPosition::UpperRight,
        labels::LegendSpot::LowerLeft => SeriesLabelPosition::LowerLeft,
        labels::LegendSpot::LowerRight => SeriesLabelPosition::LowerRight,
        labels::LegendSpot::UpperMiddle => SeriesLabelPosition::UpperMiddle,
        labels::LegendSpot::MiddleLeft => SeriesLabelPosition::MiddleLeft,
        labels::LegendSpot::MiddleRight => SeriesLabelPosition::MiddleRight,
        labels::LegendSpot::LowerMiddle => SeriesLabelPosition::LowerMiddle,
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

/// The legend's size in pixels, about: its widest label beside a sample line, a row per series.
fn legend_size<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &Chart) -> anyhow::Result<(i32, i32)> {
    let style = TextStyle::from((FONT, 15).into_font());
    let (mut width, mut rows) = (0, 0);
    for s in &chart.series {
        let (w, _) = root.estimate_text_size(&s.label, &style).map_err(fail)?;
        width = width.max(w as i32);
        rows += 1;
    }
    Ok((width + 45, rows * 20 + 12))
}

/// The points' notes, each placed beside its point clear of the others and of the legend
/// ([`labels::place`]). `markers`: every point drawn, in pixels.
fn draw_notes<DB, X, Y>(
    root: &DrawingArea<DB, Shift>,
    ctx: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    notes: &[((f64, f64), &str, RGBColor)],
    markers: &[(i32, i32)],
    area: labels::Rect,
    legend: labels::Rect,
) -> anyhow::Result<()>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let font = (FONT, 13).into_font();
    let mut placing = Vec::new();
    for &(at, text, _) in notes {
        let (w, h) = root.estimate_text_size(text, &TextStyle::from(font.clone())).map_err(fail)?;
        placing.push(labels::Note { at: ctx.backend_coord(&at), size: (w as i32, h as i32) });
    }
    let offsets = labels::place(&placing, markers, area, Some(legend));
    let elements = notes.iter().zip(offsets).map(|(&(at, text, c), offset)| {
        EmptyElement::at(at) + Text::new(text.to_string(), offset, font.clone().color(&c))
    });
    ctx.draw_series(elements).map_err(fail)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::figures::{Look, Point, Series, point};

    fn demo() -> Chart {
        let mut c = Chart::new("fig-demo", "Demo", "N", "time (s)");
        c.series.push(Series::new(
            "seq".into(),
            vec![
                Point {
                    range: Some((0.9, 1.2)),
                    x_range: Some((950.0, 1100.0)),
                    note: Some("P=1".into()),
                    ..point(1000.0, 1.0)
                },
                point(2000.0, 2.0),
            ],
        ));
        let mut dashed = Series::new("seq H=25".into(), vec![point(1000.0, 0.5), point(2000.0, 1.0)]);
        dashed.look = Look::Dashed;
        dashed.colour_key = Some("seq".into());
        c.series.push(dashed);
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
    fn ticks_a_small_step_apart_read_apart_and_plain_ones_stay_plain() {
        let accuracies: Vec<String> = [0.875, 0.88, 0.885, 0.89].iter().map(|&v| tick_on(v, 0.0045)).collect();
        assert_eq!(accuracies, ["0.875", "0.880", "0.885", "0.890"]);
        assert_eq!(tick_on(0.5, 0.1), "0.50");
        assert_eq!(tick_on(20.0, 5.0), "20");
        assert_eq!(tick_on(1.95, 0.01), "1.95");
        assert_eq!(tick_on(2500.0, 10.0), "2.5k");
        assert_eq!(tick_on(0.0, 0.001), "0");
    }

    #[test]
    fn an_empty_chart_says_why() {
        let mut c = Chart::new("fig-gpu", "GPU", "N", "s");
        c.message = Some("Not run: no GPU found".into());
        assert!(svg(&c).unwrap().contains("Not run: no GPU found"));
    }
}
