//! Random tensors into the main entry points of every module: shapes of any
//! rank (sizes 0 to 5, and now and then a size that does not fit the
//! model), the kinds a user meets (f32, f64, i64, u8, bool), contiguous or
//! permuted, finite or holding NaN. Each call runs under `catch_unwind`:
//! it may return `Ok` or `Err`, never panic. A fixed seed and a bounded
//! number of draws keep the run reproducible and under a minute.

use deepscope::data::transforms::{CenterCrop, Jitter, Normalize, RandomCrop, Resize, Transform};
use deepscope::data::Split;
use deepscope::display::{ImageGrid, Overlay};
use deepscope::model::Model;
use deepscope::plot::{to_png, Heatmap};
use deepscope::transfer::{Extractor, Features, Hog, Pixels, Tsne};
use deepscope::viz::{top_k, Affine, Deconvnet, Occlusion, Target};
use deepscope::{dip, rng, surface, train, zoo};
use rand::Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};
use tch::{Device, Kind, Tensor};

const DRAWS: usize = 400;

/// Trainable values of the small model the tests use (`[1, 8, 8]`, 6
/// hidden units, 3 classes): a vector of this length reaches the code
/// past the size checks of `unflatten_like` and `hvp`.
const SMALL_PARAMETERS: i64 = 64 * 6 + 6 + 6 * 3 + 3;

/// A random tensor: rank 0 to 5, sizes 0 to 5, or one of the shapes that
/// reach deeper code (image batches for the models, single gray and RGB
/// images, heat maps, a parameter vector); one of five kinds, sometimes
/// permuted, sometimes with a NaN.
fn random_tensor(r: &mut rng::Rng) -> Tensor {
    let shape: Vec<i64> = match r.gen_range(0..11) {
        0 => vec![r.gen_range(0..4), 1, 28, 28],
        1 => vec![1, 8, 8],
        2 => vec![r.gen_range(0..4), 1, 8, 8],
        3 => vec![1, 16, 16],
        4 => vec![3, 16, 16],
        5 => vec![16, 16],
        6 => vec![SMALL_PARAMETERS],
        _ => {
            let rank = r.gen_range(0..6);
            (0..rank).map(|_| r.gen_range(0..6)).collect()
        }
    };
    let kind = match r.gen_range(0..8) {
        0 => Kind::Double,
        1 => Kind::Int64,
        2 => Kind::Uint8,
        3 => Kind::Bool,
        _ => Kind::Float,
    };
    let t = rng::with_torch_seed(r.gen(), || {
        Tensor::rand(shape.as_slice(), (Kind::Float, Device::Cpu))
    });
    if t.numel() > 0 && r.gen_bool(0.2) {
        let _ = t.view([-1]).get(0).fill_(f64::NAN);
    }
    let t = t.to_kind(kind);
    if t.dim() >= 2 && r.gen_bool(0.3) {
        let mut order: Vec<i64> = (0..t.dim() as i64).collect();
        order.reverse();
        t.permute(order.as_slice())
    } else {
        t
    }
}

fn random_labels(r: &mut rng::Rng, n: i64) -> Tensor {
    let n = if r.gen_bool(0.2) { n + 1 } else { n };
    let v: Vec<i64> = (0..n.max(0)).map(|_| r.gen_range(-1..12)).collect();
    Tensor::from_slice(&v)
}

