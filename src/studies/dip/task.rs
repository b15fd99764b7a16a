//! What is restored: an observation and the operator that maps the net's
//! output to it (identity for denoising and JPEG, a mask for inpainting, a
//! Lanczos downsampler for super-resolution). The loss is the MSE between
//! the operator applied to the output and the observation.

use super::degrade::check_image;
use crate::error::{Error, Result};
use tch::{Device, Kind, Tensor};

/// The fixed downsampler of the paper's super-resolution: a Lanczos-2
/// kernel of `4 * factor` taps (phase 1/2), applied per channel with stride
/// `factor` after replication padding, so that `[N, C, H, W]` becomes
/// `[N, C, H / factor, W / factor]`.
#[derive(Debug)]
pub struct Downsampler {
    factor: i64,
    /// `[taps]`, summing to 1 (the 2-D kernel is its outer product).
    taps: Vec<f64>,
}

impl Downsampler {
    /// The Lanczos-2 downsampler for an even `factor` (2, 4, 8, ...).
    pub fn lanczos2(factor: i64) -> Result<Self> {
        if factor < 2 || factor % 2 != 0 || factor > 64 {
            return Err(Error::invalid(format!(
                "the Lanczos downsampler keeps sizes exact for even factors 2 to 64, got {factor}"
            )));
        }
        let support = 2.0;
        let center = (2 * factor + 1) as f64;
        let taps: Vec<f64> = (1..=4 * factor)
            .map(|i| {
                let d = (i as f64 + 0.5 - center).abs() / factor as f64;
                let pi = std::f64::consts::PI;
                support * (pi * d).sin() * (pi * d / support).sin() / (pi * pi * d * d)
            })
            .collect();
        let sum: f64 = taps.iter().sum();
        Ok(Downsampler {
            factor,
            taps: taps.iter().map(|t| t / sum).collect(),
        })
    }

    /// The factor.
    pub fn factor(&self) -> i64 {
        self.factor
    }

    /// The 1-D taps (the 2-D kernel is their outer product).
    pub fn taps(&self) -> &[f64] {
        &self.taps
    }

    /// Downsamples `x` `[N, C, H, W]` (H and W divisible by the factor).
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let size = x.size();
        let [_, c, h, w] = size[..] else {
            return Err(Error::shape(
                "downsampler input",
                "[N, C, H, W]",
                format!("{size:?}"),
            ));
        };
        crate::check::floating(x, "downsampler input")?;
        if h % self.factor != 0 || w % self.factor != 0 {
            return Err(Error::invalid(format!(
                "downsampling by {} needs sizes divisible by it, got {h}x{w}",
                self.factor
            )));
        }
        // The taps are the downsampler's own, the input a float `[N, C, H,
        // W]` (checked above): the kernel below cannot fail.
        let k = self.taps.len() as i64;
        let t = Tensor::from_slice(&self.taps)
            .to_kind(x.kind())
            .to_device(x.device());
        let kernel = (t.reshape([k, 1]) * t.reshape([1, k])).expand([c, 1, k, k], false);
        let pad = (k - self.factor) / 2;
        Ok(x.f_replication_pad2d([pad, pad, pad, pad])?.f_conv2d(
            &kernel,
            None::<Tensor>,
            [self.factor, self.factor],
            [0, 0],
            [1, 1],
            c,
        )?)
    }
}

/// How the net's output is compared with the observation.
#[derive(Debug)]
pub enum Operator {
    /// The output itself (denoising, JPEG artefacts, fitting).
    Identity,
    /// Only the known pixels: `mask [1 or C, H, W]`, 1 = known.
    Mask(Tensor),
    /// The output downsampled (super-resolution).
    Downsample(Downsampler),
}

/// A restoration problem: what is observed, how, and the output size.
#[derive(Debug)]
pub struct Task {
    /// A short name for tables and titles ("denoising", "inpainting", ...).
    pub name: String,
    /// `[C, h, w]`: what the net must explain.
    pub observation: Tensor,
    /// Maps the output to the observation's space.
    pub operator: Operator,
    /// `[C, H, W]` of the output.
    pub output_shape: [i64; 3],
    /// The clean image `[C, H, W]`, when known, to measure PSNR against.
    pub clean: Option<Tensor>,
}

impl Task {
    fn new(name: &str, observation: &Tensor, operator: Operator, output_shape: [i64; 3]) -> Task {
        Task {
            name: name.to_string(),
            observation: observation.to_kind(Kind::Float),
            operator,
            output_shape,
            clean: None,
        }
    }

    /// Denoising: the output should explain the noisy image `[C, H, W]`.
    pub fn denoise(noisy: &Tensor) -> Result<Task> {
        let (c, h, w) = check_image(noisy, "noisy image")?;
        Ok(Task::new("denoising", noisy, Operator::Identity, [c, h, w]))
    }

