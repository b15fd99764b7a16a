//! A sweep of training runs as a study: one unit per run, kept in a
//! [`RunFolder`] under `<output>/runs/<key>/` (its checkpoint while it
//! trains, its weights and `result.json` when it has finished).

use super::surface::one;
use super::{DataSpec, ModelSpec, Settings, ShardReport, Study, TrainSpec};
use crate::data::{Catalog, Dataset};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::train::{evaluate, fit, FitConfig, ProgressMode, RunFolder};
use crate::transfer::{Lower, Surgery};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::ops::Range;

/// One seeded training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// Names the run's folder (letters, digits, `-_.+`); `run-<index>` if
    /// absent.
    #[serde(default)]
    pub key: Option<String>,
    /// The data it trains on (training split) and is tested on.
    pub data: DataSpec,
    /// The network.
    pub model: ModelSpec,
    /// How it trains.
    pub train: TrainSpec,
    /// Seeds the initial weights and the order of the examples (and, for
    /// a transfer, the re-initialised layers).
    #[serde(default)]
    pub seed: u64,
    /// Starts from a base net's lower layers (Yosinski's AnB, AnB+, the
    /// random frozen baseline) instead of from scratch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferSpec>,
}

/// Layers 1..n of a finished run of another sweep, copied into this run's
/// net ([`Surgery`]): frozen, fine-tuned, or drawn at random and frozen.
/// The base sweep is computed first (on Slurm: `--after` its merge job).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferSpec {
    /// The base sweep's settings file (relative to this one).
    pub study: String,
    /// The base run's key in it.
    pub key: String,
    /// The last lower layer (`relu3`: n = 3 of the ZFNet).
    pub last: String,
    /// `frozen`, `fine_tuned` or `random_frozen`.
    pub lower: String,
}

impl TransferSpec {
    fn lower(&self) -> Result<Lower> {
        match self.lower.as_str() {
            "frozen" => Ok(Lower::Frozen),
            "fine_tuned" => Ok(Lower::FineTuned),
            "random_frozen" => Ok(Lower::RandomFrozen),
            other => Err(Error::invalid(format!(
                "transfer.lower '{other}': expected 'frozen', 'fine_tuned' or 'random_frozen'"
            ))),
        }
    }

    /// The base net with its trained weights, for images of `input`.
    fn base(&self, study: &Study, input: [i64; 3], device: tch::Device) -> Result<Model> {
        let base = Study::load(study.resolve(&self.study))?;
        let Settings::Sweep(sweep) = &base.settings else {
            return Err(Error::invalid(format!(
                "transfer.study {}: a loss-surface study has no trained nets; expected a sweep",
                self.study
            )));
        };
        let keys = sweep.keys();
        let Some(i) = keys.iter().position(|k| *k == self.key) else {
            return Err(Error::invalid(format!(
                "transfer.key '{}': no such run in {} (its runs: {})",
                self.key,
                self.study,
                keys[..keys.len().min(8)].join(", ")
            )));
        };
        let run = &sweep.runs[i];
        let folder = SweepSettings::folder(&base)?;
        if folder
            .finished::<RunResult>(&self.key, &SweepSettings::words(run)?)?
            .is_none()
        {
            return Err(Error::invalid(format!(
                "base run '{}' of {} has not finished: compute that sweep first",
                self.key, self.study
            )));
        }
        let classes = match &run.data.classes {
            Some(c) => c.len() as i64,
            None => run.data.load()?.num_classes(),
        };
        let mut net = run.model.build(input, classes, run.seed, device)?;
        crate::weights::load(&mut net, folder.dir().join(&self.key).join(WEIGHTS))?;
        Ok(net)
    }
}

/// The trained net's weights in its run folder.
const WEIGHTS: &str = "weights.safetensors";

/// Settings of a sweep. In the file, an optional `defaults` object is
/// merged under every run (a run's own fields win, objects merged key by
/// key), so a sweep of seeds is `"runs": [{"seed": 0}, {"seed": 1}]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSettings {
    /// Names the sweep.
    pub name: String,
    /// The runs, in order.
    pub runs: Vec<RunSpec>,
    /// Threads per unit.
    #[serde(default = "one")]
    pub threads: usize,
}

