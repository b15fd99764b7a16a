//! What a training run measured, per step and per epoch.

use serde::{Deserialize, Serialize};

/// One optimisation step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Epoch (0-based).
    pub epoch: usize,
    /// Global step (0-based).
    pub step: usize,
    /// Mini-batch loss.
    pub loss: f64,
    /// Mini-batch accuracy.
    pub accuracy: f64,
    /// Learning rate used.
    pub lr: f64,
}

/// One epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch (0-based).
    pub epoch: usize,
    /// Mean mini-batch loss over the epoch.
    pub train_loss: f64,
    /// Mean mini-batch accuracy over the epoch.
    pub train_accuracy: f64,
    /// Test loss after the epoch, if evaluated.
    pub test_loss: Option<f64>,
    /// Test accuracy after the epoch, if evaluated.
    pub test_accuracy: Option<f64>,
    /// Wall-clock seconds the epoch took.
    pub seconds: f64,
}

/// The metrics history of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Every step.
    pub steps: Vec<StepRecord>,
    /// Every completed epoch.
    pub epochs: Vec<EpochRecord>,
}

impl History {
    /// Per-step losses, in order.
    pub fn step_losses(&self) -> Vec<f64> {
        self.steps.iter().map(|s| s.loss).collect()
    }

    /// The last completed epoch, if any.
    pub fn last_epoch(&self) -> Option<&EpochRecord> {
        self.epochs.last()
    }
}
