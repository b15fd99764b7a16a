//! The strongest activations of each feature map over a whole dataset, with
//! the input patch each one sees (Zeiler & Fergus, Fig. 2: the top 9 per
//! map, their projections beside the image patches).
//!
//! The dataset is streamed in batches; per feature map only the strongest
//! position of each image competes, so the `k` winners are `k` different
//! images, as in the paper.

use crate::error::{Error, Result};
use crate::model::{Model, Op};
use tch::{Kind, Tensor};

/// Where a unit of a layer looks in the input: its receptive field, for
/// layers whose outputs keep spatial positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceptiveField {
    /// Height and width in input pixels (nominal: as if nothing were
    /// padding).
    pub size: [i64; 2],
    /// Input pixels between neighbouring units.
    pub jump: [i64; 2],
    /// Top-left input pixel of unit (0, 0); negative where padding reaches
    /// past the border.
    pub start: [i64; 2],
    /// The windowed layers from the input up, for exact boxes.
    steps: Vec<Step>,
}

/// One convolution or pool: its window and the extent of its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Step {
    kernel: [i64; 2],
    stride: [i64; 2],
    padding: [i64; 2],
    dilation: [i64; 2],
    input: [i64; 2],
}

/// A box of input pixels, inclusive bounds, clipped to the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelBox {
    /// First row.
    pub top: i64,
    /// First column.
    pub left: i64,
    /// Last row (inclusive).
    pub bottom: i64,
    /// Last column (inclusive).
    pub right: i64,
}

impl ReceptiveField {
    /// The receptive field of layer `layer`'s units: composed through
    /// convolutions and pools (size grows by `(k - 1) * dilation * jump`,
    /// the jump multiplies by the stride, padding moves the start);
    /// element-wise layers change nothing. Linear layers and residual blocks
    /// have no per-position field: an error names them.
    pub fn of(model: &Model, layer: &str) -> Result<Self> {
        let last = model.layer_index(layer)?;
        let mut rf = ReceptiveField {
            size: [1, 1],
            jump: [1, 1],
            start: [0, 0],
            steps: Vec::new(),
        };
        for (i, l) in model.layers()[..=last].iter().enumerate() {
            let (kernel, stride, padding, dilation) = match &l.op {
                Op::Conv2d {
                    stride,
                    padding,
                    dilation,
                    ..
                } => {
                    let w = l.tensor("weight").ok_or_else(|| {
                        Error::invalid(format!("conv layer '{}' has no weight", l.name))
                    })?;
                    ([w.size()[2], w.size()[3]], *stride, *padding, *dilation)
                }
                Op::MaxPool2d {
                    kernel,
                    stride,
                    padding,
                    ..
                }
                | Op::AvgPool2d {
                    kernel,
                    stride,
                    padding,
                } => (*kernel, *stride, *padding, [1, 1]),
                Op::Relu
                | Op::LeakyRelu(_)
                | Op::Tanh
                | Op::Sigmoid
                | Op::LocalResponseNorm { .. }
                | Op::BatchNorm { .. }
                | Op::Dropout(_) => continue,
                _ => {
                    return Err(Error::invalid(format!(
                        "layer '{}' ({}) has no per-position receptive field; ask for a convolutional layer up to '{}'",
                        l.name,
                        l.op.kind_name(),
                        layer
                    )))
                }
            };
            let input = if i == 0 {
                model.input_shape()
            } else {
                model.layer_shape(i - 1).unwrap_or_default()
            };
            if input.len() != 3 {
                return Err(Error::invalid(format!(
                    "layer '{}' does not take [C, H, W] inputs",
                    l.name
                )));
            }
            rf.steps.push(Step {
                kernel,
                stride,
                padding,
                dilation,
                input: [input[1], input[2]],
            });
            for a in 0..2 {
                rf.start[a] -= padding[a] * rf.jump[a];
                rf.size[a] += (kernel[a] - 1) * dilation[a] * rf.jump[a];
                rf.jump[a] *= stride[a];
            }
        }
        Ok(rf)
    }

