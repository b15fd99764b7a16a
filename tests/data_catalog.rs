//! The catalog on a data folder the test builds: loading by name through the
//! manifest, and the errors for a missing dataset, a missing file, a checksum
//! mismatch and a broken manifest.

mod common;

use common::*;
use deepscope::data::{self, Catalog};
use deepscope::Error;
use std::path::Path;

fn record(dir: &Path, rel: &str) -> serde_json::Value {
    let path = dir.join(rel);
    serde_json::json!({
        "path": rel,
        "sha256": data::sha256_file(&path).unwrap(),
        "bytes": std::fs::metadata(&path).unwrap().len(),
        "source": "test",
    })
}

/// A data folder with a 6-image IDX dataset "tiny", a CSV dataset "grid" and
/// a photo "dot".
fn tiny_data_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (px, lb) = tiny_images(6, 2, 2, 3);
    write(d, "tiny/train-x.gz", &gzip(&idx_bytes(&[6, 2, 2], &px)));
    write(d, "tiny/train-y.gz", &gzip(&idx_bytes(&[6], &lb)));
    write(d, "tiny/test-x", &idx_bytes(&[3, 2, 2], &px[..12]));
    write(d, "tiny/test-y", &idx_bytes(&[3], &lb[..3]));
    let rows: String = (0..10)
        .map(|i| format!("{i},0,0,{i},{}\n", i % 2))
        .collect();
    write(d, "grid/grid.csv.gz", &gzip(rows.as_bytes()));
    std::fs::create_dir_all(d.join("images")).unwrap();
    image::RgbImage::from_pixel(5, 3, image::Rgb([255, 0, 0]))
        .save(d.join("images/dot.png"))
        .unwrap();
    let manifest = serde_json::json!({
        "version": 1,
        "entries": [
            {"name": "tiny", "kind": "idx", "classes": ["a", "b", "c"],
             "counts": {"train": 6, "test": 3},
             "files": {
                "train-images": record(d, "tiny/train-x.gz"),
                "train-labels": record(d, "tiny/train-y.gz"),
                "test-images": record(d, "tiny/test-x"),
                "test-labels": record(d, "tiny/test-y")}},
            {"name": "grid", "kind": "csv", "classes": ["even", "odd"],
             "layout": {"label": "last", "height": 2, "width": 2, "max_value": 9.0, "num_classes": 2},
             "test_fraction": 0.4,
             "files": {"data": record(d, "grid/grid.csv.gz")}},
            {"name": "dot", "kind": "image", "files": {"image": record(d, "images/dot.png")}}
        ]
    });
    write(d, "manifest.json", manifest.to_string().as_bytes());
    dir
}

#[test]
fn loads_every_kind_by_name() {
    let dir = tiny_data_folder();
    let cat = Catalog::open(dir.path()).unwrap();
    assert_eq!(cat.entries().len(), 3);

    let tiny = cat.load("tiny").unwrap();
    assert_eq!((tiny.train.len(), tiny.test.len()), (6, 3));
    assert_eq!(tiny.classes, vec!["a", "b", "c"]);
    assert_eq!(tiny.train.images().size(), vec![6, 1, 2, 2]);

    // 5 examples per class, 40% held out per class: 2 + 2 in test.
    let grid = cat.load("grid").unwrap();
    assert_eq!((grid.train.len(), grid.test.len()), (6, 4));
    assert_eq!(grid.test.class_counts(2).unwrap(), vec![2, 2]);

    let dot = cat.image("dot").unwrap();
    assert_eq!(dot.size(), vec![3, 3, 5]);

    let listing = cat.to_string();
    assert!(
        listing.contains("tiny") && listing.contains("train 6, test 3"),
        "{listing}"
    );
}

#[test]
fn unknown_name_lists_what_there_is_and_how_to_get_more() {
    let dir = tiny_data_folder();
    let cat = Catalog::open(dir.path()).unwrap();
    let err = cat.load("imagenet").unwrap_err();
    assert!(matches!(err, Error::DatasetMissing { .. }));
    let msg = err.to_string();
    assert!(msg.contains("dataset 'imagenet' is not available"), "{msg}");
    assert!(msg.contains("it has: tiny, grid, dot"), "{msg}");
    assert!(msg.contains("make setup"), "{msg}");
    assert!(err_text(cat.image("tiny")).contains("is a dataset, not a photo"));
    assert!(err_text(cat.load("dot")).contains("is a photo, not a dataset"));
}

#[test]
fn a_gathered_file_that_went_missing_is_named() {
    let dir = tiny_data_folder();
    std::fs::remove_file(dir.path().join("tiny/test-y")).unwrap();
    let msg = err_text(Catalog::open(dir.path()).unwrap().load("tiny"));
    assert!(
        msg.contains("dataset 'tiny'") && msg.contains("tiny/test-y is missing"),
        "{msg}"
    );
    assert!(msg.contains("make setup"), "{msg}");
}

#[test]
fn a_changed_file_is_a_checksum_mismatch() {
    let dir = tiny_data_folder();
    let path = dir.path().join("tiny/test-x");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[20] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let err = Catalog::open(dir.path()).unwrap().load("tiny").unwrap_err();
    assert!(matches!(err, Error::Checksum { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("test-x: checksum mismatch"), "{msg}");
}

#[test]
fn a_truncated_file_with_a_matching_checksum_is_still_caught() {
    // The manifest was written after the damage (as a careless copy would), so
    // only the format check can tell.
    let dir = tiny_data_folder();
    let d = dir.path();
    let path = d.join("tiny/test-x");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
    let text = std::fs::read_to_string(d.join("manifest.json")).unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&text).unwrap();
    m["entries"][0]["files"]["test-images"] = record(d, "tiny/test-x");
    std::fs::write(d.join("manifest.json"), m.to_string()).unwrap();
    let msg = err_text(Catalog::open(d).unwrap().load("tiny"));
    assert!(
        msg.contains("test-x") && msg.contains("short read"),
        "{msg}"
    );
}

#[test]
fn broken_or_absent_manifests_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let msg = err_text(Catalog::open(dir.path()));
    assert!(
        msg.contains("manifest.json does not exist") && msg.contains("make setup"),
        "{msg}"
    );
    write(
        dir.path(),
        "manifest.json",
        b"{\"version\": 1, \"entries\": [{\"name\": 3}]}",
    );
    let msg = err_text(Catalog::open(dir.path()));
    assert!(msg.contains("not a deepscope manifest"), "{msg}");
    write(
        dir.path(),
        "manifest.json",
        b"{\"version\": 7, \"entries\": []}",
    );
    assert!(err_text(Catalog::open(dir.path())).contains("manifest version 7"));
}
