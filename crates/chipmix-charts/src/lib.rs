//! SVG charts for chipmix's markdown reports: bar charts, line charts with gaps, and histograms
//! with labelled markers, each returned as one standalone `<svg>` document string.
//!
//! Charts are drawn with the `plotters` SVG backend because it produces plain vector markup that
//! markdown viewers render inline and that diffs and snapshots well: the output depends only on the
//! input, never on the machine. Plotters needs font metrics to lay out titles, ticks and legends;
//! rather than asking the system (fontconfig) for a font, which would make the layout differ
//! between machines, this crate embeds DejaVu Sans and registers it under the `sans-serif` family.
//! The SVG itself still names `sans-serif`, so viewers draw text with their own sans-serif face.
//!
//! SOURCE: `assets/DejaVuSans.ttf` is DejaVu Sans 2.37 (<https://dejavu-fonts.github.io/>), under
//! the Bitstream Vera license with public-domain DejaVu changes; see `assets/LICENSE-DejaVu.txt`.
//!
//! Every function accepts any input (empty, NaN, infinite, huge or degenerate values) without
//! panicking; where nothing can be plotted the chart shows its title and "no data".

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One bar of a [`bar_chart_svg`].
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Category label, drawn beside (horizontal) or under (vertical) the bar.
    pub label: String,
    /// Bar length; non-finite values are left out of the chart.
    pub value: f64,
}

/// One line of a [`line_chart_svg`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry (a legend is drawn only when there is more than one series).
    pub name: String,
    /// `(x, y)` points, joined in the given order. A non-finite `y` is a gap: the line breaks
    /// there and an "×" on the bottom axis marks the `x`. Points with a non-finite `x` only break
    /// the line.
    pub points: Vec<(f64, f64)>,
}

const WIDTH: u32 = 720;
const HEIGHT: u32 = 360;
const FONT: &str = "sans-serif";
const TITLE_SIZE: f64 = 20.0;
const LABEL_SIZE: f64 = 13.0;
const DESC_SIZE: f64 = 14.0;

// Pixel rows per bar in a horizontal bar chart, and the space the title and value axis take.
const BAR_ROW: u32 = 26;
const BAR_CHROME: u32 = 100;
// Keeps a pathological number of bars from producing an absurdly tall image.
const MAX_HEIGHT: u32 = 8000;

// Clamping keeps every span (max - min, plus padding) finite, which plotters' tick computation
// relies on; values this large are not meaningful on a chart anyway.
const LIMIT: f64 = 1e300;

// Labels longer than these would eat the plotting area.
const MAX_LABEL_CHARS: usize = 40;
const MAX_LEGEND_CHARS: usize = 28;
// Pixel rows per legend entry, and the space the title and x axis take, for tall legends.
const LEGEND_ROW: u32 = 18;
const LEGEND_CHROME: u32 = 80;

static DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

// Okabe–Ito colour-blind-safe palette (yellow dropped: unreadable on white).
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(213, 94, 0),
    RGBColor(86, 180, 233),
    RGBColor(204, 121, 167),
    RGBColor(64, 64, 64),
];
const MARKER_COLOR: RGBColor = RGBColor(200, 30, 30);
const GRID: RGBColor = RGBColor(225, 225, 225);

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn ensure_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The bytes are a known-good font; if registration somehow failed, drawing text would
        // error and the charts would degrade to shapes only, which the callers tolerate.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, DEJAVU_SANS);
    });
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Runs `draw` on a white canvas and returns the finished document. Drawing errors are ignored
/// on purpose: a partially drawn chart is still a well-formed SVG (the backend closes open tags),
/// and a report is better off with it than with a panic.
fn render(size: (u32, u32), draw: impl FnOnce(&Area<'_>) -> DrawResult) -> String {
    ensure_font();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        let _ = root.fill(&WHITE);
        let _ = draw(&root);
        let _ = root.present();
    }
    out
}

