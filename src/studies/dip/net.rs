//! The "skip" hourglass of Deep Image Prior (Ulyanov, Vedaldi & Lempitsky
//! 2018, supplementary Fig. 1), built as a [`Model`] so that everything the
//! library does with models (activations, weights files, summaries) works on
//! it.
//!
//! Level `i` (0 = full resolution) is a concat of a skip branch (conv
//! `skip_kernel`, BN, LeakyReLU) and a deeper branch (conv `down_kernel`
//! with stride 2 or followed by a 2x2 average pool, BN, act, conv, BN, act,
//! level `i + 1`, upsample x2), followed by BN, conv `up_kernel`, BN, act,
//! and optionally 1x1 conv, BN, act. The output is a 1x1 conv and a sigmoid.
//! A level with no skip channels is its deeper branch alone.

use crate::error::{Error, Result};
use crate::model::{Conv, Model, ModelBuilder, Upsampling};
use tch::Device;

/// How a level halves the resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Downsampling {
    /// The first convolution of the level has stride 2.
    Stride,
    /// The first convolution keeps the size; a 2x2 average pool follows.
    AvgPool,
}

/// The hourglass's shape. Lists are per level, finest first.
#[derive(Debug, Clone, PartialEq)]
pub struct SkipConfig {
    /// Channels of the network input (the noise code).
    pub input_channels: i64,
    /// Channels of the deeper branch at each level.
    pub down: Vec<i64>,
    /// Channels after the merge at each level.
    pub up: Vec<i64>,
    /// Channels of the skip branch at each level (0: no skip connection).
    pub skip: Vec<i64>,
    /// Kernel of the deeper branch's convolutions.
    pub down_kernel: i64,
    /// Kernel of the convolution after the merge.
    pub up_kernel: i64,
    /// Kernel of the skip branch's convolution.
    pub skip_kernel: i64,
    /// How the deeper branch goes back up.
    pub upsampling: Upsampling,
    /// How the deeper branch goes down.
    pub downsampling: Downsampling,
    /// Reflection padding (the paper's) instead of zeros.
    pub reflect: bool,
    /// A 1x1 conv, BN and act after the up convolution of each level.
    pub conv1x1_up: bool,
    /// Negative slope of the LeakyReLU activations.
    pub leaky_slope: f64,
}

impl SkipConfig {
    /// The paper's default (denoising, super-resolution): 5 levels of 128
    /// channels, 4 skip channels, 3x3 kernels, bilinear upsampling, input
    /// of 32 noise channels. About 2.2 M parameters.
    pub fn paper_default() -> Self {
        SkipConfig {
            input_channels: 32,
            down: vec![128; 5],
            up: vec![128; 5],
            skip: vec![4; 5],
            down_kernel: 3,
            up_kernel: 3,
            skip_kernel: 1,
            upsampling: Upsampling::Bilinear,
            downsampling: Downsampling::Stride,
            reflect: true,
            conv1x1_up: true,
            leaky_slope: 0.2,
        }
    }

    /// The paper's JPEG artefact net: channels 8, 16, 32, 64, 128, skip
    /// connections only at the two coarsest levels (4 channels), input of 3
    /// noise channels.
    pub fn paper_jpeg() -> Self {
        SkipConfig {
            input_channels: 3,
            down: vec![8, 16, 32, 64, 128],
            up: vec![8, 16, 32, 64, 128],
            skip: vec![0, 0, 0, 4, 4],
            ..Self::paper_default()
        }
    }

    /// The paper's large-hole inpainting net: no skip connections, 5x5
    /// down kernels, nearest upsampling (an input of 2 meshgrid channels).
    pub fn paper_inpainting() -> Self {
        SkipConfig {
            input_channels: 2,
            skip: vec![0; 5],
            down_kernel: 5,
            upsampling: Upsampling::Nearest,
            ..Self::paper_default()
        }
    }

    /// A net for CPU runs: the paper's default with fewer channels at the
    /// fine levels, where almost all the arithmetic is (16, 32, 64, 64, 128;
    /// about 16x less work per step at 256x256).
    pub fn cpu() -> Self {
        SkipConfig {
            down: vec![16, 32, 64, 64, 128],
            up: vec![16, 32, 64, 64, 128],
            ..Self::paper_default()
        }
    }

    /// The same net with every channel count (down, up, skip) scaled by
    /// `factor` and rounded, at least 1 where it was non-zero.
    pub fn scaled(mut self, factor: f64) -> Self {
        let scale = |v: &mut Vec<i64>| {
            for c in v.iter_mut().filter(|c| **c > 0) {
                *c = ((*c as f64 * factor).round() as i64).max(1);
            }
        };
        scale(&mut self.down);
        scale(&mut self.up);
        scale(&mut self.skip);
        self
    }

    /// Number of levels (halvings of the resolution).
    pub fn levels(&self) -> usize {
        self.down.len()
    }

