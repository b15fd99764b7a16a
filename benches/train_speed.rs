//! Training speed, our side: steps per second of `fit` (forward, backward,
//! SGD with momentum, batching included) for LeNet-5 on Fashion-MNIST 28x28
//! and the ZFNet-style net on Fashion-MNIST 64x64, batches of 128.
//! `bench/train_speed.py` runs the same in PyTorch eager and prints ratios.

use deepscope::data::transforms::{Resize, Transform};
use deepscope::data::{self, Dataset, Split};
use deepscope::model::ModelBuilder;
use deepscope::train::{fit, FitConfig, Optimizer, ProgressMode};
use deepscope::zoo;
use std::time::Instant;
use tch::Device;

const BATCH: usize = 128;

fn subset(ds: &Dataset, n: i64, side: Option<i64>) -> deepscope::Result<Dataset> {
    let mut images = ds.train.images.narrow(0, 0, n);
    if let Some(s) = side {
        images = Resize {
            height: s,
            width: s,
        }
        .apply(&images, &mut deepscope::rng::seeded(0))?;
    }
    let train = Split::new(images, ds.train.labels.narrow(0, 0, n))?;
    let [c, h, w] = train.image_shape();
    Dataset::new(&ds.name, train, Split::empty(c, h, w), ds.classes.clone())
}

fn steps_per_second(builder: ModelBuilder, data: &Dataset, steps: usize) -> deepscope::Result<f64> {
    let mut model = builder.seed(0).build(Device::Cpu)?;
    let mut cfg = FitConfig::new(
        1,
        BATCH,
        Optimizer::Sgd {
            lr: 0.01,
            momentum: 0.9,
            weight_decay: 0.0,
            nesterov: false,
        },
    );
    cfg.evaluate = false;
    cfg.progress = ProgressMode::Silent;
    // Warm-up: allocator and thread pools.
    let warm = Dataset::new(
        "warm",
        data.train
            .select(&(0..(5 * BATCH) as i64).collect::<Vec<_>>())?,
        data.test.clone(),
        data.classes.clone(),
    )?;
    fit(&mut model, &warm, &cfg)?;
    let timed = Dataset::new(
        "timed",
        data.train
            .select(&(0..(steps * BATCH) as i64).collect::<Vec<_>>())?,
        data.test.clone(),
        data.classes.clone(),
    )?;
    let t = Instant::now();
    let run = fit(&mut model, &timed, &cfg)?;
    assert_eq!(run.history.steps.len(), steps);
    Ok(steps as f64 / t.elapsed().as_secs_f64())
}

fn main() -> deepscope::Result<()> {
    let json = std::env::args().any(|a| a == "--json");
    let fm = data::fashion_mnist()?;
    let (lenet_steps, zf_steps) = (200, 40);
    let lenet = steps_per_second(
        zoo::lenet5(10),
        &subset(&fm, (lenet_steps * BATCH) as i64, None)?,
        lenet_steps,
    )?;
    let zf = steps_per_second(
        zoo::zfnet(&zoo::ZfNetConfig::default()),
        &subset(&fm, (zf_steps * BATCH) as i64, Some(64))?,
        zf_steps,
    )?;
    if json {
        println!(
            "{{\"threads\": {}, \"lenet5\": {lenet}, \"zfnet64\": {zf}, \"lenet5_steps\": {lenet_steps}, \"zfnet64_steps\": {zf_steps}}}",
            tch::get_num_threads()
        );
    } else {
        println!("LeNet-5: {lenet:.1} steps/s   ZFNet-64: {zf:.2} steps/s (batch {BATCH})");
    }
    Ok(())
}
