//! SVG line plots (plotters) for the command line's results.
use anyhow::Result;
use plotters::prelude::*;

/// One named line of `(x, y)` points.
pub struct Line {
    pub name: String,
    pub points: Vec<(f32, f32)>,
}

/// Panels side by side, each `(title, x label, y label, lines)`; returns the SVG text.
pub fn panels(panels: &[(&str, &str, &str, Vec<Line>)]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (420 * panels.len() as u32, 360)).into_drawing_area();
        root.fill(&WHITE)?;
        for ((title, xl, yl, lines), area) in panels.iter().zip(root.split_evenly((1, panels.len()))) {
            let all = lines.iter().flat_map(|l| l.points.iter()).filter(|p| p.0.is_finite() && p.1.is_finite());
            let (mut x0, mut x1, mut y0, mut y1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
            for &(x, y) in all {
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
                let pts: Vec<(f32, f32)> = line.points.iter().copied().filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
                chart
                    .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
                    .label(line.name.as_str())
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
                chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
            }
            chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
        }
        root.present()?;
    }
    Ok(svg)
}
