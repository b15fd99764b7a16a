//! Linear probes on features: a softmax or a one-vs-rest linear SVM on a
//! layer's features, how linearly separable the classes are there.

use super::svm_dual::DualCoordinateDescent;
use super::svm_primal;
use crate::data::{Dataset, Split};
use crate::display::{shows_at_cell_end, MimeBundle, Report, Show, Table};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::runtime::rng::seeded;
use crate::train::{
    evaluate, fit, Evaluation, FitConfig, Lbfgs, Newton, NewtonSteps, Optimizer, ProgressMode,
    Twice,
};
use crate::zoo;
use rand::seq::SliceRandom;
use tch::{Device, Kind, Tensor};

/// What the probe minimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeLoss {
    /// Multinomial logistic regression: `C * sum_i CE(z_i, y_i) + 0.5
    /// ||W||^2`, the intercepts not penalised (scikit-learn's
    /// `LogisticRegression`, multinomial, for any number of classes).
    Logistic,
    /// One-vs-rest linear SVM with the squared hinge: for each class k,
    /// `0.5 (||w_k||^2 + b_k^2) + C * sum_i max(0, 1 - t_ik (w_k x_i +
    /// b_k))^2` with `t_ik = +1` for class k and -1 otherwise; the
    /// intercept is penalised, as scikit-learn's `LinearSVC` (liblinear,
    /// intercept scaling 1) does.
    SquaredHinge,
}

/// How the probe is fitted.
#[derive(Debug, Clone, PartialEq)]
pub enum Solver {
    /// Full batch, to the minimum, by [`Lbfgs`] (float64).
    Lbfgs(Lbfgs),
    /// Full batch, to the minimum, by Newton's method with CG steps
    /// (float64, liblinear's method), in a trust region or with a line
    /// search, with the gradient and the Hessian-vector products written
    /// out: tens of Newton steps where L-BFGS takes hundreds of iterations.
    Newton(Newton),
    /// The squared hinge only, by dual coordinate descent, class by class
    /// (liblinear's choice when there are fewer examples than features;
    /// our primal Newton method with a line search reaches the same
    /// minimum faster even there: see `benches/transfer.rs`).
    DualCoordinateDescent(DualCoordinateDescent),
    /// Mini-batches through `fit` for a fixed number of epochs, without a
    /// penalty: the softmax probe the Zeiler & Fergus notebook trains.
    Epochs {
        /// Passes over the training features.
        epochs: usize,
        /// Examples per batch (at most the training split).
        batch_size: usize,
        /// The optimiser.
        optimizer: Optimizer,
    },
}

/// The penalty's strength, as scikit-learn's `C` (larger: weaker).
#[derive(Debug, Clone, PartialEq)]
pub enum Strength {
    /// No penalty (the mini-batch solver's only choice).
    Unregularized,
    /// This `C`.
    Fixed(f64),
    /// The `C` of `grid` with the best mean accuracy over `folds`
    /// stratified folds of the training split (the test split is never
    /// looked at); ties go to the smaller `C`.
    CrossValidated {
        /// Candidate values of `C`.
        grid: Vec<f64>,
        /// Number of folds (at least 2).
        folds: usize,
    },
}

/// A linear classifier trained on the training split of a feature dataset
/// and tested on its test split.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearProbe {
    /// What is minimised.
    pub loss: ProbeLoss,
    /// How.
    pub solver: Solver,
    /// The penalty.
    pub strength: Strength,
    /// Seed of the initial weights, the batch order and the folds.
    pub seed: u64,
}

impl LinearProbe {
    /// A softmax trained by Adam 1e-3 for `epochs` epochs in batches of 64,
    /// without a penalty, seed 0.
    pub fn new(epochs: usize) -> Self {
        LinearProbe {
            loss: ProbeLoss::Logistic,
            solver: Solver::Epochs {
                epochs,
                batch_size: 64,
                optimizer: Optimizer::adam(1e-3),
            },
            strength: Strength::Unregularized,
            seed: 0,
        }
    }

