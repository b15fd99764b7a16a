//! Features of images: a layer of a trained net ([`Features`]), and the
//! baselines the transfer papers set beside it, the raw pixels ([`Pixels`])
//! and histograms of oriented gradients ([`Hog`]), all behind one
//! [`Extractor`] interface.

use crate::data::transforms::{Jitter, Transform};
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::model::Model;
use tch::{Device, Tensor};

/// Turns images into one feature vector each.
pub trait Extractor {
    /// What the features are, for dataset names ("relu7", "HOG", "pixels").
    fn name(&self) -> String;

    /// The features `[N, D]` (f32, on the CPU) of images `[N, C, H, W]`.
    fn of_images(&mut self, images: &Tensor) -> Result<Tensor>;

    /// A split of features `[N, D, 1, 1]` with `split`'s labels: a dataset
    /// of D-channel 1x1 "images" that `fit` and the probes take as they are.
    fn of_split(&mut self, split: &Split) -> Result<Split> {
        let f = self.of_images(split.images())?;
        Split::new(
            f.f_unsqueeze(-1)?.f_unsqueeze(-1)?,
            split.labels().to_device(Device::Cpu),
        )
    }

    /// Both splits of `data` as features (see [`of_split`](Self::of_split)),
    /// named `"<data> at <name>"`, with the same classes.
    fn of_dataset(&mut self, data: &Dataset) -> Result<Dataset> {
        let train = self.of_split(&data.train)?;
        let test = self.of_split(&data.test)?;
        Dataset::new(
            format!("{} at {}", data.name, self.name()),
            train,
            test,
            data.classes.clone(),
        )
    }
}

/// How a layer's output becomes one feature vector per image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pooling {
    /// Every value, flattened (`C * H * W` features of a conv layer).
    #[default]
    Flatten,
    /// Each channel's mean over its positions (`C` features).
    Average,
    /// Each channel's largest value (`C` features).
    Max,
}

/// The activations of one layer of a model, for many images at once. The
/// model runs in evaluation mode (no dropout, batch-norm running
/// statistics) without gradients, batch by batch on its device; the
/// features are gathered on the CPU. The model's mode is restored after.
pub struct Features<'a> {
    model: &'a mut Model,
    layer: String,
    batch_size: usize,
    pooling: Pooling,
    l2: bool,
    views: Views,
}

/// Several views of each image (Razavian et al.'s "CNN aug"): the image,
/// its mirror, then shifted copies; their features averaged, or each kept
/// as an example of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Views {
    count: usize,
    max_shift: i64,
    seed: u64,
    stacked: bool,
}

impl<'a> Features<'a> {
    /// Features of `layer` of `model`; an error names the layers there are.
    /// Batches of 250 images.
    pub fn new(model: &'a mut Model, layer: &str) -> Result<Self> {
        model.layer_index(layer)?;
        Ok(Features {
            model,
            layer: layer.to_string(),
            batch_size: 250,
            pooling: Pooling::Flatten,
            l2: false,
            views: Views {
                count: 1,
                max_shift: 0,
                seed: 0,
                stacked: false,
            },
        })
    }

    /// Each image's features averaged over `views` views (before any L2
    /// normalisation): the image itself, its left-right mirror, then copies
    /// moved by up to `max_shift` pixels each way (zeros brought in),
    /// every other one mirrored, drawn from `seed`. One view is the image
    /// alone.
    pub fn averaged_over_views(mut self, views: usize, max_shift: i64, seed: u64) -> Self {
        self.views = Views {
            count: views,
            max_shift,
            seed,
            stacked: false,
        };
        self
    }

    /// The same views as [`averaged_over_views`](Self::averaged_over_views),
    /// each kept as an example of its own (each L2-normalised if asked):
    /// the training set grows `views`-fold, an image's views in
    /// consecutive rows (`[N * views, D]`) and its label repeated by
    /// [`of_split`](Extractor::of_split). [`of_dataset`](Extractor::of_dataset)
    /// stacks the training split and averages the test split's views, so a
    /// test image is still scored once (Razavian et al. train on the
    /// augmented set).
    pub fn stacked_views(mut self, views: usize, max_shift: i64, seed: u64) -> Self {
        self.views = Views {
            count: views,
            max_shift,
            seed,
            stacked: true,
        };
        self
    }

    /// Pooled this way over the positions of a conv layer's maps (a layer
    /// without positions, such as a linear one, is flattened as it is).
    pub fn pooling(mut self, pooling: Pooling) -> Self {
        self.pooling = pooling;
        self
    }

    /// Each feature vector scaled to unit L2 norm (Razavian et al.'s
    /// off-the-shelf features); an all-zero vector stays zero.
    pub fn l2_normalized(mut self) -> Self {
        self.l2 = true;
        self
    }

