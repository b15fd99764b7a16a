//! Building a [`Model`] layer by layer. Each layer's input shape is inferred
//! by running a zero example through the layers before it, so a stack that
//! cannot work (a kernel larger than its input, a shortcut of the wrong
//! shape) is an error at `build`, not a crash at the first batch.

use super::layer::{InitScheme, Layer, Op, PaddingMode, Shortcut, Upsampling};
use super::network::Model;
use crate::error::{Error, Result};
use std::collections::HashSet;
use tch::{nn, Device, Kind, Tensor};

/// Options of a square convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv {
    /// Kernel size (square).
    pub kernel: i64,
    /// Stride.
    pub stride: i64,
    /// Padding on each side.
    pub padding: i64,
    /// What the padding holds (zeros unless [`reflect`](Self::reflect)).
    pub padding_mode: PaddingMode,
    /// Whether the layer has a bias.
    pub bias: bool,
}

impl Conv {
    /// A `kernel x kernel` convolution with stride 1, no padding and a bias.
    pub fn new(kernel: i64) -> Self {
        Conv {
            kernel,
            stride: 1,
            padding: 0,
            padding_mode: PaddingMode::Zeros,
            bias: true,
        }
    }
    /// With this stride.
    pub fn stride(mut self, s: i64) -> Self {
        self.stride = s;
        self
    }
    /// With this padding.
    pub fn padding(mut self, p: i64) -> Self {
        self.padding = p;
        self
    }
    /// With reflection padding of `(kernel - 1) / 2` on each side, so that
    /// stride 1 keeps the size (Deep Image Prior's convolutions).
    pub fn reflect(mut self) -> Self {
        self.padding = (self.kernel - 1) / 2;
        self.padding_mode = PaddingMode::Reflect;
        self
    }
    /// Without a bias (before batch norm).
    pub fn no_bias(mut self) -> Self {
        self.bias = false;
        self
    }
}

#[derive(Debug, Clone)]
enum Spec {
    Conv {
        name: String,
        path: String,
        out: i64,
        conv: Conv,
    },
    Linear {
        name: String,
        path: String,
        out: i64,
        bias: bool,
    },
    BatchNorm {
        name: String,
        path: String,
        eps: f64,
    },
    Plain {
        name: String,
        op: Op,
    },
    Concat {
        name: String,
        branches: Vec<Vec<Spec>>,
    },
    Block {
        name: String,
        main: Vec<Spec>,
        shortcut: Option<Vec<Spec>>,
        residual: bool,
    },
}

impl Spec {
    fn name(&self) -> &str {
        match self {
            Spec::Conv { name, .. }
            | Spec::Linear { name, .. }
            | Spec::BatchNorm { name, .. }
            | Spec::Plain { name, .. }
            | Spec::Concat { name, .. }
            | Spec::Block { name, .. } => name,
        }
    }
}

/// Builds a [`Model`]: add layers in order, then [`build`](Self::build).
#[derive(Debug, Clone)]
pub struct ModelBuilder {
    input: Vec<i64>,
    specs: Vec<Spec>,
    init: InitScheme,
    seed: Option<u64>,
}

impl ModelBuilder {
    /// A model taking examples of shape `input` (without the batch
    /// dimension), e.g. `[1, 28, 28]`.
    pub fn new(input: &[i64]) -> Self {
        ModelBuilder {
            input: input.to_vec(),
            specs: Vec::new(),
            init: InitScheme::PyTorchDefault,
            seed: None,
        }
    }

    /// How weights are drawn (default: PyTorch's defaults).
    pub fn init(mut self, scheme: InitScheme) -> Self {
        self.init = scheme;
        self
    }