    /// Multinomial logistic regression by trust-region Newton, `C` chosen
    /// by 5-fold cross-validation over 1e-4, 1e-3, ..., 1e2.
    pub fn logistic() -> Self {
        LinearProbe {
            loss: ProbeLoss::Logistic,
            solver: Solver::Newton(Newton::default()),
            strength: Strength::CrossValidated {
                grid: (-4..=2).map(|e| 10f64.powi(e)).collect(),
                folds: 5,
            },
            seed: 0,
        }
    }

    /// A one-vs-rest linear SVM (squared hinge) by Newton's method with a
    /// line search (faster than the trust region there: see
    /// [`NewtonSteps::LineSearch`]), `C` chosen as for
    /// [`logistic`](Self::logistic).
    pub fn svm() -> Self {
        LinearProbe {
            loss: ProbeLoss::SquaredHinge,
            solver: Solver::Newton(Newton {
                steps: NewtonSteps::LineSearch,
                ..Newton::default()
            }),
            ..LinearProbe::logistic()
        }
    }

    /// With this `C`.
    pub fn c(mut self, c: f64) -> Self {
        self.strength = Strength::Fixed(c);
        self
    }

    /// With `C` chosen from `grid` by `folds`-fold cross-validation.
    pub fn cross_validate(mut self, grid: &[f64], folds: usize) -> Self {
        self.strength = Strength::CrossValidated {
            grid: grid.to_vec(),
            folds,
        };
        self
    }

