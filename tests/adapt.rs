//! Domain adaptation's losses against a NumPy reference written from the
//! papers' formulas, the gradient reversal by autograd, DANN's schedules at
//! given points.

use deepscope::adapt::{
    adda_target_loss, coral, dann_lambda, dann_lr_factor, difference_loss, domain_discriminator,
    gradient_reversal, linear_mmd, mk_mmd, scale_invariant_mse, Bandwidth, MmdEstimator,
};
use deepscope::{rng, weights};
use std::path::Path;
use tch::{Device, Kind, Tensor};

fn randn(shape: &[i64], seed: u64, scale: f64, shift: f64) -> Tensor {
    rng::with_torch_seed(seed, || {
        Tensor::randn(shape, (Kind::Float, Device::Cpu)) * scale + shift
    })
}

#[test]
fn the_losses_equal_a_numpy_reference_written_from_the_papers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Two domains of 12 examples with 5 features, the target shifted and
    // stretched.
    let (xs, xt) = (randn(&[12, 5], 1, 1.0, 0.0), randn(&[12, 5], 2, 1.5, 0.7));
    let (shared, private) = (randn(&[12, 4], 3, 1.0, 0.0), randn(&[12, 3], 4, 1.0, 0.2));
    let (images, recon) = (
        randn(&[12, 1, 4, 4], 5, 1.0, 0.0),
        randn(&[12, 1, 4, 4], 6, 1.0, 0.3),
    );
    let dir = tempfile::tempdir().unwrap();
    weights::write_safetensors(
        &[
            ("source".into(), xs.shallow_clone()),
            ("target".into(), xt.shallow_clone()),
            ("shared".into(), shared.shallow_clone()),
            ("private".into(), private.shallow_clone()),
            ("images".into(), images.shallow_clone()),
            ("reconstructions".into(), recon.shallow_clone()),
        ],
        dir.path().join("inputs.safetensors"),
    )
    .unwrap();
    let status = std::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/python/adapt_reference.py"))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("reference.json")).unwrap())
            .unwrap();
    let ours = [
        ("linear_mmd", linear_mmd(&xs, &xt).unwrap()),
        (
            "mk_mmd_quadratic",
            mk_mmd(&xs, &xt, 5, 2.0, Bandwidth::Median, MmdEstimator::Quadratic).unwrap(),
        ),
        (
            "mk_mmd_linear",
            mk_mmd(&xs, &xt, 5, 2.0, Bandwidth::Median, MmdEstimator::Linear).unwrap(),
        ),
        ("coral", coral(&xs, &xt).unwrap()),
        ("difference", difference_loss(&shared, &private).unwrap()),
        (
            "difference_normalized",
            deepscope::adapt::difference_loss_normalized(&shared, &private).unwrap(),
        ),
        ("si_mse", scale_invariant_mse(&images, &recon).unwrap()),
    ];
    for (name, value) in ours {
        let (got, want) = (value.double_value(&[]), r[name].as_f64().unwrap());
        assert!(
            (got - want).abs() <= 1e-5 * want.abs().max(1.0),
            "{name}: {got} against NumPy's {want}"
        );
    }
    // Two samples of one distribution give an MMD near 0, a shifted one
    // clearly more.
    let mmd = |a: &Tensor, b: &Tensor| {
        mk_mmd(a, b, 5, 2.0, Bandwidth::Median, MmdEstimator::Quadratic)
            .unwrap()
            .double_value(&[])
    };
    let base = randn(&[200, 5], 7, 1.0, 0.0);
    let same = mmd(&base, &randn(&[200, 5], 8, 1.0, 0.0));
    let shifted = mmd(&base, &randn(&[200, 5], 8, 1.5, 0.7));
    assert!(
        shifted > 20.0 * same.abs(),
        "same {same}, shifted {shifted}"
    );
    // A constant offset costs the scale-invariant error nothing.
    let offset = scale_invariant_mse(&images, &(&images + 0.5)).unwrap();
    assert!(offset.double_value(&[]).abs() < 1e-6);
}

