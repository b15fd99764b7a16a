//! Batch-norm statistics for weights that were never trained as they are:
//! a point on a line between two solutions, an average of weights, a net
//! with copied layers. Their running means and variances are either
//! missing or an interpolation of other nets' statistics (and beyond the
//! ends of a line, an extrapolated variance can fall below zero). The
//! statistics are re-estimated from data instead, as
//! `torch.optim.swa_utils.update_bn` does.

use crate::data::{Order, Split};
use crate::error::{Error, Result};
use crate::model::{Model, Op};
use tch::Tensor;

/// Re-estimates every batch-norm layer's running mean and variance from
/// `split`: they are reset (mean 0, variance 1), then each batch of
/// `batch_size` images, in storage order, goes through the net in training
/// mode without gradients, and the running statistics become the plain
/// average of the batches' statistics (PyTorch's `momentum=None`; the
/// variance of each batch is the unbiased one, as in PyTorch). Parameters
/// are not touched; the model's mode and every layer's momentum are as
/// before. Returns the number of batch-norm layers updated (0 for a net
/// without any, which is left as it was).
///
/// One batch holding the whole split gives the split's own statistics.
pub fn update_batch_norm(model: &mut Model, split: &Split, batch_size: usize) -> Result<usize> {
    if split.is_empty() || batch_size == 0 {
        return Err(Error::invalid(format!(
            "update_batch_norm needs images and a batch size >= 1, got {} images and batch size {batch_size}",
            split.len()
        )));
    }
    // The statistics as they were, put back if anything fails (a split of
    // the wrong image shape, an interrupt): a bad call loses nothing.
    let mut momenta = Vec::new();
    let mut saved: Vec<Tensor> = Vec::new();
    model.for_each_layer_mut(&mut |layer| {
        if let Op::BatchNorm { momentum, .. } = &layer.op {
            momenta.push(*momentum);
            saved.extend(layer.buffers.iter().map(|(_, t)| t.copy()));
        }
    });
    if momenta.is_empty() {
        return Ok(0);
    }
    let was_training = model.is_training();
    let result = estimate(model, split, batch_size);
    let mut old = momenta.iter();
    set_momentum(model, |current| *old.next().unwrap_or(&current));
    model.set_train(was_training);
    if let Err(e) = result {
        let mut saved = saved.iter();
        let mut restored = Ok(());
        model.for_each_layer_mut(&mut |layer| {
            if matches!(layer.op, Op::BatchNorm { .. }) {
                for ((_, t), old) in layer.buffers.iter_mut().zip(saved.by_ref()) {
                    if let Err(e) = tch::no_grad(|| t.f_copy_(old)) {
                        restored = Err(e);
                    }
                }
            }
        });
        restored?;
        return Err(e);
    }
    Ok(momenta.len())
}

/// Resets the statistics and averages them over the batches of `split`.
fn estimate(model: &mut Model, split: &Split, batch_size: usize) -> Result<()> {
    let mut reset = Ok(());
    model.for_each_layer_mut(&mut |layer| {
        if matches!(layer.op, Op::BatchNorm { .. }) {
            for (name, t) in &mut layer.buffers {
                let value = if name == "running_var" { 1.0 } else { 0.0 };
                if let Err(e) = t.f_fill_(value) {
                    reset = Err(e);
                }
            }
        }
    });
    reset?;
    model.set_train(true);
    let device = model.device();
    tch::no_grad(|| -> Result<()> {
        for (k, (x, _)) in split
            .batches(batch_size, Order::Sequential, false)?
            .enumerate()
        {
            // The k-th batch weighs 1/k: the running value is the mean so far.
            set_momentum(model, |_| 1.0 / (k + 1) as f64);
            let _activations = model.forward(&x.f_to_device(device)?)?;
        }
        Ok(())
    })
}

/// Sets each batch-norm layer's momentum to `f(its momentum)`, in the
/// order [`Model::for_each_layer_mut`] visits them.
fn set_momentum(model: &mut Model, mut f: impl FnMut(f64) -> f64) {
    model.for_each_layer_mut(&mut |layer| {
        if let Op::BatchNorm { momentum, .. } = &mut layer.op {
            *momentum = f(*momentum);
        }
    });
}
