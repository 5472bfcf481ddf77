//! Line and scatter plots written as SVG and PNG (plotters, with an embedded DejaVu font so
//! that no system font is needed).

use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::Path;
use std::sync::Once;

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// A solid line.
    Line,
    /// A dashed line.
    Dashed,
    /// Filled dots.
    Dots,
    /// Small crosses.
    Crosses,
    /// One-pixel points (for clouds of thousands of samples).
    Points,
    /// A translucent filled area: the points go along the upper edge and back along the
    /// lower one (a band around a curve; see [`band`]).
    Band,
}

/// The points of a [`Style::Band`] between `lower` and `upper` at the abscissae `x`.
pub fn band(x: &[f64], lower: &[f64], upper: &[f64]) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = x.iter().copied().zip(upper.iter().copied()).collect();
    pts.extend(x.iter().copied().zip(lower.iter().copied()).rev());
    pts
}

/// One series of points.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend label (empty: no legend entry).
    pub label: String,
    /// RGB colour.
    pub color: (u8, u8, u8),
    /// Drawing style.
    pub style: Style,
    /// Points `(x, y)`; non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
}

/// A 2-D figure: axes, labels and series.
#[derive(Clone, Debug, Default)]
pub struct Figure {
    /// Title above the plot.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// x range (default: data range).
    pub x_range: Option<(f64, f64)>,
    /// y range (default: data range, padded).
    pub y_range: Option<(f64, f64)>,
    /// The series, drawn in order.
    pub series: Vec<Series>,
}

/// A qualitative palette (Okabe-Ito), readable by colour-blind readers.
pub const PALETTE: [(u8, u8, u8); 7] = [
    (213, 94, 0),
    (0, 114, 178),
    (0, 158, 115),
    (204, 121, 167),
    (230, 159, 0),
    (86, 180, 233),
    (0, 0, 0),
];

fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The fonts are valid TTF files shipped by the `dejavu` crate; registration can
        // only fail on invalid bytes.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

fn data_range(fig: &Figure, pick: impl Fn(&(f64, f64)) -> f64) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for s in &fig.series {
        for p in &s.points {
            let v = pick(p);
            if v.is_finite() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        return (lo - 0.5, hi + 0.5);
    }
    (lo, hi)
}

/// Text for a figure: control characters (invalid in SVG's XML even when escaped) become
/// spaces; plotters escapes `<`, `>`, `&` and quotes itself.
pub fn clean_text(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The most points a figure draws; longer series are thinned evenly (first and last
/// points kept), so a figure stays small whatever the recording cadence. The CSV and NPY
/// files keep every point.
pub const MAX_FIGURE_POINTS: usize = 40_000;

/// Every k-th point of `pts` (and the last), at most about `cap` points.
pub fn decimate(pts: Vec<(f64, f64)>, cap: usize) -> Vec<(f64, f64)> {
    let cap = cap.max(2);
    if pts.len() <= cap {
        return pts;
    }
    let stride = pts.len().div_ceil(cap - 1);
    let last = pts[pts.len() - 1];
    let mut out: Vec<(f64, f64)> = pts.into_iter().step_by(stride).collect();
    if out.last() != Some(&last) {
        out.push(last);
    }
    out
}

/// A drawing error of plotters, as its message.
type Drawn = std::result::Result<(), String>;

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, fig: &Figure) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (x0, x1) = fig.x_range.unwrap_or_else(|| data_range(fig, |p| p.0));
    let (y0, y1) = fig.y_range.unwrap_or_else(|| {
        let (a, b) = data_range(fig, |p| p.1);
        let pad = 0.05 * (b - a);
        (a - pad, b + pad)
    });
    let cap = (MAX_FIGURE_POINTS / fig.series.len().max(1)).max(400);
    let mut chart = ChartBuilder::on(&root)
        .caption(clean_text(&fig.title), ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(clean_text(&fig.x_label))
        .y_desc(clean_text(&fig.y_label))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| e.to_string())?;
    for s in &fig.series {
        let color = RGBColor(s.color.0, s.color.1, s.color.2);
        let pts: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        let pts = decimate(pts, cap);
        let anno = match s.style {
            Style::Line => chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                .map_err(|e| e.to_string())?,
            Style::Dashed => chart
                .draw_series(DashedLineSeries::new(pts, 6, 4, color.stroke_width(2)))
                .map_err(|e| e.to_string())?,
            Style::Dots => chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
                .map_err(|e| e.to_string())?,
            Style::Crosses => chart
                .draw_series(
                    pts.into_iter()
                        .map(|p| Cross::new(p, 3, color.stroke_width(1))),
                )
                .map_err(|e| e.to_string())?,
            Style::Points => chart
                .draw_series(
                    pts.into_iter()
                        .map(|p| Circle::new(p, 1, color.mix(0.5).filled())),
                )
                .map_err(|e| e.to_string())?,
            Style::Band => chart
                .draw_series(std::iter::once(Polygon::new(pts, color.mix(0.18).filled())))
                .map_err(|e| e.to_string())?,
        };
        if !s.label.is_empty() {
            let style = s.style;
            anno.label(clean_text(&s.label))
                .legend(move |(x, y)| match style {
                    Style::Line | Style::Dashed => {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                            .into_dyn()
                    }
                    Style::Dots | Style::Points => {
                        Circle::new((x + 9, y), 3, color.filled()).into_dyn()
                    }
                    Style::Crosses => Cross::new((x + 9, y), 3, color.stroke_width(1)).into_dyn(),
                    Style::Band => {
                        Rectangle::new([(x, y - 4), (x + 18, y + 4)], color.mix(0.18).filled())
                            .into_dyn()
                    }
                });
        }
    }
    if fig.series.iter().any(|s| !s.label.is_empty()) {
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 13))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .position(SeriesLabelPosition::MiddleRight)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