    /// With this seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    fn check(&self, features: &Dataset) -> Result<()> {
        let bad_c = |c: f64| !(c.is_finite() && c > 0.0);
        match (&self.solver, &self.strength) {
            (Solver::Epochs { epochs, .. }, Strength::Unregularized) if *epochs > 0 => {}
            (Solver::Epochs { .. }, Strength::Unregularized) => {
                return Err(Error::invalid("a probe needs at least one epoch"))
            }
            (Solver::Epochs { .. }, _) => {
                return Err(Error::invalid(
                    "the mini-batch solver trains without a penalty: use Solver::Lbfgs for a C",
                ))
            }
            (_, Strength::Unregularized) => return Err(Error::invalid(
                "a full-batch probe needs a C (without a penalty, separable classes have no minimum)",
            )),
            (_, Strength::Fixed(c)) if bad_c(*c) => {
                return Err(Error::invalid(format!("C must be finite and > 0, got {c}")))
            }
            (_, Strength::CrossValidated { grid, folds })
                if grid.is_empty() || grid.iter().any(|&c| bad_c(c)) || *folds < 2 =>
            {
                return Err(Error::invalid(format!(
                    "cross-validation needs values of C that are finite and > 0 and at least 2 folds, got {grid:?} and {folds}"
                )))
            }
            _ => {}
        }
        if let Solver::DualCoordinateDescent(dual) = &self.solver {
            if self.loss != ProbeLoss::SquaredHinge {
                return Err(Error::invalid(
                    "dual coordinate descent fits the squared-hinge probe only: use Solver::Newton for logistic regression",
                ));
            }
            dual.check()?;
        }
        if self.loss == ProbeLoss::SquaredHinge && matches!(self.solver, Solver::Epochs { .. }) {
            return Err(Error::invalid(
                "the squared-hinge probe is fitted to its minimum (Solver::Newton, Solver::DualCoordinateDescent or Solver::Lbfgs)",
            ));
        }
        features.validate()?;
        if features.train.is_empty() || features.test.is_empty() {
            return Err(Error::invalid(format!(
                "'{}' needs training and test examples for a probe ({} and {})",
                features.name,
                features.train.len(),
                features.test.len()
            )));
        }
        Ok(())
    }

    /// Trains the probe on `features.train` and evaluates it on
    /// `features.test`, on the CPU, silently.
    pub fn run(&self, features: &Dataset) -> Result<ProbeResult> {
        self.check(features)?;
        let data = features.to_device(Device::Cpu);
        let k = data.num_classes();
        let (mut model, c, scores, objective) = match &self.solver {
            Solver::Epochs {
                epochs,
                batch_size,
                optimizer,
            } => {
                let mut model = zoo::mlp(&data.train.image_shape(), &[], k, zoo::Activation::Relu)
                    .seed(self.seed)
                    .build(Device::Cpu)?;
                let mut cfg = FitConfig::new(
                    *epochs,
                    (*batch_size).min(data.train.len()).max(1),
                    *optimizer,
                );
                cfg.seed = self.seed;
                cfg.progress = ProgressMode::Silent;
                cfg.evaluate = false;
                fit(&mut model, &data, &cfg)?;
                (model, None, Vec::new(), None)
            }
            Solver::Lbfgs(_) | Solver::Newton(_) | Solver::DualCoordinateDescent(_) => {
                let (x, y) = design(&data.train)?;
                let (c, scores) = match &self.strength {
                    Strength::Fixed(c) => (*c, Vec::new()),
                    Strength::CrossValidated { grid, folds } => {
                        self.cross_validated(&x, &y, k, grid, *folds)?
                    }
                    Strength::Unregularized => {
                        return Err(Error::invalid(
                            "a full-batch probe needs a C (refused by the checks above)",
                        ))
                    }
                };
                let fitted = fit_linear(self.loss, &self.solver, &x, &y, k, c, self.seed)?;
                let objective = fitted.objective;
                let model = fitted.into_model(&data.train.image_shape())?;
                (model, Some(c), scores, Some(objective))
            }
        };
        let evaluation = evaluate(&mut model, &data.test, 1000)?;
        Ok(ProbeResult {
            features: features.name.clone(),
            dimension: data.train.image_shape().iter().product(),
            train_examples: data.train.len(),
            classes: data.classes.clone(),
            loss: self.loss,
            c,
            cross_validation: scores,
            objective,
            evaluation,
            model,
        })
    }

    /// The best `C` of `grid` by mean fold accuracy, and every `(C, mean
    /// accuracy)`.
    fn cross_validated(
        &self,
        x: &Tensor,
        y: &Tensor,
        k: i64,
        grid: &[f64],
        folds: usize,
    ) -> Result<(f64, Vec<(f64, f64)>)> {
        let fold_of = stratified_folds(y, k, folds, self.seed)?;
        let mut scores = Vec::with_capacity(grid.len());
        for &c in grid {
            let mut accuracy = 0.0;
            for f in 0..folds as i64 {
                let held = fold_of.f_eq(f)?;
                let train_idx = held.f_logical_not()?.f_nonzero()?.f_squeeze_dim(1)?;
                let test_idx = held.f_nonzero()?.f_squeeze_dim(1)?;
                let fitted = fit_linear(
                    self.loss,
                    &self.solver,
                    &x.f_index_select(0, &train_idx)?,
                    &y.f_index_select(0, &train_idx)?,
                    k,
                    c,
                    self.seed,
                )?;
                accuracy += fitted.accuracy(
                    &x.f_index_select(0, &test_idx)?,
                    &y.f_index_select(0, &test_idx)?,
                )?;
            }
            scores.push((c, accuracy / folds as f64));
        }
        let best = scores
            .iter()
            .fold(None::<(f64, f64)>, |best, &(c, a)| match best {
                Some((_, b)) if b >= a => best,
                _ => Some((c, a)),
            })
            .map_or(grid[0], |(c, _)| c);
        Ok((best, scores))
    }
}

/// Features `[N, D]` (f64) and labels `[N]` of a split.
fn design(split: &Split) -> Result<(Tensor, Tensor)> {
    let x = split.images().f_flatten(1, -1)?.f_to_kind(Kind::Double)?;
    if !bool::try_from(x.f_isfinite()?.f_all()?)? {
        return Err(Error::invalid(
            "the features hold NaN or infinite values; a probe needs finite features",
        ));
    }
    Ok((x, split.labels().shallow_clone()))
}

