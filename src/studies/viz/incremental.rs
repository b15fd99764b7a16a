//! Exact incremental inference for occlusion (after Nakandala, Kumar &
//! Papakonstantinou, SIGMOD 2019, "KRYPTON"). An occluder changes a small
//! square of the input; through each convolution or pooling layer the
//! changed region grows by the layer's reach and shrinks by its stride, and
//! through element-wise layers it stays put. So each occluded copy is kept
//! as the unoccluded activation plus one window of changed values, and a
//! layer recomputes only the window of its output that the changed input
//! can reach, reading the unchanged border from the unoccluded activation.
//! Where a layer needs whole maps (a dense layer, a global pool, a
//! concatenation, an upsampling, reflection padding), the copies are made
//! whole and the rest of the network runs as usual.
//!
//! Every window is a superset of the truly changed region (its size is the
//! largest any position can need, its corner clamped into the map), so the
//! result equals full recomputation up to floating-point summation order.

use crate::error::{Error, Result};
use crate::model::{Layer, Op, PaddingMode, Shortcut};
use std::collections::HashMap;
use std::rc::Rc;
use tch::{Kind, Tensor};

/// A batch of activations `[B, C, H, W]` that equal `base` (`[1, C, H, W]`,
/// the unoccluded image's) except inside one window each: rows
/// `origin[b].0 ..+ size[0]`, columns `origin[b].1 ..+ size[1]`, which hold
/// `patch[b]`.
pub(crate) struct Patched {
    base: Tensor,
    patch: Tensor,
    origin: Vec<(i64, i64)>,
    size: [i64; 2],
}

/// Where a batch stands between two layers: windows over a shared base, or
/// whole activations once a layer needed them.
pub(crate) enum State {
    Patched(Patched),
    Full(Tensor),
}

impl State {
    /// The same state, sharing its tensors.
    fn share(&self) -> State {
        match self {
            State::Full(t) => State::Full(t.shallow_clone()),
            State::Patched(p) => State::Patched(Patched {
                base: p.base.shallow_clone(),
                patch: p.patch.shallow_clone(),
                origin: p.origin.clone(),
                size: p.size,
            }),
        }
    }
}

impl Patched {
    /// The occluded inputs: `image` (`[1, C, H, W]`) with a window of
    /// `size` at each origin filled with `fill` (one value per channel).
    pub(crate) fn occluded(
        image: &Tensor,
        origin: Vec<(i64, i64)>,
        size: [i64; 2],
        fill: &[f64],
    ) -> Result<Self> {
        let c = image.size()[1];
        if fill.len() as i64 != c {
            return Err(Error::invalid(format!(
                "{} fill values for {c} channels",
                fill.len()
            )));
        }
        let values = Tensor::f_from_slice(fill)?
            .f_to_kind(image.kind())?
            .f_to_device(image.device())?
            .f_view([1, c, 1, 1])?;
        let patch = values.f_expand([origin.len() as i64, c, size[0], size[1]], false)?;
        Ok(Patched {
            base: image.shallow_clone(),
            patch: patch.f_contiguous()?,
            origin,
            size,
        })
    }

    /// Every activation in full, `[B, C, H, W]` (channels last in memory):
    /// the base copied per activation, its window pasted in.
    pub(crate) fn materialize(&self) -> Result<Tensor> {
        let s = self.base.size();
        let b = self.origin.len() as i64;
        let mut out = self
            .base
            .f_permute([0, 2, 3, 1])?
            .f_expand([b, s[2], s[3], s[1]], false)?
            .f_contiguous()?;
        self.paste(&mut out, &vec![(0, 0); self.origin.len()])?;
        Ok(out.f_permute([0, 3, 1, 2])?)
    }

