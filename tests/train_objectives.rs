//! Objectives beyond cross-entropy, through the one training loop: a
//! DANN-style objective over two data streams (gradient reversal with a
//! coefficient that follows the progress p) with checkpoint, interrupt and
//! resume; ADDA-style alternating updates of two optimisers; a DSN-style
//! objective of several networks and losses; distillation from a frozen
//! teacher with logits computed on the fly or cached by example position.

mod common;

use common::{err_text, max_weight_diff as max_diff};
use deepscope::data::{Dataset, Split};
use deepscope::model::{Model, ModelBuilder};
use deepscope::train::{
    self, Batch, Callback, Control, EpochRecord, FitConfig, Metrics, Objective, Optimizer,
    OptimizerSpec, ProgressMode, Step,
};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tch::{Device, Kind, Tensor};

/// Two classes of 4x4 one-channel "images" in two domains: class c lights
/// the left (c = 0) or right (c = 1) half; the target domain adds a bright
/// band and noise of another scale.
fn domain(n: i64, target: bool, seed: u64) -> Split {
    // Under the library's lock on libtorch's generator: tests in other
    // threads draw from it too.
    deepscope::rng::with_torch_seed(seed, || draw_domain(n, target))
}

fn draw_domain(n: i64, target: bool) -> Split {
    let labels = Tensor::randint(2, [n], (Kind::Int64, Device::Cpu));
    let left = Tensor::from_slice(&[1.0f32, 1.0, 0.0, 0.0]).view([1, 1, 1, 4]);
    let right = Tensor::from_slice(&[0.0f32, 0.0, 1.0, 1.0]).view([1, 1, 1, 4]);
    let c = labels.to_kind(Kind::Float).view([n, 1, 1, 1]);
    let pattern: Tensor = &right * &c + &left * (c.ones_like() - &c);
    let mut x = pattern.expand([n, 1, 4, 4], false)
        + Tensor::randn([n, 1, 4, 4], (Kind::Float, Device::Cpu)) * 0.3;
    if target {
        x = x * 0.7 + 0.5 + Tensor::randn([n, 1, 4, 4], (Kind::Float, Device::Cpu)) * 0.2;
    }
    Split::new(x.contiguous(), labels).unwrap()
}

fn net(seed: u64, input: &[i64], out: i64, hidden: Option<i64>) -> Model {
    let mut b = ModelBuilder::new(input).flatten("flatten");
    if let Some(h) = hidden {
        b = b.linear("fc", "0", h).relu("relu").dropout("drop", 0.1);
    }
    b.linear("out", "3", out)
        .seed(seed)
        .build(Device::Cpu)
        .unwrap()
}

/// Forward identity, backward times -l: `x.detach() (1 + l) - x l`.
fn reverse_gradient(x: &Tensor, l: f64) -> Tensor {
    x.detach() * (1.0 + l) - x * l
}

fn lambda(p: f64) -> f64 {
    2.0 / (1.0 + (-10.0 * p).exp()) - 1.0
}

struct Dann {
    features: Model,
    classifier: Model,
    domain: Model,
    source: Split,
    target: Split,
    target_test: Split,
}

impl Dann {
    fn new(seed: u64) -> Dann {
        Dann {
            features: net(seed, &[1, 4, 4], 8, Some(16)),
            classifier: net(seed + 1, &[8], 2, None),
            domain: net(seed + 2, &[8], 2, Some(8)),
            source: domain(300, false, 1),
            target: domain(200, true, 2),
            target_test: domain(100, true, 3),
        }
    }
}

