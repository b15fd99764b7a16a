//! Values on a regular 2-D field (a matrix of cells): heatmaps with a
//! colour bar, and contour plots with labelled levels.

use super::colormap::{series_color, Colormap};
use super::frame::{draw_legend, frame_setters, Frame};
use super::render::{drawing, Render, FONT};
use crate::check;
use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use tch::{Kind, Tensor};

/// Reads a 2-D tensor `[rows, cols]` into rows of f64.
pub fn matrix_from_tensor(t: &Tensor) -> Result<Vec<Vec<f64>>> {
    check::defined(t, "grid")?;
    let size = t.size();
    let [rows, cols] = size[..] else {
        return Err(Error::shape(
            "grid",
            "a 2-D tensor [rows, cols]",
            check::shape_str(&size),
        ));
    };
    let flat = Vec::<f64>::try_from(
        t.f_to_device(tch::Device::Cpu)?
            .f_to_kind(Kind::Double)?
            .f_flatten(0, -1)?,
    )?;
    Ok(flat
        .chunks(cols.max(1) as usize)
        .take(rows as usize)
        .map(|r| r.to_vec())
        .collect())
}

fn check_grid(values: &[Vec<f64>]) -> Result<(usize, usize)> {
    let rows = values.len();
    let cols = values.first().map_or(0, |r| r.len());
    if rows == 0 || cols == 0 {
        return Err(Error::invalid(
            "a grid plot needs at least one row and one column",
        ));
    }
    if let Some((i, r)) = values.iter().enumerate().find(|(_, r)| r.len() != cols) {
        return Err(Error::invalid(format!(
            "grid row {i} has {} values, row 0 has {cols}",
            r.len()
        )));
    }
    Ok((rows, cols))
}

fn value_range(
    values: &[Vec<f64>],
    fixed: Option<(f64, f64)>,
    symmetric: bool,
) -> Result<(f64, f64)> {
    if let Some((lo, hi)) = fixed {
        if lo < hi && lo.is_finite() && hi.is_finite() {
            return Ok((lo, hi));
        }
        return Err(Error::invalid(format!(
            "colour range {lo}..{hi} is empty or not finite"
        )));
    }
    let (lo, hi) = values
        .iter()
        .flatten()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return Err(Error::invalid(
            "nothing to plot: no finite values in the grid",
        ));
    }
    if symmetric {
        let m = lo.abs().max(hi.abs()).max(1e-12);
        return Ok((-m, m));
    }
    Ok(if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, hi + 0.5)
    })
}

/// Font size of a colour bar's label.
const COLORBAR_LABEL_FONT: f64 = 12.0;

/// A colour bar's label in lines that fit a bar area `width` pixels wide
/// (about 0.55 em a character).
fn colorbar_label_lines(label: &str, width: u32) -> Vec<String> {
    if label.is_empty() {
        return Vec::new();
    }
    let chars = ((width as f64 - 8.0) / (0.55 * COLORBAR_LABEL_FONT)).max(1.0) as usize;
    super::wrap(label, chars)
}

/// A vertical colour bar for `lo..hi` filling `area`, under `label`
/// wrapped to the area's width (two lines fit in the bar's top margin;
/// more move the bar down), so that a long label is never cut.
pub(crate) fn draw_colorbar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    map: Colormap,
    lo: f64,
    hi: f64,
    label: &str,
) -> Result<()> {
    let lines = colorbar_label_lines(label, area.dim_in_pixel().0);
    for (i, line) in lines.iter().enumerate() {
        area.draw(&Text::new(
            line.as_str(),
            (6, 4 + 15 * i as i32),
            (FONT, COLORBAR_LABEL_FONT).into_font(),
        ))
        .map_err(drawing)?;
    }
    let below_label = (19 + 15 * lines.len() as u32).saturating_sub(40);
    let area = area.margin(below_label, 0, 0, 0);
    let mut chart = ChartBuilder::on(&area)
        .margin_top(40)
        .margin_bottom(45)
        .margin_right(8)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..1.0, lo..hi)
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .disable_y_mesh()
        .disable_x_axis()
        .label_style((FONT, 11))
        .y_label_formatter(&|v| super::frame::tick_label(*v, false, hi - lo))
        .draw()
        .map_err(drawing)?;
    let steps = 120;
    let bars = (0..steps).map(|i| {
        let a = lo + (hi - lo) * i as f64 / steps as f64;
        let b = lo + (hi - lo) * (i + 1) as f64 / steps as f64;
        Rectangle::new(
            [(0.0, a), (1.0, b)],
            map.color((i as f64 + 0.5) / steps as f64).filled(),
        )
    });
    chart.draw_series(bars).map_err(drawing)?;
    Ok(())
}