#[test]
fn gradient_reversal_is_the_identity_forward_and_negates_gradients_backward() {
    let x = randn(&[3, 4], 9, 1.0, 0.0).set_requires_grad(true);
    let w = randn(&[3, 4], 10, 1.0, 0.0);
    let y = gradient_reversal(&x, 0.3).unwrap();
    assert!((&y - &x).abs().max().double_value(&[]) < 1e-6);
    (&y * &w).sum(Kind::Float).backward();
    let expected = &w * -0.3;
    assert!((x.grad() - expected).abs().max().double_value(&[]) < 1e-6);
    // At lambda 0 (DANN's start) the features get no gradient from it.
    let x2 = randn(&[3, 4], 9, 1.0, 0.0).set_requires_grad(true);
    (&gradient_reversal(&x2, 0.0).unwrap() * &w)
        .sum(Kind::Float)
        .backward();
    assert_eq!(x2.grad().abs().max().double_value(&[]), 0.0);
}

#[test]
fn danns_schedules_at_given_progress() {
    assert_eq!(dann_lambda(0.0).unwrap(), 0.0);
    assert!((dann_lambda(0.5).unwrap() - (2.0 / (1.0 + (-5.0f64).exp()) - 1.0)).abs() < 1e-15);
    assert!((dann_lambda(1.0).unwrap() - 0.999_909_204_262_595).abs() < 1e-12);
    assert_eq!(dann_lr_factor(0.0).unwrap(), 1.0);
    assert!((dann_lr_factor(1.0).unwrap() - 11f64.powf(-0.75)).abs() < 1e-15);
    assert!((dann_lr_factor(0.1).unwrap() - 2f64.powf(-0.75)).abs() < 1e-15);
    assert!(dann_lambda(1.5).is_err() && dann_lr_factor(-0.1).is_err());
}

#[test]
fn adda_labels_target_features_as_source_and_the_discriminator_has_two_outputs() {
    // Logits that call every target example "target" cost the encoder a lot.
    let sure_target = Tensor::from_slice(&[-5.0f32, 5.0, -4.0, 4.0]).view([2, 2]);
    let sure_source = Tensor::from_slice(&[5.0f32, -5.0, 4.0, -4.0]).view([2, 2]);
    let (high, low) = (
        adda_target_loss(&sure_target).unwrap().double_value(&[]),
        adda_target_loss(&sure_source).unwrap().double_value(&[]),
    );
    assert!(high > 8.0 && low < 0.001, "{high} {low}");
    let d = domain_discriminator(16, 32, 2)
        .seed(0)
        .build(Device::Cpu)
        .unwrap();
    assert_eq!(d.output_shape(), [2]);
    assert_eq!(d.input_shape(), [16]);
}

#[test]
fn mnist_m_blends_each_digit_with_a_colour_photo_crop() {
    use deepscope::adapt::domains::{blend, mnist_m, photo_crops, usps_like, NATURAL_PHOTOS};
    // The blend itself: the background keeps the photo, a full stroke
    // inverts it.
    let crop = Tensor::from_slice(&[0.2f32, 0.5, 0.9]).view([1, 3, 1, 1]);
    let background = blend(
        &Tensor::zeros([1, 1, 1, 1], (Kind::Float, Device::Cpu)),
        &crop,
    )
    .unwrap();
    let stroke = blend(
        &Tensor::ones([1, 1, 1, 1], (Kind::Float, Device::Cpu)),
        &crop,
    )
    .unwrap();
    assert!(background.equal(&crop));
    let inverted = crop.neg() + 1.0;
    assert!((stroke - inverted).abs().max().double_value(&[]) < 1e-7);

    let digits = deepscope::data::mnist_subset().unwrap();
    let m = mnist_m(0).unwrap();
    let n = digits.train.len();
    assert_eq!(m.train.images().size(), [n as i64, 3, 28, 28]);
    assert!(m.train.labels().equal(digits.train.labels()));
    assert_eq!(m.test.len(), digits.test.len());
    let crops = photo_crops(&NATURAL_PHOTOS, n, 28, 0).unwrap();
    assert!(m
        .train
        .images()
        .equal(&blend(digits.train.images(), &crops).unwrap()));
    let (lo, hi) = (
        m.train.images().min().double_value(&[]),
        m.train.images().max().double_value(&[]),
    );
    assert!(lo >= 0.0 && hi <= 1.0);
    // Colour: the channels differ, unlike the gray source.
    let spread = (m.train.images().select(1, 0) - m.train.images().select(1, 2))
        .abs()
        .mean(Kind::Float)
        .double_value(&[]);
    assert!(spread > 0.02, "channels differ by {spread} on average");
    assert!(mnist_m(0).unwrap().train.images().equal(m.train.images()));
    assert!(!mnist_m(1).unwrap().train.images().equal(m.train.images()));

    let usps = usps_like().unwrap();
    let small = deepscope::data::digits().unwrap();
    assert_eq!(
        usps.train.images().size(),
        [small.train.len() as i64, 1, 28, 28]
    );
    assert!(usps.train.labels().equal(small.train.labels()));
}

