//! The losses and layers of deep domain adaptation. Features are batches
//! `[B, D]`, one row per example; every loss is a scalar tensor.

use crate::check;
use crate::error::{Error, Result};
use crate::train::cross_entropy;
use tch::{Kind, Tensor};

/// DANN's gradient reversal layer: the identity forward, the gradient
/// times `-lambda` backward (Ganin & Lempitsky 2015). Written as
/// `x.detach() * (1 + lambda) - x * lambda`, which has that value and that
/// gradient without a custom autograd function.
pub fn gradient_reversal(x: &Tensor, lambda: f64) -> Result<Tensor> {
    check::defined(x, "features")?;
    if !(lambda.is_finite() && lambda >= 0.0) {
        return Err(Error::invalid(format!(
            "the reversal coefficient lambda must be finite and >= 0, got {lambda}"
        )));
    }
    Ok(x.f_detach()?
        .f_mul_scalar(1.0 + lambda)?
        .f_sub(&x.f_mul_scalar(lambda)?)?)
}

fn progress(p: f64) -> Result<f64> {
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(Error::invalid(format!(
            "the training progress p is a fraction in [0, 1], got {p}"
        )))
    }
}

/// DANN's reversal coefficient at training progress `p` in [0, 1]:
/// `2 / (1 + exp(-10 p)) - 1`, from 0 (no adaptation while the features
/// are noise) towards 1.
pub fn dann_lambda(p: f64) -> Result<f64> {
    let p = progress(p)?;
    Ok(2.0 / (1.0 + (-10.0 * p).exp()) - 1.0)
}

/// DANN's learning-rate factor at progress `p`: `1 / (1 + 10 p)^0.75`
/// (the rate is `lr0` times this).
pub fn dann_lr_factor(p: f64) -> Result<f64> {
    let p = progress(p)?;
    Ok((1.0 + 10.0 * p).powf(-0.75))
}

/// Checks a source and a target batch of features: `[B, D]` each, one
/// `D`, floating point, at least `rows` rows each. Returns `(n, m, d)`.
fn pair(source: &Tensor, target: &Tensor, rows: i64) -> Result<(i64, i64, i64)> {
    check::defined(source, "source features")?;
    check::defined(target, "target features")?;
    let (s, t) = (source.size(), target.size());
    match (&s[..], &t[..]) {
        ([n, d], [m, e]) if d == e && *d >= 1 => {
            check::floating(source, "source features")?;
            check::floating(target, "target features")?;
            if *n < rows || *m < rows {
                return Err(Error::invalid(format!(
                    "this loss needs at least {rows} examples of each domain, got {n} source and {m} target"
                )));
            }
            Ok((*n, *m, *d))
        }
        _ => Err(Error::shape(
            "target features",
            format!(
                "[B, D] with the source's D (source {}), D >= 1",
                check::shape_str(&s)
            ),
            check::shape_str(&t),
        )),
    }
}

/// DDC's linear-kernel MMD: the squared distance between the domains'
/// mean features, `‖mean(xs) - mean(xt)‖²`.
pub fn linear_mmd(source: &Tensor, target: &Tensor) -> Result<Tensor> {
    pair(source, target, 1)?;
    let diff = source
        .f_mean_dim([0i64].as_slice(), false, Kind::Float)?
        .f_sub(&target.f_mean_dim([0i64].as_slice(), false, Kind::Float)?)?;
    Ok(diff.f_square()?.f_sum(Kind::Float)?)
}

/// Where the Gaussian kernels' bandwidths are centred.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bandwidth {
    /// The median squared distance between the pooled examples (the
    /// median heuristic).
    Median,
    /// The mean squared distance between the pooled examples.
    Mean,
    /// This squared bandwidth.
    Fixed(f64),
}

/// How the MMD is estimated from a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MmdEstimator {
    /// The unbiased U-statistic over all pairs (quadratic in the batch).
    Quadratic,
    /// DAN's linear-time unbiased estimator over consecutive pairs of
    /// examples (Gretton et al. 2012, Lemma 14); one source row per target
    /// row.
    Linear,
}

