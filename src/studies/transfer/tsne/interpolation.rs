//! t-SNE's repulsive forces by interpolation on a grid and convolution by
//! FFT (Linderman, Rachh, Hoskins, Steinerberger & Kluger 2019, "Fast
//! interpolation-based t-SNE for improved visualization of single-cell
//! RNA-seq data", the method of FIt-SNE and of openTSNE's default).
//!
//! The repulsion on point `i` needs sums over all points `j` of the
//! kernel `K(y_i, y_j) = 1 / (1 + |y_i - y_j|^2)^2` times a charge of `j`.
//! The kernel is smooth, so within a small box it is well approximated by
//! its polynomial interpolant on a few equispaced nodes: each point's
//! charge is spread onto the nodes of its box (Lagrange weights), the
//! node-to-node sums are one convolution on a regular grid (an FFT), and
//! the potentials are interpolated back to the points. The cost is
//! `O(N p^2 + G log G)` for `G` grid nodes instead of `O(N^2)`.
//!
//! With four charges, `1, y_x, y_y, |y|^2`, the same kernel gives both the
//! force `sum_j K_ij (y_i - y_j)` and the normaliser
//! `Z = sum_{i != j} 1 / (1 + |y_i - y_j|^2)`, since
//! `1 / (1 + d^2) = (1 + d^2) K` and `d^2 = |y_i|^2 - 2 y_i.y_j + |y_j|^2`.

use crate::error::Result;
use tch::{Kind, Tensor};

/// The interpolation grid's settings (openTSNE's defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Grid {
    /// Interpolation nodes per box and dimension (3: quadratic).
    pub nodes_per_box: i64,
    /// Fewest boxes per dimension.
    pub min_boxes: i64,
    /// Boxes per unit of the embedding's extent: boxes stay about one unit
    /// wide, so that the kernel (width about 1) is smooth across a box.
    pub boxes_per_unit: f64,
}

impl Default for Grid {
    fn default() -> Self {
        Grid {
            nodes_per_box: 3,
            min_boxes: 50,
            boxes_per_unit: 1.0,
        }
    }
}

/// `1 / (1 + d^2)^2`.
fn kernel(d2: &Tensor) -> Result<Tensor> {
    Ok(d2.f_add_scalar(1.0)?.f_square()?.f_reciprocal()?)
}

