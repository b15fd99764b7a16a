//! Training speed, our side: steps per second of `fit` (forward, backward,
//! SGD with momentum, batching included) for LeNet-5 on Fashion-MNIST 28x28
//! and the ZFNet-style net on Fashion-MNIST 64x64, batches of 128.
//! `bench/train_speed.py` runs the same in PyTorch eager and prints ratios.
//! Each side reports the median of several timed runs: this machine's speed
//! drifts from one run to the next.

#[path = "common/mod.rs"]
mod common;

use deepscope::data::transforms::{Resize, Transform};
use deepscope::data::{self, Dataset, Split};
use deepscope::model::ModelBuilder;
use deepscope::train::{fit, FitConfig, Optimizer, ProgressMode};
use deepscope::zoo;
use std::time::Instant;
use tch::Device;

const BATCH: usize = 128;

/// The first `n` training images (resized to `side` if given), no test split.
fn subset(ds: &Dataset, n: usize, side: Option<i64>) -> deepscope::Result<Dataset> {
    let mut images = ds.train.images().narrow(0, 0, n as i64);
    if let Some(s) = side {
        images = Resize {
            height: s,
            width: s,
        }
        .apply(&images, &mut deepscope::rng::seeded(0))?;
    }
    let train = Split::new(images, ds.train.labels().narrow(0, 0, n as i64))?;
    let [c, h, w] = train.image_shape();
    Dataset::new(&ds.name, train, Split::empty(c, h, w)?, ds.classes.clone())
}

/// Median steps per second of `repeats` one-epoch runs of `steps` batches.
fn steps_per_second(
    builder: ModelBuilder,
    data: &Dataset,
    steps: usize,
    repeats: usize,
) -> deepscope::Result<f64> {
    let mut model = builder.seed(0).build(Device::Cpu)?;
    let sgd = Optimizer::Sgd {
        lr: 0.01,
        momentum: 0.9,
        weight_decay: 0.0,
        nesterov: false,
    };
    let mut cfg = FitConfig::new(1, BATCH, sgd);
    cfg.evaluate = false;
    cfg.progress = ProgressMode::Silent;
    // Warm-up: allocator and thread pools.
    fit(&mut model, &subset(data, 5 * BATCH, None)?, &cfg)?;
    let timed = subset(data, steps * BATCH, None)?;
    let mut rates = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let t = Instant::now();
        fit(&mut model, &timed, &cfg)?;
        rates.push(steps as f64 / t.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates[rates.len() / 2])
}

fn main() -> deepscope::Result<()> {
    let json = std::env::args().any(|a| a == "--json");
    let threads = common::set_threads();
    let fm = data::fashion_mnist()?;
    let (lenet_steps, zf_steps) = (200, 30);
    let lenet_data = subset(&fm, lenet_steps * BATCH, None)?;
    let zf_data = subset(&fm, zf_steps * BATCH, Some(64))?;
    let lenet = steps_per_second(zoo::lenet5(10), &lenet_data, lenet_steps, 5)?;
    let zf = steps_per_second(
        zoo::zfnet(&zoo::ZfNetConfig::default()),
        &zf_data,
        zf_steps,
        3,
    )?;
    if json {
        println!(
            "{{\"threads\": {threads}, \"lenet5\": {lenet}, \"zfnet64\": {zf}, \"lenet5_steps\": {lenet_steps}, \"zfnet64_steps\": {zf_steps}}}"
        );
    } else {
        println!("LeNet-5: {lenet:.1} steps/s   ZFNet-64: {zf:.2} steps/s (batch {BATCH})");
    }
    Ok(())
}
