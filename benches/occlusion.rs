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

/// The approximate sweeps keep this fraction of each map's side.
const APPROXIMATE: f64 = 0.5;

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

/// How a sweep recomputes: every copy in full, exactly what the occluder
/// reaches, or at most this fraction of each map's side.
#[derive(Clone, Copy)]
enum Mode {
    Full,
    Exact,
    Approximate(f64),
}

fn occluder(
    model: &Model,
    window: i64,
    stride: i64,
    mode: Mode,
) -> deepscope::Result<Occlusion<'_>> {
    let o = Occlusion::new(model, window, stride)?.fill(Fill::Value(0.0));
    Ok(match mode {
        Mode::Full => o.incremental(false),
        Mode::Exact => o,
        Mode::Approximate(f) => o.approximate(f)?,
    })
}

fn occlusion(
    model: &Model,
    image: &Tensor,
    window: i64,
    stride: i64,
    mode: Mode,
) -> deepscope::Result<(f64, u64)> {
    let occluder = occluder(model, window, stride, mode)?;
    measure(|| occluder.run(image, 0).map(|_| ()))
}

/// The approximate sweep's largest probability error (relative to the
/// exact map's range) and SSIM against the exact one.
fn approximation_error(
    model: &Model,
    image: &Tensor,
    window: i64,
    stride: i64,
    fraction: f64,
) -> deepscope::Result<(f64, f64)> {
    let exact = occluder(model, window, stride, Mode::Exact)?.run(image, 0)?;
    let rough = occluder(model, window, stride, Mode::Approximate(fraction))?.run(image, 0)?;
    let e = rough.error_against(&exact)?;
    Ok((e.relative, e.ssim.unwrap_or(f64::NAN)))
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
    let digit = digits.get(0);
    let (resnet_s, resnet_mem) = occlusion(&resnet, &photo, 15, 8, Mode::Exact)?;
    let (zf_s, zf_mem) = occlusion(&zfnet, &digit, 16, 2, Mode::Exact)?;
    let (resnet_full_s, resnet_full_mem) = occlusion(&resnet, &photo, 15, 8, Mode::Full)?;
    let (zf_full_s, zf_full_mem) = occlusion(&zfnet, &digit, 16, 2, Mode::Full)?;
    let (resnet_approx_s, resnet_approx_mem) =
        occlusion(&resnet, &photo, 15, 8, Mode::Approximate(APPROXIMATE))?;
    let (zf_approx_s, zf_approx_mem) =
        occlusion(&zfnet, &digit, 16, 2, Mode::Approximate(APPROXIMATE))?;
    let (resnet_err, resnet_ssim) = approximation_error(&resnet, &photo, 15, 8, APPROXIMATE)?;
    let (zf_err, zf_ssim) = approximation_error(&zfnet, &digit, 16, 2, APPROXIMATE)?;
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
             \"approximate\": {APPROXIMATE}, \
             \"resnet18_approx\": {{\"seconds\": {resnet_approx_s}, \"peak_bytes\": {resnet_approx_mem}, \"relative\": {resnet_err}, \"ssim\": {resnet_ssim}}}, \
             \"zfnet_approx\": {{\"seconds\": {zf_approx_s}, \"peak_bytes\": {zf_approx_mem}, \"relative\": {zf_err}, \"ssim\": {zf_ssim}}}, \
             \"deconv\": {{\"projections\": {}, \"per_second\": {per_second}, \"peak_bytes\": {deconv_mem}}}}}",
            targets.len()
        );
    } else {
        println!(
            "occlusion ResNet-18 224px: {resnet_s:.2} s (full recomputation {resnet_full_s:.2} s, \
             approximate {resnet_approx_s:.2} s, error {resnet_err:.3}), ZFNet 64px: {zf_s:.3} s \
             (full {zf_full_s:.3} s, approximate {zf_approx_s:.3} s, error {zf_err:.3}); \
             deconvnet: {per_second:.0} projections/s"
        );
    }
    Ok(())
}
