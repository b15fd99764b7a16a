//! Lists the data catalog, loads each dataset and shows where computation
//! runs: the smallest script that imports deepscope.
//!
//! cargo run --example datasets

use deepscope::prelude::*;

fn main() -> deepscope::Result<()> {
    println!("{}", data::list()?);
    for ds in [
        data::fashion_mnist()?,
        data::mnist_subset()?,
        data::digits()?,
    ] {
        let [c, h, w] = ds.train.image_shape();
        println!(
            "{:<14} train {:>6}  test {:>6}  images [{c}, {h}, {w}]  classes: {}",
            ds.name,
            ds.train.len(),
            ds.test.len(),
            ds.classes.join(", ")
        );
    }
    // tch's own question: true on a GPU machine because the example links libtorch_cuda.
    println!("tch sees CUDA: {}", tch::Cuda::is_available());
    println!("deepscope computes on: {:?}", default_device());
    Ok(())
}
