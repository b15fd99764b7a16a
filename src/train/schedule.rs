//! Learning-rate schedules: a multiplier of the base rate for each step.

use std::fmt;
use std::sync::Arc;

/// How the learning rate changes during training.
#[derive(Clone)]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// Multiplied by `gamma` every `every` epochs (`torch.optim.lr_scheduler.StepLR`).
    Step {
        /// Epochs between decays.
        every: usize,
        /// Factor per decay.
        gamma: f64,
    },
    /// Multiplied by `gamma` at each listed epoch (`MultiStepLR`).
    MultiStep {
        /// Epochs (0-based) at whose start the rate drops.
        milestones: Vec<usize>,
        /// Factor per milestone.
        gamma: f64,
    },
    /// An explicit multiplier per epoch (the last repeats).
    PerEpoch(Vec<f64>),
    /// Any per-step rule: `f(progress)` with progress in [0, 1) over the whole
    /// run, e.g. DANN's `1 / (1 + 10 p)^0.75`.
    PerStep(Arc<dyn Fn(f64) -> f64 + Send + Sync>),
}

impl Schedule {
    /// The multiplier at `epoch` (0-based) and global `step` of `total` steps.
    pub fn factor(&self, epoch: usize, step: usize, total: usize) -> f64 {
        match self {
            Schedule::Constant => 1.0,
            Schedule::Step { every, gamma } => gamma.powi((epoch / (*every).max(1)) as i32),
            Schedule::MultiStep { milestones, gamma } => {
                gamma.powi(milestones.iter().filter(|&&m| epoch >= m).count() as i32)
            }
            Schedule::PerEpoch(v) => v.get(epoch).or(v.last()).copied().unwrap_or(1.0),
            Schedule::PerStep(f) => f(step as f64 / total.max(1) as f64),
        }
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Constant => write!(f, "Constant"),
            Schedule::Step { every, gamma } => {
                write!(f, "Step {{ every: {every}, gamma: {gamma} }}")
            }
            Schedule::MultiStep { milestones, gamma } => write!(
                f,
                "MultiStep {{ milestones: {milestones:?}, gamma: {gamma} }}"
            ),
            Schedule::PerEpoch(v) => write!(f, "PerEpoch({v:?})"),
            Schedule::PerStep(_) => write!(f, "PerStep(<fn>)"),
        }
    }
}
