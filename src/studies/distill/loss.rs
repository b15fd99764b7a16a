//! The distillation loss of one batch.

use crate::check;
use crate::error::{Error, Result};
use crate::train::cross_entropy;
use tch::{Kind, Reduction, Tensor};

/// `(1 - alpha) CE(z_s, y) + alpha T² KL(p ‖ softmax(z_s / T))` for
/// student logits `z_s` `[B, K]`, soft targets `p` `[B, K]` (the
/// teacher's `softmax(z_t / T)`, or an ensemble's mean of them) and labels
/// `y` `[B]`. The KL divergence is summed over the classes and averaged
/// over the batch, not over classes too; the T² keeps the soft term's
/// gradients on the scale of the hard term's as T changes (Hinton et al.,
/// section 2). With `alpha` 1 the labels are not read and may be `None`.
pub fn distillation_loss(
    student_logits: &Tensor,
    soft_targets: &Tensor,
    labels: Option<&Tensor>,
    temperature: f64,
    alpha: f64,
) -> Result<Tensor> {
    check_settings(temperature, alpha)?;
    check::defined(student_logits, "student logits")?;
    check::defined(soft_targets, "soft targets")?;
    let size = student_logits.size();
    if size.len() != 2 || soft_targets.size() != size {
        return Err(Error::shape(
            "soft targets",
            format!(
                "the student logits' shape [B, K] = {}",
                check::shape_str(&size)
            ),
            check::shape_str(&soft_targets.size()),
        ));
    }
    check::floating(soft_targets, "soft targets")?;
    let log_q = student_logits
        .f_div_scalar(temperature)?
        .f_log_softmax(1, Kind::Float)?;
    let soft = log_q
        .f_kl_div(&soft_targets.f_to_kind(Kind::Float)?, Reduction::Sum, false)?
        .f_div_scalar(size[0].max(1) as f64)?
        .f_mul_scalar(temperature * temperature)?;
    if alpha == 1.0 {
        return Ok(soft);
    }
    let labels = labels.ok_or_else(|| {
        Error::invalid(format!(
            "alpha {alpha} < 1 mixes in the hard labels' cross-entropy: pass the labels"
        ))
    })?;
    let hard = cross_entropy(student_logits, labels)?;
    Ok(soft
        .f_mul_scalar(alpha)?
        .f_add(&hard.f_mul_scalar(1.0 - alpha)?)?)
}

/// A temperature above 0 and a weight in [0, 1], both finite.
pub(super) fn check_settings(temperature: f64, alpha: f64) -> Result<()> {
    if !(temperature.is_finite() && temperature > 0.0) {
        return Err(Error::invalid(format!(
            "the temperature must be finite and > 0, got {temperature}"
        )));
    }
    if !(0.0..=1.0).contains(&alpha) {
        return Err(Error::invalid(format!(
            "alpha weighs the soft targets against the labels and must be in [0, 1], got {alpha}"
        )));
    }
    Ok(())
}
