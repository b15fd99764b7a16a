//! Transfer: features of a layer as asked (evaluation mode, batches,
//! pooling, L2 normalisation), and linear probes against scikit-learn: on
//! the same features, the logistic regression and linear SVM (by L-BFGS
//! and by trust-region Newton) reach test accuracy within 0.5 points
//! of `LogisticRegression` and `LinearSVC`, and an objective within 1e-4
//! (relative) of the objective of their solutions; cross-validation picks
//! `C` from the training split alone.

use deepscope::data::{self, Dataset, Split};
use deepscope::train::{Lbfgs, Newton, NewtonSteps};
use deepscope::transfer::{DualCoordinateDescent, LinearProbe, ProbeLoss, Solver};
use deepscope::weights;
use std::path::Path;
use tch::Kind;

const C_LOGISTIC: f64 = 1.0;
const C_SVM: f64 = 0.05;

fn flat(split: &Split) -> tch::Tensor {
    split.images().flatten(1, -1).to_kind(Kind::Double)
}

#[test]
fn logistic_regression_and_the_linear_svm_match_scikit_learn() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ds = data::digits().unwrap();
    let dir = tempfile::tempdir().unwrap();
    weights::write_safetensors(
        &[
            ("x_train".into(), flat(&ds.train)),
            ("y_train".into(), ds.train.labels().shallow_clone()),
            ("x_test".into(), flat(&ds.test)),
            ("y_test".into(), ds.test.labels().shallow_clone()),
        ],
        dir.path().join("features.safetensors"),
    )
    .unwrap();
    let status = std::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/python/probe_reference.py"))
        .arg(dir.path())
        .arg(C_LOGISTIC.to_string())
        .arg(C_SVM.to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("probe.json")).unwrap())
            .unwrap();

    let solvers = [
        Solver::Lbfgs(Lbfgs::default()),
        Solver::Newton(Newton::default()),
        Solver::Newton(Newton {
            steps: NewtonSteps::LineSearch,
            ..Newton::default()
        }),
    ];
    let probes = solvers.iter().flat_map(|solver| {
        [
            (LinearProbe::logistic().c(C_LOGISTIC), "logistic"),
            (LinearProbe::svm().c(C_SVM), "svm"),
        ]
        .map(|(p, name)| {
            (
                LinearProbe {
                    solver: solver.clone(),
                    ..p
                },
                name,
            )
        })
    });
    // The SVM's dual: the same minimum, reached from the other side.
    let dual = LinearProbe {
        solver: Solver::DualCoordinateDescent(DualCoordinateDescent::default()),
        ..LinearProbe::svm().c(C_SVM)
    };
    for (probe, name) in probes.chain([(dual, "svm")]) {
        let ours = probe.run(&ds).unwrap();
        let theirs = &reference[name];
        let (obj, acc) = (
            theirs["objective"].as_f64().unwrap(),
            theirs["accuracy"].as_f64().unwrap(),
        );
        let ours_obj = ours.objective.unwrap();
        let rel = (ours_obj - obj).abs() / obj.abs();
        eprintln!(
            "{name} by {:?}: objective {ours_obj:.6} against {obj:.6} ({rel:.1e}), accuracy {:.4} against {acc:.4}",
            probe.solver,
            ours.accuracy()
        );
        assert!(
            rel < 1e-4,
            "{name}: objective {ours_obj} against {obj} ({rel:e})"
        );
        assert!(
            (ours.accuracy() - acc).abs() <= 0.005,
            "{name}: accuracy {} against {acc}",
            ours.accuracy()
        );
        assert_eq!(ours.c, Some(if name == "svm" { C_SVM } else { C_LOGISTIC }));
        // Inside `tch::no_grad`, where features are extracted, the same fit
        // (it once crashed the process there: a backward without a graph).
        let inside = tch::no_grad(|| probe.run(&ds)).unwrap();
        assert_eq!(inside.objective, ours.objective);
    }
}

