//! Drawing a layer's weights: used when a model is built and when layers are
//! re-initialised (e.g. the upper layers of a transfer experiment).

use super::layer::{InitScheme, Layer, Op};
use crate::error::Result;
use crate::runtime::rng::{with_torch_seed, Rng};
use rand::Rng as _;
use tch::Tensor;

/// Fills `t` in place with `draw` (libtorch's own in-place sampler), seeded
/// from `rng`: repeatable per model and fast.
fn fill(
    t: &Tensor,
    rng: &mut Rng,
    draw: impl FnOnce(&mut Tensor) -> Result<Tensor, tch::TchError>,
) -> Result<()> {
    let mut t = t.shallow_clone();
    let _ = with_torch_seed(rng.gen(), || draw(&mut t))?;
    Ok(())
}

/// (Re-)draws every parameter of `layer` from `rng` and resets its buffers,
/// in place.
pub fn initialise(layer: &Layer, rng: &mut Rng) -> Result<()> {
    tch::no_grad(|| -> Result<()> {
        match &layer.op {
            Op::Conv2d { .. } | Op::Linear => {
                let Some(w) = layer.tensor("weight") else {
                    return Err(crate::Error::invalid(format!(
                        "layer {} has no weight to initialise",
                        layer.name
                    )));
                };
                let size = w.size();
                let receptive: i64 = size[2..].iter().product();
                let fan_in = size[1] * receptive;
                let fan_out = size[0] * receptive;
                let bound = 1.0 / (fan_in as f64).sqrt();
                match (layer.init, &layer.op) {
                    (InitScheme::KaimingNormalFanOut, Op::Conv2d { .. }) => {
                        let std = (2.0 / fan_out as f64).sqrt();
                        fill(w, rng, |t| t.f_normal_(0.0, std))?;
                    }
                    _ => fill(w, rng, |t| t.f_uniform_(-bound, bound))?,
                }
                if let Some(b) = layer.tensor("bias") {
                    fill(b, rng, |t| t.f_uniform_(-bound, bound))?;
                }
            }
            Op::BatchNorm { .. } => {
                for (name, value) in [
                    ("weight", 1.0),
                    ("bias", 0.0),
                    ("running_mean", 0.0),
                    ("running_var", 1.0),
                ] {
                    if let Some(t) = layer.tensor(name) {
                        let _ = t.shallow_clone().f_fill_(value)?;
                    }
                }
            }
            _ => {}
        }
        for sub in layer.sublayers() {
            initialise(sub, rng)?;
        }
        Ok(())
    })
}
