//! The training loop.

use super::checkpoint::{self, CheckpointMeta};
use super::evaluate::{cross_entropy, evaluate};
use super::history::{EpochRecord, History, StepRecord};
use super::optim::{Optimizer, OptimizerState};
use super::progress::ProgressMode;
use super::schedule::Schedule;
use crate::data::transforms::Transform;
use crate::data::{Dataset, Order};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::rng::seeded_stream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tch::{Kind, Tensor};

/// How to train: epochs, batches, optimiser, schedule, seed, and what to
/// keep along the way.
#[derive(Clone)]
pub struct FitConfig {
    /// Number of passes over the training split.
    pub epochs: usize,
    /// Examples per mini-batch.
    pub batch_size: usize,
    /// Optimiser and its hyper-parameters.
    pub optimizer: Optimizer,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Seed of the batch order, augmentation and dropout: the same seed gives
    /// the same run.
    pub seed: u64,
    /// Augmentation applied to each training batch.
    pub augment: Option<Arc<dyn Transform>>,
    /// Evaluate on the test split after every epoch.
    pub evaluate: bool,
    /// Drop the last incomplete batch of each epoch.
    pub drop_last: bool,
    /// Save a checkpoint here after every epoch, and resume from it if one is
    /// already there.
    pub checkpoint_dir: Option<PathBuf>,
    /// Keep a copy of the weights after these epochs (1-based), e.g. for
    /// Zeiler & Fergus's Fig. 4.
    pub snapshot_epochs: Vec<usize>,
    /// How to show progress.
    pub progress: ProgressMode,
    /// The stop flag checked between batches (default: the process-wide one
    /// the kernel and Ctrl-C set).
    pub interrupt: Option<Arc<AtomicBool>>,
}

impl FitConfig {
    /// `epochs` epochs of batches of `batch_size` with `optimizer`; constant
    /// rate, seed 0, evaluation after each epoch, progress shown.
    pub fn new(epochs: usize, batch_size: usize, optimizer: Optimizer) -> Self {
        FitConfig {
            epochs,
            batch_size,
            optimizer,
            schedule: Schedule::Constant,
            seed: 0,
            augment: None,
            evaluate: true,
            drop_last: false,
            checkpoint_dir: None,
            snapshot_epochs: Vec::new(),
            progress: ProgressMode::Auto,
            interrupt: None,
        }
    }

    fn fingerprint(&self) -> String {
        format!(
            "batch {} optimizer {:?} schedule {:?} seed {} augment {} drop_last {}",
            self.batch_size,
            self.optimizer,
            self.schedule,
            self.seed,
            self.augment.is_some(),
            self.drop_last
        )
    }
}

/// The weights after an epoch.
pub struct Snapshot {
    /// The epoch (1-based) after which they were taken.
    pub epoch: usize,
    /// Every parameter and buffer, copied.
    pub tensors: Vec<(String, Tensor)>,
}

/// What [`fit`] returns: the history, the snapshots, and whether it stopped
/// early on an interrupt.
pub struct FitResult {
    /// Metrics per step and per epoch (including those before a resume).
    pub history: History,
    /// Weights after the epochs asked for.
    pub snapshots: Vec<Snapshot>,
    /// True if the stop flag ended the run before its last epoch.
    pub interrupted: bool,
}

