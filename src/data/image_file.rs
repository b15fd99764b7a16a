//! Image files (PNG, JPEG) to and from tensors, through the `image` crate.

use crate::check;
use crate::error::{Error, Result};
use image::{DynamicImage, ImageReader};
use std::path::Path;
use tch::{Kind, Tensor};

/// How many channels to load an image with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channels {
    /// As stored: 1 for grayscale, 3 for colour (alpha is dropped).
    Auto,
    /// Grayscale, 1 channel (colour images are converted to luma).
    Gray,
    /// Colour, 3 channels (grayscale images are repeated).
    Rgb,
}

/// Loads a PNG or JPEG file as a tensor `[C, H, W]` f32 in [0, 1].
///
/// 16-bit images keep their precision. The error names the file and whether
/// it could not be read or not decoded.
pub fn load_image(path: impl AsRef<Path>, channels: Channels) -> Result<Tensor> {
    let path = path.as_ref();
    let reader = ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    let img = reader
        .decode()
        .map_err(|e| Error::corrupt(path, format!("cannot decode image: {e}")))?;
    Ok(image_to_tensor(&img, channels))
}

/// Converts a decoded image to `[C, H, W]` f32 in [0, 1].
pub fn image_to_tensor(img: &DynamicImage, channels: Channels) -> Tensor {
    let gray = match channels {
        Channels::Gray => true,
        Channels::Rgb => false,
        Channels::Auto => !img.color().has_color(),
    };
    let (w, h) = (img.width() as i64, img.height() as i64);
    let (data, c) = if gray {
        (img.to_luma32f().into_raw(), 1)
    } else {
        (img.to_rgb32f().into_raw(), 3)
    };
    // The decoder's `h * w * c` values: the reshape cannot fail.
    Tensor::from_slice(&data)
        .reshape([h, w, c])
        .permute([2, 0, 1])
        .contiguous()
}

/// Converts `[C, H, W]` (C = 1 or 3) floats in [0, 1] to an 8-bit image;
/// values outside [0, 1] are clamped.
pub fn tensor_to_image(t: &Tensor) -> Result<DynamicImage> {
    check::floating(t, "image")?;
    let size = t.size();
    let [c, h, w] = size[..] else {
        return Err(Error::shape(
            "image",
            "[C, H, W] with C = 1 or 3",
            check::shape_str(&size),
        ));
    };
    if c != 1 && c != 3 {
        return Err(Error::shape(
            "image",
            "1 (gray) or 3 (RGB) channels",
            format!("{c} channels"),
        ));
    }
    // A float `[1 or 3, H, W]` (checked above): the conversion cannot fail.
    let bytes: Vec<u8> = Vec::<u8>::try_from(
        (t.to_device(tch::Device::Cpu)
            .to_kind(Kind::Float)
            .clamp(0.0, 1.0)
            * 255.0)
            .round()
            .to_kind(Kind::Uint8)
            .permute([1, 2, 0])
            .contiguous()
            .flatten(0, -1),
    )?;
    let (w, h) = (w as u32, h as u32);
    let img = if c == 1 {
        image::GrayImage::from_raw(w, h, bytes).map(DynamicImage::ImageLuma8)
    } else {
        image::RgbImage::from_raw(w, h, bytes).map(DynamicImage::ImageRgb8)
    };
    img.ok_or_else(|| Error::invalid("image buffer does not match its size"))
}

/// Saves `[C, H, W]` floats in [0, 1] as a PNG or JPEG (by the file extension).
pub fn save_image(t: &Tensor, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let img = tensor_to_image(t)?;
    img.save(path).map_err(|e| match e {
        image::ImageError::IoError(io) => Error::io(path, io),
        other => Error::invalid(format!("{}: cannot save image: {other}", path.display())),
    })
}
