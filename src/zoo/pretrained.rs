//! Trained weights for named configurations, trained on the local data the
//! first time they are asked for and cached, so notebooks re-run in seconds.
//!
//! The cache key is a SHA-256 of everything that decides the weights: the
//! architecture (layer by layer), the dataset's files (their checksums), the
//! preprocessing, the optimiser, schedule, epochs and seed, and quick mode.
//! Change any of them and the weights are trained again under a new key.

use super::architectures::{cifar_resnet, lenet5, mlp, zfnet, Activation, FirstLayer, ZfNetConfig};
use crate::data::transforms::{Resize, Transform};
use crate::data::{Catalog, Dataset, Split};
use crate::error::{Error, Result};
use crate::model::{Model, ModelBuilder, Op};
use crate::train::{self, FilterRenorm, FitConfig, History, Optimizer, Schedule};
use crate::{quick_mode, weights};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};

/// A named training configuration.
struct Recipe {
    name: &'static str,
    about: &'static str,
    dataset: &'static str,
    /// Side length images are resized to (None: as stored).
    resize: Option<i64>,
    build: fn() -> ModelBuilder,
    epochs: usize,
    batch: usize,
    optimizer: Optimizer,
    schedule: fn() -> Schedule,
    /// Epochs after which the weights are kept beside the final ones
    /// (Zeiler & Fergus's Fig. 4); quick runs keep those within their epochs.
    snapshots: &'static [usize],
    /// Zeiler & Fergus's filter renormalisation: every convolution filter
    /// whose RMS exceeds this radius is scaled back to it after each step.
    renorm: Option<f64>,
}

fn constant() -> Schedule {
    Schedule::Constant
}

fn halve_every_4() -> Schedule {
    Schedule::Step {
        every: 4,
        gamma: 0.5,
    }
}

fn zfnet7() -> ModelBuilder {
    zfnet(&ZfNetConfig::default())
}

fn zfnet11() -> ModelBuilder {
    zfnet(&ZfNetConfig {
        first: FirstLayer::Conv11Stride4,
        ..ZfNetConfig::default()
    })
}

fn recipes() -> Vec<Recipe> {
    let sgd = |lr| Optimizer::Sgd {
        lr,
        momentum: 0.9,
        weight_decay: 5e-4,
        nesterov: false,
    };
    vec![
        Recipe {
            name: "lenet5-fashion",
            about: "LeNet-5 on Fashion-MNIST 28x28, 10 epochs of SGD with momentum",
            dataset: "fashion-mnist",
            resize: None,
            build: || lenet5(10),
            epochs: 10,
            batch: 128,
            optimizer: sgd(0.05),
            schedule: halve_every_4,
            snapshots: &[],
            renorm: None,
        },
        Recipe {
            name: "zfnet-fashion64",
            about: "the ZFNet-style net (7x7 stride 2 first layer) on Fashion-MNIST upsampled \
                    to 64x64; Adam 1e-3 (Zeiler & Fergus used SGD 0.01: at our size and schedule \
                    SGD stays on the chance-level plateau for epochs); filters renormalised to \
                    RMS 0.1; weights kept after epochs 1, 2, 3, 5, 7",
            dataset: "fashion-mnist",
            resize: Some(64),
            build: zfnet7,
            epochs: 10,
            batch: 128,
            optimizer: Optimizer::adam(1e-3),
            schedule: halve_every_4,
            snapshots: &[1, 2, 3, 5, 7, 10],
            renorm: Some(0.1),
        },
        Recipe {
            name: "zfnet11-fashion64",
            about: "the ZFNet-style net with AlexNet's 11x11 stride 4 first layer, Fashion-MNIST \
                    64x64, Adam 1e-3; filters renormalised to RMS 0.1; weights kept after \
                    epochs 1, 2, 3, 5, 7",
            dataset: "fashion-mnist",
            resize: Some(64),
            build: zfnet11,
            epochs: 10,
            batch: 128,
            optimizer: Optimizer::adam(1e-3),
            schedule: halve_every_4,
            snapshots: &[1, 2, 3, 5, 7, 10],
            renorm: Some(0.1),
        },
        Recipe {
            name: "resnet20-fashion",
            about: "ResNet-20 (He et al. 2016) on Fashion-MNIST 28x28",
            dataset: "fashion-mnist",
            resize: None,
            build: || cifar_resnet([1, 28, 28], 3, 10, true),
            epochs: 10,
            batch: 128,
            optimizer: sgd(0.05),
            schedule: halve_every_4,
            snapshots: &[],
            renorm: None,
        },
        Recipe {
            name: "plain20-fashion",
            about: "the plain twin of ResNet-20 (no shortcuts) on Fashion-MNIST 28x28",
            dataset: "fashion-mnist",
            resize: None,
            build: || cifar_resnet([1, 28, 28], 3, 10, false),
            epochs: 10,
            batch: 128,
            optimizer: sgd(0.05),
            schedule: halve_every_4,
            snapshots: &[],
            renorm: None,
        },
        Recipe {
            name: "mlp-digits",
            about: "an MLP 64-128-10 (ReLU) on the 8x8 digits",
            dataset: "digits",
            resize: None,
            build: || mlp(&[1, 8, 8], &[128], 10, Activation::Relu),
            epochs: 30,
            batch: 64,
            optimizer: sgd(0.05),
            schedule: constant,
            snapshots: &[],
            renorm: None,
        },
    ]
}

