//! Invariance (Zeiler & Fergus, Fig. 5): how far a layer's features move
//! when the image is translated, scaled or rotated, and what happens to the
//! probability of the true class.
//!
//! Images are resampled bilinearly through an affine grid; pixels brought in
//! from outside the image are 0 (the mean, for normalised inputs).

use crate::error::{Error, Result};
use crate::model::Model;
use tch::{Kind, Tensor};

/// One geometric change of the image, an affine map (named apart from
/// the [`data::transforms::Transform`](crate::data::transforms::Transform)
/// trait of augmentations).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Affine {
    /// Move the content right by this many pixels (negative: left).
    TranslateX(f64),
    /// Move the content down by this many pixels (negative: up).
    TranslateY(f64),
    /// Zoom about the centre by this factor (> 1 enlarges).
    Scale(f64),
    /// Rotate the content counter-clockwise by this many degrees.
    Rotate(f64),
}

impl Affine {
    /// The 2x3 matrix taking output grid coordinates (normalised to
    /// [-1, 1]) to input coordinates, for an `h` x `w` image.
    fn theta(self, h: i64, w: i64) -> Result<[f64; 6]> {
        Ok(match self {
            Affine::TranslateX(d) => [1.0, 0.0, -2.0 * d / w as f64, 0.0, 1.0, 0.0],
            Affine::TranslateY(d) => [1.0, 0.0, 0.0, 0.0, 1.0, -2.0 * d / h as f64],
            Affine::Scale(s) if s.is_finite() && s > 0.0 => [1.0 / s, 0.0, 0.0, 0.0, 1.0 / s, 0.0],
            Affine::Scale(s) => {
                return Err(Error::invalid(format!(
                    "scale factor must be positive, got {s}"
                )))
            }
            Affine::Rotate(deg) => {
                let (sin, cos) = deg.to_radians().sin_cos();
                // In normalised coordinates the axes have different pixel
                // lengths unless the image is square; the aspect terms keep
                // the rotation rigid in pixels.
                let (ax, ay) = (w as f64 / h as f64, h as f64 / w as f64);
                [cos, -sin * ay, 0.0, sin * ax, cos, 0.0]
            }
        })
    }

    /// Applies the change to `images` (`[N, C, H, W]`).
    pub fn apply(self, images: &Tensor) -> Result<Tensor> {
        let size = images.size();
        if size.len() != 4 {
            return Err(Error::invalid(format!(
                "transforms take images [N, C, H, W], got shape {size:?}"
            )));
        }
        if let Affine::TranslateX(d) | Affine::TranslateY(d) | Affine::Rotate(d) = self {
            if !d.is_finite() {
                return Err(Error::invalid(format!("{self:?} is not a finite amount")));
            }
        }
        let t = self.theta(size[2], size[3])?;
        let x = images.f_to_kind(Kind::Float)?;
        let theta = Tensor::f_from_slice(&t)?
            .f_to_kind(Kind::Float)?
            .f_to_device(x.device())?
            .f_reshape([1, 2, 3])?
            .f_repeat([size[0], 1, 1])?;
        let grid = Tensor::f_affine_grid_generator(&theta, size.as_slice(), false)?;
        Ok(x.f_grid_sampler(&grid, 0, 0, false)?)
    }
}

/// Feature distances and class probabilities along a sweep of one kind of
/// transform.
#[derive(Debug, Clone)]
pub struct InvarianceCurve {
    /// The transforms, in order.
    pub transforms: Vec<Affine>,
    /// `distance[l][t]`: mean over images of the Euclidean distance between
    /// layer `l`'s features of the transformed and the original image.
    pub distance: Vec<Vec<f64>>,
    /// `true_prob[t]`: mean probability of each image's true class.
    pub true_prob: Vec<f64>,
}

/// Sweeps `transforms` over `images` (`[N, C, H, W]`, true classes
/// `labels` `[N]`), measuring `layers` and the output probabilities.
pub fn invariance(
    model: &Model,
    images: &Tensor,
    labels: &Tensor,
    layers: &[&str],
    transforms: &[Affine],
) -> Result<InvarianceCurve> {
    model.check_input(images)?;
    crate::check::labels(labels, images.size()[0], "labels")?;
    if transforms.is_empty() || layers.is_empty() || images.size()[0] == 0 {
        return Err(Error::invalid(format!(
            "invariance needs at least one image, layer and transform (got {}, {} and {})",
            images.size()[0],
            layers.len(),
            transforms.len()
        )));
    }
    let _guard = tch::no_grad_guard();
    let device = model.device();
    let images = images.f_to_device(device)?;
    let labels = labels.f_to_device(device)?;
    let mut wanted: Vec<&str> = layers.to_vec();
    wanted.push(model.output_layer());
    let flat = |t: &Tensor| t.reshape([t.size()[0], -1]);
    let reference = model.activations(&images, &wanted)?;
    let logits = &reference[layers.len()];
    if logits.dim() != 2 {
        return Err(Error::shape(
            "the model's output",
            "class scores [N, classes] (invariance follows the true class's probability)",
            crate::check::shape_str(&logits.size()),
        ));
    }
    crate::check::class_indices(&labels, logits.size()[1], "labels")?;
    // Each layer's output has the same shape for the moved images as for
    // the originals (the transforms keep the size): the flattening and the
    // distances below cannot fail.
    let reference: Vec<Tensor> = reference.iter().map(flat).collect();
    let mut distance = vec![Vec::new(); layers.len()];
    let mut true_prob = Vec::new();
    for t in transforms {
        let moved = t.apply(&images)?;
        let outs = model.activations(&moved, &wanted)?;
        for (l, d) in distance.iter_mut().enumerate() {
            let diff = flat(&outs[l]) - &reference[l];
            d.push(
                diff.square()
                    .sum_dim_intlist(1, false, Kind::Float)
                    .sqrt()
                    .mean(Kind::Float)
                    .double_value(&[]),
            );
        }
        let probs = outs[layers.len()].softmax(1, Kind::Float);
        true_prob.push(
            probs
                .gather(1, &labels.unsqueeze(1), false)
                .mean(Kind::Float)
                .double_value(&[]),
        );
    }
    Ok(InvarianceCurve {
        transforms: transforms.to_vec(),
        distance,
        true_prob,
    })
}
