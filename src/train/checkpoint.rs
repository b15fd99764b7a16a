//! Checkpoints: after each epoch, every network's tensors, every
//! optimiser's state and the history, so that a killed run resumes where
//! its last epoch ended and reaches the same weights.
//!
//! Atomicity: the tensors go to a new file named for the epoch; then
//! `checkpoint.json`, which names that file, is written to a temporary file
//! and renamed into place. The rename is the commit: a kill at any moment
//! leaves either the previous checkpoint or the new one, never a mix.
//!
//! Tensor names: a run of one network and one optimiser (every
//! cross-entropy run) stores the network's own names and `optim.<key>`, as
//! before objectives existed; a run of several stores `<net>/<name>` and
//! `optim.<optimiser>/<key>`.

use super::history::History;
use super::optim::OptimizerState;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::weights;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::Tensor;

const META: &str = "checkpoint.json";

/// What a checkpoint records beside the tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Epochs completed.
    pub epochs_done: usize,
    /// The run's settings in words; a resumed run must match them.
    pub fingerprint: String,
    /// Metrics so far.
    pub history: History,
    /// The file (in the same folder) holding the model and optimiser tensors.
    pub tensors: String,
}

/// How a run's networks and optimisers are named in its tensor file.
pub(super) struct Layout {
    single: bool,
}

impl Layout {
    /// The layout of a run with these many networks and optimisers.
    pub fn new(nets: usize, optimizers: usize) -> Layout {
        Layout {
            single: nets == 1 && optimizers == 1,
        }
    }

    /// The stored name of tensor `name` of network `net`.
    pub fn net_tensor(&self, net: &str, name: &str) -> String {
        if self.single {
            name.to_string()
        } else {
            format!("{net}/{name}")
        }
    }

    fn optim_prefix(&self, optimizer: &str) -> String {
        if self.single {
            "optim.".to_string()
        } else {
            format!("optim.{optimizer}/")
        }
    }
}

/// Writes a checkpoint into `dir` (created if needed), committing it with
/// one rename, then removes the tensors of older checkpoints.
pub(super) fn save(
    dir: &Path,
    layout: &Layout,
    nets: &[(String, &mut Model)],
    optimizers: &[(&str, &OptimizerState)],
    meta: &CheckpointMeta,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tensors: Vec<(String, Tensor)> = Vec::new();
    for (net, model) in nets {
        for (name, t) in model.named_tensors() {
            tensors.push((layout.net_tensor(net, &name), t));
        }
    }
    for (name, state) in optimizers {
        let prefix = layout.optim_prefix(name);
        for (key, t) in state.state_tensors() {
            let key = key.strip_prefix("optim.").unwrap_or(&key);
            tensors.push((format!("{prefix}{key}"), t));
        }
    }
    weights::write_safetensors(&tensors, dir.join(&meta.tensors))?;
    let json = serde_json::to_string(meta)
        .map_err(|e| Error::invalid(format!("cannot encode checkpoint: {e}")))?;
    crate::runtime::files::write_atomically(&dir.join(META), json.as_bytes())?;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("checkpoint-epoch") && name != meta.tensors {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(())
}

/// The tensor file name for a checkpoint after `epochs_done` epochs.
pub(super) fn tensors_file(epochs_done: usize) -> String {
    format!("checkpoint-epoch{epochs_done}.safetensors")
}

/// Loads the checkpoint in `dir` into `nets` and `optimizers`, if there is
/// one; returns its metadata. A checkpoint of a different run is an error.
pub(super) fn load(
    dir: &Path,
    layout: &Layout,
    nets: &mut [(String, &mut Model)],
    optimizers: &mut [(&str, &mut OptimizerState)],
    fingerprint: &str,
) -> Result<Option<CheckpointMeta>> {
    let meta_path = dir.join(META);
    if !meta_path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&meta_path).map_err(|e| Error::io(&meta_path, e))?;
    let meta: CheckpointMeta = serde_json::from_str(&text)
        .map_err(|e| Error::corrupt(&meta_path, format!("not a checkpoint: {e}")))?;
    if meta.fingerprint != fingerprint {
        return Err(Error::invalid(format!(
            "{} holds a checkpoint of another run ({}), not of this one ({fingerprint}); use another folder or delete it",
            dir.display(),
            meta.fingerprint
        )));
    }
    let mut all = weights::read_tensors(dir.join(&meta.tensors))?;
    let device = nets.first().map_or(tch::Device::Cpu, |(_, m)| m.device());
    for (name, state) in optimizers.iter_mut() {
        let prefix = layout.optim_prefix(name);
        let (mine, rest): (Vec<_>, Vec<_>) =
            all.into_iter().partition(|(n, _)| n.starts_with(&prefix));
        all = rest;
        let mine: Vec<(String, Tensor)> = mine
            .into_iter()
            .map(|(n, t)| (format!("optim.{}", &n[prefix.len()..]), t))
            .collect();
        state.load_state(&mine, device)?;
    }
    for (net, model) in nets.iter_mut() {
        let stored = |n: &str| {
            if layout.single {
                Some(n.to_string())
            } else {
                n.strip_prefix(&format!("{net}/")).map(str::to_string)
            }
        };
        let mine: Vec<(String, Tensor)> = all
            .iter()
            .filter_map(|(n, t)| stored(n).map(|k| (k, t.shallow_clone())))
            .collect();
        weights::load_tensors(model, mine, &meta_path)?;
    }
    Ok(Some(meta))
}
