//! Layer surgery for transfer (Yosinski et al. 2014; Oquab et al. 2014):
//! copy layers 1..n of a base net into a target net, freeze them or let
//! them fine-tune, draw the rest anew from a seed. The target is built from
//! the same architecture, or from the base's body with a new head
//! ([`ModelBuilder::up_to`](crate::model::ModelBuilder::up_to)).

use crate::error::{Error, Result};
use crate::model::Model;

/// What happens to the lower layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lower {
    /// Copied from the base and frozen (Yosinski's AnB, BnB).
    Frozen,
    /// Copied from the base and trained on with the rest, at the same
    /// learning rate (AnB+, BnB+).
    FineTuned,
    /// Drawn at random and frozen: what the copied features are worth
    /// against features never trained (Jarrett et al.; Yosinski's random
    /// baseline).
    RandomFrozen,
}

/// One transfer: layers up to `last` treated as `lower` says, every later
/// layer re-initialised from `seed` and trained.
#[derive(Debug, Clone, PartialEq)]
pub struct Surgery {
    /// The last lower layer (e.g. `"relu3"` for n = 3).
    pub last: String,
    /// What becomes of the lower layers.
    pub lower: Lower,
    /// Seed of the re-initialised layers (and of the random lower ones).
    pub seed: u64,
}

impl Surgery {
    /// Layers up to `last` copied and frozen; the rest re-initialised from
    /// seed 0.
    pub fn copy_frozen(last: &str) -> Self {
        Surgery {
            last: last.to_string(),
            lower: Lower::Frozen,
            seed: 0,
        }
    }

    /// Layers up to `last` copied and fine-tuned.
    pub fn copy_fine_tuned(last: &str) -> Self {
        Surgery {
            lower: Lower::FineTuned,
            ..Surgery::copy_frozen(last)
        }
    }

    /// Layers up to `last` random and frozen.
    pub fn random_frozen(last: &str) -> Self {
        Surgery {
            lower: Lower::RandomFrozen,
            ..Surgery::copy_frozen(last)
        }
    }

    /// With this seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Operates on `target`: every layer is re-initialised from the seed
    /// and unfrozen, then the lower layers are copied from `base` (same
    /// names and shapes, checked) unless random, and frozen unless
    /// fine-tuned. `base` is not changed.
    pub fn apply(&self, target: &mut Model, base: &Model) -> Result<()> {
        let end = target.layer_index(&self.last)?;
        if base.layer_index(&self.last)? != end {
            return Err(Error::invalid(format!(
                "layer '{}' is layer {} of the target but {} of the base: the lower layers differ",
                self.last,
                end + 1,
                base.layer_index(&self.last)? + 1
            )));
        }
        if self.lower != Lower::RandomFrozen {
            // Checks names and shapes before anything changes (the copy is
            // all or nothing), so a refused transfer leaves `target` as it was.
            target.copy_layers_from(base, &self.last)?;
        }
        let names: Vec<String> = target.layer_names().iter().map(|s| s.to_string()).collect();
        let all: Vec<&str> = names.iter().map(String::as_str).collect();
        target.reinitialize(&all, self.seed)?;
        target.unfreeze(&all)?;
        if self.lower != Lower::RandomFrozen {
            target.copy_layers_from(base, &self.last)?;
        }
        if self.lower != Lower::FineTuned {
            target.freeze_up_to(&self.last)?;
        }
        Ok(())
    }
}