fn no_data(title: &str, size: (u32, u32)) -> String {
    let title = clean(title);
    render(size, |root| {
        let (w, h) = root.dim_in_pixel();
        root.draw(&Text::new(
            title,
            (w as i32 / 2, 12),
            text_style(TITLE_SIZE, HPos::Center, VPos::Top),
        ))?;
        root.draw(&Text::new(
            "no data",
            (w as i32 / 2, h as i32 / 2),
            text_style(DESC_SIZE, HPos::Center, VPos::Center).color(&RGBColor(110, 110, 110)),
        ))?;
        Ok(())
    })
}

fn text_style(size: f64, h: HPos, v: VPos) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).pos(Pos::new(h, v))
}

/// Characters XML 1.0 forbids (most C0 controls, U+FFFE/U+FFFF) would make the document
/// unparseable even though plotters escapes markup characters; line breaks would not render.
fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '\u{FFFE}' | '\u{FFFF}'))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn clean_label(s: &str, max_chars: usize) -> String {
    let s = clean(s);
    if s.chars().count() <= max_chars {
        s
    } else {
        let mut t: String = s.chars().take(max_chars - 1).collect();
        t.push('…');
        t
    }
}

fn clamp(v: f64) -> f64 {
    v.clamp(-LIMIT, LIMIT)
}