/// DAN's multi-kernel MMD²: the mean over `kernels` Gaussian kernels
/// `exp(-‖x - y‖² / s_j)` whose squared bandwidths `s_j` are the centre
/// given by `bandwidth` times `multiplier^(j - (kernels - 1) / 2)` (5
/// kernels and multiplier 2 give centre × 1/4 to 4). The centre is not
/// differentiated (a property of the batch, not a path for gradients).
pub fn mk_mmd(
    source: &Tensor,
    target: &Tensor,
    kernels: usize,
    multiplier: f64,
    bandwidth: Bandwidth,
    estimator: MmdEstimator,
) -> Result<Tensor> {
    let (n, m, _) = pair(source, target, 2)?;
    if kernels == 0 || !(multiplier.is_finite() && multiplier > 0.0) {
        return Err(Error::invalid(format!(
            "multi-kernel MMD needs at least one kernel and a multiplier > 0, got {kernels} and {multiplier}"
        )));
    }
    if estimator == MmdEstimator::Linear && n != m {
        return Err(Error::invalid(format!(
            "the linear-time MMD pairs source and target rows: give as many of each, got {n} and {m}"
        )));
    }
    let xs = source.f_to_kind(Kind::Float)?;
    let xt = target.f_to_kind(Kind::Float)?;
    let pooled = Tensor::f_cat(&[&xs, &xt], 0)?;
    let centre = match bandwidth {
        Bandwidth::Fixed(s) if s.is_finite() && s > 0.0 => s,
        Bandwidth::Fixed(s) => {
            return Err(Error::invalid(format!(
                "a fixed squared bandwidth must be finite and > 0, got {s}"
            )))
        }
        Bandwidth::Median | Bandwidth::Mean => {
            let d = gram_distances(&pooled.f_detach()?)?;
            let k = n + m;
            let off_diagonal =
                d.f_masked_select(&Tensor::f_eye(k, (Kind::Bool, d.device()))?.f_logical_not()?)?;
            let c = if bandwidth == Bandwidth::Median {
                off_diagonal.f_median()?.f_double_value(&[])?
            } else {
                off_diagonal.f_mean(Kind::Float)?.f_double_value(&[])?
            };
            // Identical examples: any positive bandwidth gives an MMD of 0.
            if c > 0.0 && c.is_finite() {
                c
            } else {
                1.0
            }
        }
    };
    let widths: Vec<f64> = (0..kernels)
        .map(|j| centre * multiplier.powf(j as f64 - (kernels as f64 - 1.0) / 2.0))
        .collect();
    let kernel = |a: &Tensor, b: &Tensor| -> Result<Tensor> {
        // Distances of matching rows: [B].
        let d = a
            .f_sub(b)?
            .f_square()?
            .f_sum_dim_intlist([1i64].as_slice(), false, Kind::Float)?;
        gaussian_mean(&d, &widths)
    };
    match estimator {
        MmdEstimator::Quadratic => {
            let kss = gaussian_mean(&squared_distances(&xs, &xs)?, &widths)?;
            let ktt = gaussian_mean(&squared_distances(&xt, &xt)?, &widths)?;
            let kst = gaussian_mean(&squared_distances(&xs, &xt)?, &widths)?;
            let off = |k: &Tensor, r: i64| -> Result<Tensor> {
                Ok(k.f_sum(Kind::Float)?
                    .f_sub(&k.f_diagonal(0, 0, 1)?.f_sum(Kind::Float)?)?
                    .f_div_scalar((r * (r - 1)) as f64)?)
            };
            Ok(off(&kss, n)?
                .f_add(&off(&ktt, m)?)?
                .f_sub(&kst.f_mean(Kind::Float)?.f_mul_scalar(2.0)?)?)
        }
        MmdEstimator::Linear => {
            let half = n / 2;
            let odd = |x: &Tensor| x.f_slice(0, 0, 2 * half, 2);
            let even = |x: &Tensor| x.f_slice(0, 1, 2 * half, 2);
            let (s1, s2, t1, t2) = (odd(&xs)?, even(&xs)?, odd(&xt)?, even(&xt)?);
            let h = kernel(&s1, &s2)?
                .f_add(&kernel(&t1, &t2)?)?
                .f_sub(&kernel(&s1, &t2)?)?
                .f_sub(&kernel(&s2, &t1)?)?;
            Ok(h.f_mean(Kind::Float)?)
        }
    }
}

