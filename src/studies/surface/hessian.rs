//! Second-order views of a loss surface: the exact Hessian of a small net by
//! double backward, Hessian-vector products and a Lanczos estimate of the
//! extreme eigenvalues for bigger nets, and critical points found by
//! minimising the squared gradient norm (Dauphin et al. 2014).
//!
//! The loss is the mean cross-entropy of `model` on one batch `(x, y)`,
//! with the model in whatever mode it is in (use evaluation mode for nets
//! with dropout or batch norm). Parameters are taken in
//! [`Model::param_groups`] order, frozen ones left out; vectors are flat
//! `[P]` f64 tensors in that order.

use crate::error::{Error, Result};
use crate::model::Model;
use crate::train::{cross_entropy, optimize, Optimizer, OptimizerState};
use tch::{Kind, Tensor};

/// The trainable parameters of `model`, in order.
pub fn parameters(model: &Model) -> Vec<Tensor> {
    model
        .param_groups()
        .into_iter()
        .flat_map(|g| g.params.into_iter().map(|(_, t)| t))
        .collect()
}

/// The number of trainable values.
pub fn num_parameters(model: &Model) -> i64 {
    parameters(model).iter().map(Tensor::numel).sum::<usize>() as i64
}

/// Tensors as one flat f64 vector. Callers pass a model's gradients or
/// parameters, at least one (`gradient_graph` refuses a model without
/// parameters): `cat` cannot fail.
fn flat(ts: &[Tensor]) -> Tensor {
    Tensor::cat(
        &ts.iter()
            .map(|t| t.reshape([-1]).to_kind(Kind::Double))
            .collect::<Vec<_>>(),
        0,
    )
}

fn loss(model: &Model, x: &Tensor, y: &Tensor) -> Result<Tensor> {
    cross_entropy(&model.forward(x)?, y)
}

fn gradient_graph(
    model: &Model,
    x: &Tensor,
    y: &Tensor,
    params: &[Tensor],
) -> Result<(Tensor, Vec<Tensor>)> {
    if params.is_empty() {
        return Err(Error::invalid("the model has no trainable parameters"));
    }
    let l = loss(model, x, y)?;
    let grads = Tensor::f_run_backward(&[&l], params, true, true)?;
    Ok((l, grads))
}

/// The loss and its gradient `[P]` at the current parameters.
pub fn loss_and_gradient(model: &Model, x: &Tensor, y: &Tensor) -> Result<(f64, Tensor)> {
    // Gradients whatever the caller's mode: under `tch::no_grad` the loss
    // would have no graph, and libtorch's backward crashes on that.
    tch::with_grad(|| {
        let params = parameters(model);
        let (l, grads) = gradient_graph(model, x, y, &params)?;
        Ok((l.f_double_value(&[])?, flat(&grads).detach()))
    })
}

/// The exact Hessian `[P, P]` (f64, symmetrised) of the loss, one row per
/// backward pass through the gradient: for nets of up to a few thousand
/// parameters.
pub fn hessian(model: &Model, x: &Tensor, y: &Tensor) -> Result<Tensor> {
    tch::with_grad(|| hessian_rows(model, x, y))
}

fn hessian_rows(model: &Model, x: &Tensor, y: &Tensor) -> Result<Tensor> {
    let params = parameters(model);
    let p = params.iter().map(Tensor::numel).sum::<usize>();
    if p > 20_000 {
        return Err(Error::invalid(format!(
            "an exact Hessian of {p} parameters would take {p} backward passes and {} MB; use hvp or lanczos",
            p * p * 8 / 1_000_000
        )));
    }
    let (_, grads) = gradient_graph(model, x, y, &params)?;
    // The gradients of at least one parameter (checked by
    // `gradient_graph`), `p` values in all: the rows below cannot fail.
    let g = Tensor::cat(
        &grads.iter().map(|t| t.reshape([-1])).collect::<Vec<_>>(),
        0,
    );
    let mut rows = Vec::with_capacity(p);
    for i in 0..p as i64 {
        let second = Tensor::f_run_backward(&[&g.get(i)], &params, true, false)?;
        rows.push(flat(&second));
    }
    let h = Tensor::stack(&rows, 0);
    Ok((&h + h.transpose(0, 1)) / 2.0)
}

/// The Hessian-vector product `H v` (`v`: `[P]`), by differentiating
/// `g . v`: one extra backward pass, no `[P, P]` matrix.
pub fn hvp(model: &Model, x: &Tensor, y: &Tensor, v: &Tensor) -> Result<Tensor> {
    tch::with_grad(|| hvp_graph(model, x, y, v))
}