/// Extent of finite values, or `None` when there are none.
fn extent(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .map(clamp)
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// Widens `[lo, hi]` by `margin` of its span on each side. A span that is zero, or negligible next
/// to the magnitude of the values, is widened to a visible one first: plotters divides by the span
/// and its tick search misbehaves when the span is below the values' floating-point resolution.
fn pad(lo: f64, hi: f64, margin: f64) -> (f64, f64) {
    let (lo, hi) = (clamp(lo), clamp(hi));
    let mag = lo.abs().max(hi.abs());
    if hi - lo <= mag * 1e-9 {
        let half = if mag > 0.0 { mag * 0.1 } else { 1.0 };
        let mid = lo / 2.0 + hi / 2.0;
        return (mid - half, mid + half);
    }
    let m = (hi - lo) * margin;
    (lo - m, hi + m)
}

/// Pixel width of `text`, falling back to a rough per-character guess if the font is missing.
fn text_width(root: &Area<'_>, text: &str, size: f64) -> u32 {
    root.estimate_text_size(text, &TextStyle::from((FONT, size).into_font()))
        .map(|(w, _)| w)
        .unwrap_or_else(|_| (text.chars().count() as f64 * size * 0.6) as u32)
}

/// Width of the left label area: the widest of a few representative tick labels plus room for
/// the rotated axis description.
fn y_area_width(root: &Area<'_>, range: (f64, f64), format: &dyn Fn(f64) -> String) -> u32 {
    let mid = range.0 / 2.0 + range.1 / 2.0;
    [range.0, mid, range.1]
        .iter()
        .map(|&v| text_width(root, &format(v), LABEL_SIZE))
        .max()
        .unwrap_or(0)
        .clamp(20, 200)
        + 34
}

/// Compact, deterministic tick labels for axes that have no caller-supplied formatter.
fn fmt_tick(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".to_owned()
    } else if !(1e-3..1e6).contains(&a) {
        format!("{v:.2e}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// Horizontal or vertical bar chart; value labels on the bars formatted by `format_value`.
///
/// Bars are coloured by index from a fixed palette, and the value axis always includes zero.
/// A few bars with short labels are drawn vertically (720×360); otherwise bars are horizontal
/// and the image grows 26 px taller per bar beyond what fits in 360 px. Bars with a non-finite
/// value are left out; with no bars left the chart shows only the title and "no data".
pub fn bar_chart_svg(
    title: &str,
    value_axis_label: &str,
    bars: &[Bar],
    format_value: &dyn Fn(f64) -> String,
) -> String {
    let bars: Vec<(String, f64)> = bars
        .iter()
        .filter(|b| b.value.is_finite())
        .map(|b| (clean_label(&b.label, MAX_LABEL_CHARS), clamp(b.value)))
        .collect();
    let Some((min, max)) = extent(bars.iter().map(|b| b.1)) else {
        return no_data(title, (WIDTH, HEIGHT));
    };
    let fmt = |v: f64| clean(&format_value(v));

    // Bars grow from zero; the extra span on the side the bars extend to leaves room for the value
    // labels at their ends.
    let (lo, hi) = (min.min(0.0), max.max(0.0));
    let (lo, hi) = if hi - lo > 0.0 {
        let room = (hi - lo) * 0.18;
        (
            if lo < 0.0 { lo - room } else { lo },
            if hi > 0.0 { hi + room } else { hi },
        )
    } else {
        (0.0, 1.0)
    };

    let n = bars.len();
    let vertical = n <= 8 && {
        // Measuring needs a drawing area; a throwaway one is cheap and uses the same font.
        ensure_font();
        let mut scratch = String::new();
        let probe = SVGBackend::with_string(&mut scratch, (WIDTH, HEIGHT)).into_drawing_area();
        let slot = (WIDTH - 120) / n as u32;
        bars.iter()
            .all(|(label, _)| text_width(&probe, label, LABEL_SIZE) + 8 <= slot)
    };

    if vertical {
        render((WIDTH, HEIGHT), |root| {
            draw_vertical_bars(root, title, value_axis_label, &bars, (lo, hi), &fmt)
        })
    } else {
        let height = (BAR_CHROME + BAR_ROW.saturating_mul(n as u32)).clamp(HEIGHT, MAX_HEIGHT);
        render((WIDTH, height), |root| {
            draw_horizontal_bars(root, title, value_axis_label, &bars, (lo, hi), &fmt)
        })
    }
}

fn draw_vertical_bars(
    root: &Area<'_>,
    title: &str,
    value_axis_label: &str,
    bars: &[(String, f64)],
    (lo, hi): (f64, f64),
    fmt: &dyn Fn(f64) -> String,
) -> DrawResult {
    let n = bars.len() as f64;
    let y_area = y_area_width(root, (lo, hi), fmt);
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .caption(clean(title), (FONT, TITLE_SIZE))
        .x_label_area_size(30)
        .y_label_area_size(y_area)
        .build_cartesian_2d(0.0..n, lo..hi)?;
    let y_fmt = |v: &f64| fmt(*v);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(clean(value_axis_label))
        .y_label_formatter(&y_fmt)
        .label_style((FONT, LABEL_SIZE))
        .axis_desc_style((FONT, DESC_SIZE))
        .max_light_lines(0)
        .bold_line_style(GRID)
        .draw()?;

    for (i, (label, value)) in bars.iter().enumerate() {
        let x = i as f64;
        let (x0, x1) = (x + 0.15, x + 0.85);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(x0, 0.0), (x1, *value)],
            color(i).filled(),
        )))?;
        let (vx, vy) = chart.backend_coord(&(x + 0.5, *value));
        let (value_pos, dy) = if *value < 0.0 {
            (VPos::Top, 4)
        } else {
            (VPos::Bottom, -4)
        };
        root.draw(&Text::new(
            fmt(*value),
            (vx, vy + dy),
            text_style(LABEL_SIZE, HPos::Center, value_pos),
        ))?;
        let (lx, ly) = chart.backend_coord(&(x + 0.5, lo));
        root.draw(&Text::new(
            label.clone(),
            (lx, ly + 6),
            text_style(LABEL_SIZE, HPos::Center, VPos::Top),
        ))?;
    }
    Ok(())
}

