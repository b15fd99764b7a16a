//! Training: `fit` with SGD or Adam, schedules, a repeatable seed, metrics
//! history, snapshots, checkpoint and resume, the live monitor, and the
//! interrupt flag; `evaluate` for loss, accuracy and the confusion matrix;
//! [`RunFolder`] for grids of runs that survive a kill.
//!
//! `fit` trains one model with cross-entropy. [`fit_objective`] trains
//! whatever an [`Objective`] says (distillation from a frozen teacher,
//! domain adaptation over two data streams, adversarial games with two
//! optimisers, several networks and losses at once) with the same loop;
//! every update goes through [`optimize`].
//!
//! ```no_run
//! use deepscope::{data, train, zoo};
//! let fm = data::fashion_mnist()?;
//! let mut net = zoo::lenet5(10).seed(0).build(deepscope::device::default_device())?;
//! let cfg = train::FitConfig::new(5, 128, train::Optimizer::momentum(0.05, 0.9));
//! let run = train::fit(&mut net, &fm, &cfg)?;
//! println!("{}", train::evaluate(&mut net, &fm.test, 512)?);
//! # let _ = run;
//! # Ok::<(), deepscope::Error>(())
//! ```

mod batch_norm;
mod checkpoint;
mod classify;
mod curves;
mod evaluate;
mod fit;
mod history;
mod lbfgs;
mod newton;
mod objective;
mod optim;
mod renorm;
mod runs;
mod schedule;
mod stop;
mod streams;
mod update;

pub use crate::display::ProgressMode;
/// The interrupt flag (at home in [`runtime`](crate::runtime)).
pub use crate::runtime::interrupt;
pub use batch_norm::update_batch_norm;
pub use checkpoint::CheckpointMeta;
pub(crate) use classify::accuracy;
pub use classify::Classification;
pub use evaluate::{cross_entropy, evaluate, Evaluation};
pub use fit::{
    fit, fit_objective, fit_with, Callback, Control, FitConfig, FitResult, WeightSnapshot,
};
pub use history::{epoch_line, EpochRecord, History, StepRecord};
pub use lbfgs::{Lbfgs, Minimum};
pub use newton::{Newton, NewtonSteps, Run, Twice};
pub use objective::{Batch, Metrics, Objective, OptimizerSpec, Step};
pub use optim::{Optimizer, OptimizerState};
pub use renorm::{renormalize_filters, FilterRenorm};
pub use runs::{RunFiles, RunFolder};
pub use schedule::Schedule;
pub use stop::StopWhenFitted;
pub use update::{clip_grad_norm, optimize};
