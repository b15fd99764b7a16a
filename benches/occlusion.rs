//! Occlusion and deconvnet speed, our side (issue 5's benchmark);
//! `bench/occlusion.py` runs Captum on the same models, image sizes, windows
//! and strides and prints the ratios.
//!
//! - Occlusion of one image: ResNet-18 at 224x224 (random weights), window
//!   15, stride 8; the ZFNet-style net at 64x64, window 16, stride 2 (the
//!   notebook's settings). Ours gives every map of Fig. 7 from the sweep,
//!   once with incremental inference (the default) and once recomputing
//!   every copy in full; Captum gives the attribution map.
//! - Deconvnet: 9 feature maps of the ZFNet's relu5 in each of 9 images,
//!   projected to pixels at each map's strongest position.
//!
//! Times are medians of 3 runs after a warm-up; memory is the peak resident
//! memory above what was resident before the call.

#[path = "common/mod.rs"]
mod common;

use deepscope::model::Model;
use deepscope::viz::{Deconvnet, Fill, Occlusion, Target};
use deepscope::zoo;
use tch::{Device, Kind, Tensor};

const REPEATS: usize = 3;

/// Median seconds and the largest peak over `REPEATS` runs of `f`, after one warm-up.
fn measure(mut f: impl FnMut() -> deepscope::Result<()>) -> deepscope::Result<(f64, u64)> {
    f()?;
    let mut times = Vec::new();
    let mut peak = 0;
    for _ in 0..REPEATS {
        let (s, bytes, out) = common::time_and_peak(&mut f);
        out?;
        times.push(s);
        peak = peak.max(bytes);
    }
    times.sort_by(f64::total_cmp);
    Ok((times[REPEATS / 2], peak))
}

fn occlusion(
    model: &Model,
    image: &Tensor,
    window: i64,
    stride: i64,
    incremental: bool,
) -> deepscope::Result<(f64, u64)> {
    let occluder = Occlusion::new(model, window, stride)?
        .fill(Fill::Value(0.0))
        .incremental(incremental);
    measure(|| occluder.run(image, 0).map(|_| ()))
}

fn main() -> deepscope::Result<()> {
    let json = std::env::args().any(|a| a == "--json");
    let threads = common::set_threads();
    let _guard = tch::no_grad_guard();
    let resnet = zoo::resnet18(1000).seed(0).build(Device::Cpu)?;
    let mut zfnet = zoo::zfnet(&zoo::ZfNetConfig::default())
        .seed(0)
        .build(Device::Cpu)?;
    zfnet.set_train(false);
    let (photo, digits) = deepscope::rng::with_torch_seed(0, || {
        (
            Tensor::rand([3, 224, 224], (Kind::Float, Device::Cpu)),
            Tensor::rand([9, 1, 64, 64], (Kind::Float, Device::Cpu)),
        )
    });
    let (resnet_s, resnet_mem) = occlusion(&resnet, &photo, 15, 8, true)?;
    let (zf_s, zf_mem) = occlusion(&zfnet, &digits.get(0), 16, 2, true)?;
    let (resnet_full_s, resnet_full_mem) = occlusion(&resnet, &photo, 15, 8, false)?;
    let (zf_full_s, zf_full_mem) = occlusion(&zfnet, &digits.get(0), 16, 2, false)?;
    let targets: Vec<Target> = (0..9)
        .flat_map(|image| (0..9).map(move |map| Target::strongest(image, map)))
        .collect();
    let deconvnet = Deconvnet::new(&zfnet);
    let (deconv_s, deconv_mem) =
        measure(|| deconvnet.project(&digits, "relu5", &targets).map(|_| ()))?;
    let per_second = targets.len() as f64 / deconv_s;
    if json {
        println!(
            "{{\"threads\": {threads}, \"resnet18\": {{\"seconds\": {resnet_s}, \"peak_bytes\": {resnet_mem}}}, \
             \"zfnet\": {{\"seconds\": {zf_s}, \"peak_bytes\": {zf_mem}}}, \
             \"resnet18_full\": {{\"seconds\": {resnet_full_s}, \"peak_bytes\": {resnet_full_mem}}}, \
             \"zfnet_full\": {{\"seconds\": {zf_full_s}, \"peak_bytes\": {zf_full_mem}}}, \
             \"deconv\": {{\"projections\": {}, \"per_second\": {per_second}, \"peak_bytes\": {deconv_mem}}}}}",
            targets.len()
        );
    } else {
        println!(
            "occlusion ResNet-18 224px: {resnet_s:.2} s (full recomputation {resnet_full_s:.2} s), \
             ZFNet 64px: {zf_s:.3} s (full {zf_full_s:.3} s); deconvnet: {per_second:.0} projections/s"
        );
    }
    Ok(())
}
