//! Correspondence (Zeiler & Fergus, Table 1): does the network tie a part
//! of an object to the same features in different images? Occlude the same
//! part in several images of a class and compare how the features change:
//! for each image `i`, `eps_i = x_i - x~_i` (layer features without and
//! with the occlusion), and
//!
//! `Delta = sum over ordered pairs i != j of Hamming(sign(eps_i), sign(eps_j))`.
//!
//! A lower Delta than for randomly placed occluders means the change is
//! consistent: the part is encoded the same way across images.

use super::top_k::PixelBox;
use crate::error::{Error, Result};
use crate::model::Model;
use tch::{Kind, Tensor};

/// Delta for layer `layer`: `images` is `[N, C, H, W]` (N >= 2), `regions[i]`
/// the box occluded in image `i` (inclusive bounds), filled with `fill`.
pub fn correspondence(
    model: &Model,
    images: &Tensor,
    layer: &str,
    regions: &[PixelBox],
    fill: f64,
) -> Result<f64> {
    model.check_input(images)?;
    if !fill.is_finite() {
        return Err(Error::invalid(format!(
            "the occluder's fill must be a finite value, got {fill}"
        )));
    }
    let size = images.size();
    let (n, h, w) = (size[0], size[2], size[3]);
    if n < 2 || regions.len() as i64 != n {
        return Err(Error::invalid(format!(
            "correspondence needs at least 2 images and one region per image (got {n} images, {} regions)",
            regions.len()
        )));
    }
    for (i, r) in regions.iter().enumerate() {
        if r.top < 0
            || r.left < 0
            || r.bottom >= h
            || r.right >= w
            || r.top > r.bottom
            || r.left > r.right
        {
            return Err(Error::invalid(format!(
                "region {i} {r:?} is not a box inside the {h}x{w} image"
            )));
        }
    }
    // Images the model takes, one box inside each (checked above): the
    // occlusion, the flattening of one layer's outputs and the sign
    // comparisons below cannot fail.
    let _guard = tch::no_grad_guard();
    let images = images.to_kind(Kind::Float).to_device(model.device());
    let occluded = images.copy();
    for (i, r) in regions.iter().enumerate() {
        let _ = occluded
            .get(i as i64)
            .narrow(1, r.top, r.bottom - r.top + 1)
            .narrow(2, r.left, r.right - r.left + 1)
            .fill_(fill);
    }
    let flat = |t: Tensor| t.reshape([n, -1]);
    let eps = flat(model.forward_to(&images, layer)?) - flat(model.forward_to(&occluded, layer)?);
    let signs = eps.sign();
    let mut delta = 0i64;
    for i in 0..n {
        for j in 0..n {
            if i != j {
                delta += signs
                    .get(i)
                    .ne_tensor(&signs.get(j))
                    .sum(Kind::Int64)
                    .int64_value(&[]);
            }
        }
    }
    Ok(delta as f64)
}