impl Objective for Dann {
    fn describe(&self) -> String {
        "test DANN".into()
    }
    fn nets(&mut self) -> Vec<(String, &mut Model)> {
        vec![
            ("features".into(), &mut self.features),
            ("classifier".into(), &mut self.classifier),
            ("domain".into(), &mut self.domain),
        ]
    }
    fn streams(&self) -> Vec<Split> {
        vec![self.source.clone(), self.target.clone()]
    }
    fn step(&mut self, batches: &[Batch], step: &mut Step<'_>) -> deepscope::Result<Metrics> {
        let (s, t) = (&batches[0], &batches[1]);
        assert_eq!(s.images.size()[0], t.images.size()[0], "equal-size batches");
        let fs = self.features.forward(&s.images)?;
        let ft = self.features.forward(&t.images)?;
        let logits = self.classifier.forward(&fs)?;
        let class_loss = train::cross_entropy(&logits, &s.labels)?;
        let l = lambda(step.progress());
        let both = Tensor::cat(&[fs, ft], 0);
        let d = self.domain.forward(&reverse_gradient(&both, l))?;
        let k = s.images.size()[0];
        let dlabels = Tensor::cat(
            &[
                Tensor::zeros([k], (Kind::Int64, Device::Cpu)),
                Tensor::ones([k], (Kind::Int64, Device::Cpu)),
            ],
            0,
        );
        let domain_loss = train::cross_entropy(&d, &dlabels)?;
        let loss = &class_loss + &domain_loss;
        step.minimize(&loss)?;
        let acc = logits
            .argmax(1, false)
            .eq_tensor(&s.labels)
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[]);
        Ok(Metrics::loss(loss.double_value(&[]))
            .accuracy(acc)
            .with("domain loss", domain_loss.double_value(&[]))
            .with("lambda", l))
    }
    fn evaluate(&mut self, _batch: usize) -> deepscope::Result<Option<Metrics>> {
        let (x, y) = (self.target_test.images(), self.target_test.labels());
        let logits = tch::no_grad(|| -> deepscope::Result<Tensor> {
            self.classifier.forward(&self.features.forward(x)?)
        })?;
        let loss = train::cross_entropy(&logits, y)?.double_value(&[]);
        let acc = logits
            .argmax(1, false)
            .eq_tensor(y)
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[]);
        Ok(Some(Metrics::loss(loss).accuracy(acc)))
    }
}

fn config(epochs: usize) -> FitConfig {
    let mut c = FitConfig::new(epochs, 32, Optimizer::momentum(0.05, 0.9));
    c.seed = 9;
    c.progress = ProgressMode::Silent;
    c.interrupt = Some(Arc::new(AtomicBool::new(false)));
    c
}

