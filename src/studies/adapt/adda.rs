//! ADDA (Tzeng et al. 2017): after training a source encoder and a
//! classifier on the source, a separate target encoder, started as a copy
//! of the source encoder, is trained against a domain discriminator with
//! inverted labels until the discriminator cannot tell its target features
//! from the (fixed) source encoder's source features.

use super::losses::{adda_target_loss, domain_labels};
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::train::{accuracy, cross_entropy, Batch, Metrics, Objective, OptimizerSpec, Step};
use tch::Tensor;

/// ADDA's adversarial phase as an objective: two optimisers,
/// `"discriminator"` (its update first, on source features labelled 0 and
/// target features labelled 1) and `"encoder"` (the target encoder's,
/// against the updated discriminator with the target features labelled
/// 0). The source encoder and the classifier stay fixed; at test time the
/// target images go through the target encoder and the source classifier.
pub struct Adda<'a> {
    source_encoder: &'a mut Model,
    target_encoder: &'a mut Model,
    classifier: &'a mut Model,
    discriminator: &'a mut Model,
    source: &'a Dataset,
    target: &'a Dataset,
}

impl<'a> Adda<'a> {
    /// The adversarial phase from a trained `source_encoder` (output
    /// `[D]`) and `classifier` (input `[D]`): `target_encoder`, of the
    /// source encoder's architecture, is set to a copy of it here;
    /// `discriminator` takes `[D]` and gives 2 logits.
    pub fn new(
        source_encoder: &'a mut Model,
        target_encoder: &'a mut Model,
        classifier: &'a mut Model,
        discriminator: &'a mut Model,
        source: &'a Dataset,
        target: &'a Dataset,
    ) -> Result<Self> {
        let last = source_encoder.output_layer().to_string();
        if target_encoder.layer_names() != source_encoder.layer_names() {
            return Err(Error::invalid(format!(
                "the target encoder must have the source encoder's layers ({}), has {}",
                source_encoder.layer_names().join(", "),
                target_encoder.layer_names().join(", ")
            )));
        }
        target_encoder.copy_layers_from(source_encoder, &last)?;
        Ok(Adda {
            source_encoder,
            target_encoder,
            classifier,
            discriminator,
            source,
            target,
        })
    }
}

impl Objective for Adda<'_> {
    fn describe(&self) -> String {
        "ADDA adversarial phase".to_string()
    }

    fn nets(&mut self) -> Vec<(String, &mut Model)> {
        vec![
            ("target encoder".to_string(), &mut *self.target_encoder),
            ("discriminator".to_string(), &mut *self.discriminator),
        ]
    }

    fn streams(&self) -> Vec<Split> {
        vec![self.target.train.clone(), self.source.train.clone()]
    }

    fn optimizers(&self) -> Vec<OptimizerSpec> {
        vec![
            OptimizerSpec::new("discriminator", &["discriminator"]),
            OptimizerSpec::new("encoder", &["target encoder"]),
        ]
    }

    fn check(&mut self) -> Result<()> {
        let d = self.source_encoder.output_shape().to_vec();
        if d.len() != 1 || self.classifier.input_shape() != d {
            return Err(Error::shape(
                "the classifier's input",
                format!("the encoder's output {d:?} (one vector [D] per image)"),
                format!("{:?}", self.classifier.input_shape()),
            ));
        }
        if self.discriminator.input_shape() != d || self.discriminator.output_shape() != [2] {
            return Err(Error::shape(
                "the discriminator",
                format!("input {d:?} and 2 outputs (source, target)"),
                format!(
                    "input {:?} and output {:?}",
                    self.discriminator.input_shape(),
                    self.discriminator.output_shape()
                ),
            ));
        }
        let (s, t) = (
            self.source.train.image_shape(),
            self.target.train.image_shape(),
        );
        if s != t || self.source_encoder.input_shape() != s {
            return Err(Error::shape(
                "target images",
                format!("the source images' and the encoder's shape {s:?}"),
                format!("{t:?}"),
            ));
        }
        // Fixed from here on: evaluation mode (no dropout, batch-norm
        // running statistics).
        self.source_encoder.set_train(false);
        self.classifier.set_train(false);
        Ok(())
    }

    fn step(&mut self, batches: &[Batch], step: &mut Step<'_>) -> Result<Metrics> {
        let (t, s) = (&batches[0], &batches[1]);
        let fs = tch::no_grad(|| self.source_encoder.forward(&s.images))?;
        let ft = self.target_encoder.forward(&t.images)?;
        let (ns, nt) = (fs.size()[0], ft.size()[0]);
        let domains = domain_labels(ns, nt, fs.device())?;
        let d_logits = self
            .discriminator
            .forward(&Tensor::f_cat(&[&fs, &ft.f_detach()?], 0)?)?;
        let d_loss = cross_entropy(&d_logits, &domains)?;
        step.update("discriminator", &d_loss)?;
        let d_accuracy = accuracy(&d_logits, &domains)?;
        // Against the updated discriminator.
        let g_loss = adda_target_loss(&self.discriminator.forward(&ft)?)?;
        step.update("encoder", &g_loss)?;
        Ok(Metrics::loss(g_loss.f_double_value(&[])?)
            .with("discriminator loss", d_loss.f_double_value(&[])?)
            .with("discriminator accuracy", d_accuracy))
    }

    /// The target test split's loss and accuracy: ADDA has no labelled
    /// signal on the target side, so these measure (the oracle's view);
    /// choosing an epoch by them is what the inflation measurement exposes.
    fn evaluate(&mut self, batch_size: usize) -> Result<Option<Metrics>> {
        if self.target.test.is_empty() {
            return Ok(None);
        }
        let (loss, acc) = super::measure(
            self.target_encoder,
            self.classifier,
            &self.target.test,
            batch_size,
        )?;
        Ok(Some(Metrics::loss(loss).accuracy(acc)))
    }

    fn loss_label(&self) -> String {
        "target encoder's inverted-label loss".to_string()
    }
}
