//! What each layer of a [`Model`] costs and sees: output shape,
//! parameters, multiply-adds, activation memory and receptive field, for
//! one example, worked out from the layers' settings and shapes alone (no
//! forward pass, so a summary of VGG-16 takes microseconds).

use super::layer::{Layer, Op, Shortcut};
use super::network::Model;
use crate::check;
use crate::error::{Error, Result};
use std::fmt;

/// A sliding window: a convolution's or pool's kernel, stride, padding
/// and dilation, per axis (rows, columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Taps per axis.
    pub kernel: [i64; 2],
    /// Step between windows.
    pub stride: [i64; 2],
    /// Padding on each side.
    pub padding: [i64; 2],
    /// Spacing of the taps.
    pub dilation: [i64; 2],
}

impl Window {
    /// The output size on an input of `input` pixels per axis (floor
    /// division, or ceil as PyTorch's `ceil_mode` pools, where the last
    /// window must start inside the input or its left padding).
    pub fn output(&self, input: [i64; 2], ceil_mode: bool) -> [i64; 2] {
        let mut out = [0; 2];
        for a in 0..2 {
            let span = input[a] + 2 * self.padding[a] - self.dilation[a] * (self.kernel[a] - 1) - 1;
            let s = self.stride[a];
            out[a] = if ceil_mode {
                let mut o = (span + s - 1).div_euclid(s) + 1;
                if (o - 1) * s >= input[a] + self.padding[a] {
                    o -= 1;
                }
                o
            } else {
                span.div_euclid(s) + 1
            };
        }
        out
    }
}

impl Layer {
    /// The window of a convolution or a (non-adaptive) pool; `None` for
    /// other layers.
    pub fn window(&self) -> Option<Window> {
        match &self.op {
            Op::Conv2d {
                stride,
                padding,
                dilation,
                ..
            } => {
                let w = self.tensor("weight")?.size();
                Some(Window {
                    kernel: [*w.get(2)?, *w.get(3)?],
                    stride: *stride,
                    padding: *padding,
                    dilation: *dilation,
                })
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
            } => Some(Window {
                kernel: *kernel,
                stride: *stride,
                padding: *padding,
                dilation: [1, 1],
            }),
            _ => None,
        }
    }
}

/// The region of the input a unit sees, as the usual recurrence composes
/// it through windows (size grows by `dilation * (kernel - 1) * jump`, the
/// jump multiplies by the stride, padding moves the start): nominal, as if
/// the padding were image, so it may exceed the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Height and width, input pixels.
    pub size: [i64; 2],
    /// Input pixels between neighbouring units.
    pub jump: [i64; 2],
    /// Top-left input pixel of unit (0, 0) (negative into the padding).
    pub start: [i64; 2],
}

impl Field {
    /// A pixel of the input itself.
    pub fn pixel() -> Self {
        Field {
            size: [1, 1],
            jump: [1, 1],
            start: [0, 0],
        }
    }

    /// The field of a unit of a layer with window `w` on these units.
    pub fn through(&self, w: &Window) -> Self {
        let mut f = *self;
        for a in 0..2 {
            f.start[a] -= w.padding[a] * self.jump[a];
            f.size[a] += (w.kernel[a] - 1) * w.dilation[a] * self.jump[a];
            f.jump[a] *= w.stride[a];
        }
        f
    }

    /// The smallest field holding both (branches joined by a sum or a
    /// concatenation); `None` when their units are not on one grid.
    fn union(&self, other: &Field) -> Option<Field> {
        if self.jump != other.jump {
            return None;
        }
        let mut f = *self;
        for a in 0..2 {
            let end = (self.start[a] + self.size[a]).max(other.start[a] + other.size[a]);
            f.start[a] = self.start[a].min(other.start[a]);
            f.size[a] = end - f.start[a];
        }
        Some(f)
    }
}

/// One row of a [`Summary`]: a top-level layer, blocks and concatenations
/// counted with everything inside them.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSummary {
    /// The layer's name.
    pub name: String,
    /// Its kind ("conv", "block", ...).
    pub kind: String,
    /// Its parameter path (torchvision's state-dict prefix).
    pub path: String,
    /// Output shape of one example, e.g. `[64, 56, 56]`.
    pub output: Vec<i64>,
    /// Parameter values (trainable or frozen).
    pub parameters: i64,
    /// Multiply-adds for one example: `weight values x output positions`
    /// for convolutions, `weight values` for linear layers; other layers
    /// count none (bias and batch-norm additions are left out, as they are
    /// one per output, not one per weight).
    pub mult_adds: i64,
    /// Values the layer writes for one example (its output and, inside a
    /// block or concatenation, every inner layer's output), in bytes at the
    /// parameters' precision: what a training step keeps for backward.
    pub activation_bytes: i64,
    /// The receptive field of one output unit, for models on `[C, H, W]`
    /// inputs; after `Flatten` it is the union over the whole map; `None`
    /// for vector inputs and after upsampling (no single window).
    pub field: Option<Field>,
}

