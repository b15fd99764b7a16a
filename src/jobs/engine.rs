//! Where a study's units are computed, chosen in code or by the
//! environment, and the wait for the merged result with its progress shown
//! live (units done of all, and for a grid the points so far).

use super::slurm::{self, SlurmJob};
use super::{Settings, Study};
use crate::display::DisplayHandle;
use crate::error::{Error, Result};
use crate::runtime::interrupt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the units run.
#[derive(Debug, Clone, PartialEq)]
pub enum Engine {
    /// In this process, one grid row or one run at a time (the default).
    InProcess,
    /// A Slurm job array and its merge job ([`slurm::submit`]).
    Slurm(SlurmJob),
    /// Ray tasks, by `scripts/ray_study.py`.
    Ray {
        /// Tasks (shards).
        shards: usize,
        /// CPUs per task (the study's threads if `None`).
        cpus: Option<f64>,
        /// GPUs per task.
        gpus: f64,
        /// A running cluster (`$RAY_ADDRESS`, else a local one, if `None`).
        address: Option<String>,
    },
}

/// How often a submitted study's progress is read.
const POLL: Duration = Duration::from_millis(500);

impl Engine {
    /// The engine `DEEPSCOPE_ENGINE` names: `in-process` (the default when
    /// unset), `slurm` or `ray`, with `DEEPSCOPE_SHARDS` shards (default 4),
    /// and for Slurm `DEEPSCOPE_SLURM_PARTITION` and `DEEPSCOPE_SLURM_TIME`,
    /// for Ray `RAY_ADDRESS`. A notebook that computes its studies through
    /// this runs unchanged here and on a cluster.
    pub fn from_env() -> Result<Engine> {
        let shards = match std::env::var("DEEPSCOPE_SHARDS") {
            Err(_) => 4,
            Ok(s) => match s.trim().parse::<usize>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    return Err(Error::invalid(format!(
                        "DEEPSCOPE_SHARDS is {s:?}: expected a whole number >= 1"
                    )))
                }
            },
        };
        let engine = std::env::var("DEEPSCOPE_ENGINE").unwrap_or_default();
        match engine.trim() {
            "" | "in-process" => Ok(Engine::InProcess),
            "slurm" => {
                let mut job = SlurmJob::new(shards);
                job.partition = std::env::var("DEEPSCOPE_SLURM_PARTITION").ok();
                job.time = std::env::var("DEEPSCOPE_SLURM_TIME").ok();
                Ok(Engine::Slurm(job))
            }
            "ray" => Ok(Engine::Ray {
                shards,
                cpus: None,
                gpus: 0.0,
                address: std::env::var("RAY_ADDRESS").ok(),
            }),
            other => Err(Error::invalid(format!(
                "DEEPSCOPE_ENGINE is '{other}': expected 'in-process', 'slurm' or 'ray'"
            ))),
        }
    }

    /// In words, for the live line.
    pub fn describe(&self) -> String {
        match self {
            Engine::InProcess => "in this process".into(),
            Engine::Slurm(j) => format!("as {} Slurm array tasks", j.shards),
            Engine::Ray { shards, .. } => format!("as {shards} Ray tasks"),
        }
    }
}

/// The `deepscope` command: `DEEPSCOPE_BIN`, else `deepscope` on the PATH,
/// else the one this checkout builds (`make setup`).
pub fn command_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("DEEPSCOPE_BIN") {
        return Ok(PathBuf::from(p));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("deepscope"))
            .find(|p| p.is_file())
    });
    let built = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/debug/deepscope");
    on_path
        .or(Some(built).filter(|p| p.is_file()))
        .ok_or_else(|| {
            Error::invalid(
                "the deepscope command is not built: run `make setup` (or set DEEPSCOPE_BIN to it)",
            )
        })
}

impl Study {
    /// Computes every unit with `engine` and merges them, showing the
    /// progress live; returns the merged result's path. A study already
    /// merged returns at once. An interrupt stops the wait (and, in this
    /// process, the computation, keeping the finished units); units
    /// submitted to Slurm or Ray go on there, and computing again waits
    /// for them (finished units are not computed twice).
    pub fn compute(&self, engine: &Engine) -> Result<PathBuf> {
        if self.result_file().is_file() {
            return Ok(self.result_file());
        }
        let live = DisplayHandle::show(&format!("{}: starting", self.name()))?;
        self.compute_in(engine, &live)
    }