/// For each example its fold, `0..folds`: each class's examples shuffled
/// (seeded) and dealt round the folds, so every fold keeps the class mix.
fn stratified_folds(y: &Tensor, k: i64, folds: usize, seed: u64) -> Result<Tensor> {
    let labels = Vec::<i64>::try_from(y)?;
    let mut fold = vec![0i64; labels.len()];
    let mut rng = seeded(seed);
    for class in 0..k {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        idx.shuffle(&mut rng);
        for (j, i) in idx.into_iter().enumerate() {
            fold[i] = (j % folds) as i64;
        }
    }
    let counts: Vec<usize> = (0..folds as i64)
        .map(|f| fold.iter().filter(|&&v| v == f).count())
        .collect();
    if counts.contains(&0) {
        return Err(Error::invalid(format!(
            "{} training examples cannot fill {folds} folds",
            labels.len()
        )));
    }
    Ok(Tensor::from_slice(&fold))
}

/// A linear classifier fitted by L-BFGS.
struct Fitted {
    weight: Tensor,
    bias: Tensor,
    objective: f64,
}

impl Fitted {
    fn scores(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.f_matmul(&self.weight.f_transpose(0, 1)?)?
            .f_add(&self.bias)?)
    }

    fn accuracy(&self, x: &Tensor, y: &Tensor) -> Result<f64> {
        Ok(self
            .scores(x)?
            .f_argmax(1, false)?
            .f_eq_tensor(y)?
            .f_to_kind(Kind::Double)?
            .f_mean(Kind::Double)?
            .f_double_value(&[])?)
    }

    /// As a one-layer model of the features' shape (f32, like every
    /// model), so that `evaluate` and the display treat it as any other.
    fn into_model(self, shape: &[i64]) -> Result<Model> {
        let k = self.weight.size()[0];
        let mut model = zoo::mlp(shape, &[], k, zoo::Activation::Relu).build(Device::Cpu)?;
        crate::weights::load_tensors(
            &mut model,
            vec![
                (
                    "layers.0.weight".into(),
                    self.weight.f_to_kind(Kind::Float)?,
                ),
                ("layers.0.bias".into(), self.bias.f_to_kind(Kind::Float)?),
            ],
            "the fitted probe",
        )?;
        Ok(model)
    }
}

/// Minimises `loss` with strength `c` over `W [K, D]` and `b [K]` from
/// zero, by the full-batch `solver` (`seed` orders dual coordinate
/// descent's examples).
fn fit_linear(
    loss: ProbeLoss,
    solver: &Solver,
    x: &Tensor,
    y: &Tensor,
    k: i64,
    c: f64,
    seed: u64,
) -> Result<Fitted> {
    // `x` is `design`'s `[N, D]`: rank 2 by construction.
    let d = x.size()[1];
    if let Solver::DualCoordinateDescent(dual) = solver {
        if loss != ProbeLoss::SquaredHinge {
            return Err(Error::invalid(
                "dual coordinate descent fits the squared-hinge probe only (refused by the checks above)",
            ));
        }
        let (weight, bias, _) = dual.fit(x, y, k, c, seed)?;
        let targets = svm_primal::targets(y, k)?;
        let objective =
            svm_primal::objective(x, &targets, &weight, &bias, c)?.f_double_value(&[])?;
        return Ok(Fitted {
            weight,
            bias,
            objective,
        });
    }
    let start = Tensor::zeros([k * d + k], (Kind::Double, Device::Cpu));
    let found = match solver {
        Solver::Lbfgs(lbfgs) => lbfgs_fit(loss, lbfgs, x, y, k, c, &start)?,
        // The classes are independent problems: stepping together, each
        // CG over its own margin violators (svm_primal's reasons).
        Solver::Newton(tr) if loss == ProbeLoss::SquaredHinge => {
            let (weight, bias, objective) = svm_primal::fit(tr, x, y, k, c)?;
            return Ok(Fitted {
                weight,
                bias,
                objective,
            });
        }
        Solver::Newton(tr) => tr.minimize(&start, &mut SoftmaxObjective::new(x, y, k, c)?)?,
        Solver::Epochs { .. } | Solver::DualCoordinateDescent(_) => {
            return Err(Error::invalid(
                "the mini-batch solver has no minimum to fit (refused by the checks above)",
            ))
        }
    };
    let theta = found.x;
    Ok(Fitted {
        weight: theta.f_narrow(0, 0, k * d)?.f_view([k, d])?,
        bias: theta.f_narrow(0, k * d, k)?,
        objective: found.value,
    })
}

