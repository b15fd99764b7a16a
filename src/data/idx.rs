//! IDX files, the format of MNIST and Fashion-MNIST, gzipped or raw.
//!
//! An IDX file is a 4-byte magic number (two zero bytes, a type code, the number
//! of dimensions), one big-endian u32 per dimension, then the values in
//! row-major order, big-endian. Gzip is detected from the content (bytes
//! `1f 8b`), not the file name, so renamed files still load.

use super::read::read_maybe_gzip;
use crate::error::{Error, Result};
use std::path::Path;
use tch::{Kind, Tensor};

/// The element types an IDX file can declare (third byte of the magic number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdxType {
    /// 0x08: unsigned byte.
    U8,
    /// 0x09: signed byte.
    I8,
    /// 0x0B: big-endian i16.
    I16,
    /// 0x0C: big-endian i32.
    I32,
    /// 0x0D: big-endian f32.
    F32,
    /// 0x0E: big-endian f64.
    F64,
}

impl IdxType {
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0x08 => IdxType::U8,
            0x09 => IdxType::I8,
            0x0B => IdxType::I16,
            0x0C => IdxType::I32,
            0x0D => IdxType::F32,
            0x0E => IdxType::F64,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn width(self) -> usize {
        match self {
            IdxType::U8 | IdxType::I8 => 1,
            IdxType::I16 => 2,
            IdxType::I32 | IdxType::F32 => 4,
            IdxType::F64 => 8,
        }
    }
}

/// The contents of one IDX file: its element type, dimensions and values.
#[derive(Debug)]
pub struct IdxArray {
    /// Element type from the header.
    pub kind: IdxType,
    /// Dimensions from the header, outermost first (e.g. `[60000, 28, 28]`).
    pub dims: Vec<usize>,
    /// The values as a tensor of shape `dims` (u8 stays Uint8; others keep their width).
    pub tensor: Tensor,
}

/// Reads an IDX file (gzipped or raw) and checks its header against its length.
///
/// Errors name the file and say what was wrong: a magic number that does not
/// start with two zero bytes, an unknown type code, a file shorter than its
/// header promises (truncated), or longer (trailing bytes).
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    let path = path.as_ref();
    let bytes = read_maybe_gzip(path)?;
    parse_idx(&bytes).map_err(|what| Error::corrupt(path, what))
}

