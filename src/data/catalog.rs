//! The data catalog: where the data folder is, what its manifest lists, and
//! loading a dataset or photo by name with its checksums verified.
//!
//! `make setup` gathers every dataset into one folder and writes
//! `manifest.json` there (name, kind, files with source and SHA-256). The
//! folder is found, in order, through the `DEEPSCOPE_DATA` environment
//! variable, the `data/` folder of the deepscope checkout this library was
//! built from, or `$XDG_DATA_HOME/deepscope` (`~/.local/share/deepscope`).

use super::csv::{read_labeled_csv, CsvLayout};
use super::dataset::{Dataset, Split};
use super::idx::read_idx_pair;
use super::image_file::{load_image, Channels};
use super::read::sha256_file;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use tch::Tensor;

/// The manifest file's name inside the data folder.
pub const MANIFEST: &str = "manifest.json";
/// The environment variable that names the data folder.
pub const DATA_ENV: &str = "DEEPSCOPE_DATA";
/// What to run to gather the data.
pub const SETUP_HINT: &str =
    "Run `make setup` in the deepscope checkout to gather it (or set DEEPSCOPE_DATA to a data folder that has it).";

/// The manifest: every dataset and photo in the data folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version, 1.
    pub version: u32,
    /// One entry per dataset or photo.
    pub entries: Vec<Entry>,
}

/// What kind of thing an entry is, and so how it loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// IDX image/label pairs: files `train-images`, `train-labels`,
    /// `test-images`, `test-labels`.
    Idx,
    /// One labelled CSV (file `data`), split into train/test by class.
    Csv,
    /// One photo (file `image`).
    Image,
}

/// One file of an entry, as gathered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Path relative to the data folder.
    pub path: String,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Where the file came from (a Debian package, a wheel, a URL).
    pub source: String,
}

/// One dataset or photo in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// The name to load it by, e.g. "fashion-mnist" or "coffee".
    pub name: String,
    /// How it loads.
    pub kind: EntryKind,
    /// One line about it.
    #[serde(default)]
    pub description: String,
    /// Class names in label order (datasets only).
    #[serde(default)]
    pub classes: Vec<String>,
    /// Example counts recorded when gathered ("train", "test", "all"), or the
    /// image size ("height", "width", "channels").
    #[serde(default)]
    pub counts: BTreeMap<String, u64>,
    /// CSV layout (CSV datasets only).
    #[serde(default)]
    pub layout: Option<CsvLayout>,
    /// Fraction of each class held out as the test split (CSV datasets only).
    #[serde(default)]
    pub test_fraction: Option<f64>,
    /// Files by role ("train-images", "data", "image", ...).
    pub files: BTreeMap<String, FileRecord>,
}

impl Entry {
    /// The recorded size in words: "train 60000, test 10000", "5000 examples"
    /// or "512x512, 3 channels".
    pub fn size_summary(&self) -> String {
        let c = |k: &str| self.counts.get(k).copied();
        match (c("train"), c("test"), c("all"), c("height"), c("width")) {
            (Some(tr), Some(te), ..) => format!("train {tr}, test {te}"),
            (_, _, Some(all), ..) => format!("{all} examples"),
            (.., Some(h), Some(w)) => {
                format!("{h}x{w}, {} channels", c("channels").unwrap_or(0))
            }
            _ => String::new(),
        }
    }
}

/// The data folder: `DEEPSCOPE_DATA` if set, else the first of the checkout's
/// `data/` and the user data folder that holds a manifest.
pub fn data_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(DATA_ENV) {
        return Ok(PathBuf::from(dir));
    }
    let candidates = default_dirs();
    candidates
        .iter()
        .find(|d| d.join(MANIFEST).is_file())
        .cloned()
        .ok_or_else(|| Error::DatasetMissing {
            name: "data folder".into(),
            reason: format!(
                "no {MANIFEST} in {}",
                candidates
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
            hint: SETUP_HINT.into(),
        })
}

fn default_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("data")];
    let user = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    if let Some(u) = user {
        dirs.push(u.join("deepscope"));
    }
    dirs
}

/// A data folder and its manifest.
#[derive(Debug, Clone)]
pub struct Catalog {
    dir: PathBuf,
    manifest: Manifest,
}

impl Catalog {
    /// The catalog of the default data folder (see [`data_dir`]).
    pub fn open_default() -> Result<Catalog> {
        Catalog::open(data_dir()?)
    }

