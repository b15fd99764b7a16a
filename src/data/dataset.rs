//! The `Dataset` value: train and test splits of images `[N, C, H, W]` f32 and
//! labels `[N]` i64, with class names, and seeded mini-batches over a split.

use crate::check;
use crate::data::transforms::{Resize, Transform};
use crate::error::{Error, Result};
use crate::runtime::rng::{seeded, seeded_stream};
use rand::seq::SliceRandom;
use tch::{Device, Kind, Tensor};

/// One part of a dataset: images `[N, C, H, W]` f32 and labels `[N]` i64.
/// The fields are private so that every `Split` has passed the checks of
/// [`Split::new`]: images and labels that fit together.
#[derive(Debug)]
pub struct Split {
    images: Tensor,
    labels: Tensor,
}

impl Clone for Split {
    fn clone(&self) -> Self {
        Split {
            images: self.images.shallow_clone(),
            labels: self.labels.shallow_clone(),
        }
    }
}

/// The order in which [`Split::batches`] visits examples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// In storage order (for evaluation).
    Sequential,
    /// A permutation drawn from `seed` and `epoch`: the same pair always gives
    /// the same order, and each epoch of one seed gives a different one.
    Shuffled {
        /// The run's seed.
        seed: u64,
        /// The epoch (or any other stream number).
        epoch: u64,
    },
}

impl Split {
    /// A split from images `[N, C, H, W]` (floating point) and labels `[N]`
    /// (i64); checks that they fit together.
    pub fn new(images: Tensor, labels: Tensor) -> Result<Self> {
        check::defined(&images, "images")?;
        check::defined(&labels, "labels")?;
        let (n, ..) = check::images(&images, "images")?;
        check::labels(&labels, n, "labels")?;
        if n > 0 && labels.f_min()?.f_int64_value(&[])? < 0 {
            return Err(Error::invalid(format!(
                "labels are class indices 0, 1, ...; got {}",
                labels.f_min()?.f_int64_value(&[])?
            )));
        }
        if images.device() != labels.device() {
            return Err(Error::shape(
                "labels",
                format!("labels on the images' device {:?}", images.device()),
                format!("{:?}", labels.device()),
            ));
        }
        Ok(Split { images, labels })
    }

    /// Images `[N, C, H, W]`, f32, usually in [0, 1].
    pub fn images(&self) -> &Tensor {
        &self.images
    }

    /// Class indices `[N]`, i64.
    pub fn labels(&self) -> &Tensor {
        &self.labels
    }

    /// The images and labels, taken apart.
    pub fn into_parts(self) -> (Tensor, Tensor) {
        (self.images, self.labels)
    }

    /// An empty split with images of shape `[0, C, H, W]` (each at least 1).
    pub fn empty(channels: i64, height: i64, width: i64) -> Result<Self> {
        if channels < 1 || height < 1 || width < 1 {
            return Err(Error::invalid(format!(
                "an empty split still has an image shape [C, H, W] of positive sizes, got [{channels}, {height}, {width}]"
            )));
        }
        Ok(Split {
            images: Tensor::zeros([0, channels, height, width], (Kind::Float, Device::Cpu)),
            labels: Tensor::zeros([0], (Kind::Int64, Device::Cpu)),
        })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.size()[0] as usize
    }

    /// Whether the split has no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shape of one image, `[C, H, W]`.
    pub fn image_shape(&self) -> [i64; 3] {
        let s = self.images.size();
        [s[1], s[2], s[3]]
    }

    /// How many examples of each class `0..num_classes`.
    pub fn class_counts(&self, num_classes: i64) -> Result<Vec<i64>> {
        if num_classes <= 0 {
            return Err(Error::invalid("class count must be positive"));
        }
        if !self.is_empty() {
            let hi = self.labels.f_max()?.f_int64_value(&[])?;
            if hi >= num_classes {
                return Err(Error::invalid(format!(
                    "label {hi} is beyond the {num_classes} classes 0..{num_classes}"
                )));
            }
        }
        let counts = self
            .labels
            .to_device(Device::Cpu)
            .f_bincount::<Tensor>(None, num_classes)?;
        Ok(Vec::<i64>::try_from(&counts)?)
    }

