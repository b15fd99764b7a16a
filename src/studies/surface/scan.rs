//! Evaluating the loss along lines and over planes of weight space: 1-D
//! interpolation between two solutions (Goodfellow et al. 2015) or along a
//! direction, and 2-D grids around a point (Li et al. 2018) that can be cut
//! into shards run by separate processes, resumed after an interruption
//! and merged.

use super::direction::Weights;
use crate::data::Split;
use crate::display::{shows_at_cell_end, MimeBundle, Report, Show, Table};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::plot::{Contour, Heatmap, LinePlot, Surface3d};
use crate::train::{evaluate, update_batch_norm};
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::path::Path;

/// `count` evenly spaced values from `lo` to `hi` inclusive.
pub fn linspace(lo: f64, hi: f64, count: usize) -> Vec<f64> {
    match count {
        0 => Vec::new(),
        1 => vec![lo],
        n => (0..n)
            .map(|i| lo + (hi - lo) * i as f64 / (n - 1) as f64)
            .collect(),
    }
}

/// Loss and accuracy of `model` with `weights` loaded, in evaluation mode,
/// on `split` (the model keeps those weights afterwards).
fn measure(
    model: &mut Model,
    weights: &Weights,
    split: &Split,
    batch: usize,
) -> Result<(f64, f64)> {
    weights.load_into(model)?;
    let was_training = model.is_training();
    model.set_train(false);
    let e = evaluate(model, split, batch);
    model.set_train(was_training);
    let e = e?;
    Ok((e.loss, e.accuracy))
}

/// Loss and accuracy along a line, on named evaluation sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    /// Positions along the line.
    pub alphas: Vec<f64>,
    /// `(set name, loss per alpha, accuracy per alpha)`.
    pub sets: Vec<(String, Vec<f64>, Vec<f64>)>,
}

impl Curve {
    /// Loss (left) and accuracy (right) against alpha, one line per set.
    pub fn plots(&self, title: &str) -> (LinePlot, LinePlot) {
        let mut loss = LinePlot::new()
            .title(format!("{title}: loss"))
            .x_label("alpha")
            .y_label("cross-entropy");
        let mut acc = LinePlot::new()
            .title(format!("{title}: accuracy"))
            .x_label("alpha")
            .y_label("accuracy");
        for (name, l, a) in &self.sets {
            loss = loss.line(
                name.clone(),
                self.alphas.iter().copied().zip(l.iter().copied()),
            );
            acc = acc.line(
                name.clone(),
                self.alphas.iter().copied().zip(a.iter().copied()),
            );
        }
        (loss, acc)
    }
}

fn check_sets(sets: &[(&str, &Split)], batch: usize) -> Result<()> {
    if sets.is_empty() || batch == 0 {
        return Err(Error::invalid(
            "a scan needs at least one evaluation set and a batch size >= 1",
        ));
    }
    Ok(())
}

/// The loss on each set at `point(alpha)` for each alpha; `model` ends with
/// `end` loaded.
fn curve(
    model: &mut Model,
    alphas: &[f64],
    sets: &[(&str, &Split)],
    batch: usize,
    mut point: impl FnMut(&mut Model, f64) -> Result<Weights>,
    end: &Weights,
) -> Result<Curve> {
    check_sets(sets, batch)?;
    let mut out: Vec<(String, Vec<f64>, Vec<f64>)> = sets
        .iter()
        .map(|(n, _)| (n.to_string(), Vec::new(), Vec::new()))
        .collect();
    for &alpha in alphas {
        let w = point(model, alpha)?;
        for (k, (_, split)) in sets.iter().enumerate() {
            let (l, acc) = measure(model, &w, split, batch)?;
            out[k].1.push(l);
            out[k].2.push(acc);
        }
    }
    end.load_into(model)?;
    Ok(Curve {
        alphas: alphas.to_vec(),
        sets: out,
    })
}

/// Where the batch-norm running statistics at each point of a line
/// between two solutions come from.
#[derive(Debug, Clone, Copy)]
pub enum BatchStats<'a> {
    /// The first solution's, at every point.
    First,
    /// Interpolated with the weights (Li et al.'s "states"). Beyond the ends
    /// they are extrapolated, and a running variance that falls below zero
    /// is clamped at zero (see [`Weights::lerp`]): the loss there can be an
    /// artefact of the statistics, not of the weights.
    Interpolated,
    /// Re-estimated at each point from these images, in batches of the
    /// scan's batch size ([`update_batch_norm`]): defined on the whole line,
    /// beyond the ends included.
    Recomputed(&'a Split),
}