/// Size of rendered figures in pixels.
pub const SIZE: (u32, u32) = (960, 600);

/// Renders `fig` to an SVG file and a PNG file.
pub fn render(fig: &Figure, svg: &Path, png: &Path) -> Result<()> {
    register_fonts();
    draw(SVGBackend::new(svg, SIZE).into_drawing_area(), fig).map_err(plot_error(svg))?;
    draw(BitMapBackend::new(png, SIZE).into_drawing_area(), fig).map_err(plot_error(png))?;
    Ok(())
}

/// A drawing error of the image `path`.
fn plot_error(path: &Path) -> impl Fn(String) -> Error + '_ {
    move |message| Error::Plot {
        path: path.to_path_buf(),
        message,
    }
}

/// An RGB colour.
pub type Rgb = (u8, u8, u8);
/// A rectangle `(x0, y0, x1, y1)`.
pub type Rect = (f64, f64, f64, f64);

/// A map of coloured rectangles (a phase diagram) with line segments and labelled markers
/// drawn over it.
#[derive(Clone, Debug, Default)]
pub struct CellMap {
    /// Title.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// x range.
    pub x_range: (f64, f64),
    /// y range.
    pub y_range: (f64, f64),
    /// Rectangles `(x0, y0, x1, y1)` and their colours.
    pub cells: Vec<(Rect, Rgb)>,
    /// Line segments drawn in black (e.g. analytic boundaries).
    pub segments: Vec<((f64, f64), (f64, f64))>,
    /// Label of the segments in the legend.
    pub segments_label: String,
    /// Legend entries for the cell colours.
    pub legend: Vec<(String, Rgb)>,
    /// Labelled markers `(x, y, label)`.
    pub markers: Vec<(f64, f64, String)>,
}

/// Size of a cell map in pixels: the map, and the legend panel to its right.
const CELL_SIZE: (u32, u32) = (1200, 640);

/// Width of the legend panel to the right of a cell map, in pixels.
const LEGEND_WIDTH: u32 = 270;

