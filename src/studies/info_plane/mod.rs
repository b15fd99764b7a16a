//! The information plane (Shwartz-Ziv & Tishby 2017; Saxe et al. 2018):
//! each hidden layer T of a net, at each snapshot of training, as a point
//! (I(X;T), I(T;Y)), with mutual information estimated by binning the
//! activations.
//!
//! - [`patterns`] / [`dataset`]: the 12-bit task: the bits sit on the
//!   vertices of an icosahedron, y = 1 iff ||sum_i x_i v_i|| + 0.9 k > 7
//!   (k bits set); 2,118 of the 4,096 patterns are positive.
//! - [`mutual_information`] with a [`Binning`]; [`log_schedule`] for snapshots.
//! - [`InfoPlane::train`] trains the 12-10-7-5-4-3-2 net and measures every
//!   layer at every snapshot; [`InfoPlane::mean`] averages seeds;
//!   [`InfoPlane::figure`] draws the plane coloured by epoch.

mod measure;
mod run;

pub use measure::{entropy_bits, mutual_information, Binning};
pub use run::{InfoPlane, InfoPlaneConfig};

use crate::data::{Dataset, Split};
use crate::error::Result;
use tch::{Device, Kind, Tensor};

/// The 12 unit vertices of the icosahedron, numbered so that vertex `i`'s
/// five neighbours are those of the paper's task (0: 1, 3, 5, 10, 11;
/// 1: 0, 2, 3, 4, 11; ...) and the antipodal pairs are 0-9, 1-7, 2-5, 3-6,
/// 4-10, 8-11.
pub fn icosahedron() -> [[f64; 3]; 12] {
    let phi = (1.0 + 5f64.sqrt()) / 2.0;
    let n = (1.0 + phi * phi).sqrt();
    let (a, b) = (1.0 / n, phi / n);
    [
        [0.0, a, b],
        [a, b, 0.0],
        [0.0, a, -b],
        [-a, b, 0.0],
        [b, 0.0, -a],
        [0.0, -a, b],
        [a, -b, 0.0],
        [-a, -b, 0.0],
        [-b, 0.0, -a],
        [0.0, -a, -b],
        [-b, 0.0, a],
        [b, 0.0, a],
    ]
}

/// All 4,096 patterns as images `[4096, 1, 1, 12]` of 0/1 (pattern `n` has
/// bit `i` = bit `i` of `n`) with their labels.
pub fn patterns() -> Result<Split> {
    let v = icosahedron();
    let mut bits = Vec::with_capacity(4096 * 12);
    let mut labels = Vec::with_capacity(4096);
    for n in 0..4096u32 {
        let x: Vec<f64> = (0..12).map(|i| ((n >> i) & 1) as f64).collect();
        let s: Vec<f64> = (0..3)
            .map(|k| (0..12).map(|i| x[i] * v[i][k]).sum())
            .collect();
        let norm = s.iter().map(|c| c * c).sum::<f64>().sqrt();
        let k: f64 = x.iter().sum();
        labels.push(i64::from(norm + 0.9 * k > 7.0));
        bits.extend(x.iter().map(|&b| b as f32));
    }
    Split::new(
        Tensor::from_slice(&bits).reshape([4096, 1, 1, 12]),
        Tensor::from_slice(&labels)
            .to_kind(Kind::Int64)
            .to_device(Device::Cpu),
    )
}

/// The task split into train and test per class by a seeded shuffle
/// (`test_fraction` of each class held out; the papers train on 85%).
pub fn dataset(test_fraction: f64, seed: u64) -> Result<Dataset> {
    Dataset::stratified(
        "12-bit icosahedron",
        patterns()?,
        vec!["0".into(), "1".into()],
        test_fraction,
        seed,
    )
}

/// About `count` distinct epochs from 1 to `last`, evenly spaced on a log
/// scale (training changes fast at first), always with 1 and `last`.
pub fn log_schedule(last: usize, count: usize) -> Vec<usize> {
    if last == 0 || count == 0 {
        return Vec::new();
    }
    let mut out: Vec<usize> = (0..count)
        .map(|i| {
            let t = if count == 1 {
                1.0
            } else {
                i as f64 / (count - 1) as f64
            };
            ((last as f64).powf(t)).round() as usize
        })
        .map(|e| e.clamp(1, last))
        .collect();
    out.push(last);
    out.sort_unstable();
    out.dedup();
    out
}
