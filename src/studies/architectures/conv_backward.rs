//! The backward pass of a 2-D convolution written out, as the course notes
//! derive it: for `y = x ⋆ k` (cross-correlation, what every framework
//! calls convolution),
//!
//! - `dL/dk` is the cross-correlation of the input `x` with `dL/dy`:
//!   `dk[o, c, i, j] = sum_{n, u, v} dy[n, o, u, v] * x_pad[n, c, u*s + i*d, v*s + j*d]`;
//! - `dL/dx` is the *full* convolution of `dL/dy` (spread out by the
//!   stride) with the kernel rotated by 180 degrees:
//!   `dx_pad[n, c, a, b] = sum_{o, i, j} dy_full[n, o, a + i*d, b + j*d] * rot(k)[o, c, i, j]`,
//!   where `dy_full` is `dy` with `s - 1` zeros between neighbours and
//!   `d (k - 1)` zeros around it, then the padding cut off again.
//!
//! Both are computed tap by tap (one strided slice and one contraction per
//! kernel position), with no autograd, so the formulas can be read off
//! the code and checked against libtorch's autograd.

use crate::check;
use crate::error::{Error, Result};
use tch::Tensor;

/// The geometry of a 2-D convolution without bias, `y = conv2d(x, k)`:
/// `x [N, C_in, H, W]`, `k [C_out, C_in / groups, kh, kw]`,
/// `y [N, C_out, H_out, W_out]` with
/// `H_out = (H + 2 p - d (kh - 1) - 1) / s + 1` (rounded down), and the same
/// for the width. Per axis: (rows, columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Convolution {
    /// Step between windows, >= 1.
    pub stride: [i64; 2],
    /// Zeros added on each side, >= 0.
    pub padding: [i64; 2],
    /// Spacing of the kernel taps, >= 1 (1 = adjacent).
    pub dilation: [i64; 2],
    /// Channel groups, >= 1, dividing both channel counts.
    pub groups: i64,
}

impl Default for Convolution {
    /// Stride 1, no padding, no dilation, one group.
    fn default() -> Self {
        Convolution {
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
        }
    }
}

impl Convolution {
    /// With this stride on both axes.
    pub fn stride(mut self, s: i64) -> Self {
        self.stride = [s, s];
        self
    }
    /// With this padding on both axes.
    pub fn padding(mut self, p: i64) -> Self {
        self.padding = [p, p];
        self
    }
    /// With this dilation on both axes.
    pub fn dilation(mut self, d: i64) -> Self {
        self.dilation = [d, d];
        self
    }
    /// With this many channel groups.
    pub fn groups(mut self, g: i64) -> Self {
        self.groups = g;
        self
    }

    /// The output's `[H_out, W_out]` for an input of `[H, W]` pixels and a
    /// kernel of `[kh, kw]` taps; an error when the dilated kernel is larger
    /// than the padded input or a setting is out of range.
    pub fn output_size(&self, input: [i64; 2], kernel: [i64; 2]) -> Result<[i64; 2]> {
        self.check_settings()?;
        let mut out = [0; 2];
        for a in 0..2 {
            if kernel[a] < 1 || input[a] < 1 {
                return Err(Error::invalid(format!(
                    "a convolution needs a kernel and an input of at least 1 pixel, got kernel {kernel:?} on input {input:?}"
                )));
            }
            let reach = self.dilation[a] * (kernel[a] - 1) + 1;
            let padded = input[a] + 2 * self.padding[a];
            if reach > padded {
                return Err(Error::invalid(format!(
                    "the kernel {kernel:?} (dilation {:?}) spans {reach} pixels on axis {a}, more than the padded input's {padded} ({input:?} padded by {:?})",
                    self.dilation, self.padding
                )));
            }
            out[a] = (padded - reach) / self.stride[a] + 1;
        }
        Ok(out)
    }

    /// `conv2d(x, k)` without bias, by libtorch, with the arguments checked:
    /// `x [N, C_in, H, W]`, `k [C_out, C_in / groups, kh, kw]`.
    pub fn forward(&self, x: &Tensor, kernel: &Tensor) -> Result<Tensor> {
        self.check_pair(x, kernel)?;
        Ok(x.f_conv2d::<&Tensor>(
            kernel,
            None,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
        )?)
    }

