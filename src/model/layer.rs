//! One named layer of a [`Model`](super::Model): what it computes ([`Op`]),
//! its parameters and buffers, and how it runs forward.

use crate::error::{Error, Result};
use crate::runtime::rng::Rng;
use rand::Rng as _;
use tch::Tensor;

/// What a layer computes. Shapes are `[N, C, H, W]` for images and `[N, F]`
/// after `Flatten`.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// 2-D convolution; parameters `weight [out, in/groups, kh, kw]` and
    /// optionally `bias [out]`.
    Conv2d {
        /// Step between windows, (rows, columns).
        stride: [i64; 2],
        /// Zero padding on each side, (rows, columns).
        padding: [i64; 2],
        /// Spacing of kernel taps.
        dilation: [i64; 2],
        /// Channel groups.
        groups: i64,
        /// What the padding holds: zeros, or the mirrored border.
        padding_mode: PaddingMode,
    },
    /// Affine map; parameters `weight [out, in]` and optionally `bias [out]`.
    Linear,
    /// `max(x, 0)`.
    Relu,
    /// `x` where positive, `slope * x` elsewhere.
    LeakyRelu(f64),
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic sigmoid.
    Sigmoid,
    /// Max pooling; the recorded argmax positions are the deconvnet's switches.
    MaxPool2d {
        /// Window size.
        kernel: [i64; 2],
        /// Step between windows.
        stride: [i64; 2],
        /// Padding (with -inf) on each side.
        padding: [i64; 2],
        /// Round the output size up instead of down.
        ceil_mode: bool,
    },
    /// Average pooling (padding counts as zeros, as in PyTorch's default).
    AvgPool2d {
        /// Window size.
        kernel: [i64; 2],
        /// Step between windows.
        stride: [i64; 2],
        /// Zero padding on each side.
        padding: [i64; 2],
    },
    /// Average pooling to a fixed output size `[H, W]`.
    AdaptiveAvgPool2d([i64; 2]),
    /// Local response normalisation across channels (AlexNet, ZFNet), as
    /// `torch.nn.LocalResponseNorm`: `x / (k + alpha/size * sum x^2)^beta`.
    LocalResponseNorm {
        /// Number of neighbouring channels summed over.
        size: i64,
        /// Scale of the sum.
        alpha: f64,
        /// Exponent.
        beta: f64,
        /// Additive constant.
        k: f64,
    },
    /// Batch normalisation over `[N, C, H, W]` or `[N, C]`; parameters
    /// `weight`, `bias`, buffers `running_mean`, `running_var`.
    BatchNorm {
        /// Weight of the new batch statistics in the running averages.
        momentum: f64,
        /// Added to the variance.
        eps: f64,
    },
    /// Zeroes each value with probability `p` in training mode.
    Dropout(f64),
    /// Spatial upsampling `[N, C, H, W] -> [N, C, scale*H, scale*W]`, as
    /// `torch.nn.Upsample(scale_factor=scale, mode=...)` (bilinear without
    /// aligned corners).
    Upsample {
        /// Integer factor on both axes.
        scale: i64,
        /// How new pixels are filled.
        mode: Upsampling,
    },
    /// Branches run on the same input, their outputs concatenated along
    /// the channel axis in order (the skip connections of an hourglass such
    /// as Deep Image Prior's). Every branch must keep the spatial size the
    /// same as the others'.
    Concat(Vec<Vec<Layer>>),
    /// `[N, ...] -> [N, F]`.
    Flatten,
    /// A block of layers with an optional shortcut: `relu(main(x) + shortcut(x))`
    /// (ResNet's basic block), or `relu(main(x))` with [`Shortcut::None`] (its
    /// plain twin, same layers and names without the skip connection).
    Block {
        /// The main branch.
        main: Vec<Layer>,
        /// What is added to the main branch's output.
        shortcut: Shortcut,
        /// Whether a ReLU follows.
        relu: bool,
    },
}

/// What a convolution's padding holds (PyTorch's `padding_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PaddingMode {
    /// Zeros (PyTorch's default).
    #[default]
    Zeros,
    /// The border mirrored without repeating the edge pixel
    /// (`torch.nn.ReflectionPad2d`); the padding must be smaller than the input.
    Reflect,
}

/// How [`Op::Upsample`] fills new pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsampling {
    /// Each pixel repeated.
    Nearest,
    /// Bilinear interpolation (`align_corners=False`).
    Bilinear,
}

