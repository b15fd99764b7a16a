//! What every chart shares: size, title, axis labels, log axes, and the
//! drawing of the axes themselves.

use super::render::{drawing, FONT};
use crate::error::{Error, Result};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::ops::Range;

/// Size, title, axis labels and scales of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Width and height in pixels.
    pub size: (u32, u32),
    /// Title above the plot.
    pub title: String,
    /// Label under the x axis.
    pub x_label: String,
    /// Label beside the y axis.
    pub y_label: String,
    /// Logarithmic x axis (values must be > 0).
    pub x_log: bool,
    /// Logarithmic y axis (values must be > 0).
    pub y_log: bool,
}

impl Default for Frame {
    fn default() -> Self {
        Frame {
            size: (640, 400),
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            x_log: false,
            y_log: false,
        }
    }
}

/// A chart context on two [`Axis`] (f64; log axes hold log10 values).
pub type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<Axis, Axis>>;

/// An f64 axis whose grid lines and labels fall where a reader expects
/// them: plotters' own choice on a linear axis; on a log axis (which
/// holds log10 values) at powers of ten, or at 1, 2 and 5 times them when
/// fewer than three decades show, so labels read 0.01 0.1 1 or 1 2 5 10,
/// never the 2.5 4.0 6.3 of evenly spaced log10 values.
#[derive(Clone)]
pub struct Axis {
    linear: RangedCoordf64,
    log: bool,
}

impl Axis {
    /// The axis over `range` (log10 values when `log`).
    pub fn new(range: Range<f64>, log: bool) -> Self {
        Axis {
            linear: range.into(),
            log,
        }
    }
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.linear.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if !self.log {
            return self.linear.key_points(hint);
        }
        let light = hint.weight().allow_light_points();
        log_ticks(self.linear.range(), hint.max_num_points(), light)
            .unwrap_or_else(|| self.linear.key_points(hint))
    }

    fn range(&self) -> Range<f64> {
        self.linear.range()
    }
}

/// Tick positions (log10 values) on a log axis over `range` (log10), at
/// most `max` of them: decades when three or more show (every second,
/// third, ... when too many), else 1, 2 and 5 times a power of ten, else
/// 1 to 9 times one; with `light`, also the minor ticks between (the
/// 2..9 multiples between shown decades). `None` when the range is too
/// narrow to hold two such ticks (under a factor of about 2): the caller
/// falls back on evenly spaced ticks.
pub fn log_ticks(range: Range<f64>, max: usize, light: bool) -> Option<Vec<f64>> {
    let (lo, hi) = (range.start.min(range.end), range.start.max(range.end));
    if !(lo.is_finite() && hi.is_finite()) || max == 0 {
        return None;
    }
    // A hair of slack so that a range ending exactly on a decade keeps it.
    let inside = |v: f64| v >= lo - 1e-9 && v <= hi + 1e-9;
    let (first, last) = (lo.floor() as i64, hi.ceil() as i64);
    let multiples = |mantissas: &[f64]| -> Vec<f64> {
        (first..=last)
            .flat_map(|e| mantissas.iter().map(move |m| m.log10() + e as f64))
            .filter(|&v| inside(v))
            .collect()
    };
    let decades = multiples(&[1.0]);
    if decades.len() >= 3 {
        let step = decades.len().div_ceil(max).max(1);
        let major: Vec<f64> = decades.iter().copied().step_by(step).collect();
        if light && step == 1 {
            return Some(multiples(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]));
        }
        return Some(major);
    }
    let all: [f64; 9] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
    let one_two_five = multiples(&[1.0, 2.0, 5.0]);
    if one_two_five.len() >= 3 && one_two_five.len() <= max {
        return Some(if light { multiples(&all) } else { one_two_five });
    }
    let ones = multiples(&all);
    (ones.len() >= 2 && ones.len() <= max).then_some(ones)
}

/// Maps a data value to plot coordinates (log10 on a log axis).
pub fn to_axis(v: f64, log: bool) -> Option<f64> {
    if log {
        (v > 0.0).then(|| v.log10())
    } else {
        v.is_finite().then_some(v)
    }
}

/// A range covering `values` with 5% margins; `log` ranges are in log10.
pub fn range_of(values: impl Iterator<Item = f64>, log: bool) -> Result<Range<f64>> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter_map(|v| to_axis(v, log)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return Err(Error::invalid(if log {
            "nothing to plot: no positive finite values for a log axis"
        } else {
            "nothing to plot: no finite values"
        }));
    }
    let pad = if hi > lo { (hi - lo) * 0.05 } else { 0.5 };
    let (a, b) = (lo - pad, hi + pad);
    // Values near the largest float make an infinite span, on which the
    // tick search never ends.
    if !(a.is_finite() && b.is_finite()) {
        return Err(Error::invalid(format!(
            "values from {lo:e} to {hi:e} span more than a float can hold: nothing to plot"
        )));
    }
    Ok(a..b)
}

