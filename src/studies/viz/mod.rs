//! Looking inside trained networks, after Zeiler & Fergus: the deconvnet
//! that projects an activation back to pixels, the strongest activations of
//! each feature map over a dataset with the patches they see, invariance to
//! translation, scale and rotation, and occlusion sensitivity.

mod correspondence;
mod deconvnet;
pub mod drill_down;
pub mod incremental;
mod invariance;
mod occlusion;
mod top_k;

pub use correspondence::correspondence;
pub use deconvnet::{Deconvnet, Overlap, Target};
pub use drill_down::DrillDown;
pub use invariance::{invariance, Affine, InvarianceCurve};
pub use occlusion::{Fill, MapError, Occlusion, OcclusionMaps};
pub use top_k::{top_k, PixelBox, ReceptiveField, TopActivation, TopK};