/// The skip connection of a [`Op::Block`].
#[derive(Debug, Clone, PartialEq)]
pub enum Shortcut {
    /// No skip connection (a plain block).
    None,
    /// `x` itself.
    Identity,
    /// A projection, e.g. 1x1 conv + batch norm when the shape changes.
    Layers(Vec<Layer>),
}

/// How a layer's weights are drawn when built or re-initialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitScheme {
    /// PyTorch's default for `Conv2d`/`Linear`: weight and bias uniform in
    /// `+-1/sqrt(fan_in)`.
    PyTorchDefault,
    /// torchvision's ResNet: conv weights normal with std `sqrt(2 / fan_out)`,
    /// no conv bias; batch norm weight 1, bias 0.
    KaimingNormalFanOut,
}

impl Op {
    /// A short name for tables: "conv", "linear", "relu", "maxpool", ...
    pub fn kind_name(&self) -> &'static str {
        match self {
            Op::Conv2d { .. } => "conv",
            Op::Linear => "linear",
            Op::Relu => "relu",
            Op::LeakyRelu(_) => "leaky_relu",
            Op::Tanh => "tanh",
            Op::Sigmoid => "sigmoid",
            Op::MaxPool2d { .. } => "maxpool",
            Op::AvgPool2d { .. } => "avgpool",
            Op::AdaptiveAvgPool2d(_) => "adaptive_avgpool",
            Op::LocalResponseNorm { .. } => "lrn",
            Op::BatchNorm { .. } => "batchnorm",
            Op::Dropout(_) => "dropout",
            Op::Flatten => "flatten",
            Op::Upsample { .. } => "upsample",
            Op::Concat(_) => "concat",
            Op::Block { .. } => "block",
        }
    }
}

/// A layer: its name (what tools ask for, e.g. "conv5"), its parameter path
/// (torchvision's state-dict prefix, e.g. "features.10"), what it computes,
/// and its tensors.
#[derive(Debug)]
pub struct Layer {
    /// Name used by `forward_to`, `activations`, `freeze`, ... Unique in a model.
    pub name: String,
    /// Prefix of its parameter names, e.g. "features.10" for
    /// "features.10.weight". Empty for layers without tensors.
    pub path: String,
    /// What it computes.
    pub op: Op,
    /// Trainable tensors by short name ("weight", "bias").
    pub params: Vec<(String, Tensor)>,
    /// Non-trainable state by short name ("running_mean", "running_var").
    pub buffers: Vec<(String, Tensor)>,
    /// How the weights are (re-)initialised.
    pub init: InitScheme,
}

impl Clone for Layer {
    /// A clone shares its tensors with the original (tensors are handles).
    fn clone(&self) -> Self {
        let share = |v: &Vec<(String, Tensor)>| {
            v.iter()
                .map(|(n, t)| (n.clone(), t.shallow_clone()))
                .collect()
        };
        Layer {
            name: self.name.clone(),
            path: self.path.clone(),
            op: self.op.clone(),
            params: share(&self.params),
            buffers: share(&self.buffers),
            init: self.init,
        }
    }
}

impl PartialEq for Layer {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.path == other.path && self.op == other.op
    }
}

impl Layer {
    /// The tensor called `short` ("weight", "bias", "running_mean", ...).
    pub fn tensor(&self, short: &str) -> Option<&Tensor> {
        self.params
            .iter()
            .chain(&self.buffers)
            .find(|(n, _)| n == short)
            .map(|(_, t)| t)
    }

    /// The layers inside a block (main branch, then shortcut) or a concat
    /// (branch by branch); none otherwise.
    pub fn sublayers(&self) -> Vec<&Layer> {
        match &self.op {
            Op::Concat(branches) => branches.iter().flatten().collect(),
            Op::Block { main, shortcut, .. } => {
                let mut v: Vec<&Layer> = main.iter().collect();
                if let Shortcut::Layers(s) = shortcut {
                    v.extend(s.iter());
                }
                v
            }
            _ => Vec::new(),
        }
    }

    /// The layers inside a block or a concat, mutably, in the order of
    /// [`Layer::sublayers`].
    pub(crate) fn sublayers_mut(&mut self) -> Vec<&mut Layer> {
        match &mut self.op {
            Op::Concat(branches) => branches.iter_mut().flatten().collect(),
            Op::Block { main, shortcut, .. } => {
                let mut v: Vec<&mut Layer> = main.iter_mut().collect();
                if let Shortcut::Layers(s) = shortcut {
                    v.extend(s.iter_mut());
                }
                v
            }
            _ => Vec::new(),
        }
    }

