//! t-SNE's input similarities: Gaussian conditionals calibrated to the
//! perplexity (van der Maaten & Hinton 2008, Sec. 2), over all other
//! points (for the exact KL divergence) or over each point's nearest
//! neighbours, symmetrised into a sparse joint distribution P (van der
//! Maaten 2014, Sec. 4.1: the `3 * perplexity` nearest carry almost all
//! of a point's mass).

use crate::error::Result;
use tch::{Kind, Tensor};

/// Rows per chunk of the `[rows, N]` distance computations (bounds the
/// temporaries at a few tens of MB for N = 10,000).
pub(super) const CHUNK: i64 = 1024;

/// Squared distances `[c, N]` from rows `start..start + c` of `x [N, D]`
/// to every row, given the rows' squared norms `sq [N, 1]`.
pub(super) fn distances_from(x: &Tensor, sq: &Tensor, start: i64, c: i64) -> Result<Tensor> {
    let cross = x.f_narrow(0, start, c)?.f_matmul(&x.f_tr()?)?;
    Ok(sq
        .f_narrow(0, start, c)?
        .f_add(&sq.f_tr()?)?
        .f_sub(&cross.f_mul_scalar(2.0)?)?
        .f_clamp_min(0.0)?)
}

/// Squared norms `[N, 1]` of the rows of `x [N, D]`.
pub(super) fn squared_norms(x: &Tensor) -> Result<Tensor> {
    Ok(x.f_square()?
        .f_sum_dim_intlist([1i64].as_slice(), true, Kind::Double)?)
}

/// Each row's log precision `ln beta_i` `[R, 1]` (f64) for squared
/// distances `d [R, M]` (f64; `inf` for pairs left out, such as a point
/// and itself): the Gaussian conditional `p_{j|i}` proportional to
/// `exp(-beta_i d_ij)` then has entropy `ln(perplexity)` nats.
///
/// The entropy `H = ln S + beta E[d]` falls with `u = ln beta` at rate
/// `dH/du = -beta^2 Var[d]`, so Newton's method on `u` settles most rows
/// in a handful of passes where bisection took about 100 (the exact KL
/// calibrates all N rows against all N points, so each pass counts).
/// Each row keeps a bracket `[lo, hi]` around its root and bisects
/// whenever a Newton step would leave it or the last step did not halve
/// its error, so the bracket at least halves every second step. Rows
/// leave the computation as they converge: the rest cost only their own
/// share of a pass.
pub(super) fn log_precisions(d: &Tensor, perplexity: f64) -> Result<Tensor> {
    /// Entropy error (nats) at which a row is done: near f64's resolution
    /// of `ln(perplexity)`.
    const TOLERANCE: f64 = 1e-11;
    /// Steps at most: the bracket [-50, 50] at least halves every second
    /// step, and 120 halvings pass f64's resolution of `ln beta` (measured
    /// on 10,000 Fashion-MNIST points: 7 to 10 steps).
    const MAX_STEPS: usize = 250;
    let rows = d.size()[0];
    let target = perplexity.ln();
    let column = (Kind::Double, d.device());
    let row_sum = |t: &Tensor| t.f_sum_dim_intlist([1i64].as_slice(), true, Kind::Double);
    // Rows are shifted by their nearest distance so exp does not
    // underflow; left-out pairs become a large finite number so that
    // p * d and p * d^2 are 0 there rather than NaN.
    let nearest = d.f_amin([1i64].as_slice(), true)?;
    let shifted = d.f_sub(&nearest)?.f_clamp_max(1e150)?;
    // Start where the perplexity-th nearest neighbour has weight 1/e: a
    // Gaussian that covers about as many neighbours as the perplexity
    // asks for.
    // The +1 skips the nearest itself (at 0 after the shift).
    let k = (perplexity.round() as i64)
        .saturating_add(1)
        .min(d.size()[1])
        .max(1);
    let (reach, _) = shifted.f_kthvalue(k, 1, true)?;
    let mut u_all = reach
        .f_clamp_min(1e-300)?
        .f_log()?
        .f_neg()?
        .f_clamp(-50.0, 50.0)?;
    // The rows still iterating, and their state.
    let mut active = Tensor::f_arange(rows, (Kind::Int64, d.device()))?;
    let mut u = u_all.copy();
    let mut lo = Tensor::f_full([rows, 1], -50.0, column)?;
    let mut hi = Tensor::f_full([rows, 1], 50.0, column)?;
    let mut last = Tensor::f_full([rows, 1], f64::INFINITY, column)?;
    let mut dist = shifted.shallow_clone();
    for _ in 0..MAX_STEPS {
        let beta = u.f_exp()?;
        let p = beta.f_mul(&dist)?.f_neg()?.f_exp()?;
        let sum = row_sum(&p)?;
        let pd = p.f_mul(&dist)?;
        let mean = row_sum(&pd)?.f_div(&sum)?;
        let second = row_sum(&pd.f_mul(&dist)?)?.f_div(&sum)?;
        let error = sum
            .f_log()?
            .f_add(&beta.f_mul(&mean)?)?
            .f_sub_scalar(target)?;
        let size = error.f_abs()?;
        // Too wide (entropy above the target) means beta is too small.
        let too_wide = error.f_gt(0.0)?;
        lo = u.f_where_self(&too_wide, &lo)?;
        hi = hi.f_where_self(&too_wide, &u)?;
        let slope = beta
            .f_square()?
            .f_mul(&second.f_sub(&mean.f_square()?)?)?
            .f_neg()?;
        // Far from the root the entropy is flat in u and Newton overshoots:
        // a step is at most a factor e^3 in beta.
        let step = error.f_div(&slope)?.f_clamp(-3.0, 3.0)?;
        let newton = u.f_sub(&step)?;
        let midpoint = lo.f_add(&hi)?.f_div_scalar(2.0)?;
        // NaN (a zero slope) fails every comparison and bisects.
        let trust = newton
            .f_gt_tensor(&lo)?
            .f_logical_and(&newton.f_lt_tensor(&hi)?)?
            .f_logical_and(&size.f_lt_tensor(&last.f_mul_scalar(0.5)?)?)?;
        let next = newton.f_where_self(&trust, &midpoint)?;
        // Converged rows keep the u they were measured at.
        let done = size.f_lt(TOLERANCE)?;
        let kept = u.f_where_self(&done, &next)?;
        let _ = u_all.f_index_copy_(0, &active, &kept)?;
        let open = done
            .f_logical_not()?
            .f_squeeze_dim(1)?
            .f_nonzero()?
            .f_squeeze_dim(1)?;
        if open.size()[0] == 0 {
            break;
        }
        let take = |t: &Tensor| t.f_index_select(0, &open);
        active = take(&active)?;
        u = take(&kept)?;
        lo = take(&lo)?;
        hi = take(&hi)?;
        last = take(&size)?;
        dist = take(&dist)?;
    }
    Ok(u_all)
}