    /// JPEG artefact removal: the output should explain the decoded JPEG.
    pub fn jpeg(decoded: &Tensor) -> Result<Task> {
        Ok(Task {
            name: "JPEG artefacts".into(),
            ..Task::denoise(decoded)?
        })
    }

    /// Fitting `target` itself (Fig. 2: how fast the net fits an image,
    /// the image with noise, shuffled pixels, white noise).
    pub fn fit(target: &Tensor) -> Result<Task> {
        Ok(Task {
            name: "fitting".into(),
            ..Task::denoise(target)?
        })
    }

    /// Inpainting: only the pixels where `mask` (`[1 or C, H, W]`, 1 = known,
    /// 0 = missing) is 1 are observed; the rest of `image` is ignored.
    pub fn inpaint(image: &Tensor, mask: &Tensor) -> Result<Task> {
        let (c, h, w) = check_image(image, "image")?;
        super::degrade::check_mask(mask, c, h, w)?;
        // A mask of the image's size (checked above): the comparisons and
        // the product below cannot fail.
        let mask = mask.to_kind(Kind::Float).to_device(image.device());
        let values_ok = mask
            .eq(0.0)
            .logical_or(&mask.eq(1.0))
            .all()
            .int64_value(&[])
            == 1;
        if !values_ok {
            return Err(Error::invalid(
                "the mask must hold only 0 (missing) and 1 (known)",
            ));
        }
        let observed = image.to_kind(Kind::Float) * &mask;
        Ok(Task::new(
            "inpainting",
            &observed,
            Operator::Mask(mask),
            [c, h, w],
        ))
    }

    /// Super-resolution by `factor` (even): the output, downsampled by the
    /// Lanczos-2 [`Downsampler`], should explain `low` `[C, h, w]`.
    pub fn super_resolve(low: &Tensor, factor: i64) -> Result<Task> {
        let (c, h, w) = check_image(low, "low-resolution image")?;
        let down = Downsampler::lanczos2(factor)?;
        Ok(Task::new(
            "super-resolution",
            low,
            Operator::Downsample(down),
            [c, h * factor, w * factor],
        ))
    }

    /// The same task with the clean image known (`[C, H, W]`, the output's
    /// shape), so that runs measure PSNR and SSIM against it.
    pub fn with_clean(mut self, clean: &Tensor) -> Result<Task> {
        let (c, h, w) = check_image(clean, "clean image")?;
        if [c, h, w] != self.output_shape {
            return Err(Error::shape(
                "clean image",
                format!("the output's shape {:?}", self.output_shape),
                format!("{:?}", [c, h, w]),
            ));
        }
        self.clean = Some(clean.to_kind(Kind::Float));
        Ok(self)
    }

    /// The operator applied to `output` `[N, C, H, W]`: what is compared
    /// with the observation.
    pub fn observe(&self, output: &Tensor) -> Result<Tensor> {
        match &self.operator {
            Operator::Identity => Ok(output.shallow_clone()),
            Operator::Mask(m) => Ok(output.f_mul(&m.f_to_device(output.device())?)?),
            Operator::Downsample(d) => d.apply(output),
        }
    }

    /// Checks that the parts fit together as the constructors made them:
    /// the observation and the clean image are float images, the operator
    /// maps an output of `output_shape` to the observation's shape, and the
    /// clean image has the output's shape. The fields are public, so a run
    /// checks again before its arithmetic relies on them.
    pub fn validate(&self) -> Result<()> {
        check_image(&self.observation, "the task's observation")?;
        let [c, h, w] = self.output_shape;
        if c <= 0 || h <= 0 || w <= 0 {
            return Err(Error::invalid(format!(
                "the task's output shape must be positive, got {:?}",
                self.output_shape
            )));
        }
        let observed = self
            .observe(&Tensor::zeros([1, c, h, w], (Kind::Float, Device::Cpu)))
            .map_err(|e| {
                Error::invalid(format!(
                    "the task's operator does not take a {:?} output: {e}",
                    self.output_shape
                ))
            })?;
        let mut expected = vec![1];
        expected.extend(self.observation.size());
        if observed.size() != expected {
            return Err(Error::shape(
                "the task's observation",
                format!(
                    "{} (what its operator makes of a {:?} output)",
                    crate::check::shape_str(&observed.size()[1..]),
                    self.output_shape
                ),
                crate::check::shape_str(&self.observation.size()),
            ));
        }
        if let Some(clean) = &self.clean {
            check_image(clean, "the task's clean image")?;
            if clean.size() != self.output_shape {
                return Err(Error::shape(
                    "the task's clean image",
                    format!("the output's shape {:?}", self.output_shape),
                    crate::check::shape_str(&clean.size()),
                ));
            }
        }
        Ok(())
    }
}
