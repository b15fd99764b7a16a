//! Zeiler & Fergus's deconvnet: an activation projected back to pixel space
//! through the layers below it.
//!
//! The seed is the chosen activation's value with every other activation of
//! its layer zeroed. Going down, each layer applies its "inverse":
//! max pools unpool with the switches the forward pass recorded, ReLUs
//! rectify the signal, convolutions and linear layers apply their
//! transposed weights (no bias). Everything runs without autograd, for many
//! (image, feature map) pairs in one batched pass.
//!
//! Choices where the paper is silent, both tested:
//! - **Overlapping pools** (ZFNet's 3x3 windows with stride 2): two windows
//!   can pick the same input position. [`Overlap::Sum`] (the default) adds
//!   both contributions, which is exactly what the gradient does;
//!   [`Overlap::Overwrite`] keeps one of them.
//! - **Normalisation layers**: local response normalisation is passed
//!   through unchanged (the paper's projections ignore it); batch
//!   normalisation (eval mode) applies its per-channel scale
//!   `weight / sqrt(running_var + eps)`, its transposed linear part, without
//!   the shift, as convolutions drop their bias.
//!
//! Residual blocks, tanh and sigmoid have no deconvnet inverse: projecting
//! through them is an error that names the layer.

use crate::error::{Error, Result};
use crate::model::{Layer, Model, Op};
use tch::{Kind, Tensor};

/// How unpooling combines two windows that chose the same input position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overlap {
    /// Add the contributions (the gradient's rule; the default).
    #[default]
    Sum,
    /// Keep one contribution per position.
    Overwrite,
}

/// What to project: one activation of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Index of the image in the batch given to [`Deconvnet::project`].
    pub image: usize,
    /// Feature map (channel) of the layer, or the unit of a linear layer.
    pub channel: i64,
    /// Position `(row, column)` in the feature map; `None` for the
    /// strongest activation of the map in that image (the paper's choice).
    pub position: Option<(i64, i64)>,
}

impl Target {
    /// The strongest activation of feature map `channel` in image `image`.
    pub fn strongest(image: usize, channel: i64) -> Self {
        Target {
            image,
            channel,
            position: None,
        }
    }
}

/// The deconvnet of a model (layer-list models: convolutions, linear
/// layers, ReLU/LeakyReLU, max and average pools, LRN, batch norm, dropout,
/// flatten).
#[derive(Clone, Copy)]
pub struct Deconvnet<'a> {
    model: &'a Model,
    overlap: Overlap,
}

impl<'a> Deconvnet<'a> {
    /// The deconvnet of `model`, summing overlapping unpool contributions.
    pub fn new(model: &'a Model) -> Self {
        Deconvnet {
            model,
            overlap: Overlap::Sum,
        }
    }

