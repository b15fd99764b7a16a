//! `deepscope`: runs a study's units from its settings file, here or on
//! Slurm, and merges them. See `deepscope help` and the library's `jobs`
//! module for the settings.

use deepscope::jobs::{slurm, Study};
use deepscope::Error;
use lexopt::prelude::*;
use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
deepscope: run a study (a loss-surface grid, a sweep of training runs) as units

usage:
  deepscope run SETTINGS [--shard I] [--of N]
      Computes the unfinished units of shard I of N (I counts from 0).
      Without --shard, I is $SLURM_ARRAY_TASK_ID (else 0); without --of,
      N is $SLURM_ARRAY_TASK_COUNT (else 1). SIGINT or SIGTERM saves what
      is done and exits with status 3; running it again resumes.
  deepscope merge SETTINGS
      Joins every unit into <output>/result.json; fails naming the missing
      units if any is unfinished.
  deepscope status SETTINGS [--json]
      Units finished of all units, and whether the result is merged.
  deepscope slurm SETTINGS --shards N [--tasks LIST] [--cpus C] [--gpus G]
                 [--time T] [--partition P] [--mem M] [--after JOB]
                 [--write-only] [--wait]
      Writes <output>/slurm/array.sbatch and merge.sbatch and submits them
      (the merge after every task succeeded). --tasks submits only those
      array tasks again (sbatch --array syntax, e.g. 2 or 0,3). --after
      starts the array when job JOB has succeeded (a transfer sweep after
      its base sweep's merge job). --wait returns when the merge job has
      ended.
  deepscope help

The output folder is the settings' \"output\" (relative to the settings
file), else <settings stem>.out beside it.
";

/// What went wrong, and the exit status that says so.
enum Failure {
    Usage(String),
    Failed(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Failed(e)
    }
}

impl From<lexopt::Error> for Failure {
    fn from(e: lexopt::Error) -> Self {
        Failure::Usage(e.to_string())
    }
}

fn main() -> ExitCode {
    match command() {
        Ok(code) => code,
        Err(Failure::Usage(m)) => {
            eprintln!("deepscope: {m}\n\n{HELP}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(e)) => {
            eprintln!("deepscope: error: {e}");
            ExitCode::from(1)
        }
    }
}

/// A whole number from the environment, if the variable is set.
fn env_number(name: &str) -> std::result::Result<Option<usize>, Failure> {
    match std::env::var(name) {
        Err(_) => Ok(None),
        Ok(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| Failure::Usage(format!("${name} is {v:?}: expected a whole number"))),
    }
}

fn command() -> std::result::Result<ExitCode, Failure> {
    let mut args = lexopt::Parser::from_env();
    let verb = match args.next()? {
        Some(Value(v)) => v.string()?,
        Some(Long("help")) | Some(Short('h')) | None => {
            print!("{HELP}");
            return Ok(ExitCode::SUCCESS);
        }
        Some(other) => return Err(other.unexpected().into()),
    };
    if verb == "help" {
        print!("{HELP}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut settings: Option<PathBuf> = None;
    let (mut shard, mut of, mut json) = (None, None, false);
    let mut job = slurm::SlurmJob::new(0);
    let (mut write_only, mut wait) = (false, false);
    while let Some(arg) = args.next()? {
        match arg {
            Value(v) if settings.is_none() => settings = Some(v.into()),
            Long("shard") if verb == "run" => shard = Some(args.value()?.parse()?),
            Long("of") if verb == "run" => of = Some(args.value()?.parse()?),
            Long("json") if verb == "status" => json = true,
            Long("shards") if verb == "slurm" => job.shards = args.value()?.parse()?,
            Long("tasks") if verb == "slurm" => job.tasks = Some(args.value()?.string()?),
            Long("cpus") if verb == "slurm" => job.cpus_per_task = Some(args.value()?.parse()?),
            Long("gpus") if verb == "slurm" => job.gpus_per_task = args.value()?.parse()?,
            Long("time") if verb == "slurm" => job.time = Some(args.value()?.string()?),
            Long("partition") if verb == "slurm" => job.partition = Some(args.value()?.string()?),
            Long("mem") if verb == "slurm" => job.mem = Some(args.value()?.string()?),
            Long("after") if verb == "slurm" => job.after = Some(args.value()?.string()?),
            Long("write-only") if verb == "slurm" => write_only = true,
            Long("wait") if verb == "slurm" => wait = true,
            other => return Err(other.unexpected().into()),
        }
    }
    let Some(settings) = settings else {
        return Err(Failure::Usage(format!("'{verb}' needs a settings file")));
    };
    match verb.as_str() {
        "run" => {
            let shard = match shard {
                Some(s) => s,
                None => env_number("SLURM_ARRAY_TASK_ID")?.unwrap_or(0),
            };
            let of = match of {
                Some(n) => n,
                None => env_number("SLURM_ARRAY_TASK_COUNT")?.unwrap_or(1),
            };
            let study = Study::load(&settings)?;
            deepscope::train::interrupt::install_ctrl_c()
                .map_err(|e| Error::invalid(e.to_string()))?;
            deepscope::train::interrupt::install_term_handler()
                .map_err(|e| Error::invalid(e.to_string()))?;
            let r = study.run(shard, of)?;
            println!(
                "{}: shard {shard} of {of}, units {}..{}: {} computed, {} already done{}",
                study.name(),
                r.units.start,
                r.units.end,
                r.computed,
                r.skipped,
                if r.complete {
                    ""
                } else {
                    "; stopped early, run again to resume"
                }
            );
            Ok(if r.complete {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
        "merge" => {
            let study = Study::load(&settings)?;
            let path = study.merge()?;
            println!(
                "{}: {} units merged into {}",
                study.name(),
                study.units(),
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        "status" => {
            let study = Study::load(&settings)?;
            let p = study.progress()?;
            if json {
                let text = serde_json::json!({
                    "name": study.name(),
                    "done": p.done,
                    "total": p.total,
                    "merged": p.merged,
                    "threads": study.threads(),
                    "output": study.output,
                    "result": study.result_file(),
                });
                println!("{text}");
            } else {
                println!(
                    "{}: {} of {} units done{}",
                    study.name(),
                    p.done,
                    p.total,
                    if p.merged { ", merged" } else { "" }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        "slurm" => {
            if job.shards == 0 {
                return Err(Failure::Usage("slurm needs --shards N (N >= 1)".into()));
            }
            let study = Study::load(&settings)?;
            let binary = std::env::current_exe()
                .map_err(|e| Error::invalid(format!("cannot find this program's path: {e}")))?;
            if write_only {
                let (a, m) = slurm::write(&study, &job, &binary)?;
                println!("{}\n{}", a.display(), m.display());
            } else {
                let s = slurm::submit(&study, &job, &binary, wait)?;
                println!(
                    "{}: array job {} ({} shards), merge job {}",
                    study.name(),
                    s.array,
                    job.shards,
                    s.merge
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        other => Err(Failure::Usage(format!("unknown command '{other}'"))),
    }
}
