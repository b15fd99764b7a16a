//! The corrupted observations of the paper's experiments, made from a clean
//! image `[C, H, W]` in [0, 1]: Gaussian noise, JPEG compression, masks
//! (text, a large hole, randomly missing pixels) and low-resolution copies,
//! plus the two targets of Fig. 2 that have no structure (shuffled pixels,
//! white noise). All seeded.

use crate::check;
use crate::data::{image_to_tensor, tensor_to_image, Channels};
use crate::error::{Error, Result};
use crate::plot::{drawing, ensure_font, FONT};
use crate::runtime::rng::with_torch_seed;
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use plotters::prelude::*;
use tch::{Device, Kind, Tensor};

/// Checks that `image` is `[C, H, W]` (C = 1 or 3) floats; returns (C, H, W).
pub fn check_image(image: &Tensor, what: &str) -> Result<(i64, i64, i64)> {
    check::defined(image, what)?;
    check::floating(image, what)?;
    match image.size()[..] {
        [c, h, w] if (c == 1 || c == 3) && h > 0 && w > 0 => Ok((c, h, w)),
        _ => Err(Error::shape(
            what,
            "[C, H, W] with C = 1 (gray) or 3 (RGB)",
            check::shape_str(&image.size()),
        )),
    }
}

/// Checks that `mask` is `[1 or C, H, W]` for an image `[C, H, W]`.
pub(crate) fn check_mask(mask: &Tensor, c: i64, h: i64, w: i64) -> Result<()> {
    check::defined(mask, "mask")?;
    let ms = mask.size();
    if ms.len() == 3 && (ms[0] == 1 || ms[0] == c) && ms[1] == h && ms[2] == w {
        return Ok(());
    }
    Err(Error::shape(
        "mask",
        format!("[1 or {c}, {h}, {w}] (the image's size)"),
        check::shape_str(&ms),
    ))
}

/// `image` plus N(0, sigma^2) noise drawn from `seed`, clipped to [0, 1]
/// (the paper's denoising input; sigma 25/255 in its experiments).
pub fn gaussian_noise(image: &Tensor, sigma: f64, seed: u64) -> Result<Tensor> {
    check_image(image, "image")?;
    if !(sigma.is_finite() && sigma >= 0.0) {
        return Err(Error::invalid(format!(
            "noise sigma must be finite and >= 0, got {sigma}"
        )));
    }
    let noise = with_torch_seed(seed, || image.randn_like()) * sigma;
    Ok((image + noise).clamp(0.0, 1.0))
}

/// `image` encoded as a JPEG of `quality` (1-100) and decoded again.
pub fn jpeg(image: &Tensor, quality: u8) -> Result<Tensor> {
    let (c, _, _) = check_image(image, "image")?;
    if !(1..=100).contains(&quality) {
        return Err(Error::invalid(format!(
            "JPEG quality must be 1 to 100, got {quality}"
        )));
    }
    let img = tensor_to_image(image)?;
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(&img)
        .map_err(|e| Error::invalid(format!("cannot encode JPEG: {e}")))?;
    let decoded = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
        .map_err(|e| Error::invalid(format!("cannot decode our own JPEG: {e}")))?;
    let channels = if c == 1 {
        Channels::Gray
    } else {
        Channels::Rgb
    };
    // Our own image, decoded: a float `[C, H, W]`; moving it cannot fail.
    Ok(image_to_tensor(&decoded, channels).to_device(image.device()))
}

/// A mask `[1, H, W]` (1 = known pixel, 0 = missing) where `text` is written
/// over the image in lines of `font_px` pixel high letters, repeated to
/// fill it (the paper's text inpainting).
pub fn text_mask(height: i64, width: i64, text: &str, font_px: u32) -> Result<Tensor> {
    if height < 1 || width < 1 || height > 8192 || width > 8192 {
        return Err(Error::invalid(format!(
            "mask size must be 1 to 8192 pixels a side, got {height}x{width}"
        )));
    }
    if text.trim().is_empty() || font_px < 4 {
        return Err(Error::invalid(format!(
            "the text mask needs some text and letters of at least 4 px, got {text:?} at {font_px} px"
        )));
    }
    ensure_font();
    let (w, h) = (width as u32, height as u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        let style = (FONT, font_px as f64).into_font().color(&BLACK);
        let line = format!("{text} ");
        let repeated =
            line.repeat((w as usize / (font_px as usize).max(1)) / line.len().max(1) + 2);
        let mut y = (font_px / 2) as i32;
        let mut shift = 0;
        while y < h as i32 {
            root.draw_text(&repeated, &style, (-shift, y))
                .map_err(drawing)?;
            y += (font_px * 2) as i32;
            shift = (shift + font_px as i32 * 3) % (font_px as i32 * 8);
        }
        root.present().map_err(drawing)?;
    }
    let known: Vec<f32> = buf
        .chunks(3)
        .map(|p| if p[0] > 127 { 1.0 } else { 0.0 })
        .collect();
    // One value per pixel of the drawn `height x width` canvas.
    Ok(Tensor::from_slice(&known).reshape([1, height, width]))
}

