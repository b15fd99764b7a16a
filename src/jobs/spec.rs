//! The parts of a study's settings file that say what to build: the data,
//! the network, and how to train it. Each part is plain JSON so that a
//! settings file written by a notebook, by hand or by a script means the
//! same thing to every process that reads it.

use crate::data::{Catalog, Dataset, Split};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::train::{Optimizer, Schedule};
use crate::zoo;
use serde::{Deserialize, Serialize};
use tch::Device;

/// A dataset of the catalog, cut to a balanced subset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// Catalog name (`fashion-mnist`, `mnist-subset`, `digits`).
    pub dataset: String,
    /// Training examples per class (all if absent).
    #[serde(default)]
    pub train_per_class: Option<usize>,
    /// Test examples per class (all if absent).
    #[serde(default)]
    pub test_per_class: Option<usize>,
    /// Only these classes, relabelled 0.. in this order (all if absent),
    /// kept after the balanced subset of all classes is drawn: the halves
    /// of one subset, as Yosinski's splits are.
    #[serde(default)]
    pub classes: Option<Vec<i64>>,
    /// Average-pool the images by this factor (2: 28x28 becomes 14x14).
    #[serde(default)]
    pub pool: Option<i64>,
    /// Seed of the subset's shuffle.
    #[serde(default)]
    pub seed: u64,
}

impl DataSpec {
    /// Loads the dataset from the catalog and cuts it as the spec says.
    pub fn load(&self) -> Result<Dataset> {
        self.cut(Catalog::open_default()?.load(&self.dataset)?)
    }

    /// Cuts `full` (the catalog's dataset this spec names, as loaded) as
    /// the spec says: what a sweep does for each run without reading the
    /// files again.
    pub fn cut(&self, full: Dataset) -> Result<Dataset> {
        let mut d = full;
        if self.train_per_class.is_some() || self.test_per_class.is_some() {
            d = d.balanced_subset(
                self.train_per_class.unwrap_or(usize::MAX),
                self.test_per_class.unwrap_or(usize::MAX),
                self.seed,
            )?;
        }
        if let Some(keep) = &self.classes {
            d = d.with_classes(keep)?;
        }
        match self.pool {
            None | Some(1) => Ok(d),
            Some(k) if k >= 2 => {
                let pool = |s: &Split| -> Result<Split> {
                    let images = s.images().f_avg_pool2d(
                        [k, k],
                        [k, k],
                        [0, 0],
                        false,
                        true,
                        None::<i64>,
                    )?;
                    Split::new(images, s.labels().shallow_clone())
                };
                let (train, test) = (pool(&d.train)?, pool(&d.test)?);
                Dataset::new(d.name.clone(), train, test, d.classes.clone())
            }
            Some(k) => Err(Error::invalid(format!(
                "data.pool is {k}: expected a pooling factor of 1 or more"
            ))),
        }
    }
}

/// A network of the zoo, by name, with the arguments its constructor needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
pub enum ModelSpec {
    /// LeNet-5 ([`zoo::lenet5`]).
    Lenet5,
    /// A fully connected net ([`zoo::mlp`]) with these hidden widths and ReLU.
    Mlp {
        /// Hidden layer widths.
        widths: Vec<i64>,
    },
    /// He et al.'s CIFAR ResNet of `6n + 2` layers ([`zoo::cifar_resnet`]),
    /// or its plain twin without shortcuts.
    CifarResnet {
        /// Blocks per stage (3: ResNet-20).
        n: usize,
        /// With shortcuts.
        #[serde(default = "yes")]
        residual: bool,
    },
    /// The eight-layer ZFNet-style net ([`zoo::zfnet`]) at the data's image
    /// size, its other settings the defaults (Yosinski's transfer grid).
    Zfnet,
    /// The small AlexNet of the architecture study ([`zoo::alexnet_small`]).
    AlexnetSmall,
    /// The small VGG ([`zoo::vgg_small`]).
    VggSmall,
    /// The small ResNet ([`zoo::resnet_small`]).
    ResnetSmall {
        /// With shortcuts.
        #[serde(default = "yes")]
        residual: bool,
    },
}

fn yes() -> bool {
    true
}

impl ModelSpec {
    /// Builds the network for images of `input` (`[C, H, W]`) and `classes`
    /// outputs, its weights drawn with `seed`.
    pub fn build(&self, input: [i64; 3], classes: i64, seed: u64, device: Device) -> Result<Model> {
        let builder = match self {
            ModelSpec::Lenet5 => zoo::lenet5(classes),
            ModelSpec::Mlp { widths } => zoo::mlp(&input, widths, classes, zoo::Activation::Relu),
            ModelSpec::CifarResnet { n, residual } => {
                zoo::cifar_resnet(input, *n, classes, *residual)
            }
            ModelSpec::Zfnet => zoo::zfnet(&zoo::ZfNetConfig {
                input,
                classes,
                ..Default::default()
            }),
            ModelSpec::AlexnetSmall => zoo::alexnet_small(classes),
            ModelSpec::VggSmall => zoo::vgg_small(classes),
            ModelSpec::ResnetSmall { residual } => zoo::resnet_small(classes, *residual),
        };
        builder.seed(seed).build(device)
    }
}

/// How a run trains: SGD with momentum or Adam, a constant rate or steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// Epochs.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch: usize,
    /// `sgd` or `adam`.
    #[serde(default = "sgd")]
    pub optimizer: String,
    /// Learning rate.
    pub lr: f64,
    /// SGD momentum.
    #[serde(default)]
    pub momentum: f64,
    /// L2 penalty added to the gradient.
    #[serde(default)]
    pub weight_decay: f64,
    /// Epochs (0-based) at whose start the rate is multiplied by `gamma`.
    #[serde(default)]
    pub milestones: Vec<usize>,
    /// Factor per milestone.
    #[serde(default = "tenth")]
    pub gamma: f64,
}

fn sgd() -> String {
    "sgd".into()
}

fn tenth() -> f64 {
    0.1
}

impl TrainSpec {
    /// The optimiser and schedule, checked.
    pub fn optimizer(&self) -> Result<(Optimizer, Schedule)> {
        if self.epochs == 0 || self.batch == 0 {
            return Err(Error::invalid(format!(
                "train: epochs {} and batch {}: expected both >= 1",
                self.epochs, self.batch
            )));
        }
        if !(self.lr.is_finite() && self.lr > 0.0 && self.weight_decay.is_finite()) {
            return Err(Error::invalid(format!(
                "train: lr {} and weight_decay {}: expected a positive rate and a finite penalty",
                self.lr, self.weight_decay
            )));
        }
        let opt = match self.optimizer.as_str() {
            "sgd" => Optimizer::Sgd {
                lr: self.lr,
                momentum: self.momentum,
                weight_decay: self.weight_decay,
                nesterov: false,
            },
            "adam" => Optimizer::Adam {
                lr: self.lr,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: self.weight_decay,
            },
            other => {
                return Err(Error::invalid(format!(
                    "train.optimizer '{other}': expected 'sgd' or 'adam'"
                )))
            }
        };
        let schedule = if self.milestones.is_empty() {
            Schedule::Constant
        } else {
            Schedule::MultiStep {
                milestones: self.milestones.clone(),
                gamma: self.gamma,
            }
        };
        Ok((opt, schedule))
    }
}
