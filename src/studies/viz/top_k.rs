//! The strongest activations of each feature map over a whole dataset, with
//! the input patch each one sees (Zeiler & Fergus, Fig. 2: the top 9 per
//! map, their projections beside the image patches).
//!
//! The dataset is streamed in batches; per feature map only the strongest
//! position of each image competes, so the `k` winners are `k` different
//! images, as in the paper.

use super::deconvnet::{Deconvnet, Target};
use crate::check;
use crate::display::{shows_at_cell_end, ImageGrid, MimeBundle, Report, Scaling, Show, Table};
use crate::error::{Error, Result};
use crate::model::{Field, Model, Op, Window};
use crate::plot::{BarChart, Panels};
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
    window: Window,
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
            let window = match &l.op {
                Op::Conv2d { .. } | Op::MaxPool2d { .. } | Op::AvgPool2d { .. } => {
                    l.window().ok_or_else(|| {
                        Error::invalid(format!("conv layer '{}' has no weight", l.name))
                    })?
                }
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
                window,
                input: [input[1], input[2]],
            });
            let f = Field {
                size: rf.size,
                jump: rf.jump,
                start: rf.start,
            }
            .through(&window);
            (rf.size, rf.jump, rf.start) = (f.size, f.jump, f.start);
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
            let w = &step.window;
            for a in 0..2 {
                let reach = (w.kernel[a] - 1) * w.dilation[a];
                lo[a] = (lo[a] * w.stride[a] - w.padding[a]).clamp(0, step.input[a] - 1);
                hi[a] = (hi[a] * w.stride[a] - w.padding[a] + reach).clamp(0, step.input[a] - 1);
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
    if n == 0 {
        return Err(Error::invalid("top_k needs at least one image, got none"));
    }
    let _guard = tch::no_grad_guard();
    let mut maps: Vec<Vec<TopActivation>> = Vec::new();
    let mut first = 0;
    while first < n {
        let count = (batch_size as i64).min(n - first);
        // In range: 0 <= first < first + count <= n, and check_input fixed the rank.
        let batch = images.narrow(0, first, count).to_device(model.device());
        let act = model.forward_to(&batch, layer)?;
        let s = act.size();
        // A receptive field exists only up to conv, pool and element-wise
        // layers, but a net of element-wise layers alone on flat inputs
        // passes that test with [N, F] activations.
        if s.len() != 4 {
            return Err(Error::shape(
                format!("the activations of layer '{layer}'"),
                "feature maps [N, C, H, W]",
                check::shape_str(&s),
            ));
        }
        // Below, shapes are the activation's own: the reshapes cannot fail.
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

impl TopK {
    /// Height and width of the crops [`patches`](Self::patches) and
    /// [`projections`](Self::projections) return: the receptive field,
    /// at most the image.
    pub fn crop_size(&self, images: &Tensor) -> Result<[i64; 2]> {
        let (_, _, h, w) = check::images(images, "images")?;
        Ok([self.field.size[0].min(h), self.field.size[1].min(w)])
    }

    /// The input patches that caused feature map `channel`'s winners,
    /// `[k, C, h, w]` with `[h, w]` = [`crop_size`](Self::crop_size).
    /// `images` must be the `[N, C, H, W]` tensor `top_k` streamed. Fields
    /// cut by the image border are placed where the border cut them (a
    /// field hanging over the top edge shows its pixels at the bottom of the
    /// crop) and the rest is zero, so that every crop has one size.
    pub fn patches(&self, images: &Tensor, channel: i64) -> Result<Tensor> {
        let winners = self.winners(images, channel)?;
        let size = self.crop_size(images)?;
        // `winners` checked every index and box against `images`; the
        // crops all have `size`, so the stack cannot fail.
        let crops = winners
            .iter()
            .map(|w| self.crop(&images.get(w.image as i64), w, size))
            .collect::<Vec<_>>();
        Ok(Tensor::stack(&crops, 0))
    }

    /// The deconvnet projections of feature map `channel`'s winners, each
    /// seeded at the winning position, cropped like
    /// [`patches`](Self::patches): `[k, C, h, w]` in input units. All `k`
    /// are projected in one batched pass.
    pub fn projections(
        &self,
        deconvnet: &Deconvnet,
        images: &Tensor,
        channel: i64,
    ) -> Result<Tensor> {
        let winners = self.winners(images, channel)?;
        let index: Vec<i64> = winners.iter().map(|w| w.image as i64).collect();
        let index = Tensor::from_slice(&index).to_device(images.device());
        // Indices checked by `winners`; the projection has one row per winner.
        let batch = images
            .index_select(0, &index)
            .to_device(deconvnet.model().device());
        let targets: Vec<Target> = winners
            .iter()
            .enumerate()
            .map(|(i, w)| Target {
                image: i,
                channel,
                position: Some(w.position),
            })
            .collect();
        let projected = deconvnet.project(&batch, &self.layer, &targets)?;
        let size = self.crop_size(images)?;
        let crops = winners
            .iter()
            .enumerate()
            .map(|(i, w)| self.crop(&projected.get(i as i64), w, size))
            .collect::<Vec<_>>();
        Ok(Tensor::stack(&crops, 0))
    }

    /// Zeiler & Fergus's Fig. 2 layout for feature maps `channels`: for each
    /// map its winners' projections (each stretched to its own range) beside
    /// the image patches, as `sqrt(k)`-wide grids, `per_row` maps to a row.
    pub fn figure(
        &self,
        model: &Model,
        images: &Tensor,
        channels: &[i64],
        per_row: usize,
    ) -> Result<Panels<ImageGrid>> {
        if channels.is_empty() || per_row == 0 {
            return Err(Error::invalid(
                "TopK::figure needs at least one feature map and per_row >= 1",
            ));
        }
        let deconvnet = Deconvnet::new(model);
        let [h, _] = self.crop_size(images)?;
        // Small fields (layer 1 sees 7x7 pixels) are drawn larger.
        let scale = (72 / h.max(1)).max(1) as u32;
        let mut grids = Vec::with_capacity(2 * channels.len());
        for &c in channels {
            let patches = self.patches(images, c)?;
            let columns = (patches.size()[0] as f64).sqrt().ceil() as usize;
            let projections = self.projections(&deconvnet, images, c)?;
            grids.push(
                ImageGrid::new(&projections)?
                    .columns(columns)
                    .scale(scale)
                    .scaling(Scaling::PerImage)
                    .title(format!("map {c}")),
            );
            grids.push(
                ImageGrid::new(&patches)?
                    .columns(columns)
                    .scale(scale)
                    .scaling(Scaling::Clamp)
                    .title("patches"),
            );
        }
        Panels::new(grids)?.columns(2 * per_row)
    }

    /// The `n` feature maps whose strongest activation is largest, strongest
    /// first (maps that never fire come last): the ones worth showing when a
    /// layer has more maps than a figure has room for.
    pub fn strongest_maps(&self, n: usize) -> Vec<i64> {
        let best = |c: usize| self.maps[c].first().map_or(f64::NEG_INFINITY, |w| w.value);
        let mut order: Vec<usize> = (0..self.maps.len()).collect();
        order.sort_by(|&a, &b| best(b).total_cmp(&best(a)).then(a.cmp(&b)));
        order.into_iter().take(n).map(|c| c as i64).collect()
    }

    /// For each feature map, the share of its winners that belong to their
    /// most common class (`labels`: `[N]` class indices of the images
    /// `top_k` streamed): 1/k for a map that fires on anything, 1 for a map
    /// whose top `k` all come from one class. Maps whose winners are all zero
    /// (they never fire) are `None`.
    pub fn class_purity(&self, labels: &Tensor) -> Result<Vec<Option<f64>>> {
        check::defined(labels, "labels")?;
        if labels.dim() != 1 || labels.kind() != Kind::Int64 {
            return Err(Error::shape(
                "labels",
                "[N] class indices (Int64)",
                format!("{:?} {:?}", labels.size(), labels.kind()),
            ));
        }
        let labels = Vec::<i64>::try_from(labels.to_device(tch::Device::Cpu))?;
        self.maps
            .iter()
            .map(|winners| {
                if winners.iter().all(|w| w.value <= 0.0) {
                    return Ok(None);
                }
                let mut counts = std::collections::HashMap::new();
                for w in winners {
                    let class = labels.get(w.image).ok_or_else(|| {
                        Error::invalid(format!(
                            "image {} of the top-k has no label: {} labels given",
                            w.image,
                            labels.len()
                        ))
                    })?;
                    *counts.entry(*class).or_insert(0usize) += 1;
                }
                let most = counts.values().copied().max().unwrap_or(0);
                Ok(Some(most as f64 / winners.len() as f64))
            })
            .collect()
    }

    fn winners(&self, images: &Tensor, channel: i64) -> Result<&[TopActivation]> {
        let (n, _, h, w) = check::images(images, "images")?;
        let winners = usize::try_from(channel)
            .ok()
            .and_then(|c| self.maps.get(c))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "feature map {channel} is out of range: layer '{}' has {} maps",
                    self.layer,
                    self.maps.len()
                ))
            })?;
        if let Some(w) = winners.iter().find(|w| w.image as i64 >= n) {
            return Err(Error::invalid(format!(
                "image {} of the top-k is not in the {n} images given: pass the images top_k streamed",
                w.image
            )));
        }
        if let Some(win) = winners
            .iter()
            .find(|win| win.pixels.bottom >= h || win.pixels.right >= w)
        {
            return Err(Error::shape(
                "images",
                format!(
                    "the images top_k streamed (a winner sees pixels down to row {} and column {})",
                    win.pixels.bottom, win.pixels.right
                ),
                format!("{h}x{w} images"),
            ));
        }
        Ok(winners)
    }

    /// `image` `[C, H, W]` cut to the winner's box and placed in a
    /// [`crop_size`](Self::crop_size) canvas. The box lies in the image
    /// (checked by `winners`) and the canvas part is cut to the box, so the
    /// narrows and the copy cannot fail.
    fn crop(&self, image: &Tensor, w: &TopActivation, [ch, cw]: [i64; 2]) -> Tensor {
        let b = w.pixels;
        let (bh, bw) = (b.bottom - b.top + 1, b.right - b.left + 1);
        // Where the crop starts on one axis: a field cut at the top (left)
        // only has its pixels at the canvas's far end.
        let offset = |axis: usize, position: i64, first: i64, last: i64, room: i64| {
            let nominal = self.field.start[axis] + position * self.field.jump[axis];
            if first > nominal && last >= nominal + self.field.size[axis] - 1 {
                room
            } else {
                0
            }
        };
        let offset_y = offset(0, w.position.0, b.top, b.bottom, ch - bh);
        let offset_x = offset(1, w.position.1, b.left, b.right, cw - bw);
        let pixels = image.narrow(1, b.top, bh).narrow(2, b.left, bw);
        let canvas = Tensor::zeros([image.size()[0], ch, cw], (image.kind(), image.device()));
        let (bh, bw) = (bh.min(ch), bw.min(cw));
        let mut place = canvas
            .narrow(1, offset_y.max(0), bh)
            .narrow(2, offset_x.max(0), bw);
        place.copy_(&pixels.narrow(1, 0, bh).narrow(2, 0, bw));
        canvas
    }
}

