//! Where a chart's legend goes: the corner of the plotting area that the
//! data leaves free or, when every corner holds data, a band of room made
//! above the data if the legend is short, else beside the plot. A legend
//! drawn over curves or bars hides what the figure is there to show; an
//! axis stretched far past the data misstates it.

use plotters::prelude::SeriesLabelPosition;
use std::ops::Range;

/// What a chart draws, in axis coordinates (log10 on a log axis), as far
/// as a legend could hide it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mark {
    /// A point (a marker, a scatter dot).
    Point(f64, f64),
    /// A straight piece of a curve between two points.
    Segment((f64, f64), (f64, f64)),
    /// A filled rectangle from `(x0, y0)` to `(x1, y1)` (a bar).
    Bar {
        /// Left edge.
        x0: f64,
        /// Right edge.
        x1: f64,
        /// Bottom.
        y0: f64,
        /// Top.
        y1: f64,
    },
}

/// The legend's size in pixels, `(width, height)`, for these labels at the
/// legend's 13 px font: a swatch, the longest label, and one row per label
/// (plotters' series-label layout, measured on rendered charts).
pub fn legend_size(labels: &[&str]) -> (f64, f64) {
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    box_size(longest, labels.len())
}

/// A legend box holding `lines` rows, the longest `longest` characters.
fn box_size(longest: usize, lines: usize) -> (f64, f64) {
    (44.0 + 7.2 * longest as f64, 10.0 + 19.0 * lines as f64)
}

/// The size of a legend beside the plot whose labels wrap at `chars`
/// characters a line (see [`wrap`]).
pub fn wrapped_size(labels: &[&str], chars: usize) -> (f64, f64) {
    let lines: Vec<String> = labels.iter().flat_map(|l| wrap(l, chars)).collect();
    let longest = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    box_size(longest, lines.len())
}