fn draw_horizontal_bars(
    root: &Area<'_>,
    title: &str,
    value_axis_label: &str,
    bars: &[(String, f64)],
    (lo, hi): (f64, f64),
    fmt: &dyn Fn(f64) -> String,
) -> DrawResult {
    let n = bars.len() as f64;
    let label_area = bars
        .iter()
        .map(|(label, _)| text_width(root, label, LABEL_SIZE))
        .max()
        .unwrap_or(0)
        .clamp(30, 300)
        + 12;
    let mut chart = ChartBuilder::on(root)
        .margin(12)
        .caption(clean(title), (FONT, TITLE_SIZE))
        .x_label_area_size(44)
        .y_label_area_size(label_area)
        .build_cartesian_2d(lo..hi, 0.0..n)?;
    let x_fmt = |v: &f64| fmt(*v);
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc(clean(value_axis_label))
        .x_label_formatter(&x_fmt)
        .label_style((FONT, LABEL_SIZE))
        .axis_desc_style((FONT, DESC_SIZE))
        .max_light_lines(0)
        .bold_line_style(GRID)
        .draw()?;

    for (i, (label, value)) in bars.iter().enumerate() {
        // The first bar goes at the top, as a reader expects of a list.
        let y = n - 1.0 - i as f64;
        let (y0, y1) = (y + 0.15, y + 0.85);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, y0), (*value, y1)],
            color(i).filled(),
        )))?;
        let (vx, vy) = chart.backend_coord(&(*value, y + 0.5));
        let (value_pos, dx) = if *value < 0.0 {
            (HPos::Right, -4)
        } else {
            (HPos::Left, 4)
        };
        root.draw(&Text::new(
            fmt(*value),
            (vx + dx, vy),
            text_style(LABEL_SIZE, value_pos, VPos::Center),
        ))?;
        let (lx, ly) = chart.backend_coord(&(lo, y + 0.5));
        root.draw(&Text::new(
            label.clone(),
            (lx - 6, ly),
            text_style(LABEL_SIZE, HPos::Right, VPos::Center),
        ))?;
    }
    Ok(())
}