/// The objective written as tensor operations, its gradient by autograd,
/// minimised by L-BFGS.
fn lbfgs_fit(
    loss: ProbeLoss,
    lbfgs: &Lbfgs,
    x: &Tensor,
    y: &Tensor,
    k: i64,
    c: f64,
    start: &Tensor,
) -> Result<crate::train::Minimum> {
    let d = x.size()[1];
    let targets = match loss {
        ProbeLoss::Logistic => y.shallow_clone(),
        ProbeLoss::SquaredHinge => svm_primal::targets(y, k)?,
    };
    let objective = |theta: &Tensor| -> Result<Tensor> {
        let w = theta.f_narrow(0, 0, k * d)?.f_view([k, d])?;
        let b = theta.f_narrow(0, k * d, k)?;
        match loss {
            ProbeLoss::Logistic => {
                let z = x.f_matmul(&w.f_transpose(0, 1)?)?.f_add(&b)?;
                let nll = z.f_log_softmax(1, Kind::Double)?.f_nll_loss::<Tensor>(
                    &targets,
                    None,
                    tch::Reduction::Sum,
                    -100,
                )?;
                // Operands of the shapes made above: the arithmetic cannot fail.
                Ok(nll * c + w.square().sum(Kind::Double) * 0.5)
            }
            ProbeLoss::SquaredHinge => svm_primal::objective(x, &targets, &w, &b, c),
        }
    };
    lbfgs.minimize(start, |theta| {
        // With gradients even inside a caller's `tch::no_grad` (features
        // are often extracted there): without a graph libtorch's backward
        // crashes the process.
        tch::with_grad(|| {
            let theta = theta.detach().set_requires_grad(true);
            let f = objective(&theta)?;
            let g = Tensor::f_run_backward(&[&f], &[&theta], false, false)?;
            Ok((f.f_double_value(&[])?, g[0].shallow_clone()))
        })
    })
}

/// Multinomial logistic regression's objective over `theta = [W (K x D,
/// row-major), b (K)]`, with its gradient and Hessian-vector products
/// written out, for [`Newton`]. With `z = x W^T + b` (`[N, K]`):
/// `f = C sum_i CE(z_i, y_i) + |W|^2 / 2`, gradient from `G = C (P - Y)`,
/// and `H v` from `P * u - P * rowsum(P * u)` with `u = x V^T + v_b` (the
/// softmax's Jacobian). The squared hinge's classes are independent
/// problems and have their own objective (`svm_primal`).
///
/// The Hessian's diagonal, for the preconditioner, is `1 + x^2` weighted
/// by `C P (1 - P)` and summed over the examples: one product with the
/// squared features, kept after the first.
///
/// All in float64; the data are never copied (their squares are, once).
struct SoftmaxObjective<'a> {
    x: &'a Tensor,
    /// `x * x`, `[N, D]`, made at the first call for the diagonal.
    x_squared: Option<Tensor>,
    /// One-hot `[N, K]`.
    targets: Tensor,
    c: f64,
    k: i64,
    d: i64,
}

impl<'a> SoftmaxObjective<'a> {
    fn new(x: &'a Tensor, y: &Tensor, k: i64, c: f64) -> Result<Self> {
        Ok(SoftmaxObjective {
            x,
            x_squared: None,
            targets: y.f_one_hot(k)?.f_to_kind(Kind::Double)?,
            c,
            k,
            d: x.size()[1],
        })
    }