fn draw_cells<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, map: &CellMap) -> Drawn
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    // The legend sits in its own panel beside the map, so that it hides no cell.
    let (plot_area, legend_area) = root.split_horizontally(root.dim_in_pixel().0 - LEGEND_WIDTH);
    let (x0, x1) = map.x_range;
    let (y0, y1) = map.y_range;
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(clean_text(&map.title), ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(clean_text(&map.x_label))
        .y_desc(clean_text(&map.y_label))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(map.cells.iter().map(|&((a, b, c, d), col)| {
            Rectangle::new([(a, b), (c, d)], RGBColor(col.0, col.1, col.2).filled())
        }))
        .map_err(err)?;
    chart
        .draw_series(
            map.segments
                .iter()
                .map(|&(p, q)| PathElement::new(vec![p, q], BLACK.stroke_width(2))),
        )
        .map_err(err)?;
    for (x, y, label) in &map.markers {
        chart
            .draw_series(std::iter::once(Cross::new(
                (*x, *y),
                7,
                BLACK.stroke_width(3),
            )))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                clean_text(label),
                (*x, *y),
                ("sans-serif", 15).into_font().color(&BLACK),
            )))
            .map_err(err)?;
    }
    // Legend: one swatch per cell colour, then the segments' line.
    let font = ("sans-serif", 13).into_font().color(&BLACK);
    let mut y = 60;
    for (label, col) in &map.legend {
        let c = RGBColor(col.0, col.1, col.2);
        legend_area
            .draw(&Rectangle::new([(6, y - 7), (24, y + 7)], c.filled()))
            .map_err(err)?;
        legend_area
            .draw(&Rectangle::new(
                [(6, y - 7), (24, y + 7)],
                RGBColor(120, 120, 120),
            ))
            .map_err(err)?;
        legend_area
            .draw(&Text::new(clean_text(label), (32, y - 7), font.clone()))
            .map_err(err)?;
        y += 22;
    }
    if !map.segments_label.is_empty() {
        if !map.segments.is_empty() {
            legend_area
                .draw(&PathElement::new(
                    vec![(6, y), (24, y)],
                    BLACK.stroke_width(2),
                ))
                .map_err(err)?;
        }
        // A long note wraps over several lines.
        for line in wrap(&clean_text(&map.segments_label), 34) {
            legend_area
                .draw(&Text::new(line, (32, y - 7), font.clone()))
                .map_err(err)?;
            y += 17;
        }
    }
    root.present().map_err(err)?;
    Ok(())
}

/// `text` broken at spaces into lines of at most `width` characters (longer words alone).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(l) if l.len() + 1 + word.len() <= width => {
                l.push(' ');
                l.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines
}

/// Renders a [`CellMap`] to SVG and PNG.
pub fn render_cells(map: &CellMap, svg: &Path, png: &Path) -> Result<()> {
    register_fonts();
    draw_cells(SVGBackend::new(svg, CELL_SIZE).into_drawing_area(), map)
        .map_err(plot_error(svg))?;
    draw_cells(BitMapBackend::new(png, CELL_SIZE).into_drawing_area(), map)
        .map_err(plot_error(png))?;
    Ok(())
}

/// Renders several figures as panels of one image (`cols` panels per row), SVG and PNG.
pub fn render_panels(panels: &[Figure], cols: usize, svg: &Path, png: &Path) -> Result<()> {
    register_fonts();
    let rows = panels.len().div_ceil(cols.max(1));
    let size = (SIZE.0 * cols as u32 * 3 / 4, SIZE.1 * rows as u32 * 3 / 4);
    let svg_drawn = || -> Drawn {
        let root = SVGBackend::new(svg, size).into_drawing_area();
        for (p, a) in panels.iter().zip(root.split_evenly((rows, cols))) {
            draw(a, p)?;
        }
        root.present().map_err(|e| e.to_string())
    };
    svg_drawn().map_err(plot_error(svg))?;
    let png_drawn = || -> Drawn {
        let root = BitMapBackend::new(png, size).into_drawing_area();
        for (p, a) in panels.iter().zip(root.split_evenly((rows, cols))) {
            draw(a, p)?;
        }
        root.present().map_err(|e| e.to_string())
    };
    png_drawn().map_err(plot_error(png))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_series_are_thinned_keeping_the_ends() {
        let pts: Vec<(f64, f64)> = (0..100_001).map(|i| (i as f64, 0.0)).collect();
        let d = decimate(pts, 1000);
        assert!(d.len() <= 1001, "{}", d.len());
        assert_eq!(d[0].0.to_bits(), 0.0f64.to_bits());
        assert_eq!(d[d.len() - 1].0.to_bits(), 100_000.0f64.to_bits());
        let short: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 1.0)).collect();
        assert_eq!(decimate(short.clone(), 1000), short);
    }

    #[test]
    fn titles_with_control_characters_give_valid_svg() {
        let dir = tempfile::tempdir().unwrap();
        let fig = Figure {
            title: "a\u{1}b <&> \"q\"\u{7f}".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![Series {
                label: "s\u{0}".into(),
                color: PALETTE[0],
                style: Style::Line,
                points: vec![(0.0, 0.0), (1.0, 1.0)],
            }],
            ..Figure::default()
        };
        let svg = dir.path().join("f.svg");
        render(&fig, &svg, &dir.path().join("f.png")).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(
            !text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
        );
        assert!(text.contains("&lt;&amp;&gt;"), "escaped");
    }
}