/// A matrix of values as coloured cells, with a colour bar: confusion
/// matrices, occlusion maps, loss surfaces, Hessian spectra.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Heatmap {
    frame: Frame,
    values: Vec<Vec<f64>>,
    colormap: Colormap,
    range: Option<(f64, f64)>,
    symmetric: bool,
    row_labels: Vec<String>,
    col_labels: Vec<String>,
    annotate: bool,
    extent: Option<(f64, f64, f64, f64)>,
    /// Row 0 at the top of the extent (an image) rather than at the bottom.
    top_down: bool,
    categories: Vec<String>,
}

frame_setters!(Heatmap);

impl Heatmap {
    /// A heatmap of `values[row][col]`; row 0 is drawn at the top.
    pub fn new(values: Vec<Vec<f64>>) -> Self {
        Heatmap {
            values,
            ..Default::default()
        }
    }

    /// A heatmap of a 2-D tensor `[rows, cols]`.
    pub fn from_tensor(t: &Tensor) -> Result<Self> {
        Ok(Heatmap::new(matrix_from_tensor(t)?))
    }

    /// The colormap (default viridis).
    pub fn colormap(mut self, map: Colormap) -> Self {
        self.colormap = map;
        self
    }

    /// The values mapped to the ends of the colormap (default: the data's).
    pub fn range(mut self, lo: f64, hi: f64) -> Self {
        self.range = Some((lo, hi));
        self
    }

    /// A range symmetric about zero (with [`Colormap::Diverging`], for signed maps).
    pub fn symmetric(mut self) -> Self {
        self.symmetric = true;
        self
    }

