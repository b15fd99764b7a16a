//! Ending a run when the training set is fitted: the stopping rule of the
//! randomisation tests (Zhang et al. 2017), where "time to fit" is the
//! measurement.

use super::fit::{Callback, Control};
use super::history::EpochRecord;
use crate::error::Result;
use crate::model::Model;

/// A [`Callback`] that stops training after the first epoch whose mean
/// training accuracy reaches `accuracy`, and remembers that epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct StopWhenFitted {
    /// Training accuracy (0 to 1) that counts as fitted.
    pub accuracy: f64,
    /// The 1-based epoch at which it was reached, if it was.
    pub fitted_at: Option<usize>,
}

impl StopWhenFitted {
    /// Stops at `accuracy` (e.g. 0.999).
    pub fn new(accuracy: f64) -> Self {
        StopWhenFitted {
            accuracy,
            fitted_at: None,
        }
    }
}

impl Callback for StopWhenFitted {
    fn on_epoch(&mut self, record: &EpochRecord, _model: &mut Model) -> Result<Control> {
        if record.train_accuracy.is_some_and(|a| a >= self.accuracy) {
            self.fitted_at.get_or_insert(record.epoch + 1);
            return Ok(Control::Stop);
        }
        Ok(Control::Continue)
    }
}
