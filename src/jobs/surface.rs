//! A loss-surface grid as a study: one unit per grid point, each shard's
//! points saved to `<output>/shard-<start>-<end>.json` after every point.

use super::{DataSpec, ModelSpec, ShardReport, Study};
use crate::data::Split;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::surface::{
    linspace, orthogonalize, random_direction, LossGrid, Normalization, Scan2d, Weights,
};
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::path::PathBuf;

/// `count` evenly spaced coefficients from `from` to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    /// First coefficient.
    pub from: f64,
    /// Last coefficient.
    pub to: f64,
    /// Number of coefficients.
    pub count: usize,
}

/// The weights the plane goes through.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CenterSpec {
    /// A safetensors file saved by [`crate::weights::save`] (relative to the
    /// settings file); without one, the network as initialised by `seed`.
    #[serde(default)]
    pub weights: Option<String>,
    /// Initialisation seed of the network.
    #[serde(default)]
    pub seed: u64,
}

/// The two directions of the plane: random, normalised, the second made
/// orthogonal to the first (Li et al.).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectionSpec {
    /// Seeds of the first and second direction.
    pub seeds: [u64; 2],
    /// `filter` (Li et al.'s), `layer` or `none`.
    #[serde(default = "filter")]
    pub normalization: String,
    /// Whether biases and batch-norm parameters move too.
    #[serde(default)]
    pub include_bias_and_norm: bool,
}

fn filter() -> String {
    "filter".into()
}

/// Settings of a loss-surface study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurfaceSettings {
    /// Names the grid (its tag).
    pub name: String,
    /// The network.
    pub model: ModelSpec,
    /// The data whose training split (or `eval_count` evenly spaced images
    /// of it) the loss is measured on.
    pub data: DataSpec,
    /// Images of the training split evaluated (evenly spaced); all if absent.
    #[serde(default)]
    pub eval_count: Option<usize>,
    /// The centre.
    #[serde(default)]
    pub center: CenterSpec,
    /// The directions.
    pub directions: DirectionSpec,
    /// Coefficients along the first direction (columns).
    pub x: Axis,
    /// Coefficients along the second direction (rows).
    pub y: Axis,
    /// Evaluation batch size.
    #[serde(default = "batch")]
    pub batch: usize,
    /// Threads per unit.
    #[serde(default = "one")]
    pub threads: usize,
}

fn batch() -> usize {
    500
}

pub(super) fn one() -> usize {
    1
}

impl SurfaceSettings {
    pub(super) fn check(&self) -> Result<()> {
        for (name, a) in [("x", self.x), ("y", self.y)] {
            if a.count == 0 || !a.from.is_finite() || !a.to.is_finite() {
                return Err(Error::invalid(format!(
                    "axis {name}: from {} to {} in {} steps: expected finite ends and at least one step",
                    a.from, a.to, a.count
                )));
            }
        }
        if self
            .x
            .count
            .checked_mul(self.y.count)
            .is_none_or(|n| n > 100_000_000)
        {
            return Err(Error::invalid(format!(
                "a {} x {} grid: expected at most 100,000,000 points",
                self.x.count, self.y.count
            )));
        }
        if self.batch == 0 || self.threads == 0 {
            return Err(Error::invalid("batch and threads must each be >= 1"));
        }
        if self.eval_count == Some(0) {
            return Err(Error::invalid(
                "eval_count is 0: expected at least one image",
            ));
        }
        self.normalization()?;
        Ok(())
    }

    fn normalization(&self) -> Result<Normalization> {
        match self.directions.normalization.as_str() {
            "filter" => Ok(Normalization::Filter),
            "layer" => Ok(Normalization::Layer),
            "none" => Ok(Normalization::None),
            other => Err(Error::invalid(format!(
                "directions.normalization '{other}': expected 'filter', 'layer' or 'none'"
            ))),
        }
    }

    pub(super) fn units(&self) -> usize {
        self.x.count * self.y.count
    }

    fn empty_grid(&self) -> Result<LossGrid> {
        LossGrid::new(
            &self.name,
            linspace(self.x.from, self.x.to, self.x.count),
            linspace(self.y.from, self.y.to, self.y.count),
        )
    }

