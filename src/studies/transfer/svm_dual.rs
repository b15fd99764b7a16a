//! The one-vs-rest squared-hinge SVM by dual coordinate descent (Hsieh,
//! Chang, Lin, Keerthi & Sundararajan 2008, with liblinear's shrinking):
//! what `LinearSVC` runs when there are fewer examples than features.
//! There the primal's Newton steps cost a `[N, D]` product per CG step,
//! while a dual step touches one example; most examples end with a zero
//! dual variable and shrinking stops visiting them.

use super::dense::{dot, elements};
use crate::error::{Error, Result};
use crate::runtime::rng::seeded_stream;
use rand::seq::SliceRandom;
use tch::{Kind, Tensor};

/// Dual coordinate descent for
/// [`ProbeLoss::SquaredHinge`](super::ProbeLoss::SquaredHinge). For each
/// class `k` it solves `min 0.5 a' (Q + I / 2C) a - sum a` over `a >= 0`,
/// `Q_ij = t_i t_j (x_i . x_j + 1)` (the 1 is the penalised intercept),
/// and `w_k = sum_i a_i t_i x_i`: the primal minimum of the probe's
/// objective. Classes are independent problems, spread over libtorch's
/// thread count; each has its own example order from the seed, so the
/// result does not depend on the number of threads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DualCoordinateDescent {
    /// A class is done when the spread (largest minus smallest) of its
    /// projected dual gradient over all examples is at most this
    /// (liblinear's `eps`, scikit-learn's `tol`).
    pub tolerance: f64,
    /// Most passes over the examples per class.
    pub max_epochs: usize,
}

impl Default for DualCoordinateDescent {
    /// Tolerance 1e-4 and 1,000 passes (scikit-learn's `LinearSVC`
    /// defaults).
    fn default() -> Self {
        DualCoordinateDescent {
            tolerance: 1e-4,
            max_epochs: 1000,
        }
    }
}

/// One class's solution: weights `[D]`, intercept, passes used.
struct ClassFit {
    weight: Vec<f64>,
    bias: f64,
    epochs: usize,
}

impl DualCoordinateDescent {
    /// Checks the settings.
    pub(super) fn check(&self) -> Result<()> {
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) || self.max_epochs == 0 {
            return Err(Error::invalid(format!(
                "dual coordinate descent needs a finite tolerance > 0 and at least one pass, got {} and {}",
                self.tolerance, self.max_epochs
            )));
        }
        Ok(())
    }

    /// `(W [K, D], b [K], most passes any class took)` for features
    /// `x [N, D]` (f64), labels `y [N]` in `0..k` and strength `c`.
    pub(super) fn fit(
        &self,
        x: &Tensor,
        y: &Tensor,
        k: i64,
        c: f64,
        seed: u64,
    ) -> Result<(Tensor, Tensor, usize)> {
        self.check()?;
        let (n, d) = (x.size()[0] as usize, x.size()[1] as usize);
        let x = x.f_to_kind(Kind::Double)?.f_contiguous()?;
        let xs = elements(&x)?;
        let labels = Vec::<i64>::try_from(y.f_to_kind(Kind::Int64)?)?;
        let diag = 0.5 / c;
        // Q_ii + 1 / 2C, the intercept's feature included.
        let qd: Vec<f64> = xs
            .chunks(d.max(1))
            .map(|row| dot(row, row) + 1.0 + diag)
            .collect();
        let data = Problem {
            xs,
            labels: &labels,
            qd: &qd,
            n,
            d,
            diag,
        };
        let threads = (tch::get_num_threads().max(1) as usize).min(k.max(1) as usize);
        let classes: Vec<i64> = (0..k).collect();
        let per_thread = classes.len().div_ceil(threads).max(1);
        let fits: Vec<ClassFit> = std::thread::scope(|scope| {
            let handles: Vec<_> = classes
                .chunks(per_thread)
                .map(|chunk| {
                    let data = &data;
                    scope.spawn(move || {
                        chunk
                            .iter()
                            .map(|&class| self.solve(data, class, seed))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        if fits.len() != k as usize {
            return Err(Error::invalid(
                "dual coordinate descent lost a class's thread (it panicked)",
            ));
        }
        let weight: Vec<f64> = fits.iter().flat_map(|f| f.weight.iter().copied()).collect();
        let bias: Vec<f64> = fits.iter().map(|f| f.bias).collect();
        let epochs = fits.iter().map(|f| f.epochs).max().unwrap_or(0);
        Ok((
            Tensor::from_slice(&weight).f_view([k, d as i64])?,
            Tensor::from_slice(&bias),
            epochs,
        ))
    }

    /// Class `class` against the rest (liblinear's `solve_l2r_l1l2_svc`
    /// for the squared hinge, with its shrinking).
    fn solve(&self, p: &Problem, class: i64, seed: u64) -> ClassFit {
        let (n, d) = (p.n, p.d);
        let mut rng = seeded_stream(seed, class as u64);
        let mut w = vec![0.0; d];
        let mut b = 0.0;
        let mut alpha = vec![0.0; n];
        let mut index: Vec<usize> = (0..n).collect();
        let mut active = n;
        // The shrinking threshold, from the last pass. (liblinear keeps a
        // lower one too, for variables at an upper bound; the squared
        // hinge has none.)
        let mut pg_max_old = f64::INFINITY;
        let mut epochs = 0;
        while epochs < self.max_epochs {
            let (mut pg_max, mut pg_min) = (f64::NEG_INFINITY, f64::INFINITY);
            index[..active].shuffle(&mut rng);
            let mut s = 0;
            while s < active {
                let i = index[s];
                let row = &p.xs[i * d..(i + 1) * d];
                let t = if p.labels[i] == class { 1.0 } else { -1.0 };
                let g = t * (dot(&w, row) + b) - 1.0 + p.diag * alpha[i];
                let pg = if alpha[i] == 0.0 {
                    if g > pg_max_old {
                        // At its bound and pushed further: leave it out
                        // until the next full check.
                        active -= 1;
                        index.swap(s, active);
                        continue;
                    }
                    g.min(0.0)
                } else {
                    g
                };
                pg_max = pg_max.max(pg);
                pg_min = pg_min.min(pg);
                if pg.abs() > 1e-12 {
                    let old = alpha[i];
                    alpha[i] = (old - g / p.qd[i]).max(0.0);
                    let step = (alpha[i] - old) * t;
                    for (wj, xj) in w.iter_mut().zip(row) {
                        *wj += step * xj;
                    }
                    b += step;
                }
                s += 1;
            }
            epochs += 1;
            if pg_max - pg_min <= self.tolerance {
                if active == n {
                    break;
                }
                // Converged on the active set: check every example again.
                active = n;
                pg_max_old = f64::INFINITY;
                continue;
            }
            pg_max_old = if pg_max <= 0.0 { f64::INFINITY } else { pg_max };
        }
        ClassFit {
            weight: w,
            bias: b,
            epochs,
        }
    }
}

/// The data every class reads.
struct Problem<'a> {
    /// `[N, D]`, row-major.
    xs: &'a [f64],
    labels: &'a [i64],
    /// `x_i . x_i + 1 + 1 / 2C`.
    qd: &'a [f64],
    n: usize,
    d: usize,
    /// `1 / 2C`.
    diag: f64,
}
