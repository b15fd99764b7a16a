//! A table of bad inputs across the public API: each must give an `Err` that
//! says what was wrong, and none may panic (a panic in a notebook cell can
//! cost the user the kernel's state).

use deepscope::architectures::{Convolution, EffectiveField};
use deepscope::data::{
    self, transforms::*, Channels, CsvLayout, Dataset, LabelColumn, Order, Split,
};
use deepscope::display::{ImageGrid, Overlay, Table};
use deepscope::jobs::Study;
use deepscope::model::{dropout, local_response_norm, Conv, ModelBuilder};
use deepscope::plot::{
    save, to_png, BarChart, Contour, Heatmap, Histogram, LinePlot, Panels, Scatter, Surface3d,
};
use deepscope::rng::seeded;
use deepscope::surface::{hessian, Weights};
use deepscope::train::{self, FitConfig, Optimizer, OptimizerState, ProgressMode};
use deepscope::transfer::Extractor;
use deepscope::{adapt, distill};
use deepscope::{weights, zoo, Error};
use std::panic::{catch_unwind, AssertUnwindSafe};
use tch::{Device, Kind, Tensor};

type Case = (
    &'static str,
    &'static str,
    Box<dyn Fn() -> Result<(), Error>>,
);

fn zeros(shape: &[i64]) -> Tensor {
    Tensor::zeros(shape, (Kind::Float, Device::Cpu))
}

fn ok<T>(r: Result<T, Error>) -> Result<(), Error> {
    r.map(|_| ())
}

/// `|x|^2` for the trust-region solver, its gradient given `extra` entries
/// more than the point has (zero: a gradient of the right shape).
struct Bowl {
    extra: i64,
}

impl train::Twice for Bowl {
    type State = ();
    fn evaluate(&mut self, x: &Tensor) -> Result<(f64, Tensor, ()), Error> {
        let g = Tensor::zeros([x.size()[0] + self.extra], (Kind::Double, Device::Cpu));
        Ok((x.square().sum(Kind::Double).double_value(&[]), g, ()))
    }
    fn hessian_times(&mut self, _: &(), v: &Tensor) -> Result<Tensor, Error> {
        Ok(v * 2.0)
    }
}

/// A 2x2-pixel, 2-class MLP with one hidden layer of 3 (23 parameters).
fn tiny_mlp() -> deepscope::model::Model {
    zoo::mlp(&[1, 2, 2], &[3], 2, zoo::Activation::Relu)
        .build(Device::Cpu)
        .unwrap()
}

/// Two 2x2 images labelled 0 and 1.
fn tiny_split() -> Split {
    Split::new(zeros(&[2, 1, 2, 2]), two_labels()).unwrap()
}

fn two_labels() -> Tensor {
    Tensor::from_slice(&[0i64, 1])
}

/// `n` uniform distributions over `k` classes `[n, k]`.
fn uniform(n: i64, k: i64) -> Tensor {
    Tensor::full([n, k], 1.0 / k as f64, (Kind::Float, Device::Cpu))
}

/// A 2x2 grid for contour plots.
fn square() -> Vec<Vec<f64>> {
    vec![vec![1.0, 2.0], vec![1.0, 3.0]]
}

