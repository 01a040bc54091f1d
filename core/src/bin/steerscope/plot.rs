//! SVG line plots (plotters) for the command line's results.
use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One named line of `(x, y)` points, with an optional `(low, high)` interval per point
/// (drawn as a vertical bar; e.g. a 95% bootstrap interval over pairs).
pub struct Line {
    pub name: String,
    pub points: Vec<(f32, f32)>,
    pub intervals: Vec<Option<(f32, f32)>>,
}

impl Line {
    /// A line without intervals.
    pub fn plain(name: String, points: Vec<(f32, f32)>) -> Self {
        Line { name, points, intervals: Vec::new() }
    }
}

/// Panels side by side, each `(title, x label, y label, lines)`; returns the SVG text.
pub fn panels(panels: &[(&str, &str, &str, Vec<Line>)]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (420 * panels.len() as u32, 360)).into_drawing_area();
        root.fill(&WHITE)?;
        for ((title, xl, yl, lines), area) in panels.iter().zip(root.split_evenly((1, panels.len()))) {
            let bars = lines.iter().flat_map(|l| {
                l.points.iter().zip(&l.intervals).filter_map(|(p, i)| i.map(|(lo, hi)| [(p.0, lo), (p.0, hi)]))
            });
            let all: Vec<(f32, f32)> = lines
                .iter()
                .flat_map(|l| l.points.iter().copied())
                .chain(bars.flatten())
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .collect();
            let (mut x0, mut x1, mut y0, mut y1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
            for &(x, y) in &all {
                (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
            }
            if x0 > x1 {
                (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
            }
            let pad = |a: f32, b: f32| ((b - a).abs() * 0.05).max(1e-3);
            let mut chart = ChartBuilder::on(&area)
                .caption(*title, ("sans-serif", 16))
                .margin(12)
                .x_label_area_size(32)
                .y_label_area_size(48)
                .build_cartesian_2d(x0 - pad(x0, x1)..x1 + pad(x0, x1), y0 - pad(y0, y1)..y1 + pad(y0, y1))?;
            chart.configure_mesh().x_desc(*xl).y_desc(*yl).draw()?;
            for (i, line) in lines.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                let pts: Vec<(f32, f32)> =
                    line.points.iter().copied().filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
                chart
                    .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
                    .label(line.name.as_str())
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
                chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
                let bars = line.points.iter().zip(&line.intervals).filter_map(|(&(x, _), i)| {
                    i.filter(|(lo, hi)| x.is_finite() && lo.is_finite() && hi.is_finite())
                        .map(|(lo, hi)| PathElement::new([(x, lo), (x, hi)], color.stroke_width(1)))
                });
                chart.draw_series(bars)?;
            }
            chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
        }
        root.present()?;
    }
    Ok(svg)
}

/// A heatmap of `values[row][col]` (missing cells grey), each cell labelled with its value;
/// returns the SVG text. Colour runs from blue (lowest) through white to red (highest).
pub fn heatmap(title: &str, rows: &[String], cols: &[String], values: &[Vec<Option<f32>>]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (70 + 56 * cols.len() as u32, 90 + 34 * rows.len() as u32))
            .into_drawing_area();
        root.fill(&WHITE)?;
        let finite = values.iter().flatten().flatten().copied().filter(|v| v.is_finite());
        let (lo, hi) = finite.fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(v), b.max(v)));
        let (nc, nr) = (cols.len() as i32, rows.len() as i32);
        // Segmented axes put each tick label at the centre of its cell.
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(44)
            .build_cartesian_2d((0..nc).into_segmented(), (0..nr).into_segmented())?;
        let name = |names: &[String], v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => names.get(*i as usize).cloned().unwrap_or_default(),
            SegmentValue::Last => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(cols.len() + 1)
            .y_labels(rows.len() + 1)
            .x_label_formatter(&|v| name(cols, v))
            .y_label_formatter(&|v| name(rows, v))
            .x_desc("strength")
            .y_desc("layer")
            .draw()?;
        for (r, row) in values.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                let (x, y) = (c as i32, r as i32);
                let fill = v.map_or(RGBColor(200, 200, 200), |v| diverging((v - lo) / (hi - lo).max(1e-9)));
                let corners = [
                    (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                    (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                ];
                chart.draw_series([Rectangle::new(corners, fill.filled())])?;
                let label = v.map_or("–".to_string(), |v| format!("{v:.1}"));
                let style = TextStyle::from(("sans-serif", 12)).pos(Pos::new(HPos::Center, VPos::Center));
                chart.draw_series([Text::new(label, (SegmentValue::CenterOf(x), SegmentValue::CenterOf(y)), style)])?;
            }
        }
        root.present()?;
    }
    Ok(svg)
}

/// Blue (0) → white (0.5) → red (1).
fn diverging(t: f32) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let mix = |a: f32, b: f32, s: f32| (a + (b - a) * s) as u8;
    if t < 0.5 {
        let s = t * 2.0;
        RGBColor(mix(59.0, 255.0, s), mix(76.0, 255.0, s), mix(192.0, 255.0, s))
    } else {
        let s = (t - 0.5) * 2.0;
        RGBColor(mix(255.0, 180.0, s), mix(255.0, 4.0, s), mix(255.0, 38.0, s))
    }
}

/// Several SVG documents placed left to right in one.
pub fn side_by_side(svgs: &[String]) -> String {
    let size = |svg: &str, attr: &str| -> u32 {
        svg.split_once(&format!("{attr}=\""))
            .and_then(|(_, r)| r.split_once('"'))
            .and_then(|(v, _)| v.parse().ok())
            .unwrap_or(0)
    };
    let (mut x, mut height, mut body) = (0, 0, String::new());
    for s in svgs {
        body.push_str(&s.replacen("<svg ", &format!("<svg x=\"{x}\" "), 1));
        x += size(s, "width");
        height = height.max(size(s, "height"));
    }
    format!("<svg width=\"{x}\" height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\">{body}</svg>")
}
