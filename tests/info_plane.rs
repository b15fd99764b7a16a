//! The information plane: the 12-bit task as the papers define it, mutual
//! information by binning against values worked out by hand, and a short
//! run whose points respect the bounds.

mod common;

use common::err_text;
use deepscope::info_plane::{
    self, entropy_bits, log_schedule, mutual_information, Binning, InfoPlane, InfoPlaneConfig,
};
use deepscope::train::ProgressMode;
use deepscope::zoo::Activation;
use tch::{Device, Kind, Tensor};

#[test]
fn the_twelve_bit_task_has_4096_patterns_2118_positive_on_an_icosahedron() {
    let v = info_plane::icosahedron();
    let expected: [[usize; 5]; 12] = [
        [1, 3, 5, 10, 11],
        [0, 2, 3, 4, 11],
        [1, 3, 4, 8, 9],
        [0, 1, 2, 8, 10],
        [1, 2, 6, 9, 11],
        [0, 6, 7, 10, 11],
        [4, 5, 7, 9, 11],
        [5, 6, 8, 9, 10],
        [2, 3, 7, 9, 10],
        [2, 4, 6, 7, 8],
        [0, 3, 5, 7, 8],
        [0, 1, 4, 5, 6],
    ];
    let dist =
        |a: &[f64; 3], b: &[f64; 3]| (0..3).map(|k| (a[k] - b[k]).powi(2)).sum::<f64>().sqrt();
    for (i, vi) in v.iter().enumerate() {
        assert!((dist(vi, &[0.0; 3]) - 1.0).abs() < 1e-12, "unit vectors");
        let mut near: Vec<(f64, usize)> = (0..12)
            .filter(|&j| j != i)
            .map(|j| (dist(vi, &v[j]), j))
            .collect();
        near.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut five: Vec<usize> = near[..5].iter().map(|p| p.1).collect();
        five.sort_unstable();
        assert_eq!(five, expected[i], "neighbours of vertex {i}");
        assert!(near[4].0 + 1e-9 < near[5].0, "exactly five nearest");
    }
    for (a, b) in [(0, 9), (1, 7), (2, 5), (3, 6), (4, 10), (8, 11)] {
        assert!(
            (0..3).all(|k| (v[a][k] + v[b][k]).abs() < 1e-12),
            "{a} and {b} are antipodal"
        );
    }
    let all = info_plane::patterns().unwrap();
    assert_eq!(all.images().size(), [4096, 1, 1, 12]);
    assert_eq!(all.labels().sum(Kind::Int64).int64_value(&[]), 2118);
    let d = info_plane::dataset(0.15, 0).unwrap();
    assert_eq!(d.len(), 4096);
    assert_eq!(
        d.test.labels().sum(Kind::Int64).int64_value(&[]),
        (0.15f64 * 2118.0).round() as i64
    );
}

