//! Correspondence Delta against its definition, and its invariants.

mod common;

use common::err_text;
use deepscope::model::{Conv, Model, ModelBuilder};
use deepscope::rng::with_torch_seed;
use deepscope::viz::{correspondence, PixelBox};
use tch::{Device, Kind, Tensor};

fn net() -> Model {
    ModelBuilder::new(&[1, 12, 12])
        .seed(3)
        .conv("conv", "c", 4, Conv::new(3).padding(1))
        .relu("relu")
        .max_pool("pool", 2, 2)
        .build(Device::Cpu)
        .unwrap()
}

fn b(top: i64, left: i64, size: i64) -> PixelBox {
    PixelBox {
        top,
        left,
        bottom: top + size - 1,
        right: left + size - 1,
    }
}

#[test]
fn delta_counts_sign_disagreements_over_ordered_pairs() {
    let model = net();
    let images = with_torch_seed(51, || {
        Tensor::randn([3, 1, 12, 12], (Kind::Float, Device::Cpu))
    });
    let regions = [b(2, 2, 4), b(3, 5, 4), b(6, 1, 4)];
    let delta = correspondence(&model, &images, "pool", &regions, 0.0).unwrap();
    // The definition, written out: occlude, take sign of the change, compare.
    let mut signs = Vec::new();
    for (i, r) in regions.iter().enumerate() {
        let x = images.get(i as i64).unsqueeze(0);
        let occ = x.copy();
        let _ = occ
            .get(0)
            .get(0)
            .narrow(0, r.top, 4)
            .narrow(1, r.left, 4)
            .fill_(0.0);
        let eps = model.forward_to(&x, "pool").unwrap() - model.forward_to(&occ, "pool").unwrap();
        signs.push(Vec::<f64>::try_from(eps.sign().reshape([-1]).to_kind(Kind::Double)).unwrap());
    }
    let mut want = 0usize;
    for i in 0..3 {
        for j in 0..3 {
            if i != j {
                want += signs[i]
                    .iter()
                    .zip(&signs[j])
                    .filter(|(a, b)| a != b)
                    .count();
            }
        }
    }
    assert_eq!(delta, want as f64);
    assert!(delta > 0.0);
    // The same image with the same occluder everywhere: perfectly consistent.
    let same = images.get(0).unsqueeze(0).repeat([3, 1, 1, 1]);
    assert_eq!(
        correspondence(&model, &same, "pool", &[b(2, 2, 4); 3], 0.0).unwrap(),
        0.0
    );
}

#[test]
fn bad_regions_and_counts_are_explained() {
    let model = net();
    let images = Tensor::zeros([2, 1, 12, 12], (Kind::Float, Device::Cpu));
    assert!(
        err_text(correspondence(&model, &images, "pool", &[b(0, 0, 2)], 0.0))
            .contains("one region per image")
    );
    assert!(err_text(correspondence(
        &model,
        &images,
        "pool",
        &[b(0, 0, 2), b(11, 11, 2)],
        0.0
    ))
    .contains("not a box inside"));
    assert!(err_text(correspondence(
        &model,
        &images,
        "nope",
        &[b(0, 0, 2), b(1, 1, 2)],
        0.0
    ))
    .contains("nope"));
}
