//! Summaries of repeated measurements: the mean and sample standard
//! deviation of a quantity over seeds, draws or runs, and the
//! "mean ± sd" text that tables show; Spearman's rank correlation, for
//! comparing our ordering of methods with a paper's.
//!
//! ```
//! use deepscope::stats::MeanSd;
//! let acc = MeanSd::of(&[0.81, 0.83, 0.82])?;
//! assert_eq!(acc.percent(1), "82.0 ± 1.0%");
//! # Ok::<(), deepscope::Error>(())
//! ```

use crate::error::{Error, Result};
use std::fmt;

/// Mean and sample standard deviation of `n` values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanSd {
    /// The arithmetic mean.
    pub mean: f64,
    /// The sample standard deviation (divisor `n - 1`; 0 for one value).
    pub sd: f64,
    /// How many values.
    pub n: usize,
}

impl MeanSd {
    /// The mean and sample standard deviation of `values`; an error for no
    /// values or a value that is NaN or infinite (a failed run should be
    /// seen, not averaged away).
    pub fn of(values: &[f64]) -> Result<MeanSd> {
        if values.is_empty() {
            return Err(Error::invalid("a mean needs at least one value, got none"));
        }
        if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(Error::invalid(format!(
                "value {i} of {} is {v}; the mean and standard deviation need finite values",
                values.len()
            )));
        }
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let sd = if n > 1 {
            (values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Ok(MeanSd { mean, sd, n })
    }

    /// `"mean ± sd"` with `digits` decimals, e.g. `"0.4213 ± 0.0102"`; the
    /// mean alone for one value, whose spread is unknown, not zero.
    pub fn cell(&self, digits: usize) -> String {
        if self.n == 1 {
            return format!("{:.digits$}", self.mean);
        }
        format!("{:.digits$} ± {:.digits$}", self.mean, self.sd)
    }

    /// A fraction as percent, `"82.0 ± 1.0%"` with `digits` decimals
    /// (`"82.0%"` for one value).
    pub fn percent(&self, digits: usize) -> String {
        if self.n == 1 {
            return format!("{:.digits$}%", 100.0 * self.mean);
        }
        format!(
            "{:.digits$} ± {:.digits$}%",
            100.0 * self.mean,
            100.0 * self.sd
        )
    }
}

impl fmt::Display for MeanSd {
    /// `"mean ± sd (n = k)"`, with the precision asked for (4 by default).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = f.precision().unwrap_or(4);
        write!(f, "{} (n = {})", self.cell(digits), self.n)
    }
}

/// Spearman's rank correlation between paired values `a` and `b`: the
/// Pearson correlation of their ranks, ties given their average rank (as
/// `scipy.stats.spearmanr`). 1 when the two order the items the same way,
/// -1 when oppositely. An error for fewer than 2 pairs, lengths that differ,
/// a non-finite value, or a side whose values are all equal (no order).
pub fn spearman(a: &[f64], b: &[f64]) -> Result<f64> {
    if a.len() != b.len() || a.len() < 2 {
        return Err(Error::invalid(format!(
            "a rank correlation needs two equally long lists of at least 2 values, got {} and {}",
            a.len(),
            b.len()
        )));
    }
    if a.iter().chain(b).any(|v| !v.is_finite()) {
        return Err(Error::invalid("a rank correlation needs finite values"));
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let mean = (a.len() as f64 + 1.0) / 2.0;
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        ab += (x - mean) * (y - mean);
        aa += (x - mean).powi(2);
        bb += (y - mean).powi(2);
    }
    if aa == 0.0 || bb == 0.0 {
        return Err(Error::invalid(
            "a rank correlation needs values that are not all equal on each side",
        ));
    }
    Ok(ab / (aa * bb).sqrt())
}

/// Ranks from 1, ties sharing their average rank.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut out = vec![0.0; v.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && v[order[end]] == v[order[start]] {
            end += 1;
        }
        let rank = (start + end + 1) as f64 / 2.0;
        for &i in &order[start..end] {
            out[i] = rank;
        }
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_sd_match_hand_computed_values() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, squared deviations sum to 32,
        // sample variance 32 / 7.
        let m = MeanSd::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(m.mean, 5.0);
        assert!((m.sd - (32.0f64 / 7.0).sqrt()).abs() < 1e-15);
        assert_eq!(m.n, 8);
        assert_eq!(m.cell(2), "5.00 ± 2.14");
        assert_eq!(format!("{m:.1}"), "5.0 ± 2.1 (n = 8)");
        let one = MeanSd::of(&[0.25]).unwrap();
        assert_eq!((one.mean, one.sd), (0.25, 0.0));
        // One value has no spread to show: the mean alone.
        assert_eq!(one.percent(1), "25.0%");
        assert_eq!(one.cell(3), "0.250");
        assert_eq!(format!("{one:.2}"), "0.25 (n = 1)");
    }

    /// Values from `scipy.stats.spearmanr` (SciPy 1.x), with a tie.
    #[test]
    fn spearman_matches_scipy_with_ties() {
        let r = spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5.0, 6.0, 7.0, 8.0, 7.0]).unwrap();
        assert!((r - 0.820_782_681_668_123_3).abs() < 1e-12, "{r}");
        let r = spearman(
            &[52.25, 57.7, 76.66, 76.9, 83.2, 95.96],
            &[3.0, 1.0, 2.0, 5.0, 4.0, 6.0],
        )
        .unwrap();
        assert!((r - 0.771_428_571_428_571_5).abs() < 1e-12, "{r}");
        assert_eq!(
            spearman(&[1.0, 2.0, 3.0], &[30.0, 20.0, 10.0]).unwrap(),
            -1.0
        );
        assert!(spearman(&[1.0], &[1.0]).is_err());
        assert!(spearman(&[1.0, 2.0], &[1.0]).is_err());
        assert!(spearman(&[1.0, 1.0], &[1.0, 2.0]).is_err());
        assert!(spearman(&[1.0, f64::NAN], &[1.0, 2.0]).is_err());
    }

    #[test]
    fn no_values_or_a_non_finite_one_is_an_error() {
        assert!(MeanSd::of(&[])
            .unwrap_err()
            .to_string()
            .contains("at least one value"));
        let e = MeanSd::of(&[1.0, f64::NAN]).unwrap_err().to_string();
        assert!(e.contains("value 1 of 2 is NaN"), "{e}");
    }
}
