//! Model summary speed, our side (issue 18's benchmark); `bench/summary.py`
//! runs `torchinfo.summary` on torchvision's nets and prints the ratios
//! (`make bench`, both sides in alternating processes).
//!
//! VGG-16 and ResNet-18 at 3x224x224, one example: the whole summary
//! (output shapes, parameters, multiply-adds, and here also activation
//! memory and receptive fields) of an already built model, median of 20
//! calls after a warm-up; the totals are printed so the Python side can
//! show they agree. Ours works the numbers out from the layers' settings;
//! torchinfo runs a forward pass with hooks.

#[path = "common/mod.rs"]
mod common;

use deepscope::{zoo, Result};
use tch::Device;

const REPEATS: usize = 20;

fn main() -> Result<()> {
    let json = std::env::args().any(|a| a == "--json");
    let threads = common::set_threads();
    let mut rows = Vec::new();
    for (name, builder) in [
        ("vgg16", zoo::vgg16(1000)),
        ("resnet18", zoo::resnet18(1000)),
    ] {
        let net = builder.seed(0).build(Device::Cpu)?;
        let _ = net.summary();
        let mut times: Vec<f64> = (0..REPEATS)
            .map(|_| common::time_and_peak(|| net.summary()).0)
            .collect();
        times.sort_by(f64::total_cmp);
        let s = net.summary();
        rows.push(format!(
            "\"{name}\": {{\"seconds\": {:e}, \"parameters\": {}, \"mult_adds\": {}}}",
            times[REPEATS / 2],
            s.parameters(),
            s.mult_adds()
        ));
        if !json {
            println!(
                "{name}: {:.1} us, {} parameters, {} mult-adds",
                1e6 * times[REPEATS / 2],
                s.parameters(),
                s.mult_adds()
            );
        }
    }
    if json {
        println!("{{\"threads\": {threads}, {}}}", rows.join(", "));
    }
    Ok(())
}