    /// The seed of the initial weights and of the model's dropout generator:
    /// the same seed gives the same model. Without one, a random seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    fn plain(mut self, name: &str, op: Op) -> Self {
        self.specs.push(Spec::Plain {
            name: name.into(),
            op,
        });
        self
    }

    /// A convolution with `out` output channels; parameters under `path`.
    pub fn conv(mut self, name: &str, path: &str, out: i64, conv: Conv) -> Self {
        self.specs.push(Spec::Conv {
            name: name.into(),
            path: path.into(),
            out,
            conv,
        });
        self
    }

    /// A fully connected layer with `out` outputs (inputs inferred).
    pub fn linear(mut self, name: &str, path: &str, out: i64) -> Self {
        self.specs.push(Spec::Linear {
            name: name.into(),
            path: path.into(),
            out,
            bias: true,
        });
        self
    }

    /// Batch normalisation (momentum 0.1, eps 1e-5, as PyTorch).
    pub fn batch_norm(self, name: &str, path: &str) -> Self {
        self.batch_norm_eps(name, path, 1e-5)
    }

    /// Batch normalisation with `eps` added to the variance (GoogLeNet's
    /// is 1e-3).
    pub fn batch_norm_eps(mut self, name: &str, path: &str, eps: f64) -> Self {
        self.specs.push(Spec::BatchNorm {
            name: name.into(),
            path: path.into(),
            eps,
        });
        self
    }

    /// ReLU.
    pub fn relu(self, name: &str) -> Self {
        self.plain(name, Op::Relu)
    }
    /// Leaky ReLU with the given negative slope.
    pub fn leaky_relu(self, name: &str, slope: f64) -> Self {
        self.plain(name, Op::LeakyRelu(slope))
    }
    /// tanh.
    pub fn tanh(self, name: &str) -> Self {
        self.plain(name, Op::Tanh)
    }
    /// Logistic sigmoid.
    pub fn sigmoid(self, name: &str) -> Self {
        self.plain(name, Op::Sigmoid)
    }
    /// Max pooling, `kernel x kernel` windows every `stride` pixels.
    pub fn max_pool(self, name: &str, kernel: i64, stride: i64) -> Self {
        self.max_pool_with(name, kernel, stride, 0, false)
    }
    /// Max pooling with padding and ceil mode.
    pub fn max_pool_with(
        self,
        name: &str,
        kernel: i64,
        stride: i64,
        padding: i64,
        ceil_mode: bool,
    ) -> Self {
        self.plain(
            name,
            Op::MaxPool2d {
                kernel: [kernel; 2],
                stride: [stride; 2],
                padding: [padding; 2],
                ceil_mode,
            },
        )
    }
    /// Average pooling.
    pub fn avg_pool(self, name: &str, kernel: i64, stride: i64) -> Self {
        self.plain(
            name,
            Op::AvgPool2d {
                kernel: [kernel; 2],
                stride: [stride; 2],
                padding: [0; 2],
            },
        )
    }
    /// Adaptive average pooling to `size`.
    pub fn adaptive_avg_pool(self, name: &str, size: [i64; 2]) -> Self {
        self.plain(name, Op::AdaptiveAvgPool2d(size))
    }
    /// Local response normalisation.
    pub fn lrn(self, name: &str, size: i64, alpha: f64, beta: f64, k: f64) -> Self {
        self.plain(
            name,
            Op::LocalResponseNorm {
                size,
                alpha,
                beta,
                k,
            },
        )
    }
    /// Dropout with probability `p`.
    pub fn dropout(self, name: &str, p: f64) -> Self {
        self.plain(name, Op::Dropout(p))
    }
    /// Flatten to `[N, F]`.
    pub fn flatten(self, name: &str) -> Self {
        self.plain(name, Op::Flatten)
    }
    /// Upsampling by an integer `scale` on both axes.
    pub fn upsample(self, name: &str, scale: i64, mode: Upsampling) -> Self {
        self.plain(name, Op::Upsample { scale, mode })
    }

    /// The start of a branch for [`concat`](Self::concat): add its layers
    /// with the usual methods. Its input shape is that of the concat.
    pub fn branch() -> Self {
        ModelBuilder::new(&[])
    }

    /// Runs each branch (made with [`branch`](Self::branch)) on the same
    /// input and concatenates their outputs along the channel axis. Layer
    /// names must be unique within a branch; parameter paths across the model.
    pub fn concat(mut self, name: &str, branches: Vec<ModelBuilder>) -> Self {
        self.specs.push(Spec::Concat {
            name: name.into(),
            branches: branches.into_iter().map(|b| b.specs).collect(),
        });
        self
    }

    /// torchvision's `BasicBlock` under `path` (e.g. "layer2.0"): 3x3 conv
    /// (stride `stride`), BN, ReLU, 3x3 conv, BN, plus the shortcut (a 1x1
    /// conv and BN named "downsample" when the shape changes), then ReLU. With
    /// `residual = false`, the same layers without the shortcut (the plain twin).
    pub fn basic_block(
        mut self,
        name: &str,
        path: &str,
        out: i64,
        stride: i64,
        residual: bool,
    ) -> Self {
        let sub = |s: &str| format!("{path}.{s}");
        let main = vec![
            Spec::Conv {
                name: "conv1".into(),
                path: sub("conv1"),
                out,
                conv: Conv::new(3).stride(stride).padding(1).no_bias(),
            },
            Spec::BatchNorm {
                name: "bn1".into(),
                path: sub("bn1"),
                eps: 1e-5,
            },
            Spec::Plain {
                name: "relu".into(),
                op: Op::Relu,
            },
            Spec::Conv {
                name: "conv2".into(),
                path: sub("conv2"),
                out,
                conv: Conv::new(3).padding(1).no_bias(),
            },
            Spec::BatchNorm {
                name: "bn2".into(),
                path: sub("bn2"),
                eps: 1e-5,
            },
        ];
        // Whether a projection is needed is known only once the input
        // channel count is: decided at build time (None = decide there).
        let shortcut = residual.then(|| {
            vec![
                Spec::Conv {
                    name: "downsample.0".into(),
                    path: sub("downsample.0"),
                    out,
                    conv: Conv::new(1).stride(stride).no_bias(),
                },
                Spec::BatchNorm {
                    name: "downsample.1".into(),
                    path: sub("downsample.1"),
                    eps: 1e-5,
                },
            ]
        });
        self.specs.push(Spec::Block {
            name: name.into(),
            main,
            shortcut,
            residual,
        });
        self
    }

    /// The layers up to and including `last`, the rest dropped: the body
    /// to which a new head is added (Oquab et al.'s FCa and FCb after a
    /// net's fc7). An error names the layers there are.
    pub fn up_to(mut self, last: &str) -> Result<Self> {
        let Some(end) = self.specs.iter().position(|s| s.name() == last) else {
            return Err(Error::invalid(format!(
                "no layer named '{last}' to cut at; this builder has: {}",
                self.specs
                    .iter()
                    .map(Spec::name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        self.specs.truncate(end + 1);
        Ok(self)
    }

    /// Creates the parameters on `device` and checks the whole stack by
    /// running a zero example through it.
    pub fn build(self, device: Device) -> Result<Model> {
        if self.input.is_empty() || self.input.iter().any(|&d| d <= 0) {
            return Err(Error::invalid(format!(
                "model input shape must be positive sizes without the batch dimension, got {:?}",
                self.input
            )));
        }
        if self.specs.is_empty() {
            return Err(Error::invalid("a model needs at least one layer"));
        }
        check_unique(&self.specs)?;
        let seed = self.seed.unwrap_or_else(rand::random);
        let mut rng = crate::runtime::rng::seeded(seed);
        let vs = nn::VarStore::new(device);
        let mut layers = Vec::with_capacity(self.specs.len());
        let mut shapes: Vec<Vec<i64>> = Vec::with_capacity(self.specs.len());
        for spec in &self.specs {
            let input = shapes.last().unwrap_or(&self.input);
            let (layer, out) =
                tch::no_grad(|| make(spec, &vs, input, self.init, device, &mut rng))?;
            layers.push(layer);
            shapes.push(out);
        }
        // Two layers given one parameter path would share a file name in
        // every checkpoint (the VarStore renames the second silently).
        let mut paths = HashSet::new();
        for layer in &layers {
            for (name, _) in layer.named_tensors() {
                if !paths.insert(name.clone()) {
                    return Err(Error::invalid(format!(
                        "two layers store a tensor as '{name}': give each layer its own path"
                    )));
                }
            }
        }
        Ok(Model::from_parts(vs, layers, self.input, shapes, seed))
    }
}

fn var_path<'a>(vs: &'a nn::VarStore, path: &str) -> nn::Path<'a> {
    path.split('.').fold(vs.root(), |p, s| p.sub(s))
}

fn make(
    spec: &Spec,
    vs: &nn::VarStore,
    input: &[i64],
    init: InitScheme,
    device: Device,
    rng: &mut crate::runtime::rng::Rng,
) -> Result<(Layer, Vec<i64>)> {
    let layer = match spec {
        Spec::Conv {
            name,
            path,
            out,
            conv,
        } => {
            let in_c = match input {
                [c, _, _] => *c,
                _ => {
                    return Err(Error::shape(
                        format!("input of conv layer {name}"),
                        "[C, H, W]",
                        format!("{input:?}"),
                    ))
                }
            };
            positive(*out, name)?;
            positive(conv.kernel, name)?;
            positive(conv.stride, name)?;
            let params =
                weight_and_bias(vs, path, &[*out, in_c, conv.kernel, conv.kernel], conv.bias)?;
            Layer {
                name: name.clone(),
                path: path.clone(),
                op: Op::Conv2d {
                    stride: [conv.stride; 2],
                    padding: [conv.padding; 2],
                    dilation: [1, 1],
                    groups: 1,
                    padding_mode: conv.padding_mode,
                },
                params,
                buffers: vec![],
                init,
            }
        }
        Spec::Linear {
            name,
            path,
            out,
            bias,
        } => {
            let in_f = match input {
                [f] => *f,
                _ => {
                    return Err(Error::shape(
                        format!("input of linear layer {name}"),
                        "[F] (add a flatten layer before it)",
                        format!("{input:?}"),
                    ))
                }
            };
            positive(*out, name)?;
            let params = weight_and_bias(vs, path, &[*out, in_f], *bias)?;
            Layer {
                name: name.clone(),
                path: path.clone(),
                op: Op::Linear,
                params,
                buffers: vec![],
                init: InitScheme::PyTorchDefault,
            }
        }
        Spec::BatchNorm { name, path, eps } => {
            if !(eps.is_finite() && *eps > 0.0) {
                return Err(Error::invalid(format!(
                    "layer '{name}': batch norm needs a finite eps > 0, got {eps}"
                )));
            }
            let c = *input.first().unwrap_or(&0);
            positive(c, name)?;
            let p = var_path(vs, path);
            Layer {
                name: name.clone(),
                path: path.clone(),
                op: Op::BatchNorm {
                    momentum: 0.1,
                    eps: *eps,
                },
                params: vec![
                    (
                        "weight".into(),
                        p.f_var("weight", &[c], nn::Init::Const(1.))?,
                    ),
                    ("bias".into(), p.f_var("bias", &[c], nn::Init::Const(0.))?),
                ],
                buffers: vec![
                    (
                        "running_mean".into(),
                        p.zeros_no_train("running_mean", &[c]),
                    ),
                    ("running_var".into(), p.ones_no_train("running_var", &[c])),
                ],
                init,
            }
        }
        Spec::Plain {
            name,
            op: Op::Dropout(p),
        } if !(0.0..1.0).contains(p) => {
            return Err(Error::invalid(format!(
                "layer '{name}': dropout probability must be in [0, 1), got {p}"
            )))
        }
        Spec::Plain { name, op } => Layer {
            name: name.clone(),
            path: String::new(),
            op: op.clone(),
            params: vec![],
            buffers: vec![],
            init,
        },
        Spec::Concat { name, branches } => {
            if branches.is_empty() || branches.iter().any(|b| b.is_empty()) {
                return Err(Error::invalid(format!(
                    "concat '{name}' needs at least one branch, each with at least one layer"
                )));
            }
            let mut layers = Vec::with_capacity(branches.len());
            for branch in branches {
                check_unique(branch)?;
                let mut shape = input.to_vec();
                let mut ls = Vec::with_capacity(branch.len());
                for s in branch {
                    let (l, out) = make(s, vs, &shape, init, device, rng)?;
                    ls.push(l);
                    shape = out;
                }
                layers.push(ls);
            }
            Layer {
                name: name.clone(),
                path: String::new(),
                op: Op::Concat(layers),
                params: vec![],
                buffers: vec![],
                init,
            }
        }
        Spec::Block {
            name,
            main,
            shortcut,
            residual,
        } => {
            let mut shape = input.to_vec();
            let mut main_layers = Vec::new();
            for s in main {
                let (l, out) = make(s, vs, &shape, init, device, rng)?;
                main_layers.push(l);
                shape = out;
            }
            let shortcut = match (residual, shortcut) {
                (false, _) => Shortcut::None,
                (true, Some(proj)) if shape != input => {
                    let mut ls = Vec::new();
                    let mut s_shape = input.to_vec();
                    for s in proj {
                        let (l, out) = make(s, vs, &s_shape, init, device, rng)?;
                        ls.push(l);
                        s_shape = out;
                    }
                    Shortcut::Layers(ls)
                }
                (true, _) => Shortcut::Identity,
            };
            Layer {
                name: name.clone(),
                path: String::new(),
                op: Op::Block {
                    main: main_layers,
                    shortcut,
                    relu: true,
                },
                params: vec![],
                buffers: vec![],
                init,
            }
        }
    };
    super::init::initialise(&layer, rng)?;
    // Shape inference: one zero example, evaluation mode.
    let mut dims = vec![1];
    dims.extend_from_slice(input);
    let probe = Tensor::zeros(dims.as_slice(), (Kind::Float, device));
    let (y, _) = layer.forward(&probe, None).map_err(|e| {
        Error::invalid(format!(
            "layer '{}' ({}) cannot take input of shape {input:?}: {e}",
            layer.name,
            layer.op.kind_name()
        ))
    })?;
    let out = y.size()[1..].to_vec();
    if out.iter().any(|&d| d <= 0) {
        return Err(Error::invalid(format!(
            "layer '{}' ({}) turns input {input:?} into an empty output {out:?}",
            layer.name,
            layer.op.kind_name()
        )));
    }
    Ok((layer, out))
}

/// A `weight` of shape `dims` and, if asked, a `bias [dims[0]]` under
/// `path`; drawn later by the layer's initialisation.
fn weight_and_bias(
    vs: &nn::VarStore,
    path: &str,
    dims: &[i64],
    bias: bool,
) -> Result<Vec<(String, Tensor)>> {
    let p = var_path(vs, path);
    let mut params = vec![(
        "weight".to_string(),
        p.f_var("weight", dims, nn::Init::Const(0.))?,
    )];
    if bias {
        params.push((
            "bias".into(),
            p.f_var("bias", &dims[..1], nn::Init::Const(0.))?,
        ));
    }
    Ok(params)
}

/// Layer names must be unique where they are looked up: within one list.
fn check_unique(specs: &[Spec]) -> Result<()> {
    let mut seen = HashSet::new();
    for s in specs {
        if !seen.insert(s.name()) {
            return Err(Error::invalid(format!(
                "two layers are called '{}'",
                s.name()
            )));
        }
    }
    Ok(())
}

fn positive(v: i64, name: &str) -> Result<()> {
    if v > 0 {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "layer '{name}': sizes must be positive, got {v}"
        )))
    }
}
