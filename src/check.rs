//! Argument checks shared by every module: they turn a tensor that does not fit
//! a call into an [`Error`] that names the argument, what was expected and what
//! arrived, before libtorch sees it (libtorch would throw, or worse, broadcast).

use crate::error::{Error, Result};
use tch::{Kind, Tensor};

/// A tensor shape as people write it: `[N, 1, 28, 28]`.
pub fn shape_str(size: &[i64]) -> String {
    let dims: Vec<String> = size.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

/// Checks that `t` is a batch of images `[N, C, H, W]` in a floating-point
/// kind, each image at least one channel and one pixel (the batch may be
/// empty). `what` names the argument in the error.
pub fn images(t: &Tensor, what: &str) -> Result<(i64, i64, i64, i64)> {
    let size = t.size();
    match size[..] {
        [n, c, h, w] if c > 0 && h > 0 && w > 0 => {
            floating(t, what)?;
            Ok((n, c, h, w))
        }
        [_, _, _, _] => Err(Error::shape(
            what,
            "a batch of images [N, C, H, W] with C, H and W at least 1",
            shape_str(&size),
        )),
        _ => Err(Error::shape(
            what,
            "a batch of images [N, C, H, W]",
            shape_str(&size),
        )),
    }
}

/// Checks that `t` is a 1-D tensor of `n` class labels of kind i64.
pub fn labels(t: &Tensor, n: i64, what: &str) -> Result<()> {
    let size = t.size();
    if size[..] != [n] {
        return Err(Error::shape(
            what,
            format!("labels [{n}] (one per image)"),
            shape_str(&size),
        ));
    }
    if t.kind() != Kind::Int64 {
        return Err(Error::shape(
            what,
            "labels of kind Int64",
            format!("{:?}", t.kind()),
        ));
    }
    Ok(())
}

/// Checks that `t` holds floating-point values (f16, bf16, f32 or f64).
pub fn floating(t: &Tensor, what: &str) -> Result<()> {
    if t.is_floating_point() {
        Ok(())
    } else {
        Err(Error::shape(
            what,
            "a floating-point tensor (e.g. Float)",
            format!("{:?}", t.kind()),
        ))
    }
}

/// Checks that every class index in `labels` (Int64) lies in `0..classes`.
pub fn class_indices(labels: &Tensor, classes: i64, what: &str) -> Result<()> {
    if labels.numel() == 0 {
        return Ok(());
    }
    let (lo, hi) = (
        labels.f_min()?.f_int64_value(&[])?,
        labels.f_max()?.f_int64_value(&[])?,
    );
    if lo < 0 || hi >= classes {
        let bad = if lo < 0 { lo } else { hi };
        return Err(Error::invalid(format!(
            "{what}: class {bad} is out of range: the model has {classes} classes (0..{classes})"
        )));
    }
    Ok(())
}

/// Checks that every value of `t` is finite (no NaN, no infinity).
pub fn finite(t: &Tensor, what: &str) -> Result<()> {
    if t.numel() > 0 && t.f_isfinite()?.f_all()?.f_int64_value(&[])? == 0 {
        return Err(Error::invalid(format!(
            "{what} holds NaN or infinite values"
        )));
    }
    Ok(())
}

/// Checks that `t` holds f32 values, where it meets f32 weights or kernels.
pub fn float32(t: &Tensor, what: &str) -> Result<()> {
    if t.kind() == Kind::Float {
        Ok(())
    } else {
        Err(Error::shape(
            what,
            "Float (f32) values (convert with .to_kind(Kind::Float))",
            format!("{:?}", t.kind()),
        ))
    }
}

/// Checks that a tensor is defined (not the null tensor tch uses for "none").
pub fn defined(t: &Tensor, what: &str) -> Result<()> {
    if t.defined() {
        Ok(())
    } else {
        Err(Error::shape(
            what,
            "a defined tensor",
            "an undefined tensor",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_str_matches_how_people_write_shapes() {
        assert_eq!(shape_str(&[2, 1, 28, 28]), "[2, 1, 28, 28]");
        assert_eq!(shape_str(&[]), "[]");
    }

    #[test]
    fn images_rejects_wrong_rank_and_integer_kind() {
        let err = images(
            &Tensor::zeros([28, 28], (Kind::Float, tch::Device::Cpu)),
            "images",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "images: expected a batch of images [N, C, H, W], got [28, 28]"
        );
        let bytes = Tensor::zeros([1, 1, 2, 2], (Kind::Uint8, tch::Device::Cpu));
        assert!(images(&bytes, "images")
            .unwrap_err()
            .to_string()
            .contains("Uint8"));
    }

    #[test]
    fn labels_checks_length_and_kind() {
        let l = Tensor::from_slice(&[1i64, 2, 3]);
        assert!(labels(&l, 3, "labels").is_ok());
        assert!(labels(&l, 4, "labels").is_err());
        assert!(labels(&l.to_kind(Kind::Int), 3, "labels").is_err());
    }
}
