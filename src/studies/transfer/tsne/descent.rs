//! t-SNE's gradient descent for the interpolated gradient, as the original
//! implementation runs it (van der Maaten 2014): momentum 0.5 then 0.8,
//! per-coordinate gains (Jacobs 1988: +0.2 while the gradient keeps
//! its sign against the last update, x0.8 when it flips, at least 0.01),
//! the attraction exaggerated 12-fold in the first epochs, and the
//! embedding re-centred after every step. The gradient is written without
//! the factor 4 of the paper's formula, as bhtsne, FIt-SNE and openTSNE do,
//! so that one learning rate means the same step in all of them.

use super::affinity::Affinities;
use super::interpolation::{repulsion, Grid};
use crate::error::Result;
use tch::{Kind, Tensor};

/// The early-exaggeration factor on P.
const EXAGGERATION: f64 = 12.0;

/// The schedule of one descent.
pub(super) struct Schedule {
    pub epochs: usize,
    /// Epochs with exaggerated P and momentum 0.5.
    pub early: usize,
    pub learning_rate: f64,
}

/// `sum_j p_ij (y_i - y_j) / (1 + |y_i - y_j|^2)` per point, `[N, 2]`.
fn attraction(y: &Tensor, p: &Affinities) -> Result<Tensor> {
    let diff = y
        .f_index_select(0, &p.rows)?
        .f_sub(&y.f_index_select(0, &p.cols)?)?;
    let w = diff
        .f_square()?
        .f_sum_dim_intlist([1i64].as_slice(), true, Kind::Double)?
        .f_add_scalar(1.0)?
        .f_reciprocal()?;
    let pull = diff.f_mul(&w.f_mul(&p.values.f_unsqueeze(1)?)?)?;
    Ok(y.f_zeros_like()?.f_index_add(0, &p.rows, &pull)?)
}

/// Runs the descent from `start [N, 2]` (f64) on P; returns the embedding.
pub(super) fn descend(p: &Affinities, start: &Tensor, schedule: &Schedule) -> Result<Tensor> {
    let grid = Grid::default();
    let mut y = start.f_detach_copy()?;
    let mut update = y.f_zeros_like()?;
    let mut gains = y.f_ones_like()?;
    for epoch in 0..schedule.epochs {
        let early = epoch < schedule.early;
        let (exaggeration, momentum) = if early {
            (EXAGGERATION, 0.5)
        } else {
            (1.0, 0.8)
        };
        let (push, z) = repulsion(&y, &grid)?;
        let gradient = attraction(&y, p)?
            .f_mul_scalar(exaggeration)?
            .f_sub(&push.f_div_scalar(z)?)?;
        // Gains grow where the gradient opposes the last update (the
        // descent keeps going that way) and shrink where they agree.
        let flipped = gradient.f_sign()?.f_ne_tensor(&update.f_sign()?)?;
        gains = gains
            .f_add_scalar(0.2)?
            .f_where_self(&flipped, &gains.f_mul_scalar(0.8)?)?
            .f_clamp_min(0.01)?;
        update = update.f_mul_scalar(momentum)?.f_sub(
            &gains
                .f_mul(&gradient)?
                .f_mul_scalar(schedule.learning_rate)?,
        )?;
        y = y.f_add(&update)?;
        y = y.f_sub(&y.f_mean_dim([0i64].as_slice(), true, Kind::Double)?)?;
    }
    Ok(y)
}