/// A tick label on an axis spanning `span` (its largest minus its smallest
/// value; 0 when unknown): up to 3 decimals without trailing zeros, more
/// when the span is so small that 3 would print neighbouring ticks alike
/// (a loss that moves in the fourth decimal); scientific notation for very
/// large or small values, with enough digits for the same reason; on log
/// axes (`v` in log10) at most 2 significant digits, trailing zeros
/// dropped ("0.5", "2", "20", "1e-3").
pub fn tick_label(v: f64, log: bool, span: f64) -> String {
    let x = if log { 10f64.powf(v) } else { v };
    // About the finest tick spacing plotters picks for the span.
    let step = if log || !(span.is_finite() && span > 0.0) {
        None
    } else {
        Some(span / 20.0)
    };
    if x == 0.0 || (!log && x.abs() < 1e-12) {
        "0".into()
    } else if log && (x.abs() >= 1e4 || x.abs() < 1e-2) {
        // Ticks at 1, 2 or 5 times a power of ten: "1e-3", "5e4".
        let s = format!("{x:.1e}");
        s.replace(".0e", "e")
    } else if x.abs() >= 1e4 || x.abs() < 1e-2 {
        let digits = step.map_or(1, |s| {
            (x.abs().log10().floor() as i32 - s.log10().floor() as i32).clamp(1, 6)
        }) as usize;
        format!("{x:.digits$e}")
    } else if log {
        let digits = (1 - x.abs().log10().floor() as i32).max(0) as usize;
        let s = format!("{x:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        let digits = step.map_or(3, |s| (-s.log10()).ceil().clamp(3.0, 9.0) as usize);
        let s = format!("{x:.digits$}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Font size of chart titles, and the pixels a title line takes.
const TITLE_FONT: f64 = 18.0;
const TITLE_LINE: u32 = 22;

impl Frame {
    /// The title in lines that fit `width` pixels (about 0.55 em a
    /// character), so that a long title wraps instead of running off both
    /// sides of the figure.
    fn title_lines(&self, width: u32) -> Vec<String> {
        if self.title.is_empty() {
            return Vec::new();
        }
        let chars = ((width as f64 - 24.0) / (0.55 * TITLE_FONT)).max(8.0) as usize;
        super::wrap(&self.title, chars)
    }

    /// Pixels the title takes above the chart in a figure `width` pixels
    /// wide: 26 for one line (plotters' caption), one more line's height
    /// for each line after it.
    pub(crate) fn title_height(&self, width: u32) -> u32 {
        match self.title_lines(width).len() {
            0 => 0,
            n => 26 + TITLE_LINE * (n as u32 - 1),
        }
    }

    /// The title on `builder`: one line as plotters' caption; a longer
    /// title drawn line by line, centred, with the chart moved down below
    /// it.
    pub(crate) fn put_title<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        builder: &mut ChartBuilder<'_, '_, DB>,
        margin: u32,
    ) -> Result<()> {
        let width = root.dim_in_pixel().0;
        let lines = self.title_lines(width);
        if lines.len() <= 1 {
            if !self.title.is_empty() {
                builder.caption(&self.title, (FONT, TITLE_FONT));
            }
            return Ok(());
        }
        let style = TextStyle::from((FONT, TITLE_FONT).into_font()).pos(
            plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Top,
            ),
        );
        for (i, line) in lines.iter().enumerate() {
            root.draw(&Text::new(
                line.as_str(),
                (
                    width as i32 / 2,
                    margin as i32 + (TITLE_LINE * i as u32) as i32,
                ),
                style.clone(),
            ))
            .map_err(drawing)?;
        }
        builder.margin_top(margin + self.title_height(width));
        Ok(())
    }

    /// The plotting area's size in pixels, `(width, height)`, inside the
    /// margins, title and axis-label areas that [`chart`](Self::chart)
    /// lays out, with `right_margin` pixels kept free on the right.
    pub fn plot_area(&self, right_margin: u32) -> (f64, f64) {
        let (w, h) = self.size;
        let y_area = if self.y_label.is_empty() { 50 } else { 65 };
        let x_area = if self.x_label.is_empty() { 30 } else { 45 };
        let caption = self.title_height(w);
        (
            w.saturating_sub(24 + right_margin + y_area) as f64,
            h.saturating_sub(24 + x_area + caption) as f64,
        )
    }

    /// Fills the background, draws the title and axes, and returns the chart.
    pub fn chart<'a, DB: DrawingBackend>(
        &self,
        root: &'a DrawingArea<DB, Shift>,
        x: Range<f64>,
        y: Range<f64>,
        right_margin: u32,
    ) -> Result<Chart<'a, DB>> {
        root.fill(&WHITE).map_err(drawing)?;
        let mut builder = ChartBuilder::on(root);
        builder
            .margin(12)
            .margin_right(12 + right_margin)
            .x_label_area_size(if self.x_label.is_empty() { 30 } else { 45 })
            .y_label_area_size(if self.y_label.is_empty() { 50 } else { 65 });
        self.put_title(root, &mut builder, 12)?;
        let (xs, ys) = (x.end - x.start, y.end - y.start);
        let (xl, yl) = (self.x_log, self.y_log);
        let mut chart = builder
            .build_cartesian_2d(Axis::new(x, xl), Axis::new(y, yl))
            .map_err(drawing)?;
        let xf = move |v: &f64| tick_label(*v, xl, xs);
        let yf = move |v: &f64| tick_label(*v, yl, ys);
        chart
            .configure_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .axis_desc_style((FONT, 14))
            .label_style((FONT, 12))
            .x_label_formatter(&xf)
            .y_label_formatter(&yf)
            .light_line_style(RGBColor(235, 235, 235))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()
            .map_err(drawing)?;
        Ok(chart)
    }
}

