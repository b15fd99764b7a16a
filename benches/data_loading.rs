//! Data benchmark, our side: load Fashion-MNIST through the catalog (checksums,
//! gunzip, IDX decode to f32) and iterate one shuffled epoch of batches of 128.
//! `bench/data_loading.py` runs the same work in Python and prints the ratios
//! (`make bench`, both sides in alternating processes). Prints a JSON line
//! with `--json`, a table otherwise.

#[path = "common/mod.rs"]
mod common;

use deepscope::data::{self, Order};
use std::time::Instant;
use tch::Kind;

const REPEATS: usize = 5;
const BATCH: usize = 128;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn main() -> deepscope::Result<()> {
    let json = std::env::args().any(|a| a == "--json");
    let threads = common::set_threads();
    let mut load = Vec::new();
    let mut ds = None;
    for _ in 0..REPEATS {
        let t = Instant::now();
        ds = Some(data::fashion_mnist()?);
        load.push(t.elapsed().as_secs_f64());
    }
    let ds = ds.expect("REPEATS > 0");
    let mut epoch = Vec::new();
    let mut checksum = 0.0;
    for e in 0..REPEATS as u64 {
        let t = Instant::now();
        for (x, y) in ds
            .train
            .batches(BATCH, Order::Shuffled { seed: 0, epoch: e }, false)?
        {
            // Touch every batch so the copy is not optimised away.
            checksum += x.sum(Kind::Float).double_value(&[]) + y.size()[0] as f64;
        }
        epoch.push(t.elapsed().as_secs_f64());
    }
    let (load, epoch) = (median(load), median(epoch));
    if json {
        println!(
            "{{\"load_s\": {load}, \"epoch_s\": {epoch}, \"threads\": {threads}, \"checksum\": {checksum}}}"
        );
    } else {
        println!("load fashion-mnist: {load:.3} s   one epoch of batches of {BATCH}: {epoch:.3} s");
    }
    Ok(())
}
