//! Correcting the output bias of a class the transfer set left out
//! (Hinton et al., section 3: the distilled net never saw a 3, and raising
//! the 3's bias by 3.5 recovers most of them).

use crate::data::Split;
use crate::error::{Error, Result};
use crate::model::Model;
use tch::{Device, Kind, Tensor};

/// Adds `shift` to the output bias of `class` in `model`'s last layer (a
/// linear layer with a bias).
pub fn shift_class_bias(model: &mut Model, class: i64, shift: f64) -> Result<()> {
    if !shift.is_finite() {
        return Err(Error::invalid(format!(
            "the bias shift must be finite, got {shift}"
        )));
    }
    let bias = output_bias(model, class)?;
    tch::no_grad(|| -> Result<()> {
        let _ = bias.f_narrow(0, class, 1)?.f_add_scalar_(shift)?;
        Ok(())
    })
}

/// The bias `[K]` of the last layer, checked to hold `class`.
fn output_bias(model: &Model, class: i64) -> Result<Tensor> {
    let name = model.output_layer().to_string();
    let layer = model.layer(&name)?;
    let bias = layer.tensor("bias").ok_or_else(|| {
        Error::invalid(format!(
            "the output layer '{name}' has no bias to shift (build it with a bias)"
        ))
    })?;
    let k = bias.size()[0];
    if k < 2 {
        return Err(Error::invalid(format!(
            "the output layer '{name}' has {k} class: a bias shift needs at least two"
        )));
    }
    if !(0..k).contains(&class) {
        return Err(Error::invalid(format!(
            "class {class} does not exist: the model has {k} classes (0..{k})"
        )));
    }
    Ok(bias.shallow_clone())
}

/// The shift of `class`'s output bias that makes `share` (0 to 1) of
/// `held_out`'s images predicted as that class: the correction estimated
/// from data rather than fixed by hand (the class's prior is the usual
/// `share`). The model is not changed; apply the shift with
/// [`shift_class_bias`]. Found by bisection on the logits computed once,
/// to 1e-6.
pub fn bias_shift_for_share(
    model: &mut Model,
    held_out: &Split,
    class: i64,
    share: f64,
    batch_size: usize,
) -> Result<f64> {
    // Checks that the class exists and the output layer has a bias.
    let _ = output_bias(model, class)?;
    if !(0.0..=1.0).contains(&share) {
        return Err(Error::invalid(format!(
            "the share of predictions is a fraction in [0, 1], got {share}"
        )));
    }
    if held_out.is_empty() || batch_size == 0 {
        return Err(Error::invalid(format!(
            "estimating a bias shift needs held-out images and a batch size >= 1, got {} and {batch_size}",
            held_out.len()
        )));
    }
    let was_training = model.is_training();
    model.set_train(false);
    let logits = tch::no_grad(|| -> Result<Tensor> {
        let n = held_out.len() as i64;
        let mut parts = Vec::new();
        for start in (0..n).step_by(batch_size) {
            let len = (batch_size as i64).min(n - start);
            let x = held_out.images().f_narrow(0, start, len)?;
            parts.push(model.forward(&x)?.f_to_device(Device::Cpu)?);
        }
        Ok(Tensor::f_cat(&parts, 0)?)
    });
    model.set_train(was_training);
    let logits = logits?.f_to_kind(Kind::Double)?;
    crate::check::finite(&logits, "the model's logits on the held-out images")?;
    let column = logits.f_select(1, class)?;
    let others = {
        let mut masked =
            logits.f_index_fill(1, &Tensor::from_slice(&[class]), f64::NEG_INFINITY)?;
        masked = masked.f_amax([1i64].as_slice(), false)?;
        masked
    };
    // The class wins example i when its logit plus the shift beats the best
    // other: the share of wins rises with the shift.
    let predicted = |shift: f64| -> Result<f64> {
        Ok(column
            .f_add_scalar(shift)?
            .f_gt_tensor(&others)?
            .f_to_kind(Kind::Double)?
            .f_mean(Kind::Double)?
            .f_double_value(&[])?)
    };
    let margin = (&others - &column).f_abs()?.f_max()?.f_double_value(&[])? + 1.0;
    let (mut lo, mut hi) = (-margin, margin);
    while hi - lo > 1e-6 {
        let mid = 0.5 * (lo + hi);
        if predicted(mid)? >= share {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}