fn cases(dir: &std::path::Path) -> Vec<Case> {
    let junk = dir.join("junk.bin");
    std::fs::write(&junk, b"\x89PNG not an idx file").unwrap();
    let short_csv = dir.join("short.csv");
    std::fs::write(&short_csv, b"1,2,3\n").unwrap();
    let (j1, j2, j3, j4, sc) = (
        junk.clone(),
        junk.clone(),
        junk.clone(),
        junk.clone(),
        short_csv.clone(),
    );
    let d = dir.to_path_buf();
    let grid_file = dir.join("empty-grid.json");
    let (d2, d3) = (dir.to_path_buf(), dir.to_path_buf());
    let (runs_dir, runs_dir2, runs_dir3) = (dir.join("runs"), dir.join("runs"), dir.join("runs"));
    let junk_file = junk.clone();
    let study_file = dir.join("study.json");
    let (study_file2, study_file3, study_file4) =
        (study_file.clone(), study_file.clone(), study_file.clone());
    let study_dir = dir.to_path_buf();
    let layout = CsvLayout {
        label: LabelColumn::Last,
        height: 2,
        width: 2,
        max_value: 255.0,
        num_classes: 10,
    };
    let lenet = || zoo::lenet5(10).build(Device::Cpu).unwrap();
    let split = || Split::new(zeros(&[4, 1, 2, 2]), Tensor::from_slice(&[0i64, 1, 0, 1])).unwrap();
    let digits_like =
        move || Dataset::new("t", split(), split(), vec!["a".into(), "b".into()]).unwrap();
    vec![
        (
            "read_idx: missing file",
            "No such file",
            Box::new(|| ok(data::read_idx("/no/such/file.idx"))),
        ),
        (
            "read_idx: bad magic",
            "bad magic number 89 50 4e 47",
            Box::new(move || ok(data::read_idx(&j1))),
        ),
        (
            "read_labeled_csv: wrong columns",
            "wrong count: 3 columns, expected 5",
            Box::new(move || ok(data::read_labeled_csv(&sc, &layout))),
        ),
        (
            "load_image: not an image",
            "cannot decode image",
            Box::new(move || ok(data::load_image(&j2, Channels::Auto))),
        ),
        (
            "read_cifar10_batch: wrong length",
            "not a whole number of 3073-byte",
            Box::new(move || ok(data::read_cifar10_batch(&j3))),
        ),
        (
            "Split::new: images of rank 3",
            "expected a batch of images [N, C, H, W], got [4, 2, 2]",
            Box::new(move || {
                ok(Split::new(
                    zeros(&[4, 2, 2]),
                    Tensor::from_slice(&[0i64; 4]),
                ))
            }),
        ),
        (
            "Split::new: too few labels",
            "expected labels [4] (one per image), got [3]",
            Box::new(move || {
                ok(Split::new(
                    zeros(&[4, 1, 2, 2]),
                    Tensor::from_slice(&[0i64; 3]),
                ))
            }),
        ),
        (
            "Split::new: undefined tensor",
            "expected a defined tensor",
            Box::new(move || ok(Split::new(Tensor::new(), Tensor::from_slice(&[0i64])))),
        ),
        (
            "batches: size 0",
            "batch size must be at least 1",
            Box::new(move || ok(split().batches(0, Order::Sequential, false))),
        ),
        (
            "take_per_class: too many",
            "fewer than the 3 asked for",
            Box::new(move || ok(split().take_per_class(3, 2, 0))),
        ),
        (
            "Dataset::with_classes: a class beyond the dataset's",
            "class 2 is outside the dataset's 2 classes 0..2",
            Box::new(move || ok(digits_like().with_classes(&[0, 2]))),
        ),
        (
            "Dataset::with_classes: a class twice",
            "class 1 is given twice",
            Box::new(move || ok(digits_like().with_classes(&[1, 1]))),
        ),
        (
            "Dataset::stratified: fraction 1.5",
            "test fraction must be in [0, 1)",
            Box::new(move || {
                ok(Dataset::stratified(
                    "t",
                    split(),
                    vec!["a".into(), "b".into()],
                    1.5,
                    0,
                ))
            }),
        ),
        (
            "Catalog::open: no manifest",
            "manifest.json does not exist",
            Box::new(move || ok(data::Catalog::open(&d))),
        ),
        (
            "Normalize::new: 2 means, 1 std",
            "2 means and 1 stds",
            Box::new(|| ok(Normalize::new(&[0.0, 1.0], &[1.0]))),
        ),
        (
            "Resize: zero height",
            "positive output size",
            Box::new(|| {
                ok(Resize {
                    height: 0,
                    width: 4,
                }
                .apply(&zeros(&[1, 1, 4, 4]), &mut seeded(0)))
            }),
        ),
        (
            "CenterCrop: larger than the image",
            "at least 9x9 pixels for CenterCrop",
            Box::new(|| {
                ok(CenterCrop {
                    height: 9,
                    width: 9,
                }
                .apply(&zeros(&[1, 1, 4, 4]), &mut seeded(0)))
            }),
        ),
        (
            "RandomFlip: p = 2",
            "in [0, 1], got 2",
            Box::new(|| ok(RandomFlip { p: 2.0 }.apply(&zeros(&[1, 1, 4, 4]), &mut seeded(0)))),
        ),
        (
            "transform: integer images",
            "expected a floating-point tensor",
            Box::new(|| {
                ok(RandomFlip { p: 0.5 }
                    .apply(&zeros(&[1, 1, 4, 4]).to_kind(Kind::Uint8), &mut seeded(0)))
            }),
        ),
        (
            "save_image: 2 channels",
            "1 (gray) or 3 (RGB) channels",
            Box::new(move || data::save_image(&zeros(&[2, 4, 4]), "/tmp/x.png")),
        ),
        (
            "ModelBuilder: kernel larger than the input",
            "cannot take input of shape [1, 4, 4]",
            Box::new(|| {
                ok(ModelBuilder::new(&[1, 4, 4])
                    .conv("c", "c", 2, Conv::new(7))
                    .build(Device::Cpu))
            }),
        ),
        (
            "ModelBuilder: duplicate names",
            "two layers are called 'r'",
            Box::new(|| {
                ok(ModelBuilder::new(&[4])
                    .relu("r")
                    .relu("r")
                    .build(Device::Cpu))
            }),
        ),
        (
            "ModelBuilder: linear on images",
            "add a flatten layer",
            Box::new(|| {
                ok(ModelBuilder::new(&[1, 4, 4])
                    .linear("fc", "fc", 2)
                    .build(Device::Cpu))
            }),
        ),
        (
            "forward: a single image without batch",
            "expected a batch [N, 1, 28, 28], got [1, 28, 28]",
            Box::new(move || ok(lenet().forward(&zeros(&[1, 28, 28])))),
        ),
        (
            "forward: integer input",
            "expected a floating-point tensor",
            Box::new(move || ok(lenet().forward(&zeros(&[1, 1, 28, 28]).to_kind(Kind::Int64)))),
        ),
        (
            "forward: double input",
            "Float (f32) values",
            Box::new(move || ok(lenet().forward(&zeros(&[1, 1, 28, 28]).to_kind(Kind::Double)))),
        ),
        (
            "forward_to: unknown layer",
            "no layer named 'conv5'",
            Box::new(move || ok(lenet().forward_to(&zeros(&[1, 1, 28, 28]), "conv5"))),
        ),
        (
            "copy_layers_from: another architecture",
            "not in the source model",
            Box::new(move || {
                let mlp =
                    zoo::mlp(&[1, 28, 28], &[4], 10, zoo::Activation::Relu).build(Device::Cpu)?;
                lenet().copy_layers_from(&mlp, "conv1")
            }),
        ),
        (
            "set_lr_scale: NaN",
            "finite and >= 0",
            Box::new(move || lenet().set_lr_scale("conv1", f64::NAN)),
        ),
        (
            "freeze: unknown layer",
            "no layer named 'fc9'",
            Box::new(move || lenet().freeze(&["fc9"])),
        ),
        (
            "dropout: p = 1.5",
            "dropout probability must be in [0, 1)",
            Box::new(|| ok(dropout(&zeros(&[2, 2]), 1.5, &mut seeded(0)))),
        ),
        (
            "local_response_norm: size 0",
            "LRN size must be >= 1",
            Box::new(|| ok(local_response_norm(&zeros(&[1, 3, 2, 2]), 0, 1.0, 1.0, 1.0))),
        ),
        (
            "weights::read_tensors: junk file",
            "not a weights file",
            Box::new(move || ok(weights::read_tensors(&j4))),
        ),
        (
            "weights::save: .pt extension",
            "weights are saved as .safetensors",
            Box::new(move || weights::save(&lenet(), "/tmp/w.pt")),
        ),
        (
            "weights::load: missing file",
            "No such file",
            Box::new(move || weights::load(&mut lenet(), "/no/such/w.safetensors")),
        ),
        (
            "fit: batch size 0",
            "batch size of at least 1",
            Box::new(move || {
                let mut cfg = FitConfig::new(1, 0, Optimizer::sgd(0.1));
                cfg.progress = ProgressMode::Silent;
                ok(train::fit(&mut lenet(), &digits_like(), &cfg))
            }),
        ),
        (
            "fit: images of another shape",
            "model's input shape [1, 28, 28]",
            Box::new(move || {
                let mut cfg = FitConfig::new(1, 2, Optimizer::sgd(0.1));
                cfg.progress = ProgressMode::Silent;
                ok(train::fit(&mut lenet(), &digits_like(), &cfg))
            }),
        ),
        (
            "evaluate: empty split",
            "empty split",
            Box::new(move || {
                ok(train::evaluate(
                    &mut lenet(),
                    &Split::empty(1, 28, 28).unwrap(),
                    8,
                ))
            }),
        ),
        (
            "evaluate: labels beyond the model's classes",
            "labels range over 0..=11, but the model gives 10 logits",
            Box::new(move || {
                let far =
                    Split::new(zeros(&[2, 1, 28, 28]), Tensor::from_slice(&[0i64, 11])).unwrap();
                ok(train::evaluate(&mut lenet(), &far, 8))
            }),
        ),
        (
            "cross_entropy: label 10 of 10 classes",
            "labels range over 10..=10",
            Box::new(|| {
                ok(train::cross_entropy(
                    &zeros(&[1, 10]),
                    &Tensor::from_slice(&[10i64]),
                ))
            }),
        ),
        (
            "Adam: beta1 = 1",
            "beta1 must be in [0, 1)",
            Box::new(|| {
                ok(OptimizerState::new(Optimizer::Adam {
                    lr: 1e-3,
                    beta1: 1.0,
                    beta2: 0.999,
                    eps: 1e-8,
                    weight_decay: 0.0,
                }))
            }),
        ),
        (
            "Heatmap: ragged rows",
            "grid row 1 has 1 values",
            Box::new(|| ok(to_png(&Heatmap::new(vec![vec![1.0, 2.0], vec![3.0]])))),
        ),
        (
            "LinePlot: infinite value",
            "infinite values cannot be plotted",
            Box::new(|| ok(to_png(&LinePlot::new().values("x", &[f64::INFINITY])))),
        ),
        (
            "save figure: .jpg",
            "figures are saved as .png or .svg",
            Box::new(|| save(&LinePlot::new().values("x", &[1.0]), "/tmp/f.jpg")),
        ),
        (
            "ImageGrid: 4 channels",
            "1 (gray) or 3 (RGB) channels",
            Box::new(|| ok(ImageGrid::new(&zeros(&[1, 4, 2, 2])))),
        ),
        (
            "Overlay: heat map of rank 3",
            "heat map: expected [h, w]",
            Box::new(|| ok(Overlay::new(&zeros(&[3, 4, 4]), &zeros(&[1, 2, 2])))),
        ),
        (
            "Overlay: an image without pixels",
            "image: expected at least one pixel",
            Box::new(|| ok(Overlay::new(&zeros(&[1, 0, 4]), &zeros(&[2, 2])))),
        ),
        (
            "Table: row of the wrong length",
            "1 cells, the table has 2 columns",
            Box::new(|| ok(Table::new(&["a", "b"]).row(&["x"]))),
        ),
        (
            "MeanSd: no values",
            "a mean needs at least one value",
            Box::new(|| ok(deepscope::stats::MeanSd::of(&[]))),
        ),
        (
            "MeanSd: an infinite value",
            "value 0 of 2 is inf",
            Box::new(|| ok(deepscope::stats::MeanSd::of(&[f64::INFINITY, 1.0]))),
        ),
        (
            "Dataset::resized: zero height",
            "Resize needs a positive output size, got 0x8",
            Box::new(move || ok(digits_like().resized(0, 8))),
        ),
        (
            "fit: gradient clipping bound of 0",
            "the gradient-norm bound must be finite and > 0, got 0",
            Box::new(move || {
                let mut c = FitConfig::new(1, 2, Optimizer::sgd(0.1));
                c.clip_grad_norm = Some(0.0);
                c.progress = ProgressMode::Silent;
                let mut m = zoo::mlp(&[1, 2, 2], &[], 2, zoo::Activation::Relu)
                    .build(Device::Cpu)
                    .unwrap();
                ok(train::fit(&mut m, &digits_like(), &c))
            }),
        ),
        (
            "optimize: a loss that is not a scalar",
            "a scalar (one value) to backpropagate",
            Box::new(move || {
                let m = lenet();
                let mut opt = OptimizerState::new(Optimizer::sgd(0.1)).unwrap();
                train::optimize(&zeros(&[3]), &m.param_groups(), &mut opt, 0.1, None)
            }),
        ),
        (
            "Features: unknown layer",
            "no layer named 'fc9'",
            Box::new(move || {
                let mut m = lenet();
                ok(deepscope::transfer::Features::new(&mut m, "fc9"))
            }),
        ),
        (
            "Features: images of another shape",
            "a batch of the model's input shape [1, 28, 28]",
            Box::new(move || {
                let mut m = lenet();
                let mut f = deepscope::transfer::Features::new(&mut m, "relu3").unwrap();
                ok(f.of_images(&zeros(&[2, 1, 8, 8])))
            }),
        ),
        (
            "Features: Double images",
            "Float (f32) values",
            Box::new(move || {
                let mut m = lenet();
                let mut f = deepscope::transfer::Features::new(&mut m, "relu3").unwrap();
                ok(f.of_images(&Tensor::zeros([2, 1, 28, 28], (Kind::Double, Device::Cpu))))
            }),
        ),
        (
            "LinearProbe: no test examples",
            "needs training and test examples for a probe (4 and 0)",
            Box::new(move || {
                let d = Dataset::new(
                    "t",
                    split(),
                    Split::empty(1, 2, 2).unwrap(),
                    vec!["a".into(), "b".into()],
                )
                .unwrap();
                ok(deepscope::transfer::LinearProbe::new(1).run(&d))
            }),
        ),
        (
            "LinearProbe: NaN features",
            "the features hold NaN or infinite values",
            Box::new(move || {
                let x = zeros(&[4, 1, 2, 2]);
                let _ = x.get(1).fill_(f64::NAN);
                let s = Split::new(x, Tensor::from_slice(&[0i64, 1, 0, 1])).unwrap();
                let d = Dataset::new("nan", s, split(), vec!["a".into(), "b".into()]).unwrap();
                ok(deepscope::transfer::LinearProbe::logistic().c(1.0).run(&d))
            }),
        ),
        (
            "LinearProbe: a training label beyond the class names",
            "train labels range over 0..=3, but there are 2 class names",
            Box::new(move || {
                let mut d = digits_like();
                d.train = Split::new(zeros(&[4, 1, 2, 2]), Tensor::from_slice(&[0i64, 1, 2, 3])).unwrap();
                ok(deepscope::transfer::LinearProbe::svm().c(1.0).run(&d))
            }),
        ),
        (
            "Randomization: test images of another size set after Dataset::new",
            "test images: expected the train images' shape [1, 2, 2]",
            Box::new(move || {
                let mut d = Dataset::new("t", split(), split(), vec!["a".into(), "b".into()]).unwrap();
                d.test = Split::new(zeros(&[2, 1, 3, 3]), two_labels()).unwrap();
                ok(deepscope::generalization::Randomization::ShuffledPixels.apply(&d, 0))
            }),
        ),
        (
            "renormalize_filters: an integer weight",
            "convolution weight",
            Box::new(|| {
                let w = Tensor::ones([2, 1, 3, 3], (Kind::Int64, Device::Cpu)) * 10;
                ok(deepscope::train::renormalize_filters(&w, 0.1))
            }),
        ),
        (
            "Downsampler: an integer image",
            "downsampler input",
            Box::new(|| {
                let d = deepscope::dip::Downsampler::lanczos2(2).unwrap();
                ok(d.apply(&Tensor::ones([1, 3, 8, 8], (Kind::Int64, Device::Cpu))))
            }),
        ),
        (
            "hessian::index: a matrix instead of eigenvalues",
            "eigenvalues: expected [P] (from linalg_eigvalsh), got [2, 2]",
            Box::new(|| ok(deepscope::surface::hessian::index(&zeros(&[2, 2]), 1e-5))),
        ),
        (
            "Dataset::all: test images of another size set after Dataset::new",
            "test images: expected the train images' shape [1, 2, 2], got [1, 3, 3]",
            Box::new(move || {
                let mut d = digits_like();
                d.test = Split::new(zeros(&[2, 1, 3, 3]), two_labels()).unwrap();
                ok(d.all())
            }),
        ),
        (
            "Occlusion::approximate: a fraction above 1",
            "the approximation keeps a fraction in (0, 1] of each map's side, got 1.5",
            Box::new(move || {
                let m = tiny_mlp();
                ok(deepscope::viz::Occlusion::new(&m, 2, 1).and_then(|o| o.approximate(1.5)))
            }),
        ),
        (
            "LinearProbe: C of 0",
            "C must be finite and > 0, got 0",
            Box::new(move || {
                ok(deepscope::transfer::LinearProbe::svm()
                    .c(0.0)
                    .run(&digits_like()))
            }),
        ),
        (
            "LinearProbe: dual coordinate descent for logistic regression",
            "dual coordinate descent fits the squared-hinge probe only",
            Box::new(move || {
                use deepscope::transfer::{DualCoordinateDescent, LinearProbe, Solver};
                let probe = LinearProbe {
                    solver: Solver::DualCoordinateDescent(DualCoordinateDescent::default()),
                    ..LinearProbe::logistic().c(1.0)
                };
                ok(probe.run(&digits_like()))
            }),
        ),
        (
            "LinearProbe: dual coordinate descent with no passes",
            "a finite tolerance > 0 and at least one pass, got 0.0001 and 0",
            Box::new(move || {
                use deepscope::transfer::{DualCoordinateDescent, LinearProbe, Solver};
                let probe = LinearProbe {
                    solver: Solver::DualCoordinateDescent(DualCoordinateDescent {
                        max_epochs: 0,
                        ..DualCoordinateDescent::default()
                    }),
                    ..LinearProbe::svm().c(1.0)
                };
                ok(probe.run(&digits_like()))
            }),
        ),
        (
            "LinearProbe: more folds than examples of a class",
            "4 training examples cannot fill 5 folds",
            Box::new(move || ok(deepscope::transfer::LinearProbe::logistic().run(&digits_like()))),
        ),
        (
            "Tsne: perplexity too large for the points",
            "a perplexity of 30 needs more than 91 points, got 4",
            Box::new(|| ok(deepscope::transfer::Tsne::default().run(&zeros(&[4, 3])))),
        ),
        (
            "Tsne: NaN features",
            "t-SNE needs finite ones",
            Box::new(|| {
                let x = zeros(&[200, 3]);
                let _ = x.get(7).fill_(f64::NAN);
                ok(deepscope::transfer::Tsne::default().run(&x))
            }),
        ),
        (
            "Tsne: Barnes-Hut with theta 0",
            "Barnes-Hut needs a finite theta > 0 (TsneGradient::Exact for theta 0), got 0",
            Box::new(|| {
                let tsne = deepscope::transfer::Tsne {
                    gradient: deepscope::transfer::TsneGradient::BarnesHut { theta: 0.0 },
                    ..deepscope::transfer::Tsne::default()
                };
                ok(tsne.run(&zeros(&[200, 3])))
            }),
        ),
        (
            "Tsne: an interpolated descent that diverges",
            "the embedding diverged",
            Box::new(|| {
                let tsne = deepscope::transfer::Tsne {
                    gradient: deepscope::transfer::TsneGradient::Interpolated,
                    learning_rate: 1e300,
                    epochs: 20,
                    ..deepscope::transfer::Tsne::default()
                };
                tch::manual_seed(0);
                let x = tch::Tensor::randn([200, 3], (tch::Kind::Double, Device::Cpu));
                ok(tsne.run(&x))
            }),
        ),
        (
            "Occlusion: a model whose output is a conv map",
            "class scores [N, classes]",
            Box::new(|| {
                let m = ModelBuilder::new(&[1, 8, 8])
                    .conv("c", "c", 4, Conv::new(3).padding(1))
                    .build(Device::Cpu)
                    .unwrap();
                ok(deepscope::viz::Occlusion::new(&m, 2, 2)
                    .and_then(|o| o.run(&zeros(&[1, 8, 8]), 0)))
            }),
        ),
        (
            "TopK::patches: images smaller than those top_k streamed",
            "the images top_k streamed",
            Box::new(|| {
                let m = zoo::lenet5(10).seed(0).build(Device::Cpu).unwrap();
                let images = Tensor::rand([4, 1, 28, 28], (Kind::Float, Device::Cpu));
                let top = deepscope::viz::top_k(&m, &images, "relu2", 2, 4).unwrap();
                ok(top.patches(&zeros(&[4, 1, 8, 8]), 0))
            }),
        ),
        (
            "harmonic_fill: a Double image",
            "Float (f32) values",
            Box::new(|| {
                let img = Tensor::zeros([1, 8, 8], (Kind::Double, Device::Cpu));
                ok(deepscope::dip::degrade::harmonic_fill(
                    &img,
                    &zeros(&[1, 8, 8]),
                    5,
                ))
            }),
        ),
        (
            "Surgery: a lower layer the nets do not have",
            "no layer named 'relu9'",
            Box::new(move || {
                let (mut target, base) = (lenet(), lenet());
                deepscope::transfer::Surgery::copy_frozen("relu9").apply(&mut target, &base)
            }),
        ),
        (
            "Surgery: nets whose copied layers differ in shape",
            "cannot copy layers: layers.0.weight: shape [16, 64] here, [32, 64] in the source",
            Box::new(|| {
                let mlp = |w: i64| {
                    zoo::mlp(&[1, 8, 8], &[w], 10, zoo::Activation::Relu)
                        .seed(w as u64)
                        .build(Device::Cpu)
                        .unwrap()
                };
                let (mut target, base) = (mlp(16), mlp(32));
                let before = target.named_parameters();
                let before: Vec<Tensor> = before.iter().map(|(_, t)| t.copy()).collect();
                let refused =
                    deepscope::transfer::Surgery::copy_fine_tuned("act1").apply(&mut target, &base);
                // A refused transfer leaves the target as it was.
                for ((_, now), then) in target.named_parameters().iter().zip(&before) {
                    assert!(now.equal(then), "the target changed");
                }
                refused
            }),
        ),
        (
            "Embedding::scatter_with_thumbnails: a side of 0",
            "a side of 1 to 256 pixels, got 0",
            Box::new(|| {
                let e = deepscope::transfer::Embedding {
                    points: vec![(0.0, 0.0), (1.0, 1.0)],
                };
                let labels = Tensor::from_slice(&[0i64, 1]);
                ok(e.scatter_with_thumbnails(
                    &labels,
                    &["a".into(), "b".into()],
                    &zeros(&[2, 1, 4, 4]),
                    2,
                    0,
                ))
            }),
        ),
        (
            "Embedding::kl_divergence: the input of another embedding",
            "the KL divergence needs the 2 rows that were embedded, got [3, 4]",
            Box::new(|| {
                let e = deepscope::transfer::Embedding {
                    points: vec![(0.0, 0.0), (1.0, 1.0)],
                };
                ok(e.kl_divergence(&zeros(&[3, 4]), 0.5))
            }),
        ),
        (
            "Embedding::kl_divergence: a perplexity beyond the other points",
            "the perplexity must be finite, > 0 and below the 2 other points, got 5",
            Box::new(|| {
                let e = deepscope::transfer::Embedding {
                    points: vec![(0.0, 0.0), (1.0, 1.0), (2.0, 0.0)],
                };
                ok(e.kl_divergence(&zeros(&[3, 4]), 5.0))
            }),
        ),
        (
            "Embedding::neighbour_accuracy: k as large as the map",
            "needs 1 <= k < the 2 points, got k = 2",
            Box::new(|| {
                let e = deepscope::transfer::Embedding {
                    points: vec![(0.0, 0.0), (1.0, 1.0)],
                };
                ok(e.neighbour_accuracy(&Tensor::from_slice(&[0i64, 1]), 2))
            }),
        ),
        (
            "Embedding::neighbour_accuracy: labels of another length",
            "one label per point: 3 labels for 2 points",
            Box::new(|| {
                let e = deepscope::transfer::Embedding {
                    points: vec![(0.0, 0.0), (1.0, 1.0)],
                };
                ok(e.neighbour_accuracy(&Tensor::from_slice(&[0i64, 1, 1]), 1))
            }),
        ),
        (
            "invariance: a label beyond the model's classes",
            "labels: class 42 is out of range: the model has 10 classes",
            Box::new(move || {
                let m = lenet();
                let labels = Tensor::from_slice(&[0i64, 42]);
                let sweep = [deepscope::viz::Affine::Rotate(0.0)];
                ok(deepscope::viz::invariance(
                    &m,
                    &zeros(&[2, 1, 28, 28]),
                    &labels,
                    &["relu1"],
                    &sweep,
                ))
            }),
        ),
        (
            "invariance: no images",
            "invariance needs at least one image, layer and transform (got 0, 1 and 1)",
            Box::new(move || {
                let m = lenet();
                let labels = Tensor::zeros([0], (Kind::Int64, Device::Cpu));
                let sweep = [deepscope::viz::Affine::Rotate(0.0)];
                ok(deepscope::viz::invariance(
                    &m,
                    &zeros(&[0, 1, 28, 28]),
                    &labels,
                    &["relu1"],
                    &sweep,
                ))
            }),
        ),
        (
            "top_k: a layer of a net on flat inputs (no feature maps)",
            "feature maps [N, C, H, W]",
            Box::new(|| {
                let flat = ModelBuilder::new(&[6]).relu("r").build(Device::Cpu)?;
                ok(deepscope::viz::top_k(&flat, &zeros(&[3, 6]), "r", 1, 2))
            }),
        ),
        (
            "top_k: no images",
            "top_k needs at least one image, got none",
            Box::new(move || {
                ok(deepscope::viz::top_k(
                    &lenet(),
                    &zeros(&[0, 1, 28, 28]),
                    "relu2",
                    2,
                    2,
                ))
            }),
        ),
        (
            "Occlusion: a NaN image",
            "the image holds NaN or infinite values",
            Box::new(move || {
                let m = lenet();
                let image = zeros(&[1, 28, 28]);
                let _ = image.get(0).get(3).fill_(f64::NAN);
                ok(deepscope::viz::Occlusion::new(&m, 4, 4).and_then(|o| o.run(&image, 0)))
            }),
        ),
        (
            "correspondence: a NaN fill",
            "the occluder's fill must be a finite value, got NaN",
            Box::new(move || {
                let b = deepscope::viz::PixelBox {
                    top: 0,
                    left: 0,
                    bottom: 3,
                    right: 3,
                };
                ok(deepscope::viz::correspondence(
                    &lenet(),
                    &zeros(&[2, 1, 28, 28]),
                    "relu2",
                    &[b, b],
                    f64::NAN,
                ))
            }),
        ),
        (
            "trajectory: a net without parameters",
            "weight vectors of at least 2 values, got 0",
            Box::new(|| {
                let bare = ModelBuilder::new(&[1, 4, 4]).relu("r").build(Device::Cpu)?;
                let w = Weights::of(&bare);
                ok(deepscope::surface::trajectory(&[w.clone(), w.clone()], &w))
            }),
        ),
        (
            "trajectory: checkpoints of another architecture",
            "the two weight sets come from different architectures",
            Box::new(|| {
                let mlp = |w: i64| {
                    zoo::mlp(&[1, 4, 4], &[w], 3, zoo::Activation::Relu)
                        .build(Device::Cpu)
                        .unwrap()
                };
                let (a, b) = (Weights::of(&mlp(4)), Weights::of(&mlp(5)));
                ok(deepscope::surface::trajectory(&[a.clone(), b], &a))
            }),
        ),
        (
            "LossGrid::load: a grid with empty axes",
            "the grid has an empty axis",
            Box::new(move || {
                let path = grid_file.clone();
                std::fs::write(
                    &path,
                    r#"{"tag":"x","xs":[],"ys":[],"loss":[],"accuracy":[]}"#,
                )
                .unwrap();
                ok(deepscope::surface::LossGrid::load(&path))
            }),
        ),
        (
            "bicubic: a size that does not fit in memory",
            "the target size must be 1 to 16384 pixels a side, got 1099511627776x4",
            Box::new(|| {
                ok(deepscope::dip::degrade::bicubic(
                    &zeros(&[1, 4, 4]),
                    1 << 40,
                    4,
                ))
            }),
        ),
        (
            "Prior::run: a task whose observation was replaced by one of another size",
            "the task's observation: expected [3, 16, 16] (what its operator makes of a [3, 16, 16] output), got [3, 9, 9]",
            Box::new(|| {
                let mut task = deepscope::dip::Task::denoise(&zeros(&[3, 16, 16])).unwrap();
                task.observation = zeros(&[3, 9, 9]);
                let prior = deepscope::dip::Prior::new(deepscope::dip::SkipConfig::cpu())
                    .progress(deepscope::train::ProgressMode::Silent);
                ok(prior.run(&task))
            }),
        ),
        (
            "Task::validate: a mask of another size set after Task::inpaint",
            "the task's operator does not take a [3, 16, 16] output",
            Box::new(|| {
                let mut task =
                    deepscope::dip::Task::inpaint(&zeros(&[3, 16, 16]), &zeros(&[1, 16, 16]))
                        .unwrap();
                task.operator = deepscope::dip::Operator::Mask(zeros(&[1, 9, 9]));
                ok(task.validate())
            }),
        ),
        (
            "Prior::input_code: a negative size",
            "the input code is for an output of 1 to 8192 pixels a side, got -1x4",
            Box::new(|| {
                let prior = deepscope::dip::Prior::new(deepscope::dip::SkipConfig::cpu());
                ok(prior.input_code(-1, 4))
            }),
        ),
        (
            "Split::new: a negative label",
            "labels are class indices 0, 1, ...; got -1",
            Box::new(|| {
                ok(Split::new(
                    zeros(&[1, 1, 2, 2]),
                    Tensor::from_slice(&[-1i64]),
                ))
            }),
        ),
        (
            "Split::empty: a negative size",
            "an empty split still has an image shape [C, H, W] of positive sizes, got [-1, 2, 2]",
            Box::new(|| ok(Split::empty(-1, 2, 2))),
        ),
        (
            "Split::class_counts: a label beyond the classes",
            "label 1 is beyond the 1 classes 0..1",
            Box::new(move || ok(split().class_counts(1))),
        ),
        (
            "Dataset::new: an empty split of another image shape",
            "the train images' shape [3, 5, 5]",
            Box::new(move || {
                let empty = Split::empty(3, 5, 5).unwrap();
                ok(Dataset::new(
                    "t",
                    empty,
                    split(),
                    vec!["a".into(), "b".into()],
                ))
            }),
        ),
        (
            "ModelBuilder: two layers with one parameter path",
            "two layers store a tensor as 'p.weight': give each layer its own path",
            Box::new(|| {
                ok(ModelBuilder::new(&[1, 4, 4])
                    .flatten("f")
                    .linear("a", "p", 3)
                    .linear("b", "p", 3)
                    .build(Device::Cpu))
            }),
        ),
        (
            "ModelBuilder: a dropout probability of 2",
            "layer 'd': dropout probability must be in [0, 1), got 2",
            Box::new(|| {
                ok(ModelBuilder::new(&[1, 4, 4])
                    .dropout("d", 2.0)
                    .build(Device::Cpu))
            }),
        ),
        (
            "cross_entropy: one label for two rows",
            "labels [2] (one per image)",
            Box::new(|| {
                ok(train::cross_entropy(
                    &zeros(&[2, 3]),
                    &Tensor::from_slice(&[0i64]),
                ))
            }),
        ),
        (
            "cross_entropy: logits of one example without a batch",
            "[N, K] (one row of class scores per example)",
            Box::new(|| {
                ok(train::cross_entropy(
                    &zeros(&[3]),
                    &Tensor::from_slice(&[0i64]),
                ))
            }),
        ),
        (
            "distillation_loss: a temperature of 0",
            "the temperature must be finite and > 0, got 0",
            Box::new(|| {
                let z = zeros(&[2, 3]);
                ok(deepscope::distill::distillation_loss(
                    &z, &z, None, 0.0, 1.0,
                ))
            }),
        ),
        (
            "distillation_loss: alpha of 1.5",
            "must be in [0, 1], got 1.5",
            Box::new(|| {
                let z = zeros(&[2, 3]);
                ok(deepscope::distill::distillation_loss(
                    &z, &z, None, 2.0, 1.5,
                ))
            }),
        ),
        (
            "distillation_loss: soft targets of another shape",
            "the student logits' shape [B, K] = [2, 3]",
            Box::new(|| {
                ok(deepscope::distill::distillation_loss(
                    &zeros(&[2, 3]),
                    &zeros(&[2, 4]),
                    None,
                    2.0,
                    1.0,
                ))
            }),
        ),
        (
            "Teacher: an ensemble of no models",
            "a teacher needs at least one model, got none",
            Box::new(|| ok(deepscope::distill::Teacher::new(vec![]))),
        ),
        (
            "Distillation: a teacher with other classes than the student",
            "the student's output: expected [10], the teacher's classes",
            Box::new(move || {
                let mlp = |k: i64| {
                    zoo::mlp(&[1, 2, 2], &[4], k, zoo::Activation::Relu)
                        .build(Device::Cpu)
                        .unwrap()
                };
                let (mut teacher, mut student) = (mlp(10), mlp(2));
                let data = digits_like();
                let t = deepscope::distill::Teacher::new(vec![&mut teacher]).unwrap();
                let mut d = deepscope::distill::Distillation::new(&mut student, t, &data, 4.0);
                ok(train::fit_objective(
                    &mut d,
                    &FitConfig::new(1, 2, Optimizer::sgd(0.1)),
                    &mut [],
                ))
            }),
        ),
        (
            "shift_class_bias: a class the model does not have",
            "class 12 does not exist: the model has 10 classes (0..10)",
            Box::new(move || deepscope::distill::shift_class_bias(&mut lenet(), 12, 1.0)),
        ),
        (
            "confusable_groups: more groups than classes",
            "4 groups of 3 classes: ask for 1 to 3",
            Box::new(|| {
                let p = Tensor::full([5, 3], 1.0 / 3.0, (Kind::Float, Device::Cpu));
                ok(deepscope::distill::confusable_groups(&p, 4, 0))
            }),
        ),
        (
            "specialist_data: a class the dataset does not have",
            "class 7 is out of range (0..2) or repeated in the group [7]",
            Box::new(move || ok(deepscope::distill::specialist_data(&digits_like(), &[7], 0))),
        ),
        (
            "combine: a specialist without its dustbin column",
            "specialist 0's probabilities: expected [2, 3] (its classes, then the dustbin)",
            Box::new(|| {
                let g = Tensor::full([2, 3], 1.0 / 3.0, (Kind::Float, Device::Cpu));
                let s = Tensor::full([2, 2], 0.5, (Kind::Float, Device::Cpu));
                ok(deepscope::distill::combine(&g, &[(vec![0, 1], s)], 1))
            }),
        ),
        (
            "combine: generalist rows that are not distributions",
            "must be probabilities",
            Box::new(|| ok(deepscope::distill::combine(&zeros(&[2, 3]), &[], 1))),
        ),
        (
            "gradient_reversal: a NaN lambda",
            "lambda must be finite and >= 0, got NaN",
            Box::new(|| {
                ok(deepscope::adapt::gradient_reversal(
                    &zeros(&[2, 3]),
                    f64::NAN,
                ))
            }),
        ),
        (
            "gradient_reversal: a negative lambda",
            "lambda must be finite and >= 0, got -1",
            Box::new(|| ok(deepscope::adapt::gradient_reversal(&zeros(&[2, 3]), -1.0))),
        ),
        (
            "mk_mmd: one example of each domain",
            "needs at least 2 examples of each domain, got 1 source and 1 target",
            Box::new(|| {
                use deepscope::adapt::{mk_mmd, Bandwidth, MmdEstimator};
                let x = zeros(&[1, 3]);
                ok(mk_mmd(
                    &x,
                    &x,
                    5,
                    2.0,
                    Bandwidth::Median,
                    MmdEstimator::Quadratic,
                ))
            }),
        ),
        (
            "coral: features of dimension 0",
            "[B, D] with the source's D (source [4, 0]), D >= 1",
            Box::new(|| ok(deepscope::adapt::coral(&zeros(&[4, 0]), &zeros(&[4, 0])))),
        ),
        (
            "linear_mmd: source and target of other widths",
            "[B, D] with the source's D (source [4, 3]), D >= 1",
            Box::new(|| {
                ok(deepscope::adapt::linear_mmd(
                    &zeros(&[4, 3]),
                    &zeros(&[4, 5]),
                ))
            }),
        ),
        (
            "photo_crops: a crop larger than the photo",
            "photo 'astronaut': expected an RGB photo of at least 10000x10000 pixels",
            Box::new(|| {
                ok(deepscope::adapt::domains::photo_crops(
                    &["astronaut"],
                    1,
                    10000,
                    0,
                ))
            }),
        ),
        (
            "photo_crops: a gray photo",
            "photo 'camera': expected an RGB photo of at least 28x28 pixels",
            Box::new(|| {
                ok(deepscope::adapt::domains::photo_crops(
                    &["camera"],
                    1,
                    28,
                    0,
                ))
            }),
        ),
        (
            "Adaptation: source and target images of different shapes",
            "target images: expected the source images' shape [1, 2, 2], got [1, 3, 3]",
            Box::new(move || {
                use deepscope::adapt::{Adaptation, Method};
                let source = digits_like();
                let s3 =
                    Split::new(zeros(&[4, 1, 3, 3]), Tensor::from_slice(&[0i64, 1, 0, 1])).unwrap();
                let target =
                    Dataset::new("t3", s3.clone(), s3, vec!["a".into(), "b".into()]).unwrap();
                let mut f = zoo::mlp(&[1, 2, 2], &[], 3, zoo::Activation::Relu)
                    .build(Device::Cpu)
                    .unwrap();
                let mut c = zoo::mlp(&[3], &[], 2, zoo::Activation::Relu)
                    .build(Device::Cpu)
                    .unwrap();
                let mut a = Adaptation::new(&mut f, &mut c, &source, &target, Method::SourceOnly);
                ok(train::fit_objective(
                    &mut a,
                    &FitConfig::new(1, 2, Optimizer::sgd(0.1)),
                    &mut [],
                ))
            }),
        ),
        (
            "Adaptation: a target stream with fewer images than one batch",
            "data stream 1 has 4 examples, fewer than one batch of 8",
            Box::new(move || {
                use deepscope::adapt::{Adaptation, Method};
                let big = Split::new(
                    zeros(&[16, 1, 2, 2]),
                    Tensor::from_slice(&[0i64, 1].repeat(8)),
                )
                .unwrap();
                let source =
                    Dataset::new("s", big.clone(), big, vec!["a".into(), "b".into()]).unwrap();
                let target = digits_like();
                let mut f = zoo::mlp(&[1, 2, 2], &[], 3, zoo::Activation::Relu)
                    .build(Device::Cpu)
                    .unwrap();
                let mut c = zoo::mlp(&[3], &[], 2, zoo::Activation::Relu)
                    .build(Device::Cpu)
                    .unwrap();
                let mut a = Adaptation::new(
                    &mut f,
                    &mut c,
                    &source,
                    &target,
                    Method::Coral { weight: 1.0 },
                );
                ok(train::fit_objective(
                    &mut a,
                    &FitConfig::new(1, 8, Optimizer::sgd(0.1)),
                    &mut [],
                ))
            }),
        ),
        (
            "deep_embedded_validation: a weight per loss missing",
            "needs one weight per loss and at least 2 of each, got 3 losses and 2 weights",
            Box::new(|| {
                ok(deepscope::adapt::deep_embedded_validation(
                    &[1.0, 2.0, 3.0],
                    &[1.0, 1.0],
                ))
            }),
        ),
        (
            "proxy_a_distance: too few examples",
            "[N, D] with at least 4 rows and 1 feature",
            Box::new(|| {
                ok(deepscope::adapt::proxy_a_distance(
                    &zeros(&[2, 3]),
                    &zeros(&[8, 3]),
                ))
            }),
        ),
        (
            "Randomization: a corruption probability of 1.5",
            "the corruption probability must be in [0, 1], got 1.5",
            Box::new(move || {
                ok(deepscope::generalization::Randomization::CorruptLabels(1.5)
                    .apply(&digits_like(), 0))
            }),
        ),
        (
            "changed_fraction: labels of different lengths",
            "labels: expected the original's shape [1], got [2]",
            Box::new(|| {
                ok(deepscope::generalization::changed_fraction(
                    &Tensor::from_slice(&[0i64, 1]),
                    &Tensor::from_slice(&[0i64]),
                ))
            }),
        ),
        (
            "mutual_information: one label for four rows",
            "labels: expected [4], got [1]",
            Box::new(|| {
                use deepscope::info_plane::{mutual_information, Binning};
                let bins = Binning::Fixed {
                    lo: -1.0,
                    hi: 1.0,
                    bins: 30,
                };
                ok(mutual_information(
                    &zeros(&[4, 2]),
                    &Tensor::from_slice(&[0i64]),
                    bins,
                ))
            }),
        ),
        (
            "mutual_information: no bins",
            "binning needs 1 to 2^20 bins, got 0",
            Box::new(|| {
                use deepscope::info_plane::{mutual_information, Binning};
                let bins = Binning::Fixed {
                    lo: -1.0,
                    hi: 1.0,
                    bins: 0,
                };
                ok(mutual_information(
                    &zeros(&[4, 2]),
                    &Tensor::from_slice(&[0i64, 1, 0, 1]),
                    bins,
                ))
            }),
        ),
        (
            "mutual_information: bins whose edges are reversed",
            "bins need finite edges with hi > lo, got [1, -1]",
            Box::new(|| {
                use deepscope::info_plane::{mutual_information, Binning};
                let bins = Binning::Fixed {
                    lo: 1.0,
                    hi: -1.0,
                    bins: 3,
                };
                ok(mutual_information(
                    &zeros(&[4, 2]),
                    &Tensor::from_slice(&[0i64, 1, 0, 1]),
                    bins,
                ))
            }),
        ),
        (
            "mutual_information: NaN activations",
            "activations contain NaN or infinite values",
            Box::new(|| {
                use deepscope::info_plane::{mutual_information, Binning};
                let a = zeros(&[4, 2]);
                let _ = a.get(0).fill_(f64::NAN);
                let bins = Binning::Fixed {
                    lo: -1.0,
                    hi: 1.0,
                    bins: 3,
                };
                ok(mutual_information(
                    &a,
                    &Tensor::from_slice(&[0i64, 1, 0, 1]),
                    bins,
                ))
            }),
        ),
        (
            "info_plane::dataset: a test fraction of 2",
            "test fraction must be in [0, 1), got 2",
            Box::new(|| ok(deepscope::info_plane::dataset(2.0, 0))),
        ),
        (
            "InfoPlane::mean: no runs",
            "no runs to average",
            Box::new(|| ok(deepscope::info_plane::InfoPlane::mean(&[]))),
        ),
        (
            "zoo::mlp: a hidden layer of width 0",
            "layer 'fc1': sizes must be positive, got 0",
            Box::new(|| {
                ok(zoo::mlp(&[1, 8, 8], &[0], 10, zoo::Activation::Relu).build(Device::Cpu))
            }),
        ),
        (
            "weights::save: a file name without .safetensors",
            "weights are saved as .safetensors",
            Box::new(move || {
                let m = zoo::lenet5(10).build(Device::Cpu).unwrap();
                weights::save(&m, d2.join("weights.bin"))
            }),
        ),
        (
            "weights::load: a file of another architecture",
            "weights do not fit the model: missing from the file: layers.0.weight",
            Box::new(move || {
                let m = zoo::lenet5(10).build(Device::Cpu).unwrap();
                let path = d3.join("lenet.safetensors");
                weights::save(&m, &path).unwrap();
                let mut other = zoo::mlp(&[1, 28, 28], &[4], 10, zoo::Activation::Relu)
                    .build(Device::Cpu)
                    .unwrap();
                weights::load(&mut other, &path)
            }),
        ),
        // Figures: each refuses what it cannot draw before plotters sees it.
        (
            "Histogram: 0 bins",
            "a histogram needs at least one bin",
            Box::new(|| ok(to_png(&Histogram::new().data("a", &[1.0, 2.0]).bins(0)))),
        ),
        (
            "Histogram: a reversed range",
            "histogram range 3..1 is empty",
            Box::new(|| ok(to_png(&Histogram::new().data("a", &[1.0, 2.0]).range(3.0, 1.0)))),
        ),
        (
            "Histogram: no values",
            "a histogram needs finite values",
            Box::new(|| ok(to_png(&Histogram::new().data("a", &[])))),
        ),
        (
            "BarChart: fewer values than categories",
            "bar series 'x' has 1 values for 2 categories",
            Box::new(|| ok(to_png(&BarChart::new(&["a", "b"]).series("x", &[1.0])))),
        ),
        (
            "Panels: no figures",
            "Panels needs at least one figure",
            Box::new(|| ok(Panels::<LinePlot>::new(vec![]))),
        ),
        (
            "Panels: 0 columns",
            "Panels::columns needs at least 1 column",
            Box::new(|| ok(Panels::new(vec![LinePlot::new().values("a", &[1.0])])?.columns(0))),
        ),
        (
            "LinePlot: a log axis over values <= 0",
            "no positive finite values for a log axis",
            Box::new(|| ok(to_png(&LinePlot::new().values("a", &[0.0, -1.0]).log_y()))),
        ),
        (
            "LinePlot: no points",
            "a line plot needs at least one point",
            Box::new(|| ok(to_png(&LinePlot::new()))),
        ),
        (
            "LinePlot: a size of 0 pixels",
            "figure size 0x10 px is outside 1..=16384",
            Box::new(|| ok(to_png(&LinePlot::new().values("a", &[1.0]).size(0, 10)))),
        ),
        (
            "Heatmap: no rows",
            "a grid plot needs at least one row and one column",
            Box::new(|| ok(to_png(&Heatmap::new(vec![])))),
        ),
        (
            "Heatmap: 3 row labels for 1 row",
            "3 row labels for 1 rows",
            Box::new(|| {
                ok(to_png(
                    &Heatmap::new(vec![vec![1.0, 2.0]]).labels(&["a", "b", "c"], &["x", "y"]),
                ))
            }),
        ),
        (
            "Heatmap: a reversed colour range",
            "colour range 2..1 is empty",
            Box::new(|| ok(to_png(&Heatmap::new(vec![vec![1.0, 2.0]]).range(2.0, 1.0)))),
        ),
        (
            "Heatmap::from_tensor: rank 3",
            "expected a 2-D tensor [rows, cols], got [2, 2, 2]",
            Box::new(|| ok(Heatmap::from_tensor(&zeros(&[2, 2, 2])))),
        ),
        (
            "Heatmap: a class index beyond the categories",
            "holds class indices 0..2, found 5",
            Box::new(|| {
                ok(to_png(&Heatmap::new(vec![vec![0.0, 5.0]]).categories(&["a", "b"])))
            }),
        ),
        (
            "Contour: a 1x1 grid",
            "contours need a grid of at least 2x2 values",
            Box::new(|| ok(to_png(&Contour::new(vec![vec![1.0]], 0.0, 1.0, 0.0, 1.0)))),
        ),
        (
            "Contour: ragged rows",
            "grid row 1 has 1 values, row 0 has 2",
            Box::new(|| {
                ok(to_png(&Contour::new(vec![vec![1.0, 2.0], vec![1.0]], 0.0, 1.0, 0.0, 1.0)))
            }),
        ),
        (
            "Contour: a reversed extent",
            "contour extent 1..0 x 0..1 is empty",
            Box::new(|| ok(to_png(&Contour::new(square(), 1.0, 0.0, 0.0, 1.0)))),
        ),
        (
            "Contour: level_count 0",
            "a contour plot needs at least 1 level",
            Box::new(|| ok(to_png(&Contour::new(square(), 0.0, 1.0, 0.0, 1.0).level_count(0)))),
        ),
        (
            "Contour: a NaN level",
            "contour levels must be finite, got NaN",
            Box::new(|| {
                ok(to_png(&Contour::new(square(), 0.0, 1.0, 0.0, 1.0).levels(&[f64::NAN])))
            }),
        ),
        (
            "Surface3d: ragged rows",
            "a surface needs a rectangular grid of at least 2x2 values",
            Box::new(|| {
                ok(to_png(&Surface3d::new(vec![vec![1.0, 2.0], vec![1.0]], 0.0, 1.0, 0.0, 1.0)))
            }),
        ),
        (
            "Scatter: no points",
            "nothing to plot: no finite values",
            Box::new(|| ok(to_png(&Scatter::new(vec![])))),
        ),
        (
            "ImageGrid: rank 5",
            "expected a batch of images [N, C, H, W], got [1, 1, 1, 2, 2]",
            Box::new(|| ok(ImageGrid::new(&zeros(&[1, 1, 1, 2, 2])))),
        ),
        (
            "ImageGrid: no images",
            "an image grid needs at least one image",
            Box::new(|| ok(ImageGrid::new(&zeros(&[0, 1, 2, 2])))),
        ),
        (
            "ImageGrid: integer pixels",
            "expected a floating-point tensor (e.g. Float), got Int64",
            Box::new(|| ok(ImageGrid::new(&Tensor::zeros([1, 2, 2], (Kind::Int64, Device::Cpu))))),
        ),
        // Domain adaptation.
        (
            "dann_lambda: progress 2",
            "the training progress p is a fraction in [0, 1], got 2",
            Box::new(|| ok(adapt::dann_lambda(2.0))),
        ),
        (
            "dann_lr_factor: progress -1",
            "the training progress p is a fraction in [0, 1], got -1",
            Box::new(|| ok(adapt::dann_lr_factor(-1.0))),
        ),
        (
            "blend: more crops than images",
            "crops: expected [2, 3, 4, 4] for gray images [2, 1, 4, 4], got [3, 3, 4, 4]",
            Box::new(|| ok(adapt::domains::blend(&zeros(&[2, 1, 4, 4]), &zeros(&[3, 3, 4, 4])))),
        ),
        (
            "difference_loss: codes of different batch sizes",
            "private features: expected [B, D] with the shared features' B (shared [2, 3]), got [3, 3]",
            Box::new(|| ok(adapt::difference_loss(&zeros(&[2, 3]), &zeros(&[3, 3])))),
        ),
        (
            "scale_invariant_mse: reconstructions of another size",
            "reconstructions: expected the images' shape [2, 1, 4, 4]",
            Box::new(|| {
                ok(adapt::scale_invariant_mse(&zeros(&[2, 1, 4, 4]), &zeros(&[2, 1, 4, 5])))
            }),
        ),
        (
            "adda_target_loss: logits without the two domain columns",
            "discriminator logits: expected [B, 2] (source, target), got [4]",
            Box::new(|| ok(adapt::adda_target_loss(&zeros(&[4])))),
        ),
        (
            "coral: one example per domain",
            "this loss needs at least 2 examples of each domain, got 1 source and 1 target",
            Box::new(|| ok(adapt::coral(&zeros(&[1, 3]), &zeros(&[1, 3])))),
        ),
        (
            "deep_embedded_validation: no losses",
            "needs one weight per loss and at least 2 of each, got 0 losses and 0 weights",
            Box::new(|| ok(adapt::selection::deep_embedded_validation(&[], &[]))),
        ),
        (
            "Selection::choose: no candidates",
            "there are no candidates to choose from",
            Box::new(|| ok(adapt::Selection::SourceValidation.choose(&[]))),
        ),
        (
            "Selection::choose: a NaN score",
            "a candidate has a non-finite score",
            Box::new(|| {
                let c = adapt::Candidate { epoch: 1, source_accuracy: 0.5, dev_risk: f64::NAN, target_accuracy: 0.5 };
                ok(adapt::Selection::Dev.choose(&[c]))
            }),
        ),
        (
            "score_candidate: a sample of 2 images per domain",
            "scoring needs a sample of at least 4 images per domain",
            Box::new(|| {
                let d = Dataset::new("d", tiny_split(), tiny_split(), vec!["a".into(), "b".into()])?;
                let (mut f, mut c) = (tiny_mlp(), zoo::mlp(&[2], &[], 2, zoo::Activation::Relu).build(Device::Cpu)?);
                let nets = adapt::CandidateNets { source_encoder: &mut f, target_encoder: None, classifier: &mut c };
                ok(adapt::score_candidate(1, nets, &d, &d, 2))
            }),
        ),
        (
            "WeightSnapshot::restore: a network the run did not train",
            "the snapshot of epoch 3 has no network 'encoder'; it has features",
            Box::new(|| {
                let snap = deepscope::train::WeightSnapshot { epoch: 3, tensors: vec![("features/layers.0.weight".into(), zeros(&[3, 4]))] };
                snap.restore("encoder", &mut tiny_mlp())
            }),
        ),
        (
            "spearman: lists of different lengths",
            "a rank correlation needs two equally long lists of at least 2 values, got 3 and 2",
            Box::new(|| ok(deepscope::stats::spearman(&[1.0, 2.0, 3.0], &[1.0, 2.0]))),
        ),
        (
            "spearman: one side all equal",
            "needs values that are not all equal on each side",
            Box::new(|| ok(deepscope::stats::spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]))),
        ),
        (
            "domain_discriminator: features of width 0",
            "model input shape must be positive sizes",
            Box::new(|| ok(adapt::domain_discriminator(0, 4, 1).build(Device::Cpu))),
        ),
        // Distillation.
        (
            "Teacher::cache: batch size 0",
            "the batch size must be at least 1",
            Box::new(move || {
                let mut m = tiny_mlp();
                let t = distill::Teacher::new(vec![&mut m])?;
                ok(t.cache(&tiny_split(), 0))
            }),
        ),
        (
            "Teacher::soft_targets: images of another size",
            "input: expected a batch [N, 1, 2, 2], got [2, 1, 3, 3]",
            Box::new(|| {
                let mut m = tiny_mlp();
                let t = distill::Teacher::new(vec![&mut m])?;
                ok(t.soft_targets(&zeros(&[2, 1, 3, 3]), 1.0))
            }),
        ),
        (
            "Teacher::soft_targets: a NaN temperature",
            "the temperature must be finite and > 0, got NaN",
            Box::new(|| {
                let mut m = tiny_mlp();
                let t = distill::Teacher::new(vec![&mut m])?;
                ok(t.soft_targets(&zeros(&[2, 1, 2, 2]), f64::NAN))
            }),
        ),
        (
            "bias_shift_for_share: a share of 1.5",
            "the share of predictions is a fraction in [0, 1], got 1.5",
            Box::new(|| {
                ok(distill::bias_shift_for_share(&mut tiny_mlp(), &tiny_split(), 0, 1.5, 10))
            }),
        ),
        (
            "shift_class_bias: an infinite shift",
            "the bias shift must be finite, got inf",
            Box::new(|| distill::shift_class_bias(&mut tiny_mlp(), 0, f64::INFINITY)),
        ),
        (
            "combine: top_n 0",
            "top_n picks 1 to 3 of the generalist's classes, got 0",
            Box::new(|| ok(distill::combine(&uniform(2, 3), &[], 0))),
        ),
        (
            "combine: a group with a class the generalist lacks",
            "specialist 0's group [0, 7] must hold classes of 0..3",
            Box::new(|| ok(distill::combine(&uniform(2, 3), &[(vec![0, 7], uniform(2, 3))], 1))),
        ),
        (
            "confusable_groups: NaN probabilities",
            "probabilities holds NaN or infinite values",
            Box::new(|| {
                let p = Tensor::full([3, 3], f64::NAN, (Kind::Float, Device::Cpu));
                ok(distill::confusable_groups(&p, 2, 0))
            }),
        ),
        (
            "update_batch_norm: batch size 0",
            "got 2 images and batch size 0",
            Box::new(|| ok(train::update_batch_norm(&mut tiny_mlp(), &tiny_split(), 0))),
        ),
        (
            "update_batch_norm: no images",
            "got 0 images",
            Box::new(|| {
                let empty = Split::new(zeros(&[0, 1, 2, 2]), Tensor::zeros([0], (Kind::Int64, Device::Cpu)))?;
                ok(train::update_batch_norm(&mut tiny_mlp(), &empty, 8))
            }),
        ),
        (
            "interpolate: BatchStats::Recomputed from no images",
            "needs images to estimate the statistics from",
            Box::new(|| {
                let mut net = tiny_mlp();
                let w = Weights::of(&net);
                let empty = Split::new(zeros(&[0, 1, 2, 2]), Tensor::zeros([0], (Kind::Int64, Device::Cpu)))?;
                let sets = [("train", &tiny_split())];
                ok(deepscope::surface::interpolate(&mut net, &w, &w, &[0.5], &sets, deepscope::surface::BatchStats::Recomputed(&empty), 2))
            }),
        ),
        // Each of these three ran forever (an infinite or NaN range sent
        // the tick search into an endless loop) before it was refused.
        (
            "LinePlot: values whose span overflows a float",
            "span more than a float can hold",
            Box::new(|| {
                ok(to_png(&LinePlot::new().line("a", vec![(0.0, -1e308), (1.0, 1e308)])))
            }),
        ),
        (
            "Scatter::color_by: no colour value is a number",
            "none is a number",
            Box::new(|| {
                ok(to_png(&Scatter::new(vec![(0.0, 1.0), (1.0, 2.0)]).color_by(
                    &[f64::NAN, f64::NAN],
                    deepscope::plot::Colormap::Viridis,
                    "v",
                )))
            }),
        ),
        (
            "Heatmap::image_extent: a NaN end",
            "each axis needs two different finite ends",
            Box::new(|| {
                ok(to_png(&Heatmap::new(vec![vec![1.0, 2.0]]).image_extent(f64::NAN, 1.0, 0.0, 1.0)))
            }),
        ),
        // Loss surfaces and Hessians.
        (
            "LossGrid::new: an empty axis",
            "a grid needs at least one coefficient on each axis",
            Box::new(|| ok(deepscope::surface::LossGrid::new("t", vec![], vec![0.0]))),
        ),
        (
            "LossGrid::merge: no grids",
            "no grids to merge",
            Box::new(|| ok(deepscope::surface::LossGrid::merge(&[]))),
        ),
        (
            "Weights::unflatten_like: a vector of another length",
            "flat vector: expected [23], got [5]",
            Box::new(|| ok(Weights::of(&tiny_mlp()).unflatten_like(&zeros(&[5])))),
        ),
        (
            "Weights::lerp: a NaN coefficient",
            "a step along a direction needs a finite coefficient, got NaN",
            Box::new(|| {
                let w = Weights::of(&tiny_mlp());
                ok(Weights::lerp(&w, &w, f64::NAN, false))
            }),
        ),
        (
            "hvp: a vector of another length",
            "vector: expected [23] (the trainable parameters), got [3]",
            Box::new(|| {
                ok(hessian::hvp(&tiny_mlp(), &zeros(&[2, 1, 2, 2]), &two_labels(), &zeros(&[3])))
            }),
        ),
        (
            "hessian: a label beyond the model's classes",
            "labels range over 0..=5, but the model gives 2 logits per example",
            Box::new(|| {
                let y = Tensor::from_slice(&[0i64, 5]);
                ok(hessian::hessian(&tiny_mlp(), &zeros(&[2, 1, 2, 2]), &y))
            }),
        ),
        (
            "hessian: images of another size",
            "input: expected a batch [N, 1, 2, 2], got [2, 1, 3, 3]",
            Box::new(|| ok(hessian::hessian(&tiny_mlp(), &zeros(&[2, 1, 3, 3]), &two_labels()))),
        ),
        (
            "lanczos: 0 steps",
            "Lanczos needs 1 to 23 steps (the parameter count), got 0",
            Box::new(|| {
                ok(hessian::lanczos(&tiny_mlp(), &zeros(&[2, 1, 2, 2]), &two_labels(), 0, 0))
            }),
        ),
        (
            "seek_critical_point: a NaN learning rate",
            "learning rate must be finite and >= 0, got NaN",
            Box::new(|| {
                let x = zeros(&[2, 1, 2, 2]);
                ok(hessian::seek_critical_point(&mut tiny_mlp(), &x, &two_labels(), 2, f64::NAN))
            }),
        ),
        (
            "refine_critical_point: a NaN tolerance",
            "needs a finite tolerance > 0, got NaN",
            Box::new(|| {
                let x = zeros(&[2, 1, 2, 2]);
                ok(hessian::refine_critical_point(&mut tiny_mlp(), &x, &two_labels(), 2, f64::NAN))
            }),
        ),
        // Data, training.
        (
            "Jitter: a shift as large as the image",
            "Jitter max_shift 100 would shift 4x4 images out of their frame",
            Box::new(|| {
                ok(Jitter { max_shift: 100 }.apply(&zeros(&[1, 1, 4, 4]), &mut seeded(0)))
            }),
        ),
        (
            "Normalize::fit: no images",
            "a mean and standard deviation per channel need at least 2 values, got 0 images",
            Box::new(|| ok(Normalize::fit(&zeros(&[0, 1, 2, 2])))),
        ),
        (
            "Split::select: an index beyond the split",
            "index 5 out of range for a split of 2 examples",
            Box::new(|| ok(tiny_split().select(&[5]))),
        ),
        (
            "Model::layer: unknown name",
            "no layer named 'nope'; this model has: conv1",
            Box::new(|| ok(zoo::lenet5(10).build(Device::Cpu)?.layer("nope").map(|_| ()))),
        ),
        (
            "evaluate: batch size 0",
            "batch size must be at least 1",
            Box::new(|| ok(train::evaluate(&mut tiny_mlp(), &tiny_split(), 0))),
        ),
        (
            "fit: 0 epochs",
            "fit needs at least one epoch and a batch size of at least 1, got 0 epochs of 2",
            Box::new(|| {
                let d = Dataset::new("t", tiny_split(), tiny_split(), vec!["a".into(), "b".into()])?;
                let mut c = FitConfig::new(0, 2, Optimizer::adam(1e-3));
                c.progress = ProgressMode::Silent;
                ok(train::fit(&mut tiny_mlp(), &d, &c))
            }),
        ),
        (
            "fit: a snapshot after an epoch the run does not have",
            "snapshot epochs count from 1 to the run's 1 epochs, got 5",
            Box::new(|| {
                let d = Dataset::new("t", tiny_split(), tiny_split(), vec!["a".into(), "b".into()])?;
                let mut c = FitConfig::new(1, 2, Optimizer::adam(1e-3));
                c.progress = ProgressMode::Silent;
                c.snapshot_epochs = vec![1, 5];
                ok(train::fit(&mut tiny_mlp(), &d, &c))
            }),
        ),
        (
            "Newton::minimize: a CG tolerance of 1.5",
            "the CG one below 1",
            Box::new(|| {
                let tr = train::Newton {
                    cg_tolerance: 1.5,
                    ..train::Newton::default()
                };
                ok(tr.minimize(&zeros(&[3]).to_kind(Kind::Double), &mut Bowl { extra: 0 }))
            }),
        ),
        (
            "Newton::minimize: a preconditioner mix of 2",
            "the preconditioner mix is a weight in [0, 1], got 2",
            Box::new(|| {
                let tr = train::Newton {
                    preconditioner_mix: 2.0,
                    ..train::Newton::default()
                };
                ok(tr.minimize(&zeros(&[3]).to_kind(Kind::Double), &mut Bowl { extra: 0 }))
            }),
        ),
        (
            "Newton::minimize: a matrix as the starting point",
            "a non-empty vector [P]",
            Box::new(|| ok(train::Newton::default().minimize(&zeros(&[2, 2]), &mut Bowl { extra: 0 }))),
        ),
        (
            "Newton::minimize: a gradient of another shape",
            "gradient: expected the point's shape [3]",
            Box::new(|| ok(train::Newton::default().minimize(&zeros(&[3]), &mut Bowl { extra: 1 }))),
        ),
        (
            "RunFolder::new: a file where the folder goes",
            "File exists",
            Box::new(move || ok(train::RunFolder::new(&junk_file))),
        ),
        (
            "RunFolder::run: a key that is a path",
            "run key \"../elsewhere\": expected 1 to 200 letters",
            Box::new(move || {
                let runs = train::RunFolder::new(runs_dir.join("a"))?;
                runs.run("../elsewhere", "s", |_| Ok(1.0f64))?;
                Ok(())
            }),
        ),
        (
            "RunFolder::run: a finished run asked under other settings",
            "finished with the settings \"5 epochs\", not \"6 epochs\"",
            Box::new(move || {
                let runs = train::RunFolder::new(runs_dir2.join("b"))?;
                runs.run("baseB-r0", "5 epochs", |_| Ok(0.9f64))?;
                runs.run("baseB-r0", "6 epochs", |_| Ok(0.9f64))?;
                Ok(())
            }),
        ),
        (
            "RunFolder::finished: a result of another kind",
            "not the result of a run of this kind",
            Box::new(move || {
                let runs = train::RunFolder::new(runs_dir3.join("c"))?;
                runs.run("k", "s", |_| Ok(0.9f64))?;
                ok(runs.finished::<Vec<String>>("k", "s"))
            }),
        ),
        (
            "conv backward: dL/dy of the wrong shape",
            "the convolution's output for this input and kernel",
            Box::new(|| {
                let c = Convolution::default().stride(2);
                ok(c.kernel_gradient(&zeros(&[2, 3, 9, 9]), &zeros(&[2, 4, 5, 5]), [3, 3]))
            }),
        ),
        (
            "conv backward: dL/dy batch differs from the input's",
            "[2, 4, 4, 4]",
            Box::new(|| {
                let c = Convolution::default().stride(2);
                ok(c.kernel_gradient(&zeros(&[2, 3, 9, 9]), &zeros(&[3, 4, 4, 4]), [3, 3]))
            }),
        ),
        (
            "conv backward: input gradient with dL/dy of the wrong size",
            "the convolution's output",
            Box::new(|| {
                let c = Convolution::default().padding(1);
                ok(c.input_gradient(&zeros(&[1, 4, 7, 7]), &zeros(&[4, 3, 3, 3]), [8, 8]))
            }),
        ),
        (
            "conv backward: kernel larger than the padded input",
            "more than the padded input's 6",
            Box::new(|| {
                let c = Convolution::default().padding(1);
                ok(c.kernel_gradient(&zeros(&[1, 3, 4, 4]), &zeros(&[1, 2, 1, 1]), [7, 7]))
            }),
        ),
        (
            "conv backward: groups that do not divide the channels",
            "groups must divide both channel counts",
            Box::new(|| {
                let c = Convolution::default().groups(2);
                ok(c.input_gradient(&zeros(&[1, 3, 5, 5]), &zeros(&[3, 2, 3, 3]), [7, 7]))
            }),
        ),
        (
            "conv backward: kernel channels do not match the input",
            "the input's 4 channels over 2 groups",
            Box::new(|| {
                let c = Convolution::default().groups(2);
                ok(c.forward(&zeros(&[1, 4, 5, 5]), &zeros(&[2, 4, 3, 3])))
            }),
        ),
        (
            "conv backward: stride 0",
            "stride >= 1",
            Box::new(|| ok(Convolution::default().stride(0).output_size([5, 5], [3, 3]))),
        ),
        (
            "conv backward: integer input",
            "floating-point",
            Box::new(|| {
                let x = Tensor::zeros([1, 1, 5, 5], (Kind::Int64, Device::Cpu));
                ok(Convolution::default().kernel_gradient(&x, &zeros(&[1, 1, 3, 3]), [3, 3]))
            }),
        ),
        (
            "conv backward: kernel of another precision",
            "Double on Cpu",
            Box::new(|| {
                let k = Tensor::zeros([2, 1, 3, 3], (Kind::Double, Device::Cpu));
                ok(Convolution::default().forward(&zeros(&[1, 1, 5, 5]), &k))
            }),
        ),
        (
            "summary: an input of the wrong rank",
            "3 positive sizes without the batch dimension",
            Box::new(|| {
                let net = zoo::lenet5(10).build(Device::Cpu)?;
                ok(net.summary_for(&[28, 28]))
            }),
        ),
        (
            "summary: an input of the wrong channel count",
            "1 channels, as the model was built for",
            Box::new(|| {
                let net = zoo::lenet5(10).build(Device::Cpu)?;
                ok(net.summary_for(&[3, 28, 28]))
            }),
        ),
        (
            "summary: an input too small for the stack",
            "layer 'conv2' (conv) cannot take [6, 1, 1]",
            Box::new(|| {
                let net = zoo::lenet5(10).build(Device::Cpu)?;
                ok(net.summary_for(&[1, 2, 2]))
            }),
        ),
        (
            "summary: an input whose flattened size the fc layer cannot take",
            "takes [400] features",
            Box::new(|| {
                let net = zoo::lenet5(10).build(Device::Cpu)?;
                ok(net.summary_for(&[1, 32, 32]))
            }),
        ),
        (
            "effective field: a layer without a map",
            "not a map [C, H, W]",
            Box::new(|| {
                let net = zoo::lenet5(10).build(Device::Cpu)?;
                ok(EffectiveField::measure(&net, "fc3", &zeros(&[2, 1, 28, 28])))
            }),
        ),
        (
            "effective field: inputs of the wrong shape",
            "a batch [N, 1, 28, 28]",
            Box::new(|| {
                let net = zoo::lenet5(10).build(Device::Cpu)?;
                ok(EffectiveField::measure(&net, "conv2", &zeros(&[2, 1, 32, 32])))
            }),
        ),
        (
            "effective field: NaN inputs",
            "NaN or infinite",
            Box::new(|| {
                let net = zoo::lenet5(10).build(Device::Cpu)?;
                let x = zeros(&[1, 1, 28, 28]).fill_(f64::NAN);
                ok(EffectiveField::measure(&net, "conv2", &x))
            }),
        ),
        (
            "effective field: a share above 1",
            "the share of the mass must be in (0, 1]",
            Box::new(|| {
                let net = zoo::lenet5(10).build(Device::Cpu)?;
                let erf = EffectiveField::measure(&net, "conv2", &zeros(&[1, 1, 28, 28]))?;
                ok(erf.side_holding(1.5))
            }),
        ),
        (
            "batch norm: eps 0",
            "batch norm needs a finite eps > 0",
            Box::new(|| {
                ok(ModelBuilder::new(&[1, 4, 4])
                    .batch_norm_eps("bn", "bn", 0.0)
                    .build(Device::Cpu))
            }),
        ),
        (
            "study: no kind",
            "no \"kind\": expected \"surface\" or \"sweep\"",
            Box::new(move || ok(Study::from_json(serde_json::json!({"name": "x"}), &study_file))),
        ),
        (
            "study: a kind that does not exist",
            "not a study's settings: unknown variant `grid`",
            Box::new(move || {
                ok(Study::from_json(serde_json::json!({"kind": "grid", "name": "x"}), &study_file2))
            }),
        ),
        (
            "study: a sweep with two runs of one key",
            "two runs are keyed 'a'",
            Box::new(move || {
                let run = serde_json::json!({"key": "a", "data": {"dataset": "digits"}, "model": {"name": "lenet5"}, "train": {"epochs": 1, "batch": 1, "lr": 0.1}});
                ok(Study::from_json(serde_json::json!({"kind": "sweep", "name": "x", "runs": [run.clone(), run]}), &study_file3))
            }),
        ),
        (
            "study: an axis without points",
            "expected finite ends and at least one step",
            Box::new(move || {
                let axis = |n: usize| serde_json::json!({"from": -1, "to": 1, "count": n});
                ok(Study::from_json(serde_json::json!({"kind": "surface", "name": "x", "model": {"name": "lenet5"}, "data": {"dataset": "digits"}, "directions": {"seeds": [1, 2]}, "x": axis(3), "y": axis(0)}), &study_file4))
            }),
        ),
        (
            "study: shard beyond the count",
            "shard 4 of 4: expected 0 <= shard < of",
            Box::new(|| ok(deepscope::jobs::shard_range(10, 4, 4))),
        ),
        (
            "study: settings file missing",
            "no-such-study.json",
            Box::new(move || ok(Study::load(study_dir.join("no-such-study.json")))),
        ),
        (
            "pretrained: unknown name",
            "no pretrained model 'vgg-imagenet'",
            Box::new(|| ok(zoo::pretrained_on("vgg-imagenet", Device::Cpu))),
        ),
    ]
}

#[test]
fn a_permuted_image_draws_as_its_contiguous_copy_does() {
    let hwc = Tensor::rand([8, 6, 3], (Kind::Float, Device::Cpu));
    let chw = hwc.permute([2, 0, 1]);
    assert!(!chw.is_contiguous());
    let png = |t: &Tensor| to_png(&ImageGrid::new(t).unwrap()).unwrap();
    assert_eq!(png(&chw), png(&chw.contiguous()));
}

#[test]
fn every_bad_input_is_an_error_that_says_what_was_wrong_and_none_panics() {
    let dir = tempfile::tempdir().unwrap();
    let table = cases(dir.path());
    assert!(table.len() >= 150, "{} cases", table.len());
    let mut failures = Vec::new();
    for (name, expected, call) in &table {
        match catch_unwind(AssertUnwindSafe(call)) {
            Err(_) => failures.push(format!("{name}: PANICKED")),
            Ok(Ok(())) => failures.push(format!("{name}: returned Ok")),
            Ok(Err(e)) if !e.to_string().contains(expected) => {
                failures.push(format!("{name}: message '{e}' does not say '{expected}'"))
            }
            Ok(Err(_)) => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
}