#[test]
fn mutual_information_by_binning_matches_hand_worked_cases() {
    let n = 8;
    let labels = Tensor::from_slice(&[0i64, 0, 0, 0, 1, 1, 1, 1]);
    let h_y = 1.0;
    // A constant layer says nothing.
    let constant = Tensor::full([n, 3], 0.3, (Kind::Float, Device::Cpu));
    let (ixt, ity) = mutual_information(&constant, &labels, Binning::tanh()).unwrap();
    assert!(ixt.abs() < 1e-12 && ity.abs() < 1e-12);
    // Every input in its own bin: I(X;T) = log2 8, I(T;Y) = H(Y).
    let distinct = (Tensor::arange(n, (Kind::Float, Device::Cpu)) / 4.0 - 0.9).reshape([n, 1]);
    let (ixt, ity) = mutual_information(&distinct, &labels, Binning::tanh()).unwrap();
    assert!(
        (ixt - 3.0).abs() < 1e-12 && (ity - h_y).abs() < 1e-12,
        "{ixt} {ity}"
    );
    // The label itself: both equal H(Y).
    let copy = labels.to_kind(Kind::Float).reshape([n, 1]);
    let (ixt, ity) = mutual_information(&copy, &labels, Binning::Observed { bins: 30 }).unwrap();
    assert!((ixt - 1.0).abs() < 1e-12 && (ity - 1.0).abs() < 1e-12);
    // Two bins that split the labels 3:1 / 1:3: I(T;Y) = 1 - H(1/4).
    let t = Tensor::from_slice(&[-0.5f32, -0.5, -0.5, 0.5, -0.5, 0.5, 0.5, 0.5]).reshape([n, 1]);
    let (ixt, ity) = mutual_information(
        &t,
        &labels,
        Binning::Fixed {
            lo: -1.0,
            hi: 1.0,
            bins: 2,
        },
    )
    .unwrap();
    let h14 = -(0.25f64 * 0.25f64.log2() + 0.75 * 0.75f64.log2());
    assert!(
        (ixt - 1.0).abs() < 1e-12 && (ity - (1.0 - h14)).abs() < 1e-12,
        "{ity}"
    );
    // Values outside a fixed range fall into the end bins.
    let wide = Tensor::from_slice(&[-5.0f32, 5.0]).reshape([2, 1]);
    let (ixt, _) =
        mutual_information(&wide, &Tensor::from_slice(&[0i64, 1]), Binning::tanh()).unwrap();
    assert!((ixt - 1.0).abs() < 1e-12);
    assert!((entropy_bits(&[1, 1, 1, 1], 4) - 2.0).abs() < 1e-12);
    assert!(err_text(mutual_information(
        &Tensor::zeros([4], (Kind::Float, Device::Cpu)),
        &labels,
        Binning::tanh()
    ))
    .contains("[N, D]"));
    assert!(err_text(mutual_information(
        &constant,
        &labels.narrow(0, 0, 4),
        Binning::tanh()
    ))
    .contains("[8]"));
    assert!(err_text(mutual_information(
        &constant,
        &labels,
        Binning::Observed { bins: 0 }
    ))
    .contains("bins"));
    let nan = Tensor::full([n, 1], f64::NAN, (Kind::Float, Device::Cpu));
    assert!(err_text(mutual_information(&nan, &labels, Binning::tanh())).contains("NaN"));
}

#[test]
fn log_schedules_start_at_one_end_at_the_last_and_are_denser_early() {
    let s = log_schedule(1000, 10);
    assert_eq!(s.first(), Some(&1));
    assert_eq!(s.last(), Some(&1000));
    assert!(s.windows(2).all(|w| w[0] < w[1]));
    assert!(s.iter().filter(|&&e| e <= 31).count() >= s.len() / 2 - 1);
    assert_eq!(log_schedule(3, 10), vec![1, 2, 3]);
    assert!(log_schedule(0, 5).is_empty());
}

#[test]
fn a_short_tanh_run_gives_points_within_the_bounds_and_averages() {
    let mut config = InfoPlaneConfig::new(Activation::Tanh, 20);
    config.snapshots = vec![1, 5, 20];
    config.progress = ProgressMode::Silent;
    let a = InfoPlane::train(&config, Device::Cpu).unwrap();
    assert_eq!(a.epochs, vec![1, 5, 20]);
    assert_eq!(a.layers, ["act1", "act2", "act3", "act4", "act5", "out"]);
    let h_y = {
        let p = 2118.0 / 4096.0f64;
        -(p * p.log2() + (1.0 - p) * (1.0 - p).log2())
    };
    for row in &a.points {
        for &(ixt, ity) in row {
            assert!((0.0..=12.0 + 1e-9).contains(&ixt), "I(X;T) = {ixt}");
            assert!(
                (0.0..=h_y + 1e-9).contains(&ity) && ity <= ixt + 1e-9,
                "I(T;Y) = {ity}"
            );
        }
        // Data processing: deeper layers carry no more about X (binning
        // aside, the 10-unit first layer holds the most).
        assert!(row[0].0 >= row[4].0 - 1e-9);
    }
    let b = InfoPlane::train(&config.clone().seed(1), Device::Cpu).unwrap();
    let m = InfoPlane::mean(&[a.clone(), b.clone()]).unwrap();
    assert_eq!(m.runs, 2);
    let (x, y) = m.points[2][0];
    assert!((x - (a.points[2][0].0 + b.points[2][0].0) / 2.0).abs() < 1e-12);
    assert!((y - (a.points[2][0].1 + b.points[2][0].1) / 2.0).abs() < 1e-12);
    let png = deepscope::plot::to_png(&m.figure("tanh")).unwrap();
    assert!(png.len() > 1000);
    let mut other = config.clone();
    other.snapshots = vec![2];
    let c = InfoPlane::train(&other, Device::Cpu).unwrap();
    assert!(err_text(InfoPlane::mean(&[a, c])).contains("share snapshot epochs"));
    other.snapshots = vec![21];
    assert!(err_text(InfoPlane::train(&other, Device::Cpu)).contains("outside 1..=20"));
}