/// The names `pretrained` knows, each with one line about it.
pub fn pretrained_names() -> Vec<(&'static str, &'static str)> {
    recipes().into_iter().map(|r| (r.name, r.about)).collect()
}

/// Where trained weights are cached: `DEEPSCOPE_CACHE`, else
/// `$XDG_CACHE_HOME/deepscope/models` (`~/.cache/deepscope/models`).
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DEEPSCOPE_CACHE") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("deepscope").join("models")
}

/// What the cache records beside the weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PretrainedInfo {
    /// Recipe name.
    pub name: String,
    /// The cache key (hex SHA-256 of the configuration).
    pub key: String,
    /// The configuration, in words.
    pub description: String,
    /// Test accuracy after training.
    pub test_accuracy: f64,
    /// Seconds training took.
    pub train_seconds: f64,
    /// Metrics of the training run.
    pub history: History,
}

/// A trained model from [`pretrained`], with where it came from.
pub struct Pretrained {
    /// The model, in evaluation mode.
    pub model: Model,
    /// Cached weights file.
    pub path: PathBuf,
    /// Key, accuracy and history.
    pub info: PretrainedInfo,
    /// True if this call trained it; false if it came from the cache.
    pub trained_now: bool,
    /// The weights kept during training: `(epoch, file)`, by epoch.
    pub snapshots: Vec<(usize, PathBuf)>,
}

impl Pretrained {
    /// The epochs after which weights were kept (the final epoch is the
    /// model itself).
    pub fn snapshot_epochs(&self) -> Vec<usize> {
        self.snapshots.iter().map(|(e, _)| *e).collect()
    }

    /// A fresh copy of the model with the weights it had after `epoch` (a
    /// kept epoch or the last one), in evaluation mode (Zeiler & Fergus's Fig. 4: features as training goes).
    pub fn at_epoch(&self, epoch: usize) -> Result<Model> {
        let last = self.info.history.epochs.len();
        let path = self
            .snapshots
            .iter()
            .find(|(e, _)| *e == epoch)
            .map(|(_, p)| p)
            .or((epoch == last).then_some(&self.path))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "'{}' kept no weights after epoch {epoch}; it kept epochs {:?} and the final {last}",
                    self.info.name,
                    self.snapshot_epochs()
                ))
            })?;
        let recipe = find_recipe(&self.info.name)?;
        let mut model = (recipe.build)().seed(0).build(self.model.device())?;
        weights::load(&mut model, path)?;
        model.set_train(false);
        Ok(model)
    }
}