    /// Names of the rows (top to bottom) and columns (left to right).
    pub fn labels(mut self, rows: &[&str], cols: &[&str]) -> Self {
        self.row_labels = rows.iter().map(|s| s.to_string()).collect();
        self.col_labels = cols.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Write each cell's value in it (small matrices).
    pub fn annotate(mut self) -> Self {
        self.annotate = true;
        self
    }

    /// The values are class indices into `names`: each class gets its own
    /// colour and a legend names the classes present, in place of the colour
    /// bar (e.g. Zeiler & Fergus Fig. 7e, the most probable class per
    /// occluder position). Drawing fails on a value that is not an index.
    pub fn categories<S: ToString>(mut self, names: &[S]) -> Self {
        self.categories = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Place the cells on coordinates: columns span `x0..x1`, rows span
    /// `y0..y1` with row 0 at `y0` (at the bottom), as for a scan grid.
    pub fn extent(mut self, x0: f64, x1: f64, y0: f64, y1: f64) -> Self {
        self.extent = Some((x0, x1, y0, y1));
        self.top_down = false;
        self
    }

    /// Place the cells on image coordinates: columns span `x0..x1` left to
    /// right, rows span `y0..y1` top to bottom (row 0 at `y0`, at the top,
    /// and the y axis growing downwards), so that a map over an image's
    /// pixels has its axes in pixels, the right way up.
    pub fn image_extent(mut self, x0: f64, x1: f64, y0: f64, y1: f64) -> Self {
        self.extent = Some((x0, x1, y0, y1));
        self.top_down = true;
        self
    }
}

impl Render for Heatmap {
    fn size(&self) -> (u32, u32) {
        self.frame.size
    }

    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let (rows, cols) = check_grid(&self.values)?;
        for (what, labels, n) in [
            ("row", &self.row_labels, rows),
            ("column", &self.col_labels, cols),
        ] {
            if !labels.is_empty() && labels.len() != n {
                return Err(Error::invalid(format!(
                    "{} {what} labels for {n} {what}s",
                    labels.len()
                )));
            }
        }
        let (lo, hi) = value_range(&self.values, self.range, self.symmetric)?;
        let present = self.present_categories()?;
        root.fill(&WHITE).map_err(drawing)?;
        let (w, _) = self.frame.size;
        let side = if self.categories.is_empty() { 90 } else { 150 };
        let (main, bar) = root.split_horizontally(w.saturating_sub(side));
        let (x0, x1, y0, y1, flip) = match self.extent {
            Some((a, b, c, d))
                if !([a, b, c, d].iter().all(|v| v.is_finite()) && a != b && c != d) =>
            {
                return Err(Error::invalid(format!(
                    "heatmap extent {a}..{b} x {c}..{d}: each axis needs two different finite ends"
                )))
            }
            Some((a, b, c, d)) => (a, b, c, d, self.top_down),
            None => (0.0, cols as f64, 0.0, rows as f64, true),
        };
        let mut frame = self.frame.clone();
        frame.x_log = false;
        frame.y_log = false;
        let y_area = if self.row_labels.is_empty() { 55 } else { 95 };
        // Column names wider than their column are written upwards, in a
        // label area as tall as the longest name, instead of running into
        // each other.
        let longest = self
            .col_labels
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0);
        let name_px = (longest as f64 * 0.55 * 12.0).ceil() as u32;
        let column_px = (w.saturating_sub(side + 24 + y_area)) as f64 / cols as f64;
        let upright = !self.col_labels.is_empty() && name_px as f64 > 0.9 * column_px;
        let mut builder = ChartBuilder::on(&main);
        builder
            .margin(12)
            .x_label_area_size(if upright { name_px + 30 } else { 45 })
            .y_label_area_size(y_area);
        frame.put_title(&main, &mut builder, 12)?;
        let y_range = if flip { y1..y0 } else { y0..y1 };
        let (xs, ys) = ((x1 - x0).abs(), (y1 - y0).abs());
        let mut chart = builder
            .build_cartesian_2d(x0..x1, y_range)
            .map_err(drawing)?;
        let (rl, cl) = (self.row_labels.clone(), self.col_labels.clone());
        let cat = |labels: &Vec<String>, v: f64| {
            let i = (v - 0.5).round();
            if (v - 0.5 - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        let xf = move |v: &f64| {
            if upright {
                // Written below, by hand (see after the mesh).
                String::new()
            } else if cl.is_empty() {
                super::frame::tick_label(*v, false, xs)
            } else {
                cat(&cl, *v)
            }
        };
        let yf = move |v: &f64| {
            if rl.is_empty() {
                super::frame::tick_label(*v, false, ys)
            } else {
                cat(&rl, *v)
            }
        };
        let mut mesh = chart.configure_mesh();
        mesh.disable_mesh()
            .x_desc(frame.x_label.as_str())
            .y_desc(frame.y_label.as_str())
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 14))
            .x_label_formatter(&xf)
            .y_label_formatter(&yf);
        if !self.col_labels.is_empty() {
            mesh.x_labels(2 * cols + 1);
        }
        if !self.row_labels.is_empty() {
            mesh.y_labels(2 * rows + 1);
        }
        mesh.draw().map_err(drawing)?;
        let (dx, dy) = ((x1 - x0) / cols as f64, (y1 - y0) / rows as f64);
        if upright {
            // Each name reads downwards from just below its column's centre.
            let bottom = if flip { y1 } else { y0 };
            let (bx, by) = main.get_base_pixel();
            let style = TextStyle::from((FONT, 12).into_font().transform(FontTransform::Rotate90))
                .pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Left,
                    plotters::style::text_anchor::VPos::Center,
                ));
            for (c, name) in self.col_labels.iter().enumerate() {
                let (px, py) = chart.backend_coord(&(x0 + (c as f64 + 0.5) * dx, bottom));
                main.draw(&Text::new(
                    name.as_str(),
                    (px - bx, py - by + 8),
                    style.clone(),
                ))
                .map_err(drawing)?;
            }
        }
        let map = self.colormap;
        let categorical = !self.categories.is_empty();
        let cells = self.values.iter().enumerate().flat_map(|(r, row)| {
            row.iter().enumerate().map(move |(c, &v)| {
                let t = (v - lo) / (hi - lo);
                let color = if v.is_nan() {
                    RGBColor(200, 200, 200)
                } else if categorical {
                    series_color(v as usize)
                } else {
                    map.color(t)
                };
                let (xa, ya) = (x0 + c as f64 * dx, y0 + r as f64 * dy);
                Rectangle::new([(xa, ya), (xa + dx, ya + dy)], color.filled())
            })
        });
        chart.draw_series(cells).map_err(drawing)?;
        if self.annotate {
            let texts = self.values.iter().enumerate().flat_map(|(r, row)| {
                row.iter().enumerate().map(move |(c, &v)| {
                    let t = (v - lo) / (hi - lo);
                    let dark = map != Colormap::Diverging && t < 0.5
                        || map == Colormap::Diverging && (t - 0.5).abs() > 0.3;
                    let color: &'static RGBColor = if dark { &WHITE } else { &BLACK };
                    let s = if v.fract() == 0.0 && v.abs() < 1e9 {
                        format!("{v:.0}")
                    } else {
                        format!("{v:.2}")
                    };
                    let style = TextStyle::from((FONT, 12).into_font()).color(color).pos(
                        plotters::style::text_anchor::Pos::new(
                            plotters::style::text_anchor::HPos::Center,
                            plotters::style::text_anchor::VPos::Center,
                        ),
                    );
                    Text::new(
                        s,
                        (x0 + (c as f64 + 0.5) * dx, y0 + (r as f64 + 0.5) * dy),
                        style,
                    )
                })
            });
            chart.draw_series(texts).map_err(drawing)?;
        }
        if categorical {
            draw_category_legend(&bar, &present, &self.categories)
        } else {
            draw_colorbar(&bar, self.colormap, lo, hi, "")
        }
    }
}

