//! Objectives: what one training step computes, over which data streams,
//! networks and optimisers. [`fit_objective`](super::fit_objective) runs
//! any of them with the same loop, so seeds, checkpoints and resume,
//! history, schedules, snapshots, callbacks, the live monitor and
//! interrupts work for all.
//!
//! Cross-entropy on one model and one dataset ([`Classification`](super::Classification))
//! is the default that [`fit`](super::fit) uses. Other objectives say:
//!
//! - which networks they train ([`Objective::nets`]): a student; an
//!   encoder, a classifier and a domain discriminator; shared and private
//!   encoders and a decoder. A frozen teacher is not among them: the
//!   objective holds it and runs it in evaluation mode without gradients.
//! - which data streams feed a step ([`Objective::streams`]): the first
//!   decides what an epoch is; the others (an unlabelled target domain) are
//!   drawn alongside in batches of the same size, reshuffled whenever they
//!   run out.
//! - which optimisers update which networks ([`Objective::optimizers`]):
//!   one by default; two for an adversarial game.
//! - one step ([`Objective::step`]): from the batches, compute losses and
//!   call [`Step::update`] once per optimiser update, in the order the
//!   method needs (ADDA: the discriminator's update, then the encoder's
//!   against the updated discriminator). [`Step::progress`] is the training
//!   progress p in [0, 1) that DANN's coefficient follows.

use super::optim::{Optimizer, OptimizerState};
use super::update::optimize;
use crate::data::Split;
use crate::error::{Error, Result};
use crate::model::{Model, ParamGroup};
use tch::Tensor;

/// A mini-batch of one data stream, on the device of the objective's first
/// network, augmented if the run augments.
pub struct Batch {
    /// Images `[B, C, H, W]`.
    pub images: Tensor,
    /// Labels `[B]` (an unlabelled stream's are whatever its split holds;
    /// an objective that treats the stream as unlabelled does not read them).
    pub labels: Tensor,
    /// Positions `[B]` (i64, on the CPU) of these examples in the stream's
    /// split: how an objective finds per-example values it computed once,
    /// such as a teacher's cached logits.
    pub indices: Tensor,
}

/// What one step (or a held-out evaluation) measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// The loss (for several losses, their weighted total).
    pub loss: f64,
    /// Classification accuracy, if the objective classifies.
    pub accuracy: Option<f64>,
    /// Other measurements by name: parts of the loss, a coefficient, a
    /// discriminator's accuracy.
    pub extra: Vec<(String, f64)>,
}

impl Metrics {
    /// A loss and nothing else.
    pub fn loss(loss: f64) -> Self {
        Metrics {
            loss,
            ..Metrics::default()
        }
    }

    /// With this accuracy.
    pub fn accuracy(mut self, accuracy: f64) -> Self {
        self.accuracy = Some(accuracy);
        self
    }

    /// With another measurement.
    pub fn with(mut self, name: impl Into<String>, value: f64) -> Self {
        self.extra.push((name.into(), value));
        self
    }
}

/// An optimiser of an objective: its name, the networks whose trainable
/// parameters it updates, and its kind (the run's
/// [`FitConfig::optimizer`](super::FitConfig::optimizer) if `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct OptimizerSpec {
    /// Name used in [`Step::update`] and in checkpoints.
    pub name: String,
    /// Names of the networks it updates (from [`Objective::nets`]).
    pub nets: Vec<String>,
    /// Its kind and hyper-parameters; `None` for the run's.
    pub optimizer: Option<Optimizer>,
}

impl OptimizerSpec {
    /// An optimiser called `name` over `nets`, of the run's kind.
    pub fn new(name: &str, nets: &[&str]) -> Self {
        OptimizerSpec {
            name: name.to_string(),
            nets: nets.iter().map(|n| n.to_string()).collect(),
            optimizer: None,
        }
    }

    /// Of this kind instead of the run's.
    pub fn optimizer(mut self, optimizer: Optimizer) -> Self {
        self.optimizer = Some(optimizer);
        self
    }
}

/// What a training run trains: see the [module docs](self).
pub trait Objective {
    /// The objective and its settings in words (e.g. `"distillation T 4
    /// alpha 0.9"`): part of the run's fingerprint, so that a checkpoint of
    /// another objective is not resumed. Empty for plain cross-entropy.
    fn describe(&self) -> String;

