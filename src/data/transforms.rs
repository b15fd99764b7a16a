//! Image transforms on batches `[N, C, H, W]`: normalise, resize, crops, flips
//! and pixel jitter. Random ones draw from a seeded [`Rng`] passed in, so an
//! augmentation pipeline is repeatable from its seed.

use crate::check;
use crate::error::{Error, Result};
use crate::runtime::rng::Rng;
use rand::Rng as _;
use tch::{Kind, Tensor};

/// A function of a batch of images `[N, C, H, W]` to another batch.
pub trait Transform: Send + Sync {
    /// Applies the transform. Deterministic transforms ignore `rng`.
    fn apply(&self, images: &Tensor, rng: &mut Rng) -> Result<Tensor>;
}

/// Transforms applied one after another.
pub struct Compose(pub Vec<Box<dyn Transform>>);

impl Transform for Compose {
    fn apply(&self, images: &Tensor, rng: &mut Rng) -> Result<Tensor> {
        let mut x = images.shallow_clone();
        for t in &self.0 {
            x = t.apply(&x, rng)?;
        }
        Ok(x)
    }
}

/// Per-channel standardisation: `(x - mean[c]) / std[c]`.
#[derive(Debug, Clone)]
pub struct Normalize {
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl Normalize {
    /// One mean and one standard deviation per channel; every std must be > 0.
    pub fn new(mean: &[f64], std: &[f64]) -> Result<Self> {
        if mean.is_empty() || mean.len() != std.len() {
            return Err(Error::invalid(format!(
                "Normalize needs one mean and one std per channel, got {} means and {} stds",
                mean.len(),
                std.len()
            )));
        }
        if let Some(s) = std.iter().find(|s| !(**s > 0.0 && s.is_finite())) {
            return Err(Error::invalid(format!(
                "Normalize needs positive finite standard deviations, got {s}"
            )));
        }
        Ok(Normalize {
            mean: mean.to_vec(),
            std: std.to_vec(),
        })
    }

    /// The mean and std of each channel of `images` `[N, C, H, W]`, for
    /// standardising a dataset by its own statistics.
    pub fn fit(images: &Tensor) -> Result<Self> {
        let (n, _, h, w) = check::images(images, "images")?;
        if n * h * w < 2 {
            return Err(Error::invalid(format!(
                "a mean and standard deviation per channel need at least 2 values, got {n} images of {h}x{w}"
            )));
        }
        let x = images.to_kind(Kind::Double);
        let mean = Vec::<f64>::try_from(x.mean_dim([0i64, 2, 3].as_slice(), false, Kind::Double))?;
        let std = Vec::<f64>::try_from(x.std_dim([0i64, 2, 3].as_slice(), false, false))?;
        let std: Vec<f64> = std
            .into_iter()
            .map(|s| if s > 0.0 { s } else { 1.0 })
            .collect();
        Normalize::new(&mean, &std)
    }
}

impl Transform for Normalize {
    fn apply(&self, images: &Tensor, _rng: &mut Rng) -> Result<Tensor> {
        let (_, c, _, _) = check::images(images, "images")?;
        if c != self.mean.len() as i64 {
            return Err(Error::shape(
                "images",
                format!("{} channels (as Normalize was built for)", self.mean.len()),
                format!("{c} channels"),
            ));
        }
        // Float `[N, C, H, W]` with the channels built for (checked above):
        // the broadcasts below cannot fail.
        let opts = (images.kind(), images.device());
        let mean = Tensor::from_slice(&self.mean)
            .to_kind(opts.0)
            .to_device(opts.1)
            .view([1, c, 1, 1]);
        let std = Tensor::from_slice(&self.std)
            .to_kind(opts.0)
            .to_device(opts.1)
            .view([1, c, 1, 1]);
        Ok((images - mean) / std)
    }
}

/// Bilinear resize to `height x width`, antialiased when shrinking (as
/// torchvision's `Resize` does for tensors).
#[derive(Debug, Clone, Copy)]
pub struct Resize {
    /// Output height in pixels.
    pub height: i64,
    /// Output width in pixels.
    pub width: i64,
}

impl Transform for Resize {
    fn apply(&self, images: &Tensor, _rng: &mut Rng) -> Result<Tensor> {
        let (_, _, h, w) = check::images(images, "images")?;
        positive_size(self.height, self.width, "Resize")?;
        if (h, w) == (self.height, self.width) {
            return Ok(images.shallow_clone());
        }
        let size = [self.height, self.width];
        let shrinking = self.height < h || self.width < w;
        Ok(if shrinking {
            images.f_internal_upsample_bilinear2d_aa(size, false, None, None)?
        } else {
            images.f_upsample_bilinear2d(size, false, None, None)?
        })
    }
}

/// The central `height x width` window of each image.
#[derive(Debug, Clone, Copy)]
pub struct CenterCrop {
    /// Output height in pixels.
    pub height: i64,
    /// Output width in pixels.
    pub width: i64,
}

impl Transform for CenterCrop {
    fn apply(&self, images: &Tensor, _rng: &mut Rng) -> Result<Tensor> {
        let (_, _, h, w) = check::images(images, "images")?;
        positive_size(self.height, self.width, "CenterCrop")?;
        fits(self.height, self.width, h, w, "CenterCrop")?;
        // The window fits (checked above): the narrows cannot fail.
        Ok(images.narrow(2, (h - self.height) / 2, self.height).narrow(
            3,
            (w - self.width) / 2,
            self.width,
        ))
    }
}

/// A random `height x width` window of each image (its own position per
/// image), after zero-padding every side by `padding` pixels.
#[derive(Debug, Clone, Copy)]
pub struct RandomCrop {
    /// Output height in pixels.
    pub height: i64,
    /// Output width in pixels.
    pub width: i64,
    /// Zero padding added on each side before cropping.
    pub padding: i64,
}

impl Transform for RandomCrop {
    fn apply(&self, images: &Tensor, rng: &mut Rng) -> Result<Tensor> {
        check::images(images, "images")?;
        positive_size(self.height, self.width, "RandomCrop")?;
        if self.padding < 0 {
            return Err(Error::invalid(format!(
                "RandomCrop padding must be >= 0, got {}",
                self.padding
            )));
        }
        let p = self.padding;
        let padded = images.f_constant_pad_nd([p, p, p, p])?;
        let (n, _, h, w) = check::images(&padded, "images")?;
        fits(self.height, self.width, h, w, "RandomCrop")?;
        // Each window lies inside the padded image (drawn within the room
        // checked above): the narrows cannot fail.
        let crops: Vec<Tensor> = (0..n)
            .map(|i| {
                let top = rng.gen_range(0..=h - self.height);
                let left = rng.gen_range(0..=w - self.width);
                padded
                    .get(i)
                    .narrow(1, top, self.height)
                    .narrow(2, left, self.width)
            })
            .collect();
        Ok(stack_or_empty(&crops, images, self.height, self.width))
    }
}

/// Pixel jitter: each image moved by a random whole number of pixels in
/// `-max_shift..=max_shift` along each axis, the uncovered border filled with
/// zeros; the image size is unchanged. Hinton et al.'s "2 px jitter" is
/// `Jitter { max_shift: 2 }`.
#[derive(Debug, Clone, Copy)]
pub struct Jitter {
    /// Largest shift in pixels, each direction.
    pub max_shift: i64,
}

impl Transform for Jitter {
    fn apply(&self, images: &Tensor, rng: &mut Rng) -> Result<Tensor> {
        let (_, _, h, w) = check::images(images, "images")?;
        if self.max_shift < 0 {
            return Err(Error::invalid(format!(
                "Jitter max_shift must be >= 0, got {}",
                self.max_shift
            )));
        }
        if self.max_shift >= h.min(w) {
            return Err(Error::invalid(format!(
                "Jitter max_shift {} would shift {h}x{w} images out of their frame: use less than {}",
                self.max_shift,
                h.min(w)
            )));
        }
        RandomCrop {
            height: h,
            width: w,
            padding: self.max_shift,
        }
        .apply(images, rng)
    }
}

/// Left-right mirror of each image with probability `p`.
#[derive(Debug, Clone, Copy)]
pub struct RandomFlip {
    /// Probability of flipping each image, in [0, 1].
    pub p: f64,
}

impl Transform for RandomFlip {
    fn apply(&self, images: &Tensor, rng: &mut Rng) -> Result<Tensor> {
        let (n, _, _, _) = check::images(images, "images")?;
        if !(0.0..=1.0).contains(&self.p) {
            return Err(Error::invalid(format!(
                "RandomFlip probability must be in [0, 1], got {}",
                self.p
            )));
        }
        // A mask `[N, 1, 1, 1]` of the images' own batch size and device:
        // the selection cannot fail.
        let flips: Vec<bool> = (0..n).map(|_| rng.gen_bool(self.p)).collect();
        let mask = Tensor::from_slice(&flips)
            .to_device(images.device())
            .view([n, 1, 1, 1]);
        Ok(images.flip([3]).where_self(&mask, images))
    }
}

fn positive_size(h: i64, w: i64, what: &str) -> Result<()> {
    if h > 0 && w > 0 {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{what} needs a positive output size, got {h}x{w}"
        )))
    }
}

fn fits(h: i64, w: i64, in_h: i64, in_w: i64, what: &str) -> Result<()> {
    if h <= in_h && w <= in_w {
        Ok(())
    } else {
        Err(Error::shape(
            "images",
            format!("at least {h}x{w} pixels for {what}"),
            format!("{in_h}x{in_w}"),
        ))
    }
}

/// The crops `[C, h, w]` of one batch `like` (`[N, C, H, W]`) as `[N, C, h,
/// w]`; all crops share a shape, so the stacking cannot fail.
fn stack_or_empty(parts: &[Tensor], like: &Tensor, h: i64, w: i64) -> Tensor {
    if parts.is_empty() {
        let c = like.size()[1];
        Tensor::zeros([0, c, h, w], (like.kind(), like.device()))
    } else {
        Tensor::stack(parts, 0)
    }
}
