//! Line plots, histograms, scatter plots and bar charts.

use super::colormap::{series_color, Colormap};
use super::frame::{
    draw_placed_legend, frame_setters, range_of, tick_label, to_axis, Axis, Frame, Swatch,
};
use super::legend::{self, Mark};
use super::render::{drawing, Render, FONT};
use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

fn check_finite(what: &str, values: &[f64]) -> Result<()> {
    if values.iter().any(|v| v.is_infinite()) {
        return Err(Error::invalid(format!(
            "{what}: infinite values cannot be plotted"
        )));
    }
    Ok(())
}

/// One named series of a [`LinePlot`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// Points `(x, y)`; NaN values leave a gap.
    pub points: Vec<(f64, f64)>,
    /// Draw markers at the points too.
    pub markers: bool,
    /// Single observations drawn as dots in the series' colour, not joined
    /// (each run of an experiment, the line being their mean).
    pub dots: Vec<(f64, f64)>,
}

/// Several curves on shared axes, with a legend and optional log axes:
/// training curves, PSNR against iterations, loss along a direction.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LinePlot {
    frame: Frame,
    series: Vec<Series>,
}

frame_setters!(LinePlot);

impl LinePlot {
    /// An empty plot.
    pub fn new() -> Self {
        LinePlot::default()
    }

    fn push(
        mut self,
        name: impl Into<String>,
        points: impl IntoIterator<Item = (f64, f64)>,
        markers: bool,
    ) -> Self {
        self.series.push(Series {
            name: name.into(),
            points: points.into_iter().collect(),
            markers,
            dots: Vec::new(),
        });
        self
    }

    /// Adds a series of `(x, y)` points.
    pub fn line(
        self,
        name: impl Into<String>,
        points: impl IntoIterator<Item = (f64, f64)>,
    ) -> Self {
        self.push(name, points, false)
    }

    /// Adds a series of `y` values at x = 0, 1, 2, ...
    pub fn values(self, name: impl Into<String>, ys: &[f64]) -> Self {
        self.line(name, ys.iter().enumerate().map(|(i, &y)| (i as f64, y)))
    }

    /// Adds a series drawn with markers at its points.
    pub fn points(
        self,
        name: impl Into<String>,
        points: impl IntoIterator<Item = (f64, f64)>,
    ) -> Self {
        self.push(name, points, true)
    }

    /// Adds a line through `line` with `dots` in its colour, not joined:
    /// every run a dot and their mean a line, as Yosinski et al.'s Fig. 2.
    pub fn line_with_dots(
        self,
        name: impl Into<String>,
        line: impl IntoIterator<Item = (f64, f64)>,
        dots: impl IntoIterator<Item = (f64, f64)>,
    ) -> Self {
        let mut plot = self.push(name, line, false);
        if let Some(s) = plot.series.last_mut() {
            s.dots = dots.into_iter().collect();
        }
        plot
    }

    /// The series, in order.
    pub fn series(&self) -> &[Series] {
        &self.series
    }
}