    /// Checks the lists and the image size: `height` and `width` must be
    /// divisible by `2^levels` (the hourglass halves them at each level and
    /// must come back to the same size).
    pub fn check(&self, height: i64, width: i64) -> Result<()> {
        let n = self.down.len();
        if n == 0 || self.up.len() != n || self.skip.len() != n {
            return Err(Error::invalid(format!(
                "the skip net needs one entry per level in down, up and skip, got {}, {} and {}",
                self.down.len(),
                self.up.len(),
                self.skip.len()
            )));
        }
        if n > 10 {
            return Err(Error::invalid(format!(
                "{n} levels would shrink any image below a pixel; use at most 10"
            )));
        }
        let positive = self.down.iter().chain(&self.up).all(|&c| c > 0)
            && self.skip.iter().all(|&c| c >= 0)
            && self.input_channels > 0;
        if !positive {
            return Err(Error::invalid(format!(
                "channel counts must be positive (skip may be 0), got input {}, down {:?}, up {:?}, skip {:?}",
                self.input_channels, self.down, self.up, self.skip
            )));
        }
        for (name, k) in [
            ("down", self.down_kernel),
            ("up", self.up_kernel),
            ("skip", self.skip_kernel),
        ] {
            if k < 1 || k % 2 == 0 {
                return Err(Error::invalid(format!(
                    "the {name} kernel must be odd and positive (sizes are kept by padding (k-1)/2), got {k}"
                )));
            }
        }
        if !(self.leaky_slope.is_finite() && self.leaky_slope >= 0.0) {
            return Err(Error::invalid(format!(
                "the LeakyReLU slope must be finite and >= 0, got {}",
                self.leaky_slope
            )));
        }
        let step = 1i64 << n;
        if height < 1 || width < 1 || height % step != 0 || width % step != 0 {
            return Err(Error::invalid(format!(
                "a {n}-level hourglass needs height and width divisible by 2^{n} = {step}, got {height}x{width}; crop the image (e.g. dip::crop_to_multiple)"
            )));
        }
        let coarsest = height.min(width) / step;
        let pad = [self.down_kernel, self.up_kernel, self.skip_kernel]
            .iter()
            .max()
            .map_or(0, |k| (k - 1) / 2);
        if self.reflect && coarsest <= pad {
            return Err(Error::invalid(format!(
                "reflection padding of {pad} needs at least {} pixels at the coarsest level, but {height}x{width} has {coarsest} after {n} halvings",
                pad + 1
            )));
        }
        Ok(())
    }

    /// Builds the net for `[input_channels, height, width]` inputs and
    /// `out_channels` outputs in (0, 1), weights drawn from `seed`.
    pub fn build(
        &self,
        out_channels: i64,
        height: i64,
        width: i64,
        seed: u64,
        device: Device,
    ) -> Result<Model> {
        self.check(height, width)?;
        if out_channels < 1 {
            return Err(Error::invalid(format!(
                "the net needs at least one output channel, got {out_channels}"
            )));
        }
        let conv = |k: i64| {
            let c = Conv::new(k);
            if self.reflect {
                c.reflect()
            } else {
                c.padding((k - 1) / 2)
            }
        };
        let top = self.level(
            ModelBuilder::new(&[self.input_channels, height, width]),
            0,
            &conv,
        );
        top.conv("out", "out", out_channels, Conv::new(1))
            .sigmoid("sigmoid")
            .seed(seed)
            .build(device)
    }

    /// Appends level `i` (and, inside it, every deeper level) to `b`.
    fn level(&self, b: ModelBuilder, i: usize, conv: &dyn Fn(i64) -> Conv) -> ModelBuilder {
        let p = |s: &str| format!("level{i}.{s}");
        let act = self.leaky_slope;
        let mut deeper = ModelBuilder::branch();
        deeper = match self.downsampling {
            Downsampling::Stride => deeper.conv(
                "down1",
                &p("down.conv1"),
                self.down[i],
                conv(self.down_kernel).stride(2),
            ),
            Downsampling::AvgPool => deeper
                .conv(
                    "down1",
                    &p("down.conv1"),
                    self.down[i],
                    conv(self.down_kernel),
                )
                .avg_pool("pool", 2, 2),
        };
        deeper = deeper
            .batch_norm("down_bn1", &p("down.bn1"))
            .leaky_relu("down_act1", act)
            .conv(
                "down2",
                &p("down.conv2"),
                self.down[i],
                conv(self.down_kernel),
            )
            .batch_norm("down_bn2", &p("down.bn2"))
            .leaky_relu("down_act2", act);
        if i + 1 < self.levels() {
            deeper = self.level(deeper, i + 1, conv);
        }
        deeper = deeper.upsample("upsample", 2, self.upsampling);
        let mut branches = Vec::new();
        if self.skip[i] > 0 {
            branches.push(
                ModelBuilder::branch()
                    .conv(
                        "skip",
                        &p("skip.conv"),
                        self.skip[i],
                        conv(self.skip_kernel),
                    )
                    .batch_norm("skip_bn", &p("skip.bn"))
                    .leaky_relu("skip_act", act),
            );
        }
        branches.push(deeper);
        let mut b = b
            .concat(&format!("concat{i}"), branches)
            .batch_norm(&format!("merge_bn{i}"), &p("merge.bn"))
            .conv(
                &format!("up{i}"),
                &p("up.conv1"),
                self.up[i],
                conv(self.up_kernel),
            )
            .batch_norm(&format!("up_bn{i}"), &p("up.bn1"))
            .leaky_relu(&format!("up_act{i}"), act);
        if self.conv1x1_up {
            b = b
                .conv(
                    &format!("up1x1_{i}"),
                    &p("up.conv2"),
                    self.up[i],
                    Conv::new(1),
                )
                .batch_norm(&format!("up1x1_bn{i}"), &p("up.bn2"))
                .leaky_relu(&format!("up1x1_act{i}"), act);
        }
        b
    }
}
