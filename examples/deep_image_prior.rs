//! Deep Image Prior denoising of a 128x128 crop of the astronaut photo
//! with the CPU-sized hourglass: prints PSNR against the clean crop as the
//! fit goes, the peak, and the averaged output's PSNR, and saves the images.
//!
//! `cargo run --release --example deep_image_prior [iterations] [out_dir]`

use deepscope::dip::{self, Prior, SkipConfig, Task};

fn main() -> deepscope::Result<()> {
    let mut args = std::env::args().skip(1);
    let iterations: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1800);
    let out_dir = args.next().unwrap_or_else(|| "target/dip".into());
    let clean = dip::degrade::crop(&deepscope::data::image("astronaut")?, 30, 170, 128)?;
    let noisy = dip::degrade::gaussian_noise(&clean, 25.0 / 255.0, 0)?;
    let task = Task::denoise(&noisy)?.with_clean(&clean)?;
    println!(
        "noisy input: PSNR {:.2} dB against the clean crop",
        dip::quality::psnr(&noisy, &clean)?
    );
    let run = Prior::new(SkipConfig::cpu())
        .iterations(iterations)
        .record_every(100)
        .run(&task)?;
    for r in &run.history {
        println!(
            "{:>5}  loss {:.5}  PSNR {:.2} dB  averaged {:.2} dB",
            r.iteration,
            r.loss,
            r.psnr_clean.unwrap_or(f64::NAN),
            r.psnr_averaged.unwrap_or(f64::NAN)
        );
    }
    if let Some(p) = run.peak() {
        println!(
            "peak: {:.2} dB at iteration {}",
            p.psnr_clean.unwrap_or(f64::NAN),
            p.iteration
        );
    }
    println!(
        "{} iterations in {:.1} s ({:.3} s each); guard rollbacks at {:?}",
        run.history.last().map_or(0, |r| r.iteration),
        run.seconds,
        run.seconds / iterations as f64,
        run.rollbacks
    );
    std::fs::create_dir_all(&out_dir).map_err(|e| deepscope::Error::io(&out_dir, e))?;
    for (name, img) in [
        ("clean", &clean),
        ("noisy", &noisy),
        ("output", &run.output),
        ("averaged", &run.averaged),
    ] {
        deepscope::data::save_image(img, format!("{out_dir}/{name}.png"))?;
    }
    Ok(())
}
