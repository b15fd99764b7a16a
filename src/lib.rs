//! deepscope: look inside deep networks.
//!
//! A library on libtorch (through tch) for the classic experiments on
//! understanding, generalisation and transfer: datasets as tensors, layered
//! models that stop at any layer, deconvnets, occlusion, loss surfaces and
//! more. Every public function checks what it is given and returns an
//! [`Error`] that says what was wrong, never a panic: a panic in a notebook
//! cell can cost the user the state of the kernel.
//!
//! Start with the [`prelude`].

// The core: what every study builds on.
pub mod check;
pub mod data;
pub mod display;
pub mod error;
pub mod jobs;
pub mod model;
pub mod plot;
pub mod runtime;
pub mod stats;
pub mod train;
pub mod weights;
pub mod zoo;

// The paper families, one folder each under `studies/`.
pub mod studies;

pub use error::{Error, Result};
// The paths users write: `deepscope::viz::Occlusion`, `deepscope::device`, ...
pub use runtime::{device, rng};
pub use studies::{
    adapt, architectures, dip, distill, generalization, info_plane, surface, transfer, viz,
};

/// What the deepscope kernel imports into every notebook.
pub mod prelude {
    pub use crate::data::{self, transforms, Dataset, Order, Split};
    // Methods only: gives every Debug value that ends a cell the
    // `evcxr_display` evcxr tries first (see display::cell_end).
    pub use crate::display::DebugAtCellEnd as _;
    pub use crate::display::{
        clear_output, display, DisplayHandle, ImageGrid, Overlay, ProgressMode, Scaling, Show,
        Table,
    };
    pub use crate::error::{Error, Result};
    pub use crate::model::{Conv, Model, ModelBuilder};
    pub use crate::plot::{
        BarChart, Colormap, Contour, Heatmap, Histogram, LinePlot, Panels, Render, Scatter,
    };
    pub use crate::runtime::device::default_device;
    pub use crate::stats::{self, MeanSd};
    pub use crate::train::{
        self, evaluate, fit, fit_objective, FitConfig, Objective, Optimizer, Schedule,
    };
    pub use crate::transfer::Extractor;
    pub use crate::{
        adapt, architectures, dip, distill, generalization, info_plane, surface, transfer, viz,
    };
    pub use crate::{quick_mode, weights, zoo};
    pub use tch::{self, Device, Kind, Tensor};
}

/// The README's code, compiled as doctests so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// Whether notebooks and examples should shrink their work to finish in about
/// a minute (the test suite sets `DEEPSCOPE_QUICK=1`).
pub fn quick_mode() -> bool {
    std::env::var("DEEPSCOPE_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}