    /// For each activation, the region of `source` (`[1, C, H', W']`: the
    /// base padded by `offset` on the top and left) whose corner is at
    /// `corner[b]` (in unpadded coordinates) and of `size`, with this
    /// batch's window pasted where it overlaps: `[B, C, size]`, channels
    /// last in memory. One gather for the batch's regions, then one slice
    /// copy per window (indexing each element of the regions for the
    /// windows too, as before, made the exact ResNet-18 sweep 5.1 s
    /// against 4.6 s; stacking a slice per region for the gather, 4.75 s).
    ///
    /// Channels last because the convolutions that read the crops run
    /// faster on it (measured: the exact ResNet-18 sweep 6.6 -> 5.3 s, the
    /// ZFNet-style net's 0.28 -> 0.18 s, VGG-16's 20.7 -> 18.5 s), and the
    /// gather produces that order directly.
    fn crops(
        &self,
        source: &Tensor,
        offset: [i64; 2],
        corner: &[(i64, i64)],
        size: [i64; 2],
    ) -> Result<Tensor> {
        let mut out = windows(source, offset, corner, size)?;
        self.paste(&mut out, corner)?;
        Ok(out.f_permute([0, 3, 1, 2])?)
    }

    /// Writes each activation's window into `out` (`[B, n, m, C]`, the
    /// regions whose corners are at `corner[b]`), where the two overlap.
    /// One slice copy per activation: on the sweep's small windows that is
    /// cheaper than indexing every element of the region.
    fn paste(&self, out: &mut Tensor, corner: &[(i64, i64)]) -> Result<()> {
        let s = out.size();
        let patch = self.patch.f_permute([0, 2, 3, 1])?;
        for (b, (&(cy, cx), &(oy, ox))) in corner.iter().zip(&self.origin).enumerate() {
            // The overlap, in map coordinates, on each axis.
            let span = |c: i64, n: i64, o: i64, k: i64| (c.max(o), (c + n).min(o + k));
            let (y0, y1) = span(cy, s[1], oy, self.size[0]);
            let (x0, x1) = span(cx, s[2], ox, self.size[1]);
            if y0 >= y1 || x0 >= x1 {
                continue;
            }
            let b = b as i64;
            let mut dst = out
                .f_select(0, b)?
                .f_narrow(0, y0 - cy, y1 - y0)?
                .f_narrow(1, x0 - cx, x1 - x0)?;
            let src = patch
                .f_select(0, b)?
                .f_narrow(0, y0 - oy, y1 - y0)?
                .f_narrow(1, x0 - ox, x1 - x0)?;
            dst.f_copy_(&src)?;
        }
        Ok(())
    }

    /// The same activations described by windows of `size` at `origin`,
    /// each of which must contain this batch's window where it differs
    /// from the base.
    fn rewindow(&self, origin: Vec<(i64, i64)>, size: [i64; 2]) -> Result<Patched> {
        let patch = self.crops(&self.base, [0, 0], &origin, size)?;
        Ok(Patched {
            base: self.base.shallow_clone(),
            patch,
            origin,
            size,
        })
    }
}

/// Index grids for a batch of windows: `[B, n, 1]` (`row`) or `[B, 1, n]`,
/// each window's indices `start ..+ n`.
fn grid(starts: &[i64], n: i64, row: bool, device: tch::Device) -> Result<Tensor> {
    let b = starts.len() as i64;
    let values: Vec<i64> = starts
        .iter()
        .flat_map(|&s| (0..n).map(move |i| s + i))
        .collect();
    let shape = if row { [b, n, 1] } else { [b, 1, n] };
    Ok(Tensor::f_from_slice(&values)?
        .f_view(shape)?
        .f_to_device(device)?)
}

/// The regions of `source` (`[1, C, H', W']`, padded by `offset` on the top
/// and left) whose corners are at `corner` (unpadded coordinates), all of
/// `size`: `[B, size, C]` (channels last), in one gather.
fn windows(
    source: &Tensor,
    offset: [i64; 2],
    corner: &[(i64, i64)],
    size: [i64; 2],
) -> Result<Tensor> {
    let device = source.device();
    let rows: Vec<i64> = corner.iter().map(|c| c.0 + offset[0]).collect();
    let cols: Vec<i64> = corner.iter().map(|c| c.1 + offset[1]).collect();
    let rows = grid(&rows, size[0], true, device)?;
    let cols = grid(&cols, size[1], false, device)?;
    Ok(source
        .f_squeeze_dim(0)?
        .f_permute([1, 2, 0])?
        .f_index(&[Some(rows), Some(cols)])?)
}