    /// [`compute`](Self::compute) showing its progress in `live` (a
    /// notebook's one live output for several studies).
    pub fn compute_in(&self, engine: &Engine, live: &DisplayHandle) -> Result<PathBuf> {
        if self.result_file().is_file() {
            return Ok(self.result_file());
        }
        let started = Instant::now();
        self.show_progress(live, engine, started, "")?;
        match engine {
            Engine::InProcess => {
                let units = self.units();
                let mut report =
                    |_: usize| -> Result<()> { self.show_progress(live, engine, started, "") };
                let r = self.run_units(0..units, &mut report)?;
                if !r.complete {
                    return Err(Error::Interrupted(format!(
                        "study '{}' stopped after {} of {units} units; computing it again resumes",
                        self.name(),
                        self.progress()?.done
                    )));
                }
                let path = self.merge()?;
                self.show_progress(live, engine, started, "")?;
                Ok(path)
            }
            Engine::Slurm(job) => {
                let s = slurm::submit(self, job, &command_path()?, false)?;
                let jobs = format!("{},{}", s.array, s.merge);
                let note = format!(" (Slurm jobs {} and merge {})", s.array, s.merge);
                self.wait(live, engine, started, &note, || {
                    let out = Command::new("squeue")
                        .args(["-h", "-o", "%i", "-j", &jobs])
                        .output()
                        .map_err(|e| Error::invalid(format!("cannot run squeue: {e}")))?;
                    // squeue fails for job ids it no longer knows: ended.
                    let running = out.status.success() && !out.stdout.trim_ascii().is_empty();
                    Ok((!running).then(|| {
                        format!(
                            "the Slurm jobs ended without a merged result: see {}",
                            self.output.join("slurm").join("logs").display()
                        )
                    }))
                })
            }
            Engine::Ray {
                shards,
                cpus,
                gpus,
                address,
            } => {
                let mut child = self.start_ray(*shards, *cpus, *gpus, address.as_deref())?;
                let note = format!(" (Ray launcher, pid {})", child.id());
                let result = self.wait(live, engine, started, &note, || {
                    match child
                        .try_wait()
                        .map_err(|e| Error::invalid(e.to_string()))?
                    {
                        None => Ok(None),
                        Some(status) => Ok(Some(format!(
                            "the Ray launcher ended ({status}) without a merged result: see {}",
                            self.output.join("ray.log").display()
                        ))),
                    }
                });
                if result.is_ok() {
                    // The launcher exits right after the merge: reaped, not
                    // left a zombie. After an interrupt it goes on.
                    let _ = child.wait();
                }
                result
            }
        }
    }

    /// Polls until the result is merged, `ended` says why it never will
    /// be, or an interrupt.
    fn wait(
        &self,
        live: &DisplayHandle,
        engine: &Engine,
        started: Instant,
        note: &str,
        mut ended: impl FnMut() -> Result<Option<String>>,
    ) -> Result<PathBuf> {
        let mut last = None;
        loop {
            if self.result_file().is_file() {
                self.show_progress(live, engine, started, note)?;
                return Ok(self.result_file());
            }
            let p = self.progress()?;
            if last != Some(p.done) {
                self.show_progress(live, engine, started, note)?;
                last = Some(p.done);
            }
            if let Some(why) = ended()? {
                // The merge may have landed between the two reads.
                if self.result_file().is_file() {
                    continue;
                }
                return Err(Error::invalid(format!("study '{}': {why}", self.name())));
            }
            if interrupt::should_stop(None) {
                return Err(Error::Interrupted(format!(
                    "stopped waiting for study '{}' at {} of {} units; its jobs go on{note}, and computing it again waits for them",
                    self.name(),
                    p.done,
                    p.total
                )));
            }
            std::thread::sleep(POLL);
        }
    }

    fn start_ray(
        &self,
        shards: usize,
        cpus: Option<f64>,
        gpus: f64,
        address: Option<&str>,
    ) -> Result<Child> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let python = std::env::var_os("DEEPSCOPE_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(".venv/bin/python"));
        let script = root.join("scripts/ray_study.py");
        std::fs::create_dir_all(&self.output).map_err(|e| Error::io(&self.output, e))?;
        let log_path = self.output.join("ray.log");
        let log = std::fs::File::create(&log_path).map_err(|e| Error::io(&log_path, e))?;
        let err = log.try_clone().map_err(|e| Error::io(&log_path, e))?;
        let mut cmd = Command::new(&python);
        cmd.arg(&script)
            .arg(&self.file)
            .args(["--shards", &shards.to_string(), "--gpus", &gpus.to_string()])
            .arg("--binary")
            .arg(command_path()?)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err);
        if let Some(c) = cpus {
            cmd.args(["--cpus", &c.to_string()]);
        }
        if let Some(a) = address {
            cmd.args(["--address", a]);
        }
        cmd.spawn().map_err(|e| {
            Error::invalid(format!(
                "cannot start {} {} ({e}): is the project's .venv set up (make setup), or DEEPSCOPE_PYTHON set?",
                python.display(),
                script.display()
            ))
        })
    }

    fn progress_line(&self, engine: &Engine, started: Instant, note: &str) -> Result<String> {
        let p = self.progress()?;
        Ok(format!(
            "{}: {} of {} units done {}{note}, {:.0} s{}",
            self.name(),
            p.done,
            p.total,
            engine.describe(),
            started.elapsed().as_secs_f64(),
            if p.merged { ", merged" } else { "" }
        ))
    }

    /// The live line, and for a grid in a notebook the heatmap of the
    /// points so far (a terminal gets the line alone).
    fn show_progress(
        &self,
        live: &DisplayHandle,
        engine: &Engine,
        started: Instant,
        note: &str,
    ) -> Result<()> {
        let line = self.progress_line(engine, started, note)?;
        if let Settings::Surface(s) = &self.settings {
            let grid = s.known(self)?;
            // A heatmap needs a finite point: before the first, the line alone.
            if crate::display::updates_in_place() && grid.loss.iter().any(|v| v.is_finite()) {
                return live.update(&grid.heatmap(&line));
            }
        }
        live.update(&line)
    }
}
