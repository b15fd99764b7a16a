//! Loops over f64 features held in memory, shared by the linear SVM
//! solvers: they read each example's row once and would pay a libtorch
//! call per row, or a temporary as large as the features, otherwise.

use crate::error::{Error, Result};
use tch::{Device, Kind, Tensor};

/// The elements of a contiguous f64 tensor on the CPU, borrowed for as long
/// as the tensor is; an error for any other tensor (the solvers make their
/// features so first).
pub(super) fn elements(t: &Tensor) -> Result<&[f64]> {
    if t.device() != Device::Cpu || t.kind() != Kind::Double || !t.is_contiguous() {
        return Err(Error::invalid(format!(
            "expected a contiguous f64 tensor on the CPU, got {:?} {:?} (contiguous: {})",
            t.kind(),
            t.device(),
            t.is_contiguous()
        )));
    }
    let n = t.numel();
    if n == 0 {
        return Ok(&[]);
    }
    // SAFETY: a contiguous CPU tensor of kind Double holds `numel` f64 from
    // `data_ptr` (storage offset included), allocated for as long as `t`
    // is alive, which the borrow guarantees; the solvers only read it.
    Ok(unsafe { std::slice::from_raw_parts(t.data_ptr() as *const f64, n) })
}

/// `a . b`, in four running sums so that the compiler can use vector
/// lanes (one sum in order cannot be reordered).
pub(super) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut lanes = [0.0; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for j in 0..4 {
            lanes[j] += x[j] * y[j];
        }
    }
    lanes.iter().sum::<f64>() + tail
}

/// `acc[j] += sum_r r_j^2` over the rows of `rows` (`[M, D]` flattened,
/// `D = acc.len()`): the squared column norms of a matrix in one pass
/// without a squared copy, compiled for the widest vectors the CPU has
/// (the crate is built for baseline x86-64, two f64 a vector).
pub(super) fn column_squares(rows: &[f64], acc: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the feature the function is built for.
            return unsafe { column_squares_avx512(rows, acc) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { column_squares_avx2(rows, acc) };
        }
    }
    column_squares_portable(rows, acc)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn column_squares_avx512(rows: &[f64], acc: &mut [f64]) {
    column_squares_portable(rows, acc)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn column_squares_avx2(rows: &[f64], acc: &mut [f64]) {
    column_squares_portable(rows, acc)
}

#[inline(always)]
fn column_squares_portable(rows: &[f64], acc: &mut [f64]) {
    if acc.is_empty() {
        return;
    }
    for row in rows.chunks_exact(acc.len()) {
        for (s, v) in acc.iter_mut().zip(row) {
            *s += v * v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_at_every_tail_length() {
        for n in 0..11 {
            let a: Vec<f64> = (0..n).map(|i| i as f64 * 0.5 - 1.0).collect();
            let b: Vec<f64> = (0..n).map(|i| 3.0 - i as f64).collect();
            let expected: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - expected).abs() < 1e-12, "{n}");
        }
    }

    /// Against the column sums of the squared matrix.
    #[test]
    fn column_squares_are_the_squared_column_norms() {
        tch::manual_seed(0);
        let opts = (Kind::Double, Device::Cpu);
        for (m, d) in [(0, 5), (7, 1), (9, 37), (40, 100)] {
            let x = Tensor::randn([m, d], opts);
            let expected = Vec::<f64>::try_from(
                x.square()
                    .sum_dim_intlist([0i64].as_slice(), false, Kind::Double)
                    + 1.0,
            )
            .unwrap();
            let mut acc = vec![1.0; d as usize];
            column_squares(elements(&x).unwrap(), &mut acc);
            for (a, e) in acc.iter().zip(&expected) {
                assert!((a - e).abs() < 1e-12, "{m}x{d}: {a} against {e}");
            }
        }
    }

    #[test]
    fn elements_borrow_contiguous_f64_only() {
        let t = Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0]).view([2, 2]);
        assert_eq!(elements(&t).unwrap(), &[1.0, 2.0, 3.0, 4.0]);
        // A narrowed row starts at its storage offset.
        assert_eq!(elements(&t.narrow(0, 1, 1)).unwrap(), &[3.0, 4.0]);
        assert!(elements(&t.tr()).is_err());
        assert!(elements(&t.to_kind(Kind::Float)).is_err());
        assert!(elements(&t.narrow(0, 0, 0)).unwrap().is_empty());
    }
}