/// Base activations of the unoccluded image, per layer (by address: the
/// model is borrowed for the whole sweep), with the padded copies that
/// spatial layers read their borders from; and the approximation's cap.
#[derive(Default)]
pub(crate) struct Bases {
    outputs: HashMap<usize, Tensor>,
    padded: HashMap<usize, Tensor>,
    /// Each convolution with the batch norm after it folded in, by the
    /// convolution's address (shared, so that its own address, which keys
    /// its base output, stays put).
    folded: HashMap<usize, Rc<Layer>>,
    /// The largest window a spatial layer computes, as a fraction of its
    /// output's side; `None` for the exact sweep.
    cap: Option<f64>,
}

fn key(layer: &Layer) -> usize {
    layer as *const Layer as usize
}

impl Bases {
    /// For a sweep that caps each spatial layer's window at `cap` of its
    /// output's side (approximate), or computes every window it must
    /// (`None`: exact).
    pub(crate) fn new(cap: Option<f64>) -> Self {
        Bases {
            cap,
            ..Bases::default()
        }
    }

    fn output(&mut self, layer: &Layer, input: &Tensor) -> Result<Tensor> {
        if let Some(t) = self.outputs.get(&key(layer)) {
            return Ok(t.shallow_clone());
        }
        let y = layer.forward(input, None)?.0;
        self.outputs.insert(key(layer), y.shallow_clone());
        Ok(y)
    }

    fn padded(
        &mut self,
        layer: &Layer,
        input: &Tensor,
        pad: [i64; 4],
        value: f64,
    ) -> Result<Tensor> {
        if let Some(t) = self.padded.get(&key(layer)) {
            return Ok(t.shallow_clone());
        }
        let [top, bottom, left, right] = pad;
        let y = input.f_pad([left, right, top, bottom], "constant", value)?;
        self.padded.insert(key(layer), y.shallow_clone());
        Ok(y)
    }
}

/// Whether `bn` is a batch norm that can be folded into `conv` for
/// evaluation: a convolution with zero padding directly before it (a
/// reflection-padded convolution folds just as well, but the windows do
/// not take it).
fn foldable(conv: &Layer, bn: &Layer) -> bool {
    matches!(
        conv.op,
        Op::Conv2d {
            padding_mode: PaddingMode::Zeros,
            ..
        }
    ) && matches!(bn.op, Op::BatchNorm { .. })
}

/// Runs `layers` in order (evaluation mode) from `state`, handing each
/// layer's index and output to `seen`. A convolution directly followed by a
/// batch norm runs as one convolution with the norm folded in (1.2x on a
/// ResNet-18 forward, see `Layer::fold_batch_norm`), unless the
/// convolution's own output is wanted (`keep`): then `seen` hears of the
/// norm only.
pub(crate) fn run(
    layers: &[Layer],
    mut state: State,
    bases: &mut Bases,
    keep: Option<usize>,
    mut seen: impl FnMut(usize, &State) -> Result<()>,
) -> Result<State> {
    let mut i = 0;
    while let Some(layer) = layers.get(i) {
        let next = layers
            .get(i + 1)
            .filter(|bn| keep != Some(i) && foldable(layer, bn));
        if let Some(bn) = next {
            let folded = match bases.folded.get(&key(layer)) {
                Some(f) => Rc::clone(f),
                None => {
                    let f = Rc::new(layer.fold_batch_norm(bn)?);
                    bases.folded.insert(key(layer), Rc::clone(&f));
                    f
                }
            };
            state = step(&folded, state, bases).map_err(|e| e.in_layer(&bn.name))?;
            i += 1;
        } else {
            state = step(layer, state, bases).map_err(|e| e.in_layer(&layer.name))?;
        }
        seen(i, &state)?;
        i += 1;
    }
    Ok(state)
}

/// A convolution or pooling layer's geometry on one axis.
#[derive(Clone, Copy)]
struct Axis {
    /// Kernel extent with dilation: `dilation * (kernel - 1) + 1`.
    reach: i64,
    stride: i64,
    padding: i64,
}

impl Axis {
    /// The output rows that `n` changed input rows can reach, at most
    /// (whatever their position), capped at the map's `out` rows: outputs
    /// `ceil(a / s) ..= floor(b / s)` with `b - a = n + reach - 2`.
    fn window(&self, n: i64, out: i64) -> i64 {
        ((n + self.reach - 2) / self.stride + 1).min(out)
    }