    /// Images per forward pass (the memory a pass needs grows with it).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }
}

impl Extractor for Features<'_> {
    fn name(&self) -> String {
        self.layer.clone()
    }

    /// The stacked views' labels repeated, each as many times as there are views.
    fn of_split(&mut self, split: &Split) -> Result<Split> {
        let f = self.of_images(split.images())?;
        let labels = split.labels().to_device(Device::Cpu);
        let labels = if self.views.stacked {
            labels.f_repeat_interleave_self_int(self.views.count as i64, 0, None::<i64>)?
        } else {
            labels
        };
        Split::new(f.f_unsqueeze(-1)?.f_unsqueeze(-1)?, labels)
    }

    /// With stacked views, the training split stacked and the test split's
    /// views averaged.
    fn of_dataset(&mut self, data: &Dataset) -> Result<Dataset> {
        let train = self.of_split(&data.train)?;
        let stacked = self.views.stacked;
        self.views.stacked = false;
        let test = self.of_split(&data.test);
        self.views.stacked = stacked;
        Dataset::new(
            format!("{} at {}", data.name, self.name()),
            train,
            test?,
            data.classes.clone(),
        )
    }

    /// The flattened features `[N, D]` (f32, CPU) of images `[N, C, H, W]`
    /// of the model's input shape; `[N * views, D]` with stacked views.
    fn of_images(&mut self, images: &Tensor) -> Result<Tensor> {
        if self.batch_size == 0 {
            return Err(Error::invalid("the feature batch size must be >= 1"));
        }
        crate::check::defined(images, "images")?;
        let size = images.size();
        if size.len() != self.model.input_shape().len() + 1
            || size[1..] != *self.model.input_shape()
        {
            return Err(Error::shape(
                "images",
                format!(
                    "a batch of the model's input shape {}",
                    crate::check::shape_str(self.model.input_shape())
                ),
                crate::check::shape_str(&size),
            ));
        }
        let n = size[0] as usize;
        let views = self.views;
        if views.count == 0 || views.max_shift < 0 {
            return Err(Error::invalid(format!(
                "views need a count of at least 1 and a shift >= 0, got {} and {}",
                views.count, views.max_shift
            )));
        }
        // One generator per view, drawn image after image: the views do not
        // depend on the batch size.
        let mut rngs: Vec<crate::runtime::rng::Rng> = (0..views.count)
            .map(|v| crate::runtime::rng::seeded_stream(views.seed, v as u64))
            .collect();
        let was_training = self.model.is_training();
        self.model.set_train(false);
        let device = self.model.device();
        let (model, layer, batch) = (&*self.model, self.layer.as_str(), self.batch_size);
        let (pooling, l2) = (self.pooling, self.l2);
        let result = tch::no_grad(|| -> Result<Tensor> {
            let mut parts = Vec::with_capacity(n.div_ceil(batch));
            for start in (0..n).step_by(batch) {
                let len = batch.min(n - start);
                let x = images
                    .f_narrow(0, start as i64, len as i64)?
                    .f_to_device(device)?;
                // The model checks the batch's kind and device.
                let mut each = Vec::with_capacity(views.count);
                for (v, rng) in rngs.iter_mut().enumerate() {
                    let view = match v {
                        0 => x.shallow_clone(),
                        1 => x.f_flip([3i64].as_slice())?,
                        _ => {
                            let moved = Jitter {
                                max_shift: views.max_shift,
                            }
                            .apply(&x, rng)?;
                            if v % 2 == 1 {
                                moved.f_flip([3i64].as_slice())?
                            } else {
                                moved
                            }
                        }
                    };
                    each.push(vectors(&model.forward_to(&view, layer)?, pooling, false)?);
                }
                // [len, views, D]: an image's views side by side.
                let each = Tensor::f_stack(&each, 1)?;
                let f = if views.stacked {
                    normalized(each.f_flatten(0, 1)?, l2)?
                } else {
                    normalized(each.f_mean_dim(1, false, tch::Kind::Float)?, l2)?
                };
                parts.push(f.f_to_device(Device::Cpu)?);
            }
            if parts.is_empty() {
                // The feature count, from one blank image.
                let shape: Vec<i64> = std::iter::once(1)
                    .chain(model.input_shape().iter().copied())
                    .collect();
                let probe = Tensor::zeros(shape.as_slice(), (tch::Kind::Float, device));
                let d = vectors(&model.forward_to(&probe, layer)?, pooling, l2)?.size()[1];
                return Ok(Tensor::zeros([0, d], (tch::Kind::Float, Device::Cpu)));
            }
            Ok(Tensor::f_cat(&parts, 0)?)
        });
        self.model.set_train(was_training);
        result
    }
}