#[test]
fn importance_weights_and_deep_embedded_validation_estimate_the_target_risk() {
    use deepscope::adapt::{deep_embedded_validation, importance_weights, proxy_a_distance};
    // Source N(0, 1), target N(1, 1): p_t / p_s = exp(x - 1/2).
    let source = randn(&[2000, 1], 11, 1.0, 0.0);
    let target = randn(&[2000, 1], 12, 1.0, 1.0);
    let points = Tensor::from_slice(&[-1.0f32, 0.0, 1.0, 2.0]).view([4, 1]);
    let w = importance_weights(&source, &target, &points).unwrap();
    for (x, got) in [-1.0f64, 0.0, 1.0, 2.0].iter().zip(&w) {
        let want = (x - 0.5).exp();
        assert!(
            (got / want - 1.0).abs() < 0.15,
            "at {x}: weight {got}, true ratio {want}"
        );
    }
    // With the true weights, DEV's estimate of the target risk of the loss
    // x^2 (E_t[x^2] = 2) from source samples alone.
    let xs = Vec::<f64>::try_from(randn(&[20000], 13, 1.0, 0.0).to_kind(Kind::Double)).unwrap();
    let losses: Vec<f64> = xs.iter().map(|x| x * x).collect();
    let weights: Vec<f64> = xs.iter().map(|x| (x - 0.5).exp()).collect();
    let risk = deep_embedded_validation(&losses, &weights).unwrap();
    let source_risk = losses.iter().sum::<f64>() / losses.len() as f64;
    assert!(
        (risk - 2.0).abs() < 0.1,
        "DEV {risk}, target risk 2, source risk {source_risk}"
    );
    // A constant loss is estimated exactly whatever the weights; equal
    // weights give the plain mean.
    assert!(
        (deep_embedded_validation(&[0.7; 5], &[0.1, 2.0, 0.5, 3.0, 1.0]).unwrap() - 0.7).abs()
            < 1e-12
    );
    assert!((deep_embedded_validation(&[1.0, 2.0, 6.0], &[1.0; 3]).unwrap() - 3.0).abs() < 1e-12);

    // The proxy A-distance: near 0 for one distribution, near 2 for
    // separable ones.
    let a = randn(&[400, 3], 14, 1.0, 0.0);
    let same = proxy_a_distance(&a, &randn(&[400, 3], 15, 1.0, 0.0)).unwrap();
    let apart = proxy_a_distance(&a, &randn(&[400, 3], 16, 1.0, 10.0)).unwrap();
    assert!(
        same.abs() < 0.3 && apart > 1.9,
        "same {same}, apart {apart}"
    );
}

mod objectives {
    use deepscope::adapt::{dann_schedule, domain_discriminator, linear_mmd, Adaptation, Method};
    use deepscope::data::{self, Dataset, Split};
    use deepscope::model::Model;
    use deepscope::train::{self, FitConfig, Optimizer, ProgressMode};
    use deepscope::zoo;
    use tch::{Device, Kind, Tensor};

    /// The 8x8 digits (source) and the same digits with inverted contrast
    /// (target).
    fn domains(target_labels: Option<i64>) -> (Dataset, Dataset) {
        let source = data::digits().unwrap();
        let invert = |s: &Split| {
            let labels = match target_labels {
                Some(l) => Tensor::full([s.len() as i64], l, (Kind::Int64, Device::Cpu)),
                None => s.labels().shallow_clone(),
            };
            Split::new(s.images().neg() + 1.0, labels).unwrap()
        };
        let target = Dataset::new(
            "inverted digits",
            invert(&source.train),
            invert(&source.test),
            source.classes.clone(),
        )
        .unwrap();
        (source, target)
    }