/// A mask `[1, H, W]` with one missing rectangle (rows `top..top+rows`,
/// columns `left..left+cols`), e.g. a large hole.
pub fn hole_mask(
    height: i64,
    width: i64,
    top: i64,
    left: i64,
    rows: i64,
    cols: i64,
) -> Result<Tensor> {
    if height < 1 || width < 1 {
        return Err(Error::invalid(format!(
            "mask size must be positive, got {height}x{width}"
        )));
    }
    if top < 0 || left < 0 || rows < 1 || cols < 1 || top + rows > height || left + cols > width {
        return Err(Error::invalid(format!(
            "the hole (top {top}, left {left}, {rows}x{cols}) must lie inside the {height}x{width} image"
        )));
    }
    // The hole lies inside the mask (checked above).
    let mask = Tensor::ones([1, height, width], (Kind::Float, Device::Cpu));
    let _ = mask.narrow(1, top, rows).narrow(2, left, cols).fill_(0.0);
    Ok(mask)
}

/// A mask `[1, H, W]` where each pixel is missing with probability
/// `missing` (the paper's 50% of pixels), drawn from `seed`.
pub fn random_mask(height: i64, width: i64, missing: f64, seed: u64) -> Result<Tensor> {
    if height < 1 || width < 1 || !(0.0..=1.0).contains(&missing) {
        return Err(Error::invalid(format!(
            "a random mask needs a positive size and a missing fraction in [0, 1], got {height}x{width} and {missing}"
        )));
    }
    let u = with_torch_seed(seed, || {
        Tensor::rand([1, height, width], (Kind::Float, Device::Cpu))
    });
    Ok(u.ge(missing).to_kind(Kind::Float))
}

/// `image` shrunk by `factor` on both axes with a Lanczos-3 filter (the
/// low-resolution input of super-resolution, as PIL's antialiased resize
/// in the paper's code). The size must be divisible by `factor`.
pub fn downscale(image: &Tensor, factor: i64) -> Result<Tensor> {
    let (_, h, w) = check_image(image, "image")?;
    if factor < 1 || h % factor != 0 || w % factor != 0 {
        return Err(Error::invalid(format!(
            "downscaling by {factor} needs a factor >= 1 that divides the {h}x{w} size"
        )));
    }
    resize(image, h / factor, w / factor, FilterType::Lanczos3)
}

/// `image` enlarged to `height x width` by bicubic (Catmull-Rom)
/// interpolation: the baseline super-resolution is compared with.
pub fn bicubic(image: &Tensor, height: i64, width: i64) -> Result<Tensor> {
    check_image(image, "image")?;
    if !(1..=16384).contains(&height) || !(1..=16384).contains(&width) {
        return Err(Error::invalid(format!(
            "the target size must be 1 to 16384 pixels a side, got {height}x{width}"
        )));
    }
    resize(image, height, width, FilterType::CatmullRom)
}

fn resize(image: &Tensor, height: i64, width: i64, filter: FilterType) -> Result<Tensor> {
    let (c, _, _) = check_image(image, "image")?;
    let img = tensor_to_image(image)?;
    // Resampled in 32-bit float so that only the input's quantisation is lost.
    let resized = image::DynamicImage::ImageRgb32F(img.to_rgb32f()).resize_exact(
        width as u32,
        height as u32,
        filter,
    );
    let channels = if c == 1 {
        Channels::Gray
    } else {
        Channels::Rgb
    };
    Ok(image_to_tensor(&resized, channels)
        .clamp(0.0, 1.0)
        .to_device(image.device()))
}

