//! A study on Slurm: a job array whose task `I` runs shard `I` of `N`
//! (`deepscope run SETTINGS --of N`, the shard taken from
//! `SLURM_ARRAY_TASK_ID`), and a merge job that starts when every task
//! has succeeded (`--dependency=afterok`).
//!
//! The scripts are written to `<output>/slurm/` (the tasks' logs to
//! `<output>/slurm/logs/`), so a task can be submitted again by hand:
//! `sbatch --array=2 <output>/slurm/array.sbatch` (a unit already finished
//! is not computed again, a killed one resumes).

use super::Study;
use crate::error::{Error, Result};
use crate::runtime::files::write_atomically;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the job array asks of Slurm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlurmJob {
    /// Array tasks (shards).
    pub shards: usize,
    /// Which tasks to submit (`sbatch --array` syntax, `0-3`, `2,5`); all
    /// if `None`.
    pub tasks: Option<String>,
    /// CPUs per task (`--cpus-per-task`); the study's threads if `None`.
    pub cpus_per_task: Option<usize>,
    /// GPUs per task (`--gres=gpu:K`).
    pub gpus_per_task: usize,
    /// Wall-clock limit per task (`--time`, e.g. `2:00:00`).
    pub time: Option<String>,
    /// Partition (`--partition`).
    pub partition: Option<String>,
    /// Memory per task (`--mem`, e.g. `4G`).
    pub mem: Option<String>,
    /// A job the array waits for (`--dependency=afterok:ID`): the merge
    /// job of the sweep whose nets a transfer sweep starts from.
    pub after: Option<String>,
}

impl SlurmJob {
    /// `shards` tasks with the defaults.
    pub fn new(shards: usize) -> SlurmJob {
        SlurmJob {
            shards,
            tasks: None,
            cpus_per_task: None,
            gpus_per_task: 0,
            time: None,
            partition: None,
            mem: None,
            after: None,
        }
    }
}

/// The job ids Slurm gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The array job.
    pub array: String,
    /// The merge job that depends on it.
    pub merge: String,
}

/// Single quotes for the shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn slurm_dir(study: &Study) -> PathBuf {
    study.output.join("slurm")
}

/// The array script and the merge script for `study`, run by `binary`
/// (the `deepscope` command, by absolute path: the tasks run elsewhere).
pub fn scripts(study: &Study, job: &SlurmJob, binary: &Path) -> Result<(String, String)> {
    if job.shards == 0 {
        return Err(Error::invalid("a Slurm job needs at least one shard"));
    }
    for (name, v) in [
        ("time", &job.time),
        ("partition", &job.partition),
        ("mem", &job.mem),
        ("tasks", &job.tasks),
    ] {
        if let Some(v) = v {
            if v.is_empty()
                || v.chars()
                    .any(|c| c.is_whitespace() || c == '\'' || c == '"')
            {
                return Err(Error::invalid(format!(
                    "Slurm {name} {v:?}: expected one word without spaces or quotes"
                )));
            }
        }
    }
    let logs = slurm_dir(study).join("logs");
    let name = format!(
        "deepscope-{}",
        study
            .name()
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
    );
    let mut header = vec![format!("#SBATCH --job-name={name}")];
    if let Some(p) = &job.partition {
        header.push(format!("#SBATCH --partition={p}"));
    }
    if let Some(t) = &job.time {
        header.push(format!("#SBATCH --time={t}"));
    }
    if let Some(m) = &job.mem {
        header.push(format!("#SBATCH --mem={m}"));
    }
    let env = match std::env::var("DEEPSCOPE_DATA") {
        Ok(d) => format!("export DEEPSCOPE_DATA={}\n", quote(&d)),
        Err(_) => String::new(),
    };
    let bin = quote(&binary.to_string_lossy());
    let settings = quote(&study.file.to_string_lossy());
    let cpus = job.cpus_per_task.unwrap_or(study.threads()).max(1);
    let gres = if job.gpus_per_task > 0 {
        format!("#SBATCH --gres=gpu:{}\n", job.gpus_per_task)
    } else {
        String::new()
    };
    let array = format!(
        "#!/bin/bash\n\
         # Shard $SLURM_ARRAY_TASK_ID of {n} of the study in {settings}.\n\
         {h}\n\
         #SBATCH --array=0-{last}\n\
         #SBATCH --cpus-per-task={cpus}\n\
         {gres}\
         #SBATCH --output={logs}/%A_%a.out\n\
         #SBATCH --open-mode=append\n\
         {env}\
         exec {bin} run {settings} --of {n}\n",
        n = job.shards,
        h = header.join("\n"),
        last = job.shards - 1,
        logs = logs.display(),
    );
    let merge = format!(
        "#!/bin/bash\n\
         # Merges the shards of the study in {settings}.\n\
         {h}-merge\n\
         #SBATCH --cpus-per-task=1\n\
         #SBATCH --output={logs}/merge_%j.out\n\
         {env}\
         exec {bin} merge {settings}\n",
        h = header.join("\n"),
        logs = logs.display(),
    );
    Ok((array, merge))
}

