//! Studies as jobs: a study (a loss-surface grid, a sweep of training runs)
//! described by a settings file, cut into units that separate processes,
//! Slurm array tasks or Ray tasks compute, then merged.
//!
//! The settings file is JSON with a `kind`:
//!
//! - `"surface"` ([`SurfaceSettings`]): a 2-D loss grid around a network's
//!   weights (Li et al. 2018); one unit per grid point.
//! - `"sweep"` ([`SweepSettings`]): a list of seeded training runs; one unit
//!   per run, whose result and checkpoint go to its own folder.
//!
//! Every process that reads the same file computes the same units the same
//! way: a shard `I` of `N` takes the units `I * U / N .. (I + 1) * U / N`.
//! Each unit's result is written atomically (a temporary file renamed into
//! place), a finished unit is never computed again, and a killed one
//! resumes from what it saved (the grid points done so far; the run's last
//! epoch checkpoint). [`Study::merge`] joins the units into
//! `<output>/result.json`, bit-identical to what one process doing every
//! unit writes, since every unit is computed from the settings alone on
//! the same number of threads.

mod engine;
mod spec;
mod surface;
mod sweep;

pub mod slurm;

pub use engine::{command_path, Engine};
pub use spec::{DataSpec, ModelSpec, TrainSpec};
pub use surface::{Axis, CenterSpec, DirectionSpec, SurfaceSettings};
pub use sweep::{RunResult, RunSpec, SweepResult, SweepRun, SweepSettings, TransferSpec};

use crate::error::{Error, Result};
use crate::runtime::files::write_atomically;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// What a settings file describes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Settings {
    /// A loss-surface grid.
    Surface(Box<SurfaceSettings>),
    /// A sweep of training runs.
    Sweep(SweepSettings),
}

/// A study read from its settings file, with the folder its units and
/// merged result go to.
#[derive(Debug, Clone)]
pub struct Study {
    /// What to compute.
    pub settings: Settings,
    /// The settings file.
    pub file: PathBuf,
    /// Where units and the merged result are written.
    pub output: PathBuf,
}

/// How far a study has come: units finished of all units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Units finished.
    pub done: usize,
    /// Units in the study.
    pub total: usize,
    /// Whether the merged result exists.
    pub merged: bool,
}

/// What one call of [`Study::run`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardReport {
    /// The units of the shard.
    pub units: Range<usize>,
    /// Units computed by this call.
    pub computed: usize,
    /// Units that were already finished.
    pub skipped: usize,
    /// Whether every unit of the shard is finished (false after an
    /// interrupt request).
    pub complete: bool,
}

/// The name of the merged result inside the output folder.
pub const RESULT: &str = "result.json";