    /// The first output row that changed input rows from `lo` can reach,
    /// moved down by `inset` (an approximate window's margin), clamped so
    /// that a window of `size` stays inside `out` rows.
    fn corner(&self, lo: i64, inset: i64, size: i64, out: i64) -> i64 {
        let first = lo + self.padding - self.reach + 1;
        // Ceiling division of a possibly negative numerator.
        let first = if first <= 0 {
            0
        } else {
            (first + self.stride - 1) / self.stride
        };
        (first + inset).min(out - size).max(0)
    }
}

/// What a spatial layer computes on a crop whose padding is already there.
enum Kernel<'l> {
    Conv {
        weight: &'l Tensor,
        bias: Option<&'l Tensor>,
        stride: [i64; 2],
        dilation: [i64; 2],
        groups: i64,
    },
    MaxPool {
        kernel: [i64; 2],
        stride: [i64; 2],
    },
    AvgPool {
        kernel: [i64; 2],
        stride: [i64; 2],
    },
}

impl Kernel<'_> {
    fn apply(&self, crops: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Kernel::Conv {
                weight,
                bias,
                stride,
                dilation,
                groups,
            } => crops.f_conv2d(weight, *bias, stride, [0, 0], dilation, *groups)?,
            Kernel::MaxPool { kernel, stride } => {
                crops.f_max_pool2d(kernel, stride, [0, 0], [1, 1], false)?
            }
            Kernel::AvgPool { kernel, stride } => {
                crops.f_avg_pool2d(kernel, stride, [0, 0], false, true, None)?
            }
        })
    }
}

/// The layer as a local operation: its kernel, geometry per axis and the
/// value its padding holds; `None` for layers that need whole maps.
fn spatial(layer: &Layer) -> Result<Option<(Kernel<'_>, [Axis; 2], f64)>> {
    let axes = |kernel: [i64; 2], stride: [i64; 2], padding: [i64; 2], dilation: [i64; 2]| {
        [0, 1].map(|a| Axis {
            reach: dilation[a] * (kernel[a] - 1) + 1,
            stride: stride[a],
            padding: padding[a],
        })
    };
    Ok(match &layer.op {
        Op::Conv2d {
            stride,
            padding,
            dilation,
            groups,
            padding_mode: PaddingMode::Zeros,
        } => {
            let weight = layer
                .tensor("weight")
                .ok_or_else(|| Error::invalid(format!("layer '{}' has no weight", layer.name)))?;
            let s = weight.size();
            let kernel = [s[2], s[3]];
            Some((
                Kernel::Conv {
                    weight,
                    bias: layer.tensor("bias"),
                    stride: *stride,
                    dilation: *dilation,
                    groups: *groups,
                },
                axes(kernel, *stride, *padding, *dilation),
                0.0,
            ))
        }
        Op::MaxPool2d {
            kernel,
            stride,
            padding,
            ..
        } => Some((
            Kernel::MaxPool {
                kernel: *kernel,
                stride: *stride,
            },
            axes(*kernel, *stride, *padding, [1, 1]),
            f64::NEG_INFINITY,
        )),
        Op::AvgPool2d {
            kernel,
            stride,
            padding,
        } => Some((
            Kernel::AvgPool {
                kernel: *kernel,
                stride: *stride,
            },
            axes(*kernel, *stride, *padding, [1, 1]),
            0.0,
        )),
        _ => None,
    })
}

/// Whether the layer acts on each position alone (in evaluation mode), so
/// that a window of changed values maps to the same window.
fn pointwise(op: &Op) -> bool {
    matches!(
        op,
        Op::Relu
            | Op::LeakyRelu(_)
            | Op::Tanh
            | Op::Sigmoid
            | Op::BatchNorm { .. }
            | Op::Dropout(_)
            | Op::LocalResponseNorm { .. }
    )
}

