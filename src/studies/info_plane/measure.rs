//! Mutual information between a layer's binned activations and the input or
//! the label, over a finite set of equally likely inputs.

use crate::error::{Error, Result};
use std::collections::HashMap;
use tch::{Kind, Tensor};

/// How activations are cut into bins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Binning {
    /// `bins` equal bins on `[lo, hi]`, values outside clamped to the end
    /// bins: Shwartz-Ziv & Tishby's 30 bins on [-1, 1] for tanh.
    Fixed {
        /// Lower edge.
        lo: f64,
        /// Upper edge.
        hi: f64,
        /// Number of bins.
        bins: usize,
    },
    /// `bins` equal bins between the smallest and largest activation the
    /// layer shows at this snapshot. For ReLU layers, whose activations are
    /// unbounded and grow during training: a fixed range would clip them
    /// into the last bin (MI falls for no reason) or leave most bins empty.
    /// Saxe et al. bin ReLU layers this way.
    Observed {
        /// Number of bins.
        bins: usize,
    },
}

impl Binning {
    /// Shwartz-Ziv & Tishby's binning for tanh: 30 bins on [-1, 1].
    pub fn tanh() -> Self {
        Binning::Fixed {
            lo: -1.0,
            hi: 1.0,
            bins: 30,
        }
    }

    /// The bin of every value of `values` (flat, row-major).
    fn digitize(&self, values: &[f64]) -> Result<Vec<u32>> {
        let (lo, hi, bins) = match *self {
            Binning::Fixed { lo, hi, bins } => (lo, hi, bins),
            Binning::Observed { bins } => {
                let lo = values.iter().cloned().fold(f64::INFINITY, f64::min);
                let hi = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                (lo, hi, bins)
            }
        };
        if bins == 0 || bins > 1 << 20 {
            return Err(Error::invalid(format!(
                "binning needs 1 to 2^20 bins, got {bins}"
            )));
        }
        if !(lo.is_finite() && hi.is_finite())
            || hi < lo
            || (hi == lo && matches!(self, Binning::Fixed { .. }))
        {
            return Err(Error::invalid(format!(
                "bins need finite edges with hi > lo, got [{lo}, {hi}]"
            )));
        }
        let width = (hi - lo) / bins as f64;
        Ok(values
            .iter()
            .map(|&v| {
                if width == 0.0 {
                    0
                } else {
                    (((v - lo) / width).floor().max(0.0) as u32).min(bins as u32 - 1)
                }
            })
            .collect())
    }
}

/// Entropy in bits of the empirical distribution of `counts` (over `total`).
pub fn entropy_bits<'a>(counts: impl IntoIterator<Item = &'a usize>, total: usize) -> f64 {
    counts
        .into_iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / total as f64;
            -p * p.log2()
        })
        .sum()
}

/// `(I(X;T), I(T;Y))` in bits, where each row of `activations` `[N, D]` is
/// the layer's response T to one of N distinct, equally likely inputs X, and
/// `labels` `[N]` gives Y. T is a function of X, so I(X;T) = H(T) of the
/// binned rows; I(T;Y) = H(Y) - H(Y|T).
pub fn mutual_information(
    activations: &Tensor,
    labels: &Tensor,
    binning: Binning,
) -> Result<(f64, f64)> {
    crate::check::defined(activations, "activations")?;
    crate::check::defined(labels, "labels")?;
    let size = activations.size();
    let (n, d) = match size[..] {
        [n, d] if n > 0 && d > 0 => (n as usize, d as usize),
        _ => {
            return Err(Error::shape(
                "activations",
                "[N, D] with N, D > 0 (flatten a layer's output per example)",
                format!("{size:?}"),
            ))
        }
    };
    if labels.size() != [n as i64] {
        return Err(Error::shape(
            "labels",
            format!("[{n}]"),
            format!("{:?}", labels.size()),
        ));
    }
    let values = Vec::<f64>::try_from(
        activations
            .f_to_kind(Kind::Double)?
            .f_to_device(tch::Device::Cpu)?
            .f_flatten(0, -1)?,
    )?;
    if values.iter().any(|v| !v.is_finite()) {
        return Err(Error::invalid("activations contain NaN or infinite values"));
    }
    let ys = Vec::<i64>::try_from(
        labels
            .f_to_kind(Kind::Int64)?
            .f_to_device(tch::Device::Cpu)?,
    )?;
    let bins = binning.digitize(&values)?;
    let mut t_counts: HashMap<&[u32], usize> = HashMap::new();
    let mut ty_counts: HashMap<(&[u32], i64), usize> = HashMap::new();
    let mut y_counts: HashMap<i64, usize> = HashMap::new();
    for (row, &y) in bins.chunks(d).zip(&ys) {
        *t_counts.entry(row).or_default() += 1;
        *ty_counts.entry((row, y)).or_default() += 1;
        *y_counts.entry(y).or_default() += 1;
    }
    let h_t = entropy_bits(t_counts.values(), n);
    let h_y = entropy_bits(y_counts.values(), n);
    let h_ty = entropy_bits(ty_counts.values(), n);
    // I(T;Y) = H(T) + H(Y) - H(T,Y); clamp rounding below zero.
    Ok((h_t, (h_t + h_y - h_ty).max(0.0)))
}