/// Draws the legend of the labelled series at `position` (from
/// [`legend::place`](super::legend::place)).
pub fn draw_legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    position: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .position(position)
        .draw()
        .map_err(drawing)
}

/// Draws the legend where [`legend::place`](super::legend::place) put it:
/// in a corner of the plotting area (plotters' legend, from the series'
/// labels) or beside it (from `entries`: name, colour, swatch).
pub fn draw_placed_legend<'a, DB: DrawingBackend + 'a>(
    root: &'a DrawingArea<DB, Shift>,
    chart: &mut Chart<'a, DB>,
    frame: &Frame,
    placement: &super::legend::Placement,
    entries: &[(String, RGBColor, Swatch)],
) -> Result<()> {
    if placement.is_beside() {
        draw_legend_beside(root, frame, placement, entries)
    } else {
        draw_legend(chart, placement.position.clone())
    }
}

/// How a legend entry's sample of the series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Swatch {
    /// A line (curves).
    Line,
    /// A filled box at this opacity (bars, histograms).
    Box(f64),
    /// A dot (scatter plots).
    Dot,
}

/// Draws a legend of `entries` (name, colour, swatch) in the right margin
/// that [`Frame::chart`] kept free (`right_margin` pixels), level with the
/// top of the plotting area. plotters' own legend belongs to the plotting
/// area and loses its swatches and box outside it.
pub fn draw_legend_beside<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    frame: &Frame,
    placement: &super::legend::Placement,
    entries: &[(String, RGBColor, Swatch)],
) -> Result<()> {
    let labels: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    let (w, h) = super::legend::wrapped_size(&labels, placement.wrap);
    let left = frame.size.0 as i32 - 12 - placement.right_margin as i32 + 8;
    let top = 12 + frame.title_height(frame.size.0) as i32;
    let (w, h) = (w.ceil() as i32, h.ceil() as i32);
    root.draw(&Rectangle::new(
        [(left, top), (left + w, top + h)],
        WHITE.mix(0.85).filled(),
    ))
    .map_err(drawing)?;
    root.draw(&Rectangle::new(
        [(left, top), (left + w, top + h)],
        RGBColor(200, 200, 200),
    ))
    .map_err(drawing)?;
    let mut row = 0;
    for (name, color, swatch) in entries {
        let y = top + 14 + 19 * row;
        let x = left + 8;
        match swatch {
            Swatch::Line => root.draw(&PathElement::new(
                vec![(x, y), (x + 18, y)],
                color.stroke_width(2),
            )),
            Swatch::Box(alpha) => root.draw(&Rectangle::new(
                [(x + 2, y - 5), (x + 16, y + 5)],
                color.mix(*alpha).filled(),
            )),
            Swatch::Dot => root.draw(&Circle::new((x + 8, y), 4, color.filled())),
        }
        .map_err(drawing)?;
        // A wrapped label's lines go under one another, beside one swatch.
        for line in super::legend::wrap(name, placement.wrap) {
            root.draw(&Text::new(
                line,
                (x + 26, top + 7 + 19 * row),
                (FONT, 13).into_font().color(&BLACK),
            ))
            .map_err(drawing)?;
            row += 1;
        }
    }
    Ok(())
}