/// Runs `layer` (evaluation mode) on `state`.
fn step(layer: &Layer, state: State, bases: &mut Bases) -> Result<State> {
    if let Op::Block {
        main,
        shortcut,
        relu,
    } = &layer.op
    {
        return block(layer, (main, shortcut, *relu), state, bases);
    }
    let p = match state {
        State::Full(x) => return Ok(State::Full(layer.forward(&x, None)?.0)),
        State::Patched(p) => p,
    };
    let base_out = bases.output(layer, &p.base)?;
    if pointwise(&layer.op) {
        return Ok(State::Patched(Patched {
            base: base_out,
            patch: layer.forward(&p.patch, None)?.0,
            origin: p.origin,
            size: p.size,
        }));
    }
    if let Some((kernel, axes, pad_value)) = spatial(layer)? {
        return local(layer, &p, base_out, kernel, axes, pad_value, bases);
    }
    Ok(State::Full(layer.forward(&p.materialize()?, None)?.0))
}

/// A convolution or pooling layer on the windows: each output window is
/// computed from a crop of the padded base with the input window pasted in.
fn local(
    layer: &Layer,
    p: &Patched,
    base_out: Tensor,
    kernel: Kernel,
    axes: [Axis; 2],
    pad_value: f64,
    bases: &mut Bases,
) -> Result<State> {
    let (in_size, out_size) = (p.base.size(), base_out.size());
    let (h, w) = (in_size[2], in_size[3]);
    let (oh, ow) = (out_size[2], out_size[3]);
    let exact = [axes[0].window(p.size[0], oh), axes[1].window(p.size[1], ow)];
    // The approximation keeps the middle of each window: changes beyond it
    // are dropped.
    let size = match bases.cap {
        Some(cap) => [(0, oh), (1, ow)]
            .map(|(a, out)| exact[a].min(((cap * out as f64).ceil() as i64).max(1))),
        None => exact,
    };
    if 2 * size[0] * size[1] >= oh * ow {
        // A window of half the map or more saves less than its crops cost:
        // whole copies from here on. Measured with one gather and a slice
        // copy per window (alternating processes, 2 threads): the exact
        // ResNet-18 sweep 4.6 s at a third, 4.4-4.5 s at a half, at two
        // thirds, or with windows kept until they cover the whole map; the
        // ZFNet-style net's 0.177, 0.150, 0.167 and 0.152 s.
        // (With the element-wise paste before, a half was no faster than
        // a third.)
        return Ok(State::Full(layer.forward(&p.materialize()?, None)?.0));
    }
    let inset = [0, 1].map(|a| (exact[a] - size[a]) / 2);
    // Rows of input each output window reads.
    let span = [0, 1].map(|a| (size[a] - 1) * axes[a].stride + axes[a].reach);
    // A ceil-mode pool's last window may read past the bottom padding.
    let extra = [(0, h, oh), (1, w, ow)].map(|(a, n, out)| {
        ((out - 1) * axes[a].stride + axes[a].reach - (n + 2 * axes[a].padding)).max(0)
    });
    let padded = bases.padded(
        layer,
        &p.base,
        [
            axes[0].padding,
            axes[0].padding + extra[0],
            axes[1].padding,
            axes[1].padding + extra[1],
        ],
        pad_value,
    )?;
    let origin: Vec<(i64, i64)> = p
        .origin
        .iter()
        .map(|&(y, x)| {
            (
                axes[0].corner(y, inset[0], size[0], oh),
                axes[1].corner(x, inset[1], size[1], ow),
            )
        })
        .collect();
    let corner: Vec<(i64, i64)> = origin
        .iter()
        .map(|&(y, x)| {
            (
                y * axes[0].stride - axes[0].padding,
                x * axes[1].stride - axes[1].padding,
            )
        })
        .collect();
    let crops = p.crops(&padded, [axes[0].padding, axes[1].padding], &corner, span)?;
    Ok(State::Patched(Patched {
        base: base_out,
        patch: kernel.apply(&crops)?,
        origin,
        size,
    }))
}

