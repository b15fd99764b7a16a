//! The default objective (cross-entropy on one model and one dataset) trains
//! bit for bit as `fit` did before objectives existed: the SHA-256 of every
//! weight and buffer after a seeded run equals a checksum recorded with the
//! loop as it was at commit 6ac058f.
//!
//! The checksums are of IEEE bytes, so they hold on the machine kind our CI
//! runs on (x86-64, the torch 2.13 CPU kernels); a CPU with other vector
//! units may round differently, which the failure message says. libtorch
//! splits convolutions differently with other thread counts (the LeNet-5
//! checksum changes with it), so these runs use one intra-op thread
//! whatever the machine's core count.

use deepscope::data::transforms::{RandomCrop, RandomFlip};
use deepscope::data::{self, Dataset};
use deepscope::model::{Model, ModelBuilder};
use deepscope::train::{self, FitConfig, Optimizer, ProgressMode, Schedule};
use deepscope::zoo;
use sha2::{Digest, Sha256};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tch::{Device, Kind};

/// SHA-256 over each tensor's name and its values as little-endian f64.
fn checksum(model: &Model) -> String {
    let mut h = Sha256::new();
    for (name, t) in model.named_tensors() {
        h.update(name.as_bytes());
        let values = Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).unwrap();
        for v in values {
            h.update(v.to_le_bytes());
        }
    }
    format!("{:x}", h.finalize())
}

fn quiet(mut c: FitConfig) -> FitConfig {
    tch::set_num_threads(1);
    c.progress = ProgressMode::Silent;
    // A flag of its own: another test binary's interrupt cannot reach it.
    c.interrupt = Some(Arc::new(AtomicBool::new(false)));
    c
}

fn check(name: &str, got: &str, want: &str) {
    assert_eq!(
        got, want,
        "{name}: the weights after a seeded run differ from the checksum recorded before \
         objectives existed (on a CPU unlike our CI machine, rounding may differ)"
    );
}

/// An MLP with dropout on 8x8 digits: augmentation (crop and flip), Nesterov
/// momentum with weight decay, a step schedule, a short last batch,
/// evaluation after each epoch.
#[test]
fn digits_mlp_with_dropout_augmentation_and_a_schedule() {
    let ds = data::digits().unwrap();
    let mut net = ModelBuilder::new(&[1, 8, 8])
        .flatten("flatten")
        .linear("fc1", "layers.0", 48)
        .relu("relu1")
        .dropout("drop1", 0.3)
        .linear("out", "layers.3", 10)
        .seed(7)
        .build(Device::Cpu)
        .unwrap();
    let mut cfg = quiet(FitConfig::new(
        3,
        50,
        Optimizer::Sgd {
            lr: 0.05,
            momentum: 0.9,
            weight_decay: 1e-3,
            nesterov: true,
        },
    ));
    cfg.schedule = Schedule::Step {
        every: 2,
        gamma: 0.5,
    };
    cfg.seed = 11;
    cfg.augment = Some(Arc::new(deepscope::data::transforms::Compose(vec![
        Box::new(RandomCrop {
            height: 8,
            width: 8,
            padding: 1,
        }),
        Box::new(RandomFlip { p: 0.5 }),
    ])));
    let run = train::fit(&mut net, &ds, &cfg).unwrap();
    assert_eq!(run.history.steps.len(), 3 * 1438usize.div_ceil(50));
    check(
        "digits MLP",
        &checksum(&net),
        "984c1867a57677d4bb7e29c9c9215e11cfa4b30cbb561944bc013eacb5f8cb8d",
    );
}

/// LeNet-5 on 1,000 Fashion-MNIST images with Adam, dropping the short last
/// batch.
#[test]
fn lenet5_on_fashion_mnist_with_adam() {
    let fm = data::fashion_mnist().unwrap();
    let small: Dataset = fm.balanced_subset(100, 20, 3).unwrap();
    let mut net = zoo::lenet5(10).seed(2).build(Device::Cpu).unwrap();
    let mut cfg = quiet(FitConfig::new(2, 64, Optimizer::adam(2e-3)));
    cfg.seed = 5;
    cfg.drop_last = true;
    let run = train::fit(&mut net, &small, &cfg).unwrap();
    assert_eq!(run.history.steps.len(), 2 * (1000 / 64));
    check(
        "LeNet-5",
        &checksum(&net),
        "0534ef72e6edfe01e3c16aab1dc7abf01dd10c35be2b8e4fc902f42ee72095ba",
    );
}
