//! Knowledge distillation (Hinton, Vinyals & Dean 2015): a small student
//! trained to match a large teacher's (or an ensemble's) predictions
//! softened at a temperature T.
//!
//! - [`distillation_loss`]: `(1 - a) CE(z_s, y) + a T² KL(p ‖ softmax(z_s / T))`,
//!   the KL divergence summed over classes and averaged over the batch
//!   (PyTorch's `kl_div(..., reduction="batchmean")`, tested against it).
//! - [`Teacher`]: one model or an ensemble, run in evaluation mode without
//!   gradients; soft targets on the fly, or its logits cached once for a
//!   fixed transfer set ([`Teacher::cache`]).
//! - [`Distillation`]: the objective that [`train::fit_objective`](crate::train::fit_objective)
//!   runs, with every feature of the training loop (checkpoints, schedules,
//!   the live monitor, interrupts).
//! - [`shift_class_bias`] and [`bias_shift_for_share`]: the paper's
//!   correction for a class missing from the transfer set, by a fixed
//!   shift of its output bias or one estimated from held-out data.
//! - Specialists (section 5): [`confusable_groups`] clusters the
//!   covariance of a generalist's predictions, [`specialist_data`] gives a
//!   group's training set with a dustbin class, and [`combine`] finds the
//!   distribution that agrees best with the generalist and the active
//!   specialists.
//!
//! ```no_run
//! use deepscope::prelude::*;
//! use deepscope::distill::{Distillation, Teacher};
//! let fm = data::fashion_mnist()?;
//! let mut teacher = zoo::mlp(&[1, 28, 28], &[1200, 1200], 10, zoo::Activation::Relu).seed(0).build(default_device())?;
//! let mut student = zoo::mlp(&[1, 28, 28], &[800, 800], 10, zoo::Activation::Relu).seed(1).build(default_device())?;
//! // ... train the teacher with fit, then:
//! let teacher = Teacher::new(vec![&mut teacher])?;
//! let mut d = Distillation::new(&mut student, teacher, &fm, 20.0).alpha(0.9);
//! let run = train::fit_objective(&mut d, &FitConfig::new(10, 128, Optimizer::adam(1e-3)), &mut [])?;
//! # Ok::<(), deepscope::Error>(())
//! ```

mod bias;
mod loss;
mod objective;
mod specialists;
mod teacher;

pub use bias::{bias_shift_for_share, shift_class_bias};
pub use loss::distillation_loss;
pub use objective::Distillation;
pub use specialists::{combine, confusable_groups, specialist_data};
pub use teacher::Teacher;