/// Line chart with point markers; points whose y is not finite are gaps (the line breaks there,
/// and a small "×" marker at the bottom axis marks x values where a series has no value, e.g. an
/// infeasible sweep point). Legend when more than one series.
///
/// 720×360; the legend goes right of the plot, and the image grows taller when the legend needs
/// it. Series are coloured by index from a fixed palette. Y tick labels use `format_y`; x tick
/// labels use a compact numeric format. With no point that has both coordinates finite the chart
/// shows only the title and "no data". When every x is a whole number (periods, steps), only
/// whole numbers are ticked.
pub fn line_chart_svg(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    format_y: &dyn Fn(f64) -> String,
) -> String {
    let finite_x = || {
        series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|p| p.0.is_finite())
    };
    let Some((ymin, ymax)) = extent(finite_x().map(|p| p.1)) else {
        return no_data(title, (WIDTH, HEIGHT));
    };
    // Gap markers count towards the x extent so that they are never off the chart.
    let Some((xmin, xmax)) = extent(finite_x().map(|p| p.0)) else {
        return no_data(title, (WIDTH, HEIGHT));
    };
    let xr = pad(xmin, xmax, 0.02);
    let yr = pad(ymin, ymax, 0.06);
    let fmt = |v: f64| clean(&format_y(v));
    let names: Vec<String> = series
        .iter()
        .map(|s| clean_label(&s.name, MAX_LEGEND_CHARS))
        .collect();
    let legend = series.len() > 1;
    let height = if legend {
        (LEGEND_CHROME + LEGEND_ROW.saturating_mul(series.len() as u32)).clamp(HEIGHT, MAX_HEIGHT)
    } else {
        HEIGHT
    };

    render((WIDTH, height), |root| {
        // The legend sits right of the plot rather than inside it, where it would hide whichever
        // corner the data happens to reach.
        let legend_width = if legend {
            names
                .iter()
                .map(|n| text_width(root, n, LABEL_SIZE))
                .max()
                .unwrap_or(0)
                .clamp(20, 200)
                + 40
        } else {
            0
        };
        let y_area = y_area_width(root, yr, &fmt);
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .margin_right(12 + legend_width)
            .caption(clean(title), (FONT, TITLE_SIZE))
            .x_label_area_size(44)
            .y_label_area_size(y_area)
            .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)?;
        // Periods, steps and counts on x (every x a whole number): whole-number ticks only.
        let whole_x = finite_x().all(|p| p.0.fract() == 0.0);
        let x_fmt = |v: &f64| {
            if whole_x && v.fract() != 0.0 {
                String::new()
            } else {
                fmt_tick(*v)
            }
        };
        let y_fmt = |v: &f64| fmt(*v);
        let mut mesh = chart.configure_mesh();
        if whole_x {
            mesh.x_labels(((xmax - xmin).min(11.0) as usize + 1).max(2));
        }
        mesh.x_desc(clean(x_label))
            .y_desc(clean(y_label))
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .label_style((FONT, LABEL_SIZE))
            .axis_desc_style((FONT, DESC_SIZE))
            .max_light_lines(0)
            .bold_line_style(GRID)
            .draw()?;

        for (i, s) in series.iter().enumerate() {
            let c = color(i);
            let line = c.stroke_width(2);
            let mut segment: Vec<(f64, f64)> = Vec::new();
            let mut gaps: Vec<f64> = Vec::new();
            for &(x, y) in &s.points {
                if x.is_finite() && y.is_finite() {
                    segment.push((clamp(x), clamp(y)));
                    continue;
                }
                if x.is_finite() {
                    gaps.push(clamp(x));
                }
                if !segment.is_empty() {
                    chart.draw_series(LineSeries::new(std::mem::take(&mut segment), line))?;
                }
            }
            if !segment.is_empty() {
                chart.draw_series(LineSeries::new(segment, line))?;
            }
            chart.draw_series(
                s.points
                    .iter()
                    .filter(|p| p.0.is_finite() && p.1.is_finite())
                    .map(|&(x, y)| Circle::new((clamp(x), clamp(y)), 3, c.filled())),
            )?;
            chart.draw_series(
                gaps.into_iter()
                    .map(|x| Cross::new((x, yr.0), 4, c.stroke_width(2))),
            )?;
        }

        if legend {
            let (px, py) = chart.plotting_area().get_pixel_range();
            let x0 = px.end + 16;
            for (i, name) in names.iter().enumerate() {
                let y = py.start + 8 + LEGEND_ROW as i32 * i as i32;
                let c = color(i);
                root.draw(&PathElement::new(
                    vec![(x0, y), (x0 + 20, y)],
                    c.stroke_width(2),
                ))?;
                root.draw(&Circle::new((x0 + 10, y), 3, c.filled()))?;
                root.draw(&Text::new(
                    name.clone(),
                    (x0 + 28, y),
                    text_style(LABEL_SIZE, HPos::Left, VPos::Center),
                ))?;
            }
        }
        Ok(())
    })
}

