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

use crate::error::{Error, Result};
use tch::{Device, Kind, Tensor};

/// Most boxes per side of the grid: at 2,000 (6,000 nodes) the transforms
/// hold about 4.6 GB. t-SNE maps span tens to a few hundred units; one
/// wider has diverged.
const MAX_BOXES: usize = 2000;

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

/// Where each point sits on the grid: the node of its box's first corner
/// and the Lagrange weights of the box's nodes in each dimension.
struct Placement {
    /// Nodes per side of the grid (`boxes * p`).
    m: usize,
    /// Node spacing, in embedding units.
    spacing: f64,
    /// Per point, the grid index `x * m + y` of its box's node (0, 0).
    corner: Vec<usize>,
    /// Per point and dimension, `p` weights: `[N, 2, p]` flattened.
    weights: Vec<f64>,
}

impl Placement {
    /// Boxes of about `1 / boxes_per_unit` over one square covering the
    /// points `y` (`[N * 2]`, interleaved), as FIt-SNE lays them out; an
    /// error for points that are not finite or spread wider than
    /// [`MAX_BOXES`] boxes (a diverging descent).
    fn new(y: &[f64], grid: &Grid) -> Result<Placement> {
        let p = grid.nodes_per_box as usize;
        let lo = y.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let span = (hi - lo).max(1e-6);
        let wanted = (span * grid.boxes_per_unit).ceil();
        if y.iter().any(|v| !v.is_finite()) || wanted > MAX_BOXES as f64 {
            return Err(Error::invalid(format!(
                "the embedding diverged (its points span {span:.3e} units, at most {MAX_BOXES} expected): lower the learning rate"
            )));
        }
        let boxes = (grid.min_boxes.max(1) as usize).max(wanted as usize);
        let width = span / boxes as f64;
        let m = boxes * p;
        // The nodes sit at (a + 1/2) / p of their box: equispaced over the
        // whole square with spacing width / p.
        let nodes: Vec<f64> = (0..p).map(|a| (a as f64 + 0.5) / p as f64).collect();
        let n = y.len() / 2;
        let mut corner = Vec::with_capacity(n);
        let mut weights = Vec::with_capacity(n * 2 * p);
        for point in y.chunks_exact(2) {
            let mut first = [0usize; 2];
            for (d, &v) in point.iter().enumerate() {
                let scaled = (v - lo) / width;
                let cell = scaled.floor().clamp(0.0, (boxes - 1) as f64);
                let local = scaled - cell;
                first[d] = cell as usize * p;
                for (a, &ta) in nodes.iter().enumerate() {
                    let w = nodes
                        .iter()
                        .enumerate()
                        .filter(|&(b, _)| b != a)
                        .map(|(_, &tb)| (local - tb) / (ta - tb))
                        .product::<f64>();
                    weights.push(w);
                }
            }
            corner.push(first[0] * m + first[1]);
        }
        Ok(Placement {
            m,
            spacing: width / p as f64,
            corner,
            weights,
        })
    }
}

/// The repulsion of the embedding `y` (`[N * 2]`, points interleaved):
/// per point `sum_{j != i} (y_i - y_j) / (1 + |y_i - y_j|^2)^2` (`[N * 2]`),
/// and `Z = sum_{i != j} 1 / (1 + |y_i - y_j|^2)`. The gradient's
/// repulsive part is the first divided by the second.
///
/// Spreading the charges and reading the potentials back are loops over
/// the points' `p^2` nodes (`N p^2` products: microseconds); only the
/// convolution goes to libtorch.
pub(super) fn repulsion(
    y: &[f64],
    grid: &Grid,
    convolution: &mut Convolution,
) -> Result<(Vec<f64>, f64)> {
    let n = y.len() / 2;
    let p = grid.nodes_per_box as usize;
    let place = Placement::new(y, grid)?;
    let m = place.m;

    // Charges 1, y_x, y_y, |y|^2 spread onto the grid, `[4, m, m]`.
    let plane = m * m;
    let mut charges = vec![0.0; 4 * plane];
    for (i, point) in y.chunks_exact(2).enumerate() {
        let q = [
            1.0,
            point[0],
            point[1],
            point[0] * point[0] + point[1] * point[1],
        ];
        let (wx, wy) = place.weights[i * 2 * p..(i + 1) * 2 * p].split_at(p);
        for (a, &u) in wx.iter().enumerate() {
            for (b, &v) in wy.iter().enumerate() {
                let node = place.corner[i] + a * m + b;
                let w = u * v;
                for (c, &qc) in q.iter().enumerate() {
                    charges[c * plane + node] += w * qc;
                }
            }
        }
    }
    let on_grid = Tensor::from_slice(&charges).f_view([4, m as i64, m as i64])?;
    let (potential, row) = convolution.sums(&on_grid, m as i64, place.spacing)?;

    // Back to the points: phi `[4]` per point, each sum including j = i
    // (K = 1). The self term cancels in the force (y_i * 1 - y_i) and adds
    // 1 to each point's share of Z.
    let block = m * row;
    let mut force = vec![0.0; 2 * n];
    let mut z = -(n as f64);
    for (i, point) in y.chunks_exact(2).enumerate() {
        let (wx, wy) = place.weights[i * 2 * p..(i + 1) * 2 * p].split_at(p);
        let corner = (place.corner[i] / m) * row + place.corner[i] % m;
        let mut phi = [0.0; 4];
        for (a, &u) in wx.iter().enumerate() {
            for (b, &v) in wy.iter().enumerate() {
                let node = corner + a * row + b;
                let w = u * v;
                for (c, f) in phi.iter_mut().enumerate() {
                    *f += w * potential[c * block + node];
                }
            }
        }
        let (x0, x1) = (point[0], point[1]);
        force[2 * i] = x0 * phi[0] - phi[1];
        force[2 * i + 1] = x1 * phi[0] - phi[2];
        z += (1.0 + x0 * x0 + x1 * x1) * phi[0] - 2.0 * (x0 * phi[1] + x1 * phi[2]) + phi[3];
    }
    Ok((force, z))
}

