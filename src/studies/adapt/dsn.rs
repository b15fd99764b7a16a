//! Domain separation networks (Bousmalis et al. 2016): a shared encoder
//! for what the domains have in common, a private encoder per domain for
//! what they do not, a shared decoder that rebuilds each image from the
//! sum of its shared and private codes, and a classifier on the shared
//! code alone.

use super::losses::{
    dann_lambda, difference_loss_normalized, domain_labels, gradient_reversal, scale_invariant_mse,
};
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::train::{accuracy, cross_entropy, Batch, Metrics, Objective, Step};
use tch::Tensor;

/// The networks of a DSN. The encoders map images to codes `[D]`; the
/// decoder maps a code `[D]` back to an image (its output may be the
/// image's values flattened); the classifier and the discriminator take
/// the shared code.
pub struct DsnNets<'a> {
    /// The shared encoder `E_c`.
    pub shared: &'a mut Model,
    /// The source's private encoder `E_p^s`.
    pub source_private: &'a mut Model,
    /// The target's private encoder `E_p^t`.
    pub target_private: &'a mut Model,
    /// The shared decoder `D`.
    pub decoder: &'a mut Model,
    /// The classifier `G` on the shared code.
    pub classifier: &'a mut Model,
    /// The domain discriminator on the shared code (the paper's DANN
    /// similarity loss).
    pub discriminator: &'a mut Model,
}

/// The weights of DSN's losses beside the source classification loss
/// (the paper's alpha, beta, gamma).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DsnWeights {
    /// The scale-invariant reconstruction loss of both domains.
    pub reconstruction: f64,
    /// The difference (soft orthogonality) loss of both domains, in the
    /// normalised form of the authors' code ([`difference_loss_normalized`](super::difference_loss_normalized)).
    pub difference: f64,
    /// The similarity loss: the discriminator's cross-entropy through a
    /// gradient reversal on DANN's schedule.
    pub similarity: f64,
}

impl Default for DsnWeights {
    /// 0.1, 0.05 and 0.25, within the ranges the paper searched.
    fn default() -> Self {
        DsnWeights {
            reconstruction: 0.1,
            difference: 0.05,
            similarity: 0.25,
        }
    }
}

/// DSN as one objective with one optimiser over its six networks.
pub struct Dsn<'a> {
    nets: DsnNets<'a>,
    weights: DsnWeights,
    source: &'a Dataset,
    target: &'a Dataset,
}

impl<'a> Dsn<'a> {
    /// DSN from `source` (labelled) to `target` (unlabelled in training).
    pub fn new(
        nets: DsnNets<'a>,
        weights: DsnWeights,
        source: &'a Dataset,
        target: &'a Dataset,
    ) -> Self {
        Dsn {
            nets,
            weights,
            source,
            target,
        }
    }
}

