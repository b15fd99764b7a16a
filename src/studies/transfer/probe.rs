//! A linear softmax probe on features.

use crate::data::Dataset;
use crate::display::{shows_at_cell_end, MimeBundle, Report, Show, Table};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::train::{evaluate, fit, Evaluation, FitConfig, Optimizer, ProgressMode};
use crate::zoo;
use tch::Device;

/// A softmax classifier (one linear layer, no hidden units) trained with
/// `fit` on the training split of a feature dataset and tested on its test
/// split: how linearly separable the classes are in a layer's features.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearProbe {
    /// Passes over the training features.
    pub epochs: usize,
    /// Examples per batch (at most the training split).
    pub batch_size: usize,
    /// The optimiser (Adam 1e-3 by default).
    pub optimizer: Optimizer,
    /// Seed of the weights and the batch order.
    pub seed: u64,
}

impl LinearProbe {
    /// `epochs` epochs of Adam 1e-3 in batches of 64, seed 0.
    pub fn new(epochs: usize) -> Self {
        LinearProbe {
            epochs,
            batch_size: 64,
            optimizer: Optimizer::adam(1e-3),
            seed: 0,
        }
    }

    /// With batches of `n`.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }

    /// With this optimiser.
    pub fn optimizer(mut self, optimizer: Optimizer) -> Self {
        self.optimizer = optimizer;
        self
    }

    /// With this seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Trains the probe on `features.train` and evaluates it on
    /// `features.test` (on the CPU, silently).
    pub fn run(&self, features: &Dataset) -> Result<ProbeResult> {
        if features.test.is_empty() {
            return Err(Error::invalid(format!(
                "'{}' has no test examples to measure the probe on",
                features.name
            )));
        }
        let shape = features.train.image_shape();
        let mut model = zoo::mlp(&shape, &[], features.num_classes(), zoo::Activation::Relu)
            .seed(self.seed)
            .build(Device::Cpu)?;
        let mut cfg = FitConfig::new(
            self.epochs,
            self.batch_size.min(features.train.len()).max(1),
            self.optimizer,
        );
        cfg.seed = self.seed;
        cfg.progress = ProgressMode::Silent;
        cfg.evaluate = false;
        let data = features.to_device(Device::Cpu);
        fit(&mut model, &data, &cfg)?;
        let evaluation = evaluate(&mut model, &data.test, 1000)?;
        Ok(ProbeResult {
            features: features.name.clone(),
            dimension: shape.iter().product(),
            train_examples: features.train.len(),
            classes: features.classes.clone(),
            evaluation,
            model,
        })
    }
}

/// What a [`LinearProbe`] measured.
#[derive(Debug)]
pub struct ProbeResult {
    /// The feature dataset's name.
    pub features: String,
    /// Features per example.
    pub dimension: i64,
    /// Training examples the probe saw.
    pub train_examples: usize,
    /// The class names.
    pub classes: Vec<String>,
    /// Loss, accuracy and confusion matrix on the test features.
    pub evaluation: Evaluation,
    /// The trained probe.
    pub model: Model,
}

impl ProbeResult {
    /// Test accuracy, 0 to 1.
    pub fn accuracy(&self) -> f64 {
        self.evaluation.accuracy
    }
}

impl Show for ProbeResult {
    fn mime_bundle(&self) -> Result<MimeBundle> {
        let table = Table::new(&[
            "features",
            "dimension",
            "training examples",
            "test accuracy",
        ])
        .title("linear probe")
        .row(&[
            self.features.clone(),
            self.dimension.to_string(),
            self.train_examples.to_string(),
            format!("{:.2}%", 100.0 * self.accuracy()),
        ])?;
        let text = format!(
            "linear probe on {} ({} features, {} examples): test accuracy {:.2}%",
            self.features,
            self.dimension,
            self.train_examples,
            100.0 * self.accuracy()
        );
        Report::new(table, text)
            .figure(&self.evaluation.confusion_heatmap(&self.classes))
            .mime_bundle()
    }
}

shows_at_cell_end!(ProbeResult);