impl Show for TopK {
    /// The eight strongest maps with their winners' images and values, and
    /// every map's strongest activation as bars (maps that never fire stand
    /// at zero). The patches need the images: see [`TopK::figure`].
    fn mime_bundle(&self) -> Result<MimeBundle> {
        let mut table = Table::new(&["map", "strongest", "weakest kept", "images"]).title(format!(
            "top {} activations of {}, strongest maps ({} maps)",
            self.maps.first().map_or(0, Vec::len),
            self.layer,
            self.maps.len()
        ));
        for c in self.strongest_maps(8) {
            let w = &self.maps[c as usize];
            table = table.row(&[
                c.to_string(),
                w.first().map_or("-".into(), |a| format!("{:.4}", a.value)),
                w.last().map_or("-".into(), |a| format!("{:.4}", a.value)),
                w.iter()
                    .map(|a| a.image.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            ])?;
        }
        let names: Vec<String> = (0..self.maps.len()).map(|c| c.to_string()).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let best: Vec<f64> = self
            .maps
            .iter()
            .map(|w| w.first().map_or(0.0, |a| a.value))
            .collect();
        let bars = BarChart::new(&names)
            .series("strongest activation", &best)
            .title(format!("{}: each map's strongest activation", self.layer))
            .x_label("feature map");
        let dead = best.iter().filter(|&&v| v <= 0.0).count();
        let text = format!(
            "top-k of {}: {} maps, {dead} never fire",
            self.layer,
            self.maps.len()
        );
        Report::new(table, text).figure(&bars).mime_bundle()
    }
}

shows_at_cell_end!(TopK);
