//! Transfer speed, our side (issue 15's benchmark); `bench/transfer.py`
//! runs scikit-learn, openTSNE and a PyTorch forward-hook loop on the same
//! inputs and prints the ratios.
//!
//! - Linear probes on Fashion-MNIST pixels, 10 classes: 20,000 training
//!   images at 32x32 (1,024 features), 5,000 at 64x64 (4,096) and 1,000
//!   at 64x64 (fewer examples than features), 2,000 test images each;
//!   logistic regression and the linear SVM at C = 1, each by the solver
//!   `LinearProbe` gives it (Newton's method: in a trust region for the
//!   logistic probe, with a line search for the SVM), with the Python
//!   side's stopping rules: scikit-learn's lbfgs rule translated to our
//!   unscaled objective for the logistic probe (the largest gradient
//!   entry of the per-example mean objective below 1e-4), liblinear's
//!   primal rule for each class of the SVM (the gradient's norm below
//!   1e-4 min(pos, neg) / N of its norm at zero). With fewer examples
//!   than features LinearSVC (`dual="auto"`) solves the dual, whose
//!   stopping rule has no primal twin: there our primal SVM stops at a
//!   tenth of liblinear's primal rule, and our dual coordinate descent
//!   (LinearSVC's own algorithm there) is timed too, at its tolerance
//!   1e-4. Median of 3 runs, one for the SVM on 5,000 x 4,096 (each of
//!   LinearSVC's fits takes about a minute there).
//! - t-SNE of the 10,000 Fashion-MNIST test images projected on their 50
//!   leading principal components: perplexity 30, 1,000 iterations (250
//!   with early exaggeration), learning rate N/12, the FFT-interpolated
//!   gradient (openTSNE's default method). One run, timed whole (the
//!   neighbours and the descent); the exact KL divergence is computed
//!   after the timing, and the embedding is written for the Python side,
//!   which measures every embedding's KL divergence one way.
//! - Features: the ZFNet-style net's `relu7` for 2,000 test images at 64x64
//!   (random weights, seed 0), batches of 250. Median of 3 runs after a
//!   warm-up.
//!
//! Inputs go to `target/bench-transfer/` as safetensors.

#[path = "common/mod.rs"]
mod common;

use deepscope::data::{self, Dataset};
use deepscope::transfer::{
    DualCoordinateDescent, Extractor, Features, LinearProbe, Solver, Tsne, TsneGradient,
};
use deepscope::{weights, zoo, Result};
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};

const REPEATS: usize = 3;
const C: f64 = 1.0;
/// scikit-learn's default `tol`, on the gradient of the mean objective.
const TOL: f64 = 1e-4;

fn folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-transfer")
}

/// Median seconds of `runs` runs of `f` (at least one), and its last result.
fn median<T>(runs: usize, mut f: impl FnMut() -> Result<T>) -> Result<(f64, T)> {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs.max(1) {
        let (s, _, out) = common::time_and_peak(&mut f);
        last = Some(out?);
        times.push(s);
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], last.expect("at least one run")))
}

/// `{"runs", "seconds", "accuracy", "objective"}` of the median of
/// `runs` fits of `probe` (the Python side fits as often).
fn timed(features: &Dataset, probe: &LinearProbe, runs: usize) -> Result<String> {
    let (seconds, result) = median(runs, || probe.run(features))?;
    Ok(format!(
        "{{\"runs\": {runs}, \"seconds\": {seconds}, \"accuracy\": {}, \"objective\": {}}}",
        result.accuracy(),
        result.objective.unwrap_or(f64::NAN)
    ))
}

/// The logistic probe on `features` at C, stopped by scikit-learn's lbfgs
/// rule: the largest gradient entry of our objective divided by C * N.
fn logistic(features: &Dataset) -> LinearProbe {
    let n = features.train.len() as f64;
    let mut probe = LinearProbe::logistic().c(C);
    if let Solver::Newton(newton) = &mut probe.solver {
        newton.gradient_tolerance = TOL * C * n;
    }
    probe
}

/// The SVM probe on `features` at C, each class stopped by liblinear's
/// primal rule, `|f'(w)|_2 <= tighter * tol * min(pos, neg) / N *
/// |f'(0)|_2` (`tighter` 1 is the rule; the smallest min(pos, neg) of the
/// classes, all equal on these balanced splits).
fn svm(features: &Dataset, tighter: f64) -> Result<LinearProbe> {
    let n = features.train.len() as i64;
    let counts = features.train.labels().bincount::<Tensor>(None, 0);
    let smallest = Vec::<i64>::try_from(&counts)?
        .into_iter()
        .map(|pos| pos.min(n - pos))
        .min()
        .unwrap_or(1)
        .max(1);
    let mut probe = LinearProbe::svm().c(C);
    if let Solver::Newton(newton) = &mut probe.solver {
        newton.gradient_tolerance = 0.0;
        newton.relative_tolerance = tighter * TOL * smallest as f64 / n as f64;
    }
    Ok(probe)
}