/// The classic baseline for inpainting: the missing pixels (`mask` 0) of
/// `observed` filled by harmonic interpolation, i.e. repeatedly replaced by
/// the mean of their 3x3 neighbourhood while known pixels stay fixed
/// (`iterations` Jacobi sweeps, from the mean of the known pixels).
pub fn harmonic_fill(observed: &Tensor, mask: &Tensor, iterations: usize) -> Result<Tensor> {
    let (c, h, w) = check_image(observed, "observed image")?;
    // The smoothing kernel is f32.
    check::float32(observed, "observed image")?;
    check_mask(mask, c, h, w)?;
    // Shapes, kind and device are fixed by the checks and moves above: the
    // expand, the sums and the grouped convolution cannot fail.
    let known = mask
        .to_kind(Kind::Float)
        .to_device(observed.device())
        .expand([c, h, w], false);
    let count = known.sum(Kind::Float).double_value(&[]);
    if count == 0.0 {
        return Err(Error::invalid("the mask has no known pixel to fill from"));
    }
    let mean = (observed * &known).sum(Kind::Float) / count;
    let mut x: Tensor = observed * &known + (1.0 - &known) * mean;
    let weight = Tensor::full([c, 1, 3, 3], 1.0 / 9.0, (Kind::Float, observed.device()));
    for _ in 0..iterations {
        let blurred = x
            .unsqueeze(0)
            .replication_pad2d([1, 1, 1, 1])
            .conv2d(&weight, None::<Tensor>, [1, 1], [0, 0], [1, 1], c)
            .squeeze_dim(0);
        x = observed * &known + blurred * (1.0 - &known);
    }
    Ok(x)
}

/// `image` with its pixels (all channels of a position together) in one
/// random order drawn from `seed`: the same colours without the structure.
pub fn shuffle_pixels(image: &Tensor, seed: u64) -> Result<Tensor> {
    let (c, h, w) = check_image(image, "image")?;
    let perm = with_torch_seed(seed, || {
        Tensor::randperm(h * w, (Kind::Int64, image.device()))
    });
    // `reshape` copies a non-contiguous image; `perm` indexes its h * w pixels.
    Ok(image
        .reshape([c, h * w])
        .index_select(1, &perm)
        .reshape([c, h, w]))
}

/// Uniform white noise in [0, 1] of shape `[C, H, W]`, drawn from `seed`.
pub fn white_noise(channels: i64, height: i64, width: i64, seed: u64) -> Result<Tensor> {
    if channels < 1 || height < 1 || width < 1 {
        return Err(Error::invalid(format!(
            "white noise needs a positive shape, got [{channels}, {height}, {width}]"
        )));
    }
    Ok(with_torch_seed(seed, || {
        Tensor::rand([channels, height, width], (Kind::Float, Device::Cpu))
    }))
}

/// The largest centred square of `image`, resized to `size x size` with a
/// Lanczos-3 filter: a whole photo at a size the hourglass can fit.
pub fn square(image: &Tensor, size: i64) -> Result<Tensor> {
    let (_, h, w) = check_image(image, "image")?;
    if !(1..=4096).contains(&size) {
        return Err(Error::invalid(format!(
            "the square's side must be 1 to 4096 pixels, got {size}"
        )));
    }
    let side = h.min(w);
    // The centred square lies inside the checked image.
    let centred = image
        .narrow(1, (h - side) / 2, side)
        .narrow(2, (w - side) / 2, side);
    resize(&centred, size, size, FilterType::Lanczos3)
}

/// The centre crop of `image` with height and width rounded down to
/// multiples of `multiple` (what a `levels`-level hourglass needs:
/// `2^levels`).
pub fn crop_to_multiple(image: &Tensor, multiple: i64) -> Result<Tensor> {
    let (_, h, w) = check_image(image, "image")?;
    if multiple < 1 || h < multiple || w < multiple {
        return Err(Error::invalid(format!(
            "cannot crop {h}x{w} to a multiple of {multiple}"
        )));
    }
    // `nh <= h` and `nw <= w` (checked above): the narrows cannot fail.
    let (nh, nw) = (h / multiple * multiple, w / multiple * multiple);
    Ok(image
        .narrow(1, (h - nh) / 2, nh)
        .narrow(2, (w - nw) / 2, nw))
}

/// The `size x size` crop of `image` whose top-left corner is at (`top`, `left`).
pub fn crop(image: &Tensor, top: i64, left: i64, size: i64) -> Result<Tensor> {
    let (_, h, w) = check_image(image, "image")?;
    if top < 0 || left < 0 || size < 1 || top + size > h || left + size > w {
        return Err(Error::invalid(format!(
            "a {size}x{size} crop at ({top}, {left}) does not fit in the {h}x{w} image"
        )));
    }
    Ok(image.narrow(1, top, size).narrow(2, left, size))
}
