//! `Split`, `Dataset` and mini-batches: invariants of seeded shuffling,
//! stratified splits and few-shot subsets, and argument checks.

mod common;

use common::err_text;
use deepscope::data::{Dataset, Order, Split};
use std::collections::HashSet;
use tch::{Device, Kind, Tensor};

/// `n` 1x2x2 images whose pixels all equal the image's index; labels `i % k`.
fn indexed_split(n: i64, k: i64) -> Split {
    let images = Tensor::arange(n, (Kind::Float, Device::Cpu))
        .view([n, 1, 1, 1])
        .expand([n, 1, 2, 2], false)
        .contiguous();
    let labels = Tensor::arange(n, (Kind::Int64, Device::Cpu)).remainder(k);
    Split::new(images, labels).unwrap()
}

fn ids(images: &Tensor) -> Vec<i64> {
    Vec::<f32>::try_from(images.select(1, 0).select(1, 0).select(1, 0))
        .unwrap()
        .into_iter()
        .map(|v| v as i64)
        .collect()
}

fn epoch_ids(s: &Split, batch: usize, order: Order, drop_last: bool) -> Vec<Vec<i64>> {
    s.batches(batch, order, drop_last)
        .unwrap()
        .map(|(x, _)| ids(&x))
        .collect()
}

#[test]
fn a_shuffled_epoch_visits_every_example_once_and_labels_follow_images() {
    let s = indexed_split(103, 10);
    let order = Order::Shuffled { seed: 7, epoch: 0 };
    let batches: Vec<_> = s.batches(10, order, false).unwrap().collect();
    assert_eq!(batches.len(), 11);
    assert_eq!(batches.last().unwrap().0.size()[0], 3);
    let mut seen = HashSet::new();
    for (x, y) in &batches {
        for (id, label) in ids(x).into_iter().zip(Vec::<i64>::try_from(y).unwrap()) {
            assert_eq!(label, id % 10);
            assert!(seen.insert(id), "{id} twice");
        }
    }
    assert_eq!(seen.len(), 103);
    let flat: Vec<i64> = batches.iter().flat_map(|(x, _)| ids(x)).collect();
    assert_ne!(
        flat,
        (0..103).collect::<Vec<_>>(),
        "shuffled order differs from storage order"
    );
}

#[test]
fn the_same_seed_and_epoch_give_the_same_order_other_epochs_do_not() {
    let s = indexed_split(50, 5);
    let a = epoch_ids(&s, 8, Order::Shuffled { seed: 1, epoch: 3 }, false);
    let b = epoch_ids(&s, 8, Order::Shuffled { seed: 1, epoch: 3 }, false);
    let c = epoch_ids(&s, 8, Order::Shuffled { seed: 1, epoch: 4 }, false);
    let d = epoch_ids(&s, 8, Order::Shuffled { seed: 2, epoch: 3 }, false);
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_ne!(a, d);
}