#[test]
fn a_two_stream_objective_trains_checkpoints_and_resumes_to_the_same_weights() {
    let mut whole = Dann::new(0);
    let mut cfg = config(4);
    cfg.snapshot_epochs = vec![2];
    let run = train::fit_objective(&mut whole, &cfg, &mut []).unwrap();
    let per_epoch = 300usize.div_ceil(32);
    assert_eq!(run.history.steps.len(), 4 * per_epoch);
    // The coefficient follows p = step / total steps.
    for r in &run.history.steps {
        let want = lambda(r.step as f64 / (4 * per_epoch) as f64);
        assert!((r.metric("lambda").unwrap() - want).abs() < 1e-12);
    }
    let last = run.history.last_epoch().unwrap();
    assert!(last.train_accuracy.unwrap() > 0.9, "{last:?}");
    assert!(last.test_accuracy.is_some(), "the objective's evaluation");
    assert!(last.metric("domain loss").is_some());
    // A snapshot holds every network, each under its name.
    let names: Vec<&str> = run.snapshots[0]
        .tensors
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert!(
        names.contains(&"features/0.weight") && names.contains(&"domain/3.bias"),
        "{names:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(4);
    cfg.checkpoint_dir = Some(dir.path().to_path_buf());
    // The flag is set, as the kernel's stop button would, once the first
    // epoch is checkpointed; the run stops at its next batch.
    let mut stop = RaiseAfterEpoch(cfg.interrupt.clone().unwrap());
    let mut partial = Dann::new(0);
    let first = train::fit_objective(&mut partial, &cfg, &mut [&mut stop]).unwrap();
    assert!(first.interrupted);
    assert_eq!(first.history.epochs.len(), 1);
    assert_eq!(first.history.steps.len(), per_epoch);

    // A fresh objective, as after a restart, with other initial weights.
    let mut resumed = Dann::new(50);
    let second = train::fit_objective(&mut resumed, &cfg, &mut []).unwrap();
    assert!(!second.interrupted);
    assert_eq!(second.history.epochs.len(), 4);
    assert_eq!(second.history, run.history_without_times(&second));
    for (a, b) in [
        (&whole.features, &resumed.features),
        (&whole.classifier, &resumed.classifier),
        (&whole.domain, &resumed.domain),
    ] {
        assert_eq!(max_diff(a, b), 0.0, "resumed to the uninterrupted weights");
    }
    // Cross-entropy's checkpoint is not taken for this objective's.
    let ds = Dataset::new(
        "source",
        domain(300, false, 1),
        domain(10, false, 4),
        vec!["left".into(), "right".into()],
    )
    .unwrap();
    let mut other = net(0, &[1, 4, 4], 2, Some(16));
    let msg = err_text(train::fit(&mut other, &ds, &cfg));
    assert!(msg.contains("holds a checkpoint of another run"), "{msg}");
}

/// Raises the stop flag at the end of the first epoch.
struct RaiseAfterEpoch(Arc<AtomicBool>);

impl Callback for RaiseAfterEpoch {
    fn on_epoch(&mut self, _: &EpochRecord, _: &mut Model) -> deepscope::Result<Control> {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(Control::Continue)
    }
}

/// Histories of two runs differ only in wall-clock seconds.
trait SameButTimes {
    fn history_without_times(&self, other: &train::FitResult) -> train::History;
}

impl SameButTimes for train::FitResult {
    fn history_without_times(&self, other: &train::FitResult) -> train::History {
        let mut h = self.history.clone();
        for (e, o) in h.epochs.iter_mut().zip(&other.history.epochs) {
            e.seconds = o.seconds;
        }
        h
    }
}

/// ADDA-style: the discriminator's update, then the target encoder's with
/// inverted labels against the updated discriminator; a frozen source
/// encoder held by the objective.
struct Adda {
    source_encoder: Model,
    target_encoder: Model,
    discriminator: Model,
    source: Split,
    target: Split,
    checked: usize,
}

impl Objective for Adda {
    fn describe(&self) -> String {
        "test ADDA".into()
    }
    fn nets(&mut self) -> Vec<(String, &mut Model)> {
        vec![
            ("target encoder".into(), &mut self.target_encoder),
            ("discriminator".into(), &mut self.discriminator),
        ]
    }
    fn streams(&self) -> Vec<Split> {
        vec![self.source.clone(), self.target.clone()]
    }
    fn optimizers(&self) -> Vec<OptimizerSpec> {
        vec![
            OptimizerSpec::new("discriminator", &["discriminator"])
                .optimizer(Optimizer::adam(1e-3)),
            OptimizerSpec::new("encoder", &["target encoder"]).optimizer(Optimizer::sgd(0.01)),
        ]
    }
    fn step(&mut self, batches: &[Batch], step: &mut Step<'_>) -> deepscope::Result<Metrics> {
        let k = batches[0].images.size()[0];
        let src = tch::no_grad(|| self.source_encoder.forward(&batches[0].images))?;
        let tgt = self.target_encoder.forward(&batches[1].images)?;
        let ones = Tensor::ones([k], (Kind::Int64, Device::Cpu));
        let zeros = Tensor::zeros([k], (Kind::Int64, Device::Cpu));
        let d_in = Tensor::cat(&[src, tgt.detach()], 0);
        let d_loss = train::cross_entropy(
            &self.discriminator.forward(&d_in)?,
            &Tensor::cat(&[&ones, &zeros], 0),
        )?;
        let encoder_before = copy(&self.target_encoder);
        step.update("discriminator", &d_loss)?;
        assert_eq!(
            max_diff_tensors(&encoder_before, &self.target_encoder),
            0.0,
            "the discriminator's update leaves the encoder"
        );
        // Inverted labels: the target encoder learns to look like the source.
        let g_loss = train::cross_entropy(&self.discriminator.forward(&tgt)?, &ones)?;
        let disc_before = copy(&self.discriminator);
        step.update("encoder", &g_loss)?;
        assert_eq!(
            max_diff_tensors(&disc_before, &self.discriminator),
            0.0,
            "the encoder's update leaves the discriminator"
        );
        assert!(max_diff_tensors(&encoder_before, &self.target_encoder) > 0.0);
        assert_eq!(step.lr("encoder")?, 0.01);
        assert_eq!(step.lr("discriminator")?, 1e-3);
        self.checked += 1;
        Ok(Metrics::loss(d_loss.double_value(&[])).with("encoder loss", g_loss.double_value(&[])))
    }
}

fn copy(m: &Model) -> Vec<Tensor> {
    m.named_tensors()
        .into_iter()
        .map(|(_, t)| t.copy())
        .collect()
}

fn max_diff_tensors(before: &[Tensor], m: &Model) -> f64 {
    before
        .iter()
        .zip(m.named_tensors())
        .map(|(a, (_, b))| (a - b).abs().max().double_value(&[]))
        .fold(0.0, f64::max)
}

fn adda(seed: u64) -> Adda {
    let source_encoder = net(seed, &[1, 4, 4], 8, Some(16));
    let mut target_encoder = net(seed + 7, &[1, 4, 4], 8, Some(16));
    target_encoder
        .copy_layers_from(&source_encoder, "out")
        .unwrap();
    Adda {
        source_encoder,
        target_encoder,
        discriminator: net(seed + 1, &[8], 2, Some(8)),
        source: domain(96, false, 1),
        target: domain(64, true, 2),
        checked: 0,
    }
}

#[test]
fn two_optimisers_alternate_and_each_updates_only_its_networks() {
    let mut whole = adda(0);
    let run = train::fit_objective(&mut whole, &config(3), &mut []).unwrap();
    assert_eq!(whole.checked, run.history.steps.len());
    // The first optimiser's rate is the one recorded.
    assert!(run.history.steps.iter().all(|s| s.lr == 1e-3));
    assert!(run.history.steps[0].accuracy.is_none());
    assert!(run.history.epochs[0].train_accuracy.is_none());

    // Two optimisers' states survive a checkpoint: a run cut after its
    // first epoch and resumed ends where the whole run ended.
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(1);
    cfg.checkpoint_dir = Some(dir.path().to_path_buf());
    let mut first = adda(0);
    train::fit_objective(&mut first, &cfg, &mut []).unwrap();
    cfg.epochs = 3;
    let mut resumed = adda(30);
    resumed.source_encoder = first.source_encoder;
    train::fit_objective(&mut resumed, &cfg, &mut []).unwrap();
    assert_eq!(
        max_diff(&whole.target_encoder, &resumed.target_encoder),
        0.0
    );
    assert_eq!(max_diff(&whole.discriminator, &resumed.discriminator), 0.0);
}

/// DSN-style: shared and private encoders, a shared decoder and a
/// classifier, four losses at once (classification, reconstruction of both
/// domains, difference between shared and private codes) through one
/// optimiser.
struct Dsn {
    shared: Model,
    private_source: Model,
    private_target: Model,
    decoder: Model,
    classifier: Model,
    source: Split,
    target: Split,
}

impl Objective for Dsn {
    fn describe(&self) -> String {
        "test DSN".into()
    }
    fn nets(&mut self) -> Vec<(String, &mut Model)> {
        vec![
            ("shared".into(), &mut self.shared),
            ("private source".into(), &mut self.private_source),
            ("private target".into(), &mut self.private_target),
            ("decoder".into(), &mut self.decoder),
            ("classifier".into(), &mut self.classifier),
        ]
    }
    fn streams(&self) -> Vec<Split> {
        vec![self.source.clone(), self.target.clone()]
    }
    fn step(&mut self, batches: &[Batch], step: &mut Step<'_>) -> deepscope::Result<Metrics> {
        let (xs, xt) = (&batches[0].images, &batches[1].images);
        let (hs, ht) = (self.shared.forward(xs)?, self.shared.forward(xt)?);
        let (ps, pt) = (
            self.private_source.forward(xs)?,
            self.private_target.forward(xt)?,
        );
        let class_loss = train::cross_entropy(&self.classifier.forward(&hs)?, &batches[0].labels)?;
        let recon = |h: &Tensor, p: &Tensor, x: &Tensor| -> deepscope::Result<Tensor> {
            let r = self.decoder.forward(&(h + p))?;
            Ok((r - x.flatten(1, -1)).square().mean(Kind::Float))
        };
        let recon_loss = recon(&hs, &ps, xs)? + recon(&ht, &pt, xt)?;
        let difference = hs.transpose(0, 1).matmul(&ps).square().sum(Kind::Float)
            + ht.transpose(0, 1).matmul(&pt).square().sum(Kind::Float);
        let loss = &class_loss + &recon_loss * 0.1 + &difference * 0.01;
        step.minimize(&loss)?;
        Ok(Metrics::loss(loss.double_value(&[]))
            .with("classification", class_loss.double_value(&[]))
            .with("reconstruction", recon_loss.double_value(&[]))
            .with("difference", difference.double_value(&[])))
    }
}

#[test]
fn several_networks_and_losses_train_at_once() {
    let mut dsn = Dsn {
        shared: net(1, &[1, 4, 4], 6, Some(12)),
        private_source: net(2, &[1, 4, 4], 6, Some(12)),
        private_target: net(3, &[1, 4, 4], 6, Some(12)),
        decoder: net(4, &[6], 16, Some(12)),
        classifier: net(5, &[6], 2, None),
        source: domain(128, false, 1),
        target: domain(64, true, 2),
    };
    let before: Vec<Vec<Tensor>> = dsn.nets().iter().map(|(_, m)| copy(m)).collect();
    let run = train::fit_objective(&mut dsn, &config(3), &mut []).unwrap();
    for ((name, m), b) in dsn.nets().iter().zip(&before) {
        assert!(max_diff_tensors(b, m) > 0.0, "{name} was trained");
    }
    let first = &run.history.epochs[0];
    let last = run.history.last_epoch().unwrap();
    for name in ["classification", "reconstruction", "difference"] {
        assert!(last.metric(name).unwrap().is_finite());
    }
    assert!(last.train_loss < first.train_loss, "{first:?} -> {last:?}");
    assert_eq!(
        run.history.metric_names(),
        ["classification", "reconstruction", "difference"]
    );
}

/// Distillation: a frozen teacher (with dropout, kept in evaluation mode)
/// and a student; soft targets at temperature T, logits on the fly or
/// cached once for the transfer set and looked up by example position.
struct Distill<'a> {
    teacher: &'a Model,
    student: Model,
    transfer: Split,
    cached: Option<Tensor>,
    temperature: f64,
}