    /// The networks it trains, by name. Each is put in training mode and
    /// reseeded (dropout) at every epoch, checkpointed and snapshotted;
    /// callbacks see the first.
    fn nets(&mut self) -> Vec<(String, &mut Model)>;

    /// The data streams whose batches [`step`](Self::step) receives, in
    /// this order; the first decides the epoch.
    fn streams(&self) -> Vec<Split>;

    /// The optimisers, in the order their learning rates are reported.
    /// Empty (the default): one called `"main"` over every network, of the
    /// run's kind.
    fn optimizers(&self) -> Vec<OptimizerSpec> {
        Vec::new()
    }

    /// Checks the networks and data fit together, before anything runs.
    fn check(&mut self) -> Result<()> {
        Ok(())
    }

    /// One step on `batches` (one per stream): compute the losses, call
    /// [`Step::update`] for each optimiser update, and report what was
    /// measured. The loop checks that the reported loss is finite.
    fn step(&mut self, batches: &[Batch], step: &mut Step<'_>) -> Result<Metrics>;

    /// Held-out measurements after an epoch (when the run evaluates), in
    /// evaluation mode: `None` if the objective has no held-out data.
    fn evaluate(&mut self, _batch_size: usize) -> Result<Option<Metrics>> {
        Ok(None)
    }

    /// What the loss is called on the live figure's axis.
    fn loss_label(&self) -> String {
        "loss".to_string()
    }
}

/// One optimiser of a running fit: its state and the parameters it updates.
pub(super) struct Slot {
    pub name: String,
    pub kind: Optimizer,
    pub state: OptimizerState,
    pub nets: Vec<String>,
    /// Parameter groups of its networks (names prefixed by the network's
    /// when the objective has several), gathered at each epoch's start.
    pub groups: Vec<ParamGroup>,
}

/// The context of one step: where the run is, and the optimisers.
pub struct Step<'a> {
    pub(super) epoch: usize,
    pub(super) index: usize,
    pub(super) total: usize,
    pub(super) factor: f64,
    pub(super) clip: Option<f64>,
    pub(super) slots: &'a mut [Slot],
    pub(super) updates: usize,
}

impl Step<'_> {
    /// The epoch (0-based).
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// The global step (0-based) over the whole run.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Steps in the whole run.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Training progress p = step / total steps, in [0, 1): what DANN's
    /// adaptation coefficient and learning rate follow.
    pub fn progress(&self) -> f64 {
        self.index as f64 / self.total.max(1) as f64
    }

    /// The learning rate optimiser `name` uses at this step (its base rate
    /// times the schedule's factor).
    pub fn lr(&self, optimizer: &str) -> Result<f64> {
        Ok(self.slot(optimizer)?.kind.lr() * self.factor)
    }

    /// One update of optimiser `name` from `loss` (a scalar): zero its
    /// parameters' gradients, backpropagate, clip if the run clips, step.
    pub fn update(&mut self, optimizer: &str, loss: &Tensor) -> Result<()> {
        let (factor, clip) = (self.factor, self.clip);
        let i = self.position(optimizer)?;
        let slot = &mut self.slots[i];
        let lr = slot.kind.lr() * factor;
        optimize(loss, &slot.groups, &mut slot.state, lr, clip)?;
        self.updates += 1;
        Ok(())
    }

    /// [`update`](Self::update) of the only optimiser.
    pub fn minimize(&mut self, loss: &Tensor) -> Result<()> {
        if self.slots.len() != 1 {
            return Err(Error::invalid(format!(
                "minimize needs an objective with one optimiser; this one has {} ({}): name the one to update",
                self.slots.len(),
                self.names()
            )));
        }
        let name = self.slots[0].name.clone();
        self.update(&name, loss)
    }

    fn names(&self) -> String {
        self.slots
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn position(&self, name: &str) -> Result<usize> {
        self.slots
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "no optimiser named '{name}'; this objective has: {}",
                    self.names()
                ))
            })
    }

    fn slot(&self, name: &str) -> Result<&Slot> {
        Ok(&self.slots[self.position(name)?])
    }
}
