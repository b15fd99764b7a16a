//! Training: our optimisers against torch.optim, repeatable runs, resume
//! after an interruption to the same weights, evaluation, and bad settings.

mod common;

use common::{err_text, max_weight_diff as max_diff};
use deepscope::data::{self, Order};
use deepscope::model::Model;
use deepscope::train::{
    self, Callback, Control, EpochRecord, FitConfig, Optimizer, OptimizerState, ProgressMode,
    Schedule, StepRecord,
};
use deepscope::{weights, zoo};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tch::{Device, Tensor};

fn steps(model: &mut Model, opt: Optimizer, batches: &[(Tensor, Tensor)]) {
    let mut state = OptimizerState::new(opt).unwrap();
    model.set_train(true);
    for (x, y) in batches {
        let loss = train::cross_entropy(&model.forward(x).unwrap(), y).unwrap();
        for (_, mut p) in model.named_parameters() {
            p.zero_grad();
        }
        loss.backward();
        state.step(&model.param_groups(), opt.lr()).unwrap();
    }
}

#[test]
fn sgd_and_adam_match_torch_optim() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let fm = data::fashion_mnist().unwrap();
    let batches: Vec<(Tensor, Tensor)> = fm
        .train
        .batches(32, Order::Sequential, false)
        .unwrap()
        .take(5)
        .collect();
    let mut named = Vec::new();
    for (i, (x, y)) in batches.iter().enumerate() {
        named.push((format!("x{i}"), x.shallow_clone()));
        named.push((format!("y{i}"), y.shallow_clone()));
    }
    weights::write_safetensors(&named, dir.path().join("batches.safetensors")).unwrap();
    let init = zoo::lenet5(10).seed(11).build(Device::Cpu).unwrap();
    weights::save(&init, dir.path().join("init.safetensors")).unwrap();
    let status = std::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/python/optim_reference.py"))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());

    let sgd = Optimizer::Sgd {
        lr: 0.05,
        momentum: 0.9,
        weight_decay: 5e-4,
        nesterov: true,
    };
    let adam = Optimizer::Adam {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 1e-4,
    };
    for (opt, file) in [(sgd, "sgd.safetensors"), (adam, "adam.safetensors")] {
        let mut ours = zoo::lenet5(10).seed(11).build(Device::Cpu).unwrap();
        steps(&mut ours, opt, &batches);
        let mut theirs = zoo::lenet5(10).build(Device::Cpu).unwrap();
        weights::load(&mut theirs, dir.path().join(file)).unwrap();
        let d = max_diff(&ours, &theirs);
        assert!(d < 1e-5, "{file}: max |ours - torch.optim| = {d:e}");
        assert!(
            max_diff(&ours, &init) > 1e-3,
            "{file}: the steps changed the weights"
        );
    }
}

#[test]
fn a_zero_learning_rate_scale_leaves_a_layer_untouched() {
    let fm = data::digits().unwrap();
    let mut m = zoo::mlp(&[1, 8, 8], &[32], 10, zoo::Activation::Relu)
        .seed(0)
        .build(Device::Cpu)
        .unwrap();
    m.set_lr_scale("fc1", 0.0).unwrap();
    let before = m.layer("fc1").unwrap().tensor("weight").unwrap().copy();
    let out_before = m.layer("out").unwrap().tensor("weight").unwrap().copy();
    let batches: Vec<_> = fm
        .train
        .batches(64, Order::Sequential, false)
        .unwrap()
        .take(3)
        .collect();
    steps(&mut m, Optimizer::momentum(0.1, 0.9), &batches);
    assert!(m
        .layer("fc1")
        .unwrap()
        .tensor("weight")
        .unwrap()
        .equal(&before));
    assert!(!m
        .layer("out")
        .unwrap()
        .tensor("weight")
        .unwrap()
        .equal(&out_before));
}

fn digits_net(seed: u64) -> Model {
    deepscope::model::ModelBuilder::new(&[1, 8, 8])
        .flatten("flatten")
        .linear("fc1", "layers.0", 64)
        .relu("relu1")
        .dropout("drop1", 0.2)
        .linear("out", "layers.3", 10)
        .seed(seed)
        .build(Device::Cpu)
        .unwrap()
}

