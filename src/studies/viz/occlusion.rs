//! Occlusion sensitivity (Zeiler & Fergus, Fig. 7): slide a gray square
//! over the image and record, for each position, (b) the total activation
//! of one feature map, (d) the probability of the correct class and (e)
//! the most probable class; plus Captum-style per-pixel attributions (the
//! drop in the class probability, averaged over the windows that cover each
//! pixel) for comparison.
//!
//! One sweep gives all of them. Occluded copies are made a batch at a time
//! within a memory budget (never one full-size copy per window kept
//! around), the forward pass stops at the deepest layer needed, and no
//! autograd graph is built.

use super::drill_down::{self, DrillDown, Value};
use super::incremental::{self, Patched, State};
use crate::check;
use crate::display::{shows_at_cell_end, MimeBundle, Report, Show, Table};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::plot::{Colormap, Heatmap, Panels};
use tch::{Kind, Tensor};

/// What fills the occluded square.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fill {
    /// A constant, in the model's input units (0 is the mean of normalised
    /// inputs: the paper's gray).
    Value(f64),
    /// Each channel's mean over the image being occluded.
    ImageMean,
}

/// The maps of one sweep. Position `(i, j)` is the window whose top-left
/// corner is at `(i * stride_h, j * stride_w)`.
#[derive(Debug)]
pub struct OcclusionMaps {
    /// `[R, C]`: total activation of [`feature_map`](Self::feature_map) in
    /// the feature layer (if one was asked for).
    pub feature: Option<Tensor>,
    /// The feature map summed in `feature`: the strongest one (largest total
    /// activation) in the unoccluded image.
    pub feature_map: Option<i64>,
    /// `[R, C]`: probability of the target class.
    pub class_prob: Tensor,
    /// `[R, C]` (int64): the most probable class.
    pub top_class: Tensor,
    /// Probability of the target class without occlusion.
    pub base_prob: f64,
    /// `[H, W]`: the drop in the target class probability, averaged over the
    /// windows covering each pixel (zero where no window reaches).
    pub attribution: Tensor,
    /// The class whose probability was followed.
    pub target: i64,
    /// The occluder's height and width in pixels.
    pub window: [i64; 2],
    /// Pixels between neighbouring positions, vertically and horizontally.
    pub stride: [i64; 2],
    /// Whether the sweep recomputed only what each occluder reaches
    /// ([`Occlusion::incremental`]) rather than whole networks.
    pub incremental: bool,
    /// The approximation's fraction, if the sweep was approximate
    /// ([`Occlusion::approximate`]).
    pub approximation: Option<f64>,
    /// The drill-down's settings, if the sweep was adaptive
    /// ([`Occlusion::drill_down`]): then only `evaluated` positions were run
    /// through the network and the others interpolated.
    pub drill_down: Option<DrillDown>,
    /// Positions run through the network (all of them unless adaptive).
    pub evaluated: usize,
}

/// How far an approximate sweep's maps are from the exact ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MapError {
    /// Largest absolute difference of the target class's probability.
    pub max_abs: f64,
    /// `max_abs` over the exact map's range (largest minus smallest
    /// probability): how much of the map's contrast the error is (0 for
    /// identical maps; infinite if the exact map is flat and they differ).
    pub relative: f64,
    /// Structural similarity of the two probability maps (11x11 Gaussian
    /// window, as `dip::quality::ssim`); `None` for maps smaller than the
    /// window.
    pub ssim: Option<f64>,
    /// Fraction of positions whose most probable class agrees.
    pub top_class_agreement: f64,
}

/// An occlusion sweep over one model.
#[derive(Clone)]
pub struct Occlusion<'a> {
    model: &'a Model,
    window: [i64; 2],
    stride: [i64; 2],
    fill: Fill,
    feature_layer: Option<String>,
    budget_bytes: usize,
    incremental: bool,
    approximate: Option<f64>,
    drill_down: Option<DrillDown>,
}