    /// `(W [K, D], b [K])` of a parameter vector.
    fn split(&self, theta: &Tensor) -> Result<(Tensor, Tensor)> {
        let (k, d) = (self.k, self.d);
        Ok((
            theta.f_narrow(0, 0, k * d)?.f_view([k, d])?,
            theta.f_narrow(0, k * d, k)?,
        ))
    }

    /// `x W^T + b`, `[N, K]`.
    fn scores(&self, w: &Tensor, b: &Tensor) -> Result<Tensor> {
        Ok(self.x.f_matmul(&w.f_tr()?)?.f_add(b)?)
    }

    /// `[dW (flattened), db]` from the per-example, per-class factor `G
    /// [N, K]` and the penalty's part.
    fn gather(&self, g: &Tensor, w_part: &Tensor) -> Result<Tensor> {
        let gw = w_part.f_add(&g.f_tr()?.f_matmul(self.x)?)?;
        let gb = g.f_sum_dim_intlist(0, false, Kind::Double)?;
        Ok(Tensor::f_cat(&[gw.f_flatten(0, -1)?, gb], 0)?)
    }
}

impl Twice for SoftmaxObjective<'_> {
    /// The probabilities `P`, `[N, K]`.
    type State = Tensor;

    fn evaluate(&mut self, theta: &Tensor) -> Result<(f64, Tensor, Tensor)> {
        let (w, b) = self.split(theta)?;
        let z = self.scores(&w, &b)?;
        let penalty = w.f_square()?.f_sum(Kind::Double)?.f_double_value(&[])?;
        let log_p = z.f_log_softmax(1, Kind::Double)?;
        let nll = -log_p
            .f_mul(&self.targets)?
            .f_sum(Kind::Double)?
            .f_double_value(&[])?;
        let p = log_p.f_exp()?;
        let g = p.f_sub(&self.targets)?.f_mul_scalar(self.c)?;
        let grad = self.gather(&g, &w)?;
        Ok((self.c * nll + 0.5 * penalty, grad, p))
    }

    fn hessian_times(&mut self, p: &Tensor, v: &Tensor) -> Result<Tensor> {
        let (vw, vb) = self.split(v)?;
        let u = self.scores(&vw, &vb)?;
        let pu = p.f_mul(&u)?;
        let row = pu.f_sum_dim_intlist(1, true, Kind::Double)?;
        let hu = pu.f_sub(&p.f_mul(&row)?)?.f_mul_scalar(self.c)?;
        self.gather(&hu, &vw)
    }

    fn hessian_diagonal(&mut self, p: &Tensor) -> Result<Option<Tensor>> {
        let x_squared = match &self.x_squared {
            Some(x2) => x2.shallow_clone(),
            None => {
                let x2 = self.x.f_square()?;
                self.x_squared = Some(x2.shallow_clone());
                x2
            }
        };
        // The per-example, per-class curvature of the loss in z, `[N, K]`.
        let weight = p
            .f_mul(&p.f_neg()?.f_add_scalar(1.0)?)?
            .f_mul_scalar(self.c)?;
        let w = weight
            .f_tr()?
            .f_matmul(&x_squared)?
            .f_add_scalar(1.0)?
            .f_flatten(0, -1)?;
        let b = weight.f_sum_dim_intlist(0, false, Kind::Double)?;
        Ok(Some(Tensor::f_cat(&[w, b], 0)?))
    }
}