fn digits_config() -> FitConfig {
    let mut c = FitConfig::new(
        4,
        32,
        Optimizer::Sgd {
            lr: 0.05,
            momentum: 0.9,
            weight_decay: 1e-4,
            nesterov: false,
        },
    );
    c.schedule = Schedule::Step {
        every: 2,
        gamma: 0.5,
    };
    c.seed = 3;
    c.progress = ProgressMode::Silent;
    c.interrupt = Some(Arc::new(AtomicBool::new(false)));
    c
}

#[test]
fn fit_learns_and_the_same_seed_repeats_the_run_exactly() {
    let ds = data::digits().unwrap();
    let mut a = digits_net(1);
    let run = train::fit(&mut a, &ds, &digits_config()).unwrap();
    assert!(!run.interrupted);
    assert_eq!(run.history.epochs.len(), 4);
    assert_eq!(run.history.steps.len(), 4 * 1438usize.div_ceil(32));
    let last = run.history.last_epoch().unwrap();
    assert!(
        last.test_accuracy.unwrap() > 0.9,
        "8x8 digits are easy: {last:?}"
    );
    assert!(run.history.steps[0].loss > last.train_loss);
    // The step schedule halves the rate every two epochs.
    assert_eq!(run.history.steps.last().unwrap().lr, 0.025);

    let mut b = digits_net(1);
    train::fit(&mut b, &ds, &digits_config()).unwrap();
    assert_eq!(max_diff(&a, &b), 0.0, "same seed, same run, bit for bit");
    // Inside a caller's no_grad scope the run records its gradients all the
    // same (a benchmark that trained its model there failed).
    let mut c = digits_net(1);
    tch::no_grad(|| train::fit(&mut c, &ds, &digits_config())).unwrap();
    assert_eq!(max_diff(&a, &c), 0.0, "the same run inside no_grad");

    let eval = train::evaluate(&mut a, &ds.test, 100).unwrap();
    let total: i64 = eval.confusion.iter().flatten().sum();
    assert_eq!(total, ds.test.len() as i64);
    let diag: i64 = (0..10).map(|i| eval.confusion[i][i]).sum();
    assert!((eval.accuracy - diag as f64 / total as f64).abs() < 1e-12);
    assert!((eval.accuracy - last.test_accuracy.unwrap()).abs() < 1e-12);
    assert!(eval
        .per_class_accuracy()
        .iter()
        .all(|&r| (0.0..=1.0).contains(&r)));
}

