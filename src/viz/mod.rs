//! Looking inside trained networks, after Zeiler & Fergus: the deconvnet
//! that projects an activation back to pixels.

mod deconvnet;

pub use deconvnet::{Deconvnet, Overlap, Target};