fn hvp_graph(model: &Model, x: &Tensor, y: &Tensor, v: &Tensor) -> Result<Tensor> {
    let params = parameters(model);
    let p: i64 = params.iter().map(|t| t.numel() as i64).sum();
    if v.size() != [p] {
        return Err(Error::shape(
            "vector",
            format!("[{p}] (the trainable parameters)"),
            format!("{:?}", v.size()),
        ));
    }
    let (_, grads) = gradient_graph(model, x, y, &params)?;
    // `v` is the caller's: on another device or of another kind, the
    // products are libtorch errors, not panics.
    let parts: Vec<Tensor> = grads
        .iter()
        .zip(split_like(&grads, v)?)
        .map(|(g, part)| -> Result<Tensor> {
            Ok(g.f_mul(&part.f_to_device(g.device())?)?.f_sum(g.kind())?)
        })
        .collect::<Result<_>>()?;
    let dot = Tensor::f_stack(&parts, 0)?.f_sum(Kind::Float)?;
    let hv = Tensor::f_run_backward(&[&dot], &params, false, false)?;
    Ok(flat(&hv))
}

/// Estimates of the largest and smallest Hessian eigenvalues from `steps`
/// Lanczos iterations on [`hvp`] (with full reorthogonalisation), started
/// from a seeded random vector: the extreme Ritz values, which converge
/// first. Returns (smallest, largest) and all Ritz values, ascending.
pub fn lanczos(
    model: &Model,
    x: &Tensor,
    y: &Tensor,
    steps: usize,
    seed: u64,
) -> Result<(f64, f64, Vec<f64>)> {
    let p = num_parameters(model);
    if steps == 0 || steps as i64 > p {
        return Err(Error::invalid(format!(
            "Lanczos needs 1 to {p} steps (the parameter count), got {steps}"
        )));
    }
    let mut q = crate::runtime::rng::with_torch_seed(seed, || {
        Tensor::randn([p], (Kind::Double, tch::Device::Cpu))
    });
    q = &q / q.norm();
    let mut basis: Vec<Tensor> = Vec::with_capacity(steps);
    let (mut alphas, mut betas) = (Vec::new(), Vec::new());
    for k in 0..steps {
        basis.push(q.shallow_clone());
        // `hvp` gives the `[P]` of `q`: the products with the basis below
        // cannot fail.
        let mut w = hvp(model, x, y, &q)?.to_device(tch::Device::Cpu);
        let a = w.dot(&q).double_value(&[]);
        alphas.push(a);
        // Full reorthogonalisation against every earlier vector, twice.
        for _ in 0..2 {
            for b in &basis {
                w = &w - b * w.dot(b);
            }
        }
        let beta = w.norm().double_value(&[]);
        if k + 1 == steps || beta < 1e-10 {
            break;
        }
        betas.push(beta);
        q = w / beta;
    }
    let m = alphas.len() as i64;
    let t = Tensor::diag_embed(&Tensor::from_slice(&alphas), 0, -2, -1);
    let t = if m > 1 {
        let off = Tensor::from_slice(&betas[..(m - 1) as usize]);
        t + Tensor::diag_embed(&off, 1, -2, -1) + Tensor::diag_embed(&off, -1, -2, -1)
    } else {
        t
    };
    let ritz = Vec::<f64>::try_from(t.linalg_eigvalsh("L"))?;
    Ok((ritz[0], ritz[ritz.len() - 1], ritz))
}

/// The index of a critical point: the fraction of Hessian eigenvalues below
/// `-tolerance` (Dauphin et al.'s alpha), from eigenvalues `[P]`.
pub fn index(eigenvalues: &Tensor, tolerance: f64) -> Result<f64> {
    crate::check::defined(eigenvalues, "eigenvalues")?;
    if eigenvalues.dim() != 1 {
        return Err(Error::shape(
            "eigenvalues",
            "[P] (from linalg_eigvalsh)",
            crate::check::shape_str(&eigenvalues.size()),
        ));
    }
    if !(tolerance.is_finite() && tolerance >= 0.0) {
        return Err(Error::invalid(format!(
            "the index needs a finite tolerance >= 0, got {tolerance}"
        )));
    }
    let n = eigenvalues.numel();
    if n == 0 {
        return Ok(0.0);
    }
    let below = eigenvalues
        .f_lt(-tolerance)?
        .f_to_kind(Kind::Double)?
        .f_sum(Kind::Double)?
        .f_double_value(&[])?;
    Ok(below / n as f64)
}