/// `‖a_i - b_j‖²` for all rows, `[A, B]`, from the differences themselves
/// (`A × B × D` values; the expansion `‖a‖² + ‖b‖² - 2ab` loses the small
/// distances that the narrow kernels weigh most).
fn squared_distances(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    Ok(a.f_unsqueeze(1)?
        .f_sub(&b.f_unsqueeze(0)?)?
        .f_square()?
        .f_sum_dim_intlist([2i64].as_slice(), false, Kind::Float)?)
}

/// `‖x_i - x_j‖²` for all rows of `x` `[K, D]`, `[K, K]`, from the Gram
/// matrix in double precision, `‖x_i‖² + ‖x_j‖² - 2 x_i·x_j`: a `K × K`
/// product instead of the `K × K × D` differences, for the bandwidth
/// heuristics (a median or mean of the distances, not differentiated),
/// where double precision keeps the expansion's rounding far below what
/// the heuristic needs.
fn gram_distances(x: &Tensor) -> Result<Tensor> {
    let x = x.f_to_kind(Kind::Double)?;
    let gram = x.f_matmul(&x.f_transpose(0, 1)?)?;
    let norms = gram.f_diagonal(0, 0, 1)?;
    Ok(norms
        .f_unsqueeze(1)?
        .f_add(&norms.f_unsqueeze(0)?)?
        .f_sub(&gram.f_mul_scalar(2.0)?)?
        .f_clamp_min(0.0)?)
}

/// The mean over `widths` of `exp(-d / s)`, elementwise.
fn gaussian_mean(d: &Tensor, widths: &[f64]) -> Result<Tensor> {
    let mut sum = d.f_zeros_like()?;
    for &s in widths {
        sum = sum.f_add(&d.f_div_scalar(-s)?.f_exp()?)?;
    }
    Ok(sum.f_div_scalar(widths.len() as f64)?)
}

/// Deep CORAL's loss (Sun & Saenko 2016): `‖C_S - C_T‖²_F / (4 d²)`, with
/// `C` each domain's feature covariance (denominator `B - 1`).
pub fn coral(source: &Tensor, target: &Tensor) -> Result<Tensor> {
    let (_, _, d) = pair(source, target, 2)?;
    let cov = |x: &Tensor| -> Result<Tensor> {
        let x = x.f_to_kind(Kind::Float)?;
        let centred = x.f_sub(&x.f_mean_dim([0i64].as_slice(), true, Kind::Float)?)?;
        Ok(centred
            .f_tr()?
            .f_matmul(&centred)?
            .f_div_scalar((x.size()[0] - 1) as f64)?)
    };
    Ok(cov(source)?
        .f_sub(&cov(target)?)?
        .f_square()?
        .f_sum(Kind::Float)?
        .f_div_scalar(4.0 * (d * d) as f64)?)
}

/// DSN's difference loss (Bousmalis et al. 2016): the soft orthogonality
/// `‖H_cᵀ H_p‖²_F` between one domain's shared features `H_c` `[B, D1]` and
/// its private features `H_p` `[B, D2]` (the paper sums it over both
/// domains).
pub fn difference_loss(shared: &Tensor, private: &Tensor) -> Result<Tensor> {
    check::defined(shared, "shared features")?;
    check::defined(private, "private features")?;
    let (s, p) = (shared.size(), private.size());
    if s.len() != 2 || p.len() != 2 || s[0] != p[0] {
        return Err(Error::shape(
            "private features",
            format!(
                "[B, D] with the shared features' B (shared {})",
                check::shape_str(&s)
            ),
            check::shape_str(&p),
        ));
    }
    check::floating(shared, "shared features")?;
    check::floating(private, "private features")?;
    Ok(shared
        .f_to_kind(Kind::Float)?
        .f_tr()?
        .f_matmul(&private.f_to_kind(Kind::Float)?)?
        .f_square()?
        .f_sum(Kind::Float)?)
}

