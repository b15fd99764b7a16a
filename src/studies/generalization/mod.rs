//! Generalisation experiments (Zhang, Bengio, Hardt, Recht & Vinyals 2017,
//! "Understanding deep learning requires rethinking generalization"): the
//! randomisation tests that show a network can fit data with no structure
//! left to learn.
//!
//! [`Randomization`] turns a [`Dataset`] into one of the paper's variants,
//! seeded. Labels are corrupted in the training split only (the test split
//! keeps the true labels, so test error measures generalisation); pixel
//! randomisations are applied to both splits, as in the paper.

use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::runtime::rng::with_torch_seed;
use tch::{Kind, Tensor};

/// One of the paper's randomisation tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Randomization {
    /// The data as it is.
    TrueLabels,
    /// Each training label independently replaced, with probability `p`,
    /// by a class drawn uniformly (which may be the true one).
    CorruptLabels(f64),
    /// One random permutation of the pixel positions, the same for every
    /// image of both splits (channels of a pixel move together).
    ShuffledPixels,
    /// A new random permutation of the pixel positions for each image.
    RandomPixels,
    /// Every image replaced by Gaussian noise with the per-channel mean and
    /// standard deviation of the training images.
    GaussianInputs,
}

impl Randomization {
    /// The five settings of the paper's Fig. 1a, in its order.
    pub fn paper_settings() -> [Randomization; 5] {
        [
            Randomization::TrueLabels,
            Randomization::random_labels(),
            Randomization::ShuffledPixels,
            Randomization::RandomPixels,
            Randomization::GaussianInputs,
        ]
    }

    /// Every label random: `CorruptLabels(1.0)`.
    pub fn random_labels() -> Self {
        Randomization::CorruptLabels(1.0)
    }

    /// A short name for legends and tables ("true labels", "corrupt 40%", ...).
    pub fn name(&self) -> String {
        match self {
            Randomization::TrueLabels => "true labels".into(),
            Randomization::CorruptLabels(p) if *p >= 1.0 => "random labels".into(),
            Randomization::CorruptLabels(p) => format!("labels {:.0}% corrupt", 100.0 * p),
            Randomization::ShuffledPixels => "shuffled pixels".into(),
            Randomization::RandomPixels => "random pixels".into(),
            Randomization::GaussianInputs => "Gaussian".into(),
        }
    }

    /// `data` randomised this way, drawn from `seed`.
    pub fn apply(&self, data: &Dataset, seed: u64) -> Result<Dataset> {
        data.validate()?;
        let k = data.num_classes();
        let (train, test) = match *self {
            Randomization::TrueLabels => (data.train.clone(), data.test.clone()),
            Randomization::CorruptLabels(p) => {
                if !(0.0..=1.0).contains(&p) {
                    return Err(Error::invalid(format!(
                        "the corruption probability must be in [0, 1], got {p}"
                    )));
                }
                let labels = corrupt_labels(data.train.labels(), p, k, seed);
                (
                    Split::new(data.train.images().shallow_clone(), labels)?,
                    data.test.clone(),
                )
            }
            Randomization::ShuffledPixels => {
                let [_, h, w] = data.train.image_shape();
                let perm = with_torch_seed(seed, || {
                    Tensor::randperm(h * w, (Kind::Int64, data.train.images().device()))
                });
                let shuffle = |s: &Split| -> Result<Split> {
                    let x = s.images();
                    let size = x.size();
                    // The splits' fields are public, so the test images may
                    // not share the train images' size: checked forms.
                    let flat = x.f_reshape([size[0], size[1], h * w])?;
                    let moved = flat
                        .f_index_select(2, &perm.f_to_device(x.device())?)?
                        .f_reshape(size.as_slice())?;
                    Split::new(moved, s.labels().shallow_clone())
                };
                (shuffle(&data.train)?, shuffle(&data.test)?)
            }
            Randomization::RandomPixels => {
                let per_image = |s: &Split, stream: u64| -> Result<Split> {
                    let x = s.images();
                    let size = x.size();
                    let (n, c, hw) = (size[0], size[1], size[2] * size[3]);
                    // One permutation per image: the argsort of uniform keys.
                    let perm = with_torch_seed(seed ^ stream, || {
                        Tensor::rand([n, 1, hw], (Kind::Float, x.device())).argsort(2, false)
                    });
                    // `perm` is made for this split's `[N, C, H, W]`: the
                    // gather cannot fail.
                    let moved = x
                        .reshape([n, c, hw])
                        .gather(2, &perm.expand([n, c, hw], false), false)
                        .reshape(size.as_slice());
                    Split::new(moved, s.labels().shallow_clone())
                };
                (per_image(&data.train, 1)?, per_image(&data.test, 2)?)
            }
            Randomization::GaussianInputs => {
                let x = data.train.images();
                if data.train.is_empty() {
                    return Err(Error::invalid(
                        "Gaussian inputs need training images to take the statistics of",
                    ));
                }
                let c = x.size()[1];
                let flat = x.transpose(0, 1).reshape([c, -1]).to_kind(Kind::Double);
                let mean = flat
                    .mean_dim(1, false, Kind::Double)
                    .to_kind(x.kind())
                    .reshape([1, c, 1, 1]);
                let std = flat
                    .std_dim(1, false, false)
                    .to_kind(x.kind())
                    .reshape([1, c, 1, 1]);
                // The statistics `[1, C, 1, 1]` of a split `[N, C, H, W]`
                // (images are float: `Split::new` checks): the reductions
                // above cannot fail; the test split may have other channels.
                let noise = |s: &Split, stream: u64| -> Result<Split> {
                    let z = with_torch_seed(seed ^ stream, || s.images().randn_like());
                    Split::new(z.f_mul(&std)?.f_add(&mean)?, s.labels().shallow_clone())
                };
                (noise(&data.train, 1)?, noise(&data.test, 2)?)
            }
        };
        Dataset::new(
            format!("{} ({})", data.name, self.name()),
            train,
            test,
            data.classes.clone(),
        )
    }
}

/// `labels` with each replaced, with probability `p`, by a uniform class of
/// `0..classes`.
/// `labels` are a split's `[N]` Int64 (checked by `Split::new`): the
/// selection below cannot fail.
fn corrupt_labels(labels: &Tensor, p: f64, classes: i64, seed: u64) -> Tensor {
    with_torch_seed(seed, || {
        let n = labels.size()[0];
        let device = labels.device();
        let hit = Tensor::rand([n], (Kind::Float, device)).lt(p);
        let random = Tensor::randint(classes, [n], (Kind::Int64, device));
        random.where_self(&hit, &labels.to_kind(Kind::Int64))
    })
}

/// The fraction of `labels` that differ from `original` (what a corruption
/// actually changed: about `p * (K - 1) / K` for `CorruptLabels(p)`).
pub fn changed_fraction(labels: &Tensor, original: &Tensor) -> Result<f64> {
    if labels.size() != original.size() {
        return Err(Error::shape(
            "labels",
            format!("the original's shape {:?}", original.size()),
            format!("{:?}", labels.size()),
        ));
    }
    if labels.numel() == 0 {
        return Ok(0.0);
    }
    Ok(labels
        .f_ne_tensor(&original.f_to_device(labels.device())?)?
        .f_to_kind(Kind::Double)?
        .f_mean(Kind::Double)?
        .f_double_value(&[])?)
}
