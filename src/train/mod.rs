//! Training: `fit` with SGD or Adam, schedules, a repeatable seed, metrics
//! history, snapshots, checkpoint and resume, progress, and the interrupt
//! flag; `evaluate` for loss, accuracy and the confusion matrix.
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

mod checkpoint;
mod evaluate;
mod fit;
mod history;
pub mod interrupt;
mod optim;
mod progress;
mod renorm;
mod schedule;
mod stop;

pub use checkpoint::CheckpointMeta;
pub use evaluate::{cross_entropy, evaluate, Evaluation};
pub use fit::{fit, fit_with, Callback, Control, FitConfig, FitResult, Snapshot};
pub use history::{EpochRecord, History, StepRecord};
pub use optim::{Optimizer, OptimizerState};
pub use progress::{clock, epoch_line, Progress, ProgressMode};
pub use renorm::{renormalize_filters, FilterRenorm};
pub use schedule::Schedule;
pub use stop::StopWhenFitted;