impl Objective for Distill<'_> {
    fn describe(&self) -> String {
        format!("test distillation T {}", self.temperature)
    }
    fn nets(&mut self) -> Vec<(String, &mut Model)> {
        vec![("student".into(), &mut self.student)]
    }
    fn streams(&self) -> Vec<Split> {
        vec![self.transfer.clone()]
    }
    fn step(&mut self, batches: &[Batch], step: &mut Step<'_>) -> deepscope::Result<Metrics> {
        let b = &batches[0];
        assert!(
            !self.teacher.is_training(),
            "the teacher stays in evaluation mode"
        );
        let fresh = tch::no_grad(|| self.teacher.forward(&b.images))?;
        let teacher = match &self.cached {
            Some(all) => {
                let looked_up = all.index_select(0, &b.indices);
                // Equal up to rounding: a batch and the whole set go
                // through matrix products of other shapes.
                assert!(
                    looked_up.allclose(&fresh, 1e-5, 1e-6, false),
                    "the indices are the batch's positions"
                );
                looked_up
            }
            None => fresh,
        };
        let t = self.temperature;
        let z = self.student.forward(&b.images)?;
        let p = (&teacher / t).softmax(1, Kind::Float);
        let log_q = (&z / t).log_softmax(1, Kind::Float);
        let soft = (&p * (p.log() - &log_q))
            .sum_dim_intlist(1, false, Kind::Float)
            .mean(Kind::Float)
            * (t * t);
        step.minimize(&soft)?;
        Ok(Metrics::loss(soft.double_value(&[])))
    }
}