/// Histogram of `values` in `bins` equal bins over [min, max]; `markers` are labelled vertical
/// lines (e.g. ("p95", 1.2e6)).
///
/// 720×360. Non-finite values are left out; `bins` of 0 is treated as 1 and more than 1000 as
/// 1000. When all values are equal the single occupied bin is centred on them. The x axis widens
/// to show finite markers outside [min, max]; non-finite markers are skipped. Marker labels read
/// `name = format_x(x)`, and x tick labels use `format_x` as well. With no finite value the chart
/// shows only the title and "no data".
pub fn histogram_svg(
    title: &str,
    x_label: &str,
    values: &[f64],
    bins: usize,
    markers: &[(String, f64)],
    format_x: &dyn Fn(f64) -> String,
) -> String {
    let values: Vec<f64> = values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .map(clamp)
        .collect();
    let Some((min, max)) = extent(values.iter().copied()) else {
        return no_data(title, (WIDTH, HEIGHT));
    };
    let bins = bins.clamp(1, 1000);
    let (lo, hi) = if min < max {
        (min, max)
    } else {
        pad(min, max, 0.0)
    };
    let width = hi - lo;
    let mut counts = vec![0u64; bins];
    for v in &values {
        // The maximum lands exactly on the upper edge; it belongs to the last bin.
        let idx = (((v - lo) / width) * bins as f64).floor();
        let idx = if idx.is_finite() && idx > 0.0 {
            (idx as usize).min(bins - 1)
        } else {
            0
        };
        counts[idx] += 1;
    }
    let edge = |i: usize| lo + width * (i as f64 / bins as f64);

    let markers: Vec<(String, f64)> = markers
        .iter()
        .filter(|m| m.1.is_finite())
        .map(|(name, x)| (clamp(*x), name))
        .map(|(x, name)| {
            (
                clean_label(&format!("{} = {}", name, format_x(x)), MAX_LABEL_CHARS),
                x,
            )
        })
        .collect();
    let xext = extent([lo, hi].into_iter().chain(markers.iter().map(|m| m.1))).unwrap_or((lo, hi));
    let xr = pad(xext.0, xext.1, 0.03);
    let top = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    // Headroom so the marker labels, stacked at the top, do not sit on the tallest bar.
    let stack = markers.len().min(6) as f64;
    let yr = (0.0, top * (1.12 + 0.07 * stack));
    let fmt = |v: f64| clean(&format_x(v));

    render((WIDTH, HEIGHT), |root| {
        let y_area = y_area_width(root, yr, &|v| fmt_tick(v.round()));
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .caption(clean(title), (FONT, TITLE_SIZE))
            .x_label_area_size(44)
            .y_label_area_size(y_area)
            .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)?;
        let x_fmt = |v: &f64| fmt(*v);
        // Counts are whole numbers; fractional ticks would be noise.
        let y_fmt = |v: &f64| {
            if v.fract() == 0.0 {
                fmt_tick(*v)
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(clean(x_label))
            .y_desc("count")
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .label_style((FONT, LABEL_SIZE))
            .axis_desc_style((FONT, DESC_SIZE))
            .max_light_lines(0)
            .bold_line_style(GRID)
            .draw()?;

        chart.draw_series(
            counts
                .iter()
                .enumerate()
                .filter(|c| *c.1 > 0)
                .map(|(i, &c)| {
                    Rectangle::new([(edge(i), 0.0), (edge(i + 1), c as f64)], color(0).filled())
                }),
        )?;
        // Outlines keep adjacent bars distinguishable.
        chart.draw_series(
            counts
                .iter()
                .enumerate()
                .filter(|c| *c.1 > 0)
                .map(|(i, &c)| {
                    Rectangle::new(
                        [(edge(i), 0.0), (edge(i + 1), c as f64)],
                        WHITE.stroke_width(1),
                    )
                }),
        )?;

        for (k, (label, x)) in markers.iter().enumerate() {
            chart.draw_series(DashedLineSeries::new(
                [(*x, yr.0), (*x, yr.1)],
                6,
                4,
                MARKER_COLOR.stroke_width(2),
            ))?;
            let (px, py) = chart.backend_coord(&(*x, yr.1));
            // Stagger so that nearby markers' labels do not overprint; right of the line unless
            // that would run off the image.
            let py = py + 4 + 16 * (k % 6) as i32;
            let w = text_width(root, label, LABEL_SIZE) as i32;
            let (h, px) = if px + 6 + w > WIDTH as i32 - 4 {
                (HPos::Right, px - 5)
            } else {
                (HPos::Left, px + 5)
            };
            root.draw(&Text::new(
                label.clone(),
                (px, py),
                text_style(LABEL_SIZE, h, VPos::Top).color(&MARKER_COLOR),
            ))?;
        }
        Ok(())
    })
}