    /// The input pixels unit `(row, column)` sees: the window traced down
    /// layer by layer, each time clipped to that layer's input, so padding
    /// never counts (exactly the pixels its value depends on).
    pub fn pixels(&self, row: i64, column: i64) -> PixelBox {
        let mut lo = [row, column];
        let mut hi = [row, column];
        for step in self.steps.iter().rev() {
            for a in 0..2 {
                let reach = (step.kernel[a] - 1) * step.dilation[a];
                lo[a] = (lo[a] * step.stride[a] - step.padding[a]).clamp(0, step.input[a] - 1);
                hi[a] =
                    (hi[a] * step.stride[a] - step.padding[a] + reach).clamp(0, step.input[a] - 1);
            }
        }
        PixelBox {
            top: lo[0],
            left: lo[1],
            bottom: hi[0],
            right: hi[1],
        }
    }
}

/// One of the strongest activations of a feature map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopActivation {
    /// Index of the image in the dataset.
    pub image: usize,
    /// The activation.
    pub value: f64,
    /// Its position `(row, column)` in the feature map.
    pub position: (i64, i64),
    /// The input pixels it sees.
    pub pixels: PixelBox,
}

/// For each feature map of a layer, its `k` strongest activations over a
/// dataset, strongest first, each from a different image.
#[derive(Debug, Clone)]
pub struct TopK {
    /// The layer.
    pub layer: String,
    /// The layer's receptive field.
    pub field: ReceptiveField,
    /// `maps[c]`: the winners of feature map `c`.
    pub maps: Vec<Vec<TopActivation>>,
}

/// Streams `images` (`[N, C, H, W]`) through `model` in batches of
/// `batch_size` and keeps, for every feature map of `layer`, the `k`
/// images with the strongest activation anywhere in the map.
pub fn top_k(
    model: &Model,
    images: &Tensor,
    layer: &str,
    k: usize,
    batch_size: usize,
) -> Result<TopK> {
    if k == 0 || batch_size == 0 {
        return Err(Error::invalid(format!(
            "top_k needs k >= 1 and batch_size >= 1 (got k = {k}, batch_size = {batch_size})"
        )));
    }
    let field = ReceptiveField::of(model, layer)?;
    model.check_input(images)?;
    let size = images.size();
    let n = size[0];
    let _guard = tch::no_grad_guard();
    let mut maps: Vec<Vec<TopActivation>> = Vec::new();
    let mut first = 0;
    while first < n {
        let count = (batch_size as i64).min(n - first);
        let batch = images.narrow(0, first, count).to_device(model.device());
        let act = model.forward_to(&batch, layer)?;
        let s = act.size();
        let (channels, fw) = (s[1], s[3]);
        let (values, places) = act.reshape([count, channels, -1]).max_dim(2, false);
        let values = Vec::<f64>::try_from(values.to_kind(Kind::Double).reshape([-1]))?;
        let places = Vec::<i64>::try_from(places.reshape([-1]))?;
        if maps.is_empty() {
            maps = vec![Vec::with_capacity(k + count as usize); channels as usize];
        }
        for b in 0..count as usize {
            let row = b * channels as usize;
            for (c, winners) in maps.iter_mut().enumerate() {
                let i = row + c;
                let (y, x) = (places[i] / fw, places[i] % fw);
                winners.push(TopActivation {
                    image: first as usize + b,
                    value: values[i],
                    position: (y, x),
                    pixels: field.pixels(y, x),
                });
            }
        }
        for winners in &mut maps {
            // Ties keep the earlier image, so results do not depend on batching.
            winners.sort_by(|a, b| b.value.total_cmp(&a.value).then(a.image.cmp(&b.image)));
            winners.truncate(k);
        }
        first += count;
    }
    Ok(TopK {
        layer: layer.to_string(),
        field,
        maps,
    })
}