#[test]
fn a_frozen_teacher_distills_on_the_fly_or_from_cached_logits_alike() {
    let transfer = domain(200, false, 5);
    let mut teacher = net(11, &[1, 4, 4], 2, Some(32));
    let ds = Dataset::new(
        "t",
        transfer.clone(),
        domain(50, false, 6),
        vec!["l".into(), "r".into()],
    )
    .unwrap();
    train::fit(&mut teacher, &ds, &config(5)).unwrap();
    teacher.set_train(false);
    let teacher_weights = copy(&teacher);
    let cached = tch::no_grad(|| teacher.forward(transfer.images())).unwrap();

    let mut results = Vec::new();
    for cache in [false, true] {
        let mut d = Distill {
            teacher: &teacher,
            student: net(12, &[1, 4, 4], 2, Some(8)),
            transfer: transfer.clone(),
            cached: cache.then(|| cached.shallow_clone()),
            temperature: 4.0,
        };
        let run = train::fit_objective(&mut d, &config(4), &mut []).unwrap();
        assert!(run.history.last_epoch().unwrap().train_loss < run.history.epochs[0].train_loss);
        results.push(d.student);
    }
    let diff = max_diff(&results[0], &results[1]);
    assert!(diff < 1e-4, "cached and fresh logits train alike: {diff}");
    assert_eq!(
        max_diff_tensors(&teacher_weights, &teacher),
        0.0,
        "the teacher is not trained"
    );
    let mut student = results.pop().unwrap();
    let acc = train::evaluate(&mut student, &ds.test, 100)
        .unwrap()
        .accuracy;
    assert!(
        acc > 0.9,
        "the student learned the teacher's classes: {acc}"
    );
}

