//! The training loop, for any [`Objective`].

use super::checkpoint::{self, CheckpointMeta, Layout};
use super::classify::Classification;
use super::curves::HistoryFigure;
use super::history::{epoch_line, EpochRecord, History, StepRecord};
use super::objective::{Batch, Metrics, Objective, OptimizerSpec, Slot, Step};
use super::optim::{Optimizer, OptimizerState};
use super::schedule::Schedule;
use super::streams::Streams;
use crate::data::transforms::Transform;
use crate::data::Dataset;
use crate::display::{Monitor, ProgressMode};
use crate::error::{Error, Result};
use crate::model::{Model, ParamGroup};
use crate::runtime::interrupt;
use crate::runtime::rng::{mix, seeded_stream};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;
use tch::Tensor;

/// How to train: epochs, batches, optimiser, schedule, seed, and what to
/// keep along the way.
#[derive(Clone)]
pub struct FitConfig {
    /// Number of passes over the training split (the first data stream).
    pub epochs: usize,
    /// Examples per mini-batch (of every stream).
    pub batch_size: usize,
    /// Optimiser and its hyper-parameters (of every optimiser an objective
    /// does not give its own).
    pub optimizer: Optimizer,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Seed of the batch order, augmentation and dropout: the same seed gives
    /// the same run.
    pub seed: u64,
    /// Augmentation applied to each training batch (of every stream).
    pub augment: Option<Arc<dyn Transform>>,
    /// Evaluate on held-out data after every epoch.
    pub evaluate: bool,
    /// Drop the last incomplete batch of each epoch.
    pub drop_last: bool,
    /// Clip the joint L2 norm of each update's gradients to this bound.
    pub clip_grad_norm: Option<f64>,
    /// Save a checkpoint here after every epoch, and resume from it if one is
    /// already there.
    pub checkpoint_dir: Option<PathBuf>,
    /// Keep a copy of the weights after these epochs (1-based), e.g. for
    /// Zeiler & Fergus's Fig. 4.
    pub snapshot_epochs: Vec<usize>,
    /// How to show progress.
    pub progress: ProgressMode,
    /// What the run is, written before the progress line on its live
    /// figure (`"ResNet-20, batch 32"`), so that a cell training several
    /// nets says which figure is which.
    pub label: Option<String>,
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
            clip_grad_norm: None,
            checkpoint_dir: None,
            snapshot_epochs: Vec::new(),
            progress: ProgressMode::Auto,
            label: None,
            interrupt: None,
        }
    }

    /// The settings that decide a run's weights, in words (batch, optimiser,
    /// schedule, seed, augmentation, drop_last, clipping): checkpoints and
    /// the pretrained cache key use it.
    pub(crate) fn fingerprint(&self) -> String {
        let clip = self
            .clip_grad_norm
            .map_or(String::new(), |c| format!(" clip {c}"));
        format!(
            "batch {} optimizer {:?} schedule {:?} seed {} augment {} drop_last {}{clip}",
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
pub struct WeightSnapshot {
    /// The epoch (1-based) after which they were taken.
    pub epoch: usize,
    /// Every parameter and buffer, copied (named `<net>/<name>` when the
    /// objective trains several networks).
    pub tensors: Vec<(String, Tensor)>,
}

impl WeightSnapshot {
    /// Loads the weights of network `net` (one of the objective's
    /// [`nets`](Objective::nets), e.g. `"features"`) into `model`, which
    /// must have its architecture; a single-network run's snapshot loads
    /// whatever `net` says. Nothing is loaded if any tensor is missing or
    /// of the wrong shape.
    pub fn restore(&self, net: &str, model: &mut Model) -> Result<()> {
        let prefix = format!("{net}/");
        let single = !self.tensors.iter().any(|(n, _)| n.contains('/'));
        let tensors: Vec<(String, Tensor)> = self
            .tensors
            .iter()
            .filter_map(|(n, t)| {
                let name = if single {
                    Some(n.as_str())
                } else {
                    n.strip_prefix(&prefix)
                };
                name.map(|n| (n.to_string(), t.shallow_clone()))
            })
            .collect();
        if tensors.is_empty() {
            let nets: std::collections::BTreeSet<&str> = self
                .tensors
                .iter()
                .filter_map(|(n, _)| n.split_once('/').map(|(net, _)| net))
                .collect();
            return Err(Error::invalid(format!(
                "the snapshot of epoch {} has no network '{net}'; it has {}",
                self.epoch,
                nets.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        crate::weights::load_tensors(
            model,
            tensors,
            format!("the snapshot of epoch {}", self.epoch),
        )
    }
}

/// What [`fit`] returns: the history, the snapshots, and whether it stopped
/// early on an interrupt.
pub struct FitResult {
    /// Metrics per step and per epoch (including those before a resume).
    pub history: History,
    /// Weights after the epochs asked for.
    pub snapshots: Vec<WeightSnapshot>,
    /// True if the stop flag ended the run before its last epoch.
    pub interrupted: bool,
    /// True if a callback asked to stop (e.g. early stopping).
    pub stopped_early: bool,
    /// Wall-clock seconds of this call (not of epochs before a resume).
    pub seconds: f64,
    /// Epochs the run was set to (to tell a finished run from a cut one).
    pub epochs: usize,
}

impl FitResult {
    /// This result if the run went to its last epoch (or a callback ended
    /// it), an [`Error::Interrupted`] if the stop flag cut it short: what a
    /// caller that keeps the trained net as finished (a grid of
    /// [`RunFolder`](super::RunFolder) runs) needs, so that one press of
    /// the stop button ends the grid instead of storing a half-trained net
    /// and going on to the next.
    pub fn completed(self) -> Result<FitResult> {
        if self.interrupted {
            return Err(Error::Interrupted(format!(
                "training was interrupted after {} of {} epochs; with a checkpoint folder, running it again resumes from the last finished epoch",
                self.history.epochs.len(),
                self.epochs
            )));
        }
        Ok(self)
    }
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
    /// objective's first network in training mode.
    fn on_epoch(&mut self, _record: &EpochRecord, _model: &mut Model) -> Result<Control> {
        Ok(Control::Continue)
    }
}

/// Trains `model` on `data.train` with cross-entropy (the
/// [`Classification`] objective), evaluating on `data.test` after each
/// epoch.
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
    fit_objective(&mut Classification::new(model, data), config, callbacks)
}

/// Trains whatever `objective` says (see [`Objective`]) with the settings
/// of `config`: the same loop as [`fit`], with its seeds, checkpoints and
/// resume, history, schedule, snapshots, callbacks, live monitor and
/// interrupts. Gradients are recorded whatever the caller's scope: called
/// inside `tch::no_grad` (an evaluation loop, a benchmark), training would
/// otherwise find a loss without a graph.
pub fn fit_objective(
    objective: &mut dyn Objective,
    config: &FitConfig,
    callbacks: &mut [&mut dyn Callback],
) -> Result<FitResult> {
    tch::with_grad(|| train(objective, config, callbacks))
}

fn train(
    objective: &mut dyn Objective,
    config: &FitConfig,
    callbacks: &mut [&mut dyn Callback],
) -> Result<FitResult> {
    let started = Instant::now();
    check_config(config)?;
    objective.check()?;
    let streams = Streams {
        splits: objective.streams(),
        batch_size: config.batch_size,
        drop_last: config.drop_last,
        seed: config.seed,
    };
    streams.check()?;
    let mut slots = slots(objective, config)?;
    let describe = objective.describe();
    let fingerprint = if describe.is_empty() {
        config.fingerprint()
    } else {
        format!("{} objective {describe}", config.fingerprint())
    };
    let layout = Layout::new(objective.nets().len(), slots.len());
    let mut history = History::default();
    let mut start_epoch = 0;
    if let Some(dir) = &config.checkpoint_dir {
        let mut nets = objective.nets();
        let mut states: Vec<(&str, &mut OptimizerState)> = slots
            .iter_mut()
            .map(|s| (s.name.as_str(), &mut s.state))
            .collect();
        if let Some(meta) = checkpoint::load(dir, &layout, &mut nets, &mut states, &fingerprint)? {
            start_epoch = meta.epochs_done;
            history = meta.history;
        }
    }
    let per_epoch = streams.per_epoch();
    let mut run = Run {
        config,
        streams,
        slots,
        layout,
        fingerprint,
        history,
        snapshots: Vec::new(),
        per_epoch,
        total: per_epoch * config.epochs,
        interrupted: false,
        stopped_early: false,
        loss_label: objective.loss_label(),
    };
    let mut monitor = Monitor::new(config.progress, run.total)
        .activity("training")
        .unit("step")
        .kept("the model keeps what it learned");
    monitor.start(start_epoch * per_epoch, &run.figure());
    let modes: Vec<bool> = objective
        .nets()
        .iter()
        .map(|(_, m)| m.is_training())
        .collect();
    // Whatever happens inside, the networks' modes and the monitor are restored.
    let outcome = (start_epoch..config.epochs).try_for_each(|epoch| {
        if run.interrupted || run.stopped_early {
            return Ok(());
        }
        run.epoch(epoch, objective, &mut monitor, callbacks)
    });
    monitor.finish(run.interrupted || outcome.is_err(), &run.figure());
    for ((_, m), train) in objective.nets().into_iter().zip(modes) {
        m.set_train(train);
    }
    outcome?;
    Ok(FitResult {
        history: run.history,
        snapshots: run.snapshots,
        interrupted: run.interrupted,
        stopped_early: run.stopped_early,
        seconds: started.elapsed().as_secs_f64(),
        epochs: config.epochs,
    })
}

fn check_config(config: &FitConfig) -> Result<()> {
    if config.epochs == 0 || config.batch_size == 0 {
        return Err(Error::invalid(format!(
            "fit needs at least one epoch and a batch size of at least 1, got {} epochs of {}",
            config.epochs, config.batch_size
        )));
    }
    config.optimizer.validate()?;
    if let Some(&e) = config
        .snapshot_epochs
        .iter()
        .find(|&&e| e == 0 || e > config.epochs)
    {
        return Err(Error::invalid(format!(
            "snapshot epochs count from 1 to the run's {} epochs, got {e}",
            config.epochs
        )));
    }
    if let Some(c) = config.clip_grad_norm {
        if !(c.is_finite() && c > 0.0) {
            return Err(Error::invalid(format!(
                "the gradient-norm bound must be finite and > 0, got {c}"
            )));
        }
    }
    Ok(())
}

/// The objective's optimisers, checked: names unique, networks known, each
/// network in one optimiser at most.
fn slots(objective: &mut dyn Objective, config: &FitConfig) -> Result<Vec<Slot>> {
    let names: Vec<String> = objective.nets().into_iter().map(|(n, _)| n).collect();
    if names.is_empty() {
        return Err(Error::invalid("the objective has no networks to train"));
    }
    if let Some(dup) = names
        .iter()
        .enumerate()
        .find(|(i, n)| names[..*i].contains(n))
    {
        return Err(Error::invalid(format!(
            "the objective names two networks '{}'",
            dup.1
        )));
    }
    let mut specs = objective.optimizers();
    if specs.is_empty() {
        let all: Vec<&str> = names.iter().map(String::as_str).collect();
        specs.push(OptimizerSpec::new("main", &all));
    }
    let mut slots: Vec<Slot> = Vec::with_capacity(specs.len());
    for spec in specs {
        if slots.iter().any(|s| s.name == spec.name) {
            return Err(Error::invalid(format!(
                "the objective names two optimisers '{}'",
                spec.name
            )));
        }
        for net in &spec.nets {
            if !names.contains(net) {
                return Err(Error::invalid(format!(
                    "optimiser '{}' updates a network '{net}' the objective does not have; it has: {}",
                    spec.name,
                    names.join(", ")
                )));
            }
            if let Some(other) = slots.iter().find(|s| s.nets.contains(net)) {
                return Err(Error::invalid(format!(
                    "network '{net}' is updated by two optimisers, '{}' and '{}'",
                    other.name, spec.name
                )));
            }
        }
        let kind = spec.optimizer.unwrap_or(config.optimizer);
        slots.push(Slot {
            name: spec.name,
            kind,
            state: OptimizerState::new(kind)?,
            nets: spec.nets,
            groups: Vec::new(),
        });
    }
    Ok(slots)
}

/// The state of one training run between epochs.
struct Run<'a> {
    config: &'a FitConfig,
    streams: Streams,
    slots: Vec<Slot>,
    layout: Layout,
    fingerprint: String,
    history: History,
    snapshots: Vec<WeightSnapshot>,
    per_epoch: usize,
    total: usize,
    interrupted: bool,
    stopped_early: bool,
    loss_label: String,
}

/// Sums of an epoch's step measurements, for its means.
#[derive(Default)]
struct EpochSums {
    loss: f64,
    accuracy: f64,
    with_accuracy: usize,
    extra: Vec<(String, f64, usize)>,
    count: usize,
}

impl EpochSums {
    fn add(&mut self, m: &Metrics) {
        self.loss += m.loss;
        if let Some(a) = m.accuracy {
            self.accuracy += a;
            self.with_accuracy += 1;
        }
        for (name, v) in &m.extra {
            match self.extra.iter_mut().find(|(n, ..)| n == name) {
                Some((_, sum, k)) => {
                    *sum += v;
                    *k += 1;
                }
                None => self.extra.push((name.clone(), *v, 1)),
            }
        }
        self.count += 1;
    }
}

impl Run<'_> {
    fn figure(&self) -> HistoryFigure<'_> {
        HistoryFigure {
            history: &self.history,
            loss_label: &self.loss_label,
            label: self.config.label.as_deref(),
        }
    }

    fn epoch(
        &mut self,
        epoch: usize,
        objective: &mut dyn Objective,
        monitor: &mut Monitor,
        callbacks: &mut [&mut dyn Callback],
    ) -> Result<()> {
        let config = self.config;
        let started = Instant::now();
        let mut aug_rng = seeded_stream(config.seed ^ 0x5eed_a0a0_5eed_a0a0, epoch as u64);
        let device = {
            let mut nets = objective.nets();
            let several = nets.len() > 1;
            for (i, (_, m)) in nets.iter_mut().enumerate() {
                // The first network's dropout seed is the one fit always used.
                let seed = if i == 0 {
                    config.seed
                } else {
                    mix(config.seed, i as u64)
                };
                m.reseed(mix(seed, epoch as u64));
                m.set_train(true);
            }
            // Freezing and learning-rate scales change only between epochs
            // (in an epoch callback), so the groups are gathered once per epoch.
            for slot in &mut self.slots {
                slot.groups = nets
                    .iter()
                    .filter(|(n, _)| slot.nets.contains(n))
                    .flat_map(|(n, m)| prefixed(m.param_groups(), n, several))
                    .collect();
            }
            nets[0].1.device()
        };
        let mut sums = EpochSums::default();
        for (i, drawn) in self.streams.epoch(epoch).enumerate() {
            if interrupt::should_stop(config.interrupt.as_deref()) {
                self.interrupted = true;
                return Ok(());
            }
            let mut batches = Vec::with_capacity(drawn.len());
            for d in drawn {
                let images = match &config.augment {
                    Some(t) => t.apply(&d.images, &mut aug_rng)?,
                    None => d.images,
                };
                batches.push(Batch {
                    images: images.to_device(device),
                    labels: d.labels.to_device(device),
                    indices: Tensor::from_slice(&d.indices),
                });
            }
            let index = epoch * self.per_epoch + i;
            let factor = config.schedule.factor(epoch, index, self.total);
            let mut step = Step {
                epoch,
                index,
                total: self.total,
                factor,
                clip: config.clip_grad_norm,
                slots: &mut self.slots,
                updates: 0,
            };
            let metrics = objective.step(&batches, &mut step)?;
            let updates = step.updates;
            let lr = self.slots[0].kind.lr() * factor;
            if !metrics.loss.is_finite() {
                return Err(Error::invalid(format!(
                    "training diverged: the loss is {} at epoch {}, step {index} (learning rate {lr}); lower it",
                    metrics.loss,
                    epoch + 1
                )));
            }
            if updates == 0 {
                return Err(Error::invalid(
                    "the objective's step updated no optimiser: call step.update (or step.minimize) with the loss",
                ));
            }
            let record = StepRecord {
                epoch,
                step: index,
                loss: metrics.loss,
                accuracy: metrics.accuracy,
                lr,
                metrics: metrics.extra.clone(),
            };
            sums.add(&metrics);
            let mut stop = false;
            for cb in callbacks.iter_mut() {
                stop |= cb.on_step(&record)? == Control::Stop;
            }
            self.history.steps.push(record);
            monitor.step(
                index + 1,
                format!("loss {:.4}", metrics.loss),
                &self.figure(),
            );
            if stop {
                self.stopped_early = true;
                return Ok(());
            }
        }
        let held_out = if config.evaluate {
            objective.evaluate(config.batch_size.max(256))?
        } else {
            None
        };
        let n = sums.count.max(1) as f64;
        let mut metrics: Vec<(String, f64)> = sums
            .extra
            .iter()
            .map(|(name, sum, k)| (name.clone(), sum / *k as f64))
            .collect();
        if let Some(h) = &held_out {
            metrics.extend(h.extra.iter().map(|(n, v)| (format!("test {n}"), *v)));
        }
        let record = EpochRecord {
            epoch,
            train_loss: sums.loss / n,
            train_accuracy: (sums.with_accuracy > 0)
                .then(|| sums.accuracy / sums.with_accuracy as f64),
            test_loss: held_out.as_ref().map(|h| h.loss),
            test_accuracy: held_out.as_ref().and_then(|h| h.accuracy),
            metrics,
            seconds: started.elapsed().as_secs_f64(),
        };
        self.history.epochs.push(record.clone());
        monitor.milestone(
            epoch_line(&record, config.epochs),
            &format!("epoch {}/{}", epoch + 1, config.epochs),
            &self.figure(),
        );
        let mut nets = objective.nets();
        if config.snapshot_epochs.contains(&(epoch + 1)) {
            let tensors = nets
                .iter()
                .flat_map(|(net, m)| {
                    m.named_tensors()
                        .into_iter()
                        .map(|(n, t)| (self.layout.net_tensor(net, &n), t.copy()))
                })
                .collect();
            self.snapshots.push(WeightSnapshot {
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
            let states: Vec<(&str, &OptimizerState)> = self
                .slots
                .iter()
                .map(|s| (s.name.as_str(), &s.state))
                .collect();
            checkpoint::save(dir, &self.layout, &nets, &states, &meta)?;
        }
        let first = &mut *nets[0].1;
        for cb in callbacks.iter_mut() {
            if cb.on_epoch(&record, first)? == Control::Stop {
                self.stopped_early = true;
            }
        }
        Ok(())
    }
}

/// A network's parameter groups, their names prefixed by the network's when
/// the objective has several (so that optimiser state keys stay unique).
fn prefixed(groups: Vec<ParamGroup>, net: &str, several: bool) -> Vec<ParamGroup> {
    if !several {
        return groups;
    }
    groups
        .into_iter()
        .map(|g| ParamGroup {
            layer: format!("{net}/{}", g.layer),
            lr_scale: g.lr_scale,
            params: g
                .params
                .into_iter()
                .map(|(n, t)| (format!("{net}/{n}"), t))
                .collect(),
        })
        .collect()
}