impl Heatmap {
    /// The class indices that occur, sorted; empty without categories.
    fn present_categories(&self) -> Result<Vec<usize>> {
        if self.categories.is_empty() {
            return Ok(Vec::new());
        }
        let mut present = std::collections::BTreeSet::new();
        for &v in self.values.iter().flatten() {
            if v.is_nan() {
                continue;
            }
            if v < 0.0 || v.fract() != 0.0 || v as usize >= self.categories.len() {
                return Err(Error::invalid(format!(
                    "a categorical heatmap holds class indices 0..{}, found {v}",
                    self.categories.len()
                )));
            }
            present.insert(v as usize);
        }
        Ok(present.into_iter().collect())
    }
}

/// A swatch and a name per class present, top to bottom.
fn draw_category_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    present: &[usize],
    names: &[String],
) -> Result<()> {
    for (row, &class) in present.iter().enumerate() {
        let y = 40 + 20 * row as i32;
        area.draw(&Rectangle::new(
            [(6, y), (20, y + 14)],
            series_color(class).filled(),
        ))
        .map_err(drawing)?;
        area.draw(&Text::new(
            names[class].clone(),
            (26, y),
            (FONT, 13).into_font(),
        ))
        .map_err(drawing)?;
    }
    Ok(())
}

/// Splits a contour-rs line into the runs that lie inside the grid. The
/// builder treats value `(c, r)` as the centre of pixel `(c + 0.5, r + 0.5)` and
/// closes rings along the outer edge (`x = 0`, `x = cols`, `y = 0`, `y = rows`);
/// those edge segments are not iso-lines and are dropped.
pub fn isoline_runs(
    points: impl Iterator<Item = (f64, f64)>,
    cols: usize,
    rows: usize,
) -> Vec<Vec<(f64, f64)>> {
    let (w, h) = (cols as f64, rows as f64);
    let on_edge = |(x, y): (f64, f64)| x <= 1e-9 || y <= 1e-9 || x >= w - 1e-9 || y >= h - 1e-9;
    let mut runs = vec![Vec::new()];
    for p in points {
        if on_edge(p) {
            runs.push(Vec::new());
        } else {
            runs.last_mut().expect("never empty").push(p);
        }
    }
    runs.into_iter().filter(|r| r.len() > 1).collect()
}

fn level_label(v: f64) -> String {
    super::frame::tick_label(v, false, 0.0)
}

/// Iso-lines of a grid of values with each level labelled, optionally over a
/// filled heatmap: loss surfaces around a minimum.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Contour {
    frame: Frame,
    values: Vec<Vec<f64>>,
    extent: (f64, f64, f64, f64),
    levels: Vec<f64>,
    level_count: usize,
    filled: Option<Colormap>,
    overlay: Vec<(String, Vec<(f64, f64)>)>,
}

frame_setters!(Contour);

impl Contour {
    /// Contours of `values[row][col]`, with columns spanning `x0..x1` and rows
    /// spanning `y0..y1` (row 0 at `y0`); 10 evenly spaced levels.
    pub fn new(values: Vec<Vec<f64>>, x0: f64, x1: f64, y0: f64, y1: f64) -> Self {
        Contour {
            values,
            extent: (x0, x1, y0, y1),
            level_count: 10,
            ..Default::default()
        }
    }

    /// Contours of a 2-D tensor `[rows, cols]` over the given extent.
    pub fn from_tensor(t: &Tensor, x0: f64, x1: f64, y0: f64, y1: f64) -> Result<Self> {
        Ok(Contour::new(matrix_from_tensor(t)?, x0, x1, y0, y1))
    }

    /// Exactly these levels.
    pub fn levels(mut self, levels: &[f64]) -> Self {
        self.levels = levels.to_vec();
        self
    }

    /// This many evenly spaced levels between the grid's minimum and maximum.
    pub fn level_count(mut self, n: usize) -> Self {
        self.level_count = n;
        self
    }