/// Builder methods shared by every chart type that has a [`Frame`].
macro_rules! frame_setters {
    ($t:ty) => {
        impl $t {
            /// Title above the plot.
            pub fn title(mut self, t: impl Into<String>) -> Self {
                self.frame.title = t.into();
                self
            }
            /// Label of the x axis.
            pub fn x_label(mut self, t: impl Into<String>) -> Self {
                self.frame.x_label = t.into();
                self
            }
            /// Label of the y axis.
            pub fn y_label(mut self, t: impl Into<String>) -> Self {
                self.frame.y_label = t.into();
                self
            }
            /// Logarithmic x axis.
            pub fn log_x(mut self) -> Self {
                self.frame.x_log = true;
                self
            }
            /// Logarithmic y axis.
            pub fn log_y(mut self) -> Self {
                self.frame.y_log = true;
                self
            }
            /// Size in pixels.
            pub fn size(mut self, width: u32, height: u32) -> Self {
                self.frame.size = (width, height);
                self
            }
        }
    };
}
pub(crate) use frame_setters;

#[cfg(test)]
mod tests {
    use super::{log_ticks, tick_label};

    #[test]
    fn tick_labels_keep_neighbouring_ticks_apart_on_small_spans() {
        // A loss moving in the fourth decimal: 3 decimals printed
        // 0.692 twice.
        let ticks = [0.6915, 0.692, 0.6925, 0.693];
        let labels: Vec<String> = ticks.iter().map(|&v| tick_label(v, false, 0.003)).collect();
        assert_eq!(labels, ["0.6915", "0.692", "0.6925", "0.693"]);
        // Ordinary spans print as before: at most 3 decimals, no trailing zeros.
        assert_eq!(tick_label(0.25, false, 1.0), "0.25");
        assert_eq!(tick_label(12.0, false, 100.0), "12");
        assert_eq!(tick_label(1.0 / 3.0, false, 0.0), "0.333");
        // Small values in scientific notation, with digits for the span.
        assert_eq!(tick_label(0.0015, false, 0.005), "1.5e-3");
        assert_eq!(tick_label(0.00155, false, 0.0005), "1.55e-3");
        assert_eq!(tick_label(0.0015, false, 0.0), "1.5e-3");
        // Log axes: at most 2 significant digits, no trailing zeros.
        assert_eq!(tick_label(0.5f64.log10(), true, 3.0), "0.5");
        assert_eq!(tick_label(2f64.log10(), true, 3.0), "2");
        assert_eq!(tick_label(20f64.log10(), true, 3.0), "20");
        assert_eq!(tick_label(0.25f64.log10(), true, 3.0), "0.25");
        assert_eq!(tick_label(-3.0, true, 3.0), "1e-3");
        assert_eq!(tick_label(5e4f64.log10(), true, 3.0), "5e4");
    }

    fn powers(ticks: &[f64]) -> Vec<f64> {
        // Rounded to 4 significant digits, to compare with literals.
        ticks
            .iter()
            .map(|v| {
                let x = 10f64.powf(*v);
                let scale = 10f64.powi(3 - x.log10().floor() as i32);
                (x * scale).round() / scale
            })
            .collect()
    }

    #[test]
    fn log_axes_tick_at_decades_or_at_one_two_five() {
        // Five decades: the decades, each once.
        let t = log_ticks(-3.0..1.0, 10, false).unwrap();
        assert_eq!(powers(&t), [0.001, 0.01, 0.1, 1.0, 10.0]);
        // With the light grid: every multiple 1..9 between.
        let t = log_ticks(-1.0..1.0, 10, true).unwrap();
        assert_eq!(t.len(), 19);
        // Twelve decades with room for 5 labels: every third decade.
        let t = log_ticks(-6.0..6.0, 5, false).unwrap();
        assert_eq!(powers(&t), [1e-6, 1e-3, 1.0, 1e3, 1e6]);
        // 0.3 to 8 (about 1.4 decades): 0.5, 1, 2, 5.
        let t = log_ticks(0.3f64.log10()..8f64.log10(), 10, false).unwrap();
        assert_eq!(powers(&t), [0.5, 1.0, 2.0, 5.0]);
        // 2.2 to 9 (no 1, 2 or 5 but one 5): 3, 4, ..., 9.
        let t = log_ticks(2.2f64.log10()..9.5f64.log10(), 10, false).unwrap();
        assert_eq!(powers(&t), [3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
        // A factor of 1.2: too narrow for these ticks.
        assert!(log_ticks(3.1f64.log10()..3.7f64.log10(), 10, false).is_none());
        // Reversed or non-finite ranges.
        assert_eq!(
            log_ticks(1.0..-3.0, 10, false),
            log_ticks(-3.0..1.0, 10, false)
        );
        assert!(log_ticks(f64::NAN..1.0, 10, false).is_none());
    }
}