/// The table [`Model::summary`] returns: one [`LayerSummary`] per layer and
/// the totals; prints as text and shows as a table in a notebook.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// The input shape of one example.
    pub input: Vec<i64>,
    /// One row per top-level layer, in order.
    pub layers: Vec<LayerSummary>,
    /// Trainable values.
    pub trainable: i64,
}

impl Summary {
    /// Parameter values of every layer.
    pub fn parameters(&self) -> i64 {
        self.layers.iter().map(|l| l.parameters).sum()
    }
    /// Multiply-adds of one forward pass of one example.
    pub fn mult_adds(&self) -> i64 {
        self.layers.iter().map(|l| l.mult_adds).sum()
    }
    /// Activation bytes of one example's forward pass.
    pub fn activation_bytes(&self) -> i64 {
        self.layers.iter().map(|l| l.activation_bytes).sum()
    }
    /// The last layer with a receptive field (the output's, for a
    /// convolutional net).
    pub fn output_field(&self) -> Option<Field> {
        self.layers.iter().rev().find_map(|l| l.field)
    }
}

impl Model {
    /// Per layer: output shape, parameters, multiply-adds, activation
    /// memory and receptive field, with the totals (see [`Summary`]), for
    /// one example of the input shape the model was built for.
    pub fn summary(&self) -> Summary {
        self.summarise(self.input_shape(), true)
            .unwrap_or_else(|_| {
                self.summarise(self.input_shape(), false)
                    .unwrap_or_default()
            })
    }

    /// [`summary`](Self::summary) for one example of another input shape
    /// (`[C, H, W]` without the batch dimension, C as built): a
    /// convolutional net with global pooling at another image size, for
    /// example. An error names the first layer that cannot take it.
    pub fn summary_for(&self, input: &[i64]) -> Result<Summary> {
        let built = self.input_shape();
        if input.len() != built.len() || input.iter().any(|&d| d < 1) {
            return Err(Error::shape(
                "summary input",
                format!(
                    "{} positive sizes without the batch dimension, like the model's {}",
                    built.len(),
                    check::shape_str(built)
                ),
                check::shape_str(input),
            ));
        }
        if input.first() != built.first() {
            return Err(Error::shape(
                "summary input",
                format!("{} channels, as the model was built for", built[0]),
                check::shape_str(input),
            ));
        }
        self.summarise(input, input == built)
    }

    /// The summary by arithmetic; with `stored`, the output shapes found
    /// at build time are used for the top-level rows (they are the truth
    /// for the built input).
    fn summarise(&self, input_shape: &[i64], stored: bool) -> Result<Summary> {
        let bytes = self
            .var_store()
            .trainable_variables()
            .first()
            .map_or(4, |t| t.kind().elt_size_in_bytes() as i64);
        let mut field = (input_shape.len() == 3).then(Field::pixel);
        let mut input = input_shape.to_vec();
        let mut layers = Vec::with_capacity(self.layers().len());
        for (i, l) in self.layers().iter().enumerate() {
            let cost = cost(l, &input, field).map_err(|e| {
                Error::invalid(format!(
                    "layer '{}' ({}) cannot take {}: {e}",
                    l.name,
                    l.op.kind_name(),
                    check::shape_str(&input)
                ))
            })?;
            let output = match self.layer_shape(i) {
                Some(s) if stored => s.to_vec(),
                _ => cost.output,
            };
            field = cost.field;
            layers.push(LayerSummary {
                name: l.name.clone(),
                kind: l.op.kind_name().to_string(),
                path: l.path.clone(),
                parameters: l.named_params().iter().map(|(_, t)| t.numel() as i64).sum(),
                mult_adds: cost.mult_adds,
                activation_bytes: cost.values * bytes,
                field,
                output: output.clone(),
            });
            input = output;
        }
        Ok(Summary {
            input: input_shape.to_vec(),
            layers,
            trainable: self.num_parameters(),
        })
    }
}

/// What running one layer on one example of shape `input` produces.
struct Cost {
    output: Vec<i64>,
    mult_adds: i64,
    /// Values written (outputs, inner ones included).
    values: i64,
    field: Option<Field>,
}

