//! The training loop.

use super::checkpoint::{self, CheckpointMeta};
use super::evaluate::{evaluate, mean_nll};
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

    /// The settings that decide a run's weights, in words (batch, optimiser,
    /// schedule, seed, augmentation, drop_last): checkpoints and the
    /// pretrained cache key use it.
    pub(crate) fn fingerprint(&self) -> String {
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
    /// True if a callback asked to stop (e.g. early stopping).
    pub stopped_early: bool,
}

/// What a [`Callback`] asks of the training loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// End the run after this step or epoch (the model keeps what it learned).
    Stop,
}

/// Hooks into a training run: measure something every epoch, save a figure,
/// stop early. Both methods default to doing nothing.
pub trait Callback {
    /// After each optimisation step.
    fn on_step(&mut self, _record: &StepRecord) -> Result<Control> {
        Ok(Control::Continue)
    }
    /// After each epoch (evaluated, snapshotted and checkpointed), with the
    /// model in training mode.
    fn on_epoch(&mut self, _record: &EpochRecord, _model: &mut Model) -> Result<Control> {
        Ok(Control::Continue)
    }
}

/// Trains `model` on `data.train` with cross-entropy.
///
/// Each epoch draws its batch order, augmentation and dropout from
/// `(seed, epoch)`, so a run resumed from a checkpoint repeats exactly what
/// the uninterrupted run would have done. The stop flag ends the loop at the
/// next batch; the model keeps what it learned and the result says so.
pub fn fit(model: &mut Model, data: &Dataset, config: &FitConfig) -> Result<FitResult> {
    fit_with(model, data, config, &mut [])
}

/// [`fit`] with callbacks, called in order after every step and epoch.
pub fn fit_with(
    model: &mut Model,
    data: &Dataset,
    config: &FitConfig,
    callbacks: &mut [&mut dyn Callback],
) -> Result<FitResult> {
    check_fit(model, data, config)?;
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
    let mut run = Run {
        config,
        data,
        optim,
        fingerprint,
        history,
        snapshots: Vec::new(),
        per_epoch,
        total: per_epoch * config.epochs,
        interrupt: config.interrupt.clone(),
        interrupted: false,
        stopped_early: false,
    };
    let mut progress = config.progress.reporter();
    progress.start(run.total, start_epoch * per_epoch);
    let was_training = model.is_training();
    // Whatever happens inside, the model's mode and the progress display are restored.
    let outcome = (start_epoch..config.epochs).try_for_each(|epoch| {
        if run.interrupted || run.stopped_early {
            return Ok(());
        }
        run.epoch(epoch, model, progress.as_mut(), callbacks)
    });
    progress.finish(run.interrupted || outcome.is_err());
    model.set_train(was_training);
    outcome?;
    Ok(FitResult {
        history: run.history,
        snapshots: run.snapshots,
        interrupted: run.interrupted,
        stopped_early: run.stopped_early,
    })
}

fn check_fit(model: &Model, data: &Dataset, config: &FitConfig) -> Result<()> {
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
    Ok(())
}

/// The state of one training run between epochs.
struct Run<'a> {
    config: &'a FitConfig,
    data: &'a Dataset,
    optim: OptimizerState,
    fingerprint: String,
    history: History,
    snapshots: Vec<Snapshot>,
    per_epoch: usize,
    total: usize,
    /// A caller's own stop flag; `None` for the process-wide one.
    interrupt: Option<Arc<AtomicBool>>,
    interrupted: bool,
    stopped_early: bool,
}

impl Run<'_> {
    fn epoch(
        &mut self,
        epoch: usize,
        model: &mut Model,
        progress: &mut dyn super::progress::Progress,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<()> {
        let config = self.config;
        let started = Instant::now();
        model.reseed(mix(config.seed, epoch as u64));
        let mut aug_rng = seeded_stream(config.seed ^ 0x5eed_a0a0_5eed_a0a0, epoch as u64);
        model.set_train(true);
        let device = model.device();
        // Freezing and learning-rate scales change only between epochs (in an
        // epoch callback), so the groups are gathered once per epoch.
        let groups = model.param_groups();
        let (mut loss_sum, mut acc_sum, mut count) = (0.0, 0.0, 0usize);
        let order = Order::Shuffled {
            seed: config.seed,
            epoch: epoch as u64,
        };
        for (i, (x, y)) in self
            .data
            .train
            .batches(config.batch_size, order, config.drop_last)?
            .enumerate()
        {
            let stop = match &self.interrupt {
                Some(flag) => flag.swap(false, Ordering::SeqCst),
                None => super::interrupt::take(),
            };
            if stop {
                self.interrupted = true;
                return Ok(());
            }
            let x = match &config.augment {
                Some(t) => t.apply(&x, &mut aug_rng)?,
                None => x,
            };
            let (x, y) = (x.to_device(device), y.to_device(device));
            let logits = model.forward(&x)?;
            // Labels fit the logits: Dataset::new checked their range and
            // check_fit the class count.
            let loss = mean_nll(&logits, &y)?;
            for (_, p) in groups.iter().flat_map(|g| &g.params) {
                p.shallow_clone().zero_grad();
            }
            loss.f_backward()?;
            let step = epoch * self.per_epoch + i;
            let lr = config.optimizer.lr() * config.schedule.factor(epoch, step, self.total);
            self.optim.step(&groups, lr)?;
            let loss_v = loss.double_value(&[]);
            if !loss_v.is_finite() {
                return Err(Error::invalid(format!(
                    "training diverged: the loss is {loss_v} at epoch {}, step {step} (learning rate {lr}); lower it",
                    epoch + 1
                )));
            }
            let record = StepRecord {
                epoch,
                step,
                loss: loss_v,
                accuracy: accuracy(&logits, &y)?,
                lr,
            };
            progress.step(&record);
            let mut stop = false;
            for cb in callbacks.iter_mut() {
                stop |= cb.on_step(&record)? == Control::Stop;
            }
            loss_sum += record.loss;
            acc_sum += record.accuracy;
            count += 1;
            self.history.steps.push(record);
            if stop {
                self.stopped_early = true;
                return Ok(());
            }
        }
        let (test_loss, test_accuracy) = if config.evaluate && !self.data.test.is_empty() {
            let e = evaluate(model, &self.data.test, config.batch_size.max(256))?;
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
        self.history.epochs.push(record.clone());
        if config.snapshot_epochs.contains(&(epoch + 1)) {
            let tensors = model
                .named_tensors()
                .into_iter()
                .map(|(n, t)| (n, t.copy()))
                .collect();
            self.snapshots.push(Snapshot {
                epoch: epoch + 1,
                tensors,
            });
        }
        if let Some(dir) = &config.checkpoint_dir {
            let meta = CheckpointMeta {
                epochs_done: epoch + 1,
                fingerprint: self.fingerprint.clone(),
                history: self.history.clone(),
                tensors: checkpoint::tensors_file(epoch + 1),
            };
            checkpoint::save(dir, model, &self.optim, &meta)?;
        }
        for cb in callbacks.iter_mut() {
            if cb.on_epoch(&record, model)? == Control::Stop {
                self.stopped_early = true;
            }
        }
        Ok(())
    }
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
