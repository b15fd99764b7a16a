//! Training the 12-10-7-5-4-3-2 net and measuring its layers in the
//! information plane at snapshot epochs.

use super::measure::{mutual_information, Binning};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::plot::{Colormap, Scatter};
use crate::train::{fit_with, Callback, Control, EpochRecord, FitConfig, Optimizer, ProgressMode};
use crate::zoo::{self, Activation};
use tch::{Device, Kind, Tensor};

/// A run's settings: the papers' net, optimiser and binning by default.
#[derive(Debug, Clone)]
pub struct InfoPlaneConfig {
    /// The hidden nonlinearity (tanh in Shwartz-Ziv & Tishby, ReLU in Saxe et al.).
    pub activation: Activation,
    /// Hidden widths (10, 7, 5, 4, 3; the output has 2 units).
    pub widths: Vec<i64>,
    /// Training epochs.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Adam's learning rate (4e-4).
    pub lr: f64,
    /// Epochs (1-based) at which every layer is measured.
    pub snapshots: Vec<usize>,
    /// How activations are binned (default: 30 bins on [-1, 1] for tanh,
    /// 30 bins over the observed range otherwise).
    pub binning: Binning,
    /// Share of each class held out for testing.
    pub test_fraction: f64,
    /// Seed of the weights, the split and the batch order.
    pub seed: u64,
    /// How training shows progress.
    pub progress: ProgressMode,
}

impl InfoPlaneConfig {
    /// The papers' settings for `activation` over `epochs` epochs, measured
    /// at 40 log-spaced epochs: widths 10-7-5-4-3, Adam lr 4e-4, batches of
    /// 256, 15% held out, seed 0.
    pub fn new(activation: Activation, epochs: usize) -> Self {
        InfoPlaneConfig {
            activation,
            widths: vec![10, 7, 5, 4, 3],
            epochs,
            batch_size: 256,
            lr: 4e-4,
            snapshots: super::log_schedule(epochs, 40),
            binning: match activation {
                Activation::Tanh => Binning::tanh(),
                _ => Binning::Observed { bins: 30 },
            },
            test_fraction: 0.15,
            seed: 0,
            progress: ProgressMode::Auto,
        }
    }

    /// With this seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

/// The measured plane: for each snapshot epoch and each layer, (I(X;T), I(T;Y)) in bits.
#[derive(Debug, Clone, PartialEq)]
pub struct InfoPlane {
    /// The measured layers: the hidden activations, then the output softmax.
    pub layers: Vec<String>,
    /// The snapshot epochs (1-based).
    pub epochs: Vec<usize>,
    /// `points[e][l]` for epoch `epochs[e]` and layer `layers[l]`.
    pub points: Vec<Vec<(f64, f64)>>,
    /// Training accuracy over all 4,096 patterns' training part at each snapshot.
    pub train_accuracy: Vec<f64>,
    /// Runs averaged into this plane.
    pub runs: usize,
    /// Whether training was interrupted (the plane holds the snapshots before).
    pub interrupted: bool,
}

struct Recorder {
    snapshots: Vec<usize>,
    inputs: Tensor,
    labels: Tensor,
    layers: Vec<String>,
    binning: Binning,
    plane: InfoPlane,
}

impl Callback for Recorder {
    fn on_epoch(&mut self, record: &EpochRecord, model: &mut Model) -> Result<Control> {
        let epoch = record.epoch + 1;
        if !self.snapshots.contains(&epoch) {
            return Ok(Control::Continue);
        }
        let names: Vec<&str> = self.layers.iter().map(String::as_str).collect();
        let acts = tch::no_grad(|| model.activations(&self.inputs, &names))?;
        let mut row = Vec::with_capacity(acts.len());
        for (i, a) in acts.iter().enumerate() {
            let t = if i + 1 == acts.len() {
                a.softmax(1, Kind::Float)
            } else {
                a.shallow_clone()
            };
            row.push(mutual_information(
                &t.flatten(1, -1),
                &self.labels,
                self.binning,
            )?);
        }
        self.plane.epochs.push(epoch);
        self.plane.points.push(row);
        self.plane
            .train_accuracy
            .push(record.train_accuracy.unwrap_or(f64::NAN));
        Ok(Control::Continue)
    }
}

impl InfoPlane {
    /// Trains the net of `config` and measures every layer at each snapshot
    /// over all 4,096 patterns (the papers' X).
    pub fn train(config: &InfoPlaneConfig, device: Device) -> Result<InfoPlane> {
        if config.epochs == 0 || config.snapshots.is_empty() {
            return Err(Error::invalid(
                "an information-plane run needs epochs and snapshot epochs",
            ));
        }
        if let Some(&bad) = config
            .snapshots
            .iter()
            .find(|&&e| e == 0 || e > config.epochs)
        {
            return Err(Error::invalid(format!(
                "snapshot epoch {bad} is outside 1..={}",
                config.epochs
            )));
        }
        let data = super::dataset(config.test_fraction, config.seed)?.to_device(device);
        let mut model = zoo::mlp(&[1, 1, 12], &config.widths, 2, config.activation)
            .seed(config.seed)
            .build(device)?;
        let mut layers: Vec<String> = (1..=config.widths.len())
            .map(|k| format!("act{k}"))
            .collect();
        layers.push(model.output_layer().to_string());
        let all = super::patterns()?.to_device(device);
        let mut recorder = Recorder {
            snapshots: config.snapshots.clone(),
            inputs: all.images().shallow_clone(),
            labels: all.labels().shallow_clone(),
            layers: layers.clone(),
            binning: config.binning,
            plane: InfoPlane {
                layers,
                epochs: Vec::new(),
                points: Vec::new(),
                train_accuracy: Vec::new(),
                runs: 1,
                interrupted: false,
            },
        };
        let mut fit = FitConfig::new(config.epochs, config.batch_size, Optimizer::adam(config.lr));
        fit.seed = config.seed;
        fit.evaluate = false;
        fit.progress = config.progress;
        let result = fit_with(&mut model, &data, &fit, &mut [&mut recorder])?;
        recorder.plane.interrupted = result.interrupted;
        Ok(recorder.plane)
    }