    /// The examples at `indices` (any order, repeats allowed).
    pub fn select(&self, indices: &[i64]) -> Result<Split> {
        let n = self.len() as i64;
        if let Some(bad) = indices.iter().find(|&&i| i < 0 || i >= n) {
            return Err(Error::invalid(format!(
                "index {bad} out of range for a split of {n} examples"
            )));
        }
        let idx = Tensor::from_slice(indices).to_device(self.images.device());
        Ok(Split {
            images: self.images.index_select(0, &idx),
            labels: self.labels.index_select(0, &idx),
        })
    }

    /// The first `k` examples of each class in a seeded shuffle: a balanced
    /// few-shot subset (e.g. 1, 5, 10 or 50 per class). Fails if a class has
    /// fewer than `k` examples.
    pub fn take_per_class(&self, k: usize, num_classes: i64, seed: u64) -> Result<Split> {
        let by_class = self.indices_by_class(num_classes)?;
        let mut rng = seeded(seed);
        let mut chosen = Vec::with_capacity(k * by_class.len());
        for (class, mut idx) in by_class.into_iter().enumerate() {
            if idx.len() < k {
                return Err(Error::invalid(format!(
                    "class {class} has {} examples, fewer than the {k} asked for",
                    idx.len()
                )));
            }
            idx.shuffle(&mut rng);
            chosen.extend_from_slice(&idx[..k]);
        }
        chosen.sort_unstable();
        self.select(&chosen)
    }

    fn indices_by_class(&self, num_classes: i64) -> Result<Vec<Vec<i64>>> {
        if num_classes <= 0 {
            return Err(Error::invalid("class count must be positive"));
        }
        let labels = Vec::<i64>::try_from(&self.labels.to_device(Device::Cpu))?;
        let mut by_class = vec![Vec::new(); num_classes as usize];
        for (i, &y) in labels.iter().enumerate() {
            let slot = by_class
                .get_mut(y as usize)
                .ok_or_else(|| Error::invalid(format!("label {y} outside 0..{num_classes}")))?;
            slot.push(i as i64);
        }
        Ok(by_class)
    }

    /// This split on `device`.
    pub fn to_device(&self, device: Device) -> Split {
        Split {
            images: self.images.to_device(device),
            labels: self.labels.to_device(device),
        }
    }

    /// Mini-batches of `batch_size` examples in `order`. The last batch is
    /// smaller when `batch_size` does not divide the split, unless `drop_last`.
    pub fn batches(&self, batch_size: usize, order: Order, drop_last: bool) -> Result<Batches> {
        if batch_size == 0 {
            return Err(Error::invalid("batch size must be at least 1"));
        }
        let n = self.len();
        let mut order_idx = order.positions(n);
        let end = if drop_last { n - n % batch_size } else { n };
        order_idx.truncate(end);
        Ok(Batches {
            split: self.clone(),
            order: order_idx,
            batch_size,
            pos: 0,
        })
    }

    /// The images and labels at positions `idx` (each in `0..len`, which
    /// the caller guarantees): a view when the positions are consecutive,
    /// a gathered copy otherwise.
    pub(crate) fn gather(&self, idx: &[i64]) -> (Tensor, Tensor) {
        let contiguous = idx.windows(2).all(|w| w[1] == w[0] + 1);
        if contiguous && !idx.is_empty() {
            let (start, len) = (idx[0], idx.len() as i64);
            (
                self.images.narrow(0, start, len),
                self.labels.narrow(0, start, len),
            )
        } else {
            let t = Tensor::from_slice(idx).to_device(self.images.device());
            (
                self.images.index_select(0, &t),
                self.labels.index_select(0, &t),
            )
        }
    }
}

impl Order {
    /// The visiting order of `n` examples: `0..n`, or the permutation that
    /// `(seed, epoch)` fixes.
    pub fn positions(&self, n: usize) -> Vec<i64> {
        let mut idx: Vec<i64> = (0..n as i64).collect();
        if let Order::Shuffled { seed, epoch } = *self {
            idx.shuffle(&mut seeded_stream(seed, epoch));
        }
        idx
    }
}

/// An iterator of `(images [B, C, H, W], labels [B])` mini-batches.
pub struct Batches {
    split: Split,
    order: Vec<i64>,
    batch_size: usize,
    pos: usize,
}

impl Batches {
    /// Number of batches this iterator yields in all.
    pub fn num_batches(&self) -> usize {
        self.order.len().div_ceil(self.batch_size)
    }
}

