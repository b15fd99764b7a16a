//! What a training run measured, per step and per epoch.

use serde::{Deserialize, Serialize};

/// One optimisation step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Epoch (0-based).
    pub epoch: usize,
    /// Global step (0-based).
    pub step: usize,
    /// The objective's loss on the mini-batch (for several losses, the
    /// total the objective reports).
    pub loss: f64,
    /// Mini-batch accuracy, for objectives that classify.
    pub accuracy: Option<f64>,
    /// Learning rate used (of the first optimiser, schedule applied).
    pub lr: f64,
    /// The objective's other measurements by name (e.g. "domain loss",
    /// "lambda").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<(String, f64)>,
}

/// One epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch (0-based).
    pub epoch: usize,
    /// Mean mini-batch loss over the epoch.
    pub train_loss: f64,
    /// Mean mini-batch accuracy over the epoch, for objectives that classify.
    pub train_accuracy: Option<f64>,
    /// Held-out loss after the epoch, if evaluated.
    pub test_loss: Option<f64>,
    /// Held-out accuracy after the epoch, if evaluated.
    pub test_accuracy: Option<f64>,
    /// Epoch means of the steps' other measurements, then the held-out
    /// evaluation's other measurements, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<(String, f64)>,
    /// Wall-clock seconds the epoch took.
    pub seconds: f64,
}

impl EpochRecord {
    /// The measurement called `name` in [`metrics`](Self::metrics).
    pub fn metric(&self, name: &str) -> Option<f64> {
        find(&self.metrics, name)
    }
}

impl StepRecord {
    /// The measurement called `name` in [`metrics`](Self::metrics).
    pub fn metric(&self, name: &str) -> Option<f64> {
        find(&self.metrics, name)
    }
}

fn find(metrics: &[(String, f64)], name: &str) -> Option<f64> {
    metrics.iter().find(|(n, _)| n == name).map(|&(_, v)| v)
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

    /// The names of the steps' other measurements, in first-seen order.
    pub fn metric_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for (n, _) in self.steps.iter().flat_map(|s| &s.metrics) {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        names
    }
}

/// One line per epoch: `epoch 3/10  loss 0.4213  acc 84.12%  test 0.4420 / 83.90%  12.3 s`.
pub fn epoch_line(r: &EpochRecord, epochs: usize) -> String {
    let acc = r
        .train_accuracy
        .map_or(String::new(), |a| format!("  acc {:.2}%", 100.0 * a));
    let test = match (r.test_loss, r.test_accuracy) {
        (Some(l), Some(a)) => format!("  test {l:.4} / {:.2}%", 100.0 * a),
        (Some(l), None) => format!("  test {l:.4}"),
        (None, Some(a)) => format!("  test {:.2}%", 100.0 * a),
        (None, None) => String::new(),
    };
    let metrics: String = r
        .metrics
        .iter()
        .map(|(n, v)| format!("  {n} {v:.4}"))
        .collect();
    format!(
        "epoch {}/{epochs}  loss {:.4}{acc}{test}{metrics}  {:.1} s",
        r.epoch + 1,
        r.train_loss,
        r.seconds
    )
}
