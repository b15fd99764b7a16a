//! Summaries of repeated measurements: the mean and sample standard
//! deviation of a quantity over seeds, draws or runs, and the
//! "mean ± sd" text that tables show.
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

    /// `"mean ± sd"` with `digits` decimals, e.g. `"0.4213 ± 0.0102"`.
    pub fn cell(&self, digits: usize) -> String {
        format!("{:.digits$} ± {:.digits$}", self.mean, self.sd)
    }

    /// A fraction as percent, `"82.0 ± 1.0%"` with `digits` decimals.
    pub fn percent(&self, digits: usize) -> String {
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
        assert_eq!(one.percent(1), "25.0 ± 0.0%");
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
