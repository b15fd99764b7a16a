//! The networks of DANN's digit experiments (Ganin et al. 2016, JMLR,
//! section 5.2.3 and Figure 4: the MNIST -> MNIST-M architecture), which
//! every method of the domain-adaptation study shares so that they differ
//! only in their loss: a feature extractor, a label predictor and a domain
//! classifier.

use crate::model::{Conv, ModelBuilder};
use crate::zoo::{self, Activation};

/// Width of the digit features: 48 maps of 4x4 after two 5x5 convolutions
/// and two 2x2 poolings of a 28x28 image.
pub const DIGIT_FEATURES: i64 = 48 * 4 * 4;

/// DANN's feature extractor for `[channels, 28, 28]` digits: conv 32@5x5,
/// ReLU, max-pool 2x2; conv 48@5x5, ReLU, max-pool 2x2; flattened to
/// `[768]` ([`DIGIT_FEATURES`]).
pub fn digit_features(channels: i64) -> ModelBuilder {
    ModelBuilder::new(&[channels, 28, 28])
        .conv("conv1", "features.0", 32, Conv::new(5))
        .relu("relu1")
        .max_pool("pool1", 2, 2)
        .conv("conv2", "features.3", 48, Conv::new(5))
        .relu("relu2")
        .max_pool("pool2", 2, 2)
        .flatten("flatten")
}

/// DANN's label predictor on the digit features: fc 100, ReLU, fc 100,
/// ReLU, fc `classes`.
pub fn digit_classifier(classes: i64) -> ModelBuilder {
    zoo::mlp(&[DIGIT_FEATURES], &[100, 100], classes, Activation::Relu)
}

/// DANN's domain classifier on the digit features: fc 100, ReLU, then the
/// two domain logits (source 0, target 1; the paper's single logistic unit
/// as a two-way softmax).
pub fn digit_discriminator() -> ModelBuilder {
    super::domain_discriminator(DIGIT_FEATURES, 100, 1)
}