impl<'a> Occlusion<'a> {
    /// Square `window` moved by `stride` pixels, filled with 0.
    pub fn new(model: &'a Model, window: i64, stride: i64) -> Result<Self> {
        if window < 1 || stride < 1 {
            return Err(Error::invalid(format!(
                "occlusion window ({window}) and stride ({stride}) must be at least 1 pixel"
            )));
        }
        Ok(Occlusion {
            model,
            window: [window, window],
            stride: [stride, stride],
            fill: Fill::Value(0.0),
            feature_layer: None,
            budget_bytes: 256 << 20,
            incremental: true,
            approximate: None,
            drill_down: None,
        })
    }

    /// What fills the square.
    pub fn fill(mut self, fill: Fill) -> Self {
        self.fill = fill;
        self
    }

    /// Also record the total activation of the strongest map of `layer`.
    pub fn feature_layer(mut self, layer: &str) -> Result<Self> {
        self.model.layer_index(layer)?;
        self.feature_layer = Some(layer.to_string());
        Ok(self)
    }

    /// Memory for one batch, in bytes: the occluded copies and the
    /// activations their forward pass holds at once (default 256 MiB; at
    /// least one copy is always made).
    pub fn budget_bytes(mut self, bytes: usize) -> Self {
        self.budget_bytes = bytes;
        self
    }

    /// Whether each layer recomputes only the part of its output that the
    /// occluder can reach, from the unoccluded image's activations (exact:
    /// the same maps as full recomputation up to summation order; see
    /// [`incremental`](super::incremental)). On by default; it applies to a
    /// model in evaluation mode whose first layer is local, and `false`
    /// runs every occluded copy through the whole network.
    pub fn incremental(mut self, on: bool) -> Self {
        self.incremental = on;
        self
    }

    /// Approximate incremental inference: each convolution or pool computes
    /// at most `fraction` of its output's side (the middle of the window the
    /// occluder could reach), and changes beyond it are dropped (KRYPTON's
    /// projective-field threshold). Faster where windows grow large; the
    /// maps differ from the exact ones by what
    /// [`OcclusionMaps::error_against`] measures. `fraction` in (0, 1].
    pub fn approximate(mut self, fraction: f64) -> Result<Self> {
        if !(fraction.is_finite() && fraction > 0.0 && fraction <= 1.0) {
            return Err(Error::invalid(format!(
                "the approximation keeps a fraction in (0, 1] of each map's side, got {fraction}"
            )));
        }
        self.approximate = Some(fraction);
        self.incremental = true;
        Ok(self)
    }

    /// Adaptive drill-down: a coarse sweep at every `coarse`-th position
    /// along each axis first, then every position in the `fraction` of
    /// coarse cells whose corners' probabilities spread the most, and the
    /// rest interpolated (bilinear; the most probable class from the nearest
    /// evaluated corner); see [`drill_down`](super::drill_down). It combines
    /// with exact or approximate incremental inference or full
    /// recomputation. Evaluates about `1/coarse^2 + fraction` of the
    /// positions; the maps differ from the exact ones where a change lies
    /// wholly between coarse positions, by what
    /// [`OcclusionMaps::error_against`] measures. `coarse` at least 2,
    /// `fraction` in `[0, 1]`.
    pub fn drill_down(mut self, coarse: usize, fraction: f64) -> Result<Self> {
        self.drill_down = Some(DrillDown::new(coarse, fraction)?);
        Ok(self)
    }

    /// Window positions along one axis of length `n`.
    fn starts(&self, n: i64, axis: usize) -> Vec<i64> {
        (0..=(n - self.window[axis]))
            .step_by(self.stride[axis] as usize)
            .collect()
    }

