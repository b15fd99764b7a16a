//! Deep domain adaptation: training on a labelled source domain so that a
//! network also works on an unlabelled target domain, by matching the two
//! domains' feature distributions (DDC, DAN, Deep CORAL) or by making them
//! indistinguishable to a discriminator (DANN, ADDA), or by separating
//! what the domains share from what is private to each (DSN).
//!
//! - [`losses`]: gradient reversal and DANN's schedules, linear MMD (DDC),
//!   multi-kernel MMD with the quadratic and the linear-time unbiased
//!   estimators (DAN), the CORAL loss, DSN's difference and
//!   scale-invariant reconstruction losses, ADDA's inverted-label loss;
//!   each tested against an independent NumPy or PyTorch reference.
//! - [`domain_discriminator`]: the small network that tells the domains
//!   apart.
//! - [`domains`]: MNIST-M, Fashion-M and a USPS-like target, built from
//!   the catalog's data and photos.
//! - [`Adaptation`]: the objective that trains a feature extractor and a
//!   classifier on the source with one [`Method`]'s term on the target
//!   (source only, DDC, DAN, Deep CORAL, DANN), through `fit_objective`;
//!   [`Adda`], ADDA's adversarial phase with its two optimisers; [`Dsn`],
//!   domain separation networks' six networks and four losses.
//! - [`selection`]: choosing a model without target labels (importance
//!   weights and deep embedded validation) and the proxy A-distance.
//!
//! Every loss takes feature batches `[B, D]` (rows are examples) and
//! returns a scalar tensor that backpropagates; the objectives that use
//! them run through [`fit_objective`](crate::train::fit_objective) with a
//! source and a target stream.

mod adda;
pub mod domains;
mod dsn;
pub mod losses;
mod objective;
pub mod selection;

pub use adda::Adda;
pub use dsn::{Dsn, DsnNets, DsnWeights};
pub use losses::{
    adda_target_loss, coral, dann_lambda, dann_lr_factor, difference_loss,
    difference_loss_normalized, gradient_reversal, linear_mmd, mk_mmd, scale_invariant_mse,
    Bandwidth, MmdEstimator,
};
pub use objective::{dann_schedule, Adaptation, Method};
pub use selection::{deep_embedded_validation, importance_weights, proxy_a_distance};

use crate::model::ModelBuilder;
use crate::zoo::{self, Activation};

/// A domain discriminator on feature vectors `[D]` (`features` = D):
/// `hidden` ReLU layers of `width` units, then 2 logits (source 0, target
/// 1), as DANN's (1024-1024-2 in the paper's larger nets, 100-2 in its
/// digit net).
pub fn domain_discriminator(features: i64, width: i64, hidden: usize) -> ModelBuilder {
    zoo::mlp(&[features], &vec![width; hidden], 2, Activation::Relu)
}