/// Writes the scripts to `<output>/slurm/array.sbatch` and `merge.sbatch`.
pub fn write(study: &Study, job: &SlurmJob, binary: &Path) -> Result<(PathBuf, PathBuf)> {
    let (array, merge) = scripts(study, job, binary)?;
    let dir = slurm_dir(study);
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| Error::io(&logs, e))?;
    let paths = (dir.join("array.sbatch"), dir.join("merge.sbatch"));
    write_atomically(&paths.0, array.as_bytes())?;
    write_atomically(&paths.1, merge.as_bytes())?;
    Ok(paths)
}

/// Runs `sbatch --parsable ARGS`, returning the job id.
fn sbatch(args: &[String]) -> Result<String> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .args(args)
        .output()
        .map_err(|e| {
            Error::invalid(format!(
                "cannot run sbatch ({e}): is Slurm's client installed and on PATH?"
            ))
        })?;
    if !out.status.success() {
        return Err(Error::invalid(format!(
            "sbatch {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // `--parsable` prints `id` or `id;cluster`.
    let id = text.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::invalid(format!(
            "sbatch printed {text:?}, not a job id"
        )));
    }
    Ok(id)
}

/// Writes the scripts and submits the array (or `job.tasks` of it), then
/// the merge job, which waits for those tasks to succeed. With `wait`,
/// returns only when the merge job has ended (`sbatch --wait`), with an
/// error if it failed.
pub fn submit(study: &Study, job: &SlurmJob, binary: &Path, wait: bool) -> Result<Submitted> {
    let (array_script, merge_script) = write(study, job, binary)?;
    let mut args = Vec::new();
    if let Some(t) = &job.tasks {
        args.push(format!("--array={t}"));
    }
    if let Some(a) = &job.after {
        if a.is_empty() || !a.chars().all(|c| c.is_ascii_digit()) {
            return Err(Error::invalid(format!(
                "Slurm --after {a:?}: expected a job id (digits)"
            )));
        }
        args.push(format!("--dependency=afterok:{a}"));
        args.push("--kill-on-invalid-dep=yes".into());
    }
    args.push(array_script.to_string_lossy().into_owned());
    let array = sbatch(&args)?;
    let mut args = vec![
        format!("--dependency=afterok:{array}"),
        "--kill-on-invalid-dep=yes".into(),
    ];
    if wait {
        args.push("--wait".into());
    }
    args.push(merge_script.to_string_lossy().into_owned());
    let merge = sbatch(&args).map_err(|e| {
        Error::invalid(format!(
            "{e} (array job {array} was submitted; its merge job was not, or did not succeed: see {})",
            slurm_dir(study).join("logs").display()
        ))
    })?;
    Ok(Submitted { array, merge })
}