#[test]
fn cross_validation_chooses_c_on_the_training_split() {
    let ds = data::digits().unwrap();
    let grid = [1e-4, 1e-2, 1.0];
    let r = LinearProbe::logistic()
        .cross_validate(&grid, 3)
        .run(&ds)
        .unwrap();
    assert_eq!(r.loss, ProbeLoss::Logistic);
    assert_eq!(r.cross_validation.len(), 3);
    let best = r
        .cross_validation
        .iter()
        .cloned()
        .fold((0.0, -1.0), |b, (c, a)| if a > b.1 { (c, a) } else { b });
    assert_eq!(r.c, Some(best.0));
    // C = 1e-4 shrinks every weight to almost nothing: far worse than the
    // others, and never chosen.
    assert!(
        r.cross_validation[0].1 < r.cross_validation[2].1 - 0.1,
        "{:?}",
        r.cross_validation
    );
    assert!(r.accuracy() > 0.9, "{}", r.accuracy());

    // The test split plays no part: swapping it changes nothing chosen.
    let other = Dataset::new(
        "digits",
        ds.train.clone(),
        ds.train.clone(),
        ds.classes.clone(),
    )
    .unwrap();
    let again = LinearProbe::logistic()
        .cross_validate(&grid, 3)
        .run(&other)
        .unwrap();
    assert_eq!(again.cross_validation, r.cross_validation);
}

#[test]
fn features_are_the_layer_in_evaluation_mode_pooled_and_normalised_as_asked() {
    use deepscope::transfer::{Extractor, Features, Pooling};
    let fm = data::fashion_mnist().unwrap();
    let images = fm.test.images().narrow(0, 0, 30);
    let mut net = deepscope::zoo::zfnet(&deepscope::zoo::ZfNetConfig::default())
        .seed(4)
        .build(tch::Device::Cpu)
        .unwrap();
    let images = tch::Tensor::upsample_bilinear2d(&images, [64, 64], false, None, None);
    net.set_train(true);
    let reference = {
        net.set_train(false);
        let h = tch::no_grad(|| net.forward_to(&images, "relu5").unwrap());
        net.set_train(true);
        h
    };
    let max_diff = |a: &tch::Tensor, b: &tch::Tensor| (a - b).abs().max().double_value(&[]);
    let flat = Features::new(&mut net, "relu5")
        .unwrap()
        .batch_size(7)
        .of_images(&images)
        .unwrap();
    assert_eq!(
        max_diff(&flat, &reference.flatten(1, -1)),
        0.0,
        "batches of 7 in evaluation mode"
    );
    assert!(net.is_training(), "the model's mode is restored");
    let avg = Features::new(&mut net, "relu5")
        .unwrap()
        .pooling(Pooling::Average)
        .of_images(&images)
        .unwrap();
    assert!(
        max_diff(
            &avg,
            &reference.mean_dim([2i64, 3].as_slice(), false, Kind::Float)
        ) < 1e-6
    );
    let max = Features::new(&mut net, "relu5")
        .unwrap()
        .pooling(Pooling::Max)
        .of_images(&images)
        .unwrap();
    assert_eq!(
        max_diff(&max, &reference.amax([2i64, 3].as_slice(), false)),
        0.0
    );
    let unit = Features::new(&mut net, "relu5")
        .unwrap()
        .pooling(Pooling::Max)
        .l2_normalized()
        .of_images(&images)
        .unwrap();
    let norms = unit
        .square()
        .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
        .sqrt();
    assert!(max_diff(&norms, &norms.ones_like()) < 1e-5);
    assert!(
        max_diff(
            &(&unit
                * max
                    .square()
                    .sum_dim_intlist([1i64].as_slice(), true, Kind::Float)
                    .sqrt()),
            &max
        ) < 1e-4
    );
    // Razavian's "CNN aug": features averaged over views. Two views are
    // the image and its mirror; more views do not depend on the batch size.
    let two = Features::new(&mut net, "relu5")
        .unwrap()
        .pooling(Pooling::Average)
        .averaged_over_views(2, 2, 0)
        .of_images(&images)
        .unwrap();
    let mirrored = Features::new(&mut net, "relu5")
        .unwrap()
        .pooling(Pooling::Average)
        .of_images(&images.flip([3i64].as_slice()))
        .unwrap();
    assert!(max_diff(&two, &((&avg + &mirrored) / 2.0)) < 1e-6);
    let five = |batch: usize, seed: u64, net: &mut deepscope::model::Model| {
        Features::new(net, "relu5")
            .unwrap()
            .pooling(Pooling::Average)
            .batch_size(batch)
            .averaged_over_views(5, 3, seed)
            .of_images(&images)
            .unwrap()
    };
    let (a, b, c) = (
        five(7, 1, &mut net),
        five(30, 1, &mut net),
        five(30, 2, &mut net),
    );
    assert!(max_diff(&a, &b) < 1e-6, "the same views in any batch size");
    assert!(max_diff(&b, &c) > 1e-4, "another seed, other shifts");
    // Stacked: the same five views, each its own row, in image order; their
    // mean is the averaged features, and L2 normalisation is per view.
    let stacked = Features::new(&mut net, "relu5")
        .unwrap()
        .pooling(Pooling::Average)
        .batch_size(7)
        .stacked_views(5, 3, 1)
        .of_images(&images)
        .unwrap();
    let n = images.size()[0];
    assert_eq!(stacked.size(), [n * 5, reference.size()[1]]);
    let by_image = stacked.view([n, 5, -1]);
    assert!(
        max_diff(&by_image.select(1, 0), &avg) < 1e-6,
        "view 0 is the image"
    );
    assert!(
        max_diff(&by_image.select(1, 1), &mirrored) < 1e-6,
        "view 1 its mirror"
    );
    assert!(max_diff(&by_image.mean_dim(1, false, Kind::Float), &b) < 1e-5);
    let unit_views = Features::new(&mut net, "relu5")
        .unwrap()
        .pooling(Pooling::Average)
        .l2_normalized()
        .stacked_views(5, 3, 1)
        .of_images(&images)
        .unwrap();
    let norms = unit_views
        .square()
        .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
        .sqrt();
    assert!(max_diff(&norms, &norms.ones_like()) < 1e-5);
    // An empty batch gives no rows of the right width.
    let none = Features::new(&mut net, "relu5")
        .unwrap()
        .pooling(Pooling::Average)
        .of_images(&images.narrow(0, 0, 0))
        .unwrap();
    assert_eq!(none.size(), [0, reference.size()[1]]);
}