    fn nets(seed: u64) -> (Model, Model, Model) {
        let features = zoo::mlp(&[1, 8, 8], &[32], 16, zoo::Activation::Relu)
            .seed(seed)
            .build(Device::Cpu)
            .unwrap();
        let classifier = zoo::mlp(&[16], &[], 10, zoo::Activation::Relu)
            .seed(seed + 1)
            .build(Device::Cpu)
            .unwrap();
        let disc = domain_discriminator(16, 32, 1)
            .seed(seed + 2)
            .build(Device::Cpu)
            .unwrap();
        (features, classifier, disc)
    }

    fn config(epochs: usize) -> FitConfig {
        let mut c = FitConfig::new(epochs, 64, Optimizer::adam(3e-3));
        c.progress = ProgressMode::Silent;
        c.seed = 0;
        c
    }

    /// Trains by `method` and returns the final linear MMD between the
    /// domains' training features, the run, and the nets.
    fn adapt(method: Method, target_labels: Option<i64>) -> (f64, train::FitResult, Model, Model) {
        let (source, target) = domains(target_labels);
        let (mut f, mut c, mut d) = nets(0);
        let run = {
            let mut a = Adaptation::new(&mut f, &mut c, &source, &target, method);
            if method == Method::Dann {
                a = a.discriminator(&mut d);
            }
            let mut cfg = config(6);
            if method == Method::Dann {
                cfg.schedule = dann_schedule();
            }
            train::fit_objective(&mut a, &cfg, &mut []).unwrap()
        };
        f.set_train(false);
        let gap = tch::no_grad(|| {
            linear_mmd(
                &f.forward(source.train.images()).unwrap(),
                &f.forward(target.train.images()).unwrap(),
            )
            .unwrap()
            .double_value(&[])
        });
        (gap, run, f, c)
    }

    #[test]
    fn the_adaptation_terms_pull_the_target_features_to_the_source_without_its_labels() {
        let (plain, run, ..) = adapt(Method::SourceOnly, None);
        let (ddc, ..) = adapt(Method::Ddc { weight: 10.0 }, None);
        let (coral_gap, ..) = adapt(Method::Coral { weight: 10.0 }, None);
        assert!(
            ddc < plain / 5.0 && coral_gap < plain,
            "feature gap: source only {plain:.3}, DDC {ddc:.3}, CORAL {coral_gap:.3}"
        );
        // The epoch records carry the source validation and, apart, the
        // target's accuracy.
        let last = run.history.last_epoch().unwrap();
        assert!(last.test_accuracy.unwrap() > 0.8);
        assert!(last.metric("test target accuracy").is_some());

        // The target's labels are never read: garbage labels train the same.
        let (_, _, f1, c1) = adapt(Method::Ddc { weight: 10.0 }, None);
        let (_, _, f2, c2) = adapt(Method::Ddc { weight: 10.0 }, Some(0));
        assert_eq!(super::max_param_diff(&f1, &f2), 0.0);
        assert_eq!(super::max_param_diff(&c1, &c2), 0.0);
    }

    /// ADDA from a source-trained encoder; the target encoder, the source
    /// nets after, and the run.
    fn adda(target_labels: Option<i64>) -> (Model, Model, Model, Model, Model, train::FitResult) {
        use deepscope::adapt::Adda;
        let (source, target) = domains(target_labels);
        let (mut f, mut c, _) = nets(0);
        {
            let mut a = Adaptation::new(&mut f, &mut c, &source, &target, Method::SourceOnly);
            train::fit_objective(&mut a, &config(4), &mut []).unwrap();
        }
        let (before_f, before_c) = (copy(&f), copy(&c));
        let (mut t, _, mut d) = nets(7);
        let run = {
            let mut a = Adda::new(&mut f, &mut t, &mut c, &mut d, &source, &target).unwrap();
            train::fit_objective(&mut a, &config(4), &mut []).unwrap()
        };
        (f, c, t, before_f, before_c, run)
    }