/// Trains `model` on `data.train` with cross-entropy.
///
/// Each epoch draws its batch order, augmentation and dropout from
/// `(seed, epoch)`, so a run resumed from a checkpoint repeats exactly what
/// the uninterrupted run would have done. The stop flag ends the loop at the
/// next batch; the model keeps what it learned and the result says so.
pub fn fit(model: &mut Model, data: &Dataset, config: &FitConfig) -> Result<FitResult> {
    if config.epochs == 0 || config.batch_size == 0 {
        return Err(Error::invalid(format!(
            "fit needs at least one epoch and a batch size of at least 1, got {} epochs of {}",
            config.epochs, config.batch_size
        )));
    }
    if data.train.is_empty() {
        return Err(Error::invalid(format!(
            "dataset '{}' has no training examples",
            data.name
        )));
    }
    let shape = data.train.image_shape();
    if model.input_shape() != shape {
        return Err(Error::shape(
            "training images",
            format!(
                "examples of the model's input shape {:?}",
                model.input_shape()
            ),
            format!("{shape:?}"),
        ));
    }
    if model.output_shape() != [data.num_classes()] {
        return Err(Error::shape(
            "model output",
            format!(
                "[{}] (one logit per class of '{}')",
                data.num_classes(),
                data.name
            ),
            format!("{:?}", model.output_shape()),
        ));
    }
    let mut optim = OptimizerState::new(config.optimizer)?;
    let fingerprint = config.fingerprint();
    let mut history = History::default();
    let mut start_epoch = 0;
    if let Some(dir) = &config.checkpoint_dir {
        if let Some(meta) = checkpoint::load(dir, model, &mut optim, &fingerprint)? {
            start_epoch = meta.epochs_done;
            history = meta.history;
        }
    }
    let interrupt = config
        .interrupt
        .clone()
        .unwrap_or_else(super::interrupt::shared_flag);
    let device = model.device();
    let per_epoch = {
        let n = data.train.len();
        if config.drop_last {
            n / config.batch_size
        } else {
            n.div_ceil(config.batch_size)
        }
    };
    if per_epoch == 0 {
        return Err(Error::invalid(
            "drop_last leaves no batch: the batch is larger than the training split",
        ));
    }
    let total = per_epoch * config.epochs;
    let mut progress = config.progress.reporter();
    progress.start(total, start_epoch * per_epoch);
    let mut snapshots = Vec::new();
    let mut interrupted = false;
    let was_training = model.is_training();

    for epoch in start_epoch..config.epochs {
        let started = Instant::now();
        model.reseed(mix(config.seed, epoch as u64));
        let mut aug_rng = seeded_stream(config.seed ^ 0x5eed_a0a0_5eed_a0a0, epoch as u64);
        model.set_train(true);
        let (mut loss_sum, mut acc_sum, mut count) = (0.0, 0.0, 0usize);
        let order = Order::Shuffled {
            seed: config.seed,
            epoch: epoch as u64,
        };
        for (i, (x, y)) in data
            .train
            .batches(config.batch_size, order, config.drop_last)?
            .enumerate()
        {
            if interrupt.swap(false, Ordering::SeqCst) {
                interrupted = true;
                break;
            }
            let x = match &config.augment {
                Some(t) => t.apply(&x, &mut aug_rng)?,
                None => x,
            };
            let (x, y) = (x.to_device(device), y.to_device(device));
            let logits = model.forward(&x)?;
            let loss = cross_entropy(&logits, &y)?;
            for (_, mut p) in model.named_parameters() {
                p.zero_grad();
            }
            loss.f_backward()?;
            let step = epoch * per_epoch + i;
            let lr = config.optimizer.lr() * config.schedule.factor(epoch, step, total);
            optim.step(&model.param_groups(), lr)?;
            let loss_v = loss.double_value(&[]);
            if !loss_v.is_finite() {
                model.set_train(was_training);
                progress.finish(true);
                return Err(Error::invalid(format!(
                    "training diverged: the loss is {loss_v} at epoch {}, step {step} (learning rate {lr}); lower it",
                    epoch + 1
                )));
            }
            let acc = accuracy(&logits, &y)?;
            let record = StepRecord {
                epoch,
                step,
                loss: loss_v,
                accuracy: acc,
                lr,
            };
            progress.step(&record);
            history.steps.push(record);
            loss_sum += loss_v;
            acc_sum += acc;
            count += 1;
        }
        if interrupted {
            break;
        }
        let (test_loss, test_accuracy) = if config.evaluate && !data.test.is_empty() {
            let e = evaluate(model, &data.test, config.batch_size.max(256))?;
            (Some(e.loss), Some(e.accuracy))
        } else {
            (None, None)
        };
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / count.max(1) as f64,
            train_accuracy: acc_sum / count.max(1) as f64,
            test_loss,
            test_accuracy,
            seconds: started.elapsed().as_secs_f64(),
        };
        progress.epoch(&record, config.epochs);
        history.epochs.push(record);
        if config.snapshot_epochs.contains(&(epoch + 1)) {
            let tensors = model
                .named_tensors()
                .into_iter()
                .map(|(n, t)| (n, t.copy()))
                .collect();
            snapshots.push(Snapshot {
                epoch: epoch + 1,
                tensors,
            });
        }
        if let Some(dir) = &config.checkpoint_dir {
            let meta = CheckpointMeta {
                epochs_done: epoch + 1,
                fingerprint: fingerprint.clone(),
                history: history.clone(),
            };
            checkpoint::save(dir, model, &optim, &meta)?;
        }
    }
    progress.finish(interrupted);
    model.set_train(was_training);
    Ok(FitResult {
        history,
        snapshots,
        interrupted,
    })
}

fn accuracy(logits: &Tensor, y: &Tensor) -> Result<f64> {
    Ok(logits
        .argmax(1, false)
        .f_eq_tensor(y)?
        .to_kind(Kind::Float)
        .mean(Kind::Float)
        .double_value(&[]))
}

/// A seed for the model's dropout generator from the run's seed and the
/// epoch (splitmix64), so each epoch's dropout masks are fixed by the pair.
fn mix(seed: u64, epoch: u64) -> u64 {
    let mut z = seed.wrapping_add(epoch.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) >> 1
}