    /// `dL/dk [C_out, C_in / groups, kh, kw]` for input `x [N, C_in, H, W]`
    /// and upstream gradient `dy [N, C_out, H_out, W_out]`, for a kernel of
    /// `[kh, kw]` taps: the cross-correlation of `x` with `dy`, summed
    /// over the batch.
    pub fn kernel_gradient(&self, x: &Tensor, dy: &Tensor, kernel: [i64; 2]) -> Result<Tensor> {
        self.check_settings()?;
        let (n, c_in, h, w) = image_batch(x, "input x")?;
        let (_, c_out, ho, wo) = image_batch(dy, "dL/dy")?;
        self.check_channels(c_in, c_out)?;
        let out = self.output_size([h, w], kernel)?;
        expect_shape(dy, "dL/dy", [n, c_out, out[0], out[1]])?;
        same_kind(x, dy, "dL/dy")?;
        let g = self.groups;
        let [sh, sw] = self.stride;
        let [dh, dw] = self.dilation;
        let xp = x.f_constant_pad_nd([
            self.padding[1],
            self.padding[1],
            self.padding[0],
            self.padding[0],
        ])?;
        let dy = dy.f_reshape([n, g, c_out / g, ho, wo])?;
        let mut taps = Vec::with_capacity((kernel[0] * kernel[1]) as usize);
        for i in 0..kernel[0] {
            for j in 0..kernel[1] {
                // The input pixels tap (i, j) met at every output position.
                let seen = xp
                    .f_slice(2, Some(i * dh), Some(i * dh + (ho - 1) * sh + 1), sh)?
                    .f_slice(3, Some(j * dw), Some(j * dw + (wo - 1) * sw + 1), sw)?
                    .f_reshape([n, g, c_in / g, ho, wo])?;
                taps.push(Tensor::f_einsum(
                    "ngchw,ngohw->goc",
                    &[&seen, &dy],
                    None::<&[i64]>,
                )?);
            }
        }
        // [kh * kw, g, C_out/g, C_in/g] -> [C_out, C_in/g, kh, kw]
        Ok(Tensor::f_stack(&taps, 0)?
            .f_reshape([kernel[0], kernel[1], c_out, c_in / g])?
            .f_permute([2, 3, 0, 1])?
            .f_contiguous()?)
    }

    /// `dL/dx [N, C_in, H, W]` for upstream gradient
    /// `dy [N, C_out, H_out, W_out]` and kernel `k [C_out, C_in / groups, kh, kw]`,
    /// for an input of `[H, W]` pixels (needed: with a stride, several
    /// input sizes give one output size): the full convolution of the
    /// spread-out `dy` with the kernel rotated by 180 degrees, the padding
    /// cut off. Input rows and columns no window reached get zero.
    pub fn input_gradient(&self, dy: &Tensor, kernel: &Tensor, input: [i64; 2]) -> Result<Tensor> {
        self.check_settings()?;
        let (n, c_out, ho, wo) = image_batch(dy, "dL/dy")?;
        let (k_out, c_per_group, kh, kw) = image_batch(kernel, "kernel")?;
        let g = self.groups;
        if k_out != c_out {
            return Err(Error::shape(
                "kernel",
                format!("[{c_out}, C_in / groups, kh, kw]: one filter per channel of dL/dy"),
                check::shape_str(&kernel.size()),
            ));
        }
        let c_in = c_per_group * g;
        self.check_channels(c_in, c_out)?;
        let out = self.output_size(input, [kh, kw])?;
        expect_shape(dy, "dL/dy", [n, c_out, out[0], out[1]])?;
        same_kind(dy, kernel, "kernel")?;
        let [sh, sw] = self.stride;
        let [dh, dw] = self.dilation;
        let reach = [dh * (kh - 1), dw * (kw - 1)];
        // dy with s - 1 zeros between neighbours, and d (k - 1) around.
        let spread = Tensor::f_zeros(
            [n, c_out, (ho - 1) * sh + 1, (wo - 1) * sw + 1],
            (dy.kind(), dy.device()),
        )?;
        spread
            .f_slice(2, Some(0), None, sh)?
            .f_slice(3, Some(0), None, sw)?
            .f_copy_(dy)?;
        let full = spread.f_constant_pad_nd([reach[1], reach[1], reach[0], reach[0]])?;
        // The padded-input pixels some window covered.
        let covered = [(ho - 1) * sh + 1 + reach[0], (wo - 1) * sw + 1 + reach[1]];
        let rotated = kernel
            .f_flip([2, 3])?
            .f_reshape([g, c_out / g, c_per_group, kh, kw])?;
        let full = full.f_reshape([n, g, c_out / g, full.size()[2], full.size()[3]])?;
        let mut dx = Tensor::f_zeros(
            [n, g, c_per_group, covered[0], covered[1]],
            (dy.kind(), dy.device()),
        )?;
        for i in 0..kh {
            for j in 0..kw {
                let window =
                    full.f_narrow(3, i * dh, covered[0])?
                        .f_narrow(4, j * dw, covered[1])?;
                let tap = rotated.f_select(3, i)?.f_select(3, j)?;
                dx = dx.f_add(&Tensor::f_einsum(
                    "ngohw,goc->ngchw",
                    &[&window, &tap],
                    None::<&[i64]>,
                )?)?;
            }
        }
        // Back to [N, C_in, H + 2p, W + 2p] (rows past the last window get
        // zero), then the padding cut off.
        let padded = [
            input[0] + 2 * self.padding[0],
            input[1] + 2 * self.padding[1],
        ];
        Ok(dx
            .f_reshape([n, c_in, covered[0], covered[1]])?
            .f_constant_pad_nd([0, padded[1] - covered[1], 0, padded[0] - covered[0]])?
            .f_narrow(2, self.padding[0], input[0])?
            .f_narrow(3, self.padding[1], input[1])?
            .f_contiguous()?)
    }