    /// A copy of one of [`nets`] feature extractor or classifier.
    fn copy(m: &Model) -> Model {
        let mut same = if m.input_shape() == [1, 8, 8] {
            nets(99).0
        } else {
            nets(99).1
        };
        same.copy_layers_from(m, m.output_layer()).unwrap();
        same
    }

    #[test]
    fn adda_trains_a_copy_of_the_source_encoder_against_the_discriminator() {
        let (f, c, t, before_f, before_c, run) = adda(None);
        assert_eq!(
            super::max_param_diff(&f, &before_f),
            0.0,
            "the source encoder is fixed"
        );
        assert_eq!(
            super::max_param_diff(&c, &before_c),
            0.0,
            "the classifier is fixed"
        );
        assert!(
            super::max_param_diff(&t, &f) > 1e-3,
            "the target encoder moved"
        );
        let d_acc: Vec<f64> = run
            .history
            .steps
            .iter()
            .map(|s| s.metric("discriminator accuracy").unwrap())
            .collect();
        assert!(d_acc.iter().all(|a| (0.0..=1.0).contains(a)));
        assert!(run.history.last_epoch().unwrap().test_accuracy.is_some());
        // The target's training labels are never read.
        let (_, _, t2, ..) = adda(Some(0));
        assert_eq!(super::max_param_diff(&t, &t2), 0.0);
    }

    #[test]
    fn dsn_trains_six_networks_on_four_losses_without_the_target_labels() {
        use deepscope::adapt::{Dsn, DsnNets, DsnWeights};
        let run = |labels: Option<i64>| {
            let (source, target) = domains(labels);
            let encoder = |seed| {
                zoo::mlp(&[1, 8, 8], &[32], 16, zoo::Activation::Relu)
                    .seed(seed)
                    .build(Device::Cpu)
                    .unwrap()
            };
            let (mut shared, mut sp, mut tp) = (encoder(1), encoder(2), encoder(3));
            let mut decoder = zoo::mlp(&[16], &[32], 64, zoo::Activation::Relu)
                .seed(4)
                .build(Device::Cpu)
                .unwrap();
            let mut classifier = zoo::mlp(&[16], &[], 10, zoo::Activation::Relu)
                .seed(5)
                .build(Device::Cpu)
                .unwrap();
            let mut disc = domain_discriminator(16, 32, 1)
                .seed(6)
                .build(Device::Cpu)
                .unwrap();
            let nets = DsnNets {
                shared: &mut shared,
                source_private: &mut sp,
                target_private: &mut tp,
                decoder: &mut decoder,
                classifier: &mut classifier,
                discriminator: &mut disc,
            };
            let mut dsn = Dsn::new(nets, DsnWeights::default(), &source, &target);
            let history = train::fit_objective(&mut dsn, &config(4), &mut [])
                .unwrap()
                .history;
            (history, shared, tp)
        };
        let (history, shared, tp) = run(None);
        let first = &history.epochs[0];
        let last = history.last_epoch().unwrap();
        for part in ["task", "reconstruction", "difference"] {
            assert!(
                last.metric(part).unwrap() < first.metric(part).unwrap(),
                "{part}: {} then {}",
                first.metric(part).unwrap(),
                last.metric(part).unwrap()
            );
        }
        // The task learns beside three other losses (0.79 after 4 epochs).
        assert!(last.test_accuracy.unwrap() > 0.6);
        assert!(last.metric("test target accuracy").is_some());
        let (_, shared2, tp2) = run(Some(0));
        assert_eq!(super::max_param_diff(&shared, &shared2), 0.0);
        assert_eq!(super::max_param_diff(&tp, &tp2), 0.0);
    }

