//! Linear probes on features: a softmax or a one-vs-rest linear SVM on a
//! layer's features, how linearly separable the classes are there.

use crate::data::{Dataset, Split};
use crate::display::{shows_at_cell_end, MimeBundle, Report, Show, Table};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::runtime::rng::seeded;
use crate::train::{evaluate, fit, Evaluation, FitConfig, Lbfgs, Optimizer, ProgressMode};
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

    /// Multinomial logistic regression by L-BFGS, `C` chosen by 5-fold
    /// cross-validation over 1e-4, 1e-3, ..., 1e2.
    pub fn logistic() -> Self {
        LinearProbe {
            loss: ProbeLoss::Logistic,
            solver: Solver::Lbfgs(Lbfgs::default()),
            strength: Strength::CrossValidated {
                grid: (-4..=2).map(|e| 10f64.powi(e)).collect(),
                folds: 5,
            },
            seed: 0,
        }
    }

    /// A one-vs-rest linear SVM (squared hinge) by L-BFGS, `C` chosen as
    /// for [`logistic`](Self::logistic).
    pub fn svm() -> Self {
        LinearProbe {
            loss: ProbeLoss::SquaredHinge,
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
            (Solver::Lbfgs(_), Strength::Unregularized) => return Err(Error::invalid(
                "an L-BFGS probe needs a C (without a penalty, separable classes have no minimum)",
            )),
            (Solver::Lbfgs(_), Strength::Fixed(c)) if bad_c(*c) => {
                return Err(Error::invalid(format!("C must be finite and > 0, got {c}")))
            }
            (Solver::Lbfgs(_), Strength::CrossValidated { grid, folds })
                if grid.is_empty() || grid.iter().any(|&c| bad_c(c)) || *folds < 2 =>
            {
                return Err(Error::invalid(format!(
                    "cross-validation needs values of C that are finite and > 0 and at least 2 folds, got {grid:?} and {folds}"
                )))
            }
            _ => {}
        }
        if self.loss == ProbeLoss::SquaredHinge && matches!(self.solver, Solver::Epochs { .. }) {
            return Err(Error::invalid(
                "the squared-hinge probe is fitted by L-BFGS (Solver::Lbfgs)",
            ));
        }
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
            Solver::Lbfgs(lbfgs) => {
                let (x, y) = design(&data.train)?;
                let (c, scores) = match &self.strength {
                    Strength::Fixed(c) => (*c, Vec::new()),
                    Strength::CrossValidated { grid, folds } => {
                        self.cross_validated(lbfgs, &x, &y, k, grid, *folds)?
                    }
                    Strength::Unregularized => {
                        return Err(Error::invalid(
                            "an L-BFGS probe needs a C (refused by the checks above)",
                        ))
                    }
                };
                let fitted = fit_linear(self.loss, lbfgs, &x, &y, k, c)?;
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
        lbfgs: &Lbfgs,
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
                let held = fold_of.eq(f);
                let train_idx = held.logical_not().nonzero().squeeze_dim(1);
                let test_idx = held.nonzero().squeeze_dim(1);
                let fitted = fit_linear(
                    self.loss,
                    lbfgs,
                    &x.index_select(0, &train_idx),
                    &y.index_select(0, &train_idx),
                    k,
                    c,
                )?;
                accuracy +=
                    fitted.accuracy(&x.index_select(0, &test_idx), &y.index_select(0, &test_idx));
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
    if !bool::try_from(x.isfinite().all())? {
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
    fn scores(&self, x: &Tensor) -> Tensor {
        x.matmul(&self.weight.transpose(0, 1)) + &self.bias
    }

    fn accuracy(&self, x: &Tensor, y: &Tensor) -> f64 {
        self.scores(x)
            .argmax(1, false)
            .eq_tensor(y)
            .to_kind(Kind::Double)
            .mean(Kind::Double)
            .double_value(&[])
    }

    /// As a one-layer model of the features' shape (f32, like every
    /// model), so that `evaluate` and the display treat it as any other.
    fn into_model(self, shape: &[i64]) -> Result<Model> {
        let k = self.weight.size()[0];
        let mut model = zoo::mlp(shape, &[], k, zoo::Activation::Relu).build(Device::Cpu)?;
        crate::weights::load_tensors(
            &mut model,
            vec![
                ("layers.0.weight".into(), self.weight.to_kind(Kind::Float)),
                ("layers.0.bias".into(), self.bias.to_kind(Kind::Float)),
            ],
            "the fitted probe",
        )?;
        Ok(model)
    }
}

/// Minimises `loss` with strength `c` over `W [K, D]` and `b [K]` from zero.
fn fit_linear(
    loss: ProbeLoss,
    lbfgs: &Lbfgs,
    x: &Tensor,
    y: &Tensor,
    k: i64,
    c: f64,
) -> Result<Fitted> {
    let d = x.size()[1];
    let targets = match loss {
        ProbeLoss::Logistic => y.shallow_clone(),
        // +1 for the example's class, -1 for the others.
        ProbeLoss::SquaredHinge => y.one_hot(k).to_kind(Kind::Double) * 2.0 - 1.0,
    };
    let objective = |theta: &Tensor| -> Result<Tensor> {
        let w = theta.narrow(0, 0, k * d).view([k, d]);
        let b = theta.narrow(0, k * d, k);
        let z = x.matmul(&w.transpose(0, 1)) + &b;
        Ok(match loss {
            ProbeLoss::Logistic => {
                let nll = z.f_log_softmax(1, Kind::Double)?.f_nll_loss::<Tensor>(
                    &targets,
                    None,
                    tch::Reduction::Sum,
                    -100,
                )?;
                nll * c + w.square().sum(Kind::Double) * 0.5
            }
            ProbeLoss::SquaredHinge => {
                let slack = (-(&targets * &z) + 1.0).relu();
                slack.square().sum(Kind::Double) * c
                    + (w.square().sum(Kind::Double) + b.square().sum(Kind::Double)) * 0.5
            }
        })
    };
    let start = Tensor::zeros([k * d + k], (Kind::Double, Device::Cpu));
    let found = lbfgs.minimize(&start, |theta| {
        // With gradients even inside a caller's `tch::no_grad` (features
        // are often extracted there): without a graph libtorch's backward
        // crashes the process.
        tch::with_grad(|| {
            let theta = theta.detach().set_requires_grad(true);
            let f = objective(&theta)?;
            let g = Tensor::f_run_backward(&[&f], &[&theta], false, false)?;
            Ok((f.f_double_value(&[])?, g[0].shallow_clone()))
        })
    })?;
    let theta = found.x;
    Ok(Fitted {
        weight: theta.narrow(0, 0, k * d).view([k, d]),
        bias: theta.narrow(0, k * d, k),
        objective: found.value,
    })
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