#[test]
fn stacked_views_repeat_the_training_labels_and_average_the_test_split() {
    use deepscope::transfer::{Extractor, Features};
    let digits = data::digits().unwrap();
    let mut net = deepscope::zoo::mlp(&[1, 8, 8], &[16], 10, deepscope::zoo::Activation::Relu)
        .seed(0)
        .build(tch::Device::Cpu)
        .unwrap();
    let features = Features::new(&mut net, "act1")
        .unwrap()
        .stacked_views(3, 1, 0)
        .of_dataset(&digits)
        .unwrap();
    let n = digits.train.len() as i64;
    assert_eq!(features.train.len() as i64, 3 * n);
    let labels = features.train.labels().view([n, 3]);
    for v in 0..3 {
        assert!(labels.select(1, v).equal(digits.train.labels()));
    }
    let averaged = Features::new(&mut net, "act1")
        .unwrap()
        .averaged_over_views(3, 1, 0)
        .of_split(&digits.test)
        .unwrap();
    assert_eq!(features.test.len(), digits.test.len());
    assert!(features.test.labels().equal(digits.test.labels()));
    let diff = (features.test.images() - averaged.images())
        .abs()
        .max()
        .double_value(&[]);
    assert!(
        diff < 1e-6,
        "the test split's views averaged, off by {diff}"
    );
}