/// What a [`LinearProbe`] measured.
#[derive(Debug)]
pub struct ProbeResult {
    /// The feature dataset's name.
    pub features: String,
    /// Features per example.
    pub dimension: i64,
    /// Training examples the probe saw.
    pub train_examples: usize,
    /// The class names.
    pub classes: Vec<String>,
    /// What was minimised.
    pub loss: ProbeLoss,
    /// The penalty's `C` (chosen by cross-validation if asked), for the
    /// L-BFGS solver.
    pub c: Option<f64>,
    /// `(C, mean fold accuracy)` for every candidate, when cross-validated.
    pub cross_validation: Vec<(f64, f64)>,
    /// The minimised objective on the whole training split (L-BFGS).
    pub objective: Option<f64>,
    /// Loss, accuracy and confusion matrix on the test features.
    pub evaluation: Evaluation,
    /// The trained probe, a one-layer model.
    pub model: Model,
}

impl ProbeResult {
    /// Test accuracy, 0 to 1.
    pub fn accuracy(&self) -> f64 {
        self.evaluation.accuracy
    }
}

impl Show for ProbeResult {
    fn mime_bundle(&self) -> Result<MimeBundle> {
        let kind = match self.loss {
            ProbeLoss::Logistic => "softmax",
            ProbeLoss::SquaredHinge => "linear SVM",
        };
        let c = self.c.map_or("none".to_string(), |c| format!("{c:e}"));
        let table = Table::new(&[
            "features",
            "dimension",
            "training examples",
            "probe",
            "C",
            "test accuracy",
        ])
        .title("linear probe")
        .row(&[
            self.features.clone(),
            self.dimension.to_string(),
            self.train_examples.to_string(),
            kind.to_string(),
            c.clone(),
            format!("{:.2}%", 100.0 * self.accuracy()),
        ])?;
        let text = format!(
            "{kind} probe on {} ({} features, {} examples, C {c}): test accuracy {:.2}%",
            self.features,
            self.dimension,
            self.train_examples,
            100.0 * self.accuracy()
        );
        Report::new(table, text)
            .figure(&self.evaluation.confusion_heatmap(&self.classes))
            .mime_bundle()
    }
}

shows_at_cell_end!(ProbeResult);

#[cfg(test)]
mod tests {
    use super::*;

    /// The softmax objective as plain tensor operations, for autograd.
    fn by_autograd(x: &Tensor, y: &Tensor, k: i64, c: f64, theta: &Tensor) -> Tensor {
        let d = x.size()[1];
        let w = theta.narrow(0, 0, k * d).view([k, d]);
        let z = x.matmul(&w.tr()) + theta.narrow(0, k * d, k);
        -(z.log_softmax(1, Kind::Double) * y.one_hot(k)).sum(Kind::Double) * c
            + w.square().sum(Kind::Double) * 0.5
    }

    #[test]
    fn written_out_gradients_and_hessian_products_equal_autograd() {
        tch::manual_seed(3);
        let (n, d, k, c) = (40, 7, 4, 0.7);
        let x = Tensor::randn([n, d], (Kind::Double, Device::Cpu));
        let y = Tensor::randint(k, [n], (Kind::Int64, Device::Cpu));
        // The squared hinge's written-out products are tested in svm_primal.
        {
            let loss = ProbeLoss::Logistic;
            let mut problem = SoftmaxObjective::new(&x, &y, k, c).unwrap();
            let theta = Tensor::randn([k * d + k], (Kind::Double, Device::Cpu)) * 0.3;
            let v = Tensor::randn([k * d + k], (Kind::Double, Device::Cpu));
            let (value, grad, state) = problem.evaluate(&theta).unwrap();
            let hv = problem.hessian_times(&state, &v).unwrap();

            let t = theta.detach().set_requires_grad(true);
            let f = by_autograd(&x, &y, k, c, &t);
            let g = Tensor::run_backward(&[&f], &[&t], true, true)
                .pop()
                .unwrap();
            let h = Tensor::run_backward(&[&(&g * &v).sum(Kind::Double)], &[&t], false, false)
                .pop()
                .unwrap();
            let close = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
            assert!(
                (value - f.double_value(&[])).abs() < 1e-10,
                "{loss:?} value"
            );
            assert!(
                close(&grad, &g) < 1e-10,
                "{loss:?} gradient {}",
                close(&grad, &g)
            );
            // For the hinge, autograd's double backward is the generalised
            // Hessian too (relu's derivative taken as 0 at the kink).
            assert!(close(&hv, &h) < 1e-10, "{loss:?} H v {}", close(&hv, &h));

            // The preconditioner's diagonal: e_j' H e_j from the products.
            let p = k * d + k;
            let eye = Tensor::eye(p, (Kind::Double, Device::Cpu));
            let columns: Vec<Tensor> = (0..p)
                .map(|j| problem.hessian_times(&state, &eye.get(j)).unwrap())
                .collect();
            let from_products = Tensor::stack(&columns, 0).diagonal(0, 0, 1);
            let diagonal = problem.hessian_diagonal(&state).unwrap().unwrap();
            assert!(
                close(&diagonal, &from_products) < 1e-10,
                "{loss:?} diagonal {}",
                close(&diagonal, &from_products)
            );
        }
    }

