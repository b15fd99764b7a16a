//! t-SNE's gradient descent for the interpolated gradient, as the original
//! implementation runs it (van der Maaten 2014): momentum 0.5 then 0.8,
//! per-coordinate gains (Jacobs 1988: +0.2 while the gradient keeps
//! its sign against the last update, x0.8 when it flips, at least 0.01),
//! the attraction exaggerated 12-fold in the first epochs, and the
//! embedding re-centred after every step. The gradient is written without
//! the factor 4 of the paper's formula, as bhtsne, FIt-SNE and openTSNE do,
//! so that one learning rate means the same step in all of them.

use super::affinity::Affinities;
use super::interpolation::{repulsion, Convolution, Grid};
use crate::error::Result;
use tch::Tensor;

/// The early-exaggeration factor on P.
const EXAGGERATION: f64 = 12.0;

/// The schedule of one descent.
pub(super) struct Schedule {
    pub epochs: usize,
    /// Epochs with exaggerated P and momentum 0.5.
    pub early: usize,
    pub learning_rate: f64,
}

/// P in compressed rows: row `i`'s pairs are entries
/// `starts[i]..starts[i + 1]` of `cols` and `values`.
struct Rows {
    starts: Vec<usize>,
    cols: Vec<usize>,
    values: Vec<f64>,
}

impl Rows {
    /// `p` is sorted by row (see [`Affinities`]), so only the row starts
    /// need counting.
    fn new(p: &Affinities, n: usize) -> Result<Rows> {
        let rows = Vec::<i64>::try_from(&p.rows)?;
        let mut starts = vec![0usize; n + 1];
        for &r in &rows {
            starts[r as usize + 1] += 1;
        }
        for i in 0..n {
            starts[i + 1] += starts[i];
        }
        Ok(Rows {
            starts,
            cols: Vec::<i64>::try_from(&p.cols)?
                .into_iter()
                .map(|c| c as usize)
                .collect(),
            values: Vec::<f64>::try_from(&p.values)?,
        })
    }

    /// `sum_j p_ij (y_i - y_j) / (1 + |y_i - y_j|^2)` for the points
    /// `y` (`[N * 2]`, interleaved) into `pull` (`[N * 2]`), the rows split
    /// over `threads` threads. A loop over the pairs: as tensor
    /// operations each of the million pairs' temporaries was a fresh
    /// allocation, 29 of the 65 seconds of 10,000 points' descent.
    fn attraction(&self, y: &[f64], pull: &mut [f64], threads: usize) {
        let n = self.starts.len() - 1;
        let threads = threads.clamp(1, n.max(1));
        let per = n.div_ceil(threads).max(1);
        let rows_from = |first: usize, out: &mut [f64]| {
            for (k, force) in out.chunks_exact_mut(2).enumerate() {
                let i = first + k;
                let (yi0, yi1) = (y[2 * i], y[2 * i + 1]);
                let (mut f0, mut f1) = (0.0, 0.0);
                for e in self.starts[i]..self.starts[i + 1] {
                    let j = self.cols[e];
                    let (d0, d1) = (yi0 - y[2 * j], yi1 - y[2 * j + 1]);
                    let w = self.values[e] / (1.0 + d0 * d0 + d1 * d1);
                    f0 += w * d0;
                    f1 += w * d1;
                }
                force[0] = f0;
                force[1] = f1;
            }
        };
        if threads == 1 {
            rows_from(0, pull);
            return;
        }
        std::thread::scope(|s| {
            for (c, out) in pull.chunks_mut(2 * per).enumerate() {
                let rows_from = &rows_from;
                s.spawn(move || rows_from(c * per, out));
            }
        });
    }
}

/// `torch.sign`: 0 at 0 (`f64::signum` gives 1 there).
fn sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Runs the descent from `start [N, 2]` (f64) on P; returns the embedding.
pub(super) fn descend(p: &Affinities, start: &Tensor, schedule: &Schedule) -> Result<Tensor> {
    let grid = Grid::default();
    let n = start.size()[0] as usize;
    let rows = Rows::new(p, n)?;
    let mut y = Vec::<f64>::try_from(start.f_flatten(0, -1)?)?;
    let mut update = vec![0.0f64; 2 * n];
    let mut gains = vec![1.0f64; 2 * n];
    let mut pull = vec![0.0; 2 * n];
    let mut convolution = Convolution::default();
    let threads = tch::get_num_threads().max(1) as usize;
    for epoch in 0..schedule.epochs {
        let early = epoch < schedule.early;
        let (exaggeration, momentum) = if early {
            (EXAGGERATION, 0.5)
        } else {
            (1.0, 0.8)
        };
        let (push, z) = repulsion(&y, &grid, &mut convolution)?;
        rows.attraction(&y, &mut pull, threads);
        for k in 0..2 * n {
            let gradient = exaggeration * pull[k] - push[k] / z;
            // Gains grow where the gradient opposes the last update (the
            // descent keeps going that way) and shrink where they agree.
            let flipped = sign(gradient) != sign(update[k]);
            let gain = if flipped {
                gains[k] + 0.2
            } else {
                gains[k] * 0.8
            };
            gains[k] = gain.max(0.01);
            update[k] = momentum * update[k] - schedule.learning_rate * gains[k] * gradient;
            y[k] += update[k];
        }
        for d in 0..2 {
            let mean = y.iter().skip(d).step_by(2).sum::<f64>() / n as f64;
            y.iter_mut().skip(d).step_by(2).for_each(|v| *v -= mean);
        }
    }
    Ok(Tensor::from_slice(&y).f_view([n as i64, 2])?)
}

#[cfg(test)]
mod tests {
    use super::super::affinity::nearest_neighbours;
    use super::*;
    use tch::{Device, Kind};

    /// The loop over P's rows against the dense sum over all pairs, on one
    /// thread and on several (rows split unevenly).
    #[test]
    fn attraction_is_the_dense_sum_over_p() {
        tch::manual_seed(3);
        let opts = (Kind::Double, Device::Cpu);
        let n = 101;
        let p = nearest_neighbours(&Tensor::randn([n, 6], opts), 5.0).unwrap();
        let y = Tensor::randn([n, 2], opts) * 3.0;
        let dense = Tensor::zeros([n, n], opts).index_put(
            &[Some(&p.rows), Some(&p.cols)],
            &p.values,
            false,
        );
        let diff = y.unsqueeze(1) - y.unsqueeze(0);
        let q = (diff
            .square()
            .sum_dim_intlist([2i64].as_slice(), false, Kind::Double)
            + 1.0)
            .reciprocal();
        let expected = (diff * (dense * q).unsqueeze(2)).sum_dim_intlist(
            [1i64].as_slice(),
            false,
            Kind::Double,
        );
        let rows = Rows::new(&p, n as usize).unwrap();
        let flat = Vec::<f64>::try_from(y.flatten(0, -1)).unwrap();
        for threads in [1, 2, 3, 500] {
            let mut pull = vec![f64::NAN; 2 * n as usize];
            rows.attraction(&flat, &mut pull, threads);
            let got = Tensor::from_slice(&pull).view([n, 2]);
            let err = (got - &expected).abs().max().double_value(&[]);
            assert!(err < 1e-15, "{threads} threads: {err:.2e}");
        }
    }
}