/// A residual block (`layer`, with its main branch, shortcut and final
/// ReLU): both branches on the state (on whole activations, or on the
/// windows), then their sum, on a window that holds both branches' changes
/// where both are windows.
fn block(
    layer: &Layer,
    (main, shortcut, relu): (&[Layer], &Shortcut, bool),
    input: State,
    bases: &mut Bases,
) -> Result<State> {
    let base = match &input {
        State::Patched(p) => Some(p.base.shallow_clone()),
        State::Full(_) => None,
    };
    let m = run(main, input.share(), bases, None, |_, _| Ok(()))?;
    let skip = match shortcut {
        Shortcut::None => None,
        Shortcut::Identity => Some(input),
        Shortcut::Layers(layers) => Some(run(layers, input, bases, None, |_, _| Ok(()))?),
    };
    let finish = |t: Tensor| -> Result<Tensor> { Ok(if relu { t.f_relu()? } else { t }) };
    let (m, s, base_out) = match (m, skip, base) {
        (State::Patched(m), None, Some(base)) => {
            return Ok(State::Patched(Patched {
                base: bases.output(layer, &base)?,
                patch: finish(m.patch)?,
                origin: m.origin,
                size: m.size,
            }))
        }
        (State::Patched(m), Some(State::Patched(s)), Some(base)) => {
            (m, s, bases.output(layer, &base)?)
        }
        (m, s, _) => {
            let m = whole(m)?;
            let sum = match s {
                None => m,
                Some(s) => {
                    let s = whole(s)?;
                    if m.size() != s.size() {
                        return Err(Error::shape(
                            format!("block {}: shortcut output", layer.name),
                            format!("the main branch's shape {:?}", m.size()),
                            format!("{:?}", s.size()),
                        ));
                    }
                    m.f_add(&s)?
                }
            };
            return Ok(State::Full(finish(sum)?));
        }
    };
    // The smallest window size that holds both windows at every position,
    // its corner clamped into the map.
    let out = base_out.size();
    let limit = [out[2], out[3]];
    let spans: Vec<[(i64, i64); 2]> = m
        .origin
        .iter()
        .zip(&s.origin)
        .map(|(&(my, mx), &(sy, sx))| {
            [
                (my.min(sy), (my + m.size[0]).max(sy + s.size[0])),
                (mx.min(sx), (mx + m.size[1]).max(sx + s.size[1])),
            ]
        })
        .collect();
    let size = [0, 1].map(|a| {
        spans
            .iter()
            .map(|sp| sp[a].1 - sp[a].0)
            .max()
            .unwrap_or(1)
            .min(limit[a])
    });
    let origin: Vec<(i64, i64)> = spans
        .iter()
        .map(|sp| {
            (
                sp[0].0.min(limit[0] - size[0]),
                sp[1].0.min(limit[1] - size[1]),
            )
        })
        .collect();
    let (m, s) = (
        m.rewindow(origin.clone(), size)?,
        s.rewindow(origin.clone(), size)?,
    );
    Ok(State::Patched(Patched {
        base: base_out,
        patch: finish(m.patch.f_add(&s.patch)?)?,
        origin,
        size,
    }))
}

/// The whole activations of a state, `[B, ...]`.
pub(crate) fn whole(state: State) -> Result<Tensor> {
    match state {
        State::Full(t) => Ok(t),
        State::Patched(p) => p.materialize(),
    }
}

/// Whether incremental inference applies at all: evaluation mode, and a
/// first layer that is local (otherwise nothing is saved).
pub(crate) fn worthwhile(layers: &[Layer]) -> bool {
    layers
        .first()
        .is_some_and(|l| matches!(spatial(l), Ok(Some(_))) || pointwise(&l.op))
}

/// Sums of each map over each activation, `[B, C]`, without making the
/// activations whole: the base's sums, less the base inside each window,
/// plus the window's values.
pub(crate) fn map_sums(state: &State) -> Result<Tensor> {
    match state {
        State::Full(t) => Ok(t
            .f_flatten(2, -1)?
            .f_sum_dim_intlist(2, false, Kind::Float)?),
        State::Patched(p) => {
            let base = p
                .base
                .f_sum_dim_intlist([2i64, 3].as_slice(), false, Kind::Float)?;
            let under = windows(&p.base, [0, 0], &p.origin, p.size)?.f_sum_dim_intlist(
                [1i64, 2].as_slice(),
                false,
                Kind::Float,
            )?;
            let inside = p
                .patch
                .f_sum_dim_intlist([2i64, 3].as_slice(), false, Kind::Float)?;
            Ok(base.f_sub(&under)?.f_add(&inside)?)
        }
    }
}