/// `label` in lines of at most `chars` characters (at least 1), broken at
/// spaces; a word longer than a line is cut.
pub fn wrap(label: &str, chars: usize) -> Vec<String> {
    let chars = chars.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in label.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        while word.len() > chars {
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            lines.push(word.drain(..chars).collect());
        }
        let word: String = word.into_iter().collect();
        let needed = line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
        if !line.is_empty() && needed > chars {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// The most of the plotting area's width that a legend beside the plot
/// may take: longer labels wrap, so that a long series name does not
/// squeeze the data into a strip.
const MAX_BESIDE: f64 = 0.35;

/// Where a legend goes and what the chart keeps for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// The legend's position, relative to the plotting area.
    pub position: SeriesLabelPosition,
    /// The y range to draw with.
    pub y: Range<f64>,
    /// Pixels to keep free right of the plotting area (for a legend beside it).
    pub right_margin: u32,
    /// Characters per line of a legend beside the plot (its labels wrap
    /// there); unused inside the plot.
    pub wrap: usize,
}

impl Placement {
    /// Whether the legend goes beside the plotting area, in the right
    /// margin (drawn by [`draw_legend_beside`](super::frame::draw_legend_beside)).
    pub fn is_beside(&self) -> bool {
        self.right_margin > 0
    }
}

/// The most of the plotting area's height that a band made above the data
/// may take. Beyond it the legend goes beside the plot instead: a tall
/// legend would squash the data into the bottom of the chart and stretch
/// the axis far past any value (an accuracy axis up to 180%).
const MAX_BAND: f64 = 0.2;

/// Where a legend of `labels` goes on a plotting area of `plot_px` pixels
/// showing `x` by `y` (axis coordinates). The corner
/// whose legend box covers the least of `marks` wins (upper right, upper
/// left, lower right, lower left on ties); when every corner covers some,
/// the y range grows upward until the data lies below the legend (upper
/// right), unless that band would take more than 20% of the height: then
/// the legend goes beside the plot, to its right, and the axes keep the
/// data's range; there its labels wrap so that it takes at most 35% of
/// the width.
pub fn place(
    marks: &[Mark],
    x: &Range<f64>,
    y: Range<f64>,
    plot_px: (f64, f64),
    labels: &[&str],
) -> Placement {
    let legend_px = legend_size(labels);
    let inside = |position, y| Placement {
        position,
        y,
        right_margin: 0,
        wrap: usize::MAX,
    };
    let (w, h) = (plot_px.0.max(1.0), plot_px.1.max(1.0));
    // The box as fractions of the plotting area, with the 5 px margin
    // plotters leaves between the legend and the axes.
    let fx = ((legend_px.0 + 10.0) / w).min(0.95);
    let fy = ((legend_px.1 + 10.0) / h).min(0.9);
    let (xs, ys) = (x.end - x.start, y.end - y.start);
    if !(xs > 0.0 && ys > 0.0) {
        return inside(SeriesLabelPosition::UpperRight, y);
    }
    let samples = sample(marks, |(a, b)| ((a - x.start) / xs, (b - y.start) / ys));
    let corners = [
        (
            SeriesLabelPosition::UpperRight,
            (1.0 - fx, 1.0),
            (1.0 - fy, 1.0),
        ),
        (SeriesLabelPosition::UpperLeft, (0.0, fx), (1.0 - fy, 1.0)),
        (SeriesLabelPosition::LowerRight, (1.0 - fx, 1.0), (0.0, fy)),
        (SeriesLabelPosition::LowerLeft, (0.0, fx), (0.0, fy)),
    ];
    let mut best: Option<(SeriesLabelPosition, usize)> = None;
    for (position, (x0, x1), (y0, y1)) in corners {
        let covered = samples
            .iter()
            .filter(|&&(u, v)| u >= x0 && u <= x1 && v >= y0 && v <= y1)
            .count();
        if best.as_ref().is_none_or(|b| covered < b.1) {
            best = Some((position, covered));
        }
    }
    match best {
        Some((position, 0)) => inside(position, y),
        _ if fy <= MAX_BAND => {
            // The data keeps its place in the lower (1 - fy) of the area.
            let top = y.start + ys / (1.0 - fy);
            inside(SeriesLabelPosition::UpperRight, y.start..top)
        }
        _ => {
            // Characters that fit in the share of the width, never fewer
            // than 12 (a legend needs words, not letters).
            let chars = ((MAX_BESIDE * w - 44.0) / 7.2).floor().max(12.0) as usize;
            let (width, _) = wrapped_size(labels, chars);
            Placement {
                position: SeriesLabelPosition::UpperRight,
                y,
                right_margin: (width + 16.0).ceil() as u32,
                wrap: chars,
            }
        }
    }
}

/// Points along every mark in unit coordinates (`to_unit` maps axis
/// coordinates to [0, 1]²), about 1% of the area apart, so that a curve
/// passing through a corner counts even where it has no vertex there.
fn sample(marks: &[Mark], to_unit: impl Fn((f64, f64)) -> (f64, f64)) -> Vec<(f64, f64)> {
    const STEP: f64 = 0.01;
    let mut out = Vec::new();
    let line = |a: (f64, f64), b: (f64, f64), out: &mut Vec<(f64, f64)>| {
        let (a, b) = (to_unit(a), to_unit(b));
        let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
        let n = if len.is_finite() {
            ((len / STEP).ceil() as usize).clamp(1, 400)
        } else {
            1
        };
        for i in 0..=n {
            let t = i as f64 / n as f64;
            out.push((a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)));
        }
    };
    for m in marks {
        match *m {
            Mark::Point(x, y) => out.push(to_unit((x, y))),
            Mark::Segment(a, b) => line(a, b, &mut out),
            Mark::Bar { x0, x1, y0, y1 } => {
                // Its outline and a vertical line through its middle: a
                // legend box smaller than the bar still meets one of them.
                let mid = 0.5 * (x0 + x1);
                line((x0, y0), (x0, y1), &mut out);
                line((x1, y0), (x1, y1), &mut out);
                line((x0, y1), (x1, y1), &mut out);
                line((mid, y0), (mid, y1), &mut out);
            }
        }
    }
    out.retain(|(u, v)| u.is_finite() && v.is_finite());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two labels of 7 characters: a legend of 94.4 x 48 px.
    const TWO: [&str; 2] = ["curve a", "curve b"];

    fn corner(marks: &[Mark]) -> (SeriesLabelPosition, Range<f64>) {
        let p = place(marks, &(0.0..10.0), 0.0..10.0, (500.0, 300.0), &TWO);
        assert_eq!(p.right_margin, 0);
        (p.position, p.y)
    }

    #[test]
    fn a_tall_legend_goes_beside_the_plot_and_the_axis_keeps_the_data_range() {
        let zigzag: Vec<Mark> = (0..10)
            .map(|i| Mark::Segment((i as f64, 0.0), (i as f64 + 1.0, 10.0)))
            .collect();
        // 105 px of a 300 px high area: a band would take 38%.
        let five = ["curve a", "curve b", "curve c", "curve d", "curve e"];
        let p = place(&zigzag, &(0.0..10.0), 0.0..10.0, (500.0, 300.0), &five);
        assert_eq!(p.y, 0.0..10.0);
        // 44 + 7 * 7.2 px of legend and 16 of margin.
        assert_eq!(p.right_margin, 111);
        assert!(p.is_beside());
    }

    fn is(p: &SeriesLabelPosition, want: &str) -> bool {
        format!("{p:?}") == want
    }

    #[test]
    fn a_rising_curve_leaves_the_upper_left_free() {
        let (p, y) = corner(&[Mark::Segment((0.0, 0.0), (10.0, 10.0))]);
        assert!(is(&p, "UpperLeft"), "{p:?}");
        assert_eq!(y, 0.0..10.0);
    }

    #[test]
    fn a_falling_curve_keeps_the_upper_right() {
        let (p, _) = corner(&[Mark::Segment((0.0, 10.0), (10.0, 0.0))]);
        assert!(is(&p, "UpperRight"), "{p:?}");
    }

    #[test]
    fn a_curve_through_a_corner_without_a_vertex_there_counts() {
        // From the lower left to the upper right: both are covered, the
        // vertices are far outside the boxes' interiors.
        let (p, _) = corner(&[
            Mark::Segment((0.0, 0.0), (10.0, 10.0)),
            Mark::Segment((0.0, 10.0), (10.0, 0.0)),
        ]);
        // Both diagonals cover all four corners: room is made on top.
        assert!(is(&p, "UpperRight"), "{p:?}");
    }

    #[test]
    fn full_height_bars_everywhere_make_room_above_the_data() {
        let bars: Vec<Mark> = (0..10)
            .map(|i| Mark::Bar {
                x0: i as f64,
                x1: i as f64 + 0.8,
                y0: 0.0,
                y1: 10.0,
            })
            .collect();
        let (p, y) = corner(&bars);
        assert!(is(&p, "UpperRight"), "{p:?}");
        // The box is (48 + 10) / 300 of the height: the data keeps the rest.
        let want = 10.0 / (1.0 - 58.0 / 300.0);
        assert!((y.end - want).abs() < 1e-9, "{y:?}");
        assert_eq!(y.start, 0.0);
    }

    #[test]
    fn tall_bars_at_both_ends_make_room_and_a_short_one_keeps_its_corner() {
        let bars = [
            Mark::Bar {
                x0: 0.0,
                x1: 1.0,
                y0: 0.0,
                y1: 10.0,
            },
            Mark::Bar {
                x0: 9.0,
                x1: 10.0,
                y0: 0.0,
                y1: 10.0,
            },
        ];
        // Tall bars at both ends: the upper corners are taken, the lower
        // ones too; room above.
        let (_, y) = corner(&bars);
        assert!(y.end > 10.0);
        let short = [Mark::Bar {
            x0: 9.0,
            x1: 10.0,
            y0: 0.0,
            y1: 2.0,
        }];
        let (p, y) = corner(&short);
        assert!(is(&p, "UpperRight"), "{p:?}");
        assert_eq!(y, 0.0..10.0);
    }

    #[test]
    fn long_labels_beside_the_plot_wrap_to_about_a_third_of_the_width() {
        let zigzag: Vec<Mark> = (0..10)
            .map(|i| Mark::Segment((i as f64, 0.0), (i as f64 + 1.0, 10.0)))
            .collect();
        let long = "trained from scratch on the same five examples per class, 80 steps";
        let labels = [long, "pixels", "HOG", "pool5", "relu6", "relu7"];
        let p = place(&zigzag, &(0.0..10.0), 0.0..10.0, (560.0, 300.0), &labels);
        assert!(p.is_beside());
        // (0.35 * 560 - 44) / 7.2 = 21.1: 21 characters a line.
        assert_eq!(p.wrap, 21);
        assert!(
            f64::from(p.right_margin) <= 0.35 * 560.0 + 16.0,
            "{}",
            p.right_margin
        );
        let lines = wrap(long, p.wrap);
        assert!(lines.iter().all(|l| l.chars().count() <= 21), "{lines:?}");
        assert_eq!(lines.join(" "), long);
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_cuts_only_words_longer_than_a_line() {
        assert_eq!(wrap("a bc def", 4), ["a bc", "def"]);
        assert_eq!(wrap("abcdefghij k", 4), ["abcd", "efgh", "ij k"]);
        assert_eq!(wrap("short", 40), ["short"]);
        assert_eq!(wrap("", 5), [""]);
        assert_eq!(wrap("x y", 0), ["x", "y"]);
    }

    #[test]
    fn the_size_grows_with_labels() {
        let (w1, h1) = legend_size(&["a"]);
        let (w2, h2) = legend_size(&["a much longer label", "b"]);
        assert!(w2 > w1 && h2 > h1);
    }
}