/// Fashion-MNIST pixels at `side`x`side`, `train` training and 2,000 test
/// images (balanced), written as `<name>.safetensors`; the probes' JSON,
/// the SVM's from `svm_runs` fits.
fn probes(name: &str, side: i64, train: usize, svm_runs: usize) -> Result<String> {
    let fm = data::fashion_mnist()?.balanced_subset(train / 10, 200, 0)?;
    let px = fm.resized(side, side)?;
    let flat = |s: &data::Split| s.images().flatten(1, -1).to_kind(Kind::Double);
    weights::write_safetensors(
        &[
            ("x_train".into(), flat(&px.train)),
            ("y_train".into(), px.train.labels().shallow_clone()),
            ("x_test".into(), flat(&px.test)),
            ("y_test".into(), px.test.labels().shallow_clone()),
        ],
        folder().join(format!("{name}.safetensors")),
    )?;
    let fewer = px.train.len() < (side * side) as usize;
    // Fewer examples than features: LinearSVC solves the dual; ours is
    // timed both ways, the primal to a tenth of liblinear's primal rule.
    let dual = if fewer {
        let probe = LinearProbe {
            solver: Solver::DualCoordinateDescent(DualCoordinateDescent {
                tolerance: TOL,
                max_epochs: 1_000_000,
            }),
            ..LinearProbe::svm().c(C)
        };
        format!(", \"svm_dual\": {}", timed(&px, &probe, svm_runs)?)
    } else {
        String::new()
    };
    let tighter = if fewer { 0.1 } else { 1.0 };
    Ok(format!(
        "{{\"train\": {}, \"features\": {}, \"logistic\": {}, \"svm\": {}{dual}}}",
        px.train.len(),
        side * side,
        timed(&px, &logistic(&px), REPEATS)?,
        timed(&px, &svm(&px, tighter)?, svm_runs)?
    ))
}

/// The 10,000 test images on their 50 leading principal components.
fn pca50() -> Result<Tensor> {
    let x = data::fashion_mnist()?
        .test
        .images()
        .flatten(1, -1)
        .to_kind(Kind::Double);
    let centred = &x - x.mean_dim(0, true, Kind::Double);
    let (_, _, v) = centred.f_svd(true, true)?;
    Ok(centred.matmul(&v.narrow(1, 0, 50)))
}

fn tsne() -> Result<String> {
    let x = pca50()?;
    let n = x.size()[0];
    let settings = Tsne {
        perplexity: 30.0,
        epochs: 1000,
        gradient: TsneGradient::Interpolated,
        learning_rate: n as f64 / 12.0,
        seed: 0,
    };
    let (seconds, _, embedding) = common::time_and_peak(|| settings.run(&x));
    let embedding = embedding?;
    // Outside the timing, as the Python side measures its KL: openTSNE's
    // run computes no exact KL either.
    let kl = embedding.kl_divergence(&x, settings.perplexity)?;
    let points: Vec<f64> = embedding.points.iter().flat_map(|&(a, b)| [a, b]).collect();
    weights::write_safetensors(
        &[
            ("x".into(), x.to_kind(Kind::Float)),
            ("ours".into(), Tensor::from_slice(&points).view([n, 2])),
        ],
        folder().join("tsne.safetensors"),
    )?;
    Ok(format!(
        "{{\"points\": {n}, \"perplexity\": {}, \"iterations\": {}, \"learning_rate\": {}, \"seconds\": {seconds}, \"kl\": {}}}",
        settings.perplexity, settings.epochs, settings.learning_rate, kl
    ))
}

fn features() -> Result<String> {
    let images = data::fashion_mnist()?
        .balanced_subset(1, 200, 0)?
        .resized(64, 64)?
        .test
        .images()
        .shallow_clone();
    weights::write_safetensors(
        &[("images".into(), images.shallow_clone())],
        folder().join("features.safetensors"),
    )?;
    let mut zf = zoo::zfnet(&zoo::ZfNetConfig::default())
        .seed(0)
        .build(Device::Cpu)?;
    let mut relu7 = Features::new(&mut zf, "relu7")?.batch_size(250);
    let _warm_up = relu7.of_images(&images)?;
    let (seconds, f) = median(REPEATS, || relu7.of_images(&images))?;
    Ok(format!(
        "{{\"images\": {}, \"dimension\": {}, \"seconds\": {seconds}}}",
        images.size()[0],
        f.size()[1]
    ))
}

fn main() -> Result<()> {
    let json = std::env::args().any(|a| a == "--json");
    let threads = common::set_threads();
    std::fs::create_dir_all(folder()).map_err(|e| deepscope::Error::io(folder(), e))?;
    let tsne = tsne()?;
    let features = features()?;
    let small = probes("probe-1024", 32, 20_000, REPEATS)?;
    // One SVM fit each side: LinearSVC takes over a minute there (both
    // sides in the primal: more examples than features).
    let wide = probes("probe-4096", 64, 5_000, 1)?;
    // Fewer examples than features, the case of the notebooks' few-shot
    // probes: the SVM by its dual, as LinearSVC picks it.
    let few = probes("probe-few", 64, 1_000, REPEATS)?;
    let out = format!(
        "{{\"threads\": {threads}, \"probe_1024\": {small}, \"probe_4096\": {wide}, \"probe_few\": {few}, \"tsne\": {tsne}, \"features\": {features}}}"
    );
    if json {
        println!("{out}");
    } else {
        println!("{out}\n(bench/transfer.py --rust FILE compares it with the Python tools)");
    }
    Ok(())
}