/// The repulsion of the embedding `y [N, 2]` (f64): per point
/// `sum_{j != i} (y_i - y_j) / (1 + |y_i - y_j|^2)^2` `[N, 2]`, and
/// `Z = sum_{i != j} 1 / (1 + |y_i - y_j|^2)`. The gradient's repulsive
/// part is the first divided by the second.
pub(super) fn repulsion(y: &Tensor, grid: &Grid) -> Result<(Tensor, f64)> {
    let n = y.size()[0];
    let (kind, device) = (Kind::Double, y.device());
    let p = grid.nodes_per_box;
    // One square box over both dimensions (as FIt-SNE), split into boxes.
    let lo = y.f_min()?.f_double_value(&[])?;
    let hi = y.f_max()?.f_double_value(&[])?;
    let span = (hi - lo).max(1e-6);
    let boxes = grid
        .min_boxes
        .max((span * grid.boxes_per_unit).ceil() as i64);
    let width = span / boxes as f64;
    // The grid's nodes, `p` per box at its (a + 1/2) / p: equispaced over
    // the whole square with spacing width / p.
    let m = boxes * p;
    let spacing = width / p as f64;

    // Each point's box and its place in it, per dimension, `[N, 2]`.
    let scaled = y.f_sub_scalar(lo)?.f_div_scalar(width)?;
    let cell = scaled.f_floor()?.f_clamp(0.0, (boxes - 1) as f64)?;
    let local = scaled.f_sub(&cell)?;
    let cell = cell.f_to_kind(Kind::Int64)?;
    // Lagrange weights of the box's nodes at `local`, `[N, 2, p]`.
    let nodes: Vec<f64> = (0..p).map(|a| (a as f64 + 0.5) / p as f64).collect();
    let mut weights = Vec::with_capacity(p as usize);
    for (a, &ta) in nodes.iter().enumerate() {
        let mut w = local.f_ones_like()?;
        for (b, &tb) in nodes.iter().enumerate() {
            if a != b {
                w = w.f_mul(&local.f_sub_scalar(tb)?.f_div_scalar(ta - tb)?)?;
            }
        }
        weights.push(w);
    }
    let weights = Tensor::f_stack(&weights, 2)?;
    // The grid index of node (a, b) of each point's box, and its weight,
    // `[N, p * p]`.
    let offsets = Tensor::f_arange(p, (Kind::Int64, device))?;
    let first = cell.f_mul_scalar(p)?;
    let ix = first.f_select(1, 0)?.f_unsqueeze(1)?.f_add(&offsets)?;
    let iy = first.f_select(1, 1)?.f_unsqueeze(1)?.f_add(&offsets)?;
    let index = ix
        .f_unsqueeze(2)?
        .f_mul_scalar(m)?
        .f_add(&iy.f_unsqueeze(1)?)?
        .f_view([n * p * p])?;
    let w = weights
        .f_select(1, 0)?
        .f_unsqueeze(2)?
        .f_mul(&weights.f_select(1, 1)?.f_unsqueeze(1)?)?
        .f_view([n, p * p, 1])?;

    // Charges `[N, 4]`: 1, y_x, y_y, |y|^2.
    let norm2 = y
        .f_square()?
        .f_sum_dim_intlist([1i64].as_slice(), true, kind)?;
    let charges = Tensor::f_cat(&[&y.f_ones_like()?.f_narrow(1, 0, 1)?, y, &norm2], 1)?;
    let spread = w.f_mul(&charges.f_unsqueeze(1)?)?.f_view([n * p * p, 4])?;
    let on_grid = Tensor::f_zeros([m * m, 4], (kind, device))?
        .f_index_add(0, &index, &spread)?
        .f_tr()?
        .f_reshape([4, m, m])?;

    // The kernel between nodes (i, j) depends on i - j only: a circular
    // convolution on a grid twice as large is the exact sum over nodes.
    let steps = Tensor::f_arange(2 * m, (kind, device))?;
    let steps = steps.f_where_self(&steps.f_lt(m as f64)?, &steps.f_sub_scalar(2 * m)?)?;
    let d = steps.f_mul_scalar(spacing)?.f_square()?;
    let k = kernel(&d.f_unsqueeze(1)?.f_add(&d.f_unsqueeze(0)?)?)?;
    let size = [2 * m, 2 * m];
    let k_hat = k.f_fft_rfft2(Some(size.as_slice()), [-2i64, -1].as_slice(), "backward")?;
    let q_hat = on_grid.f_fft_rfft2(Some(size.as_slice()), [-2i64, -1].as_slice(), "backward")?;
    let potential = q_hat
        .f_mul(&k_hat)?
        .f_fft_irfft2(Some(size.as_slice()), [-2i64, -1].as_slice(), "backward")?
        .f_narrow(1, 0, m)?
        .f_narrow(2, 0, m)?
        .f_reshape([4, m * m])?
        .f_tr()?;

    // Back to the points: phi `[N, 4]`, each sum including j = i (K = 1).
    let phi = potential
        .f_index_select(0, &index)?
        .f_view([n, p * p, 4])?
        .f_mul(&w)?
        .f_sum_dim_intlist([1i64].as_slice(), false, kind)?;
    let phi1 = phi.f_narrow(1, 0, 1)?;
    let phi_y = phi.f_narrow(1, 1, 2)?;
    let phi4 = phi.f_narrow(1, 3, 1)?;
    // The self term cancels in the force (y_i * 1 - y_i) and adds 1 to
    // each point's share of Z.
    let force = y.f_mul(&phi1)?.f_sub(&phi_y)?;
    let z = norm2
        .f_add_scalar(1.0)?
        .f_mul(&phi1)?
        .f_sub(
            &y.f_mul(&phi_y)?
                .f_sum_dim_intlist([1i64].as_slice(), true, kind)?
                .f_mul_scalar(2.0)?,
        )?
        .f_add(&phi4)?
        .f_sum(kind)?
        .f_double_value(&[])?
        - n as f64;
    Ok((force, z))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// The interpolated sums against the direct O(N^2) ones on points
    /// spread as an embedding is mid-run (clusters tens of units apart),
    /// at openTSNE's grid and at one four times finer.
    #[test]
    fn interpolated_repulsion_matches_the_direct_sums() {
        tch::manual_seed(0);
        let opts = (Kind::Double, Device::Cpu);
        let n = 600;
        let centres = Tensor::randn([6, 2], opts) * 15.0;
        let which = Tensor::randint(6, [n], (Kind::Int64, Device::Cpu));
        let y = centres.index_select(0, &which) + Tensor::randn([n, 2], opts) * 2.0;

        let diff = y.unsqueeze(1) - y.unsqueeze(0);
        let d2 = diff
            .square()
            .sum_dim_intlist([2i64].as_slice(), false, Kind::Double);
        let q = (d2 + 1.0).reciprocal();
        let exact_force = (&diff * q.square().unsqueeze(2)).sum_dim_intlist(
            [1i64].as_slice(),
            false,
            Kind::Double,
        );
        let exact_z = q.sum(Kind::Double).double_value(&[]) - n as f64;

        let relative = |bpu: f64| {
            let grid = Grid {
                boxes_per_unit: bpu,
                ..Grid::default()
            };
            let (force, z) = repulsion(&y, &grid).unwrap();
            let norm = |t: &Tensor| t.square().sum(Kind::Double).sqrt().double_value(&[]);
            (
                norm(&(&force - &exact_force)) / norm(&exact_force),
                (z - exact_z).abs() / exact_z,
            )
        };
        // openTSNE's grid (boxes one unit wide): about 2% of the force.
        let (force_err, z_err) = relative(1.0);
        assert!(
            force_err < 0.03 && z_err < 5e-3,
            "{force_err:.2e} {z_err:.2e}"
        );
        // Quadratic interpolation: the error falls as the box width cubed
        // (8x per halving), which a wrong node, weight or kernel would not.
        let (fine_force, fine_z) = relative(4.0);
        assert!(
            fine_force < force_err / 30.0,
            "{fine_force:.2e} against {force_err:.2e}"
        );
        assert!(fine_z < 1e-4, "{fine_z:.2e}");
    }
}