#[test]
fn an_interrupted_run_resumes_from_its_checkpoint_to_the_same_weights() {
    let ds = data::digits().unwrap();
    let mut whole = digits_net(2);
    let mut cfg = digits_config();
    cfg.snapshot_epochs = vec![1, 3];
    let uninterrupted = train::fit(&mut whole, &ds, &cfg).unwrap();
    assert_eq!(
        uninterrupted
            .snapshots
            .iter()
            .map(|s| s.epoch)
            .collect::<Vec<_>>(),
        vec![1, 3]
    );

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = digits_config();
    cfg.checkpoint_dir = Some(dir.path().to_path_buf());
    // First run: stopped by the flag partway through (as the kernel's stop
    // button or Ctrl-C would), after at least one epoch has been checkpointed.
    let flag = cfg.interrupt.clone().unwrap();
    let mut partial = digits_net(2);
    let stopper = {
        let flag = flag.clone();
        let marker = dir.path().join("checkpoint.json");
        std::thread::spawn(move || {
            while !marker.exists() {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            flag.store(true, Ordering::SeqCst);
        })
    };
    let first = train::fit(&mut partial, &ds, &cfg).unwrap();
    stopper.join().unwrap();
    assert!(first.interrupted, "the flag stopped the run");
    assert!(first.history.epochs.len() < 4);
    assert!(
        !flag.load(Ordering::SeqCst),
        "fit clears the flag it honoured"
    );

    // Second run, in a fresh model as after a restart: resumes and finishes.
    let mut resumed = digits_net(99);
    let second = train::fit(&mut resumed, &ds, &cfg).unwrap();
    assert!(!second.interrupted);
    assert_eq!(second.history.epochs.len(), 4);
    assert_eq!(
        max_diff(&whole, &resumed),
        0.0,
        "resumed run reaches the uninterrupted weights"
    );

    // A checkpoint of another run is not silently reused.
    let mut other = digits_config();
    other.checkpoint_dir = Some(dir.path().to_path_buf());
    other.seed = 4;
    let msg = err_text(train::fit(&mut digits_net(2), &ds, &other));
    assert!(msg.contains("holds a checkpoint of another run"), "{msg}");
}

#[test]
fn a_grid_run_stopped_by_the_flag_stores_nothing_and_resumes_to_the_uninterrupted_result() {
    let ds = data::digits().unwrap();
    let mut whole = digits_net(2);
    train::fit(&mut whole, &ds, &digits_config()).unwrap();
    let expected = train::evaluate(&mut whole, &ds.test, 256).unwrap().accuracy;

    let dir = tempfile::tempdir().unwrap();
    let runs = train::RunFolder::new(dir.path()).unwrap();
    let cfg = digits_config();
    let flag = cfg.interrupt.clone().unwrap();
    // The net and its weights, as a notebook's grid keeps them.
    let train_one = |files: &train::RunFiles| -> deepscope::Result<f64> {
        let mut c = cfg.clone();
        c.checkpoint_dir = Some(files.checkpoint.clone());
        let mut net = digits_net(2);
        train::fit(&mut net, &ds, &c)?.completed()?;
        weights::save(&net, files.dir.join("weights.safetensors"))?;
        Ok(train::evaluate(&mut net, &ds.test, 256)?.accuracy)
    };
    let stopper = {
        let flag = flag.clone();
        let marker = dir
            .path()
            .join("k")
            .join("checkpoint")
            .join("checkpoint.json");
        std::thread::spawn(move || {
            while !marker.exists() {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            flag.store(true, Ordering::SeqCst);
        })
    };
    let first = runs.run("k", "digits mlp", train_one);
    stopper.join().unwrap();
    let e = first.unwrap_err();
    assert!(matches!(e, deepscope::Error::Interrupted(_)), "{e}");
    assert!(e.to_string().contains("of 4 epochs"), "{e}");
    assert!(
        runs.keys().unwrap().is_empty(),
        "an interrupted run is not finished"
    );
    assert!(dir.path().join("k/checkpoint/checkpoint.json").exists());

    let second = runs.run("k", "digits mlp", train_one).unwrap();
    assert_eq!(
        second, expected,
        "resumed to the uninterrupted run's accuracy"
    );
    let mut reloaded = digits_net(7);
    weights::load(&mut reloaded, dir.path().join("k/weights.safetensors")).unwrap();
    assert_eq!(max_diff(&whole, &reloaded), 0.0, "and to its weights");
    assert!(
        !dir.path().join("k/checkpoint").exists(),
        "the checkpoint goes once finished"
    );
    let third = runs.run("k", "digits mlp", |_| -> deepscope::Result<f64> {
        panic!("trained twice")
    });
    assert_eq!(third.unwrap(), expected);
}

#[test]
fn bad_settings_are_refused_before_training() {
    let ds = data::digits().unwrap();
    let mut m = digits_net(0);
    let cfg = |f: fn(&mut FitConfig)| {
        let mut c = digits_config();
        f(&mut c);
        c
    };
    assert!(
        err_text(train::fit(&mut m, &ds, &cfg(|c| c.epochs = 0))).contains("at least one epoch")
    );
    assert!(err_text(train::fit(
        &mut m,
        &ds,
        &cfg(|c| c.optimizer = Optimizer::sgd(f64::NAN))
    ))
    .contains("learning rate"));
    assert!(err_text(train::fit(
        &mut m,
        &ds,
        &cfg(|c| c.optimizer = Optimizer::Sgd {
            lr: 0.1,
            momentum: 0.0,
            weight_decay: 0.0,
            nesterov: true
        })
    ))
    .contains("Nesterov"));
    let mut lenet = zoo::lenet5(10).build(Device::Cpu).unwrap();
    let msg = err_text(train::fit(&mut lenet, &ds, &digits_config()));
    assert!(
        msg.contains("model's input shape [1, 28, 28]") && msg.contains("[1, 8, 8]"),
        "{msg}"
    );
    let mut five = zoo::mlp(&[1, 8, 8], &[8], 5, zoo::Activation::Tanh)
        .build(Device::Cpu)
        .unwrap();
    assert!(err_text(train::fit(&mut five, &ds, &digits_config())).contains("one logit per class"));
    let logits = Tensor::zeros([2, 3], (tch::Kind::Float, Device::Cpu));
    let msg = err_text(train::cross_entropy(
        &logits,
        &Tensor::from_slice(&[0i64, 3]),
    ));
    assert!(
        msg.contains("labels range over 0..=3, but the model gives 3 logits"),
        "{msg}"
    );
    let mut diverging = cfg(|c| c.optimizer = Optimizer::sgd(1e30));
    diverging.epochs = 2;
    let mut net = digits_net(0);
    let msg = err_text(train::fit(&mut net, &ds, &diverging));
    assert!(msg.contains("training diverged"), "{msg}");
    assert!(
        !net.is_training(),
        "an error leaves the model in the mode it had"
    );
}

/// Stops after `patience` epochs and counts steps on the way.
struct StopAfter {
    epochs_seen: usize,
    patience: usize,
    steps: usize,
}

impl Callback for StopAfter {
    fn on_step(&mut self, _: &StepRecord) -> deepscope::Result<Control> {
        self.steps += 1;
        Ok(Control::Continue)
    }
    fn on_epoch(&mut self, r: &EpochRecord, model: &mut Model) -> deepscope::Result<Control> {
        assert!(
            model.is_training(),
            "callbacks see the model in training mode"
        );
        assert!(r.test_accuracy.is_some());
        self.epochs_seen += 1;
        Ok(if self.epochs_seen >= self.patience {
            Control::Stop
        } else {
            Control::Continue
        })
    }
}

#[test]
fn callbacks_see_every_step_and_epoch_and_can_stop_early() {
    let ds = data::digits().unwrap();
    let mut cb = StopAfter {
        epochs_seen: 0,
        patience: 2,
        steps: 0,
    };
    let mut net = digits_net(5);
    let run = train::fit_with(&mut net, &ds, &digits_config(), &mut [&mut cb]).unwrap();
    assert!(run.stopped_early && !run.interrupted);
    assert_eq!(
        run.history.epochs.len(),
        2,
        "stopped after two of four epochs"
    );
    assert_eq!(cb.steps, run.history.steps.len());
    assert_eq!(cb.steps, 2 * 1438usize.div_ceil(32));
}

#[test]
fn stop_when_fitted_ends_the_run_at_the_first_fitted_epoch() {
    let data = data::digits().unwrap().balanced_subset(20, 5, 0).unwrap();
    let mut model = zoo::mlp(&[1, 8, 8], &[64], 10, zoo::Activation::Relu)
        .seed(0)
        .build(Device::Cpu)
        .unwrap();
    let mut config = FitConfig::new(200, 50, Optimizer::adam(0.01));
    config.evaluate = false;
    config.progress = ProgressMode::Silent;
    let mut stop = deepscope::train::StopWhenFitted::new(1.0);
    let run = deepscope::train::fit_with(&mut model, &data, &config, &mut [&mut stop]).unwrap();
    let at = stop
        .fitted_at
        .expect("200 examples are fitted within 200 epochs");
    assert!(run.stopped_early);
    assert_eq!(run.history.epochs.len(), at);
    assert_eq!(run.history.epochs[at - 1].train_accuracy, Some(1.0));
    assert!(run.history.epochs[..at - 1]
        .iter()
        .all(|e| e.train_accuracy.is_some_and(|a| a < 1.0)));
}
