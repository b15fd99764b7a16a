//! ImageNet-style class folders: `root/<split>/<class>/<image>`, one folder per
//! class, classes numbered in sorted name order (as torchvision's
//! `ImageFolder`). For users with their own photos or a copy of ImageNet.

use super::dataset::{Dataset, Split};
use super::image_file::{image_to_tensor, Channels};
use crate::error::{Error, Result};
use image::imageops::FilterType;
use image::ImageReader;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

const EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "JPEG"];

/// Reads one split folder `dir/<class>/<image>`: each image resized so its
/// shorter side is `size`, then centre-cropped to `size x size` (the usual
/// ImageNet evaluation transform). Returns the split and the class names.
pub fn read_image_folder(
    dir: impl AsRef<Path>,
    size: u32,
    channels: Channels,
) -> Result<(Split, Vec<String>)> {
    let dir = dir.as_ref();
    if size == 0 {
        return Err(Error::invalid("image folder size must be at least 1 pixel"));
    }
    let classes = class_dirs(dir)?;
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        for file in image_files(&dir.join(class))? {
            images.push(load_square(&file, size, channels)?);
            labels.push(label as i64);
        }
    }
    if images.is_empty() {
        return Err(Error::corrupt(
            dir,
            "no PNG or JPEG images in any class folder",
        ));
    }
    // Every image is `[C, size, size]` with one C (`load_square`): the
    // stack cannot fail.
    let split = Split::new(
        Tensor::stack(&images, 0),
        Tensor::from_slice(&labels).to_kind(Kind::Int64),
    )?;
    Ok((split, classes))
}

/// Reads `root/train` and `root/val` (or `root/test`) into a dataset; both
/// must have the same class folders.
pub fn read_image_folders(
    root: impl AsRef<Path>,
    size: u32,
    channels: Channels,
) -> Result<Dataset> {
    let root = root.as_ref();
    let (train, classes) = read_image_folder(root.join("train"), size, channels)?;
    let test_dir = ["val", "test"]
        .iter()
        .map(|s| root.join(s))
        .find(|p| p.is_dir())
        .ok_or_else(|| Error::corrupt(root, "no 'val' or 'test' folder beside 'train'"))?;
    let (test, test_classes) = read_image_folder(&test_dir, size, channels)?;
    if test_classes != classes {
        return Err(Error::corrupt(
            &test_dir,
            format!("class folders {test_classes:?} differ from train's {classes:?}"),
        ));
    }
    let name = root
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image-folder".into());
    Dataset::new(name, train, test, classes)
}

fn class_dirs(dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut classes: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    classes.sort();
    if classes.is_empty() {
        return Err(Error::corrupt(
            dir,
            "no class folders (expected <split>/<class>/<image>)",
        ));
    }
    Ok(classes)
}

fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| EXTENSIONS.contains(&e))
        })
        .collect();
    files.sort();
    Ok(files)
}

fn load_square(path: &Path, size: u32, channels: Channels) -> Result<Tensor> {
    let img = ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?
        .decode()
        .map_err(|e| Error::corrupt(path, format!("cannot decode image: {e}")))?;
    let (w, h) = (img.width(), img.height());
    let scale = size as f64 / w.min(h) as f64;
    let (nw, nh) = (
        ((w as f64 * scale).round() as u32).max(size),
        ((h as f64 * scale).round() as u32).max(size),
    );
    let resized = img.resize_exact(nw, nh, FilterType::Triangle);
    let cropped = resized.crop_imm((nw - size) / 2, (nh - size) / 2, size, size);
    let channels = match channels {
        // A folder must give one channel count for every image.
        Channels::Auto => Channels::Rgb,
        c => c,
    };
    Ok(image_to_tensor(&cropped, channels))
}