impl Render for LinePlot {
    fn size(&self) -> (u32, u32) {
        self.frame.size
    }

    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        if self
            .series
            .iter()
            .all(|s| s.points.is_empty() && s.dots.is_empty())
        {
            return Err(Error::invalid("a line plot needs at least one point"));
        }
        for s in &self.series {
            let flat: Vec<f64> = s
                .points
                .iter()
                .chain(&s.dots)
                .flat_map(|&(x, y)| [x, y])
                .collect();
            check_finite(&format!("series '{}'", s.name), &flat)?;
        }
        let (xl, yl) = (self.frame.x_log, self.frame.y_log);
        let xr = range_of(
            self.series
                .iter()
                .flat_map(|s| s.points.iter().chain(&s.dots).map(|p| p.0)),
            xl,
        )?;
        let yr = range_of(
            self.series
                .iter()
                .flat_map(|s| s.points.iter().chain(&s.dots).map(|p| p.1)),
            yl,
        )?;
        let labels: Vec<&str> = self
            .series
            .iter()
            .filter(|s| !s.name.is_empty())
            .map(|s| s.name.as_str())
            .collect();
        let placement = if labels.is_empty() {
            legend::Placement {
                position: SeriesLabelPosition::UpperRight,
                y: yr,
                right_margin: 0,
                wrap: usize::MAX,
            }
        } else {
            let axis = |&(x, y): &(f64, f64)| Some((to_axis(x, xl)?, to_axis(y, yl)?));
            let mut marks = Vec::new();
            for s in &self.series {
                let pts: Vec<Option<(f64, f64)>> = s.points.iter().map(axis).collect();
                marks.extend(pts.iter().flatten().map(|&(x, y)| Mark::Point(x, y)));
                marks.extend(
                    s.dots
                        .iter()
                        .filter_map(axis)
                        .map(|(x, y)| Mark::Point(x, y)),
                );
                marks.extend(
                    pts.windows(2)
                        .filter_map(|w| Some(Mark::Segment(w[0]?, w[1]?))),
                );
            }
            legend::place(&marks, &xr, yr, self.frame.plot_area(0), &labels)
        };
        let mut chart = self
            .frame
            .chart(root, xr, placement.y.clone(), placement.right_margin)?;
        for (i, s) in self.series.iter().enumerate() {
            let color = series_color(i);
            let dots: Vec<(f64, f64)> = s
                .dots
                .iter()
                .filter_map(|&(x, y)| Some((to_axis(x, xl)?, to_axis(y, yl)?)))
                .collect();
            chart
                .draw_series(
                    dots.iter()
                        .map(|&p| Circle::new(p, 3, color.mix(0.55).filled())),
                )
                .map_err(drawing)?;
            // NaN or non-positive (on log axes) values split the curve.
            let mut segments: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
            for &(x, y) in &s.points {
                match (to_axis(x, xl), to_axis(y, yl)) {
                    (Some(x), Some(y)) => segments.last_mut().expect("never empty").push((x, y)),
                    _ => segments.push(Vec::new()),
                }
            }
            let mut first = true;
            for seg in segments.into_iter().filter(|s| !s.is_empty()) {
                let style = color.stroke_width(2);
                let drawn = chart
                    .draw_series(LineSeries::new(seg.clone(), style))
                    .map_err(drawing)?;
                if first && !s.name.is_empty() {
                    drawn.label(s.name.as_str()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                }
                first = false;
                if s.markers {
                    chart
                        .draw_series(seg.iter().map(|&p| Circle::new(p, 3, color.filled())))
                        .map_err(drawing)?;
                }
            }
        }
        if !labels.is_empty() {
            let entries: Vec<_> = self
                .series
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.name.is_empty())
                .map(|(i, s)| (s.name.clone(), series_color(i), Swatch::Line))
                .collect();
            draw_placed_legend(root, &mut chart, &self.frame, &placement, &entries)?;
        }
        Ok(())
    }
}

/// A histogram of values in equal-width bins; several sets overlay.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    frame: Frame,
    sets: Vec<(String, Vec<f64>)>,
    bins: usize,
    range: Option<(f64, f64)>,
    density: bool,
}

frame_setters!(Histogram);

impl Histogram {
    /// A histogram with 30 bins over the data's range.
    pub fn new() -> Self {
        Histogram {
            bins: 30,
            ..Default::default()
        }
    }

    /// Adds a set of values (NaNs are skipped).
    pub fn data(mut self, name: impl Into<String>, values: &[f64]) -> Self {
        self.sets.push((name.into(), values.to_vec()));
        self
    }

    /// Number of bins.
    pub fn bins(mut self, bins: usize) -> Self {
        self.bins = bins;
        self
    }

    /// The binned range, instead of the data's.
    pub fn range(mut self, lo: f64, hi: f64) -> Self {
        self.range = Some((lo, hi));
        self
    }

    /// Show densities (bars integrate to 1) instead of counts.
    pub fn density(mut self) -> Self {
        self.density = true;
        self
    }