    /// Sweeps `image` (`[C, H, W]`) for class `target`.
    pub fn run(&self, image: &Tensor, target: i64) -> Result<OcclusionMaps> {
        check::defined(image, "image")?;
        let size = image.size();
        if size.len() != 3 {
            return Err(Error::invalid(format!(
                "occlusion takes one image [C, H, W], got shape {size:?}"
            )));
        }
        let (c, h, w) = (size[0], size[1], size[2]);
        if self.window[0] > h || self.window[1] > w {
            return Err(Error::invalid(format!(
                "occlusion window {}x{} is larger than the {h}x{w} image",
                self.window[0], self.window[1]
            )));
        }
        check::finite(image, "the image")?;
        let image = image.to_kind(Kind::Float).to_device(self.model.device());
        self.model.check_input(&image.unsqueeze(0))?;
        let _guard = tch::no_grad_guard();

        let mut wanted = Vec::new();
        if let Some(f) = &self.feature_layer {
            wanted.push(f.as_str());
        }
        wanted.push(self.model.output_layer());
        let probe = |batch: &Tensor| -> Result<(Option<Tensor>, Tensor)> {
            let mut outs = self.model.activations(batch, &wanted)?;
            let logits = outs.pop().expect("asked for the last layer");
            Ok((outs.pop(), logits))
        };

        let (base_feature, base_logits) = probe(&image.unsqueeze(0))?;
        if base_logits.dim() != 2 {
            return Err(Error::shape(
                "the model's output",
                "class scores [N, classes] (occlusion follows the probability of a class)",
                check::shape_str(&base_logits.size()),
            ));
        }
        let classes = base_logits.size()[1];
        if target < 0 || target >= classes {
            return Err(Error::invalid(format!(
                "target class {target} is out of range: the model has {classes} classes"
            )));
        }
        // From here on every tensor is made here from the checked image
        // (rank 3, window inside it, finite, the model's input shape) and
        // the checked logits (rank 2, target in range): the windows' starts
        // keep them inside the image, `select` indices are the target and a
        // map of the feature layer's own, and the maps are built from one
        // value per position of the `rows` x `cols` grid. None of the tch
        // calls below can fail.
        let base_prob = base_logits
            .softmax(1, Kind::Float)
            .double_value(&[0, target]);
        let feature_map = base_feature.as_ref().map(|f| {
            let f = f.get(0);
            let totals = f
                .reshape([f.size()[0], -1])
                .sum_dim_intlist(1, false, Kind::Float);
            totals.argmax(0, false).int64_value(&[])
        });

        let rows = self.starts(h, 0);
        let cols = self.starts(w, 1);
        let positions: Vec<(i64, i64)> = rows
            .iter()
            .flat_map(|&y| cols.iter().map(move |&x| (y, x)))
            .collect();
        // The logits are always wanted: the pass runs through every layer.
        let per_copy = forward_bytes(self.model, self.model.layers().len() - 1);
        let batch = (self.budget_bytes / per_copy.max(1)).max(1);
        let fill_values: Vec<f64> = match self.fill {
            Fill::Value(v) => vec![v; c as usize],
            Fill::ImageMean => {
                Vec::<f64>::try_from(image.reshape([c, -1]).mean_dim(1, false, Kind::Float))?
            }
        };

        let incremental = self.incremental
            && !self.model.is_training()
            && incremental::worthwhile(self.model.layers());
        let feature_index = match &self.feature_layer {
            Some(name) => Some(self.model.layer_index(name)?),
            None => None,
        };
        let mut bases = incremental::Bases::new(self.approximate.filter(|_| incremental));
        // The values at grid positions `(row, col)`, a batch at a time.
        let mut evaluate = |cells: &[(usize, usize)]| -> Result<Vec<Value>> {
            let positions: Vec<(i64, i64)> =
                cells.iter().map(|&(r, c)| (rows[r], cols[c])).collect();
            let mut values = Vec::with_capacity(positions.len());
            for chunk in positions.chunks(batch) {
                let occluded = Patched::occluded(
                    &image.unsqueeze(0),
                    chunk.to_vec(),
                    self.window,
                    &fill_values,
                )?;
                let (feature, logits) = if self.model.is_training() {
                    // Dropout and batch statistics: the model's own pass.
                    let (feature, logits) = probe(&occluded.materialize()?)?;
                    let sums = match (feature, feature_map) {
                        (Some(f), Some(m)) => Some(
                            f.select(1, m)
                                .reshape([chunk.len() as i64, -1])
                                .sum_dim_intlist(1, false, Kind::Float),
                        ),
                        _ => None,
                    };
                    (sums, logits)
                } else {
                    let state = if incremental {
                        State::Patched(occluded)
                    } else {
                        State::Full(occluded.materialize()?)
                    };
                    let mut feature = None;
                    let logits = incremental::run(
                        self.model.layers(),
                        state,
                        &mut bases,
                        feature_index,
                        |i, state| {
                            if let (true, Some(m)) = (feature_index == Some(i), feature_map) {
                                feature = Some(incremental::map_sums(state)?.select(1, m));
                            }
                            Ok(())
                        },
                    )?;
                    (feature, incremental::whole(logits)?)
                };
                let p = logits.softmax(1, Kind::Float);
                let host = |t: Tensor| t.to_kind(Kind::Double).to_device(tch::Device::Cpu);
                let probs = Vec::<f64>::try_from(host(p.select(1, target)))?;
                let tops = Vec::<i64>::try_from(p.argmax(1, false).to_device(tch::Device::Cpu))?;
                let feats = feature.map(|f| Vec::<f64>::try_from(host(f))).transpose()?;
                values.extend((0..probs.len()).map(|k| Value {
                    prob: probs[k],
                    top: tops[k],
                    feature: feats.as_ref().map(|f| f[k]),
                }));
            }
            Ok(values)
        };
        let (values, evaluated) = match self.drill_down {
            None => {
                let all: Vec<(usize, usize)> = (0..rows.len())
                    .flat_map(|r| (0..cols.len()).map(move |c| (r, c)))
                    .collect();
                (evaluate(&all)?, all.len())
            }
            Some(settings) => drill_down::sweep(rows.len(), cols.len(), settings, &mut evaluate)?,
        };
        let grid = [rows.len() as i64, cols.len() as i64];
        let probs: Vec<f32> = values.iter().map(|v| v.prob as f32).collect();
        let class_prob = Tensor::from_slice(&probs).reshape(grid);
        let tops: Vec<i64> = values.iter().map(|v| v.top).collect();
        let top_class = Tensor::from_slice(&tops).reshape(grid);
        let feature = feature_map.is_some().then(|| {
            let f: Vec<f32> = values
                .iter()
                .map(|v| v.feature.unwrap_or(f64::NAN) as f32)
                .collect();
            Tensor::from_slice(&f).reshape(grid)
        });

        // Per-pixel average of the drop over the windows covering the pixel.
        let drops = Vec::<f64>::try_from((-&class_prob + base_prob).reshape([-1]))?;
        let mut sum = vec![0f64; (h * w) as usize];
        let mut count = vec![0u32; (h * w) as usize];
        for (&(y, x), d) in positions.iter().zip(drops) {
            for yy in y..y + self.window[0] {
                for xx in x..x + self.window[1] {
                    let i = (yy * w + xx) as usize;
                    sum[i] += d;
                    count[i] += 1;
                }
            }
        }
        let mean: Vec<f32> = sum
            .iter()
            .zip(&count)
            .map(|(s, &n)| if n == 0 { 0.0 } else { (*s / n as f64) as f32 })
            .collect();
        let attribution = Tensor::from_slice(&mean).reshape([h, w]);
        Ok(OcclusionMaps {
            feature,
            feature_map,
            class_prob,
            top_class,
            base_prob,
            attribution,
            target,
            window: self.window,
            stride: self.stride,
            incremental,
            approximation: self.approximate.filter(|_| incremental),
            drill_down: self.drill_down,
            evaluated,
        })
    }
}

