//! One optimisation step, the same everywhere: zero the gradients of the
//! parameters being optimised, backpropagate the loss, optionally clip the
//! gradient norm, and let the optimiser update. `fit` (for every objective),
//! the Deep Image Prior and the critical-point search all step through
//! [`optimize`].

use super::optim::OptimizerState;
use crate::error::{Error, Result};
use crate::model::ParamGroup;
use tch::{Kind, Tensor};

/// One update of the parameters in `groups` from `loss` (a scalar tensor):
/// their gradients are zeroed, `loss` is backpropagated, the gradients'
/// joint L2 norm is clipped to `clip` if given (as
/// `torch.nn.utils.clip_grad_norm_`), and `optimizer` steps with learning
/// rate `lr` times each group's scale.
///
/// Only these parameters' gradients are zeroed first: another optimiser's
/// parameters keep theirs until their own update zeroes them, so that one
/// step of a two-player objective (ADDA's discriminator, then its encoder)
/// never mixes the two losses.
pub fn optimize(
    loss: &Tensor,
    groups: &[ParamGroup],
    optimizer: &mut OptimizerState,
    lr: f64,
    clip: Option<f64>,
) -> Result<()> {
    if loss.numel() != 1 {
        return Err(Error::shape(
            "loss",
            "a scalar (one value) to backpropagate",
            crate::check::shape_str(&loss.size()),
        ));
    }
    for (_, p) in groups.iter().flat_map(|g| &g.params) {
        p.shallow_clone().zero_grad();
    }
    loss.f_backward()?;
    if let Some(max_norm) = clip {
        clip_grad_norm(groups, max_norm)?;
    }
    optimizer.step(groups, lr)
}

/// Scales the gradients of `groups` so that their joint L2 norm is at most
/// `max_norm`; returns the norm before clipping. As PyTorch's
/// `clip_grad_norm_`: the factor is `max_norm / (norm + 1e-6)`, applied
/// only when it is below 1.
pub fn clip_grad_norm(groups: &[ParamGroup], max_norm: f64) -> Result<f64> {
    if !(max_norm.is_finite() && max_norm > 0.0) {
        return Err(Error::invalid(format!(
            "the gradient-norm bound must be finite and > 0, got {max_norm}"
        )));
    }
    let grads: Vec<Tensor> = groups
        .iter()
        .flat_map(|g| &g.params)
        .map(|(_, p)| p.grad())
        .filter(Tensor::defined)
        .collect();
    if grads.is_empty() {
        return Ok(0.0);
    }
    let norm = tch::no_grad(|| -> Result<f64> {
        let squares = grads
            .iter()
            .map(|g| g.f_square()?.f_sum(Kind::Double))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Tensor::f_stack(&squares, 0)?
            .f_sum(Kind::Double)?
            .f_sqrt()?
            .double_value(&[]))
    })?;
    let factor = max_norm / (norm + 1e-6);
    if factor < 1.0 {
        tch::no_grad(|| -> Result<()> {
            for g in &grads {
                let _ = g.shallow_clone().f_mul_scalar_(factor)?;
            }
            Ok(())
        })?;
    }
    Ok(norm)
}
