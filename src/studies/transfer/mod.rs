//! Transfer: what a trained network's layers carry to a new task.
//!
//! - [`Features`] (and the baselines [`Pixels`] and [`Hog`], through the
//!   one [`Extractor`] interface): the activations of any layer for a whole split, in
//!   batches, in evaluation mode and without gradients, as a new dataset of
//!   `[N, D, 1, 1]` "images" (DeCAF's layer-n features; Zeiler & Fergus's
//!   frozen layers 1-7).
//! - [`LinearProbe`]: a linear classifier trained on such features and
//!   tested on held-out ones: multinomial logistic regression or a
//!   one-vs-rest linear SVM (squared hinge) fitted to the minimum by
//!   trust-region Newton (or L-BFGS), with `C` cross-validated on the
//!   training split (as
//!   scikit-learn's `LogisticRegression` and `LinearSVC`, tested against
//!   them), or the softmax trained by Adam for a few epochs that the
//!   Zeiler & Fergus notebook uses (Table 7).
//! - [`Tsne`]: a 2-D embedding of features (exact or Barnes-Hut through
//!   the `bhtsne` crate, or FFT-interpolated) with its KL divergence and trustworthiness, drawn
//!   coloured by class (DeCAF's Fig. 1).
//! - [`Surgery`]: copy layers 1..n of a base net, freeze or fine-tune them,
//!   re-initialise the rest (Yosinski's AnB, AnB+, random frozen layers;
//!   with [`ModelBuilder::up_to`](crate::model::ModelBuilder::up_to), a new
//!   head on a frozen body as Oquab et al.).
//!
//! ```no_run
//! use deepscope::prelude::*;
//! use deepscope::transfer::{Features, LinearProbe};
//! // `of_dataset` is the `Extractor` trait's, which the prelude brings in.
//! let mut zf = zoo::pretrained("zfnet-fashion64")?;
//! let digits = data::mnist_subset()?.resized(64, 64)?;
//! let relu7 = Features::new(&mut zf.model, "relu7")?.of_dataset(&digits)?;
//! let probe = LinearProbe::new(60).run(&relu7)?;
//! println!("{:.1}%", 100.0 * probe.accuracy());
//! # Ok::<(), deepscope::Error>(())
//! ```

mod dense;
mod features;
mod probe;
mod surgery;
mod svm_dual;
mod svm_primal;
mod tsne;

pub use features::{Extractor, Features, Hog, Pixels, Pooling};
pub use probe::{LinearProbe, ProbeLoss, ProbeResult, Solver, Strength};
pub use surgery::{Lower, Surgery};
pub use svm_dual::DualCoordinateDescent;
pub use tsne::{Embedding, Tsne, TsneGradient};