    /// `ours` within `bound` of `reference`, relative to it.
    fn assert_same_minimum(ours: f64, reference: f64, bound: f64, what: &str) {
        let rel = (ours - reference).abs() / reference;
        assert!(rel < bound, "{what}: {ours} against {reference}");
    }

    /// L-BFGS and Newton's method with either kind of step: one minimum.
    #[test]
    fn both_solvers_reach_the_same_minimum() {
        tch::manual_seed(5);
        let (n, d, k) = (300, 12, 3);
        let x = Tensor::randn([n, d], (Kind::Double, Device::Cpu));
        let y = x.narrow(1, 0, k).argmax(1, false);
        for loss in [ProbeLoss::Logistic, ProbeLoss::SquaredHinge] {
            let lbfgs =
                fit_linear(loss, &Solver::Lbfgs(Lbfgs::default()), &x, &y, k, 2.0, 0).unwrap();
            for steps in [NewtonSteps::TrustRegion, NewtonSteps::LineSearch] {
                let newton = Newton {
                    steps,
                    ..Newton::default()
                };
                let newton = fit_linear(loss, &Solver::Newton(newton), &x, &y, k, 2.0, 0).unwrap();
                assert_same_minimum(
                    newton.objective,
                    lbfgs.objective,
                    1e-10,
                    &format!("{loss:?}, {steps:?}"),
                );
            }
        }
    }

    /// The dual's solution is the primal minimum: the same objective as
    /// trust-region Newton to the dual tolerance, on examples fewer than
    /// features (its use) and more (where it is still right).
    #[test]
    fn dual_coordinate_descent_reaches_the_primal_minimum() {
        tch::manual_seed(6);
        for (n, d) in [(60, 150), (300, 12)] {
            let k = 4;
            let x = Tensor::randn([n, d], (Kind::Double, Device::Cpu));
            let y = x.narrow(1, 0, k).argmax(1, false);
            let newton = fit_linear(
                ProbeLoss::SquaredHinge,
                &Solver::Newton(Newton::default()),
                &x,
                &y,
                k,
                0.5,
                0,
            )
            .unwrap();
            let dual = DualCoordinateDescent {
                tolerance: 1e-8,
                max_epochs: 100_000,
            };
            let fitted = fit_linear(
                ProbeLoss::SquaredHinge,
                &Solver::DualCoordinateDescent(dual),
                &x,
                &y,
                k,
                0.5,
                3,
            )
            .unwrap();
            assert_same_minimum(
                fitted.objective,
                newton.objective,
                1e-8,
                &format!("{n}x{d}"),
            );
            let gap = (&fitted.weight - &newton.weight)
                .abs()
                .max()
                .double_value(&[]);
            assert!(gap < 1e-4, "{n}x{d}: weights differ by {gap}");
            // The settings are checked.
            let bad = DualCoordinateDescent {
                tolerance: 0.0,
                max_epochs: 10,
            };
            assert!(bad.fit(&x, &y, k, 0.5, 0).is_err());
        }
    }
}
