//! Layered models: one explicit list of named layers, so that every tool can
//! stop at a layer, read its activation, record max-pool switches, copy or
//! freeze layers, and perturb weights. libtorch modules have no hooks; this
//! type is how deepscope sees inside a network.
//!
//! ```no_run
//! use deepscope::model::{Conv, ModelBuilder};
//! let net = ModelBuilder::new(&[1, 28, 28])
//!     .conv("conv1", "features.0", 6, Conv::new(5).padding(2))
//!     .relu("relu1")
//!     .max_pool("pool1", 2, 2)
//!     .flatten("flatten")
//!     .linear("fc", "classifier.0", 10)
//!     .seed(0)
//!     .build(tch::Device::Cpu)?;
//! let x = tch::Tensor::zeros([8, 1, 28, 28], (tch::Kind::Float, tch::Device::Cpu));
//! let acts = net.activations(&x, &["pool1", "fc"])?;
//! assert_eq!(acts[0].size(), vec![8, 6, 14, 14]);
//! assert_eq!(acts[1].size(), vec![8, 10]);
//! # Ok::<(), deepscope::Error>(())
//! ```

mod builder;
mod fold;
mod init;
mod layer;
mod network;
mod summary;

pub use builder::{Conv, ModelBuilder};
pub use layer::{
    dropout, local_response_norm, InitScheme, Layer, Op, PaddingMode, Shortcut, Upsampling,
};
pub use network::{Model, ParamGroup, Trace};
pub use summary::{Field, LayerSummary, Summary, Window};
