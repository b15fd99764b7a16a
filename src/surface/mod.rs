//! Loss surfaces: the local shape of a trained net's loss.
//!
//! - [`hessian`]: the exact Hessian of small nets (double backward),
//!   Hessian-vector products and Lanczos extreme eigenvalues for bigger
//!   ones, the index of a critical point, and critical points found by
//!   minimising the squared gradient norm (Dauphin et al. 2014).

pub mod hessian;