impl OcclusionMaps {
    /// This sweep's maps against `exact`'s (the same image, target,
    /// window and stride, swept exactly).
    pub fn error_against(&self, exact: &OcclusionMaps) -> Result<MapError> {
        if self.class_prob.size() != exact.class_prob.size() || self.target != exact.target {
            return Err(Error::invalid(format!(
                "the sweeps differ: maps {:?} and {:?}, targets {} and {}",
                self.class_prob.size(),
                exact.class_prob.size(),
                self.target,
                exact.target
            )));
        }
        let max_abs = self
            .class_prob
            .f_sub(&exact.class_prob)?
            .f_abs()?
            .f_max()?
            .f_double_value(&[])?;
        let [rows, cols] = self.class_prob.size()[..] else {
            return Err(Error::invalid("occlusion maps are [rows, cols]"));
        };
        let range = exact.class_prob.f_max()?.f_double_value(&[])?
            - exact.class_prob.f_min()?.f_double_value(&[])?;
        let relative = if max_abs == 0.0 { 0.0 } else { max_abs / range };
        let ssim = if rows > 10 && cols > 10 {
            Some(crate::studies::dip::quality::ssim(
                &self.class_prob.f_unsqueeze(0)?,
                &exact.class_prob.f_unsqueeze(0)?,
            )?)
        } else {
            None
        };
        let top_class_agreement = self
            .top_class
            .f_eq_tensor(&exact.top_class)?
            .f_to_kind(Kind::Double)?
            .f_mean(Kind::Double)?
            .f_double_value(&[])?;
        Ok(MapError {
            max_abs,
            relative,
            ssim,
            top_class_agreement,
        })
    }