#[test]
fn surgery_copies_freezes_fine_tunes_or_randomises_the_lower_layers() {
    use deepscope::model::Model;
    use deepscope::train::{FitConfig, Optimizer, ProgressMode};
    use deepscope::transfer::Surgery;
    use deepscope::zoo;
    let cpu = tch::Device::Cpu;
    let same = |a: &Model, b: &Model, layer: &str| {
        let (x, y) = (
            a.layer_parameters(layer).unwrap(),
            b.layer_parameters(layer).unwrap(),
        );
        x.iter().zip(&y).all(|((_, p), (_, q))| p.equal(q))
    };
    let base = zoo::lenet5(10).seed(1).build(cpu).unwrap();

    let mut frozen = zoo::lenet5(10).seed(2).build(cpu).unwrap();
    Surgery::copy_frozen("relu2")
        .seed(7)
        .apply(&mut frozen, &base)
        .unwrap();
    assert!(same(&frozen, &base, "conv1") && same(&frozen, &base, "conv2"));
    assert!(frozen.is_frozen("conv2").unwrap() && !frozen.is_frozen("fc3").unwrap());
    assert!(
        !same(&frozen, &base, "fc3"),
        "the upper layers are drawn anew"
    );
    let mut again = zoo::lenet5(10).seed(3).build(cpu).unwrap();
    Surgery::copy_frozen("relu2")
        .seed(7)
        .apply(&mut again, &base)
        .unwrap();
    assert!(
        same(&frozen, &again, "fc3"),
        "from the seed, whatever the target held"
    );

    // Training moves only the upper layers of the frozen transfer.
    let fm = data::fashion_mnist()
        .unwrap()
        .balanced_subset(20, 5, 0)
        .unwrap();
    let mut cfg = FitConfig::new(1, 50, Optimizer::sgd(0.1));
    cfg.progress = ProgressMode::Silent;
    cfg.evaluate = false;
    deepscope::train::fit(&mut frozen, &fm, &cfg).unwrap();
    assert!(same(&frozen, &base, "conv2") && !same(&frozen, &again, "fc3"));

    let mut tuned = zoo::lenet5(10).seed(2).build(cpu).unwrap();
    Surgery::copy_fine_tuned("relu2")
        .apply(&mut tuned, &base)
        .unwrap();
    assert!(same(&tuned, &base, "conv1") && !tuned.is_frozen("conv1").unwrap());
    deepscope::train::fit(&mut tuned, &fm, &cfg).unwrap();
    assert!(!same(&tuned, &base, "conv1"), "fine-tuned layers train");

    let mut random = zoo::lenet5(10).seed(2).build(cpu).unwrap();
    Surgery::random_frozen("relu2")
        .seed(5)
        .apply(&mut random, &base)
        .unwrap();
    assert!(!same(&random, &base, "conv1") && random.is_frozen("conv1").unwrap());

    // A new head on the body (Oquab et al.): the body copies, the head is new.
    let mut headed = zoo::lenet5(10)
        .up_to("relu3")
        .unwrap()
        .linear("fca", "fca", 64)
        .relu("relu_a")
        .linear("fcb", "fcb", 5)
        .seed(4)
        .build(cpu)
        .unwrap();
    Surgery::copy_frozen("relu3")
        .apply(&mut headed, &base)
        .unwrap();
    assert!(same(&headed, &base, "fc3") && headed.output_shape() == [5]);
    assert!(common_err(zoo::lenet5(10).up_to("fc9")).contains("no layer named 'fc9' to cut at"));

    // Lower layers that differ are refused.
    let mlp = zoo::mlp(&[1, 28, 28], &[32], 10, zoo::Activation::Relu)
        .build(cpu)
        .unwrap();
    let mut target = zoo::mlp(&[1, 28, 28], &[64], 10, zoo::Activation::Relu)
        .build(cpu)
        .unwrap();
    let msg = common_err(Surgery::copy_frozen("act1").apply(&mut target, &mlp));
    assert!(
        msg.contains(
            "cannot copy layers: layers.0.weight: shape [64, 784] here, [32, 784] in the source"
        ),
        "{msg}"
    );
    let msg = common_err(Surgery::copy_frozen("relu2").apply(&mut target, &base));
    assert!(msg.contains("no layer named 'relu2'"), "{msg}");
}