    /// Fill the background with the values in this colormap.
    pub fn filled(mut self, map: Colormap) -> Self {
        self.filled = Some(map);
        self
    }

    /// Draw a path over the contours (e.g. a training trajectory).
    pub fn path(mut self, name: impl Into<String>, points: &[(f64, f64)]) -> Self {
        self.overlay.push((name.into(), points.to_vec()));
        self
    }

    /// The levels that will be drawn.
    pub fn level_values(&self) -> Result<Vec<f64>> {
        if !self.levels.is_empty() {
            if let Some(v) = self.levels.iter().find(|v| !v.is_finite()) {
                return Err(Error::invalid(format!(
                    "contour levels must be finite, got {v}"
                )));
            }
            return Ok(self.levels.clone());
        }
        if self.level_count == 0 {
            return Err(Error::invalid(
                "a contour plot needs at least 1 level (level_count 0 asks for none)",
            ));
        }
        let (lo, hi) = value_range(&self.values, None, false)?;
        let n = self.level_count;
        Ok((1..=n)
            .map(|i| lo + (hi - lo) * i as f64 / (n + 1) as f64)
            .collect())
    }
}

impl Render for Contour {
    fn size(&self) -> (u32, u32) {
        self.frame.size
    }

    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let (rows, cols) = check_grid(&self.values)?;
        if rows < 2 || cols < 2 {
            return Err(Error::invalid(
                "contours need a grid of at least 2x2 values",
            ));
        }
        let (x0, x1, y0, y1) = self.extent;
        if !(x1 > x0 && y1 > y0) {
            return Err(Error::invalid(format!(
                "contour extent {x0}..{x1} x {y0}..{y1} is empty"
            )));
        }
        let levels = self.level_values()?;
        let (dx, dy) = ((x1 - x0) / (cols - 1) as f64, (y1 - y0) / (rows - 1) as f64);
        let mut frame = self.frame.clone();
        frame.x_log = false;
        frame.y_log = false;
        let mut chart = frame.chart(root, x0..x1, y0..y1, 0)?;
        if let Some(map) = self.filled {
            let (lo, hi) = value_range(&self.values, None, false)?;
            let cells = self.values.iter().enumerate().flat_map(|(r, row)| {
                row.iter().enumerate().map(move |(c, &v)| {
                    let (xc, yc) = (x0 + c as f64 * dx, y0 + r as f64 * dy);
                    let color = map.color((v - lo) / (hi - lo)).mix(0.55);
                    Rectangle::new(
                        [
                            (xc - dx / 2.0, yc - dy / 2.0),
                            (xc + dx / 2.0, yc + dy / 2.0),
                        ],
                        color.filled(),
                    )
                })
            });
            chart.draw_series(cells).map_err(drawing)?;
        }
        let flat: Vec<f64> = self
            .values
            .iter()
            .flatten()
            .map(|v| if v.is_finite() { *v } else { f64::MAX })
            .collect();
        let lines = contour::ContourBuilder::new(cols, rows, true)
            .lines(&flat, &levels)
            .map_err(|e| Error::invalid(format!("computing contours failed: {e}")))?;
        for (k, line) in lines.iter().enumerate() {
            let mut longest: Vec<(f64, f64)> = Vec::new();
            for ls in line.geometry().0.iter() {
                for run in isoline_runs(ls.0.iter().map(|c| (c.x, c.y)), cols, rows) {
                    let pts: Vec<(f64, f64)> = run
                        .iter()
                        .map(|&(cx, cy)| (x0 + (cx - 0.5) * dx, y0 + (cy - 0.5) * dy))
                        .collect();
                    if pts.len() > longest.len() {
                        longest = pts.clone();
                    }
                    chart
                        .draw_series(LineSeries::new(pts, RGBColor(40, 40, 40).stroke_width(1)))
                        .map_err(drawing)?;
                }
            }
            if let Some(&(lx, ly)) = longest.get(longest.len() / 2) {
                chart
                    .draw_series(std::iter::once(Text::new(
                        level_label(levels[k]),
                        (lx, ly),
                        (FONT, 11).into_font().color(&BLACK),
                    )))
                    .map_err(drawing)?;
            }
        }
        for (i, (name, pts)) in self.overlay.iter().enumerate() {
            let color = super::colormap::series_color(i + 3);
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(drawing)?;
            let drawn = chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(drawing)?;
            if !name.is_empty() {
                drawn.label(name.as_str()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            }
        }
        if self.overlay.iter().any(|(n, _)| !n.is_empty()) {
            draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        }
        Ok(())
    }
}
