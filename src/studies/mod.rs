//! The paper families, one folder each, built on the core (data, model,
//! train, plot, display) and re-exported at the crate root
//! (`deepscope::viz`, `deepscope::dip`, ...).
//!
//! A study follows one convention: a builder or config for its settings,
//! one verb (`run`, or a name that says what it does) that returns a
//! result, and results that draw their own figures and show themselves in
//! a notebook. A study depends on the core, never the other way round.
//!
//! - [`viz`]: Zeiler & Fergus: deconvnet, top-k patches, occlusion,
//!   invariance, correspondence.
//! - [`dip`]: the Deep Image Prior.
//! - [`generalization`]: Zhang et al.'s randomisation tests.
//! - [`surface`]: loss surfaces, Hessians and critical points.
//! - [`info_plane`]: the information plane of Shwartz-Ziv & Tishby.
//! - [`transfer`]: features of a trained net at any layer and linear
//!   probes on them (DeCAF, Zeiler & Fergus Table 7).
//! - [`distill`]: knowledge distillation (Hinton, Vinyals & Dean).
//! - [`architectures`]: the convolution's backward pass written out, and
//!   what sets the classic CNN architectures apart.
//! - [`adapt`]: deep domain adaptation (DDC, DAN, Deep CORAL, DANN, ADDA,
//!   DSN): its losses and layers.

pub mod adapt;
pub mod architectures;
pub mod dip;
pub mod distill;
pub mod generalization;
pub mod info_plane;
pub mod surface;
pub mod transfer;
pub mod viz;