/// Moves `model` towards a critical point of the loss on `(x, y)` by Adam
/// on `0.5 ||grad||^2` (whose gradient is `H grad`, by double backward):
/// `steps` steps at learning rate `lr`. Minima, saddles and maxima are all
/// fixed points. Returns the final gradient norm.
pub fn seek_critical_point(
    model: &mut Model,
    x: &Tensor,
    y: &Tensor,
    steps: usize,
    lr: f64,
) -> Result<f64> {
    let groups = model.param_groups();
    let params = parameters(model);
    let mut opt = OptimizerState::new(Optimizer::adam(lr))?;
    for _ in 0..steps {
        if crate::runtime::interrupt::should_stop(None) {
            break;
        }
        let (_, grads) = gradient_graph(model, x, y, &params)?;
        let phi = grads
            .iter()
            .map(|g| g.square().sum(Kind::Float))
            .fold(Tensor::zeros([], (Kind::Float, x.device())), |a, b| a + b)
            * 0.5;
        optimize(&phi, &groups, &mut opt, lr, None)?;
    }
    let (_, g) = loss_and_gradient(model, x, y)?;
    Ok(g.norm().double_value(&[]))
}

/// How [`refine_critical_point`] ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Refinement {
    /// The gradient norm before the first step.
    pub start_norm: f64,
    /// The gradient norm where the model was left.
    pub gradient_norm: f64,
    /// Steps taken (accepted).
    pub steps: usize,
    /// Whether the gradient norm reached the tolerance.
    pub converged: bool,
}

/// Newton's method on the gradient, from where `model` is, made robust as
/// Levenberg-Marquardt on `0.5 ||g||^2`: each step is
/// `d = -(H^2 + mu I)^-1 H g` with the exact Hessian `H` (by its
/// eigendecomposition), which is Newton's `-H^-1 g` when `mu` is small,
/// so it converges to the nearby critical point whatever its index (as
/// Dauphin et al.'s Newton-type search did), and a short gradient step on
/// `||g||^2` when `mu` is large. A step that lowers the gradient norm is
/// taken and `mu` shrinks; otherwise `mu` grows and the step is tried again
/// (up to 40 times). Stops when the norm is at most `tolerance`, after
/// `max_steps` steps, or when no `mu` lowers it. For nets small enough for
/// [`hessian`]; the loss as in [`loss_and_gradient`].
pub fn refine_critical_point(
    model: &mut Model,
    x: &Tensor,
    y: &Tensor,
    max_steps: usize,
    tolerance: f64,
) -> Result<Refinement> {
    if !(tolerance.is_finite() && tolerance > 0.0) {
        return Err(Error::invalid(format!(
            "refine_critical_point needs a finite tolerance > 0, got {tolerance}"
        )));
    }
    let params = parameters(model);
    let norm = |model: &Model| -> Result<(f64, Tensor)> {
        let (_, g) = loss_and_gradient(model, x, y)?;
        Ok((g.norm().double_value(&[]), g))
    };
    let (start_norm, mut g) = norm(model)?;
    let mut current = start_norm;
    let mut steps = 0;
    let mut mu: Option<f64> = None;
    while current > tolerance && steps < max_steps {
        if crate::runtime::interrupt::should_stop(None) {
            break;
        }
        let (eig, vectors) = hessian(model, x, y)?.f_linalg_eigh("L")?;
        // `eig` [P] and `vectors` [P, P] decompose the Hessian of the same
        // parameters whose gradient `g` is [P]: the products cannot fail.
        let coefficients = vectors.transpose(0, 1).mv(&g);
        let largest = eig.abs().max().double_value(&[]).max(1e-300);
        let mut damping = mu.unwrap_or(1e-6 * largest * largest);
        let mut accepted = false;
        for _ in 0..40 {
            let gain = &eig / (eig.square() + damping);
            let step = -vectors.mv(&(gain * &coefficients));
            add_flat(&params, &step)?;
            let (next, next_g) = norm(model)?;
            if next < current {
                current = next;
                g = next_g;
                accepted = true;
                damping /= 3.0;
                break;
            }
            add_flat(&params, &(-step))?;
            damping *= 4.0;
        }
        mu = Some(damping);
        if !accepted {
            break;
        }
        steps += 1;
    }
    Ok(Refinement {
        start_norm,
        gradient_norm: current,
        steps,
        converged: current <= tolerance,
    })
}

/// Adds the flat `[P]` vector `d` to the parameters, in order.
fn add_flat(params: &[Tensor], d: &Tensor) -> Result<()> {
    tch::no_grad(|| -> Result<()> {
        for (p, part) in params.iter().zip(split_like(params, d)?) {
            let _ = p.shallow_clone().f_add_(&part)?;
        }
        Ok(())
    })
}

/// The flat `[P]` vector `v` cut into pieces shaped, typed and placed like
/// `like` (the parameters, or their gradients), in order.
fn split_like(like: &[Tensor], v: &Tensor) -> Result<Vec<Tensor>> {
    let mut offset = 0;
    like.iter()
        .map(|t| {
            let n = t.numel() as i64;
            let part = v
                .f_narrow(0, offset, n)?
                .f_to_kind(t.kind())?
                .f_to_device(t.device())?
                .f_reshape(t.size().as_slice())?;
            offset += n;
            Ok(part)
        })
        .collect()
}
