//! Checkpoints: after each epoch, the model's tensors, the optimiser's state
//! and the history, written atomically to a folder, so that a killed run
//! resumes where its last epoch ended and reaches the same weights.

use super::history::History;
use super::optim::OptimizerState;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::weights;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const TENSORS: &str = "checkpoint.safetensors";
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
}

fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// Writes a checkpoint into `dir` (created if needed). The tensors and the
/// metadata are written to temporary files and renamed, so a kill during the
/// write leaves the previous checkpoint intact.
pub fn save(
    dir: &Path,
    model: &Model,
    optim: &OptimizerState,
    meta: &CheckpointMeta,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tensors = model.named_tensors();
    tensors.extend(optim.state_tensors());
    let tmp = path(dir, "checkpoint.safetensors.tmp");
    weights::write_safetensors(&tensors, &tmp)?;
    let meta_tmp = path(dir, "checkpoint.json.tmp");
    let json = serde_json::to_string(meta)
        .map_err(|e| Error::invalid(format!("cannot encode checkpoint: {e}")))?;
    std::fs::write(&meta_tmp, json).map_err(|e| Error::io(&meta_tmp, e))?;
    std::fs::rename(&tmp, path(dir, TENSORS)).map_err(|e| Error::io(dir, e))?;
    std::fs::rename(&meta_tmp, path(dir, META)).map_err(|e| Error::io(dir, e))?;
    Ok(())
}

/// Loads the checkpoint in `dir` into `model` and `optim`, if there is one;
/// returns its metadata. A checkpoint of a different run is an error.
pub fn load(
    dir: &Path,
    model: &mut Model,
    optim: &mut OptimizerState,
    fingerprint: &str,
) -> Result<Option<CheckpointMeta>> {
    let meta_path = path(dir, META);
    let tensors_path = path(dir, TENSORS);
    if !meta_path.is_file() || !tensors_path.is_file() {
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
    let all = weights::read_tensors(&tensors_path)?;
    let (optim_state, model_tensors): (Vec<_>, Vec<_>) =
        all.into_iter().partition(|(n, _)| n.starts_with("optim."));
    let tmp = path(dir, "model-only.safetensors.tmp");
    weights::write_safetensors(&model_tensors, &tmp)?;
    let loaded = weights::load(model, &tmp);
    let _ = std::fs::remove_file(&tmp);
    loaded?;
    optim.load_state(&optim_state, model.device())?;
    Ok(Some(meta))
}