/// One vector per example from a layer's output `[N, ...]`: pooled over the
/// positions of `[N, C, H, W]` maps if asked, flattened, L2-normalised if
/// asked.
fn vectors(h: &Tensor, pooling: Pooling, l2: bool) -> Result<Tensor> {
    let v = match (pooling, h.dim()) {
        (Pooling::Average, 4) => h.f_mean_dim([2i64, 3].as_slice(), false, tch::Kind::Float)?,
        (Pooling::Max, 4) => h.f_amax([2i64, 3].as_slice(), false)?,
        _ => h.f_flatten(1, -1)?,
    };
    normalized(v, l2)
}

/// `v` `[N, D]` with each row scaled to unit L2 norm if `l2` (a zero row
/// stays zero).
fn normalized(v: Tensor, l2: bool) -> Result<Tensor> {
    if !l2 {
        return Ok(v);
    }
    let norm = v
        .f_square()?
        .f_sum_dim_intlist([1i64].as_slice(), true, tch::Kind::Float)?
        .f_sqrt()?
        .f_clamp_min(1e-12)?;
    Ok(v.f_div(&norm)?)
}

/// The raw pixels as features, flattened (`C * H * W` per image),
/// L2-normalised if asked: the baseline every learned feature is compared
/// with.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pixels {
    /// Each vector scaled to unit L2 norm.
    pub l2: bool,
}

impl Extractor for Pixels {
    fn name(&self) -> String {
        "pixels".into()
    }

    fn of_images(&mut self, images: &Tensor) -> Result<Tensor> {
        crate::check::images(images, "images")?;
        crate::check::floating(images, "images")?;
        let x = images
            .f_to_kind(tch::Kind::Float)?
            .f_to_device(Device::Cpu)?;
        vectors(&x, Pooling::Flatten, self.l2)
    }
}

/// Histograms of oriented gradients (Dalal & Triggs 2005), computed by the
/// `imageproc` crate on each image turned to 8-bit gray (the channels'
/// mean, values in [0, 1] scaled to 0..=255): per cell of `cell` x `cell`
/// pixels a histogram of `orientations` gradient directions, grouped into
/// blocks of `block` x `block` cells one cell apart, each block normalised
/// to unit L2 norm. The image sides must fit whole blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hog {
    /// Orientation bins per cell.
    pub orientations: usize,
    /// Whether directions 180 degrees apart are told apart.
    pub signed: bool,
    /// Cell side in pixels.
    pub cell: usize,
    /// Block side in cells.
    pub block: usize,
}

impl Default for Hog {
    /// 9 unsigned orientations, 4-pixel cells, 2x2-cell blocks: for 28x28
    /// images, 6x6 blocks of 36 values, 1,296 features.
    fn default() -> Self {
        Hog {
            orientations: 9,
            signed: false,
            cell: 4,
            block: 2,
        }
    }
}

impl Extractor for Hog {
    fn name(&self) -> String {
        "HOG".into()
    }

    fn of_images(&mut self, images: &Tensor) -> Result<Tensor> {
        let (n, _, h, w) = crate::check::images(images, "images")?;
        crate::check::floating(images, "images")?;
        let options = imageproc::hog::HogOptions {
            orientations: self.orientations,
            signed: self.signed,
            cell_side: self.cell,
            block_side: self.block,
            block_stride: 1,
        };
        let gray = images
            .f_to_kind(tch::Kind::Float)?
            .f_to_device(Device::Cpu)?
            .f_mean_dim([1i64].as_slice(), false, tch::Kind::Float)?
            .f_mul_scalar(255.0)?
            .f_round()?
            .f_clamp(0.0, 255.0)?
            .f_to_kind(tch::Kind::Uint8)?
            .f_contiguous()?;
        let pixels = Vec::<u8>::try_from(gray.f_flatten(0, -1)?)?;
        let side = (h * w) as usize;
        let mut rows = Vec::with_capacity(n as usize);
        for i in 0..n as usize {
            let img = image::GrayImage::from_raw(
                w as u32,
                h as u32,
                pixels[i * side..(i + 1) * side].to_vec(),
            )
            .ok_or_else(|| Error::invalid("image buffer of the wrong size"))?;
            let d = imageproc::hog::hog(&img, options).map_err(|e| {
                Error::invalid(format!("HOG of a {h}x{w} image with {self:?}: {e}"))
            })?;
            rows.push(Tensor::from_slice(&d));
        }
        if rows.is_empty() {
            return Ok(Tensor::zeros([0, 0], (tch::Kind::Float, Device::Cpu)));
        }
        Ok(Tensor::f_stack(&rows, 0)?)
    }
}