    /// Where the cells of the per-position maps (`class_prob`, `top_class`,
    /// `feature`) lie on the image, in pixels, as `(x0, x1, y0, y1)` for
    /// [`Heatmap::image_extent`]: each cell is centred on its occluder's
    /// centre and is one stride wide and high.
    pub fn position_extent(&self) -> (f64, f64, f64, f64) {
        let size = self.class_prob.size();
        let (rows, cols) = (
            size.first().copied().unwrap_or(0),
            size.get(1).copied().unwrap_or(0),
        );
        let along = |axis: usize, n: i64| {
            let lo = (self.window[axis] - self.stride[axis]) as f64 / 2.0;
            (lo, lo + (n * self.stride[axis]) as f64)
        };
        let ((x0, x1), (y0, y1)) = (along(1, cols), along(0, rows));
        (x0, x1, y0, y1)
    }

    /// The maps side by side, on the image's pixel coordinates (row 0 at
    /// the top): the target class's probability per occluder
    /// position, the most probable class, the strongest feature map's total
    /// activation (if one was followed) and the per-pixel attribution.
    pub fn figure(&self) -> Result<Panels<Heatmap>> {
        let (x0, x1, y0, y1) = self.position_extent();
        let on_image = |h: Heatmap| {
            h.image_extent(x0, x1, y0, y1)
                .x_label("occluder centre x (px)")
                .y_label("y (px)")
                .size(420, 340)
        };
        let mut maps = vec![on_image(
            Heatmap::from_tensor(&self.class_prob)?
                .range(0.0, 1.0)
                .title(format!("p(class {}) per position", self.target)),
        )];
        let top = Vec::<i64>::try_from(self.top_class.flatten(0, -1))?;
        let classes = top.iter().copied().max().unwrap_or(0).max(self.target) + 1;
        let names: Vec<String> = (0..classes).map(|c| c.to_string()).collect();
        maps.push(on_image(
            Heatmap::from_tensor(&self.top_class.to_kind(Kind::Double))?
                .categories(&names)
                .title("most probable class"),
        ));
        if let (Some(f), Some(m)) = (&self.feature, self.feature_map) {
            maps.push(on_image(
                Heatmap::from_tensor(f)?.title(format!("feature map {m}, total activation")),
            ));
        }
        let size = self.attribution.size();
        let (h, w) = (
            size.first().copied().unwrap_or(0),
            size.get(1).copied().unwrap_or(0),
        );
        maps.push(
            Heatmap::from_tensor(&self.attribution)?
                .colormap(Colormap::Diverging)
                .symmetric()
                .image_extent(0.0, w as f64, 0.0, h as f64)
                .title("attribution (drop in p)")
                .x_label("x (px)")
                .y_label("y (px)")
                .size(420, 340),
        );
        Panels::new(maps)
    }
}

