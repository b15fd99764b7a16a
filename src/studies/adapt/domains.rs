//! Source and target domains built from the data we have: MNIST-M (digits
//! over colour photo crops, as Ganin et al.), a USPS-like target from the
//! 8x8 digits, and Fashion-M (the same blend on Fashion-MNIST). Each is a
//! seeded function of the catalog's files, built in about a second, so it
//! is rebuilt rather than stored: the same seed gives the same images on
//! every machine.

use crate::data::{self, Dataset, Split};
use crate::error::{Error, Result};
use crate::runtime::rng::seeded;
use rand::Rng;
use tch::{Device, Kind, Tensor};

/// The colour photos of the catalog that are natural scenes (not charts,
/// text or microscopy), the backgrounds of MNIST-M.
pub const NATURAL_PHOTOS: [&str; 8] = [
    "astronaut",
    "chelsea",
    "coffee",
    "china",
    "flower",
    "motorcycle_left",
    "motorcycle_right",
    "rocket",
];

/// `n` random `size` x `size` crops `[n, 3, size, size]` of the RGB photos
/// named (each crop from a photo drawn at random, at a random position),
/// from `seed`. A photo smaller than the crop, or not in colour, is an
/// error.
pub fn photo_crops(photos: &[&str], n: usize, size: i64, seed: u64) -> Result<Tensor> {
    if photos.is_empty() || size < 1 {
        return Err(Error::invalid(format!(
            "photo crops need at least one photo and a size >= 1, got {} photos and size {size}",
            photos.len()
        )));
    }
    let images: Vec<Tensor> = photos
        .iter()
        .map(|p| data::image(p))
        .collect::<Result<_>>()?;
    for (name, img) in photos.iter().zip(&images) {
        let s = img.size();
        if s[0] != 3 || s[1] < size || s[2] < size {
            return Err(Error::shape(
                format!("photo '{name}'"),
                format!("an RGB photo of at least {size}x{size} pixels"),
                crate::check::shape_str(&s),
            ));
        }
    }
    let mut rng = seeded(seed);
    let crops = (0..n)
        .map(|_| {
            let img = &images[rng.gen_range(0..images.len())];
            let (h, w) = (img.size()[1], img.size()[2]);
            let (top, left) = (rng.gen_range(0..=h - size), rng.gen_range(0..=w - size));
            img.f_narrow(1, top, size)?.f_narrow(2, left, size)
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    if crops.is_empty() {
        return Ok(Tensor::zeros(
            [0, 3, size, size],
            (Kind::Float, Device::Cpu),
        ));
    }
    Ok(Tensor::f_stack(&crops, 0)?)
}

/// Ganin et al.'s blend: `|crop - image|` per channel, for gray images
/// `[N, 1, H, W]` in [0, 1] over crops `[N, 3, H, W]`: the digit's strokes
/// invert the photo's colours, the background keeps them.
pub fn blend(images: &Tensor, crops: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = crate::check::images(images, "images")?;
    if c != 1 || crops.size() != [n, 3, h, w] {
        return Err(Error::shape(
            "crops",
            format!("[{n}, 3, {h}, {w}] for gray images [{n}, 1, {h}, {w}]"),
            format!(
                "{} for images {}",
                crate::check::shape_str(&crops.size()),
                crate::check::shape_str(&images.size())
            ),
        ));
    }
    crate::check::floating(crops, "crops")?;
    Ok(crops
        .f_to_kind(Kind::Float)?
        .f_sub(&images.f_to_kind(Kind::Float)?)?
        .f_abs()?)
}

/// A gray dataset blended over crops of the natural photos, both splits,
/// from `seed`; labels and classes kept.
pub fn blended_with_photos(data: &Dataset, photos: &[&str], seed: u64) -> Result<Dataset> {
    let [c, h, w] = data.train.image_shape();
    if c != 1 || h != w {
        return Err(Error::invalid(format!(
            "'{}' must have square gray images to blend over photos, has [{c}, {h}, {w}]",
            data.name
        )));
    }
    let over = |split: &Split, seed: u64| -> Result<Split> {
        let crops = photo_crops(photos, split.len(), h, seed)?;
        Split::new(
            blend(split.images(), &crops)?,
            split.labels().shallow_clone(),
        )
    };
    Dataset::new(
        format!("{}-M (seed {seed})", data.name),
        over(&data.train, seed)?,
        over(&data.test, seed ^ 0x7E57)?,
        data.classes.clone(),
    )
}

/// A gray dataset with its channel repeated three times: a source domain
/// that a colour target's network can take.
pub fn as_rgb(data: &Dataset) -> Result<Dataset> {
    let rgb = |s: &Split| -> Result<Split> {
        Split::new(
            s.images().f_repeat([1, 3, 1, 1])?,
            s.labels().shallow_clone(),
        )
    };
    if data.train.image_shape()[0] != 1 {
        return Err(Error::invalid(format!(
            "'{}' is not gray: it has {} channels",
            data.name,
            data.train.image_shape()[0]
        )));
    }
    Dataset::new(
        format!("{} (RGB)", data.name),
        rgb(&data.train)?,
        rgb(&data.test)?,
        data.classes.clone(),
    )
}

/// MNIST-M from the 5,000-image MNIST subset: each digit over a colour
/// crop of [`NATURAL_PHOTOS`], `[N, 3, 28, 28]`.
pub fn mnist_m(seed: u64) -> Result<Dataset> {
    blended_with_photos(&data::mnist_subset()?, &NATURAL_PHOTOS, seed)
}

/// Fashion-M: Fashion-MNIST over the same photo crops, a shifted
/// Fashion-MNIST domain.
pub fn fashion_m(seed: u64) -> Result<Dataset> {
    blended_with_photos(&data::fashion_mnist()?, &NATURAL_PHOTOS, seed)
}

/// A USPS-like target for MNIST: the 8x8 digits brought to 28x28 by
/// bilinear interpolation (USPS's 16x16 digits fill their frame, thick and
/// blurred, as these do next to MNIST's centred 20x20 strokes).
pub fn usps_like() -> Result<Dataset> {
    let digits = data::digits()?;
    let resized = digits.resized(28, 28)?;
    Dataset::new(
        "usps-like digits (8x8 to 28x28)",
        resized.train,
        resized.test,
        resized.classes,
    )
}
