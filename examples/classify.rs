//! Loads LeNet-5 weights and classifies an image file as a Fashion-MNIST
//! class: grayscale, resized to 28x28 (antialiased), probabilities printed.
//!
//! cargo run --example classify -- WEIGHTS.safetensors IMAGE.png

use deepscope::data::transforms::{Resize, Transform};
use deepscope::prelude::*;

fn main() -> deepscope::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [weights_path, image_path] = &args[..] else {
        return Err(Error::invalid(
            "usage: classify WEIGHTS.safetensors IMAGE.png",
        ));
    };
    let device = default_device();
    let mut net = zoo::lenet5(10).build(device)?;
    weights::load(&mut net, weights_path)?;
    let classes = data::Catalog::open_default()?
        .entry("fashion-mnist")?
        .classes
        .clone();

    let image = data::load_image(image_path, data::Channels::Gray)?.unsqueeze(0);
    let x = Resize {
        height: 28,
        width: 28,
    }
    .apply(&image, &mut deepscope::rng::seeded(0))?;
    let probs = tch::no_grad(|| net.forward(&x.to_device(device)))?
        .softmax(-1, Kind::Float)
        .squeeze_dim(0);
    let probs = Vec::<f32>::try_from(probs.to_device(Device::Cpu))?;
    let mut ranked: Vec<(usize, f32)> = probs.into_iter().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (class, p) in ranked.iter().take(3) {
        println!("{:<12} {:>6.2}%", classes[*class], 100.0 * p);
    }
    Ok(())
}