    /// The catalog of the data folder `dir`, which must hold `manifest.json`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Catalog> {
        let dir = dir.as_ref().to_path_buf();
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::DatasetMissing {
                    name: "data folder".into(),
                    reason: format!("{} does not exist", path.display()),
                    hint: SETUP_HINT.into(),
                }
            } else {
                Error::io(&path, e)
            }
        })?;
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| Error::corrupt(&path, format!("not a deepscope manifest: {e}")))?;
        if manifest.version != 1 {
            return Err(Error::corrupt(
                &path,
                format!(
                    "manifest version {} (this library reads version 1)",
                    manifest.version
                ),
            ));
        }
        Ok(Catalog { dir, manifest })
    }

    /// The data folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every entry, in manifest order.
    pub fn entries(&self) -> &[Entry] {
        &self.manifest.entries
    }

    /// The entry called `name`; the error lists the names there are.
    pub fn entry(&self, name: &str) -> Result<&Entry> {
        self.manifest
            .entries
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| Error::DatasetMissing {
                name: name.into(),
                reason: format!(
                    "the manifest in {} has no entry of that name (it has: {})",
                    self.dir.display(),
                    self.manifest
                        .entries
                        .iter()
                        .map(|e| e.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                hint: SETUP_HINT.into(),
            })
    }

    /// The path of `entry`'s file in role `role`, after checking that it
    /// exists and that its SHA-256 matches the manifest.
    pub fn verified_file(&self, entry: &Entry, role: &str) -> Result<PathBuf> {
        let record = entry.files.get(role).ok_or_else(|| {
            Error::corrupt(
                self.dir.join(MANIFEST),
                format!("entry '{}' lists no '{role}' file", entry.name),
            )
        })?;
        let path = self.dir.join(&record.path);
        if !path.is_file() {
            return Err(Error::DatasetMissing {
                name: entry.name.clone(),
                reason: format!("its file {} is missing", path.display()),
                hint: SETUP_HINT.into(),
            });
        }
        let actual = sha256_file(&path)?;
        if !actual.eq_ignore_ascii_case(&record.sha256) {
            return Err(Error::Checksum {
                path,
                expected: record.sha256.clone(),
                actual,
            });
        }
        Ok(path)
    }

    /// Loads the dataset `name` (kinds `idx` and `csv`).
    pub fn load(&self, name: &str) -> Result<Dataset> {
        let entry = self.entry(name)?;
        match entry.kind {
            EntryKind::Idx => {
                let k = self.class_count(entry)?;
                let (x, y) = read_idx_pair(
                    self.verified_file(entry, "train-images")?,
                    self.verified_file(entry, "train-labels")?,
                    k,
                )?;
                let (tx, ty) = read_idx_pair(
                    self.verified_file(entry, "test-images")?,
                    self.verified_file(entry, "test-labels")?,
                    k,
                )?;
                Dataset::new(
                    name,
                    Split::new(x, y)?,
                    Split::new(tx, ty)?,
                    entry.classes.clone(),
                )
            }
            EntryKind::Csv => {
                self.class_count(entry)?;
                let layout = entry.layout.as_ref().ok_or_else(|| {
                    Error::corrupt(
                        self.dir.join(MANIFEST),
                        format!("CSV entry '{name}' has no layout"),
                    )
                })?;
                let (x, y) = read_labeled_csv(self.verified_file(entry, "data")?, layout)?;
                let fraction = entry.test_fraction.unwrap_or(0.2);
                Dataset::stratified(name, Split::new(x, y)?, entry.classes.clone(), fraction, 0)
            }
            EntryKind::Image => Err(Error::invalid(format!(
                "'{name}' is a photo, not a dataset: load it with data::image(\"{name}\")"
            ))),
        }
    }

    fn class_count(&self, entry: &Entry) -> Result<i64> {
        if entry.classes.is_empty() {
            return Err(Error::corrupt(
                self.dir.join(MANIFEST),
                format!("entry '{}' has no class names", entry.name),
            ));
        }
        Ok(entry.classes.len() as i64)
    }

    /// Loads the photo `name` as `[C, H, W]` f32 in [0, 1] (C = 1 or 3).
    pub fn image(&self, name: &str) -> Result<Tensor> {
        let entry = self.entry(name)?;
        if entry.kind != EntryKind::Image {
            return Err(Error::invalid(format!(
                "'{name}' is a dataset, not a photo: load it with data::load(\"{name}\")"
            )));
        }
        load_image(self.verified_file(entry, "image")?, Channels::Auto)
    }
}

impl fmt::Display for Catalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "data folder: {}", self.dir.display())?;
        writeln!(f, "{:<20} {:<6} {:<28} source", "name", "kind", "size")?;
        for e in &self.manifest.entries {
            let size = e.size_summary();
            let source = e
                .files
                .values()
                .next()
                .map(|r| r.source.as_str())
                .unwrap_or("");
            let kind = match e.kind {
                EntryKind::Idx => "idx",
                EntryKind::Csv => "csv",
                EntryKind::Image => "image",
            };
            writeln!(f, "{:<20} {:<6} {:<28} {}", e.name, kind, size, source)?;
        }
        Ok(())
    }
}