/// The loss on each set at `(1 - alpha) a + alpha b` for each alpha, with
/// batch-norm statistics as `stats` says. `model` ends with `a` loaded.
pub fn interpolate(
    model: &mut Model,
    a: &Weights,
    b: &Weights,
    alphas: &[f64],
    sets: &[(&str, &Split)],
    stats: BatchStats,
    batch: usize,
) -> Result<Curve> {
    if let BatchStats::Recomputed(split) = stats {
        if split.is_empty() {
            return Err(Error::invalid(
                "BatchStats::Recomputed needs images to estimate the statistics from, got none",
            ));
        }
    }
    curve(
        model,
        alphas,
        sets,
        batch,
        |model, alpha| match stats {
            BatchStats::First => Weights::lerp(a, b, alpha, false),
            BatchStats::Interpolated => Weights::lerp(a, b, alpha, true),
            BatchStats::Recomputed(split) => {
                Weights::lerp(a, b, alpha, false)?.load_into(model)?;
                update_batch_norm(model, split, batch)?;
                Ok(Weights::of(model))
            }
        },
        a,
    )
}

/// The loss on each set at `center + alpha d`. `model` ends with `center` loaded.
pub fn along(
    model: &mut Model,
    center: &Weights,
    d: &Weights,
    alphas: &[f64],
    sets: &[(&str, &Split)],
    batch: usize,
) -> Result<Curve> {
    curve(
        model,
        alphas,
        sets,
        batch,
        |_, alpha| center.moved(&[(alpha, d)], false),
        center,
    )
}

/// A 2-D grid of loss and accuracy at `center + x d1 + y d2`, points in
/// row-major order (index `i * xs.len() + j` is `(xs[j], ys[i])`). Points
/// not yet evaluated hold NaN.
#[derive(Debug, Clone, PartialEq)]
pub struct LossGrid {
    /// Anything that identifies the scan (model, directions, data); a
    /// resumed or merged grid must carry the same tag.
    pub tag: String,
    /// Coefficients along the first direction (columns).
    pub xs: Vec<f64>,
    /// Coefficients along the second direction (rows).
    pub ys: Vec<f64>,
    /// Loss per point (NaN: not evaluated).
    pub loss: Vec<f64>,
    /// Accuracy per point (NaN: not evaluated).
    pub accuracy: Vec<f64>,
}

impl LossGrid {
    /// An empty grid.
    pub fn new(tag: &str, xs: Vec<f64>, ys: Vec<f64>) -> Result<LossGrid> {
        if xs.is_empty() || ys.is_empty() {
            return Err(Error::invalid(
                "a grid needs at least one coefficient on each axis",
            ));
        }
        let n = xs.len() * ys.len();
        Ok(LossGrid {
            tag: tag.to_string(),
            xs,
            ys,
            loss: vec![f64::NAN; n],
            accuracy: vec![f64::NAN; n],
        })
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.loss.len()
    }

    /// Whether the grid has no points.
    pub fn is_empty(&self) -> bool {
        self.loss.is_empty()
    }

    /// Indices of the points not evaluated yet.
    pub fn missing(&self) -> Vec<usize> {
        (0..self.len()).filter(|&i| self.loss[i].is_nan()).collect()
    }

    /// Whether every point is evaluated.
    pub fn is_complete(&self) -> bool {
        self.loss.iter().all(|v| !v.is_nan())
    }

    /// `shards` index ranges that cover the grid in near-equal parts.
    pub fn shards(&self, shards: usize) -> Vec<Range<usize>> {
        let n = self.len();
        let k = shards.clamp(1, n.max(1));
        (0..k).map(|s| s * n / k..(s + 1) * n / k).collect()
    }

