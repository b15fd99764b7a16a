//! The image transforms against exact pixel moves, and the invariance sweep
//! against its definition.

mod common;

use common::err_text;
use deepscope::model::{Conv, ModelBuilder};
use deepscope::rng::with_torch_seed;
use deepscope::viz::{invariance, Affine};
use tch::{Device, Kind, Tensor};

fn image() -> Tensor {
    with_torch_seed(41, || {
        Tensor::rand([2, 3, 10, 10], (Kind::Float, Device::Cpu))
    })
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn whole_pixel_moves_and_quarter_turns_are_exact() {
    let x = image();
    // Content moved right by 3: column j of the result is column j-3, zeros enter at the left.
    let right = Affine::TranslateX(3.0).apply(&x).unwrap();
    assert!(max_diff(&right.narrow(3, 3, 7), &x.narrow(3, 0, 7)) < 1e-5);
    assert!(right.narrow(3, 0, 3).abs().max().double_value(&[]) < 1e-6);
    let down = Affine::TranslateY(-2.0).apply(&x).unwrap();
    assert!(max_diff(&down.narrow(2, 0, 8), &x.narrow(2, 2, 8)) < 1e-5);
    assert!(max_diff(&Affine::Scale(1.0).apply(&x).unwrap(), &x) < 1e-6);
    assert!(max_diff(&Affine::Rotate(0.0).apply(&x).unwrap(), &x) < 1e-6);
    // A quarter turn counter-clockwise: what was on the right is now on top.
    let turned = Affine::Rotate(90.0).apply(&x).unwrap();
    assert!(max_diff(&turned, &x.rot90(1, [2, 3])) < 1e-5);
    // Zooming by 2 about the centre: the central 5x5 fills the image, each
    // pixel's centre landing between source pixels (bilinear).
    let zoom = Affine::Scale(2.0).apply(&x).unwrap();
    let centre = x.narrow(2, 2, 6).narrow(3, 2, 6);
    assert!(
        (zoom.mean(Kind::Float) - centre.mean(Kind::Float))
            .abs()
            .double_value(&[])
            < 0.05
    );
    assert!(err_text(Affine::Scale(0.0).apply(&x)).contains("positive"));
    assert!(err_text(Affine::Rotate(f64::NAN).apply(&x)).contains("finite"));
    assert!(err_text(Affine::Scale(2.0).apply(&x.get(0))).contains("[N, C, H, W]"));
}

#[test]
fn the_sweep_measures_feature_distances_and_true_class_probability() {
    let model = ModelBuilder::new(&[3, 10, 10])
        .seed(6)
        .conv("conv", "c", 4, Conv::new(3).padding(1))
        .relu("relu")
        .flatten("flat")
        .linear("fc", "fc", 5)
        .build(Device::Cpu)
        .unwrap();
    let x = image();
    let labels = Tensor::from_slice(&[1i64, 4]);
    let sweep: Vec<Affine> = [0.0, 1.0, 2.0]
        .iter()
        .map(|&d| Affine::TranslateX(d))
        .collect();
    let curve = invariance(&model, &x, &labels, &["relu", "fc"], &sweep).unwrap();
    assert_eq!(curve.distance.len(), 2);
    assert!(curve.distance[0][0].abs() < 1e-6, "no move, no distance");
    assert!(curve.distance[0][2] > curve.distance[0][1] && curve.distance[0][1] > 0.0);
    // Against the definition at shift 2, layer relu.
    let moved = Affine::TranslateX(2.0).apply(&x).unwrap();
    let a = model.forward_to(&moved, "relu").unwrap().reshape([2, -1]);
    let b = model.forward_to(&x, "relu").unwrap().reshape([2, -1]);
    let want = (a - b)
        .square()
        .sum_dim_intlist(1, false, Kind::Float)
        .sqrt()
        .mean(Kind::Float)
        .double_value(&[]);
    assert!((curve.distance[0][2] - want).abs() < 1e-5);
    let p = model.forward(&x).unwrap().softmax(1, Kind::Float);
    let want = (p.double_value(&[0, 1]) + p.double_value(&[1, 4])) / 2.0;
    assert!((curve.true_prob[0] - want).abs() < 1e-6);
    assert!(err_text(invariance(
        &model,
        &x,
        &Tensor::from_slice(&[1i64]),
        &["relu"],
        &sweep
    ))
    .contains("labels"));
    assert!(err_text(invariance(&model, &x, &labels, &[], &sweep)).contains("at least one"));
}
