//! Choosing among adapted models without target labels, and measuring how
//! far apart two domains' features are.
//!
//! The target's labels are what adaptation does not have, so a model (an
//! epoch, a coefficient) chosen on them reports an accuracy no user could
//! reproduce. Honest choices use the labelled source validation split,
//! plainly or importance-weighted towards the target
//! ([`deep_embedded_validation`]); the oracle choice is for measuring the
//! inflation only.

use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::transfer::{Extractor, Features, LinearProbe};
use tch::{Device, Kind, Tensor};

/// Features of two domains as a labelled set (source 0, target 1), half of
/// each domain for training and half for testing, alternate rows.
fn domain_task(source: &Tensor, target: &Tensor) -> Result<Dataset> {
    let rows = |x: &Tensor, what: &str| -> Result<Tensor> {
        crate::check::defined(x, what)?;
        crate::check::floating(x, what)?;
        if x.dim() != 2 || x.size()[0] < 4 || x.size()[1] < 1 {
            return Err(Error::shape(
                what,
                "[N, D] with at least 4 rows and 1 feature",
                crate::check::shape_str(&x.size()),
            ));
        }
        crate::check::finite(x, what)?;
        Ok(x.f_to_kind(Kind::Float)?.f_to_device(Device::Cpu)?)
    };
    let (s, t) = (
        rows(source, "source features")?,
        rows(target, "target features")?,
    );
    if s.size()[1] != t.size()[1] {
        return Err(Error::shape(
            "target features",
            format!("[M, {}] like the source's", s.size()[1]),
            crate::check::shape_str(&t.size()),
        ));
    }
    let half = |x: &Tensor, start: i64, label: i64| -> Result<(Tensor, Tensor)> {
        let part = x.f_slice(0, start, None::<i64>, 2)?;
        let n = part.size()[0];
        Ok((
            part,
            Tensor::f_full([n], label, (Kind::Int64, Device::Cpu))?,
        ))
    };
    let split = |start: i64| -> Result<Split> {
        let (xs, ys) = half(&s, start, 0)?;
        let (xt, yt) = half(&t, start, 1)?;
        Split::new(
            Tensor::f_cat(&[xs, xt], 0)?
                .f_unsqueeze(-1)?
                .f_unsqueeze(-1)?,
            Tensor::f_cat(&[ys, yt], 0)?,
        )
    };
    Dataset::new(
        "source against target",
        split(0)?,
        split(1)?,
        vec!["source".into(), "target".into()],
    )
}

/// The proxy A-distance between two domains' features `[N, D]` and
/// `[M, D]` (Ben-David et al. 2007, as Ganin et al. report it):
/// `2 (1 - 2 ε)`, with ε the held-out error of a linear SVM (C by 5-fold
/// cross-validation) trained to tell the domains apart on half of each.
/// Near 0 when the features do not reveal the domain, 2 when they always do.
pub fn proxy_a_distance(source: &Tensor, target: &Tensor) -> Result<f64> {
    let task = domain_task(source, target)?;
    let probe = LinearProbe::svm().run(&task)?;
    Ok(2.0 * (1.0 - 2.0 * (1.0 - probe.accuracy())))
}

/// Importance weights `p_t(x) / p_s(x)` for source validation features
/// `[V, D]`, estimated from a domain classifier (logistic regression by
/// L-BFGS) trained on source training features `[N, D]` against target
/// features `[M, D]`: `w = (N / M) · P(target | x) / P(source | x)` (You et
/// al. 2019, DEV). The weights need calibrated probabilities, not just the
/// right decisions, so C is 1 (a penalty small beside the N + M
/// cross-entropy terms) rather than chosen by accuracy, which ties across
/// C and then picks the strongest penalty, flattening the weights.
pub fn importance_weights(
    source_train: &Tensor,
    target: &Tensor,
    source_validation: &Tensor,
) -> Result<Vec<f64>> {
    let task = domain_task(source_train, target)?;
    let mut probe = LinearProbe::logistic().c(1.0).run(&task)?;
    let (n, m) = (source_train.size()[0] as f64, target.size()[0] as f64);
    let v = source_validation;
    crate::check::defined(v, "source validation features")?;
    if v.dim() != 2 || v.size()[1] != source_train.size()[1] {
        return Err(Error::shape(
            "source validation features",
            format!("[V, {}] like the training features", source_train.size()[1]),
            crate::check::shape_str(&v.size()),
        ));
    }
    crate::check::floating(v, "source validation features")?;
    let x = v
        .f_to_kind(Kind::Float)?
        .f_to_device(Device::Cpu)?
        .f_unsqueeze(-1)?
        .f_unsqueeze(-1)?;
    probe.model.set_train(false);
    let logits = tch::no_grad(|| probe.model.forward(&x))?.f_to_kind(Kind::Double)?;
    // P(target) / P(source) = exp(z_target - z_source).
    let ratio = logits
        .f_select(1, 1)?
        .f_sub(&logits.f_select(1, 0)?)?
        .f_exp()?
        .f_mul_scalar(n / m)?;
    Ok(Vec::<f64>::try_from(ratio)?)
}