    /// Reads a grid saved by [`save`](Self::save).
    pub fn load(path: impl AsRef<Path>) -> Result<LossGrid> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let grid: LossGrid = serde_json::from_str(&text)
            .map_err(|e| Error::corrupt(path, format!("not a saved grid: {e}")))?;
        if grid.xs.is_empty() || grid.ys.is_empty() {
            return Err(Error::corrupt(path, "the grid has an empty axis"));
        }
        if grid.loss.len() != grid.xs.len() * grid.ys.len()
            || grid.accuracy.len() != grid.loss.len()
        {
            return Err(Error::corrupt(
                path,
                "the grid's values do not match its axes",
            ));
        }
        Ok(grid)
    }

    /// The grid as JSON, missing points as null (what [`save`](Self::save)
    /// writes and [`load`](Self::load) reads).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(&SavedGrid::from(self))
            .map_err(|e| Error::invalid(format!("cannot encode the grid: {e}")))
    }

    /// Saves the grid as JSON (NaN written as null), atomically: written
    /// to a temporary file, then renamed, so an interruption never leaves a
    /// half-written file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        crate::runtime::files::write_atomically(path, self.to_json()?.as_bytes())
    }

    /// One grid from shards of the same scan (same tag and axes): each
    /// point taken from the shard that evaluated it.
    pub fn merge(parts: &[LossGrid]) -> Result<LossGrid> {
        let first = parts
            .first()
            .ok_or_else(|| Error::invalid("no grids to merge"))?;
        let mut out = first.clone();
        for g in &parts[1..] {
            if g.tag != first.tag || g.xs != first.xs || g.ys != first.ys {
                return Err(Error::invalid(format!(
                    "cannot merge grids of different scans ('{}' vs '{}', or different axes)",
                    first.tag, g.tag
                )));
            }
            for i in 0..out.len() {
                if out.loss[i].is_nan() && !g.loss[i].is_nan() {
                    out.loss[i] = g.loss[i];
                    out.accuracy[i] = g.accuracy[i];
                }
            }
        }
        Ok(out)
    }

    /// `values[row][col]` of the loss (rows = ys).
    pub fn loss_rows(&self) -> Vec<Vec<f64>> {
        self.loss
            .chunks(self.xs.len())
            .map(<[f64]>::to_vec)
            .collect()
    }

    /// Contours of the loss with labelled levels.
    pub fn contour(&self, title: &str) -> Contour {
        let (x0, x1) = (self.xs[0], self.xs[self.xs.len() - 1]);
        let (y0, y1) = (self.ys[0], self.ys[self.ys.len() - 1]);
        Contour::new(self.loss_rows(), x0, x1, y0, y1)
            .title(title)
            .x_label("direction 1")
            .y_label("direction 2")
    }

    /// The loss as a surface seen from an oblique angle, values above
    /// `clip` (if given) drawn at `clip`.
    pub fn surface(&self, title: &str, clip: Option<f64>) -> Surface3d {
        let (x0, x1) = (self.xs[0], self.xs[self.xs.len() - 1]);
        let (y0, y1) = (self.ys[0], self.ys[self.ys.len() - 1]);
        let s = Surface3d::new(self.loss_rows(), x0, x1, y0, y1).title(title);
        match clip {
            Some(c) => s.clip(c),
            None => s,
        }
    }

    /// The loss as a heatmap.
    pub fn heatmap(&self, title: &str) -> Heatmap {
        let (x0, x1) = (self.xs[0], self.xs[self.xs.len() - 1]);
        let (y0, y1) = (self.ys[0], self.ys[self.ys.len() - 1]);
        Heatmap::new(self.loss_rows())
            .extent(x0, x1, y0, y1)
            .title(title)
            .x_label("direction 1")
            .y_label("direction 2")
    }
}

