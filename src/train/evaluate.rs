//! Evaluating a classifier on a split: mean cross-entropy, accuracy and the
//! confusion matrix, in evaluation mode and without gradients.

use crate::data::{Order, Split};
use crate::error::{Error, Result};
use crate::model::Model;
use std::fmt;
use tch::{Kind, Tensor};

/// Loss, accuracy and confusion matrix of a model on a split.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Mean cross-entropy per example (nats).
    pub loss: f64,
    /// Fraction of examples whose most probable class is the label.
    pub accuracy: f64,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<i64>>,
}

impl Evaluation {
    /// Per-class recall: the diagonal over each row's total.
    pub fn per_class_accuracy(&self) -> Vec<f64> {
        self.confusion
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let n: i64 = row.iter().sum();
                if n == 0 {
                    f64::NAN
                } else {
                    row[i] as f64 / n as f64
                }
            })
            .collect()
    }
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "loss {:.4}, accuracy {:.2}%",
            self.loss,
            100.0 * self.accuracy
        )
    }
}

/// Evaluates `model` on `split` in batches of `batch_size`. The model's
/// train/eval mode is restored afterwards.
pub fn evaluate(model: &mut Model, split: &Split, batch_size: usize) -> Result<Evaluation> {
    if split.is_empty() {
        return Err(Error::invalid("cannot evaluate on an empty split"));
    }
    let classes = *model.output_shape().first().unwrap_or(&0);
    if model.output_shape().len() != 1 || classes < 1 {
        return Err(Error::invalid(format!(
            "evaluate needs a classifier with outputs [classes], this model gives {:?}",
            model.output_shape()
        )));
    }
    // Labels are checked once for the whole split, not once per batch.
    check_labels(split.labels(), classes)?;
    let was_training = model.is_training();
    model.set_train(false);
    let result = tch::no_grad(|| -> Result<Evaluation> {
        let device = model.device();
        let mut loss_sum = 0.0;
        let mut confusion = Tensor::zeros([classes * classes], (Kind::Int64, device));
        // Logits `[N, classes]` (the output shape checked above) and labels
        // in range: the loss's value, the argmax and the bin sums below
        // cannot fail.
        for (x, y) in split.batches(batch_size, Order::Sequential, false)? {
            let (x, y) = (x.to_device(device), y.to_device(device));
            let logits = model.forward(&x)?;
            loss_sum += mean_nll(&logits, &y)?.double_value(&[]) * y.size()[0] as f64;
            let pred = logits.argmax(1, false);
            confusion += (y * classes + pred).f_bincount::<Tensor>(None, classes * classes)?;
        }
        let confusion = Vec::<i64>::try_from(confusion.to_device(tch::Device::Cpu))?;
        let n = split.len() as f64;
        let correct: i64 = (0..classes as usize)
            .map(|i| confusion[i * classes as usize + i])
            .sum();
        Ok(Evaluation {
            loss: loss_sum / n,
            accuracy: correct as f64 / n,
            confusion: confusion
                .chunks(classes as usize)
                .map(|r| r.to_vec())
                .collect(),
        })
    });
    model.set_train(was_training);
    result
}

/// Mean cross-entropy of `logits [N, K]` against class indices `labels [N]`,
/// as `torch.nn.functional.cross_entropy` (fallible: a label outside
/// `0..K` is an error, not an abort).
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    crate::check::defined(logits, "logits")?;
    crate::check::defined(labels, "labels")?;
    if logits.dim() != 2 {
        return Err(Error::shape(
            "logits",
            "[N, K] (one row of class scores per example)",
            crate::check::shape_str(&logits.size()),
        ));
    }
    crate::check::labels(labels, logits.size()[0], "labels")?;
    check_labels(labels, logits.size()[1])?;
    mean_nll(logits, labels)
}

/// Checks that every label lies in `0..k` (one device sync for min and max).
fn check_labels(labels: &Tensor, k: i64) -> Result<()> {
    if labels.numel() > 0 {
        let (lo, hi) = (i64::try_from(labels.min())?, i64::try_from(labels.max())?);
        if lo < 0 || hi >= k {
            return Err(Error::invalid(format!(
                "labels range over {lo}..={hi}, but the model gives {k} logits per example"
            )));
        }
    }
    Ok(())
}

/// [`cross_entropy`] for labels already known to lie in `0..K`: the training
/// loop's case, where the dataset checked them when it was built.
pub(super) fn mean_nll(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    Ok(logits
        .f_log_softmax(-1, Kind::Float)?
        .f_nll_loss::<Tensor>(labels, None, tch::Reduction::Mean, -100)?)
}