/// What a finished run reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Test accuracy in [0, 1] after the last epoch.
    pub test_accuracy: f64,
    /// Mean test cross-entropy (nats).
    pub test_loss: f64,
    /// Mean mini-batch training loss of each epoch.
    pub train_loss: Vec<f64>,
}

/// One run of a merged sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRun {
    /// The run's key.
    pub key: String,
    /// Its settings.
    pub spec: RunSpec,
    /// What it reported.
    pub result: RunResult,
}

/// A merged sweep: every run, in the settings' order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepResult {
    /// The sweep's name.
    pub name: String,
    /// The runs.
    pub runs: Vec<SweepRun>,
}

impl SweepResult {
    /// Reads a merged sweep (`<output>/result.json`).
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<SweepResult> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::corrupt(path, format!("not a merged sweep: {e}")))
    }
}

/// Merges a sweep's `defaults` under each of its runs; other settings are
/// returned as they are.
pub(super) fn with_defaults(mut value: Value) -> Result<Value> {
    let Some(obj) = value.as_object_mut() else {
        return Ok(value);
    };
    if obj.get("kind").and_then(Value::as_str) != Some("sweep") {
        return Ok(value);
    }
    let Some(defaults) = obj.remove("defaults") else {
        return Ok(value);
    };
    if !defaults.is_object() {
        return Err(Error::invalid(format!(
            "\"defaults\" is {defaults}: expected an object"
        )));
    }
    if let Some(Value::Array(runs)) = obj.get_mut("runs") {
        for run in runs.iter_mut() {
            let mut merged = defaults.clone();
            overlay(&mut merged, run.take());
            *run = merged;
        }
    }
    Ok(value)
}