impl Show for LossGrid {
    /// How much is evaluated, the lowest loss and where, the loss at the
    /// centre, and the contours (or the heatmap of a partial grid).
    fn mime_bundle(&self) -> Result<MimeBundle> {
        let done = self.len() - self.missing().len();
        let nx = self.xs.len();
        let lowest = (0..self.len())
            .filter(|&i| self.loss[i].is_finite())
            .min_by(|&a, &b| self.loss[a].total_cmp(&self.loss[b]));
        let centre = (0..self.len())
            .find(|&i| self.xs[i % nx] == 0.0 && self.ys[i / nx] == 0.0)
            .map(|i| self.loss[i]);
        let table = Table::new(&["", "value"])
            .title(format!("loss grid: {}", self.tag))
            .row(&[
                "points".to_string(),
                format!(
                    "{done} of {} evaluated ({nx} x {})",
                    self.len(),
                    self.ys.len()
                ),
            ])?
            .row(&[
                "lowest loss".to_string(),
                lowest.map_or("-".into(), |i| {
                    format!(
                        "{:.4} at ({:.3}, {:.3}), accuracy {:.2}%",
                        self.loss[i],
                        self.xs[i % nx],
                        self.ys[i / nx],
                        100.0 * self.accuracy[i]
                    )
                }),
            ])?
            .row(&[
                "loss at the centre".to_string(),
                centre
                    .filter(|v| v.is_finite())
                    .map_or("-".into(), |v| format!("{v:.4}")),
            ])?;
        let text = format!(
            "loss grid '{}': {done} of {} points, lowest loss {}",
            self.tag,
            self.len(),
            lowest.map_or("-".into(), |i| format!("{:.4}", self.loss[i]))
        );
        let report = Report::new(table, text);
        if self.is_complete() && nx > 1 && self.ys.len() > 1 {
            report.figure(&self.contour(&self.tag))
        } else {
            report.figure(&self.heatmap(&self.tag))
        }
        .mime_bundle()
    }
}

shows_at_cell_end!(LossGrid);

/// The saved form: JSON has no NaN, so missing points are null.
#[derive(Serialize, Deserialize)]
struct SavedGrid {
    tag: String,
    xs: Vec<f64>,
    ys: Vec<f64>,
    loss: Vec<Option<f64>>,
    accuracy: Vec<Option<f64>>,
}

impl From<&LossGrid> for SavedGrid {
    fn from(g: &LossGrid) -> Self {
        let opt = |v: &[f64]| v.iter().map(|x| (!x.is_nan()).then_some(*x)).collect();
        SavedGrid {
            tag: g.tag.clone(),
            xs: g.xs.clone(),
            ys: g.ys.clone(),
            loss: opt(&g.loss),
            accuracy: opt(&g.accuracy),
        }
    }
}

impl<'de> Deserialize<'de> for LossGrid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = SavedGrid::deserialize(d)?;
        let un = |v: Vec<Option<f64>>| v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect();
        Ok(LossGrid {
            tag: s.tag,
            xs: s.xs,
            ys: s.ys,
            loss: un(s.loss),
            accuracy: un(s.accuracy),
        })
    }
}

/// A 2-D scan: `center + x d1 + y d2` over the grid's axes, evaluated on one
/// fixed set in evaluation mode.
pub struct Scan2d<'a> {
    /// The point the plane goes through.
    pub center: &'a Weights,
    /// First direction (x).
    pub d1: &'a Weights,
    /// Second direction (y).
    pub d2: &'a Weights,
    /// The evaluation set.
    pub data: &'a Split,
    /// Evaluation batch size.
    pub batch: usize,
}

impl Scan2d<'_> {
    /// Evaluates the points of `shard` (index range) that `grid` is
    /// missing, saving the grid to `file` after each point when given (and
    /// starting from what `file` already holds, if it is the same scan).
    /// Stops early, keeping what it has, on an interrupt request. `model`
    /// ends with `center` loaded.
    pub fn run(
        &self,
        model: &mut Model,
        mut grid: LossGrid,
        shard: Range<usize>,
        file: Option<&Path>,
    ) -> Result<LossGrid> {
        if shard.end > grid.len() || shard.start > shard.end {
            return Err(Error::invalid(format!(
                "shard {shard:?} is outside the grid's {} points",
                grid.len()
            )));
        }
        if self.batch == 0 {
            return Err(Error::invalid("the evaluation batch size must be >= 1"));
        }
        if let Some(f) = file.filter(|f| f.exists()) {
            let saved = LossGrid::load(f)?;
            grid = LossGrid::merge(&[grid, saved])?;
        }
        let nx = grid.xs.len();
        for i in shard {
            if !grid.loss[i].is_nan() {
                continue;
            }
            if crate::runtime::interrupt::should_stop(None) {
                break;
            }
            let (x, y) = (grid.xs[i % nx], grid.ys[i / nx]);
            let w = self.center.moved(&[(x, self.d1), (y, self.d2)], false)?;
            let (l, a) = measure(model, &w, self.data, self.batch)?;
            grid.loss[i] = l;
            grid.accuracy[i] = a;
            if let Some(f) = file {
                grid.save(f)?;
            }
        }
        self.center.load_into(model)?;
        Ok(grid)
    }
}