/// Deep embedded validation's estimate of the target risk (You et al.
/// 2019): the importance-weighted mean of the source validation losses
/// `ℓ_i` with weights `w_i`, plus the control variate that lowers its
/// variance: `mean(w ℓ) + η mean(w) - η`, with
/// `η = -Cov(w ℓ, w) / Var(w)` (0 when the weights do not vary).
pub fn deep_embedded_validation(losses: &[f64], weights: &[f64]) -> Result<f64> {
    if losses.len() != weights.len() || losses.len() < 2 {
        return Err(Error::invalid(format!(
            "deep embedded validation needs one weight per loss and at least 2 of each, got {} losses and {} weights",
            losses.len(),
            weights.len()
        )));
    }
    if losses.iter().chain(weights).any(|v| !v.is_finite()) || weights.iter().any(|&w| w < 0.0) {
        return Err(Error::invalid(
            "the losses must be finite and the weights finite and >= 0",
        ));
    }
    let n = losses.len() as f64;
    let weighted: Vec<f64> = losses.iter().zip(weights).map(|(l, w)| l * w).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (mean_wl, mean_w) = (mean(&weighted), mean(weights));
    let covariance = weighted
        .iter()
        .zip(weights)
        .map(|(a, b)| (a - mean_wl) * (b - mean_w))
        .sum::<f64>()
        / (n - 1.0);
    let variance = weights.iter().map(|w| (w - mean_w).powi(2)).sum::<f64>() / (n - 1.0);
    let eta = if variance > 0.0 {
        -covariance / variance
    } else {
        0.0
    };
    Ok(mean_wl + eta * mean_w - eta)
}

/// What the selection rules see of one candidate model (the weights after
/// one epoch), and what it scores on the target test split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// The epoch (1-based) after which the weights were taken.
    pub epoch: usize,
    /// Accuracy on the labelled source validation split, in [0, 1].
    pub source_accuracy: f64,
    /// Deep embedded validation's estimate of the target risk (the
    /// importance-weighted source validation cross-entropy; lower is
    /// better).
    pub dev_risk: f64,
    /// Accuracy on the target test split, in [0, 1]: measured, and read
    /// only by the oracle rule.
    pub target_accuracy: f64,
}

/// How a model is chosen among the epochs of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Selection {
    /// The model at the end of the fixed budget: no choice at all.
    Last,
    /// The highest source validation accuracy (the earliest on a tie).
    SourceValidation,
    /// The lowest deep-embedded-validation risk (You et al. 2019).
    Dev,
    /// The highest target test accuracy: what reads the target's labels,
    /// and what the PyTorch domain-adaptation libraries report. Only for
    /// measuring the inflation.
    Oracle,
}

impl Selection {
    /// The honest rules and the oracle, in the order tables show them.
    pub const ALL: [Selection; 4] = [
        Selection::Last,
        Selection::SourceValidation,
        Selection::Dev,
        Selection::Oracle,
    ];

