//! Unsupervised domain adaptation as a training objective: a feature
//! extractor and a classifier trained on labelled source batches, with the
//! target batches (their labels never read) pulled towards the source by
//! one method's term.

use super::losses::{
    coral, dann_lambda, dann_lr_factor, domain_labels, gradient_reversal, linear_mmd, mk_mmd,
    Bandwidth, MmdEstimator,
};
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::train::{accuracy, cross_entropy, Batch, Metrics, Objective, Schedule, Step};
use std::sync::Arc;
use tch::Tensor;

/// How the target batch enters the loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// The source's cross-entropy alone: the baseline every method must beat.
    SourceOnly,
    /// DDC (Tzeng et al. 2014): plus `weight` times the linear MMD between
    /// the domains' features.
    Ddc {
        /// The MMD's weight.
        weight: f64,
    },
    /// DAN (Long et al. 2015): plus `weight` times the multi-kernel MMD
    /// (5 Gaussian kernels around the median distance, multiplier 2).
    Dan {
        /// The MMD's weight.
        weight: f64,
        /// The estimator (DAN's own is the linear-time one).
        estimator: MmdEstimator,
    },
    /// Deep CORAL (Sun & Saenko 2016): plus `weight` times the CORAL loss.
    Coral {
        /// The CORAL loss's weight.
        weight: f64,
    },
    /// DANN (Ganin & Lempitsky 2015): plus the domain discriminator's
    /// cross-entropy on both domains' features through a gradient
    /// reversal whose coefficient follows `2 / (1 + exp(-10 p)) - 1`.
    Dann,
}

/// A feature extractor (output `[B, D]`) and a classifier (input `[D]`)
/// trained on `source.train` with its labels and on `target.train` without
/// its labels, by `method`; DANN also trains a domain discriminator (input
/// `[D]`, 2 outputs). After each epoch (when the run evaluates) it reports
/// the source validation split's loss and accuracy (`source.test`: the
/// honest selection signal) and the target test split's, recorded as
/// `"test target accuracy"` and `"test target loss"`, for measuring what
/// an oracle choice on target labels would inflate, never for choosing.
pub struct Adaptation<'a> {
    features: &'a mut Model,
    classifier: &'a mut Model,
    discriminator: Option<&'a mut Model>,
    source: &'a Dataset,
    target: &'a Dataset,
    method: Method,
}

impl<'a> Adaptation<'a> {
    /// An adaptation of `features` + `classifier` from `source` to `target`
    /// by `method`. DANN needs [`discriminator`](Self::discriminator).
    pub fn new(
        features: &'a mut Model,
        classifier: &'a mut Model,
        source: &'a Dataset,
        target: &'a Dataset,
        method: Method,
    ) -> Self {
        Adaptation {
            features,
            classifier,
            discriminator: None,
            source,
            target,
            method,
        }
    }

    /// DANN's domain discriminator (see [`domain_discriminator`](super::domain_discriminator)).
    pub fn discriminator(mut self, discriminator: &'a mut Model) -> Self {
        self.discriminator = Some(discriminator);
        self
    }
}

/// DANN's learning-rate schedule `1 / (1 + 10 p)^0.75` over the run, for
/// [`FitConfig::schedule`](crate::train::FitConfig::schedule).
pub fn dann_schedule() -> Schedule {
    Schedule::PerStep(Arc::new(|p| {
        dann_lr_factor(p.clamp(0.0, 1.0)).unwrap_or(1.0)
    }))
}