#[test]
fn sequential_batches_are_in_order_and_drop_last_drops_the_remainder() {
    let s = indexed_split(10, 2);
    let seq = epoch_ids(&s, 4, Order::Sequential, false);
    assert_eq!(seq, vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
    let it = s.batches(4, Order::Sequential, true).unwrap();
    assert_eq!(it.len(), 2);
    assert_eq!(it.num_batches(), 2);
    assert!(err_text(s.batches(0, Order::Sequential, false)).contains("at least 1"));
}

#[test]
fn stratified_split_keeps_class_proportions_and_loses_nothing() {
    let all = indexed_split(100, 4);
    let ds = Dataset::stratified(
        "t",
        all,
        vec!["a".into(), "b".into(), "c".into(), "d".into()],
        0.2,
        0,
    )
    .unwrap();
    assert_eq!(ds.test.class_counts(4).unwrap(), vec![5; 4]);
    assert_eq!(ds.train.class_counts(4).unwrap(), vec![20; 4]);
    let mut every: Vec<i64> = ids(ds.train.images());
    every.extend(ids(ds.test.images()));
    every.sort();
    assert_eq!(every, (0..100).collect::<Vec<_>>());
    let again =
        Dataset::stratified("t", indexed_split(100, 4), ds.classes.clone(), 0.2, 0).unwrap();
    assert!(
        again.test.labels().equal(ds.test.labels()) && again.test.images().equal(ds.test.images())
    );
    assert!(err_text(Dataset::stratified(
        "t",
        indexed_split(4, 2),
        vec!["a".into(), "b".into()],
        1.0,
        0
    ))
    .contains("test fraction must be in [0, 1)"));
}

#[test]
fn take_per_class_gives_k_of_each_class() {
    let s = indexed_split(60, 3);
    let few = s.take_per_class(5, 3, 42).unwrap();
    assert_eq!(few.class_counts(3).unwrap(), vec![5, 5, 5]);
    assert!(few.take_per_class(6, 3, 0).is_err());
    let msg = err_text(s.take_per_class(30, 3, 0));
    assert!(
        msg.contains("class 0 has 20 examples, fewer than the 30"),
        "{msg}"
    );
}

#[test]
fn with_classes_keeps_those_classes_relabelled_in_the_order_given() {
    let names: Vec<String> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let ds = Dataset::new("t", indexed_split(50, 5), indexed_split(20, 5), names).unwrap();
    let sub = ds.with_classes(&[3, 1]).unwrap();
    assert_eq!(sub.classes, vec!["d".to_string(), "b".to_string()]);
    assert_eq!(sub.name, "t [d, b]");
    // Image i had label i % 5: class 3 becomes 0, class 1 becomes 1, and
    // the kept images stay in storage order.
    for (split, n) in [(&sub.train, 50), (&sub.test, 20)] {
        let kept = ids(split.images());
        let want: Vec<i64> = (0..n).filter(|i| i % 5 == 3 || i % 5 == 1).collect();
        assert_eq!(kept, want);
        let labels = Vec::<i64>::try_from(split.labels()).unwrap();
        let want_labels: Vec<i64> = want
            .iter()
            .map(|i| if i % 5 == 3 { 0 } else { 1 })
            .collect();
        assert_eq!(labels, want_labels);
    }
    for (keep, msg) in [
        (&[][..], "no class to keep"),
        (&[5][..], "class 5 is outside the dataset's 5 classes"),
        (&[-1][..], "class -1 is outside"),
        (&[2, 0, 2][..], "class 2 is given twice"),
    ] {
        let got = err_text(ds.with_classes(keep));
        assert!(got.contains(msg), "{keep:?}: {got}");
    }
}

#[test]
fn splits_and_datasets_refuse_what_does_not_fit() {
    let x = Tensor::zeros([4, 1, 2, 2], (Kind::Float, Device::Cpu));
    let y = Tensor::zeros([4], (Kind::Int64, Device::Cpu));
    let cases = [
        (
            Split::new(
                Tensor::zeros([4, 2, 2], (Kind::Float, Device::Cpu)),
                y.shallow_clone(),
            )
            .err(),
            "images: expected a batch of images [N, C, H, W], got [4, 2, 2]",
        ),
        (
            Split::new(
                x.shallow_clone(),
                Tensor::zeros([3], (Kind::Int64, Device::Cpu)),
            )
            .err(),
            "labels: expected labels [4] (one per image), got [3]",
        ),
        (
            Split::new(x.shallow_clone(), y.to_kind(Kind::Float)).err(),
            "labels: expected labels of kind Int64, got Float",
        ),
        (
            Split::new(x.to_kind(Kind::Uint8), y.shallow_clone()).err(),
            "expected a floating-point tensor",
        ),
        (
            Split::new(Tensor::new(), y.shallow_clone()).err(),
            "images: expected a defined tensor",
        ),
    ];
    for (err, want) in cases {
        let msg = err.expect("an error").to_string();
        assert!(msg.contains(want), "{msg}");
    }
    let s = Split::new(x, y).unwrap();
    assert!(err_text(s.select(&[0, 4])).contains("index 4 out of range for a split of 4"));
    assert!(
        err_text(Dataset::new("d", s.clone(), s.clone(), vec![])).contains("at least one class")
    );
    let bad = Split::new(
        Tensor::zeros([1, 1, 2, 2], (Kind::Float, Device::Cpu)),
        Tensor::from_slice(&[5i64]),
    )
    .unwrap();
    assert!(
        err_text(Dataset::new("d", s.clone(), bad, vec!["a".into()]))
            .contains("test labels range over 5..=5")
    );
    let other = Split::new(
        Tensor::zeros([1, 3, 2, 2], (Kind::Float, Device::Cpu)),
        Tensor::from_slice(&[0i64]),
    )
    .unwrap();
    assert!(err_text(Dataset::new("d", s, other, vec!["a".into()]))
        .contains("expected the train images' shape [1, 2, 2]"));
}