fn parse_idx(bytes: &[u8]) -> std::result::Result<IdxArray, String> {
    if bytes.len() < 4 {
        return Err(format!(
            "not an IDX file: {} bytes, shorter than the 4-byte magic number",
            bytes.len()
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(format!(
            "bad magic number {:02x} {:02x} {:02x} {:02x}: an IDX file starts with two zero bytes",
            bytes[0], bytes[1], bytes[2], bytes[3]
        ));
    }
    let kind = IdxType::from_code(bytes[2]).ok_or_else(|| {
        format!(
            "bad magic number: unknown IDX type code 0x{:02x} (expected 0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E)",
            bytes[2]
        )
    })?;
    let ndim = bytes[3] as usize;
    if ndim == 0 {
        return Err("bad magic number: an IDX file needs at least one dimension".into());
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(format!(
            "short read: the header declares {ndim} dimensions ({header} bytes) but the file has {} bytes",
            bytes.len()
        ));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or("dimensions overflow")?;
    let expected = count
        .checked_mul(kind.width())
        .ok_or("dimensions overflow")?;
    let body = &bytes[header..];
    if body.len() < expected {
        return Err(format!(
            "short read (truncated file): dimensions {dims:?} need {expected} bytes of data, found {}",
            body.len()
        ));
    }
    if body.len() > expected {
        return Err(format!(
            "wrong count: dimensions {dims:?} need {expected} bytes of data, found {} ({} trailing bytes)",
            body.len(),
            body.len() - expected
        ));
    }
    // Exactly the values the dimensions need (checked above): the reshape
    // cannot fail.
    let shape: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    let tensor = decode(kind, body).reshape(&shape);
    Ok(IdxArray { kind, dims, tensor })
}

fn decode(kind: IdxType, body: &[u8]) -> Tensor {
    fn be<const W: usize, T>(body: &[u8], f: fn([u8; W]) -> T) -> Vec<T> {
        body.chunks_exact(W)
            .map(|c| f(c.try_into().expect("chunks_exact yields W bytes")))
            .collect()
    }
    match kind {
        IdxType::U8 => Tensor::from_slice(body),
        IdxType::I8 => Tensor::from_slice(&be::<1, i8>(body, i8::from_be_bytes)),
        IdxType::I16 => Tensor::from_slice(&be::<2, i16>(body, i16::from_be_bytes)),
        IdxType::I32 => Tensor::from_slice(&be::<4, i32>(body, i32::from_be_bytes)),
        IdxType::F32 => Tensor::from_slice(&be::<4, f32>(body, f32::from_be_bytes)),
        IdxType::F64 => Tensor::from_slice(&be::<8, f64>(body, f64::from_be_bytes)),
    }
}

/// Reads an IDX image file `[N, H, W]` of unsigned bytes into images
/// `[N, 1, H, W]` f32 scaled to [0, 1].
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<Tensor> {
    let path = path.as_ref();
    let arr = read_idx(path)?;
    if arr.kind != IdxType::U8 || arr.dims.len() != 3 {
        return Err(Error::corrupt(
            path,
            format!(
                "expected an image file of unsigned bytes [N, H, W], found {:?} values of dimensions {:?}",
                arr.kind, arr.dims
            ),
        ));
    }
    // In place: a second 188 MB tensor for Fashion-MNIST costs more in page
    // faults than the division itself.
    let mut x = arr.tensor.unsqueeze(1).to_kind(Kind::Float);
    let _ = x.f_div_scalar_(255.0)?;
    Ok(x)
}

/// Reads an IDX label file `[N]` of unsigned bytes into labels `[N]` i64.
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<Tensor> {
    let path = path.as_ref();
    let arr = read_idx(path)?;
    if arr.kind != IdxType::U8 || arr.dims.len() != 1 {
        return Err(Error::corrupt(
            path,
            format!(
                "expected a label file of unsigned bytes [N], found {:?} values of dimensions {:?}",
                arr.kind, arr.dims
            ),
        ));
    }
    Ok(arr.tensor.to_kind(Kind::Int64))
}

/// Reads a pair of IDX image and label files and checks that they agree in
/// length, and that every label is below `num_classes`.
pub fn read_idx_pair(
    images: impl AsRef<Path>,
    labels: impl AsRef<Path>,
    num_classes: i64,
) -> Result<(Tensor, Tensor)> {
    let (images, labels) = (images.as_ref(), labels.as_ref());
    let x = read_idx_images(images)?;
    let y = read_idx_labels(labels)?;
    let (n_x, n_y) = (x.size()[0], y.size()[0]);
    if n_x != n_y {
        return Err(Error::corrupt(
            labels,
            format!(
                "wrong count: {n_y} labels for {n_x} images in {}",
                images.display()
            ),
        ));
    }
    super::read::check_label_range(&y, num_classes, labels)?;
    Ok((x, y))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(code: u8, dims: &[u32]) -> Vec<u8> {
        let mut b = vec![0, 0, code, dims.len() as u8];
        for d in dims {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b
    }

    #[test]
    fn decodes_big_endian_values_of_every_type() {
        let mut b = header(0x0B, &[2]);
        b.extend_from_slice(&(-2i16).to_be_bytes());
        b.extend_from_slice(&300i16.to_be_bytes());
        let a = parse_idx(&b).unwrap();
        assert_eq!(Vec::<i16>::try_from(&a.tensor).unwrap(), vec![-2, 300]);

        let mut b = header(0x0D, &[1, 2]);
        b.extend_from_slice(&1.5f32.to_be_bytes());
        b.extend_from_slice(&(-0.25f32).to_be_bytes());
        let a = parse_idx(&b).unwrap();
        assert_eq!(a.tensor.size(), vec![1, 2]);
        assert_eq!(
            Vec::<f32>::try_from(a.tensor.flatten(0, -1)).unwrap(),
            vec![1.5, -0.25]
        );

        let mut b = header(0x0E, &[1]);
        b.extend_from_slice(&std::f64::consts::PI.to_be_bytes());
        assert_eq!(
            f64::try_from(parse_idx(&b).unwrap().tensor.get(0)).unwrap(),
            std::f64::consts::PI
        );
    }

    #[test]
    fn rejects_headers_that_lie() {
        assert!(parse_idx(&[0, 0]).unwrap_err().contains("shorter than"));
        assert!(parse_idx(&[1, 0, 8, 1]).unwrap_err().contains("bad magic"));
        assert!(parse_idx(&[0, 0, 0x42, 1, 0, 0, 0, 1, 7])
            .unwrap_err()
            .contains("unknown IDX type code 0x42"));
        assert!(parse_idx(&[0, 0, 8, 0])
            .unwrap_err()
            .contains("at least one"));
        assert!(parse_idx(&[0, 0, 8, 2, 0, 0, 0, 1])
            .unwrap_err()
            .contains("short read"));
        // A dimension product that overflows usize must not wrap around.
        let b = header(0x08, &[u32::MAX, u32::MAX, u32::MAX]);
        assert!(parse_idx(&b).is_err());
    }
}
