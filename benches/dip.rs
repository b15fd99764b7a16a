//! Deep Image Prior step speed, our side (issue 6's benchmark);
//! `bench/dip.py` runs the same hourglass (tests/python/dip_skip.py) in
//! PyTorch eager on the same sizes and threads and prints the ratios.
//!
//! One step: fresh noise on the code, forward in training mode, MSE
//! against the observation, backward, Adam, output average. The paper's
//! default net (5 levels x 128 channels, skip 4, input 32) at 128x128 and
//! 256x256. Seconds per step = (time of 2 + N steps - time of 2 steps) / N,
//! which leaves out building the net and the first steps' allocations.

#[path = "common/mod.rs"]
mod common;

use deepscope::dip::{Prior, SkipConfig, Task};
use deepscope::display::ProgressMode;
use tch::{Device, Kind, Tensor};

fn seconds(prior: &Prior, task: &Task, iterations: usize) -> deepscope::Result<f64> {
    let run = prior.clone().iterations(iterations).run(task)?;
    Ok(run.seconds)
}

fn main() -> deepscope::Result<()> {
    let json = std::env::args().any(|a| a == "--json");
    let threads = common::set_threads();
    let mut results = Vec::new();
    for (size, steps) in [(128i64, 20usize), (256, 10)] {
        let target = deepscope::rng::with_torch_seed(1, || {
            Tensor::rand([3, size, size], (Kind::Float, Device::Cpu))
        });
        let task = Task::denoise(&target)?;
        let prior = Prior::new(SkipConfig::paper_default())
            .device(Device::Cpu)
            .guard(None)
            .record_every(usize::MAX)
            .progress(ProgressMode::Silent);
        let base = seconds(&prior, &task, 2)?;
        let total = seconds(&prior, &task, 2 + steps)?;
        let per_step = (total - base) / steps as f64;
        results.push(format!("\"{size}\": {per_step}"));
        if !json {
            println!("DIP step, paper default net, {size}x{size}: {per_step:.3} s");
        }
    }
    if json {
        println!(
            "{{\"threads\": {threads}, \"seconds_per_step\": {{{}}}}}",
            results.join(", ")
        );
    }
    Ok(())
}