    /// The model it projects through.
    pub fn model(&self) -> &'a Model {
        self.model
    }

    /// Sets the rule for overlapping pools.
    pub fn overlap(mut self, rule: Overlap) -> Self {
        self.overlap = rule;
        self
    }

    /// Projects each target of layer `layer` down to the input: `[K, C, H,
    /// W]` for `K` targets, in the input's units (not yet scaled for
    /// display). `images` is `[N, C, H, W]` as the model takes it.
    pub fn project(&self, images: &Tensor, layer: &str, targets: &[Target]) -> Result<Tensor> {
        let last = self.model.layer_index(layer)?;
        if targets.is_empty() {
            return Err(Error::invalid(
                "Deconvnet::project needs at least one target",
            ));
        }
        self.check_invertible(last)?;
        let n = images.size().first().copied().unwrap_or(0);
        let _guard = tch::no_grad_guard();
        let trace = self.model.trace(images, layer)?;
        let top = &trace.outputs[last];
        let channels = top.size()[1];
        let picks: Vec<i64> = targets
            .iter()
            .map(|t| {
                if t.image as i64 >= n {
                    return Err(Error::invalid(format!(
                        "target image {} is out of range: the batch has {n} images",
                        t.image
                    )));
                }
                if t.channel < 0 || t.channel >= channels {
                    return Err(Error::invalid(format!(
                        "target channel {} is out of range: layer '{layer}' has {channels}",
                        t.channel
                    )));
                }
                Ok(t.image as i64)
            })
            .collect::<Result<_>>()?;
        let index = Tensor::from_slice(&picks).to_device(top.device());
        let mut signal = seed(&top.index_select(0, &index), targets, layer)?;
        for i in (0..=last).rev() {
            let input = if i == 0 {
                &trace.input
            } else {
                &trace.outputs[i - 1]
            };
            let switches = trace.switches[i]
                .as_ref()
                .map(|s| s.index_select(0, &index));
            let input_size = input.size();
            signal = self.down(
                &self.model.layers()[i],
                signal,
                &input_size,
                switches.as_ref(),
            )?;
        }
        Ok(signal)
    }

    /// The layer up to `last` that cannot be inverted, as an error.
    fn check_invertible(&self, last: usize) -> Result<()> {
        for layer in &self.model.layers()[..=last] {
            let why = match &layer.op {
                Op::Block { .. } => {
                    "a residual block (the skip connection has no deconvnet inverse)"
                }
                Op::Concat(_) => "a concat of branches (no deconvnet inverse)",
                Op::Upsample { .. } => "upsampling (the deconvnet has no inverse for it)",
                Op::Conv2d {
                    padding_mode: crate::model::PaddingMode::Reflect,
                    ..
                } => "reflection padding (the transposed filters assume zero padding)",
                Op::Tanh => "tanh (the deconvnet is defined for rectified networks)",
                Op::Sigmoid => "sigmoid (the deconvnet is defined for rectified networks)",
                _ => continue,
            };
            return Err(Error::invalid(format!(
                "the deconvnet cannot project through layer '{}': {why}",
                layer.name
            )));
        }
        Ok(())
    }

    /// The signal at the input of `layer`, from the signal at its output.
    fn down(
        &self,
        layer: &Layer,
        signal: Tensor,
        input_size: &[i64],
        switches: Option<&Tensor>,
    ) -> Result<Tensor> {
        let torch = |e: tch::TchError| Error::from(e);
        Ok(match &layer.op {
            Op::Conv2d {
                stride,
                padding,
                dilation,
                groups,
                ..
            } => {
                let w = param(layer, "weight")?;
                let (kh, kw) = (w.size()[2], w.size()[3]);
                let out = signal.size();
                // The transposed convolution's natural size can fall short of
                // the input by up to stride-1 pixels; output padding restores it.
                let natural =
                    |o: i64, s: i64, p: i64, d: i64, k: i64| (o - 1) * s - 2 * p + d * (k - 1) + 1;
                let extra = [
                    input_size[2] - natural(out[2], stride[0], padding[0], dilation[0], kh),
                    input_size[3] - natural(out[3], stride[1], padding[1], dilation[1], kw),
                ];
                signal
                    .f_conv_transpose2d(
                        w,
                        None::<Tensor>,
                        stride,
                        padding,
                        extra,
                        *groups,
                        dilation,
                    )
                    .map_err(torch)?
            }
            Op::Linear => signal.f_matmul(param(layer, "weight")?).map_err(torch)?,
            Op::Relu => signal.relu(),
            Op::LeakyRelu(slope) => signal
                .f_leaky_relu_backward(&signal, *slope, false)
                .map_err(torch)?,
            Op::MaxPool2d { .. } => {
                let sw = switches.ok_or_else(|| {
                    Error::invalid(format!(
                        "no switches were recorded for pool '{}'",
                        layer.name
                    ))
                })?;
                // The signal has this pool's output shape and the switches
                // were recorded by the same pool on the same images: the
                // reshapes below cannot fail.
                let (k, c) = (signal.size()[0], signal.size()[1]);
                let plane = input_size[2] * input_size[3];
                let flat_signal = signal.reshape([k, c, -1]);
                let flat_sw = sw.reshape([k, c, -1]);
                let zeros = Tensor::zeros([k, c, plane], (signal.kind(), signal.device()));
                let up = match self.overlap {
                    Overlap::Sum => zeros.f_scatter_add(2, &flat_sw, &flat_signal),
                    Overlap::Overwrite => zeros.f_scatter(2, &flat_sw, &flat_signal),
                }
                .map_err(torch)?;
                up.reshape([k, c, input_size[2], input_size[3]])
            }
            Op::AvgPool2d {
                kernel,
                stride,
                padding,
            } => {
                // Its transpose: each output spread evenly over its window.
                let like = Tensor::zeros(
                    [
                        signal.size()[0],
                        input_size[1],
                        input_size[2],
                        input_size[3],
                    ],
                    (signal.kind(), signal.device()),
                );
                signal
                    .f_avg_pool2d_backward(&like, kernel, stride, padding, false, true, None::<i64>)
                    .map_err(torch)?
            }
            Op::AdaptiveAvgPool2d(out) => {
                // When the input divides evenly it is a plain average pool,
                // whose transpose spreads each output over its window.
                let (h, w) = (input_size[2], input_size[3]);
                if out[0] <= 0 || out[1] <= 0 || h % out[0] != 0 || w % out[1] != 0 {
                    return Err(Error::invalid(format!(
                        "the deconvnet projects through adaptive pool '{}' only when its {h}x{w} input divides into {}x{} evenly",
                        layer.name, out[0], out[1]
                    )));
                }
                let window = [h / out[0], w / out[1]];
                let like = Tensor::zeros(
                    [signal.size()[0], input_size[1], h, w],
                    (signal.kind(), signal.device()),
                );
                signal
                    .f_avg_pool2d_backward(&like, window, window, [0, 0], false, true, None::<i64>)
                    .map_err(torch)?
            }
            Op::LocalResponseNorm { .. } | Op::Dropout(_) => signal,
            Op::BatchNorm { eps, .. } => {
                let var = buffer(layer, "running_var")?;
                let mut scale = (var + *eps).rsqrt();
                if let Some(w) = layer.tensor("weight") {
                    scale *= w;
                }
                let mut shape = vec![1, -1];
                shape.extend(std::iter::repeat_n(1, signal.dim().saturating_sub(2)));
                signal * scale.reshape(shape.as_slice())
            }
            Op::Flatten => {
                let mut shape = vec![signal.size()[0]];
                shape.extend_from_slice(&input_size[1..]);
                signal.reshape(shape.as_slice())
            }
            Op::Tanh | Op::Sigmoid | Op::Block { .. } | Op::Concat(_) | Op::Upsample { .. } => {
                // check_invertible rejected these before the pass began.
                return Err(Error::invalid(format!(
                    "the deconvnet cannot project through layer '{}'",
                    layer.name
                )));
            }
        })
    }
}