fn numel(shape: &[i64]) -> i64 {
    shape.iter().product()
}

fn spatial(input: &[i64]) -> Result<[i64; 2]> {
    match input {
        [_, h, w] => Ok([*h, *w]),
        _ => Err(Error::invalid("a windowed layer needs [C, H, W]")),
    }
}

/// Output shape, multiply-adds, values written and receptive field of
/// `layer` on one example of shape `input`, whose units see `field`; an
/// error when the layer cannot take that shape.
fn cost(layer: &Layer, input: &[i64], field: Option<Field>) -> Result<Cost> {
    let plain = |output: Vec<i64>, mult_adds: i64, field: Option<Field>| {
        Ok(Cost {
            values: numel(&output),
            output,
            mult_adds,
            field,
        })
    };
    let weight = layer.tensor("weight").map(|t| t.size());
    match &layer.op {
        Op::Conv2d { .. } | Op::MaxPool2d { .. } | Op::AvgPool2d { .. } => {
            let hw = spatial(input)?;
            let w = layer
                .window()
                .ok_or_else(|| Error::invalid("a convolution without a weight"))?;
            let ceil = matches!(
                layer.op,
                Op::MaxPool2d {
                    ceil_mode: true,
                    ..
                }
            );
            let [ho, wo] = w.output(hw, ceil);
            if ho < 1 || wo < 1 {
                return Err(Error::invalid(format!(
                    "its {:?} window (padding {:?}, dilation {:?}) is larger than the input",
                    w.kernel, w.padding, w.dilation
                )));
            }
            let channels = match (&weight, &layer.op) {
                (Some(k), Op::Conv2d { groups, .. }) => {
                    if k[1] * groups != input[0] {
                        return Err(Error::invalid(format!(
                            "it takes {} channels, got {}",
                            k[1] * groups,
                            input[0]
                        )));
                    }
                    k[0]
                }
                _ => input[0],
            };
            let weights = weight.as_deref().map_or(0, numel);
            plain(
                vec![channels, ho, wo],
                weights * ho * wo,
                field.map(|f| f.through(&w)),
            )
        }
        Op::AdaptiveAvgPool2d(size) => {
            let hw = spatial(input)?;
            // PyTorch's window i spans [floor(i H / s), ceil((i + 1) H / s)):
            // the widest of them, stepped by H / s rounded down (at least 1).
            let mut w = Window {
                kernel: [1, 1],
                stride: [1, 1],
                padding: [0, 0],
                dilation: [1, 1],
            };
            for a in 0..2 {
                let (n, s) = (hw[a], size[a].max(1));
                w.kernel[a] = (0..s)
                    .map(|i| ((i + 1) * n + s - 1) / s - i * n / s)
                    .max()
                    .unwrap_or(1);
                w.stride[a] = (n / s).max(1);
            }
            plain(
                vec![input[0], size[0], size[1]],
                0,
                field.map(|f| f.through(&w)),
            )
        }
        Op::Linear => {
            let k = weight.ok_or_else(|| Error::invalid("a linear layer without a weight"))?;
            if input != [k[1]] {
                return Err(Error::invalid(format!(
                    "it takes [{}] features{}",
                    k[1],
                    if input.len() > 1 {
                        " (flatten first)"
                    } else {
                        ""
                    }
                )));
            }
            plain(vec![k[0]], numel(&k), field)
        }
        Op::Flatten => {
            // Every position of the last map feeds every flattened value.
            let f = match (field, spatial(input)) {
                (Some(f), Ok([h, w])) => Some(f.through(&Window {
                    kernel: [h, w],
                    stride: [1, 1],
                    padding: [0, 0],
                    dilation: [1, 1],
                })),
                (f, _) => f,
            };
            plain(vec![numel(input)], 0, f)
        }
        Op::Upsample { scale, .. } => {
            spatial(input)?;
            let mut out = input.to_vec();
            for d in out.iter_mut().skip(1) {
                *d *= scale;
            }
            plain(out, 0, None)
        }
        Op::Concat(branches) => {
            let mut total = Cost {
                output: input.to_vec(),
                mult_adds: 0,
                values: 0,
                field: None,
            };
            let mut channels = 0;
            let mut joined: Option<Option<Field>> = None;
            for branch in branches {
                let c = chain(branch, input, field)?;
                if joined.is_some() && c.output[1..] != total.output[1..] {
                    return Err(Error::invalid(format!(
                        "its branches end at different sizes, {} and {}",
                        check::shape_str(&total.output),
                        check::shape_str(&c.output)
                    )));
                }
                channels += c.output.first().copied().unwrap_or(0);
                total.output = c.output.clone();
                total.mult_adds += c.mult_adds;
                total.values += c.values;
                joined = Some(match joined {
                    None => c.field,
                    Some(j) => j.zip(c.field).and_then(|(a, b)| a.union(&b)),
                });
            }
            if let Some(first) = total.output.first_mut() {
                *first = channels;
            }
            total.values += numel(&total.output);
            total.field = joined.flatten();
            Ok(total)
        }
        Op::Block { main, shortcut, .. } => {
            let mut c = chain(main, input, field)?;
            let side = match shortcut {
                Shortcut::Layers(s) => Some(chain(s, input, field)?),
                Shortcut::Identity => Some(Cost {
                    output: input.to_vec(),
                    mult_adds: 0,
                    values: 0,
                    field,
                }),
                Shortcut::None => None,
            };
            if let Some(side) = side {
                if side.output != c.output {
                    return Err(Error::invalid(format!(
                        "its shortcut gives {}, its main branch {}",
                        check::shape_str(&side.output),
                        check::shape_str(&c.output)
                    )));
                }
                c.mult_adds += side.mult_adds;
                c.values += side.values;
                c.field = c.field.zip(side.field).and_then(|(a, b)| a.union(&b));
            }
            // The sum (and ReLU) after the branches.
            c.values += numel(&c.output);
            Ok(c)
        }
        Op::BatchNorm { .. } | Op::LocalResponseNorm { .. } => {
            if let Some(k) = &weight {
                if input.first() != k.first() {
                    return Err(Error::invalid(format!(
                        "it normalises {} channels, got {}",
                        k[0],
                        input.first().copied().unwrap_or(0)
                    )));
                }
            }
            plain(input.to_vec(), 0, field)
        }
        Op::Relu | Op::LeakyRelu(_) | Op::Tanh | Op::Sigmoid | Op::Dropout(_) => {
            plain(input.to_vec(), 0, field)
        }
    }
}

