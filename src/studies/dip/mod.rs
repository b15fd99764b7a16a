//! Deep Image Prior (Ulyanov, Vedaldi & Lempitsky, CVPR 2018): a randomly
//! initialised convolutional hourglass, fitted to one corrupted image,
//! reproduces the image before it reproduces the corruption. The structure
//! of the net is the prior.
//!
//! - [`SkipConfig`]: the "skip" hourglass with the paper's presets and a
//!   smaller one for CPU.
//! - [`Task`]: denoising, JPEG artefacts, inpainting, super-resolution,
//!   plain fitting (Fig. 2), each an observation and an operator.
//! - [`Prior`]: the optimisation (noise code, sigma_p, Adam, averaging,
//!   divergence guard), giving a [`Restoration`] with PSNR/SSIM curves and
//!   snapshots.
//! - [`degrade`]: the corruptions, seeded; [`quality`]: PSNR and SSIM as
//!   scikit-image computes them.
//!
//! ```no_run
//! use deepscope::dip::{self, Prior, SkipConfig, Task};
//! let clean = dip::degrade::crop(&deepscope::data::image("astronaut")?, 100, 150, 128)?;
//! let noisy = dip::degrade::gaussian_noise(&clean, 25.0 / 255.0, 0)?;
//! let task = Task::denoise(&noisy)?.with_clean(&clean)?;
//! let run = Prior::new(SkipConfig::cpu()).iterations(1800).run(&task)?;
//! println!("peak PSNR {:?}", run.peak().and_then(|r| r.psnr_clean));
//! # Ok::<(), deepscope::Error>(())
//! ```

pub mod degrade;
mod net;
pub mod quality;
mod restore;
mod task;

pub use net::{Downsampling, SkipConfig};
pub use restore::{Code, Guard, OutputSnapshot, Prior, Record, Restoration};
pub use task::{Downsampler, Operator, Task};