impl Objective for Dsn<'_> {
    fn describe(&self) -> String {
        format!("DSN {:?}", self.weights)
    }

    fn nets(&mut self) -> Vec<(String, &mut Model)> {
        let n = &mut self.nets;
        vec![
            ("shared encoder".to_string(), &mut *n.shared),
            ("source private encoder".to_string(), &mut *n.source_private),
            ("target private encoder".to_string(), &mut *n.target_private),
            ("decoder".to_string(), &mut *n.decoder),
            ("classifier".to_string(), &mut *n.classifier),
            ("discriminator".to_string(), &mut *n.discriminator),
        ]
    }

    fn streams(&self) -> Vec<Split> {
        vec![self.source.train.clone(), self.target.train.clone()]
    }

    fn check(&mut self) -> Result<()> {
        let w = self.weights;
        if [w.reconstruction, w.difference, w.similarity]
            .iter()
            .any(|v| !(v.is_finite() && *v >= 0.0))
        {
            return Err(Error::invalid(format!(
                "DSN's loss weights must be finite and >= 0, got {w:?}"
            )));
        }
        let image = self.source.train.image_shape();
        if self.target.train.image_shape() != image {
            return Err(Error::shape(
                "target images",
                format!("the source images' shape {image:?}"),
                format!("{:?}", self.target.train.image_shape()),
            ));
        }
        let n = &self.nets;
        let code = n.shared.output_shape().to_vec();
        let mismatched = [
            (
                "the shared encoder's input",
                n.shared.input_shape() != image,
            ),
            (
                "the source private encoder",
                n.source_private.input_shape() != image || n.source_private.output_shape() != code,
            ),
            (
                "the target private encoder",
                n.target_private.input_shape() != image || n.target_private.output_shape() != code,
            ),
            (
                "the decoder",
                n.decoder.input_shape() != code
                    || n.decoder.output_shape().iter().product::<i64>()
                        != image.iter().product::<i64>(),
            ),
            (
                "the classifier",
                n.classifier.input_shape() != code
                    || n.classifier.output_shape() != [self.source.num_classes()],
            ),
            (
                "the discriminator",
                n.discriminator.input_shape() != code || n.discriminator.output_shape() != [2],
            ),
        ];
        if let Some((what, _)) = mismatched.iter().find(|(_, bad)| *bad) {
            return Err(Error::invalid(format!(
                "{what} does not fit: the encoders map images {image:?} to codes {code:?}, the decoder codes back to images, the classifier codes to {} classes, the discriminator codes to 2",
                self.source.num_classes()
            )));
        }
        if code.len() != 1 {
            return Err(Error::invalid(format!(
                "the codes must be vectors [D], got {code:?}"
            )));
        }
        Ok(())
    }

    fn step(&mut self, batches: &[Batch], step: &mut Step<'_>) -> Result<Metrics> {
        let (s, t) = (&batches[0], &batches[1]);
        let n = &self.nets;
        let (hs_c, ht_c) = (n.shared.forward(&s.images)?, n.shared.forward(&t.images)?);
        let (hs_p, ht_p) = (
            n.source_private.forward(&s.images)?,
            n.target_private.forward(&t.images)?,
        );
        let logits = n.classifier.forward(&hs_c)?;
        let task = cross_entropy(&logits, &s.labels)?;
        // The decoder may end flat ([C*H*W]): its output is read in the
        // images' shape.
        let rebuild = |code: &Tensor, like: &Tensor| -> Result<Tensor> {
            Ok(n.decoder.forward(code)?.f_view(like.size().as_slice())?)
        };
        let recon =
            scale_invariant_mse(&s.images, &rebuild(&hs_c.f_add(&hs_p)?, &s.images)?)?.f_add(
                &scale_invariant_mse(&t.images, &rebuild(&ht_c.f_add(&ht_p)?, &t.images)?)?,
            )?;
        let difference = difference_loss_normalized(&hs_c, &hs_p)?
            .f_add(&difference_loss_normalized(&ht_c, &ht_p)?)?;
        let lambda = dann_lambda(step.progress().clamp(0.0, 1.0))?;
        let both = gradient_reversal(&Tensor::f_cat(&[&hs_c, &ht_c], 0)?, lambda)?;
        let domains = domain_labels(hs_c.size()[0], ht_c.size()[0], both.device())?;
        let similarity = cross_entropy(&n.discriminator.forward(&both)?, &domains)?;
        let w = self.weights;
        let loss = task
            .f_add(&recon.f_mul_scalar(w.reconstruction)?)?
            .f_add(&difference.f_mul_scalar(w.difference)?)?
            .f_add(&similarity.f_mul_scalar(w.similarity)?)?;
        step.minimize(&loss)?;
        Ok(Metrics::loss(loss.f_double_value(&[])?)
            .accuracy(accuracy(&logits, &s.labels)?)
            .with("task", task.f_double_value(&[])?)
            .with("reconstruction", recon.f_double_value(&[])?)
            .with("difference", difference.f_double_value(&[])?)
            .with("similarity", similarity.f_double_value(&[])?))
    }

    fn evaluate(&mut self, batch_size: usize) -> Result<Option<Metrics>> {
        if self.source.test.is_empty() {
            return Ok(None);
        }
        let n = &mut self.nets;
        let (loss, acc) = super::measure(n.shared, n.classifier, &self.source.test, batch_size)?;
        let mut m = Metrics::loss(loss).accuracy(acc);
        if !self.target.test.is_empty() {
            let (target_loss, target_acc) =
                super::measure(n.shared, n.classifier, &self.target.test, batch_size)?;
            m = m
                .with("target loss", target_loss)
                .with("target accuracy", target_acc);
        }
        Ok(Some(m))
    }

    fn loss_label(&self) -> String {
        "DSN loss".to_string()
    }
}