fn find_recipe(name: &str) -> Result<Recipe> {
    let all = recipes();
    let names = all.iter().map(|r| r.name).collect::<Vec<_>>().join(", ");
    all.into_iter()
        .find(|r| r.name == name)
        .ok_or_else(|| Error::invalid(format!("no pretrained model '{name}'; there are: {names}")))
}

fn resize_all(split: &Split, side: i64) -> Result<Split> {
    let t = Resize {
        height: side,
        width: side,
    };
    let mut rng = crate::runtime::rng::seeded(0);
    let mut parts = Vec::new();
    for start in (0..split.len() as i64).step_by(4096) {
        let n = (split.len() as i64 - start).min(4096);
        parts.push(t.apply(&split.images().narrow(0, start, n), &mut rng)?);
    }
    let images = if parts.is_empty() {
        split.images().shallow_clone()
    } else {
        Tensor::cat(&parts, 0)
    };
    Split::new(images, split.labels().shallow_clone())
}

/// The checksums of a recipe's dataset files, from the manifest: part of the
/// cache key, known without loading the data.
fn data_checksums(recipe: &Recipe) -> Result<String> {
    let catalog = Catalog::open_default()?;
    let entry = catalog.entry(recipe.dataset)?;
    Ok(entry
        .files
        .values()
        .map(|f| f.sha256.as_str())
        .collect::<Vec<_>>()
        .join(","))
}

fn dataset_for(recipe: &Recipe, quick: bool) -> Result<Dataset> {
    let mut ds = Catalog::open_default()?.load(recipe.dataset)?;
    if quick {
        // Balanced subsets and a few short epochs: a model that has really
        // learned something (well above chance), in seconds.
        ds = ds.balanced_subset(200, 50, 0)?;
    }
    if let Some(side) = recipe.resize {
        ds = Dataset::new(
            ds.name.clone(),
            resize_all(&ds.train, side)?,
            resize_all(&ds.test, side)?,
            ds.classes.clone(),
        )?;
    }
    Ok(ds)
}

/// Epochs of a quick-mode run (on 200 images per class, batches of 64).
const QUICK_EPOCHS: usize = 3;

fn fit_config(recipe: &Recipe, quick: bool) -> FitConfig {
    let mut cfg = if quick {
        FitConfig::new(QUICK_EPOCHS, 64, recipe.optimizer)
    } else {
        FitConfig::new(recipe.epochs, recipe.batch, recipe.optimizer)
    };
    cfg.schedule = (recipe.schedule)();
    cfg.snapshot_epochs = recipe
        .snapshots
        .iter()
        .copied()
        .filter(|&e| e < cfg.epochs)
        .collect();
    cfg
}

/// The trained model called `name` (see [`pretrained_names`]), on the
/// default device. Trains it on the local data the first time (minutes to
/// tens of minutes on a CPU; in quick mode 200 images per class and 3 epochs),
/// then loads it from [`cache_dir`] in well under a second.
pub fn pretrained(name: &str) -> Result<Pretrained> {
    pretrained_on(name, crate::runtime::device::default_device())
}