impl Iterator for Batches {
    type Item = (Tensor, Tensor);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.order.len() {
            return None;
        }
        let end = (self.pos + self.batch_size).min(self.order.len());
        // Positions come from a permutation of 0..len.
        let batch = self.split.gather(&self.order[self.pos..end]);
        self.pos = end;
        Some(batch)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.order.len() - self.pos).div_ceil(self.batch_size);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Batches {}

/// A labelled image dataset: a train and a test split and the class names.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Catalog name, e.g. "fashion-mnist".
    pub name: String,
    /// Training examples.
    pub train: Split,
    /// Held-out test examples.
    pub test: Split,
    /// Class names; label `i` is `classes[i]`.
    pub classes: Vec<String>,
}

impl Dataset {
    /// A dataset from two splits; checks that their images have one shape and
    /// their labels lie in `0..classes.len()`.
    pub fn new(
        name: impl Into<String>,
        train: Split,
        test: Split,
        classes: Vec<String>,
    ) -> Result<Self> {
        let data = Dataset {
            name: name.into(),
            train,
            test,
            classes,
        };
        data.validate()?;
        Ok(data)
    }

    /// Checks what [`Dataset::new`] promises: at least one class name, one
    /// image shape for both splits, every label a class index. The fields
    /// are public, so code that relies on these (a probe, a randomisation)
    /// checks again.
    pub fn validate(&self) -> Result<()> {
        let (train, test, classes) = (&self.train, &self.test, &self.classes);
        if classes.is_empty() {
            return Err(Error::invalid("a dataset needs at least one class name"));
        }
        // An empty split has an image shape too, and `all()` joins the two.
        if train.image_shape() != test.image_shape() {
            return Err(Error::shape(
                "test images",
                format!(
                    "the train images' shape {}",
                    check::shape_str(&train.image_shape())
                ),
                check::shape_str(&test.image_shape()),
            ));
        }
        let k = classes.len() as i64;
        for (what, split) in [("train", train), ("test", test)] {
            if split.is_empty() {
                continue;
            }
            let hi = i64::try_from(split.labels.max())?;
            let lo = i64::try_from(split.labels.min())?;
            if lo < 0 || hi >= k {
                return Err(Error::invalid(format!(
                    "{what} labels range over {lo}..={hi}, but there are {k} class names"
                )));
            }
        }
        Ok(())
    }

    /// Splits one set of examples into train and test, per class, so that each
    /// class keeps its proportion: `round(test_fraction * n_c)` examples of
    /// class `c` go to the test split, chosen by a seeded shuffle.
    pub fn stratified(
        name: impl Into<String>,
        all: Split,
        classes: Vec<String>,
        test_fraction: f64,
        seed: u64,
    ) -> Result<Self> {
        if !(0.0..1.0).contains(&test_fraction) {
            return Err(Error::invalid(format!(
                "test fraction must be in [0, 1), got {test_fraction}"
            )));
        }
        let by_class = all.indices_by_class(classes.len() as i64)?;
        let mut rng = seeded(seed);
        let (mut train, mut test) = (Vec::new(), Vec::new());
        for mut idx in by_class {
            idx.shuffle(&mut rng);
            let k = (test_fraction * idx.len() as f64).round() as usize;
            test.extend_from_slice(&idx[..k]);
            train.extend_from_slice(&idx[k..]);
        }
        train.sort_unstable();
        test.sort_unstable();
        Dataset::new(name, all.select(&train)?, all.select(&test)?, classes)
    }

    /// A balanced subset: `train_per_class` training and `test_per_class`
    /// test examples of each class (fewer if the smallest class has fewer),
    /// chosen by a seeded shuffle. Quick versions of experiments use it.
    pub fn balanced_subset(
        &self,
        train_per_class: usize,
        test_per_class: usize,
        seed: u64,
    ) -> Result<Dataset> {
        let k = self.num_classes();
        let take = |split: &Split, n: usize| -> Result<Split> {
            let have = split.class_counts(k)?.into_iter().min().unwrap_or(0) as usize;
            split.take_per_class(n.min(have), k, seed)
        };
        Dataset::new(
            self.name.clone(),
            take(&self.train, train_per_class)?,
            take(&self.test, test_per_class)?,
            self.classes.clone(),
        )
    }