fn common_err<T>(r: deepscope::Result<T>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn hog_and_pixels_are_baselines_with_the_same_interface() {
    use deepscope::transfer::{Extractor, Hog, Pixels};
    let fm = data::fashion_mnist().unwrap();
    let images = fm.test.images().narrow(0, 0, 12);
    let hog = Hog::default().of_images(&images).unwrap();
    assert_eq!(
        hog.size(),
        [12, 6 * 6 * 2 * 2 * 9],
        "6x6 blocks of 2x2 cells of 9 bins"
    );
    // imageproc scales each block to unit length.
    let blocks =
        hog.view([12, 36, 36])
            .square()
            .sum_dim_intlist([2i64].as_slice(), false, Kind::Float);
    let off = (&blocks - 1.0).abs() * blocks.gt(1e-6).to_kind(Kind::Float);
    assert!(off.max().double_value(&[]) < 1e-4);
    // Twice the contrast gives the same descriptors: gradients double,
    // blocks are normalised (gray levels kept even so that 8 bits hold them
    // exactly).
    let half = (&images * 127.0).floor() / 255.0;
    let once = Hog::default().of_images(&half).unwrap();
    let twice = Hog::default().of_images(&(&half * 2.0)).unwrap();
    let diff = (&twice - &once).abs().max().double_value(&[]);
    assert!(diff < 1e-5, "{diff}");
    // A vertical edge puts every cell's gradient into one orientation bin.
    let mut edge = vec![0f32; 28 * 28];
    for r in 0..28 {
        for c in 14..28 {
            edge[r * 28 + c] = 1.0;
        }
    }
    let edge = tch::Tensor::from_slice(&edge).view([1, 1, 28, 28]);
    let h = Hog::default().of_images(&edge).unwrap().view([36, 4, 9]);
    let per_bin = h.sum_dim_intlist([0i64, 1].as_slice(), false, Kind::Float);
    let total = per_bin.sum(Kind::Float).double_value(&[]);
    assert!(
        per_bin.max().double_value(&[]) > 0.99 * total,
        "{per_bin:?}"
    );

    let named = Hog::default()
        .of_dataset(&fm.balanced_subset(2, 1, 0).unwrap())
        .unwrap();
    assert_eq!(named.name, "fashion-mnist at HOG");
    assert_eq!(named.train.image_shape(), [1296, 1, 1]);
    let msg = Hog::default()
        .of_images(&tch::Tensor::zeros(
            [1, 1, 30, 30],
            (Kind::Float, tch::Device::Cpu),
        ))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("HOG of a 30x30 image"), "{msg}");

    let pixels = Pixels { l2: false }.of_images(&images).unwrap();
    assert!(pixels.equal(&images.flatten(1, -1)));
    let unit = Pixels { l2: true }.of_images(&images).unwrap();
    let norms = unit
        .square()
        .sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
    assert!((norms - 1.0).abs().max().double_value(&[]) < 1e-5);
}

#[test]
fn a_tsne_map_draws_thumbnails_at_spread_out_points() {
    use deepscope::plot::rgb_pixels;
    use deepscope::transfer::Embedding;
    let embedding = Embedding {
        // The top right corner stays free for the legend.
        points: vec![(0.0, 0.0), (0.5, 0.5), (10.0, 0.0), (0.0, 10.0), (5.0, 5.0)],
    };
    let labels = tch::Tensor::from_slice(&[0i64, 0, 1, 1, 1]);
    let classes = vec!["a".to_string(), "b".to_string()];
    // Pure blue pictures, a colour no marker, frame or axis uses.
    let blue = tch::Tensor::zeros([5, 3, 6, 6], (Kind::Float, tch::Device::Cpu));
    let _ = blue.narrow(1, 2, 1).fill_(1.0);
    let count_blue = |scatter: &deepscope::plot::Scatter| {
        let (_, _, rgb) = rgb_pixels(scatter).unwrap();
        rgb.chunks(3).filter(|p| p == &[0, 0, 255]).count()
    };
    let plain = embedding.scatter(&labels, &classes).unwrap();
    assert_eq!(count_blue(&plain), 0);
    // Four spread-out points of five (the second is too close to the
    // first), each a 12x12 picture, all inside the figure.
    let with = embedding
        .scatter_with_thumbnails(&labels, &classes, &blue, 4, 12)
        .unwrap();
    assert_eq!(count_blue(&with), 4 * 12 * 12);
    let one = embedding
        .scatter_with_thumbnails(&labels, &classes, &blue, 1, 12)
        .unwrap();
    assert_eq!(count_blue(&one), 12 * 12);
    let err = embedding
        .scatter_with_thumbnails(&labels, &classes, &blue.narrow(0, 0, 4), 4, 12)
        .unwrap_err()
        .to_string();
    assert!(err.contains("one per point"), "{err}");
}