/// Every entry point once with tensors drawn from `r`; the names of those
/// that panicked.
fn round(r: &mut rng::Rng, lenet: &mut Model, small: &mut Model, bn: &mut Model) -> Vec<String> {
    let (a, b) = (random_tensor(r), random_tensor(r));
    let n = a.size().first().copied().unwrap_or(0);
    let labels = random_labels(r, n);
    let k = r.gen_range(0..4) as usize;
    let seed: u64 = r.gen();
    let mut panicked = Vec::new();
    let mut call = |name: &str, f: &mut dyn FnMut() -> bool| {
        if catch_unwind(AssertUnwindSafe(&mut *f)).is_err() {
            panicked.push(format!("{name} with {:?} {:?}", a.size(), a.kind()));
        }
    };
    call("Split::new", &mut || {
        Split::new(a.shallow_clone(), labels.shallow_clone()).is_ok()
    });
    call("ImageGrid", &mut || {
        ImageGrid::new(&a).and_then(|g| to_png(&g)).is_ok()
    });
    call("Overlay", &mut || {
        Overlay::new(&a, &b).and_then(|o| to_png(&o)).is_ok()
    });
    call("Heatmap::from_tensor", &mut || {
        Heatmap::from_tensor(&a).and_then(|h| to_png(&h)).is_ok()
    });
    call("Model::forward", &mut || lenet.forward(&a).is_ok());
    call("Model::forward_to", &mut || {
        small.forward_to(&a, "act1").is_ok()
    });
    call("train::cross_entropy", &mut || {
        train::cross_entropy(&a, &labels).is_ok()
    });
    call("Occlusion::run", &mut || {
        Occlusion::new(small, 2, 2)
            .and_then(|o| o.run(&a, k as i64))
            .is_ok()
    });
    call("top_k", &mut || {
        top_k(lenet, &a, "relu2", k.max(1), 2).is_ok()
    });
    call("Deconvnet::project", &mut || {
        Deconvnet::new(lenet)
            .project(&a, "relu2", &[Target::strongest(k, k as i64)])
            .is_ok()
    });
    call("Affine::apply", &mut || {
        Affine::Rotate(30.0).apply(&a).is_ok()
    });
    call("viz::invariance", &mut || {
        deepscope::viz::invariance(lenet, &a, &labels, &["relu1"], &[Affine::Scale(1.1)]).is_ok()
    });
    call("Features::of_images", &mut || {
        Features::new(lenet, "relu2")
            .map(|f| f.averaged_over_views(k.max(1), 2, seed))
            .and_then(|mut f| f.of_images(&a))
            .is_ok()
    });
    call("Pixels::of_images", &mut || {
        Pixels::default().of_images(&a).is_ok()
    });
    call("Hog::of_images", &mut || {
        Hog::default().of_images(&a).is_ok()
    });
    call("Tsne::run", &mut || {
        Tsne {
            perplexity: 1.0,
            epochs: 5,
            ..Tsne::default()
        }
        .run(&a)
        .is_ok()
    });
    call("transforms", &mut || {
        let mut g = rng::seeded(seed);
        let resize = Resize {
            height: 4,
            width: 4,
        }
        .apply(&a, &mut g)
        .is_ok();
        let crop = CenterCrop {
            height: 3,
            width: 3,
        }
        .apply(&a, &mut g)
        .is_ok();
        let random = RandomCrop {
            height: 3,
            width: 3,
            padding: 1,
        }
        .apply(&a, &mut g)
        .is_ok();
        let jitter = Jitter { max_shift: 2 }.apply(&a, &mut g).is_ok();
        let norm = Normalize::fit(&a).is_ok();
        resize && crop && random && jitter && norm
    });
    call("dip::quality", &mut || {
        let psnr = dip::quality::psnr(&a, &b).is_ok();
        let ssim = dip::quality::ssim(&a, &b).is_ok();
        psnr && ssim
    });
    call("dip::degrade", &mut || {
        let noisy = dip::degrade::gaussian_noise(&a, 0.1, seed).is_ok();
        let jpeg = dip::degrade::jpeg(&a, 50).is_ok();
        let fill = dip::degrade::harmonic_fill(&a, &b, 3).is_ok();
        let small = dip::degrade::downscale(&a, 2).is_ok();
        noisy && jpeg && fill && small
    });
    call("surface::Weights::unflatten_like", &mut || {
        surface::Weights::of(small).unflatten_like(&a).is_ok()
    });
    call("surface::hessian::hvp", &mut || {
        surface::hessian::hvp(small, &a, &labels, &b).is_ok()
    });
    call("surface::hessian::refine_critical_point", &mut || {
        surface::hessian::refine_critical_point(small, &a, &labels, 1, 1e-3).is_ok()
    });
    call("surface::hessian::index", &mut || {
        surface::hessian::index(&a, 1e-5).is_ok()
    });
    call("train::renormalize_filters", &mut || {
        train::renormalize_filters(&a.copy(), 0.1).is_ok()
    });
    call("dip::Downsampler::apply", &mut || {
        dip::Downsampler::lanczos2(2)
            .and_then(|d| d.apply(&a))
            .is_ok()
    });
    call("surface::Weights::dot", &mut || {
        let w = surface::Weights::of(small);
        w.unflatten_like(&a).and_then(|v| w.dot(&v)).is_ok()
    });
    call("train::update_batch_norm", &mut || {
        Split::new(a.shallow_clone(), labels.shallow_clone())
            .and_then(|s| train::update_batch_norm(bn, &s, k))
            .is_ok()
    });
    call("Heatmap::image_extent and labels", &mut || {
        let names: Vec<String> = (0..k).map(|i| format!("class name {i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        Heatmap::from_tensor(&a)
            .and_then(|h| {
                to_png(
                    &h.image_extent(0.0, k as f64, 0.0, 2.0)
                        .labels(&names, &names),
                )
            })
            .is_ok()
    });
    panicked
}

#[test]
fn random_shapes_kinds_and_layouts_never_panic() {
    let mut lenet = zoo::lenet5(10).seed(0).build(Device::Cpu).unwrap();
    let mut small = zoo::mlp(&[1, 8, 8], &[6], 3, zoo::Activation::Relu)
        .seed(0)
        .build(Device::Cpu)
        .unwrap();
    // A small net with a batch norm, for the statistics' re-estimation.
    let mut bn = deepscope::model::ModelBuilder::new(&[1, 8, 8])
        .seed(0)
        .conv("conv", "conv", 2, deepscope::model::Conv::new(3))
        .batch_norm("bn", "bn")
        .relu("relu")
        .flatten("flat")
        .linear("fc", "fc", 3)
        .build(Device::Cpu)
        .unwrap();
    let mut r = rng::seeded(20261202);
    let mut panics = Vec::new();
    for _ in 0..DRAWS {
        panics.extend(round(&mut r, &mut lenet, &mut small, &mut bn));
    }
    panics.sort();
    panics.dedup();
    assert!(
        panics.is_empty(),
        "{} panics:\n{}",
        panics.len(),
        panics.join("\n")
    );
}
