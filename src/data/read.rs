//! Reading data files: plain or gzipped bytes, SHA-256, label range checks.
//! Shared by every loader so that each reports file problems the same way.

use crate::error::{Error, Result};
use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;
use tch::Tensor;

/// Reads a whole file; if it starts with the gzip magic bytes `1f 8b`, returns
/// the decompressed content. A gzip stream cut short is reported as truncated.
pub fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
        let mut out = Vec::with_capacity(raw.len() * 4);
        GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| {
                Error::corrupt(
                    path,
                    format!("short read: the gzip stream is truncated or damaged ({e})"),
                )
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// SHA-256 of a file's bytes, as 64 lowercase hex digits.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// SHA-256 of `bytes`, as 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks that every label in `labels` lies in `0..num_classes`; `path` is the
/// file they came from, named in the error.
pub fn check_label_range(labels: &Tensor, num_classes: i64, path: &Path) -> Result<()> {
    if labels.numel() == 0 {
        return Ok(());
    }
    let lo = i64::try_from(labels.min())?;
    let hi = i64::try_from(labels.max())?;
    if lo < 0 || hi >= num_classes {
        return Err(Error::corrupt(
            path,
            format!(
                "labels range over {lo}..={hi}, expected 0..={}",
                num_classes - 1
            ),
        ));
    }
    Ok(())
}