impl Objective for Adaptation<'_> {
    fn describe(&self) -> String {
        format!("domain adaptation {:?}", self.method)
    }

    fn nets(&mut self) -> Vec<(String, &mut Model)> {
        let mut nets = vec![
            ("features".to_string(), &mut *self.features),
            ("classifier".to_string(), &mut *self.classifier),
        ];
        if let (Method::Dann, Some(d)) = (self.method, self.discriminator.as_deref_mut()) {
            nets.push(("discriminator".to_string(), d));
        }
        nets
    }

    fn streams(&self) -> Vec<Split> {
        vec![self.source.train.clone(), self.target.train.clone()]
    }

    fn check(&mut self) -> Result<()> {
        let weight = match self.method {
            Method::Ddc { weight } | Method::Dan { weight, .. } | Method::Coral { weight } => {
                weight
            }
            Method::SourceOnly | Method::Dann => 0.0,
        };
        if !(weight.is_finite() && weight >= 0.0) {
            return Err(Error::invalid(format!(
                "the adaptation term's weight must be finite and >= 0, got {weight}"
            )));
        }
        let (s, t) = (
            self.source.train.image_shape(),
            self.target.train.image_shape(),
        );
        if s != t {
            return Err(Error::shape(
                "target images",
                format!("the source images' shape {s:?}"),
                format!("{t:?}"),
            ));
        }
        if self.source.train.is_empty() || self.target.train.len() < 2 {
            return Err(Error::invalid(format!(
                "adaptation needs labelled source images and at least 2 target images, got {} and {}",
                self.source.train.len(),
                self.target.train.len()
            )));
        }
        if self.features.input_shape() != s {
            return Err(Error::shape(
                "the feature extractor's input",
                format!("the images' shape {s:?}"),
                format!("{:?}", self.features.input_shape()),
            ));
        }
        let d = self.features.output_shape().to_vec();
        if d.len() != 1 || self.classifier.input_shape() != d {
            return Err(Error::shape(
                "the classifier's input",
                format!(
                    "the features' shape {:?} (one vector [D] per image)",
                    self.features.output_shape()
                ),
                format!("{:?}", self.classifier.input_shape()),
            ));
        }
        if self.classifier.output_shape() != [self.source.num_classes()] {
            return Err(Error::shape(
                "the classifier's output",
                format!("[{}], the source's classes", self.source.num_classes()),
                format!("{:?}", self.classifier.output_shape()),
            ));
        }
        if self.method == Method::Dann {
            let disc = self.discriminator.as_deref().ok_or_else(|| {
                Error::invalid("DANN needs a domain discriminator: .discriminator(&mut net)")
            })?;
            if disc.input_shape() != d || disc.output_shape() != [2] {
                return Err(Error::shape(
                    "the discriminator",
                    format!("input {d:?} and 2 outputs (source, target)"),
                    format!(
                        "input {:?} and output {:?}",
                        disc.input_shape(),
                        disc.output_shape()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn step(&mut self, batches: &[Batch], step: &mut Step<'_>) -> Result<Metrics> {
        let (s, t) = (&batches[0], &batches[1]);
        let fs = self.features.forward(&s.images)?;
        let logits = self.classifier.forward(&fs)?;
        let class_loss = cross_entropy(&logits, &s.labels)?;
        let mut metrics = Metrics::default().accuracy(accuracy(&logits, &s.labels)?);
        let extra = match self.method {
            Method::SourceOnly => None,
            Method::Ddc { weight } => {
                let ft = self.features.forward(&t.images)?;
                Some(("mmd", linear_mmd(&fs, &ft)?, weight))
            }
            Method::Dan { weight, estimator } => {
                let ft = self.features.forward(&t.images)?;
                let n = fs.size()[0].min(ft.size()[0]);
                let (a, b) = (fs.f_narrow(0, 0, n)?, ft.f_narrow(0, 0, n)?);
                Some((
                    "mk-mmd",
                    mk_mmd(&a, &b, 5, 2.0, Bandwidth::Median, estimator)?,
                    weight,
                ))
            }
            Method::Coral { weight } => {
                let ft = self.features.forward(&t.images)?;
                Some(("coral", coral(&fs, &ft)?, weight))
            }
            Method::Dann => {
                let ft = self.features.forward(&t.images)?;
                let lambda = dann_lambda(step.progress().clamp(0.0, 1.0))?;
                let both = Tensor::f_cat(&[&fs, &ft], 0)?;
                let reversed = gradient_reversal(&both, lambda)?;
                let disc = self
                    .discriminator
                    .as_deref()
                    .ok_or_else(|| Error::invalid("DANN needs a domain discriminator"))?;
                let d = disc.forward(&reversed)?;
                let domains = domain_labels(fs.size()[0], ft.size()[0], d.device())?;
                metrics = metrics.with("lambda", lambda);
                Some(("domain loss", cross_entropy(&d, &domains)?, 1.0))
            }
        };
        let loss = match &extra {
            Some((name, term, weight)) => {
                metrics = metrics.with(*name, term.f_double_value(&[])?);
                class_loss.f_add(&term.f_mul_scalar(*weight)?)?
            }
            None => class_loss.shallow_clone(),
        };
        step.minimize(&loss)?;
        metrics.loss = loss.f_double_value(&[])?;
        Ok(metrics.with("source loss", class_loss.f_double_value(&[])?))
    }

    fn evaluate(&mut self, batch_size: usize) -> Result<Option<Metrics>> {
        if self.source.test.is_empty() {
            return Ok(None);
        }
        let (loss, accuracy) = super::measure(
            self.features,
            self.classifier,
            &self.source.test,
            batch_size,
        )?;
        let mut m = Metrics::loss(loss).accuracy(accuracy);
        if !self.target.test.is_empty() {
            let (target_loss, target_accuracy) = super::measure(
                self.features,
                self.classifier,
                &self.target.test,
                batch_size,
            )?;
            m = m
                .with("target loss", target_loss)
                .with("target accuracy", target_accuracy);
        }
        Ok(Some(m))
    }

    fn loss_label(&self) -> String {
        "source cross-entropy + adaptation term".to_string()
    }
}