    /// Bin edges `[bins + 1]` and, per set, its counts (or densities).
    pub fn counts(&self) -> Result<(Vec<f64>, Vec<Vec<f64>>)> {
        if self.bins == 0 {
            return Err(Error::invalid("a histogram needs at least one bin"));
        }
        let all = self
            .sets
            .iter()
            .flat_map(|(_, v)| v.iter().copied())
            .filter(|v| !v.is_nan());
        let (lo, hi) = match self.range {
            Some((lo, hi)) if lo < hi && lo.is_finite() && hi.is_finite() => (lo, hi),
            Some((lo, hi)) => {
                return Err(Error::invalid(format!(
                    "histogram range {lo}..{hi} is empty or not finite"
                )))
            }
            None => {
                let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                    (a.min(v), b.max(v))
                });
                if !lo.is_finite() || !hi.is_finite() {
                    return Err(Error::invalid("a histogram needs finite values"));
                }
                if hi > lo {
                    (lo, hi)
                } else {
                    (lo - 0.5, hi + 0.5)
                }
            }
        };
        let width = (hi - lo) / self.bins as f64;
        let edges: Vec<f64> = (0..=self.bins).map(|i| lo + i as f64 * width).collect();
        let counts = self
            .sets
            .iter()
            .map(|(_, vals)| {
                let mut c = vec![0.0; self.bins];
                let mut n = 0.0;
                for &v in vals.iter().filter(|v| !v.is_nan()) {
                    if v < lo || v > hi {
                        continue;
                    }
                    let i = (((v - lo) / width) as usize).min(self.bins - 1);
                    c[i] += 1.0;
                    n += 1.0;
                }
                if self.density && n > 0.0 {
                    c.iter_mut().for_each(|x| *x /= n * width);
                }
                c
            })
            .collect();
        Ok((edges, counts))
    }
}

impl Render for Histogram {
    fn size(&self) -> (u32, u32) {
        self.frame.size
    }

    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        if self.sets.is_empty() {
            return Err(Error::invalid(
                "a histogram needs at least one set of values",
            ));
        }
        let (edges, counts) = self.counts()?;
        let top = counts
            .iter()
            .flatten()
            .fold(0.0f64, |a, &b| a.max(b))
            .max(1e-12);
        let mut frame = self.frame.clone();
        frame.x_log = false;
        if frame.y_label.is_empty() {
            frame.y_label = if self.density {
                "density".into()
            } else {
                "count".into()
            };
        }
        let x = edges[0]..edges[edges.len() - 1];
        let labels: Vec<&str> = self
            .sets
            .iter()
            .filter(|(n, _)| !n.is_empty())
            .map(|(n, _)| n.as_str())
            .collect();
        let marks: Vec<Mark> = counts
            .iter()
            .flat_map(|c| {
                c.iter().enumerate().map(|(i, &h)| Mark::Bar {
                    x0: edges[i],
                    x1: edges[i + 1],
                    y0: 0.0,
                    y1: h,
                })
            })
            .collect();
        let placement = legend::place(&marks, &x, 0.0..top * 1.05, frame.plot_area(0), &labels);
        let mut chart = frame.chart(root, x, placement.y.clone(), placement.right_margin)?;
        let alpha = if self.sets.len() > 1 { 0.45 } else { 0.8 };
        for (k, ((name, _), c)) in self.sets.iter().zip(&counts).enumerate() {
            let color = series_color(k);
            let bars = c.iter().enumerate().map(|(i, &h)| {
                Rectangle::new(
                    [(edges[i], 0.0), (edges[i + 1], h)],
                    color.mix(alpha).filled(),
                )
            });
            let drawn = chart.draw_series(bars).map_err(drawing)?;
            if !name.is_empty() {
                drawn.label(name.as_str()).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.mix(alpha).filled())
                });
            }
        }
        if !labels.is_empty() {
            let entries: Vec<_> = self
                .sets
                .iter()
                .enumerate()
                .filter(|(_, (name, _))| !name.is_empty())
                .map(|(k, (name, _))| (name.clone(), series_color(k), Swatch::Box(alpha)))
                .collect();
            draw_placed_legend(root, &mut chart, &frame, &placement, &entries)?;
        }
        Ok(())
    }
}

