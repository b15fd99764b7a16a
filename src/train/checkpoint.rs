//! Checkpoints: after each epoch, the model's tensors, the optimiser's state
//! and the history, so that a killed run resumes where its last epoch ended
//! and reaches the same weights.
//!
//! Atomicity: the tensors go to a new file named for the epoch; then
//! `checkpoint.json`, which names that file, is written to a temporary file
//! and renamed into place. The rename is the commit: a kill at any moment
//! leaves either the previous checkpoint or the new one, never a mix.

use super::history::History;
use super::optim::OptimizerState;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::weights;
use serde::{Deserialize, Serialize};
use std::path::Path;

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

/// Writes a checkpoint into `dir` (created if needed), committing it with
/// one rename, then removes the tensors of older checkpoints.
pub fn save(
    dir: &Path,
    model: &Model,
    optim: &OptimizerState,
    meta: &CheckpointMeta,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tensors = model.named_tensors();
    tensors.extend(optim.state_tensors());
    weights::write_safetensors(&tensors, dir.join(&meta.tensors))?;
    let json = serde_json::to_string(meta)
        .map_err(|e| Error::invalid(format!("cannot encode checkpoint: {e}")))?;
    let tmp = dir.join("checkpoint.json.tmp");
    std::fs::write(&tmp, json).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, dir.join(META)).map_err(|e| Error::io(dir, e))?;
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
pub fn tensors_file(epochs_done: usize) -> String {
    format!("checkpoint-epoch{epochs_done}.safetensors")
}

/// Loads the checkpoint in `dir` into `model` and `optim`, if there is one;
/// returns its metadata. A checkpoint of a different run is an error.
pub fn load(
    dir: &Path,
    model: &mut Model,
    optim: &mut OptimizerState,
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
    let all = weights::read_tensors(dir.join(&meta.tensors))?;
    let (optim_state, model_tensors): (Vec<_>, Vec<_>) =
        all.into_iter().partition(|(n, _)| n.starts_with("optim."));
    weights::load_tensors(model, model_tensors, &meta_path)?;
    optim.load_state(&optim_state, model.device())?;
    Ok(Some(meta))
}