    /// Every parameter of this layer and its sub-layers with its full name
    /// (`path.short`), in a stable order.
    pub fn named_params(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        self.collect(&mut out, false);
        out
    }

    /// Every parameter and buffer of this layer and its sub-layers.
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        self.collect(&mut out, true);
        out
    }

    fn collect(&self, out: &mut Vec<(String, Tensor)>, buffers: bool) {
        let full = |short: &str| {
            if self.path.is_empty() {
                short.to_string()
            } else {
                format!("{}.{short}", self.path)
            }
        };
        for (n, t) in &self.params {
            out.push((full(n), t.shallow_clone()));
        }
        if buffers {
            for (n, t) in &self.buffers {
                out.push((full(n), t.shallow_clone()));
            }
        }
        for l in self.sublayers() {
            l.collect(out, buffers);
        }
    }

    /// Runs the layer on `x`. With a generator it runs in training mode:
    /// dropout masks are drawn from it and batch norm uses (and updates) batch
    /// statistics; without one, in evaluation mode. For max pools, also
    /// returns the switches (flat argmax indices per output position, as
    /// `max_pool2d_with_indices`).
    pub fn forward(
        &self,
        x: &Tensor,
        mut rng: Option<&mut Rng>,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let train = rng.is_some();
        let y = match &self.op {
            Op::Conv2d {
                stride,
                padding,
                dilation,
                groups,
                padding_mode,
            } => match padding_mode {
                PaddingMode::Zeros => x.f_conv2d(
                    self.need("weight")?,
                    self.tensor("bias"),
                    stride,
                    padding,
                    dilation,
                    *groups,
                )?,
                PaddingMode::Reflect => {
                    let [ph, pw] = *padding;
                    let size = x.size();
                    if size.len() != 4 || ph >= size[2] || pw >= size[3] {
                        return Err(Error::invalid(format!(
                            "layer '{}': reflection padding {ph}x{pw} needs an input [N, C, H, W] larger than it, got {size:?}",
                            self.name
                        )));
                    }
                    x.f_reflection_pad2d([pw, pw, ph, ph])?.f_conv2d(
                        self.need("weight")?,
                        self.tensor("bias"),
                        stride,
                        [0, 0],
                        dilation,
                        *groups,
                    )?
                }
            },
            Op::Linear => x.f_linear(self.need("weight")?, self.tensor("bias"))?,
            Op::Relu => x.f_relu()?,
            // tch binds leaky_relu without its slope (fixed at 0.01), but
            // leaky_relu_backward(g, x, slope) is g where x > 0 and
            // slope * g elsewhere: with g = x that is the leaky ReLU itself,
            // in one kernel and bit for bit PyTorch's. Its derivative in g is
            // the leaky ReLU's (and zero in x), so autograd gets it right; a
            // step at 256x256 took 30 ms per activation against 49 ms for
            // lerp(x, relu(x), 1 - slope) and 44 ms for prelu, whose backward
            // also writes a full-size slope gradient.
            Op::LeakyRelu(slope) => x.f_leaky_relu_backward(x, *slope, false)?,
            Op::Tanh => x.f_tanh()?,
            Op::Sigmoid => x.f_sigmoid()?,
            Op::MaxPool2d {
                kernel,
                stride,
                padding,
                ceil_mode,
            } => {
                let (y, idx) =
                    x.f_max_pool2d_with_indices(kernel, stride, padding, [1, 1], *ceil_mode)?;
                return Ok((y, Some(idx)));
            }
            Op::AvgPool2d {
                kernel,
                stride,
                padding,
            } => x.f_avg_pool2d(kernel, stride, padding, false, true, None)?,
            Op::AdaptiveAvgPool2d(size) => x.f_adaptive_avg_pool2d(size)?,
            Op::LocalResponseNorm {
                size,
                alpha,
                beta,
                k,
            } => local_response_norm(x, *size, *alpha, *beta, *k)?,
            Op::BatchNorm { momentum, eps } => x.f_batch_norm(
                Some(self.need("weight")?),
                Some(self.need("bias")?),
                Some(self.need("running_mean")?),
                Some(self.need("running_var")?),
                train,
                *momentum,
                *eps,
                false,
            )?,
            Op::Dropout(p) => match rng.as_deref_mut() {
                Some(r) => dropout(x, *p, r)?,
                None => x.shallow_clone(),
            },
            Op::Flatten => x.f_flatten(1, -1)?,
            Op::Upsample { scale, mode } => {
                let size = x.size();
                if size.len() != 4 || *scale < 1 {
                    return Err(Error::invalid(format!(
                        "layer '{}': upsampling by {scale} needs an input [N, C, H, W] and a factor >= 1, got {size:?}",
                        self.name
                    )));
                }
                let out = [size[2] * scale, size[3] * scale];
                match mode {
                    Upsampling::Nearest => x.f_upsample_nearest2d(out, None, None)?,
                    Upsampling::Bilinear => x.f_upsample_bilinear2d(out, false, None, None)?,
                }
            }
            Op::Concat(branches) => {
                let mut outs = Vec::with_capacity(branches.len());
                for branch in branches {
                    let mut h = x.shallow_clone();
                    for l in branch {
                        h = l.forward(&h, rng.as_deref_mut())?.0;
                    }
                    outs.push(h);
                }
                if let Some(first) = outs.first() {
                    let spatial = &first.size()[2..];
                    if let Some(other) = outs.iter().find(|o| &o.size()[2..] != spatial) {
                        return Err(Error::shape(
                            format!("concat {}: branch outputs", self.name),
                            format!(
                                "the same spatial size as the first branch's {:?}",
                                first.size()
                            ),
                            format!("{:?}", other.size()),
                        ));
                    }
                }
                Tensor::f_cat(&outs, 1)?
            }
            Op::Block {
                main,
                shortcut,
                relu,
            } => {
                let mut m = x.shallow_clone();
                for l in main {
                    m = l.forward(&m, rng.as_deref_mut())?.0;
                }
                let skip = match shortcut {
                    Shortcut::None => None,
                    Shortcut::Identity => Some(x.shallow_clone()),
                    Shortcut::Layers(layers) => {
                        let mut s = x.shallow_clone();
                        for l in layers {
                            s = l.forward(&s, rng.as_deref_mut())?.0;
                        }
                        Some(s)
                    }
                };
                if let Some(s) = skip {
                    if m.size() != s.size() {
                        return Err(Error::shape(
                            format!("block {}: shortcut output", self.name),
                            format!("the main branch's shape {:?}", m.size()),
                            format!("{:?}", s.size()),
                        ));
                    }
                    m = m.f_add(&s)?;
                }
                if *relu {
                    m.f_relu()?
                } else {
                    m
                }
            }
        };
        Ok((y, None))
    }

    pub(super) fn need(&self, short: &str) -> Result<&Tensor> {
        self.tensor(short).ok_or_else(|| {
            Error::invalid(format!(
                "layer {} ({}) has no '{short}' tensor",
                self.name,
                self.op.kind_name()
            ))
        })
    }
}