/// DSN's difference loss as the authors' code computes it: each code
/// centred over the batch and scaled to unit length per example, then the
/// mean of the squared entries of `Ĥ_cᵀ Ĥ_p` (squared correlations, 0 to
/// 1). Unlike the paper's raw formula ([`difference_loss`]) it does not
/// grow with the batch size, the code width or the codes' scale, so one
/// weight suits any network.
pub fn difference_loss_normalized(shared: &Tensor, private: &Tensor) -> Result<Tensor> {
    // Checks the shapes and kinds.
    let _ = difference_loss(shared, private)?;
    let unit = |x: &Tensor| -> Result<Tensor> {
        let x = x.f_to_kind(Kind::Float)?;
        let centred = x.f_sub(&x.f_mean_dim([0i64].as_slice(), true, Kind::Float)?)?;
        let norms = centred
            .f_square()?
            .f_sum_dim_intlist([1i64].as_slice(), true, Kind::Float)?
            .f_sqrt()?
            .f_clamp_min(1e-12)?;
        Ok(centred.f_div(&norms)?)
    };
    Ok(unit(shared)?
        .f_tr()?
        .f_matmul(&unit(private)?)?
        .f_square()?
        .f_mean(Kind::Float)?)
}

/// DSN's scale-invariant mean squared error (Eigen et al. 2014) between
/// images and their reconstructions `[B, ...]`: for each example, with
/// `d = x - x̂` over its `k` values, `‖d‖²/k - (Σd)²/k²`, averaged over the
/// batch. A shift of the whole image costs nothing: the reconstruction
/// need only get the shape right.
pub fn scale_invariant_mse(images: &Tensor, reconstructions: &Tensor) -> Result<Tensor> {
    check::defined(images, "images")?;
    check::defined(reconstructions, "reconstructions")?;
    let size = images.size();
    if size.len() < 2 || reconstructions.size() != size || size[1..].iter().product::<i64>() == 0 {
        return Err(Error::shape(
            "reconstructions",
            format!(
                "the images' shape {} (at least one value per example)",
                check::shape_str(&size)
            ),
            check::shape_str(&reconstructions.size()),
        ));
    }
    check::floating(images, "images")?;
    check::floating(reconstructions, "reconstructions")?;
    let d = images
        .f_to_kind(Kind::Float)?
        .f_sub(&reconstructions.f_to_kind(Kind::Float)?)?
        .f_flatten(1, -1)?;
    let k = d.size()[1] as f64;
    let squares = d
        .f_square()?
        .f_sum_dim_intlist([1i64].as_slice(), false, Kind::Float)?;
    let sums = d.f_sum_dim_intlist([1i64].as_slice(), false, Kind::Float)?;
    Ok(squares
        .f_div_scalar(k)?
        .f_sub(&sums.f_square()?.f_div_scalar(k * k)?)?
        .f_mean(Kind::Float)?)
}

/// ADDA's loss for the target encoder (Tzeng et al. 2017): the
/// discriminator's cross-entropy on target features labelled as source
/// (class 0), the GAN loss with inverted labels. `logits` `[B, 2]` are the
/// discriminator's on the target encoder's features.
pub fn adda_target_loss(logits: &Tensor) -> Result<Tensor> {
    check::defined(logits, "discriminator logits")?;
    let size = logits.size();
    if size.len() != 2 || size[1] != 2 {
        return Err(Error::shape(
            "discriminator logits",
            "[B, 2] (source, target)",
            check::shape_str(&size),
        ));
    }
    let source = Tensor::f_zeros([size[0]], (Kind::Int64, logits.device()))?;
    cross_entropy(logits, &source)
}

/// Domain labels for a discriminator: `source` zeros then `target` ones,
/// `[source + target]` (i64) on `device`, the order in which the
/// objectives stack their source and target features.
pub(crate) fn domain_labels(source: i64, target: i64, device: tch::Device) -> Result<Tensor> {
    Ok(Tensor::f_cat(
        &[
            Tensor::f_zeros([source], (Kind::Int64, device))?,
            Tensor::f_ones([target], (Kind::Int64, device))?,
        ],
        0,
    )?)
}