    /// A short name for tables.
    pub fn label(self) -> &'static str {
        match self {
            Selection::Last => "last epoch",
            Selection::SourceValidation => "source validation",
            Selection::Dev => "DEV",
            Selection::Oracle => "oracle (target labels)",
        }
    }

    /// The candidate this rule picks (candidates in epoch order).
    pub fn choose(self, candidates: &[Candidate]) -> Result<Candidate> {
        let best = |key: &dyn Fn(&Candidate) -> f64| {
            candidates
                .iter()
                .copied()
                .fold(None, |best: Option<Candidate>, c| match best {
                    Some(b) if key(&b) >= key(&c) => Some(b),
                    _ => Some(c),
                })
        };
        if candidates.iter().any(|c| {
            !(c.source_accuracy.is_finite()
                && c.dev_risk.is_finite()
                && c.target_accuracy.is_finite())
        }) {
            return Err(Error::invalid(
                "a candidate has a non-finite score: the rules cannot compare it",
            ));
        }
        match self {
            Selection::Last => candidates.iter().copied().max_by_key(|c| c.epoch),
            Selection::SourceValidation => best(&|c| c.source_accuracy),
            Selection::Dev => best(&|c| -c.dev_risk),
            Selection::Oracle => best(&|c| c.target_accuracy),
        }
        .ok_or_else(|| Error::invalid("there are no candidates to choose from"))
    }
}

/// The networks of one candidate: the encoder of source images, the
/// encoder of target images when it differs (ADDA's), and the classifier
/// on their features `[D]`.
pub struct CandidateNets<'a> {
    /// Maps source images to features `[D]`.
    pub source_encoder: &'a mut Model,
    /// Maps target images to features; `None` when it is the source encoder.
    pub target_encoder: Option<&'a mut Model>,
    /// Maps features `[D]` to class logits.
    pub classifier: &'a mut Model,
}

/// Scores `nets` (the weights after `epoch`) for every [`Selection`]: the
/// source validation accuracy on `source.test`; DEV's risk, from the
/// per-example cross-entropy on `source.test` weighted by importance
/// weights from a domain classifier fit on the features of the first
/// `sample` images of `source.train` and of `target.train` (whose labels
/// are not read); and the accuracy on `target.test`. The networks are
/// evaluated in evaluation mode and get their modes back.
pub fn score_candidate(
    epoch: usize,
    nets: CandidateNets<'_>,
    source: &Dataset,
    target: &Dataset,
    sample: usize,
) -> Result<Candidate> {
    if sample < 4 || source.test.len() < 2 || target.test.is_empty() {
        return Err(Error::invalid(format!(
            "scoring needs a sample of at least 4 images per domain, 2 source validation and 1 target test image; got a sample of {sample}, {} and {}",
            source.test.len(),
            target.test.len()
        )));
    }
    let CandidateNets {
        source_encoder,
        target_encoder,
        classifier,
    } = nets;
    let first = |split: &Split| -> Result<Tensor> {
        let n = (sample as i64).min(split.len() as i64);
        Ok(split.images().f_narrow(0, 0, n)?)
    };
    // Features in evaluation mode, without gradients, in batches; each
    // encoder gets its mode back.
    let features = |encoder: &mut Model, images: &[&Tensor]| -> Result<Vec<Tensor>> {
        let layer = encoder.output_layer().to_string();
        let mut f = Features::new(encoder, &layer)?.batch_size(500);
        images.iter().map(|x| f.of_images(x)).collect()
    };
    let source_features = features(
        &mut *source_encoder,
        &[&first(&source.train)?, source.test.images()],
    )?;
    let (fs_train, fs_val) = (&source_features[0], &source_features[1]);
    let target_encoder = match target_encoder {
        Some(t) => t,
        None => source_encoder,
    };
    let ft_train = &features(&mut *target_encoder, &[&first(&target.train)?])?[0];
    let (_, target_accuracy) = super::measure(target_encoder, classifier, &target.test, 500)?;
    let was_training = classifier.is_training();
    classifier.set_train(false);
    let z_val = tch::no_grad(|| classifier.forward(&fs_val.f_to_device(classifier.device())?));
    classifier.set_train(was_training);
    let z_val = z_val?;
    let y_val = source.test.labels().f_to_device(z_val.device())?;
    let losses = z_val
        .f_log_softmax(1, Kind::Float)?
        .f_gather(1, &y_val.f_unsqueeze(1)?, false)?
        .f_neg()?
        .f_flatten(0, -1)?
        .f_to_kind(Kind::Double)?
        .f_to_device(Device::Cpu)?;
    let weights = importance_weights(fs_train, ft_train, fs_val)?;
    Ok(Candidate {
        epoch,
        source_accuracy: crate::train::accuracy(&z_val, &y_val)?,
        dev_risk: deep_embedded_validation(&Vec::<f64>::try_from(losses)?, &weights)?,
        target_accuracy,
    })
}