/// Sees the objective's first network at every epoch.
struct FirstNet(Vec<String>);

impl Callback for FirstNet {
    fn on_epoch(&mut self, _: &EpochRecord, model: &mut Model) -> deepscope::Result<Control> {
        self.0.push(model.layer_names().join(","));
        Ok(Control::Continue)
    }
}

#[test]
fn callbacks_see_the_first_network_and_bad_objectives_are_refused() {
    let mut dann = Dann::new(0);
    let mut seen = FirstNet(Vec::new());
    train::fit_objective(&mut dann, &config(2), &mut [&mut seen]).unwrap();
    assert_eq!(seen.0, ["flatten,fc,relu,drop,out"; 2]);

    struct Bad(Model, Split, Vec<OptimizerSpec>, bool);
    impl Objective for Bad {
        fn describe(&self) -> String {
            "bad".into()
        }
        fn nets(&mut self) -> Vec<(String, &mut Model)> {
            vec![("a".into(), &mut self.0)]
        }
        fn streams(&self) -> Vec<Split> {
            vec![self.1.clone()]
        }
        fn optimizers(&self) -> Vec<OptimizerSpec> {
            self.2.clone()
        }
        fn step(&mut self, b: &[Batch], step: &mut Step<'_>) -> deepscope::Result<Metrics> {
            let loss = self.0.forward(&b[0].images)?.square().mean(Kind::Float);
            if self.3 {
                step.update("nope", &loss)?;
            }
            Ok(Metrics::loss(loss.double_value(&[])))
        }
    }
    let bad = |specs: Vec<OptimizerSpec>, update: bool| {
        let mut o = Bad(
            net(0, &[1, 4, 4], 2, None),
            domain(40, false, 1),
            specs,
            update,
        );
        err_text(train::fit_objective(&mut o, &config(1), &mut []))
    };
    let msg = bad(vec![OptimizerSpec::new("x", &["b"])], false);
    assert!(
        msg.contains("optimiser 'x' updates a network 'b' the objective does not have; it has: a"),
        "{msg}"
    );
    let msg = bad(
        vec![
            OptimizerSpec::new("x", &["a"]),
            OptimizerSpec::new("y", &["a"]),
        ],
        false,
    );
    assert!(
        msg.contains("network 'a' is updated by two optimisers, 'x' and 'y'"),
        "{msg}"
    );
    let msg = bad(vec![], false);
    assert!(msg.contains("updated no optimiser"), "{msg}");
    let msg = bad(vec![], true);
    assert!(
        msg.contains("no optimiser named 'nope'; this objective has: main"),
        "{msg}"
    );
}
