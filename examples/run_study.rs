//! Computes a study from its settings file where `DEEPSCOPE_ENGINE` says
//! (in this process by default, or `slurm`, or `ray`, in
//! `DEEPSCOPE_SHARDS` shards), printing its progress, then summarises the
//! merged result: what a program (or a notebook cell) that hands its grid
//! or sweep to a cluster does.
//!
//! ```text
//! DEEPSCOPE_ENGINE=slurm DEEPSCOPE_SHARDS=8 cargo run --example run_study -- grid.json
//! ```

use deepscope::jobs::{Engine, Settings, Study, SweepResult};
use deepscope::surface::LossGrid;

fn main() -> deepscope::Result<()> {
    let Some(file) = std::env::args().nth(1) else {
        eprintln!("usage: run_study SETTINGS");
        std::process::exit(2);
    };
    let study = Study::load(&file)?;
    let engine = Engine::from_env()?;
    let result = study.compute(&engine)?;
    match &study.settings {
        Settings::Surface(_) => {
            let g = LossGrid::load(&result)?;
            let lo = g.loss.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = g.loss.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            println!("{}: {} points, loss {lo:.4} to {hi:.4}", g.tag, g.len());
        }
        Settings::Sweep(_) => {
            let s = SweepResult::load(&result)?;
            for r in &s.runs {
                println!(
                    "{}: test accuracy {:.2}%",
                    r.key,
                    100.0 * r.result.test_accuracy
                );
            }
        }
    }
    Ok(())
}
