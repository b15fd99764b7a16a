//! The randomisation tests of Zhang et al. 2017 as dataset wrappers:
//! seeded, with the statistics each promises.

mod common;

use common::err_text;
use deepscope::data::{self, Dataset, Split};
use deepscope::generalization::{changed_fraction, Randomization};
use tch::{Device, Kind, Tensor};

/// 200 train and 50 test "images" whose pixel values are their positions
/// plus the image index times 1000, so that every move can be traced.
fn traceable() -> Dataset {
    let make = |n: i64, offset: i64| {
        let pos = Tensor::arange(3 * 4 * 5, (Kind::Float, Device::Cpu)).reshape([1, 3, 4, 5]);
        let idx =
            (Tensor::arange(n, (Kind::Float, Device::Cpu)) + offset as f64).reshape([n, 1, 1, 1]);
        let labels = Tensor::arange(n, (Kind::Int64, Device::Cpu)).remainder(10);
        Split::new(pos + idx * 1000.0, labels).unwrap()
    };
    Dataset::new(
        "trace",
        make(200, 0),
        make(50, 200),
        (0..10).map(|i| i.to_string()).collect(),
    )
    .unwrap()
}

#[test]
fn corrupted_labels_change_the_expected_share_of_training_labels_only() {
    let fm = data::fashion_mnist().unwrap();
    for p in [0.0, 0.2, 0.5, 1.0] {
        let r = Randomization::CorruptLabels(p).apply(&fm, 7).unwrap();
        let changed = changed_fraction(r.train.labels(), fm.train.labels()).unwrap();
        let expected = p * 0.9;
        assert!(
            (changed - expected).abs() < 0.01,
            "p {p}: changed {changed}, expected {expected}"
        );
        assert!(
            r.test.labels().equal(fm.test.labels()),
            "test labels stay true"
        );
        assert!(r.train.images().equal(fm.train.images()));
        let counts = r.train.class_counts(10).unwrap();
        assert!(
            counts.iter().all(|&c| (5400..6600).contains(&c)),
            "{counts:?}"
        );
    }
    let a = Randomization::CorruptLabels(0.5).apply(&fm, 1).unwrap();
    let b = Randomization::CorruptLabels(0.5).apply(&fm, 1).unwrap();
    let c = Randomization::CorruptLabels(0.5).apply(&fm, 2).unwrap();
    assert!(a.train.labels().equal(b.train.labels()));
    assert!(!a.train.labels().equal(c.train.labels()));
    assert!(err_text(Randomization::CorruptLabels(1.5).apply(&fm, 0)).contains("[0, 1]"));
}

#[test]
fn shuffled_pixels_move_every_image_the_same_way_random_pixels_each_its_own() {
    let d = traceable();
    let pixels_of = |x: &Tensor| (x.remainder(1000.0)).to_kind(Kind::Int64);
    let s = Randomization::ShuffledPixels.apply(&d, 3).unwrap();
    let moved = pixels_of(s.train.images());
    // Every image (train and test) has the same arrangement of positions.
    let first = moved.get(0);
    for split in [&s.train, &s.test] {
        let m = pixels_of(split.images());
        assert!(m.eq_tensor(&first.unsqueeze(0)).all().int64_value(&[]) == 1);
    }
    assert!(
        !first.equal(&pixels_of(&d.train.images().get(0))),
        "the order changed"
    );
    // Channels of a pixel move together: channel c holds positions of channel c.
    let chan = first.divide_scalar_mode(20, "floor");
    let expect = Tensor::arange(3, (Kind::Int64, Device::Cpu))
        .reshape([3, 1, 1])
        .expand([3, 4, 5], false);
    assert!(chan.equal(&expect));
    // Images keep their own values (the index part) and labels.
    assert!(s
        .train
        .images()
        .divide_scalar_mode(1000.0, "floor")
        .equal(&d.train.images().divide_scalar_mode(1000.0, "floor")));
    assert!(s.train.labels().equal(d.train.labels()));

    let r = Randomization::RandomPixels.apply(&d, 3).unwrap();
    let m = pixels_of(r.train.images());
    let distinct = (1..20).filter(|&i| !m.get(i).equal(&m.get(0))).count();
    assert_eq!(distinct, 19, "each image has its own permutation");
    // Each image's values are a permutation of its own.
    let sorted = |t: &Tensor| t.flatten(1, -1).sort(1, false).0;
    assert!(sorted(r.train.images()).equal(&sorted(d.train.images())));
    assert!(sorted(r.test.images()).equal(&sorted(d.test.images())));
}

#[test]
fn gaussian_inputs_match_the_training_statistics_per_channel() {
    let d = data::fashion_mnist()
        .unwrap()
        .balanced_subset(500, 100, 0)
        .unwrap();
    let g = Randomization::GaussianInputs.apply(&d, 5).unwrap();
    assert_eq!(g.train.images().size(), d.train.images().size());
    let stats = |x: &Tensor| {
        (
            x.mean(Kind::Double).double_value(&[]),
            x.std(false).double_value(&[]),
        )
    };
    let (m0, s0) = stats(d.train.images());
    for split in [&g.train, &g.test] {
        let (m, s) = stats(split.images());
        assert!(
            (m - m0).abs() < 0.01 && (s - s0).abs() < 0.01,
            "{m} {s} vs {m0} {s0}"
        );
    }
    assert!(g.test.labels().equal(d.test.labels()));
    assert!(g.name.contains("Gaussian"));
    assert_eq!(
        Randomization::paper_settings().map(|r| r.name()),
        [
            "true labels",
            "random labels",
            "shuffled pixels",
            "random pixels",
            "Gaussian"
        ]
    );
}
