//! Where training went: checkpoints projected onto their top two principal
//! directions (Li et al. 2018, Fig. 9), to draw over a contour plot of the
//! loss in the same plane.

use super::direction::Weights;
use crate::error::{Error, Result};
use tch::Kind;

/// The plane of a training trajectory and the checkpoints' coordinates in it.
#[derive(Debug)]
pub struct Trajectory {
    /// First principal direction (unit length over the moving tensors).
    pub d1: Weights,
    /// Second principal direction.
    pub d2: Weights,
    /// Each checkpoint's (x, y) relative to the final weights.
    pub points: Vec<(f64, f64)>,
    /// Share of the variance of the checkpoints each direction explains.
    pub explained: (f64, f64),
}

/// PCA of `checkpoints` minus `last` (the papers' matrix of differences to
/// the final point): the two leading directions and every checkpoint's
/// coordinates on them.
pub fn trajectory(checkpoints: &[Weights], last: &Weights) -> Result<Trajectory> {
    if checkpoints.len() < 2 {
        return Err(Error::invalid(
            "a trajectory needs at least two checkpoints",
        ));
    }
    // Checked before subtracting, which panics on different sizes.
    for w in checkpoints {
        last.check_same(w)?;
    }
    let end = last.flatten();
    // Two principal directions need two coordinates at least (a model
    // without parameters gives an empty vector, whose SVD has no values).
    if end.numel() < 2 {
        return Err(Error::invalid(format!(
            "a trajectory needs weight vectors of at least 2 values, got {}",
            end.numel()
        )));
    }
    // Same sizes (checked above), so the differences, the stack, the SVD
    // of an [n >= 2, p >= 2] matrix and its first two values and columns
    // cannot fail.
    let rows: Vec<_> = checkpoints.iter().map(|w| w.flatten() - &end).collect();
    let m = tch::Tensor::stack(&rows, 0).to_kind(Kind::Double);
    let centered = &m - m.mean_dim(0, true, Kind::Double);
    let (_, s, v) = centered.svd(true, true);
    let var = s.square();
    let total = var.sum(Kind::Double).double_value(&[]).max(1e-300);
    let explained = (
        var.double_value(&[0]) / total,
        var.double_value(&[1]) / total,
    );
    let (v1, v2) = (v.select(1, 0), v.select(1, 1));
    let points = (0..m.size()[0])
        .map(|i| {
            let r = m.get(i);
            (r.dot(&v1).double_value(&[]), r.dot(&v2).double_value(&[]))
        })
        .collect();
    Ok(Trajectory {
        d1: last.unflatten_like(&v1)?,
        d2: last.unflatten_like(&v2)?,
        points,
        explained,
    })
}