/// Each row's Gaussian conditional `p_{j|i}` `[R, M]` (f64, rows summing
/// to 1) from squared distances `d [R, M]` as [`log_precisions`] takes
/// them: `softmax(-beta_i d_i)`, 0 for the pairs left out.
pub(super) fn conditionals(d: &Tensor, perplexity: f64) -> Result<Tensor> {
    let beta = log_precisions(d, perplexity)?.f_exp()?;
    Ok(beta.f_mul(d)?.f_neg()?.f_softmax(1, Kind::Double)?)
}

/// A sparse symmetric joint distribution over pairs of points: entry `e`
/// is `P[rows[e], cols[e]] = values[e]`; both `(i, j)` and `(j, i)` are
/// listed, no pair twice, sorted by row and then column, and the values
/// sum to 1.
pub(super) struct Affinities {
    /// `[E]` int64.
    pub rows: Tensor,
    /// `[E]` int64.
    pub cols: Tensor,
    /// `[E]` f64.
    pub values: Tensor,
}

/// P from each point's `floor(3 * perplexity)` nearest neighbours (at most
/// `N - 1`) of `x [N, D]` (f64), found exactly by chunked distances:
/// `(p_{j|i} + p_{i|j}) / 2N` on the union of the neighbour pairs.
pub(super) fn nearest_neighbours(x: &Tensor, perplexity: f64) -> Result<Affinities> {
    let n = x.size()[0];
    let k = ((3.0 * perplexity).floor() as i64).clamp(1, n - 1);
    let sq = squared_norms(x)?;
    let (mut near, mut p) = (Vec::new(), Vec::new());
    for start in (0..n).step_by(CHUNK as usize) {
        let c = CHUNK.min(n - start);
        let own =
            Tensor::f_arange_start(start, start + c, (Kind::Int64, x.device()))?.f_unsqueeze(1)?;
        let d = distances_from(x, &sq, start, c)?.f_scatter_value(1, &own, f64::INFINITY)?;
        let (dk, idx) = d.f_topk(k, 1, false, true)?;
        p.push(conditionals(&dk, perplexity)?);
        near.push(idx);
    }
    let cols = Tensor::f_cat(&near, 0)?.f_flatten(0, -1)?;
    let p = Tensor::f_cat(&p, 0)?.f_flatten(0, -1)?;
    let rows = Tensor::f_arange(n, (Kind::Int64, x.device()))?.f_repeat_interleave_self_int(
        k,
        Some(0),
        None,
    )?;
    // Both directions of every pair, then equal pairs summed: sorting the
    // keys i * N + j puts the two halves of a symmetric pair together.
    let keys = Tensor::f_cat(
        &[
            rows.f_mul_scalar(n)?.f_add(&cols)?,
            cols.f_mul_scalar(n)?.f_add(&rows)?,
        ],
        0,
    )?;
    let both = Tensor::f_cat(&[&p, &p], 0)?;
    let (sorted, order) = keys.f_sort(0, false)?;
    let (unique, inverse, _) = sorted.f_unique_consecutive(true, false, Some(0))?;
    let values = Tensor::f_zeros([unique.size()[0]], (Kind::Double, x.device()))?
        .f_index_add(0, &inverse, &both.f_index_select(0, &order)?)?
        .f_div_scalar(2.0 * n as f64)?;
    Ok(Affinities {
        rows: unique.f_div_scalar_mode(n, "floor")?,
        cols: unique.f_remainder(n)?,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// Every row of `p` has entropy `ln(perplexity)` nats, to 1e-9.
    fn assert_entropy(p: &Tensor, perplexity: f64) {
        let entropy = -(p * p.clamp_min(1e-300).log()).sum_dim_intlist(
            [1i64].as_slice(),
            false,
            Kind::Double,
        );
        let err = (entropy - perplexity.ln()).abs().max().double_value(&[]);
        assert!(err < 1e-9, "{err}");
    }

    /// Each row's entropy is ln(perplexity): the calibration's purpose.
    #[test]
    fn conditionals_have_the_perplexity_asked_for() {
        tch::manual_seed(0);
        let d = Tensor::rand([6, 40], (Kind::Double, Device::Cpu)) * 20.0;
        let d = d.scatter_value(
            1,
            &Tensor::from_slice(&[0i64; 6]).unsqueeze(1),
            f64::INFINITY,
        );
        let p = conditionals(&d, 10.0).unwrap();
        let sums = p.sum_dim_intlist([1i64].as_slice(), false, Kind::Double);
        assert!((sums - 1.0).abs().max().double_value(&[]) < 1e-12);
        assert_entropy(&p, 10f64);
        // The left-out pair gets nothing.
        assert_eq!(p.get(0).double_value(&[0]), 0.0);
    }

    /// Rows whose distances differ in scale by twelve orders of magnitude,
    /// and one with a far outlier, all reach the perplexity: Newton's
    /// start and its bracket hold across scales.
    #[test]
    fn conditionals_reach_the_perplexity_at_every_scale() {
        tch::manual_seed(2);
        let base = Tensor::rand([13, 60], (Kind::Double, Device::Cpu)) + 0.1;
        let scales = Tensor::logspace(-6.0, 6.0, 13, 10.0, (Kind::Double, Device::Cpu));
        let d = base * scales.unsqueeze(1);
        let _ = d.get(3).get(7).fill_(1e9);
        let p = conditionals(&d, 5.0).unwrap();
        assert_entropy(&p, 5f64);
    }

    /// Against the dense P built from the same neighbour sets by hand:
    /// symmetric, summing to 1, every listed pair once.
    #[test]
    fn nearest_neighbour_affinities_are_a_symmetric_distribution() {
        tch::manual_seed(1);
        let n = 50;
        let x = Tensor::randn([n, 5], (Kind::Double, Device::Cpu));
        let a = nearest_neighbours(&x, 4.0).unwrap();
        let dense = Tensor::zeros([n, n], (Kind::Double, Device::Cpu));
        let dense = dense.index_put(&[Some(&a.rows), Some(&a.cols)], &a.values, true);
        assert!((dense.sum(Kind::Double).double_value(&[]) - 1.0).abs() < 1e-12);
        let asym = (&dense - dense.tr()).abs().max().double_value(&[]);
        assert!(asym < 1e-15, "{asym}");
        // No pair listed twice: the dense copy has as many non-zeros.
        assert_eq!(
            dense.gt(0.0).sum(Kind::Int64).int64_value(&[]),
            a.values.size()[0]
        );
        assert_eq!(
            dense
                .diagonal(0, 0, 1)
                .abs()
                .sum(Kind::Double)
                .double_value(&[]),
            0.0
        );

        // The same P by hand: the 12 nearest of each row, their conditionals.
        let sq = squared_norms(&x).unwrap();
        let d = distances_from(&x, &sq, 0, n).unwrap().scatter_value(
            1,
            &Tensor::arange(n, (Kind::Int64, Device::Cpu)).unsqueeze(1),
            f64::INFINITY,
        );
        let (dk, idx) = d.topk(12, 1, false, true);
        let cond = Tensor::zeros([n, n], (Kind::Double, Device::Cpu)).scatter(
            1,
            &idx,
            &conditionals(&dk, 4.0).unwrap(),
        );
        let expected = (&cond + cond.tr()) / (2.0 * n as f64);
        let err = (&dense - expected).abs().max().double_value(&[]);
        assert!(err < 1e-15, "{err}");
    }
}