/// [`cost`] through a list of layers, one after another.
fn chain(layers: &[Layer], input: &[i64], field: Option<Field>) -> Result<Cost> {
    let mut total = Cost {
        output: input.to_vec(),
        mult_adds: 0,
        values: 0,
        field,
    };
    for l in layers {
        let c = cost(l, &total.output, total.field)
            .map_err(|e| Error::invalid(format!("inner layer '{}': {e}", l.name)))?;
        total.output = c.output;
        total.mult_adds += c.mult_adds;
        total.values += c.values;
        total.field = c.field;
    }
    Ok(total)
}

/// `1234567` as `1.235 M`: three decimals and an SI prefix.
fn si(v: i64, unit: &str) -> String {
    let x = v as f64;
    let (scaled, prefix) = match x.abs() {
        a if a >= 1e9 => (x / 1e9, "G"),
        a if a >= 1e6 => (x / 1e6, "M"),
        a if a >= 1e3 => (x / 1e3, "k"),
        _ => return format!("{v} {unit}").trim_end().to_string(),
    };
    format!("{scaled:.3} {prefix}{unit}").trim_end().to_string()
}

fn field_str(f: &Option<Field>) -> String {
    f.map_or_else(String::new, |f| {
        let pair = |v: [i64; 2]| {
            if v[0] == v[1] {
                v[0].to_string()
            } else {
                format!("{}x{}", v[0], v[1])
            }
        };
        format!(
            "{} / {} / {}",
            pair(f.size),
            pair(f.jump),
            if f.start[0] == f.start[1] {
                f.start[0].to_string()
            } else {
                format!("({}, {})", f.start[0], f.start[1])
            }
        )
    })
}

const HEADER: [&str; 8] = [
    "layer",
    "kind",
    "params at",
    "output",
    "parameters",
    "mult-adds",
    "activations",
    "field size / jump / start",
];

impl Summary {
    fn cells(&self) -> Vec<[String; 8]> {
        let mut rows: Vec<[String; 8]> = self
            .layers
            .iter()
            .map(|l| {
                [
                    l.name.clone(),
                    l.kind.clone(),
                    l.path.clone(),
                    check::shape_str(&l.output),
                    l.parameters.to_string(),
                    si(l.mult_adds, ""),
                    si(l.activation_bytes, "B"),
                    field_str(&l.field),
                ]
            })
            .collect();
        rows.push([
            "total".into(),
            String::new(),
            format!("input {}", check::shape_str(&self.input)),
            format!("{} trainable", self.trainable),
            self.parameters().to_string(),
            si(self.mult_adds(), ""),
            si(self.activation_bytes(), "B"),
            field_str(&self.output_field()),
        ]);
        rows
    }