    /// The mean of several runs measured at the same epochs and layers
    /// (e.g. different seeds).
    pub fn mean(runs: &[InfoPlane]) -> Result<InfoPlane> {
        let first = runs
            .first()
            .ok_or_else(|| Error::invalid("no runs to average"))?;
        if let Some(other) = runs
            .iter()
            .find(|r| r.epochs != first.epochs || r.layers != first.layers)
        {
            return Err(Error::invalid(format!(
                "runs must share snapshot epochs and layers to be averaged: {:?} / {:?} vs {:?} / {:?}",
                first.epochs, first.layers, other.epochs, other.layers
            )));
        }
        let k = runs.len() as f64;
        let points = (0..first.epochs.len())
            .map(|e| {
                (0..first.layers.len())
                    .map(|l| {
                        let (x, y) = runs.iter().fold((0.0, 0.0), |(x, y), r| {
                            (x + r.points[e][l].0, y + r.points[e][l].1)
                        });
                        (x / k, y / k)
                    })
                    .collect()
            })
            .collect();
        let train_accuracy = (0..first.epochs.len())
            .map(|e| runs.iter().map(|r| r.train_accuracy[e]).sum::<f64>() / k)
            .collect();
        Ok(InfoPlane {
            layers: first.layers.clone(),
            epochs: first.epochs.clone(),
            points,
            train_accuracy,
            runs: runs.iter().map(|r| r.runs).sum(),
            interrupted: runs.iter().any(|r| r.interrupted),
        })
    }

    /// The trajectory of layer `l`: its point at each snapshot.
    pub fn trajectory(&self, l: usize) -> Vec<(f64, f64)> {
        self.points
            .iter()
            .filter_map(|row| row.get(l).copied())
            .collect()
    }

    /// The plane: every layer's point at every snapshot, coloured by epoch
    /// (log scale), the layers' trajectories running from the bottom left.
    pub fn figure(&self, title: &str) -> Scatter {
        let mut pts = Vec::new();
        let mut when = Vec::new();
        for (e, row) in self.epochs.iter().zip(&self.points) {
            for &p in row {
                pts.push(p);
                when.push((*e as f64).log10());
            }
        }
        Scatter::new(pts)
            .title(title)
            .x_label("I(X;T) (bits)")
            .y_label("I(T;Y) (bits)")
            .color_by(&when, Colormap::Viridis, "log10 epoch")
    }
}