#[test]
fn tsne_keeps_neighbourhoods_as_well_as_opentsne() {
    use deepscope::transfer::{Tsne, TsneGradient};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ds = data::digits().unwrap();
    let x = flat(&ds.train).narrow(0, 0, 500);
    for gradient in [
        TsneGradient::BarnesHut { theta: 0.5 },
        TsneGradient::Interpolated,
    ] {
        eprintln!("{gradient:?}");
        let tsne = Tsne {
            gradient,
            ..Tsne::default()
        };
        tsne_against_opentsne(root, &ds, &x, &tsne);
    }
    let msg = common_err(
        Tsne {
            perplexity: 200.0,
            ..Tsne::default()
        }
        .run(&x),
    );
    assert!(
        msg.contains("a perplexity of 200 needs more than 601 points, got 500"),
        "{msg}"
    );
}

/// Our map of `x` by `tsne` against openTSNE's (tests/python/tsne_reference.py):
/// our KL is scikit-learn's measure of it and within 10% of openTSNE's,
/// trustworthiness and k-NN agreement are scikit-learn's and the former within
/// 0.02 of openTSNE's.
fn tsne_against_opentsne(
    root: &Path,
    ds: &data::Dataset,
    x: &tch::Tensor,
    tsne: &deepscope::transfer::Tsne,
) {
    let ours = tsne.run(x).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let flat_points: Vec<f64> = ours.points.iter().flat_map(|&(a, b)| [a, b]).collect();
    weights::write_safetensors(
        &[
            ("x".into(), x.shallow_clone()),
            ("y".into(), ds.train.labels().narrow(0, 0, 500)),
            (
                "ours".into(),
                tch::Tensor::from_slice(&flat_points).view([500, 2]),
            ),
        ],
        dir.path().join("tsne.safetensors"),
    )
    .unwrap();
    let status = std::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/python/tsne_reference.py"))
        .arg(dir.path())
        .arg(tsne.perplexity.to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("tsne.json")).unwrap())
            .unwrap();
    let get = |k: &str| r[k].as_f64().unwrap();
    let kl = ours.kl_divergence(x, tsne.perplexity).unwrap();
    // Our KL is scikit-learn's measure of our embedding ...
    let same = (kl - get("kl_ours")).abs() / get("kl_ours");
    assert!(same < 1e-6, "{kl} against {}", get("kl_ours"));
    // ... and within 10% of openTSNE's embedding's.
    let rel = (kl - get("kl_theirs")).abs() / get("kl_theirs");
    eprintln!(
        "t-SNE KL {kl:.4} against openTSNE {:.4} ({rel:.3})",
        get("kl_theirs")
    );
    assert!(rel < 0.10);
    for k in [5usize, 12] {
        let mine = ours.trustworthiness(x, k).unwrap();
        // Equal but for the order of tied distances (the 8x8 digits have
        // many), which the two argsorts break differently.
        assert!(
            (mine - get(&format!("trust_{k}_ours"))).abs() < 1e-4,
            "our trustworthiness is scikit-learn's: {mine} against {}",
            get(&format!("trust_{k}_ours"))
        );
        let knn = ours
            .neighbour_accuracy(&ds.train.labels().narrow(0, 0, 500), k)
            .unwrap();
        assert!(
            (knn - get(&format!("knn_{k}_ours"))).abs() < 1e-9,
            "leave-one-out {k}-NN accuracy {knn} against scikit-learn's {}",
            get(&format!("knn_{k}_ours"))
        );
        let theirs = get(&format!("trust_{k}_theirs"));
        eprintln!("trustworthiness k = {k}: ours {mine:.4}, openTSNE {theirs:.4}");
        assert!((mine - theirs).abs() < 0.02);
    }
    let fig = ours
        .scatter(&ds.train.labels().narrow(0, 0, 500), &ds.classes)
        .unwrap();
    deepscope::plot::to_png(&fig).unwrap();
}