/// The node-to-node sums of the kernel for charges on an `m x m` grid of
/// the given spacing, with the transforms' buffers kept from one call to
/// the next: fresh ones (tens of MB each at `m = 408`) were fresh pages
/// for the system to fault in, every epoch.
///
/// The kernel between nodes depends only on their offset, so the sums are
/// a linear convolution, computed exactly as a circular one on a grid
/// twice as large (`2m`, by FFT). Half of that grid's rows are zero on
/// the way in and unused on the way out, so the transform runs as two
/// passes of one dimension each, the first and the last over `m` rows
/// only (rfft2 and irfft2 would transform all `2m`): half the time at
/// `m = 204`, a quarter less at `m = 408`.
#[derive(Default)]
pub(super) struct Convolution {
    buffers: Option<Buffers>,
    /// The sums as read back.
    read: Vec<f64>,
}

/// The transforms' outputs for one grid size.
struct Buffers {
    m: i64,
    /// `[4, m, m + 1]` complex: the rows' transforms.
    rows: Tensor,
    /// `[4, 2m, m + 1]` complex: the full transform, times the kernel's.
    full: Tensor,
    /// `[4, 2m, m + 1]` complex: its inverse along the columns.
    back: Tensor,
    /// `[4, m, 2m]` real: the sums (the first `m` of each row).
    sums: Tensor,
}

impl Buffers {
    fn new(m: i64, device: Device) -> Result<Buffers> {
        let complex = (Kind::ComplexDouble, device);
        Ok(Buffers {
            m,
            rows: Tensor::f_empty([4, m, m + 1], complex)?,
            full: Tensor::f_empty([4, 2 * m, m + 1], complex)?,
            back: Tensor::f_empty([4, 2 * m, m + 1], complex)?,
            sums: Tensor::f_empty([4, m, 2 * m], (Kind::Double, device))?,
        })
    }
}

impl Convolution {
    /// The sums for `charges [4, m, m]` (f64): `[4, m, row]` flattened,
    /// the sums in the first `m` entries of each row of `row` entries.
    fn sums(&mut self, charges: &Tensor, m: i64, spacing: f64) -> Result<(&[f64], usize)> {
        let opts = (Kind::Double, charges.device());
        let size = 2 * m;
        let buffers = match self.buffers.take() {
            Some(kept) if kept.m == m => kept,
            _ => Buffers::new(m, charges.device())?,
        };
        let Buffers {
            rows,
            full,
            back,
            sums,
            ..
        } = self.buffers.insert(buffers);
        let steps = Tensor::f_arange(size, opts)?;
        let steps = steps.f_where_self(&steps.f_lt(m as f64)?, &steps.f_sub_scalar(size)?)?;
        let d = steps.f_mul_scalar(spacing)?.f_square()?;
        let k = kernel(&d.f_unsqueeze(1)?.f_add(&d.f_unsqueeze(0)?)?)?;
        let k_hat = k.f_fft_rfft2(None::<&[i64]>, [-2i64, -1].as_slice(), "backward")?;
        let _ = charges.f_fft_rfft_out(rows, size, -1, "backward")?;
        let _ = rows.f_fft_fft_out(full, size, -2, "backward")?;
        let _ = full.f_mul_(&k_hat)?;
        let _ = full.f_fft_ifft_out(back, size, -2, "backward")?;
        let _ = back
            .f_narrow(1, 0, m)?
            .f_fft_irfft_out(sums, size, -1, "backward")?;
        let count = (4 * m * size) as usize;
        self.read.resize(count, 0.0);
        sums.f_copy_data(&mut self.read, count)?;
        Ok((&self.read, size as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let flat = Vec::<f64>::try_from(y.flatten(0, -1)).unwrap();
            let (force, z) = repulsion(&flat, &grid, &mut Convolution::default()).unwrap();
            let force = Tensor::from_slice(&force).view([n, 2]);
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
