//! DANN training speed, our side (issue 17's benchmark); `bench/dann.py`
//! runs the same in a plain PyTorch loop and prints the ratio.
//!
//! MNIST -> MNIST-M with the paper's digit nets (`adapt::digit_features`,
//! `digit_classifier`, `digit_discriminator`): batches of 64 source and 64
//! target images (the paper's 128, half from each domain), SGD with
//! momentum 0.9 from 0.01 on DANN's learning-rate schedule, the gradient
//! reversal on DANN's lambda schedule, over the first 3,200 images of each
//! domain, 3 epochs (150 steps, no evaluation): steps per second of the
//! whole run through `fit_objective`, median of 3 runs after a warm-up.
//!
//! With `--json` it also writes both domains' images and the source labels
//! to `target/bench-dann-data.npz`, so that the PyTorch loop trains on the
//! very same tensors.

#[path = "common/mod.rs"]
mod common;

use deepscope::adapt::{
    dann_schedule, digit_classifier, digit_discriminator, digit_features, domains, Adaptation,
    Method,
};
use deepscope::data::{self, Dataset, Split};
use deepscope::train::{fit_objective, FitConfig, Optimizer, ProgressMode};
use deepscope::Result;
use tch::{Device, Tensor};

const IMAGES: i64 = 3200;
const BATCH: usize = 64;
const EPOCHS: usize = 3;
const REPEATS: usize = 3;
const DATA_FILE: &str = "target/bench-dann-data.npz";

/// The first `IMAGES` training images of `d`, without a test split.
fn first_images(d: &Dataset) -> Result<Dataset> {
    let train = Split::new(
        d.train.images().narrow(0, 0, IMAGES),
        d.train.labels().narrow(0, 0, IMAGES),
    )?;
    Dataset::new(&d.name, train, Split::empty(3, 28, 28)?, d.classes.clone())
}

/// Steps per second of one DANN run from fresh nets.
fn run(source: &Dataset, target: &Dataset) -> Result<f64> {
    let mut features = digit_features(3).seed(0).build(Device::Cpu)?;
    let mut classifier = digit_classifier(10).seed(1).build(Device::Cpu)?;
    let mut discriminator = digit_discriminator().seed(2).build(Device::Cpu)?;
    let mut config = FitConfig::new(EPOCHS, BATCH, Optimizer::momentum(0.01, 0.9));
    config.progress = ProgressMode::Silent;
    config.evaluate = false;
    config.seed = 0;
    config.schedule = dann_schedule();
    let mut dann = Adaptation::new(&mut features, &mut classifier, source, target, Method::Dann)
        .discriminator(&mut discriminator);
    let (seconds, _, out) = common::time_and_peak(|| fit_objective(&mut dann, &config, &mut []));
    out?;
    let steps = EPOCHS * (IMAGES as usize).div_ceil(BATCH);
    Ok(steps as f64 / seconds)
}

fn main() -> Result<()> {
    let json = std::env::args().any(|a| a == "--json");
    let threads = common::set_threads();
    let source = first_images(&domains::as_rgb(&data::mnist_subset()?)?)?;
    let target = first_images(&domains::mnist_m(0)?)?;
    if json {
        Tensor::write_npz(
            &[
                ("source", source.train.images()),
                ("labels", source.train.labels()),
                ("target", target.train.images()),
            ],
            DATA_FILE,
        )?;
    }
    run(&source, &target)?;
    let mut rates = (0..REPEATS)
        .map(|_| run(&source, &target))
        .collect::<Result<Vec<_>>>()?;
    rates.sort_by(f64::total_cmp);
    let rate = rates[REPEATS / 2];
    if json {
        println!(
            "{{\"threads\": {threads}, \"steps_per_second\": {rate}, \"data\": \"{DATA_FILE}\"}}"
        );
    } else {
        println!(
            "DANN steps/s (MNIST -> MNIST-M, digit net, batches of {BATCH}+{BATCH}): {rate:.1}"
        );
    }
    Ok(())
}
