//! Zeiler & Fergus's filter renormalisation (section 3, used for the
//! comparison of 11x11/4 and 7x7/2 first layers, Fig. 6): after every
//! update, each convolution filter whose RMS value exceeds a fixed radius
//! (0.1 in the paper) is scaled back to that radius, which stops a few
//! first-layer filters from dominating.

use super::fit::{Callback, Control};
use super::history::StepRecord;
use crate::error::{Error, Result};
use crate::model::{Model, Op};
use tch::{Kind, Tensor};

/// Scales, in place, each filter (output channel) of a convolution weight
/// `[out, in, kh, kw]` whose RMS exceeds `radius` down to `radius`.
/// Returns how many filters were scaled.
pub fn renormalize_filters(weight: &Tensor, radius: f64) -> Result<usize> {
    check_radius(radius)?;
    if weight.dim() != 4 {
        return Err(Error::invalid(format!(
            "renormalize_filters takes a convolution weight [out, in, kh, kw], got shape {:?}",
            weight.size()
        )));
    }
    crate::check::floating(weight, "convolution weight")?;
    if weight.numel() == 0 {
        // No filter to scale (and `reshape([0, -1])` is a libtorch error).
        return Ok(0);
    }
    // A float `[out, in, kh, kw]` with values (checked above): the
    // reductions and the in-place scaling below cannot fail.
    let _guard = tch::no_grad_guard();
    let out = weight.size()[0];
    let rms = weight
        .reshape([out, -1])
        .to_kind(Kind::Float)
        .square()
        .mean_dim(1, false, Kind::Float)
        .sqrt();
    let over = rms.gt(radius);
    let count = over.sum(Kind::Int64).int64_value(&[]) as usize;
    if count > 0 {
        let scale = (radius / &rms)
            .f_where_self(&over, &rms.ones_like())?
            .to_kind(weight.kind())
            .reshape([out, 1, 1, 1]);
        let mut w = weight.shallow_clone();
        w *= &scale;
    }
    Ok(count)
}

fn check_radius(radius: f64) -> Result<()> {
    if radius.is_finite() && radius > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "the renormalisation radius must be a positive number, got {radius}"
        )))
    }
}

/// The renormalisation as a training callback, applied after every step to
/// the named convolution layers.
pub struct FilterRenorm {
    weights: Vec<Tensor>,
    radius: f64,
    /// Filters scaled so far, over all steps and layers.
    pub scaled: usize,
}

impl FilterRenorm {
    /// Renormalises the filters of `layers` (convolutions of `model`) to `radius`.
    pub fn new(model: &Model, layers: &[&str], radius: f64) -> Result<Self> {
        check_radius(radius)?;
        let mut weights = Vec::new();
        for name in layers {
            let layer = &model.layers()[model.layer_index(name)?];
            if !matches!(layer.op, Op::Conv2d { .. }) {
                return Err(Error::invalid(format!(
                    "layer '{name}' is a {}, not a convolution: only filters are renormalised",
                    layer.op.kind_name()
                )));
            }
            let w = layer
                .tensor("weight")
                .ok_or_else(|| Error::invalid(format!("convolution '{name}' has no weight")))?;
            // A handle on the same storage: scaling it scales the model's filters.
            weights.push(w.shallow_clone());
        }
        Ok(FilterRenorm {
            weights,
            radius,
            scaled: 0,
        })
    }

    /// Renormalises the filters now (e.g. once before training, so that the
    /// initial filters respect the bound too); returns how many were scaled.
    pub fn apply(&mut self) -> Result<usize> {
        let mut count = 0;
        for w in &self.weights {
            count += renormalize_filters(w, self.radius)?;
        }
        self.scaled += count;
        Ok(count)
    }
}

impl Callback for FilterRenorm {
    fn on_step(&mut self, _record: &StepRecord) -> Result<Control> {
        self.apply()?;
        Ok(Control::Continue)
    }
}