    fn check_settings(&self) -> Result<()> {
        let ok = self.stride.iter().all(|&s| s >= 1)
            && self.dilation.iter().all(|&d| d >= 1)
            && self.padding.iter().all(|&p| p >= 0)
            && self.groups >= 1;
        if ok {
            Ok(())
        } else {
            Err(Error::invalid(format!(
                "a convolution needs stride >= 1, dilation >= 1, padding >= 0 and groups >= 1, got stride {:?}, dilation {:?}, padding {:?}, groups {}",
                self.stride, self.dilation, self.padding, self.groups
            )))
        }
    }

    fn check_channels(&self, c_in: i64, c_out: i64) -> Result<()> {
        if c_in % self.groups != 0 || c_out % self.groups != 0 {
            return Err(Error::invalid(format!(
                "{} groups must divide both channel counts, got {c_in} input and {c_out} output channels",
                self.groups
            )));
        }
        Ok(())
    }

    fn check_pair(&self, x: &Tensor, kernel: &Tensor) -> Result<()> {
        self.check_settings()?;
        let (_, c_in, h, w) = image_batch(x, "input x")?;
        let (c_out, c_per_group, kh, kw) = image_batch(kernel, "kernel")?;
        self.check_channels(c_in, c_out)?;
        if c_per_group * self.groups != c_in {
            return Err(Error::shape(
                "kernel",
                format!(
                    "[C_out, {}, kh, kw]: the input's {c_in} channels over {} groups",
                    c_in / self.groups,
                    self.groups
                ),
                check::shape_str(&kernel.size()),
            ));
        }
        same_kind(x, kernel, "kernel")?;
        self.output_size([h, w], [kh, kw]).map(|_| ())
    }
}

/// `[A, B, C, D]` of a defined floating-point 4-D tensor.
fn image_batch(t: &Tensor, what: &str) -> Result<(i64, i64, i64, i64)> {
    check::defined(t, what)?;
    let (a, b, c, d) = check::images(t, what)?;
    if a < 1 {
        return Err(Error::shape(
            what,
            "at least one example",
            check::shape_str(&t.size()),
        ));
    }
    Ok((a, b, c, d))
}

fn expect_shape(t: &Tensor, what: &str, want: [i64; 4]) -> Result<()> {
    if t.size() != want {
        return Err(Error::shape(
            what,
            format!(
                "{}, the convolution's output for this input and kernel",
                check::shape_str(&want)
            ),
            check::shape_str(&t.size()),
        ));
    }
    Ok(())
}

fn same_kind(a: &Tensor, b: &Tensor, what: &str) -> Result<()> {
    if a.kind() != b.kind() || a.device() != b.device() {
        return Err(Error::shape(
            what,
            format!("{:?} on {:?}, as the other argument", a.kind(), a.device()),
            format!("{:?} on {:?}", b.kind(), b.device()),
        ));
    }
    Ok(())
}
