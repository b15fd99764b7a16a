//! Loss surfaces: the shape of a trained net's loss around it.
//!
//! - [`direction`]: weights as points ([`Weights`]), Gaussian random
//!   directions with filter or layer normalisation (biases and batch-norm
//!   parameters zero by default), orthogonalisation (Li et al. 2018).
//! - [`scan`]: 1-D interpolation between two solutions (batch-norm
//!   statistics kept, interpolated or re-estimated at each point), and
//!   along a direction; 2-D grids in evaluation
//!   mode, in shards that separate processes can run, resumable (partial
//!   results saved as they come), merged; contour and heatmap plots.
//! - [`trajectory`]: checkpoints projected on their top two principal directions.
//! - [`hessian`]: the exact Hessian of small nets (double backward),
//!   Hessian-vector products and Lanczos extreme eigenvalues for bigger
//!   ones, the index of a critical point, and critical points found by
//!   minimising the squared gradient norm (Dauphin et al. 2014).

pub mod direction;
pub mod hessian;
pub mod scan;
pub mod trajectory;

pub use direction::{orthogonalize, random_direction, Normalization, Role, Weights};
pub use scan::{along, interpolate, linspace, BatchStats, Curve, LossGrid, Scan2d};
pub use trajectory::{trajectory, Trajectory};