    /// The summary as a table: one row per layer, then the totals.
    pub fn table(&self) -> Result<crate::display::Table> {
        let mut t = crate::display::Table::new(&HEADER).title("model summary (one example)");
        for row in self.cells() {
            t = t.row(&row)?;
        }
        Ok(t)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = self.cells();
        let widths: Vec<usize> = (0..HEADER.len())
            .map(|i| {
                rows.iter()
                    .map(|r| r[i].chars().count())
                    .chain([HEADER[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |f: &mut fmt::Formatter<'_>, cells: &[&str]| -> fmt::Result {
            let text: Vec<String> = cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, w))| {
                    // Numbers right-aligned, words left-aligned.
                    if (4..7).contains(&i) {
                        format!("{c:>w$}")
                    } else {
                        format!("{c:<w$}")
                    }
                })
                .collect();
            writeln!(f, "{}", text.join("  ").trim_end())
        };
        line(f, &HEADER)?;
        for r in &rows {
            let cells: Vec<&str> = r.iter().map(String::as_str).collect();
            line(f, &cells)?;
        }
        Ok(())
    }
}

impl crate::display::Show for Summary {
    fn mime_bundle(&self) -> Result<crate::display::MimeBundle> {
        crate::display::Report::new(self.table()?, self.to_string()).mime_bundle()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PyTorch's pool output sizes, ceil mode included (GoogLeNet's pools).
    #[test]
    fn window_output_sizes_follow_pytorch() {
        let pool = |k: i64, s: i64, p: i64| Window {
            kernel: [k; 2],
            stride: [s; 2],
            padding: [p; 2],
            dilation: [1; 2],
        };
        assert_eq!(pool(3, 2, 0).output([112, 112], true), [56, 56]);
        assert_eq!(pool(3, 2, 0).output([112, 112], false), [55, 55]);
        assert_eq!(pool(2, 2, 0).output([7, 7], true), [4, 4]);
        // The last window would start in the right padding: dropped.
        assert_eq!(pool(2, 2, 1).output([5, 5], true), [3, 3]);
        assert_eq!(pool(3, 1, 1).output([28, 28], true), [28, 28]);
    }

    #[test]
    fn fields_compose_and_join() {
        let conv3 = Window {
            kernel: [3; 2],
            stride: [1; 2],
            padding: [1; 2],
            dilation: [1; 2],
        };
        let pool = Window {
            kernel: [2; 2],
            stride: [2; 2],
            padding: [0; 2],
            dilation: [1; 2],
        };
        // conv3, conv3, pool, conv3: 5, then 6 with jump 2, then 10.
        let f = Field::pixel().through(&conv3).through(&conv3);
        assert_eq!((f.size, f.start), ([5, 5], [-2, -2]));
        let f = f.through(&pool).through(&conv3);
        assert_eq!((f.size, f.jump, f.start), ([10, 10], [2, 2], [-4, -4]));
        let g = Field::pixel().through(&pool);
        assert_eq!(f.union(&g).unwrap().size, [10, 10]);
        assert!(Field::pixel().union(&g).is_none());
    }

    /// The arithmetic shapes agree with the shapes a forward pass found
    /// at build time, for every layer of every zoo net (blocks and
    /// inception modules included).
    #[test]
    fn arithmetic_shapes_match_the_forward_pass() {
        use crate::zoo;
        for builder in [
            zoo::alexnet(10),
            zoo::googlenet(10),
            zoo::resnet18(10),
            zoo::lenet5(10),
            zoo::alexnet_small(10),
            zoo::vgg_small(10),
            zoo::googlenet_small(10),
            zoo::resnet_small(10, true),
            zoo::zfnet(&zoo::ZfNetConfig::default()),
        ] {
            let net = builder.seed(0).build(tch::Device::Cpu).unwrap();
            let mut input = net.input_shape().to_vec();
            for (i, l) in net.layers().iter().enumerate() {
                let out = cost(l, &input, None).unwrap().output;
                assert_eq!(Some(&out[..]), net.layer_shape(i), "layer {}", l.name);
                input = out;
            }
        }
    }

    #[test]
    fn si_prefixes() {
        assert_eq!(si(999, ""), "999");
        assert_eq!(si(61_706, ""), "61.706 k");
        assert_eq!(si(15_470_264_320, ""), "15.470 G");
        assert_eq!(si(2_048, "B"), "2.048 kB");
    }
}