impl Study {
    /// Reads a settings file. Its `output` folder (relative paths are taken
    /// from the file's folder) defaults to `<file stem>.out` beside it.
    pub fn load(file: impl AsRef<Path>) -> Result<Study> {
        let file = file.as_ref();
        let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::corrupt(file, format!("not JSON: {e}")))?;
        Study::from_json(value, file)
    }

    /// A study from settings already parsed as JSON, as if read from `file`
    /// (which names the output folder and anchors relative paths).
    pub fn from_json(mut value: serde_json::Value, file: impl AsRef<Path>) -> Result<Study> {
        let file = std::path::absolute(file.as_ref()).map_err(|e| Error::io(file.as_ref(), e))?;
        let base = file.parent().unwrap_or(Path::new("/")).to_path_buf();
        let output = match value.as_object_mut().and_then(|o| o.remove("output")) {
            None => base.join(format!(
                "{}.out",
                file.file_stem().unwrap_or_default().to_string_lossy()
            )),
            Some(serde_json::Value::String(s)) => base.join(s),
            Some(other) => {
                return Err(Error::corrupt(
                    &file,
                    format!("\"output\" is {other}: expected a folder name"),
                ))
            }
        };
        if let Some(obj) = value.as_object() {
            if !obj.contains_key("kind") {
                return Err(Error::corrupt(
                    &file,
                    "no \"kind\": expected \"surface\" or \"sweep\"",
                ));
            }
        }
        let settings: Settings = serde_json::from_value(sweep::with_defaults(value)?)
            .map_err(|e| Error::corrupt(&file, format!("not a study's settings: {e}")))?;
        let study = Study {
            settings,
            file,
            output,
        };
        study.check()?;
        Ok(study)
    }

    /// Writes `settings` to `file` (pretty JSON) and reads it back as a
    /// study: how a notebook hands a study to other processes.
    pub fn write(settings: &Settings, file: impl AsRef<Path>) -> Result<Study> {
        let file = file.as_ref();
        let text = serde_json::to_string_pretty(settings)
            .map_err(|e| Error::invalid(format!("cannot encode the settings: {e}")))?;
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        write_atomically(file, text.as_bytes())?;
        Study::load(file)
    }

    fn check(&self) -> Result<()> {
        match &self.settings {
            Settings::Surface(s) => s.check(),
            Settings::Sweep(s) => s.check(),
        }
    }

    /// The study's name.
    pub fn name(&self) -> &str {
        match &self.settings {
            Settings::Surface(s) => &s.name,
            Settings::Sweep(s) => &s.name,
        }
    }

    /// Number of units.
    pub fn units(&self) -> usize {
        match &self.settings {
            Settings::Surface(s) => s.units(),
            Settings::Sweep(s) => s.runs.len(),
        }
    }

    /// Threads each unit computes on (part of what makes results
    /// bit-identical between engines).
    pub fn threads(&self) -> usize {
        match &self.settings {
            Settings::Surface(s) => s.threads,
            Settings::Sweep(s) => s.threads,
        }
    }

    /// The units of shard `shard` of `of` (near-equal contiguous parts;
    /// shards beyond the number of units are empty).
    pub fn shard(&self, shard: usize, of: usize) -> Result<Range<usize>> {
        shard_range(self.units(), shard, of)
    }

    /// Computes the unfinished units of shard `shard` of `of`, saving each
    /// as it finishes. Stops early, keeping what it has, on an interrupt
    /// request (Ctrl-C, the kernel's interrupt, SIGTERM in the command).
    pub fn run(&self, shard: usize, of: usize) -> Result<ShardReport> {
        self.run_units(self.shard(shard, of)?, &mut |_| Ok(()))
    }

    /// Computes the unfinished units of `units` on the study's threads
    /// (the caller's number of threads is restored after), calling
    /// `progress` with the units finished so far after each grid row or
    /// run.
    fn run_units(
        &self,
        units: Range<usize>,
        progress: &mut dyn FnMut(usize) -> Result<()>,
    ) -> Result<ShardReport> {
        std::fs::create_dir_all(&self.output).map_err(|e| Error::io(&self.output, e))?;
        let before = tch::get_num_threads();
        tch::set_num_threads(self.threads().max(1) as i32);
        let r = match &self.settings {
            Settings::Surface(s) => s.run(self, units, progress),
            Settings::Sweep(s) => s.run(self, units, progress),
        };
        tch::set_num_threads(before);
        r
    }

    /// Units finished so far, and whether the merged result exists.
    pub fn progress(&self) -> Result<Progress> {
        let done = match &self.settings {
            Settings::Surface(s) => s.done(self)?,
            Settings::Sweep(s) => s.done(self)?,
        };
        Ok(Progress {
            done,
            total: self.units(),
            merged: self.result_file().is_file(),
        })
    }

    /// Joins every unit into `<output>/result.json` (written atomically) and
    /// returns its path; an error naming the missing units if any is
    /// unfinished.
    pub fn merge(&self) -> Result<PathBuf> {
        let json = match &self.settings {
            Settings::Surface(s) => s.merge(self)?,
            Settings::Sweep(s) => s.merge(self)?,
        };
        let path = self.result_file();
        write_atomically(&path, json.as_bytes())?;
        Ok(path)
    }

    /// Where [`merge`](Self::merge) writes.
    pub fn result_file(&self) -> PathBuf {
        self.output.join(RESULT)
    }

    /// A path from the settings, relative to the settings file's folder.
    pub(crate) fn resolve(&self, path: &str) -> PathBuf {
        self.file.parent().unwrap_or(Path::new("/")).join(path)
    }
}

/// Units `shard * units / of .. (shard + 1) * units / of`.
pub fn shard_range(units: usize, shard: usize, of: usize) -> Result<Range<usize>> {
    if of == 0 || shard >= of {
        return Err(Error::invalid(format!(
            "shard {shard} of {of}: expected 0 <= shard < of (shards count from 0)"
        )));
    }
    Ok(shard * units / of..(shard + 1) * units / of)
}
