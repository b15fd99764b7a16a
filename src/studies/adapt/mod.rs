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
//!   apart; [`digit_features`], [`digit_classifier`] and
//!   [`digit_discriminator`]: DANN's digit networks, shared by every method.
//! - [`domains`]: MNIST-M, Fashion-M and a USPS-like target, built from
//!   the catalog's data and photos.
//! - [`Adaptation`]: the objective that trains a feature extractor and a
//!   classifier on the source with one [`Method`]'s term on the target
//!   (source only, DDC, DAN, Deep CORAL, DANN), through `fit_objective`;
//!   [`Adda`], ADDA's adversarial phase with its two optimisers; [`Dsn`],
//!   domain separation networks' six networks and four losses.
//! - [`selection`]: choosing a model without target labels (importance
//!   weights and deep embedded validation), the oracle choice that reads
//!   them (to measure what it inflates: [`Selection`], [`score_candidate`])
//!   and the proxy A-distance.
//!
//! Every loss takes feature batches `[B, D]` (rows are examples) and
//! returns a scalar tensor that backpropagates; the objectives that use
//! them run through [`fit_objective`](crate::train::fit_objective) with a
//! source and a target stream.

mod adda;
pub mod domains;
mod dsn;
pub mod losses;
mod nets;
mod objective;
pub mod selection;

pub use adda::Adda;
pub use dsn::{Dsn, DsnNets, DsnWeights};
pub use losses::{
    adda_target_loss, coral, dann_lambda, dann_lr_factor, difference_loss,
    difference_loss_normalized, gradient_reversal, linear_mmd, mk_mmd, scale_invariant_mse,
    Bandwidth, MmdEstimator,
};
pub use nets::{digit_classifier, digit_discriminator, digit_features, DIGIT_FEATURES};
pub use objective::{dann_schedule, Adaptation, Method};
pub use selection::{
    deep_embedded_validation, importance_weights, proxy_a_distance, score_candidate, Candidate,
    CandidateNets, Selection,
};

use crate::data::Split;
use crate::error::Result;
use crate::model::{Model, ModelBuilder};
use crate::train::{accuracy, cross_entropy};
use crate::zoo::{self, Activation};

/// A domain discriminator on feature vectors `[D]` (`features` = D):
/// `hidden` ReLU layers of `width` units, then 2 logits (source 0, target
/// 1), as DANN's (1024-1024-2 in the paper's larger nets, 100-2 in its
/// digit net).
pub fn domain_discriminator(features: i64, width: i64, hidden: usize) -> ModelBuilder {
    zoo::mlp(&[features], &vec![width; hidden], 2, Activation::Relu)
}

/// Mean cross-entropy and accuracy of `classifier(encoder(x))` over
/// `split`, in evaluation mode, in batches of `batch_size`, without
/// gradients; both networks get their mode back. The held-out measure of
/// every adaptation objective.
pub(crate) fn measure(
    encoder: &mut Model,
    classifier: &mut Model,
    split: &Split,
    batch_size: usize,
) -> Result<(f64, f64)> {
    let modes = (encoder.is_training(), classifier.is_training());
    encoder.set_train(false);
    classifier.set_train(false);
    let (encoder_ref, classifier_ref) = (&*encoder, &*classifier);
    let result = tch::no_grad(|| -> Result<(f64, f64)> {
        let n = split.len() as i64;
        let (mut loss, mut correct) = (0.0, 0.0);
        for start in (0..n).step_by(batch_size.max(1)) {
            let len = (batch_size.max(1) as i64).min(n - start);
            let device = encoder_ref.device();
            let x = split
                .images()
                .f_narrow(0, start, len)?
                .f_to_device(device)?;
            let y = split
                .labels()
                .f_narrow(0, start, len)?
                .f_to_device(device)?;
            let z = classifier_ref.forward(&encoder_ref.forward(&x)?)?;
            loss += cross_entropy(&z, &y)?.f_double_value(&[])? * len as f64;
            correct += accuracy(&z, &y)? * len as f64;
        }
        Ok((loss / n.max(1) as f64, correct / n.max(1) as f64))
    });
    encoder.set_train(modes.0);
    classifier.set_train(modes.1);
    result
}