    #[test]
    fn snapshots_restore_each_network_and_candidates_score_what_the_rules_read() {
        use deepscope::adapt::{score_candidate, CandidateNets};
        let (source, target) = domains(None);
        let (mut f, mut c, _) = nets(0);
        let run = {
            let mut a = Adaptation::new(&mut f, &mut c, &source, &target, Method::SourceOnly);
            let mut cfg = config(3);
            cfg.snapshot_epochs = vec![1, 3];
            train::fit_objective(&mut a, &cfg, &mut []).unwrap()
        };
        // The last snapshot, restored into fresh nets, is the trained nets.
        let (mut f2, mut c2, _) = nets(5);
        let last = &run.snapshots[1];
        last.restore("features", &mut f2).unwrap();
        last.restore("classifier", &mut c2).unwrap();
        assert_eq!(super::max_param_diff(&f, &f2), 0.0);
        assert_eq!(super::max_param_diff(&c, &c2), 0.0);
        let err = last.restore("encoder", &mut f2).unwrap_err().to_string();
        assert!(
            err.contains("no network 'encoder'") && err.contains("classifier, features"),
            "{err}"
        );
        assert!(
            last.restore("classifier", &mut f2).is_err(),
            "the wrong architecture loads nothing"
        );
        assert_eq!(super::max_param_diff(&f, &f2), 0.0);

        // Scored against the source itself as the target: the target
        // accuracy is the source validation accuracy, and with the
        // domains indistinguishable DEV's risk is the plain mean
        // validation cross-entropy up to the weights' noise.
        let score = |f: &mut Model, c: &mut Model, target: &Dataset| {
            let nets = CandidateNets {
                source_encoder: f,
                target_encoder: None,
                classifier: c,
            };
            score_candidate(3, nets, &source, target, 400).unwrap()
        };
        let same = score(&mut f, &mut c, &source);
        assert_eq!(same.epoch, 3);
        assert_eq!(same.target_accuracy, same.source_accuracy);
        let ce = {
            f.set_train(false);
            c.set_train(false);
            let z = tch::no_grad(|| {
                c.forward(&f.forward(source.test.images()).unwrap())
                    .unwrap()
            });
            z.cross_entropy_for_logits(source.test.labels())
                .double_value(&[])
        };
        assert!(
            (same.dev_risk - ce).abs() < 0.2 * ce,
            "DEV {} against the mean loss {ce}",
            same.dev_risk
        );
        // Against the inverted digits the source accuracy is unchanged and
        // the target's is the target test split's.
        let shifted = score(&mut f, &mut c, &target);
        assert_eq!(shifted.source_accuracy, same.source_accuracy);
        assert!(shifted.target_accuracy < same.target_accuracy);
        assert!(shifted.dev_risk.is_finite());
    }

    #[test]
    fn each_selection_rule_reads_only_its_own_score() {
        use deepscope::adapt::{Candidate, Selection};
        let c = |epoch, source_accuracy, dev_risk, target_accuracy| Candidate {
            epoch,
            source_accuracy,
            dev_risk,
            target_accuracy,
        };
        let candidates = [
            c(2, 0.90, 0.5, 0.60),
            c(4, 0.95, 0.7, 0.55),
            c(6, 0.95, 0.3, 0.50),
            c(8, 0.80, 0.9, 0.70),
        ];
        let epoch = |rule: Selection| rule.choose(&candidates).unwrap().epoch;
        assert_eq!(epoch(Selection::Last), 8);
        assert_eq!(
            epoch(Selection::SourceValidation),
            4,
            "the earliest of a tie"
        );
        assert_eq!(epoch(Selection::Dev), 6);
        assert_eq!(epoch(Selection::Oracle), 8);
        assert!(Selection::Oracle.choose(&[]).is_err());
        assert!(Selection::Dev.choose(&[c(1, 0.5, f64::NAN, 0.5)]).is_err());
    }

    #[test]
    fn dann_reverses_the_discriminators_gradient_on_a_rising_schedule() {
        let (_, run, ..) = adapt(Method::Dann, None);
        let lambdas: Vec<f64> = run
            .history
            .steps
            .iter()
            .map(|s| s.metric("lambda").unwrap())
            .collect();
        assert!(lambdas[0] < 0.05 && *lambdas.last().unwrap() > 0.99);
        assert!(lambdas.windows(2).all(|w| w[1] >= w[0]));
        assert!(run
            .history
            .steps
            .iter()
            .all(|s| s.metric("domain loss").is_some()));
    }
}

fn max_param_diff(a: &deepscope::model::Model, b: &deepscope::model::Model) -> f64 {
    a.named_parameters()
        .iter()
        .zip(b.named_parameters())
        .map(|((_, x), (_, y))| (x - y).abs().max().double_value(&[]))
        .fold(0.0, f64::max)
}
