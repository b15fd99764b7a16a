//! CIFAR-10 in its binary form (`cifar-10-batches-bin`), for users who have it.
//!
//! Each record is 3,073 bytes: the label, then 1,024 red, 1,024 green and
//! 1,024 blue bytes of a 32x32 image, row-major.

use super::dataset::{Dataset, Split};
use super::read::{check_label_range, read_maybe_gzip};
use crate::error::{Error, Result};
use std::path::Path;
use tch::{Kind, Tensor};

const SIDE: i64 = 32;
const RECORD: usize = 1 + 3 * 32 * 32;

/// The CIFAR-10 classes in label order (used when `batches.meta.txt` is absent).
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Reads one binary batch file into images `[N, 3, 32, 32]` f32 in [0, 1] and
/// labels `[N]` i64.
pub fn read_cifar10_batch(path: impl AsRef<Path>) -> Result<(Tensor, Tensor)> {
    let path = path.as_ref();
    let bytes = read_maybe_gzip(path)?;
    if bytes.is_empty() || bytes.len() % RECORD != 0 {
        return Err(Error::corrupt(
            path,
            format!(
                "wrong count: {} bytes is not a whole number of {RECORD}-byte CIFAR-10 records{}",
                bytes.len(),
                if bytes.len() > RECORD {
                    " (truncated file?)"
                } else {
                    ""
                }
            ),
        ));
    }
    // A whole number of records (checked above): the views cannot fail.
    let n = (bytes.len() / RECORD) as i64;
    let all = Tensor::from_slice(&bytes).view([n, RECORD as i64]);
    let labels = all.select(1, 0).to_kind(Kind::Int64);
    check_label_range(&labels, 10, path)?;
    let mut images = all
        .narrow(1, 1, RECORD as i64 - 1)
        .view([n, 3, SIDE, SIDE])
        .to_kind(Kind::Float);
    let _ = images.f_div_scalar_(255.0)?;
    Ok((images, labels))
}

/// Reads CIFAR-10 from the folder `cifar-10-batches-bin`: `data_batch_1.bin`
/// to `data_batch_5.bin` for training, `test_batch.bin` for testing, and the
/// class names from `batches.meta.txt` when present.
pub fn read_cifar10(dir: impl AsRef<Path>) -> Result<Dataset> {
    let dir = dir.as_ref();
    if !dir.is_dir() {
        return Err(Error::DatasetMissing {
            name: "cifar-10".into(),
            reason: format!("{} is not a folder", dir.display()),
            hint: "Pass the folder that holds data_batch_1.bin ... test_batch.bin (cifar-10-batches-bin).".into(),
        });
    }
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for i in 1..=5 {
        let (x, y) = read_cifar10_batch(dir.join(format!("data_batch_{i}.bin")))?;
        xs.push(x);
        ys.push(y);
    }
    let train = Split::new(Tensor::cat(&xs, 0), Tensor::cat(&ys, 0))?;
    let (tx, ty) = read_cifar10_batch(dir.join("test_batch.bin"))?;
    let test = Split::new(tx, ty)?;
    let meta = dir.join("batches.meta.txt");
    let classes: Vec<String> = match std::fs::read_to_string(&meta) {
        Ok(text) => text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
        Err(_) => CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect(),
    };
    if classes.len() != 10 {
        return Err(Error::corrupt(
            &meta,
            format!("wrong count: {} class names, expected 10", classes.len()),
        ));
    }
    Dataset::new("cifar-10", train, test, classes)
}