/// `top` written over `base`, objects merged key by key.
fn overlay(base: &mut Value, top: Value) {
    match (base, top) {
        (Value::Object(b), Value::Object(t)) => {
            for (k, v) in t {
                match b.get_mut(&k) {
                    Some(slot) => overlay(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, top) => *slot = top,
    }
}

impl SweepSettings {
    pub(super) fn check(&self) -> Result<()> {
        if self.runs.is_empty() {
            return Err(Error::invalid(format!("sweep '{}' has no runs", self.name)));
        }
        if self.threads == 0 {
            return Err(Error::invalid("threads must be >= 1"));
        }
        let keys = self.keys();
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].contains(k) {
                return Err(Error::invalid(format!(
                    "sweep '{}': two runs are keyed '{k}': expected a key per run",
                    self.name
                )));
            }
        }
        for r in &self.runs {
            r.train.optimizer()?;
            if let Some(t) = &r.transfer {
                t.lower()?;
            }
        }
        Ok(())
    }

    /// Each run's key, in order.
    pub fn keys(&self) -> Vec<String> {
        self.runs
            .iter()
            .enumerate()
            .map(|(i, r)| r.key.clone().unwrap_or_else(|| format!("run-{i}")))
            .collect()
    }

    fn folder(study: &Study) -> Result<RunFolder> {
        RunFolder::new(study.output.join("runs"))
    }

    /// What a run's result records as its settings: the run in canonical
    /// JSON, so a changed setting is caught rather than answered stale.
    fn words(run: &RunSpec) -> Result<String> {
        serde_json::to_string(run).map_err(|e| Error::invalid(format!("cannot encode a run: {e}")))
    }

    fn train(
        study: &Study,
        folder: &RunFolder,
        key: &str,
        run: &RunSpec,
        loaded: &mut HashMap<String, Dataset>,
    ) -> Result<RunResult> {
        folder.run(key, &Self::words(run)?, |files| {
            let full = match loaded.get(&run.data.dataset) {
                Some(d) => d.clone(),
                None => {
                    let d = Catalog::open_default()?.load(&run.data.dataset)?;
                    loaded.insert(run.data.dataset.clone(), d.clone());
                    d
                }
            };
            let data = run.data.cut(full)?;
            let device = crate::device::default_device();
            let input = data.train.image_shape();
            let mut net = run
                .model
                .build(input, data.num_classes(), run.seed, device)?;
            if let Some(t) = &run.transfer {
                let base = t.base(study, input, device)?;
                Surgery {
                    last: t.last.clone(),
                    lower: t.lower()?,
                    seed: run.seed,
                }
                .apply(&mut net, &base)?;
            }
            let (optimizer, schedule) = run.train.optimizer()?;
            let mut cfg = FitConfig::new(run.train.epochs, run.train.batch, optimizer);
            cfg.schedule = schedule;
            cfg.seed = run.seed;
            cfg.evaluate = false;
            cfg.checkpoint_dir = Some(files.checkpoint.clone());
            // A notebook sees the study's own live line; a job's log gets
            // a line per epoch.
            cfg.progress = if crate::display::in_notebook() {
                ProgressMode::Silent
            } else {
                ProgressMode::Lines
            };
            cfg.label = Some(format!("{} {key}", study.name()));
            let fitted = fit(&mut net, &data, &cfg)?.completed()?;
            crate::weights::save(&net, files.dir.join(WEIGHTS))?;
            let e = evaluate(&mut net, &data.test, 1000)?;
            Ok(RunResult {
                test_accuracy: e.accuracy,
                test_loss: e.loss,
                train_loss: fitted.history.epochs.iter().map(|r| r.train_loss).collect(),
            })
        })
    }

    pub(super) fn run(
        &self,
        study: &Study,
        units: Range<usize>,
        progress: &mut dyn FnMut(usize) -> Result<()>,
    ) -> Result<ShardReport> {
        let folder = Self::folder(study)?;
        let keys = self.keys();
        let (mut computed, mut skipped) = (0, 0);
        // Each dataset is read from its files once per call, not per run.
        let mut loaded = HashMap::new();
        for i in units.clone() {
            let run = &self.runs[i];
            if folder
                .finished::<RunResult>(&keys[i], &Self::words(run)?)?
                .is_some()
            {
                skipped += 1;
                continue;
            }
            if crate::runtime::interrupt::should_stop(None) {
                break;
            }
            match Self::train(study, &folder, &keys[i], run, &mut loaded) {
                Ok(_) => {
                    computed += 1;
                    progress(computed + skipped)?;
                }
                Err(Error::Interrupted(_)) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(ShardReport {
            complete: computed + skipped == units.len(),
            units,
            computed,
            skipped,
        })
    }

    pub(super) fn done(&self, study: &Study) -> Result<usize> {
        let folder = Self::folder(study)?;
        let keys = self.keys();
        let mut done = 0;
        for (k, r) in keys.iter().zip(&self.runs) {
            done += folder.finished::<RunResult>(k, &Self::words(r)?)?.is_some() as usize;
        }
        Ok(done)
    }

    pub(super) fn merge(&self, study: &Study) -> Result<String> {
        let folder = Self::folder(study)?;
        let mut runs = Vec::new();
        let mut missing = Vec::new();
        for (key, spec) in self.keys().into_iter().zip(&self.runs) {
            match folder.finished::<RunResult>(&key, &Self::words(spec)?)? {
                Some(result) => runs.push(SweepRun {
                    key,
                    spec: spec.clone(),
                    result,
                }),
                None => missing.push(key),
            }
        }
        if !missing.is_empty() {
            return Err(Error::invalid(format!(
                "sweep '{}': {} of {} runs have not finished ({}): run the missing shards first",
                self.name,
                missing.len(),
                self.runs.len(),
                missing[..missing.len().min(5)].join(", ")
            )));
        }
        let merged = SweepResult {
            name: self.name.clone(),
            runs,
        };
        serde_json::to_string_pretty(&merged)
            .map_err(|e| Error::invalid(format!("cannot encode the sweep: {e}")))
    }
}