fn param<'l>(layer: &'l Layer, name: &str) -> Result<&'l Tensor> {
    layer
        .tensor(name)
        .ok_or_else(|| Error::invalid(format!("layer '{}' has no {name} tensor", layer.name)))
}

fn buffer<'l>(layer: &'l Layer, name: &str) -> Result<&'l Tensor> {
    param(layer, name)
}

/// The seeds: for each target, its layer's output with every activation
/// but the chosen one zeroed. `top` is `[K, C, ...]`, one row per target.
fn seed(top: &Tensor, targets: &[Target], layer: &str) -> Result<Tensor> {
    let size = top.size();
    let k = size[0];
    let mask = Tensor::zeros(size.as_slice(), (Kind::Float, top.device()));
    // One row of `top` per target, and `project` checked each channel
    // against the layer's: the `get`s below cannot fail; positions are
    // checked against the map before use.
    for (row, t) in targets.iter().enumerate() {
        let row = row as i64;
        let map = top.get(row).get(t.channel);
        match (map.dim(), t.position) {
            (0, None) => {
                let _ = mask.get(row).get(t.channel).fill_(1.0);
            }
            (0, Some(_)) => {
                return Err(Error::invalid(format!(
                    "layer '{layer}' has no spatial positions; give no position for its units"
                )))
            }
            (2, position) => {
                let (h, w) = (size[2], size[3]);
                let (y, x) = match position {
                    Some((y, x)) if (0..h).contains(&y) && (0..w).contains(&x) => (y, x),
                    Some((y, x)) => {
                        return Err(Error::invalid(format!(
                            "target position ({y}, {x}) is outside layer '{layer}''s {h}x{w} maps"
                        )))
                    }
                    None => {
                        let flat = map.reshape([-1]).argmax(0, false).int64_value(&[]);
                        (flat / w, flat % w)
                    }
                };
                let _ = mask.get(row).get(t.channel).get(y).get(x).fill_(1.0);
            }
            (d, _) => {
                return Err(Error::invalid(format!(
                    "layer '{layer}' output has {} dims per example; the deconvnet projects from [C] or [C, H, W]",
                    d + 1
                )))
            }
        }
    }
    debug_assert_eq!(mask.size()[0], k);
    Ok(top * mask.to_kind(top.kind()))
}