    /// The evaluation images, the network with the centre loaded, and the
    /// three points of weight space the plane is made of.
    fn prepare(&self, study: &Study) -> Result<(Split, Model, Weights, Weights, Weights)> {
        let data = self.data.load()?;
        let split = match self.eval_count {
            Some(n) if n < data.train.len() => {
                let step = data.train.len() / n;
                let idx: Vec<i64> = (0..n).map(|i| (i * step) as i64).collect();
                data.train.select(&idx)?
            }
            // Evaluation only reads the images: the split itself, not a copy.
            _ => data.train.clone(),
        };
        let mut model = self.model.build(
            data.train.image_shape(),
            data.num_classes(),
            self.center.seed,
            crate::device::default_device(),
        )?;
        if let Some(w) = &self.center.weights {
            crate::weights::load(&mut model, study.resolve(w))?;
        }
        model.set_train(false);
        let center = Weights::of(&model);
        let norm = self.normalization()?;
        let [s1, s2] = self.directions.seeds;
        let bias = self.directions.include_bias_and_norm;
        let d1 = random_direction(&center, norm, bias, s1)?;
        let d2 = orthogonalize(
            &random_direction(&center, norm, bias, s2)?,
            &d1,
            &center,
            norm,
        )?;
        Ok((split, model, center, d1, d2))
    }

    fn shard_file(study: &Study, units: &Range<usize>) -> PathBuf {
        study
            .output
            .join(format!("shard-{}-{}.json", units.start, units.end))
    }

    /// Every shard file in the output folder, read.
    fn shards(&self, study: &Study) -> Result<Vec<LossGrid>> {
        let mut grids = Vec::new();
        let Ok(entries) = std::fs::read_dir(&study.output) else {
            return Ok(grids);
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p.file_name().unwrap_or_default().to_string_lossy();
                n.starts_with("shard-") && n.ends_with(".json")
            })
            .collect();
        paths.sort();
        for p in paths {
            let g = LossGrid::load(&p)?;
            let empty = self.empty_grid()?;
            if g.tag != empty.tag || g.xs != empty.xs || g.ys != empty.ys {
                return Err(Error::invalid(format!(
                    "{} holds a grid of other settings ('{}'): remove it, or give this study another output folder",
                    p.display(),
                    g.tag
                )));
            }
            grids.push(g);
        }
        Ok(grids)
    }

    pub(super) fn known(&self, study: &Study) -> Result<LossGrid> {
        let mut parts = vec![self.empty_grid()?];
        parts.extend(self.shards(study)?);
        LossGrid::merge(&parts)
    }

    pub(super) fn run(
        &self,
        study: &Study,
        units: Range<usize>,
        progress: &mut dyn FnMut(usize) -> Result<()>,
    ) -> Result<ShardReport> {
        let known = self.known(study)?;
        let done_in = |g: &LossGrid| units.clone().filter(|&i| !g.loss[i].is_nan()).count();
        let skipped = done_in(&known);
        if skipped == units.len() {
            return Ok(ShardReport {
                units,
                computed: 0,
                skipped,
                complete: true,
            });
        }
        let (split, mut model, center, d1, d2) = self.prepare(study)?;
        let scan = Scan2d {
            center: &center,
            d1: &d1,
            d2: &d2,
            data: &split,
            batch: self.batch,
        };
        let file = Self::shard_file(study, &units);
        // Points other shard files hold are not computed again; a row at a
        // time, so that progress is reported as rows finish.
        let mut grid = known;
        let row = self.x.count;
        let mut start = units.start;
        while start < units.end {
            let end = ((start / row + 1) * row).min(units.end);
            grid = scan.run(&mut model, grid, start..end, Some(&file))?;
            if grid.loss[start..end].iter().any(|v| v.is_nan()) {
                break;
            }
            progress(done_in(&grid))?;
            start = end;
        }
        let done = done_in(&grid);
        Ok(ShardReport {
            computed: done - skipped,
            skipped,
            complete: done == units.len(),
            units,
        })
    }

    pub(super) fn done(&self, study: &Study) -> Result<usize> {
        let g = self.known(study)?;
        Ok(g.len() - g.missing().len())
    }

    pub(super) fn merge(&self, study: &Study) -> Result<String> {
        let g = self.known(study)?;
        let missing = g.missing();
        if !missing.is_empty() {
            return Err(Error::invalid(format!(
                "study '{}': {} of {} points are not computed yet (first: {:?}): run the missing shards first",
                self.name,
                missing.len(),
                g.len(),
                &missing[..missing.len().min(5)]
            )));
        }
        g.to_json()
    }
}