    /// Both splits with `transform` applied to every image (a deterministic
    /// one: resizing, cropping, normalising), named `name`; labels and
    /// classes kept. Random transforms draw from a generator seeded 0.
    pub fn map_images(
        &self,
        name: impl Into<String>,
        transform: &dyn Transform,
    ) -> Result<Dataset> {
        let mut rng = crate::runtime::rng::seeded(0);
        let mut apply = |split: &Split| -> Result<Split> {
            if split.is_empty() {
                // The output shape, from one blank image: some transforms
                // (resizing) refuse an empty batch.
                let [c, h, w] = split.image_shape();
                let probe = Tensor::zeros([1, c, h, w], (Kind::Float, split.images.device()));
                let out = transform.apply(&probe, &mut rng)?;
                let (_, c, h, w) = check::images(&out, "transformed images")?;
                return Split::empty(c, h, w);
            }
            Split::new(
                transform.apply(&split.images, &mut rng)?,
                split.labels.shallow_clone(),
            )
        };
        let (train, test) = (apply(&self.train)?, apply(&self.test)?);
        Dataset::new(name, train, test, self.classes.clone())
    }

    /// Both splits' images resized to `height x width` (bilinear,
    /// antialiased when shrinking: [`Resize`]), e.g. 28x28 digits for a
    /// net that takes 64x64. Named `"<name>-<height>x<width>"`.
    pub fn resized(&self, height: i64, width: i64) -> Result<Dataset> {
        self.map_images(
            format!("{}-{height}x{width}", self.name),
            &Resize { height, width },
        )
    }

    /// The examples of the classes in `keep` only, relabelled by their
    /// position in `keep` (`keep[0]` becomes 0, ...), with the class names
    /// to match: a task made of some of a dataset's classes (Yosinski's
    /// halves A and B, a source task and a new task for transfer). Named
    /// `"<name> [<kept class names>]"`. Fails on an empty `keep`, a class
    /// outside `0..num_classes()` or a class given twice.
    pub fn with_classes(&self, keep: &[i64]) -> Result<Dataset> {
        let k = self.num_classes();
        if keep.is_empty() {
            return Err(Error::invalid(
                "with_classes: no class to keep (expected at least one of 0..num_classes)",
            ));
        }
        let mut new_label = vec![-1i64; k as usize];
        for (position, &class) in keep.iter().enumerate() {
            if class < 0 || class >= k {
                return Err(Error::invalid(format!(
                    "with_classes: class {class} is outside the dataset's {k} classes 0..{k}"
                )));
            }
            if new_label[class as usize] >= 0 {
                return Err(Error::invalid(format!(
                    "with_classes: class {class} is given twice"
                )));
            }
            new_label[class as usize] = position as i64;
        }
        let keep_split = |split: &Split| -> Result<Split> {
            // Labels lie in 0..k: `Dataset::new` checked them.
            let labels = Vec::<i64>::try_from(&split.labels.f_to_device(Device::Cpu)?)?;
            let rows: Vec<i64> = (0..labels.len() as i64)
                .filter(|&i| new_label[labels[i as usize] as usize] >= 0)
                .collect();
            let relabelled: Vec<i64> = rows
                .iter()
                .map(|&i| new_label[labels[i as usize] as usize])
                .collect();
            let kept = split.select(&rows)?;
            Split::new(
                kept.images,
                Tensor::from_slice(&relabelled).f_to_device(split.labels.device())?,
            )
        };
        let classes: Vec<String> = keep
            .iter()
            .map(|&c| self.classes[c as usize].clone())
            .collect();
        Dataset::new(
            format!("{} [{}]", self.name, classes.join(", ")),
            keep_split(&self.train)?,
            keep_split(&self.test)?,
            classes,
        )
    }

    /// Number of classes.
    pub fn num_classes(&self) -> i64 {
        self.classes.len() as i64
    }

    /// Number of examples in both splits together.
    pub fn len(&self) -> usize {
        self.train.len() + self.test.len()
    }

    /// Whether both splits are empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Train and test together, train first. Checks the splits again (see
    /// [`Dataset::validate`]): images of two sizes cannot be joined.
    pub fn all(&self) -> Result<Split> {
        self.validate()?;
        Ok(Split {
            images: Tensor::f_cat(&[&self.train.images, &self.test.images], 0)?,
            labels: Tensor::f_cat(&[&self.train.labels, &self.test.labels], 0)?,
        })
    }

    /// This dataset on `device`.
    pub fn to_device(&self, device: Device) -> Dataset {
        Dataset {
            name: self.name.clone(),
            train: self.train.to_device(device),
            test: self.test.to_device(device),
            classes: self.classes.clone(),
        }
    }
}
