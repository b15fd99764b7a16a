//! The default objective: cross-entropy of one model on one dataset's
//! training split, evaluated on its test split.

use super::evaluate::{evaluate, mean_nll};
use super::objective::{Batch, Metrics, Objective, Step};
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::model::Model;
use tch::{Kind, Tensor};

/// Cross-entropy of `model` on `data.train`, what [`fit`](super::fit)
/// trains; evaluation on `data.test` after each epoch.
pub struct Classification<'a> {
    model: &'a mut Model,
    data: &'a Dataset,
}

impl<'a> Classification<'a> {
    /// `model` classifying `data`.
    pub fn new(model: &'a mut Model, data: &'a Dataset) -> Self {
        Classification { model, data }
    }
}

impl Objective for Classification<'_> {
    fn describe(&self) -> String {
        // Empty: checkpoints written before objectives existed stay valid.
        String::new()
    }

    fn nets(&mut self) -> Vec<(String, &mut Model)> {
        vec![("model".to_string(), &mut *self.model)]
    }

    fn streams(&self) -> Vec<Split> {
        vec![self.data.train.clone()]
    }

    fn check(&mut self) -> Result<()> {
        let data = self.data;
        if data.train.is_empty() {
            return Err(Error::invalid(format!(
                "dataset '{}' has no training examples",
                data.name
            )));
        }
        let shape = data.train.image_shape();
        if self.model.input_shape() != shape {
            return Err(Error::shape(
                "training images",
                format!(
                    "examples of the model's input shape {:?}",
                    self.model.input_shape()
                ),
                format!("{shape:?}"),
            ));
        }
        if self.model.output_shape() != [data.num_classes()] {
            return Err(Error::shape(
                "model output",
                format!(
                    "[{}] (one logit per class of '{}')",
                    data.num_classes(),
                    data.name
                ),
                format!("{:?}", self.model.output_shape()),
            ));
        }
        Ok(())
    }

    fn step(&mut self, batches: &[Batch], step: &mut Step<'_>) -> Result<Metrics> {
        let b = &batches[0];
        let logits = self.model.forward(&b.images)?;
        // Labels fit the logits: Dataset::new checked their range and
        // check() the class count.
        let loss = mean_nll(&logits, &b.labels)?;
        step.minimize(&loss)?;
        Ok(Metrics::loss(loss.double_value(&[])).accuracy(accuracy(&logits, &b.labels)?))
    }

    fn evaluate(&mut self, batch_size: usize) -> Result<Option<Metrics>> {
        if self.data.test.is_empty() {
            return Ok(None);
        }
        let e = evaluate(self.model, &self.data.test, batch_size)?;
        Ok(Some(Metrics::loss(e.loss).accuracy(e.accuracy)))
    }

    fn loss_label(&self) -> String {
        "cross-entropy".to_string()
    }
}

/// The share of rows of `logits [N, K]` whose largest entry is at `labels [N]`.
pub(crate) fn accuracy(logits: &Tensor, labels: &Tensor) -> Result<f64> {
    Ok(logits
        .f_argmax(1, false)?
        .f_eq_tensor(labels)?
        .f_to_kind(Kind::Float)?
        .f_mean(Kind::Float)?
        .f_double_value(&[])?)
}