/// Points in the plane coloured by class (t-SNE maps, train-vs-test
/// scatter) or by a value on a colormap with a colour bar (the information
/// plane coloured by epoch).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scatter {
    frame: Frame,
    points: Vec<(f64, f64)>,
    classes: Vec<usize>,
    names: Vec<String>,
    radius: u32,
    values: Option<(Vec<f64>, Colormap)>,
    thumbnails: Vec<(usize, image::RgbImage)>,
}

frame_setters!(Scatter);

impl Scatter {
    /// Points of one class.
    pub fn new(points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        let points: Vec<_> = points.into_iter().collect();
        Scatter {
            classes: vec![0; points.len()],
            points,
            radius: 3,
            ..Default::default()
        }
    }

    /// The class of each point (same length as the points) and the class names
    /// for the legend.
    pub fn classes(mut self, classes: &[usize], names: &[&str]) -> Self {
        self.classes = classes.to_vec();
        self.names = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Marker radius in pixels.
    pub fn radius(mut self, r: u32) -> Self {
        self.radius = r;
        self
    }

    /// Colours each point by its value (same length as the points) on
    /// `map`, with a colour bar titled `label`; replaces the classes.
    pub fn color_by(mut self, values: &[f64], map: Colormap, label: &str) -> Self {
        self.values = Some((values.to_vec(), map));
        self.names = vec![label.to_string()];
        self
    }

    /// Pictures drawn centred on some of the points, `(point index,
    /// picture)`, each framed in its point's class colour and drawn over
    /// the markers in the order given: a t-SNE map that shows what it
    /// placed where.
    pub fn thumbnails(mut self, pictures: Vec<(usize, image::RgbImage)>) -> Self {
        self.thumbnails = pictures;
        self
    }
}

/// Draws `pictures` centred on their points of `chart`, framed in the colour
/// of the point's class.
fn draw_thumbnails<DB: DrawingBackend>(
    chart: &super::frame::Chart<'_, DB>,
    points: &[(f64, f64)],
    classes: &[usize],
    pictures: &[(usize, image::RgbImage)],
    (x_log, y_log): (bool, bool),
) -> Result<()> {
    let area = chart.plotting_area();
    let plain = area.strip_coord_spec();
    let (bx, by) = plain.get_base_pixel();
    for (i, picture) in pictures {
        let Some(&(x, y)) = points.get(*i) else {
            return Err(Error::invalid(format!(
                "scatter: a thumbnail for point {i} of {}",
                points.len()
            )));
        };
        let (Some(x), Some(y)) = (to_axis(x, x_log), to_axis(y, y_log)) else {
            continue;
        };
        let (px, py) = area.map_coordinate(&(x, y));
        let (w, h) = (picture.width() as i32, picture.height() as i32);
        let (x0, y0) = (px - bx - w / 2, py - by - h / 2);
        let frame = series_color(classes.get(*i).copied().unwrap_or(0));
        plain
            .draw(&Rectangle::new(
                [(x0 - 2, y0 - 2), (x0 + w + 1, y0 + h + 1)],
                frame.filled(),
            ))
            .map_err(drawing)?;
        for (c, r, p) in picture.enumerate_pixels() {
            plain
                .draw_pixel((x0 + c as i32, y0 + r as i32), &RGBColor(p[0], p[1], p[2]))
                .map_err(drawing)?;
        }
    }
    Ok(())
}

impl Render for Scatter {
    fn size(&self) -> (u32, u32) {
        self.frame.size
    }

    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        if self.classes.len() != self.points.len() {
            return Err(Error::invalid(format!(
                "scatter: {} class labels for {} points",
                self.classes.len(),
                self.points.len()
            )));
        }
        let (xl, yl) = (self.frame.x_log, self.frame.y_log);
        let xr = range_of(self.points.iter().map(|p| p.0), xl)?;
        let yr = range_of(self.points.iter().map(|p| p.1), yl)?;
        if let Some((values, map)) = &self.values {
            if values.len() != self.points.len() {
                return Err(Error::invalid(format!(
                    "scatter: {} colour values for {} points",
                    values.len(),
                    self.points.len()
                )));
            }
            check_finite("scatter colour values", values)?;
            // NaN values (drawn at the colormap's start) do not set the range;
            // without one finite value there is no range to draw.
            let lo = values.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            if !lo.is_finite() {
                return Err(Error::invalid(
                    "scatter colour values: none is a number, so they have no range to colour by",
                ));
            }
            let (lo, hi) = if hi > lo {
                (lo, hi)
            } else {
                (lo - 0.5, lo + 0.5)
            };
            let (w, _) = self.frame.size;
            let (main, bar) = root.split_horizontally(w.saturating_sub(90));
            let mut chart = self.frame.chart(&main, xr, yr, 0)?;
            let r = self.radius;
            let dots = self.points.iter().zip(values).filter_map(|(&(x, y), &v)| {
                let color = map.color((v - lo) / (hi - lo));
                Some(Circle::new(
                    (to_axis(x, xl)?, to_axis(y, yl)?),
                    r,
                    color.filled(),
                ))
            });
            chart.draw_series(dots).map_err(drawing)?;
            let label = self.names.first().cloned().unwrap_or_default();
            return super::field::draw_colorbar(&bar, *map, lo, hi, &label);
        }
        let labels: Vec<&str> = self.names.iter().map(String::as_str).collect();
        let marks: Vec<Mark> = self
            .points
            .iter()
            .filter_map(|&(x, y)| Some(Mark::Point(to_axis(x, xl)?, to_axis(y, yl)?)))
            .collect();
        let placement = legend::place(&marks, &xr, yr, self.frame.plot_area(0), &labels);
        let mut chart = self
            .frame
            .chart(root, xr, placement.y.clone(), placement.right_margin)?;
        let k = self.classes.iter().max().map_or(1, |m| m + 1);
        for c in 0..k {
            let color = series_color(c);
            let pts: Vec<(f64, f64)> = self
                .points
                .iter()
                .zip(&self.classes)
                .filter(|(_, &cl)| cl == c)
                .filter_map(|(&(x, y), _)| Some((to_axis(x, xl)?, to_axis(y, yl)?)))
                .collect();
            let r = self.radius;
            let drawn = chart
                .draw_series(
                    pts.iter()
                        .map(|&p| Circle::new(p, r, color.mix(0.7).filled())),
                )
                .map_err(drawing)?;
            if let Some(name) = self.names.get(c) {
                drawn
                    .label(name.as_str())
                    .legend(move |(x, y)| Circle::new((x + 6, y), 4, color.filled()));
            }
        }
        draw_thumbnails(
            &chart,
            &self.points,
            &self.classes,
            &self.thumbnails,
            (xl, yl),
        )?;
        if !self.names.is_empty() {
            let entries: Vec<_> = self
                .names
                .iter()
                .enumerate()
                .map(|(c, name)| (name.clone(), series_color(c), Swatch::Dot))
                .collect();
            draw_placed_legend(root, &mut chart, &self.frame, &placement, &entries)?;
        }
        Ok(())
    }
}

