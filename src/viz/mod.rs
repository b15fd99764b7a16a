//! Looking inside trained networks, after Zeiler & Fergus: the deconvnet
//! that projects an activation back to pixels, and occlusion sensitivity.

mod deconvnet;
mod occlusion;

pub use deconvnet::{Deconvnet, Overlap, Target};
pub use occlusion::{Fill, Occlusion, OcclusionMaps};
