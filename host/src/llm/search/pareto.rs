//! The Pareto front of explored points (memory and calibration perplexity, both minimized) and
//! its plot (SVG, plotters).

use std::path::Path;

use plotters::prelude::*;

use super::{Point, SearchError, Tier};

/// Indices of the points no other point dominates in (memory, perplexity), by increasing memory.
/// A point is dominated when another is no worse in both and better in one.
pub fn front(points: &[Point]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..points.len()).collect();
    idx.sort_by(|&a, &b| points[a].memory.cmp(&points[b].memory).then(points[a].ppl.total_cmp(&points[b].ppl)));
    let mut out: Vec<usize> = Vec::new();
    let mut best = f64::INFINITY;
    for i in idx {
        if points[i].ppl < best {
            best = points[i].ppl;
            out.push(i);
        }
    }
    out
}

/// What the plot marks besides the points.
#[derive(Debug, Clone, Copy)]
pub struct Marks {
    /// `--max-memory`, bytes.
    pub max_memory: Option<u64>,
    /// The perplexity limit.
    pub ppl_limit: Option<f64>,
    /// The chosen point.
    pub chosen: Option<usize>,
}

/// Writes the plot: every explored point (memory in MB against calibration perplexity), the front as a line, uniform settings labelled, the chosen point and the limits.
pub fn plot_svg(path: &Path, points: &[Point], front_idx: &[usize], marks: Marks) -> Result<(), SearchError> {
    let draw = || -> Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
        root.fill(&WHITE)?;
        let mb = |b: u64| b as f64 / 1e6;
        let xs = points.iter().map(|p| mb(p.memory)).chain(marks.max_memory.map(mb));
        let (x0, x1) = xs.fold((f64::INFINITY, 0f64), |(lo, hi), x| (lo.min(x), hi.max(x)));
        let ys = points.iter().map(|p| p.ppl).chain(marks.ppl_limit);
        let (y0, y1) = ys.fold((f64::INFINITY, 0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
        let mut chart = ChartBuilder::on(&root)
            .caption("Mixed-precision search: explored points and Pareto front", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((x0 * 0.95)..(x1 * 1.08), (y0 * 0.97)..(y1 * 1.05))?;
        chart
            .configure_mesh()
            .x_desc("memory of the linear layers, MB (weights + scales)")
            .y_desc("perplexity on PTB valid calibration segments")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()?;
        let grey = RGBColor(150, 150, 150);
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|p| p.tier != Tier::Global)
                    .map(|p| Circle::new((mb(p.memory), p.ppl), 2, grey.filled())),
            )?
            .label("explored")
            .legend(move |(x, y)| Circle::new((x, y), 3, grey.filled()));
        chart
            .draw_series(LineSeries::new(
                front_idx.iter().map(|&i| (mb(points[i].memory), points[i].ppl)),
                BLUE.stroke_width(2),
            ))?
            .label("Pareto front")
            .legend(|(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], BLUE.stroke_width(2)));
        for p in points.iter().filter(|p| p.tier == Tier::Global) {
            chart.draw_series(std::iter::once(TriangleMarker::new((mb(p.memory), p.ppl), 7, BLACK.filled())))?;
            chart.draw_series(std::iter::once(Text::new(
                p.label.clone(),
                (mb(p.memory), p.ppl),
                ("sans-serif", 13),
            )))?;
        }
        if let Some(c) = marks.chosen {
            let p = &points[c];
            chart
                .draw_series(std::iter::once(Cross::new((mb(p.memory), p.ppl), 8, RED.stroke_width(3))))?
                .label("chosen")
                .legend(|(x, y)| Cross::new((x, y), 5, RED.stroke_width(2)));
        }
        if let Some(m) = marks.max_memory {
            let x = mb(m);
            chart
                .draw_series(LineSeries::new([(x, y0 * 0.97), (x, y1 * 1.05)], RED.mix(0.5)))?
                .label("--max-memory")
                .legend(|(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], RED.mix(0.5)));
        }
        if let Some(l) = marks.ppl_limit {
            chart
                .draw_series(LineSeries::new([(x0 * 0.95, l), (x1 * 1.08, l)], MAGENTA.mix(0.5)))?
                .label("perplexity limit")
                .legend(|(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], MAGENTA.mix(0.5)));
        }
        chart.configure_series_labels().border_style(BLACK).background_style(WHITE.mix(0.9)).draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| SearchError::Plot { path: path.to_path_buf(), why: e.to_string() })
}
