//! Image quality against a reference, as scikit-image computes it: PSNR and
//! SSIM (Wang et al. 2004) for images `[C, H, W]` with values in [0, 1].

use super::degrade::check_image;
use crate::error::{Error, Result};
use tch::{Kind, Tensor};

fn same_shape(image: &Tensor, reference: &Tensor) -> Result<()> {
    check_image(image, "image")?;
    check_image(reference, "reference")?;
    if image.size() != reference.size() {
        return Err(Error::shape(
            "image",
            format!("the reference's shape {:?}", reference.size()),
            format!("{:?}", image.size()),
        ));
    }
    Ok(())
}

/// Peak signal-to-noise ratio in dB for a data range of 1:
/// `10 log10(1 / mse)` (`skimage.metrics.peak_signal_noise_ratio` with
/// `data_range=1`); infinite for identical images.
pub fn psnr(image: &Tensor, reference: &Tensor) -> Result<f64> {
    same_shape(image, reference)?;
    let mse = image
        .f_to_kind(Kind::Double)?
        .f_sub(
            &reference
                .f_to_kind(Kind::Double)?
                .f_to_device(image.device())?,
        )?
        .f_square()?
        .f_mean(Kind::Double)?
        .f_double_value(&[])?;
    Ok(10.0 * (1.0 / mse).log10())
}

/// Structural similarity, the mean over channels of the mean SSIM map, as
/// `skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
/// use_sample_covariance=False, data_range=1, channel_axis=0)`: local
/// statistics under an 11x11 Gaussian window (sigma 1.5), averaged over the
/// positions where the window lies inside the image.
pub fn ssim(image: &Tensor, reference: &Tensor) -> Result<f64> {
    same_shape(image, reference)?;
    let (_, h, w) = check_image(image, "image")?;
    const RADIUS: i64 = 5;
    if h <= 2 * RADIUS || w <= 2 * RADIUS {
        return Err(Error::invalid(format!(
            "SSIM needs images larger than its 11x11 window, got {h}x{w}"
        )));
    }
    // Both are float `[C, H, W]` of one shape, larger than the window
    // (checked above): the filtering and arithmetic below cannot fail, once
    // the reference is on the image's device.
    let device = image.device();
    let y = reference.f_to_kind(Kind::Double)?.f_to_device(device)?;
    let g: Vec<f64> = (-RADIUS..=RADIUS)
        .map(|x| (-0.5 * (x * x) as f64 / (1.5f64 * 1.5)).exp())
        .collect();
    let total: f64 = g.iter().sum();
    let g = Tensor::from_slice(&g.iter().map(|v| v / total).collect::<Vec<_>>()).to_device(device);
    let (kh, kw) = (g.reshape([1, 1, 11, 1]), g.reshape([1, 1, 1, 11]));
    // [C, 1, H, W]: each channel filtered alone; valid positions only.
    let blur = |t: &Tensor| {
        t.unsqueeze(1)
            .conv2d(&kh, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1)
            .conv2d(&kw, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1)
    };
    let x = image.to_kind(Kind::Double);
    let (ux, uy) = (blur(&x), blur(&y));
    let vx = blur(&(&x * &x)) - &ux * &ux;
    let vy = blur(&(&y * &y)) - &uy * &uy;
    let vxy = blur(&(&x * &y)) - &ux * &uy;
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    let s = ((&ux * &uy * 2.0 + c1) * (vxy * 2.0 + c2))
        / ((&ux * &ux + &uy * &uy + c1) * (vx + vy + c2));
    Ok(s.f_mean(Kind::Double)?.f_double_value(&[])?)
}
