//! Helpers shared by the integration tests: small data files written on the spot.
#![allow(dead_code)]

use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;
use std::path::{Path, PathBuf};

/// IDX bytes: magic (type code 0x08, `dims.len()` dimensions), big-endian
/// dimensions, then `data` as is.
pub fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A tiny image set: `n` images of `h x w` with pixel `(i, r, c) = (i*h*w + r*w + c) % 256`,
/// and labels `i % classes`.
pub fn tiny_images(n: u32, h: u32, w: u32, classes: u8) -> (Vec<u8>, Vec<u8>) {
    let pixels = (0..n * h * w).map(|v| (v % 256) as u8).collect();
    let labels = (0..n).map(|i| (i % classes as u32) as u8).collect();
    (pixels, labels)
}

/// The string form of an error, which is what a user reads.
pub fn err_text<T, E: std::fmt::Display>(r: Result<T, E>) -> String {
    match r {
        Ok(_) => panic!("expected an error, got Ok"),
        Err(e) => e.to_string(),
    }
}

/// The largest absolute difference between the tensors of two models of
/// one architecture (0 when they are bit for bit equal).
pub fn max_weight_diff(a: &deepscope::model::Model, b: &deepscope::model::Model) -> f64 {
    a.named_tensors()
        .iter()
        .zip(b.named_tensors())
        .map(|((_, x), (_, y))| (x - y).abs().max().double_value(&[]))
        .fold(0.0, f64::max)
}
