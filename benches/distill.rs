//! Distillation speed, our side (issue 16's benchmark); `bench/distill.py`
//! runs the same in a plain PyTorch loop and prints the ratios.
//!
//! The paper's MNIST nets on Fashion-MNIST: a 784-1200-1200-10 teacher
//! (random weights, evaluation mode) and a 784-800-800-10 student, T 20,
//! alpha 0.9, Adam 1e-3, batches of 128 over the first 3,200 training
//! images, for 3 epochs (75 steps) and for the notebook's 20 (500 steps):
//! steps per second of the whole run through `fit_objective`, with the
//! teacher run at every step, and with its logits cached once at the start
//! (the caching counted in the time, so it weighs more in the short run).
//! Median of 3 runs after a warm-up.

#[path = "common/mod.rs"]
mod common;

use deepscope::data::{self, Dataset, Split};
use deepscope::distill::{Distillation, Teacher};
use deepscope::model::Model;
use deepscope::train::{fit_objective, FitConfig, Optimizer, ProgressMode};
use deepscope::{zoo, Result};
use tch::Device;

const IMAGES: i64 = 3200;
const BATCH: usize = 128;
/// A short run, where caching the logits costs a third of running the
/// teacher at every step, and the notebook's budget.
const EPOCHS: [usize; 2] = [3, 20];
const REPEATS: usize = 3;

fn net(widths: &[i64], seed: u64) -> Result<Model> {
    zoo::mlp(&[1, 28, 28], widths, 10, zoo::Activation::Relu)
        .seed(seed)
        .build(Device::Cpu)
}

/// Steps per second of one distillation run.
fn run(teacher: &mut Model, data: &Dataset, epochs: usize, cached: bool) -> Result<f64> {
    let mut student = net(&[800, 800], 1)?;
    let mut config = FitConfig::new(epochs, BATCH, Optimizer::adam(1e-3));
    config.progress = ProgressMode::Silent;
    config.evaluate = false;
    config.seed = 0;
    let teacher = Teacher::new(vec![teacher])?;
    let mut d = Distillation::new(&mut student, teacher, data, 20.0).alpha(0.9);
    if cached {
        d = d.cached(1000);
    }
    let (seconds, _, out) = common::time_and_peak(|| fit_objective(&mut d, &config, &mut []));
    out?;
    let steps = epochs * (IMAGES as usize).div_ceil(BATCH);
    Ok(steps as f64 / seconds)
}

fn median(mut f: impl FnMut() -> Result<f64>) -> Result<f64> {
    f()?;
    let mut rates = (0..REPEATS).map(|_| f()).collect::<Result<Vec<_>>>()?;
    rates.sort_by(f64::total_cmp);
    Ok(rates[REPEATS / 2])
}

fn main() -> Result<()> {
    let json = std::env::args().any(|a| a == "--json");
    let threads = common::set_threads();
    let fm = data::fashion_mnist()?;
    let train = Split::new(
        fm.train.images().narrow(0, 0, IMAGES),
        fm.train.labels().narrow(0, 0, IMAGES),
    )?;
    let data = Dataset::new(
        "fashion-3200",
        train,
        Split::empty(1, 28, 28)?,
        fm.classes.clone(),
    )?;
    let mut teacher = net(&[1200, 1200], 0)?;
    let mut runs = Vec::new();
    for epochs in EPOCHS {
        let fly = median(|| run(&mut teacher, &data, epochs, false))?;
        let cached = median(|| run(&mut teacher, &data, epochs, true))?;
        if !json {
            println!("distillation steps/s over {epochs} epochs: teacher on the fly {fly:.1}, cached logits {cached:.1}");
        }
        runs.push(format!(
            "{{\"epochs\": {epochs}, \"on_the_fly\": {fly}, \"cached\": {cached}}}"
        ));
    }
    if json {
        println!(
            "{{\"threads\": {threads}, \"runs\": [{}]}}",
            runs.join(", ")
        );
    }
    Ok(())
}