/// [`pretrained`] on a chosen device. A cached model loads without touching
/// the dataset (its cache key uses the manifest's checksums); get the data it
/// was trained on, prepared the same way, from [`pretrained_data`].
pub fn pretrained_on(name: &str, device: Device) -> Result<Pretrained> {
    let recipe = &find_recipe(name)?;
    let quick = quick_mode();
    let data_sums = data_checksums(recipe)?;
    let mut model = (recipe.build)().seed(0).build(device)?;
    let cfg = fit_config(recipe, quick);
    let renorm = match recipe.renorm {
        Some(radius) => format!(" | filters renormalised to RMS {radius}"),
        None => String::new(),
    };
    let description = format!(
        "{} | data {} ({}) resize {:?} quick {} | {} epochs, {}{renorm} | layers:\n{}",
        recipe.name,
        recipe.dataset,
        data_sums,
        recipe.resize,
        quick,
        cfg.epochs,
        cfg.fingerprint(),
        layers_description(&model)
    );
    let key = crate::data::sha256_hex(description.as_bytes());
    let dir = cache_dir();
    let stem = format!("{name}-{}", &key[..16]);
    let path = dir.join(format!("{stem}.safetensors"));
    let info_path = dir.join(format!("{stem}.json"));
    let snapshots: Vec<(usize, PathBuf)> = cfg
        .snapshot_epochs
        .iter()
        .map(|&e| (e, dir.join(format!("{stem}-epoch{e}.safetensors"))))
        .collect();
    if path.is_file() && info_path.is_file() && snapshots.iter().all(|(_, p)| p.is_file()) {
        let info = read_info(&info_path)?;
        weights::load(&mut model, &path)?;
        model.set_train(false);
        return Ok(Pretrained {
            model,
            path,
            info,
            trained_now: false,
            snapshots,
        });
    }
    let started = std::time::Instant::now();
    let ds = dataset_for(recipe, quick)?;
    let run = match recipe.renorm {
        Some(radius) => {
            let convs: Vec<&str> = model
                .layers()
                .iter()
                .filter(|l| matches!(l.op, Op::Conv2d { .. }))
                .map(|l| l.name.as_str())
                .collect();
            let mut renorm = FilterRenorm::new(&model, &convs, radius)?;
            // The initial filters count too: the paper's bound holds from the start.
            renorm.apply()?;
            train::fit_with(&mut model, &ds, &cfg, &mut [&mut renorm])?
        }
        None => train::fit(&mut model, &ds, &cfg)?,
    };
    if run.interrupted {
        return Err(Error::invalid(format!(
            "training of '{name}' was interrupted; nothing was cached (the partly trained model is discarded)"
        )));
    }
    let eval = train::evaluate(&mut model, &ds.test, 512)?;
    let info = PretrainedInfo {
        name: name.into(),
        key,
        description,
        test_accuracy: eval.accuracy,
        train_seconds: started.elapsed().as_secs_f64(),
        history: run.history,
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    for snap in &run.snapshots {
        if let Some((_, file)) = snapshots.iter().find(|(e, _)| *e == snap.epoch) {
            weights::write_safetensors(&snap.tensors, file)?;
        }
    }
    let tmp = dir.join(format!("{stem}.safetensors.tmp"));
    weights::save_as(&model, &tmp)?;
    write_info(&info_path, &info)?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    model.set_train(false);
    Ok(Pretrained {
        model,
        path,
        info,
        trained_now: true,
        snapshots,
    })
}

fn read_info(path: &Path) -> Result<PretrainedInfo> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::corrupt(path, format!("not a pretrained-model record: {e}")))
}

fn write_info(path: &Path, info: &PretrainedInfo) -> Result<()> {
    let json = serde_json::to_string_pretty(info)
        .map_err(|e| Error::invalid(format!("cannot encode: {e}")))?;
    crate::runtime::files::write_atomically(path, json.as_bytes())
}

/// The dataset a recipe trains on, as `pretrained` prepares it (resized,
/// and subset in quick mode), without training anything.
pub fn pretrained_data(name: &str) -> Result<Dataset> {
    dataset_for(&find_recipe(name)?, quick_mode())
}

/// The layers as the cache key has always described them (name, kind,
/// parameter path, output shape, parameters, then the total), kept
/// separate from [`Model::summary`](crate::model::Model::summary) so that a
/// richer summary does not invalidate every cached net.
fn layers_description(model: &Model) -> String {
    let mut text = format!(
        "{:<12} {:<16} {:<14} {:<18} {:>12}\n",
        "layer", "kind", "params at", "output", "parameters"
    );
    for l in model.summary().layers {
        text += &format!(
            "{:<12} {:<16} {:<14} {:<18} {:>12}\n",
            l.name,
            l.kind,
            l.path,
            crate::check::shape_str(&l.output),
            l.parameters
        );
    }
    text + &format!("{:<63} {:>12}", "total", model.num_parameters())
}