/// Dropout as `torch.nn.functional.dropout` in training mode (each value
/// zeroed with probability `p`, the rest scaled by `1 / (1 - p)`), with the
/// mask seeded from `rng` rather than from whatever last touched libtorch's
/// global generator.
pub fn dropout(x: &Tensor, p: f64, rng: &mut Rng) -> Result<Tensor> {
    if !(0.0..1.0).contains(&p) {
        return Err(Error::invalid(format!(
            "dropout probability must be in [0, 1), got {p}"
        )));
    }
    Ok(crate::runtime::rng::with_torch_seed(rng.gen(), || {
        x.f_dropout(p, true)
    })?)
}

/// `torch.nn.functional.local_response_norm`: each channel divided by
/// `(k + alpha / size * sum of squares over `size` neighbouring channels)^beta`,
/// the window centred with `size / 2` channels before and `(size - 1) / 2` after.
pub fn local_response_norm(x: &Tensor, size: i64, alpha: f64, beta: f64, k: f64) -> Result<Tensor> {
    if size < 1 {
        return Err(Error::invalid(format!("LRN size must be >= 1, got {size}")));
    }
    if x.dim() < 3 {
        return Err(Error::shape(
            "LRN input",
            "[N, C, ...]",
            format!("{:?}", x.size()),
        ));
    }
    let sizes = x.size();
    let (n, c) = (sizes[0], sizes[1]);
    // [N, 1, C, L]: pool over the channel axis with a (size x 1) window.
    let sq = x.f_square()?.f_reshape([n, 1, c, -1])?;
    let padded = sq.f_constant_pad_nd([0, 0, size / 2, (size - 1) / 2])?;
    let avg = padded.f_avg_pool2d([size, 1], [1, 1], [0, 0], false, true, None)?;
    let div = (avg.f_reshape(sizes.as_slice())? * alpha + k).f_pow_tensor_scalar(beta)?;
    Ok(x.f_div(&div)?)
}