/// Bars for named categories, one group of bars per category when there are
/// several series (e.g. accuracy per layer for two datasets).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BarChart {
    frame: Frame,
    categories: Vec<String>,
    series: Vec<(String, Vec<f64>)>,
}

frame_setters!(BarChart);

impl BarChart {
    /// Bars for these categories.
    pub fn new(categories: &[&str]) -> Self {
        BarChart {
            categories: categories.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    /// One value per category.
    pub fn series(mut self, name: impl Into<String>, values: &[f64]) -> Self {
        self.series.push((name.into(), values.to_vec()));
        self
    }
}

impl Render for BarChart {
    fn size(&self) -> (u32, u32) {
        self.frame.size
    }

    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let n = self.categories.len();
        if n == 0 || self.series.is_empty() {
            return Err(Error::invalid(
                "a bar chart needs categories and at least one series",
            ));
        }
        for (name, v) in &self.series {
            if v.len() != n {
                return Err(Error::invalid(format!(
                    "bar series '{name}' has {} values for {n} categories",
                    v.len()
                )));
            }
            check_finite(&format!("bar series '{name}'"), v)?;
        }
        let vals = self.series.iter().flat_map(|(_, v)| v.iter().copied());
        let (lo, hi) = vals.fold((0.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
        let pad = ((hi - lo) * 0.08).max(1e-9);
        let mut frame = self.frame.clone();
        frame.x_log = false;
        frame.y_log = false;
        let cats = self.categories.clone();
        root.fill(&WHITE).map_err(drawing)?;
        let mut builder = ChartBuilder::on(root);
        builder
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60);
        frame.put_title(root, &mut builder, 12)?;
        let k = self.series.len() as f64;
        let width = 0.8 / k;
        let bar = |s: usize, i: usize, h: f64| {
            let left = i as f64 - 0.4 + s as f64 * width;
            (left, left + width * 0.95, h)
        };
        let x = -0.5..n as f64 - 0.5;
        let y = (lo - if lo < 0.0 { pad } else { 0.0 })..hi + pad;
        let y_span = y.end - y.start;
        let labels: Vec<&str> = self.series.iter().map(|(n, _)| n.as_str()).collect();
        let placement = if self.series.len() > 1 {
            let marks: Vec<Mark> = self
                .series
                .iter()
                .enumerate()
                .flat_map(|(s, (_, v))| {
                    v.iter().enumerate().map(move |(i, &h)| {
                        let (x0, x1, h) = bar(s, i, h);
                        Mark::Bar {
                            x0,
                            x1,
                            y0: 0.0,
                            y1: h,
                        }
                    })
                })
                .collect();
            // The margins and label areas set just above.
            let (w, hgt) = frame.size;
            let caption = frame.title_height(w);
            let area = (
                w.saturating_sub(24 + 60) as f64,
                hgt.saturating_sub(24 + 40 + caption) as f64,
            );
            legend::place(&marks, &x, y, area, &labels)
        } else {
            legend::Placement {
                position: SeriesLabelPosition::UpperRight,
                y,
                right_margin: 0,
                wrap: usize::MAX,
            }
        };
        builder.margin_right(12 + placement.right_margin);
        let mut chart = builder
            .build_cartesian_2d(Axis::new(x, false), Axis::new(placement.y.clone(), false))
            .map_err(drawing)?;
        let label = move |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < cats.len() {
                cats[i as usize].clone()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n + 1)
            .x_label_formatter(&label)
            .y_label_formatter(&|v: &f64| tick_label(*v, false, y_span))
            .y_desc(frame.y_label.as_str())
            .x_desc(frame.x_label.as_str())
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 14))
            .draw()
            .map_err(drawing)?;
        for (s, (name, v)) in self.series.iter().enumerate() {
            let color = series_color(s);
            let bars = v.iter().enumerate().map(|(i, &h)| {
                let (x0, x1, h) = bar(s, i, h);
                Rectangle::new([(x0, 0.0), (x1, h)], color.filled())
            });
            let drawn = chart.draw_series(bars).map_err(drawing)?;
            if !name.is_empty() {
                drawn.label(name.as_str()).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled())
                });
            }
        }
        if self.series.len() > 1 {
            let entries: Vec<_> = self
                .series
                .iter()
                .enumerate()
                .filter(|(_, (name, _))| !name.is_empty())
                .map(|(k, (name, _))| (name.clone(), series_color(k), Swatch::Box(1.0)))
                .collect();
            draw_placed_legend(root, &mut chart, &frame, &placement, &entries)?;
        }
        Ok(())
    }
}