impl Show for OcclusionMaps {
    fn mime_bundle(&self) -> Result<MimeBundle> {
        let probs = Vec::<f64>::try_from(self.class_prob.to_kind(Kind::Double).flatten(0, -1))?;
        let top = Vec::<i64>::try_from(self.top_class.flatten(0, -1))?;
        let [rows, cols] = self.class_prob.size()[..] else {
            return Err(Error::invalid("occlusion maps are [rows, columns]"));
        };
        let (lowest, at) =
            probs
                .iter()
                .enumerate()
                .fold(
                    (f64::INFINITY, 0),
                    |(lo, at), (i, &p)| if p < lo { (p, i) } else { (lo, at) },
                );
        let changed = top.iter().filter(|&&c| c != self.target).count();
        let mut table = Table::new(&["", "value"])
            .title("occlusion sweep")
            .row(&["target class".to_string(), self.target.to_string()])?
            .row(&[
                "occluder".to_string(),
                format!(
                    "{}x{} px, stride {}x{}, {rows}x{cols} positions",
                    self.window[0], self.window[1], self.stride[0], self.stride[1]
                ),
            ])?
            .row(&[
                "p(target), unoccluded".to_string(),
                format!("{:.4}", self.base_prob),
            ])?
            .row(&[
                "lowest p(target)".to_string(),
                format!(
                    "{lowest:.4} with the occluder at row {}, column {}",
                    at as i64 / cols * self.stride[0],
                    at as i64 % cols * self.stride[1]
                ),
            ])?
            .row(&[
                "positions where another class wins".to_string(),
                format!("{changed} of {}", top.len()),
            ])?;
        if let Some(m) = self.feature_map {
            table = table.row(&["followed feature map".to_string(), m.to_string()])?;
        }
        if let Some(f) = self.approximation {
            table = table.row(&[
                "approximate".to_string(),
                format!("each layer's window capped at {f} of its map's side"),
            ])?;
        }
        if let Some(d) = self.drill_down {
            table = table.row(&[
                "drill-down".to_string(),
                format!(
                    "every {}th position, then the {:.0}% of cells that change most: {} of {} positions evaluated, the rest interpolated",
                    d.coarse,
                    100.0 * d.fraction,
                    self.evaluated,
                    top.len()
                ),
            ])?;
        }
        let text = format!(
            "occlusion of class {}: p {:.4} unoccluded, {lowest:.4} at worst; another class wins at {changed} of {} positions",
            self.target,
            self.base_prob,
            top.len()
        );
        let mut report = Report::new(table, text);
        if let Ok(fig) = self.figure() {
            report = report.figure(&fig);
        }
        report.mime_bundle()
    }
}

shows_at_cell_end!(OcclusionMaps);

/// Bytes one example takes in a forward pass through layers `0..=last`
/// without autograd: its input, plus the largest pair of a layer's input and
/// output (both alive while the layer runs; earlier ones are freed). A
/// residual block holds its input, the branch and the shortcut: its output
/// counts twice.
fn forward_bytes(model: &Model, last: usize) -> usize {
    let elems = |shape: &[i64]| shape.iter().product::<i64>().max(0) as usize;
    let input = elems(model.input_shape());
    let mut previous = input;
    let mut largest = 0;
    for (i, layer) in model.layers().iter().enumerate().take(last + 1) {
        let out = elems(model.layer_shape(i).unwrap_or_default());
        let held = if matches!(
            layer.op,
            crate::model::Op::Block { .. } | crate::model::Op::Concat(_)
        ) {
            2 * out
        } else {
            out
        };
        largest = largest.max(previous + held);
        previous = out;
    }
    4 * (input + largest)
}

#[cfg(test)]
mod tests {
    use super::forward_bytes;
    use crate::model::{Conv, ModelBuilder};
    use tch::Device;

    #[test]
    fn forward_bytes_counts_the_input_and_the_largest_neighbouring_pair() {
        // [1, 8, 8] -> conv [4, 8, 8] -> relu [4, 8, 8] -> pool [4, 4, 4] -> flatten [64] -> linear [3]
        let model = ModelBuilder::new(&[1, 8, 8])
            .conv("conv", "c", 4, Conv::new(3).padding(1))
            .relu("relu")
            .max_pool("pool", 2, 2)
            .flatten("flat")
            .linear("fc", "fc", 3)
            .build(Device::Cpu)
            .unwrap();
        assert_eq!(forward_bytes(&model, 0), 4 * (64 + (64 + 256)));
        assert_eq!(forward_bytes(&model, 1), 4 * (64 + (256 + 256)));
        assert_eq!(forward_bytes(&model, 4), 4 * (64 + (256 + 256)));
    }
}
