//! Newton's method with conjugate-gradient steps, kept in a trust region
//! as liblinear's TRON does (Lin, Weng & Keerthi 2008; Nocedal & Wright,
//! Algorithm 4.1 with Steihaug's CG, Algorithm 7.2) or shortened by a
//! backtracking line search ([`NewtonSteps`]; Galli & Lin 2021 compare the
//! two on linear classifiers). For a smooth convex
//! problem whose Hessian-vector product costs about two passes over the
//! data (a linear probe: two matrix products), it reaches the minimum in
//! tens of Newton steps where [`Lbfgs`](super::Lbfgs) needs hundreds of
//! iterations, each a pass over the data plus line-search evaluations.
//!
//! The Hessian is never formed: each CG step asks the problem for one
//! product `H v` at the current point ([`Twice::hessian_times`]).
//!
//! When the problem can give the Hessian's diagonal
//! ([`Twice::hessian_diagonal`]), CG is preconditioned by a mix of that
//! diagonal and the identity, `M = (1 - a) I + a diag(H)` (Hsia, Chiang &
//! Lin 2018, who found `a = 0.01` never much worse than no preconditioner
//! and often far better), and the trust region is measured in M's norm.
//! Features of very different scales (pixels that are always black
//! beside ones that vary) make H badly conditioned; the diagonal takes
//! most of that away at the cost of one pass over the data per Newton step.
//!
//! A run can hand its evaluations to its caller ([`Newton::start`],
//! [`Run`]), so that runs on independent problems over the same data
//! share one pass over it for their evaluations.

use crate::error::{Error, Result};
use tch::{Kind, Tensor};

use super::lbfgs::{check_gradient, check_start};
use super::Minimum;

/// The settings of a Newton-CG run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Newton {
    /// How each Newton step is kept from going where the quadratic model
    /// is poor.
    pub steps: NewtonSteps,
    /// Most Newton steps (each a CG run).
    pub max_iterations: usize,
    /// Most CG steps (Hessian-vector products) per Newton step.
    pub max_cg_steps: usize,
    /// Stop when the largest gradient entry is at most this (the same
    /// test as [`Lbfgs::gradient_tolerance`](super::Lbfgs)).
    pub gradient_tolerance: f64,
    /// Also stop when the gradient's Euclidean norm is at most this
    /// fraction of its norm at the start (liblinear's rule, `|f'(w)|_2 <=
    /// eps |f'(w0)|_2`); 0 (the default) leaves only the absolute test.
    pub relative_tolerance: f64,
    /// CG ends a Newton step when its residual is this fraction of the
    /// gradient's norm (liblinear: 0.1): an inexact Newton step is enough
    /// far from the minimum and becomes exact near it.
    pub cg_tolerance: f64,
    /// The weight `a` of the Hessian's diagonal in the preconditioner
    /// `(1 - a) I + a diag(H)`, in [0, 1]; 0 runs CG without one. Used
    /// only when the problem gives the diagonal.
    pub preconditioner_mix: f64,
}

impl Default for Newton {
    /// Trust-region steps, 1,000 Newton steps of at most 250 CG steps,
    /// gradient tolerance 1e-8 (no relative one), CG tolerance 0.1,
    /// preconditioner mix 0.01 (Hsia et al.'s choice).
    fn default() -> Self {
        Newton {
            steps: NewtonSteps::TrustRegion,
            max_iterations: 1000,
            max_cg_steps: 250,
            gradient_tolerance: 1e-8,
            relative_tolerance: 0.0,
            cg_tolerance: 0.1,
            preconditioner_mix: 0.01,
        }
    }
}

/// How a Newton run keeps its steps where the quadratic model holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NewtonSteps {
    /// CG stops at a radius that grows and shrinks with how well the model
    /// predicted the last step (TRON): a step the model got wrong is
    /// thrown away with its CG work, and the next one is shorter.
    #[default]
    TrustRegion,
    /// CG runs to its tolerance, and the step is shortened along its line
    /// until the value falls by at least 0.01 of what its slope promises
    /// (Armijo's test; each shorter length from the parabola through the
    /// last try, kept within 0.1 to 0.5 of it). A shortened step costs an
    /// evaluation and no CG: the better choice where the model often
    /// overshoots, as for the squared hinge, whose curvature changes as
    /// examples cross their margins. The linear SVM probe on Fashion-MNIST
    /// pixels, against the trust region (by hand, 2 threads): as fast on
    /// 20,000 x 1,024, 1.3 times faster on 5,000 x 4,096, 2 times on
    /// 1,000 x 4,096. The logistic probe is faster with the trust region
    /// on the two larger sets (1.3 and 1.15 times).
    LineSearch,
}

/// A twice-differentiable function of a vector `[P]` (f64).
pub trait Twice {
    /// What a Hessian-vector product at a point needs (for a linear
    /// probe: the class probabilities or the margin violators there).
    type State;
    /// The value and gradient `[P]` at `x`, and the state at `x`.
    fn evaluate(&mut self, x: &Tensor) -> Result<(f64, Tensor, Self::State)>;
    /// `H v` at the point whose state is `state`.
    fn hessian_times(&mut self, state: &Self::State, v: &Tensor) -> Result<Tensor>;
    /// The Hessian's diagonal `[P]` at the point whose state is `state`,
    /// for a preconditioner; `None` (the default) when it is not known.
    fn hessian_diagonal(&mut self, _state: &Self::State) -> Result<Option<Tensor>> {
        Ok(None)
    }
}

/// A Newton run in progress (from [`Newton::start`]), which
/// asks its caller for one evaluation at a time; `S` is the problem's
/// [`Twice::State`].
pub struct Run<S> {
    settings: Newton,
    /// The point whose evaluation [`Run::next`] takes: the start, then
    /// each trial. Never changed in place: each step makes a new tensor.
    asked: Tensor,
    /// The accepted point; `None` until the start is evaluated.
    here: Option<Accepted<S>>,
    /// The step being tried from the accepted point.
    trial: Option<Trial>,
    /// The trust region's radius (unused by a line search). Set at the
    /// first step to the (scaled) gradient's length: the first step goes
    /// no further than a gradient step of rate 1.
    radius: f64,
    iterations: usize,
    evaluations: usize,
    stalled: Option<&'static str>,
    relative_stop: f64,
    done: bool,
}

/// A step tried from the accepted point: `fraction` of `step`.
struct Trial {
    /// The whole Newton step `[P]`.
    step: Tensor,
    /// The part of it tried: 1, then shorter in a line search.
    fraction: f64,
    /// The model's decrease over the whole step.
    predicted: f64,
    /// The whole step's length in M's norm, the trust region's measure.
    length: f64,
    /// The slope along the whole step, `g.s` (below 0).
    slope: f64,
}

/// What a line search does after a try.
enum Searched<S> {
    /// Move to this point (the try, or the accepted point kept when no
    /// length helps, with the run marked stalled).
    Move(Accepted<S>),
    /// Try this shorter step.
    Shorter(Accepted<S>, Trial),
}

/// A point the run moved to, with what was evaluated there.
struct Accepted<S> {
    x: Tensor,
    value: f64,
    g: Tensor,
    state: S,
}

impl<S> Run<S> {
    /// The point `[P]` (f64) to evaluate next.
    pub fn point(&self) -> &Tensor {
        &self.asked
    }

    /// Takes the value, gradient `[P]` and state at [`Run::point`] and
    /// either asks for the next point (`None`; CG's Hessian products at
    /// the accepted point are asked of `f` meanwhile) or ends the run
    /// with its minimum. An error once the run has ended.
    pub fn next<F: Twice<State = S>>(
        &mut self,
        f: &mut F,
        value: f64,
        gradient: Tensor,
        state: S,
    ) -> Result<Option<Minimum>> {
        if self.done {
            return Err(Error::invalid("this Newton run has ended: start another"));
        }
        self.evaluations += 1;
        check_gradient(&gradient, &self.asked)?;
        let g = gradient
            .f_to_kind(Kind::Double)?
            .f_to_device(self.asked.device())?;
        let evaluated = Accepted {
            x: self.asked.shallow_clone(),
            value,
            g,
            state,
        };
        let here = match (self.here.take(), self.trial.take()) {
            (Some(here), Some(trial)) => match self.settings.steps {
                NewtonSteps::TrustRegion => self.judge(here, evaluated, &trial)?,
                NewtonSteps::LineSearch => match self.search(here, evaluated, trial)? {
                    Searched::Move(here) => here,
                    Searched::Shorter(here, trial) => {
                        self.asked = here.x.f_add(&trial.step.f_mul_scalar(trial.fraction)?)?;
                        self.here = Some(here);
                        self.trial = Some(trial);
                        return Ok(None);
                    }
                },
            },
            _ => {
                if !value.is_finite() {
                    self.done = true;
                    return Err(Error::invalid(format!(
                        "the function is {value} at the starting point"
                    )));
                }
                self.relative_stop =
                    self.settings.relative_tolerance * evaluated.g.f_norm()?.f_double_value(&[])?;
                evaluated
            }
        };
        let settings = self.settings;
        let stop = if largest(&here.g)? <= settings.gradient_tolerance {
            Some((true, "gradient tolerance"))
        } else if self.relative_stop > 0.0
            && here.g.f_norm()?.f_double_value(&[])? <= self.relative_stop
        {
            Some((true, "relative gradient tolerance"))
        } else if let Some(reason) = self.stalled {
            // After the gradient tests: the step that stalled may have
            // reached the tolerance.
            Some((false, reason))
        } else if self.iterations == settings.max_iterations {
            Some((false, "iteration limit"))
        } else {
            None
        };
        if let Some((converged, reason)) = stop {
            self.done = true;
            return Ok(Some(Minimum {
                gradient_norm: largest(&here.g)?,
                x: here.x,
                value: here.value,
                iterations: self.iterations,
                evaluations: self.evaluations,
                converged,
                reason: reason.to_string(),
            }));
        }
        self.iterations += 1;
        // CG works on y = sqrt(M) s, where the model's gradient is
        // g / sqrt(M) and its Hessian H scaled by 1 / sqrt(M) both sides.
        let scale = settings.preconditioner(f, &here.state)?;
        let g_scaled = match &scale {
            Some(m) => here.g.f_div(m)?,
            None => here.g.shallow_clone(),
        };
        let radius = match settings.steps {
            NewtonSteps::TrustRegion => {
                if self.radius.is_nan() {
                    self.radius = g_scaled.f_norm()?.f_double_value(&[])?;
                }
                self.radius
            }
            NewtonSteps::LineSearch => f64::INFINITY,
        };
        let (scaled_step, residual) =
            settings.steihaug(f, &here.state, scale.as_ref(), &g_scaled, radius)?;
        // The model's decrease, -(g.s + s.Hs/2), from the residual
        // r = -g - Hs that CG keeps: no extra Hessian product. It is
        // the same in the scaled variables.
        let slope = dot(&g_scaled, &scaled_step)?;
        let predicted = -0.5 * (slope - dot(&residual, &scaled_step)?);
        // The step's length in M's norm, the trust region's measure.
        let length = scaled_step.f_norm()?.f_double_value(&[])?;
        let step = match &scale {
            Some(m) => scaled_step.f_div(m)?,
            None => scaled_step,
        };
        self.asked = here.x.f_add(&step)?;
        self.trial = Some(Trial {
            step,
            fraction: 1.0,
            predicted,
            length,
            slope,
        });
        self.here = Some(here);
        Ok(None)
    }

    /// The accepted point after a trial: the trial if it decreased the
    /// value enough against the model's prediction, else `here`; the
    /// radius grows or shrinks with the agreement, and a run whose changes
    /// fall below f64's rounding is marked stalled.
    fn judge(
        &mut self,
        here: Accepted<S>,
        trial: Accepted<S>,
        &Trial {
            predicted,
            length: step_norm,
            ..
        }: &Trial,
    ) -> Result<Accepted<S>> {
        let actual = here.value - trial.value;
        let ratio = if predicted > 0.0 {
            actual / predicted
        } else {
            -1.0
        };
        if !trial.value.is_finite() || ratio < 0.25 {
            self.radius = 0.25 * step_norm.min(self.radius);
        } else if ratio > 0.75 && step_norm >= 0.99 * self.radius {
            self.radius *= 2.0;
        }
        let here = if trial.value.is_finite() && ratio > 1e-4 {
            trial
        } else {
            here
        };
        // Changes below the rounding of the value: nothing more to gain.
        let scale = 1e-15 * here.value.abs();
        self.stalled = if predicted.abs() <= scale && actual.abs() <= scale {
            Some("no further decrease in f64")
        } else if self.radius <= 1e-14 * here.x.f_norm()?.f_double_value(&[])?.max(1.0) {
            Some("trust region collapsed")
        } else {
            None
        };
        Ok(here)
    }

    /// The line search's decision after trying `tried` (Armijo's test
    /// with c = 0.01): move there, or try a shorter step, its length from
    /// the parabola through the value and slope at `here` and the value
    /// tried, within 0.1 to 0.5 of the last (half when the value tried is
    /// not finite). A step shortened below f64's resolution of the point
    /// stalls the run where it is.
    fn search(
        &mut self,
        here: Accepted<S>,
        tried: Accepted<S>,
        trial: Trial,
    ) -> Result<Searched<S>> {
        let a = trial.fraction;
        let decrease = here.value - tried.value;
        if tried.value.is_finite() && decrease >= -0.01 * a * trial.slope {
            // Changes below the rounding of the value: nothing more to gain.
            let scale = 1e-15 * tried.value.abs();
            self.stalled = (a * trial.predicted.abs() <= scale && decrease.abs() <= scale)
                .then_some("no further decrease in f64");
            return Ok(Searched::Move(tried));
        }
        let curve = tried.value - here.value - a * trial.slope;
        let shorter = if tried.value.is_finite() && curve > 0.0 {
            (-0.5 * trial.slope * a * a / curve).clamp(0.1 * a, 0.5 * a)
        } else {
            0.5 * a
        };
        if shorter * trial.length <= 1e-14 * here.x.f_norm()?.f_double_value(&[])?.max(1.0) {
            self.stalled = Some("the line search found no decrease");
            return Ok(Searched::Move(here));
        }
        Ok(Searched::Shorter(
            here,
            Trial {
                fraction: shorter,
                ..trial
            },
        ))
    }
}

fn dot(a: &Tensor, b: &Tensor) -> Result<f64> {
    Ok(a.f_dot(b)?.f_double_value(&[])?)
}

fn largest(g: &Tensor) -> Result<f64> {
    Ok(g.f_abs()?.f_max()?.f_double_value(&[])?)
}

impl Newton {
    fn check(&self, x0: &Tensor) -> Result<()> {
        check_start(x0)?;
        if self.max_iterations == 0 || self.max_cg_steps == 0 {
            return Err(Error::invalid(
                "trust-region Newton needs at least 1 iteration and 1 CG step",
            ));
        }
        let bad = |v: f64| !(v.is_finite() && v >= 0.0);
        if bad(self.gradient_tolerance)
            || bad(self.relative_tolerance)
            || bad(self.cg_tolerance)
            || self.cg_tolerance >= 1.0
        {
            return Err(Error::invalid(format!(
                "tolerances must be finite and >= 0 (the CG one below 1), got gradient {}, relative {} and CG {}",
                self.gradient_tolerance, self.relative_tolerance, self.cg_tolerance
            )));
        }
        if !(0.0..=1.0).contains(&self.preconditioner_mix) {
            return Err(Error::invalid(format!(
                "the preconditioner mix is a weight in [0, 1], got {}",
                self.preconditioner_mix
            )));
        }
        Ok(())
    }

    /// `sqrt(M)` `[P]` at the point whose state is `state`, or `None` for
    /// no preconditioner.
    fn preconditioner<F: Twice>(&self, f: &mut F, state: &F::State) -> Result<Option<Tensor>> {
        if self.preconditioner_mix == 0.0 {
            return Ok(None);
        }
        let Some(diagonal) = f.hessian_diagonal(state)? else {
            return Ok(None);
        };
        let a = self.preconditioner_mix;
        // A diagonal entry below 0 (a nonconvex problem) would make M
        // indefinite: the identity's share keeps M >= 1 - a there.
        let m = diagonal
            .f_to_kind(Kind::Double)?
            .f_clamp_min(0.0)?
            .f_mul_scalar(a)?
            .f_add_scalar(1.0 - a)?;
        if m.f_min()?.f_double_value(&[])? <= 0.0 {
            return Ok(None);
        }
        Ok(Some(m.f_sqrt()?))
    }

    /// Minimises `f` from `x0` (`[P]`, worked in f64 on its device).
    pub fn minimize<F: Twice>(&self, x0: &Tensor, f: &mut F) -> Result<Minimum> {
        let mut run = self.start(x0)?;
        loop {
            let (value, gradient, state) = f.evaluate(run.point())?;
            if let Some(found) = run.next(f, value, gradient, state)? {
                return Ok(found);
            }
        }
    }

    /// A run from `x0` (`[P]`, worked in f64 on its device) that hands
    /// each evaluation to its caller: evaluate [`Run::point`], give the
    /// result to [`Run::next`], until it returns the minimum. Several runs
    /// can so share one pass over the data for their evaluations (a
    /// one-vs-rest probe's classes: one matrix product for all of them
    /// instead of one matrix-vector product each). [`Newton::minimize`]
    /// is this loop with `f`'s own [`Twice::evaluate`].
    pub fn start<S>(&self, x0: &Tensor) -> Result<Run<S>> {
        self.check(x0)?;
        Ok(Run {
            settings: *self,
            asked: x0.f_to_kind(Kind::Double)?.detach(),
            here: None,
            trial: None,
            radius: f64::NAN,
            iterations: 0,
            evaluations: 0,
            stalled: None,
            relative_stop: 0.0,
            done: false,
        })
    }

    /// An approximate minimiser of `g.s + s.Hs/2` with `|s| <= radius`
    /// (infinite for a line search), by conjugate gradients stopped at the
    /// boundary, at negative curvature or at a small residual; returns the step and the residual `-g - Hs`.
    /// With `scale` (`sqrt(M)`), H stands for `H` divided by `scale` on
    /// both sides, and `g` and the step are in the scaled variables.
    fn steihaug<F: Twice>(
        &self,
        f: &mut F,
        state: &F::State,
        scale: Option<&Tensor>,
        g: &Tensor,
        radius: f64,
    ) -> Result<(Tensor, Tensor)> {
        let mut hessian_times = |d: &Tensor| -> Result<Tensor> {
            match scale {
                Some(m) => Ok(f.hessian_times(state, &d.f_div(m)?)?.f_div(m)?),
                None => f.hessian_times(state, d),
            }
        };
        let mut s = g.f_zeros_like()?;
        let mut r = g.f_neg()?;
        let mut d = r.shallow_clone();
        let mut rr = dot(&r, &r)?;
        let stop = self.cg_tolerance * rr.sqrt();
        for _ in 0..self.max_cg_steps {
            if rr.sqrt() <= stop {
                break;
            }
            let hd = hessian_times(&d)?;
            let curvature = dot(&d, &hd)?;
            let to_boundary = |s: &Tensor, d: &Tensor| -> Result<f64> {
                let (sd, dd, ss) = (dot(s, d)?, dot(d, d)?, dot(s, s)?);
                let room = (radius * radius - ss).max(0.0);
                Ok((-sd + (sd * sd + dd * room).sqrt()) / dd)
            };
            let alpha = rr / curvature;
            let next = s.f_add(&d.f_mul_scalar(alpha)?)?;
            if curvature <= 0.0 || next.f_norm()?.f_double_value(&[])? >= radius {
                // Without a boundary (a line search follows), negative
                // curvature ends CG where it is, or, at its first step,
                // along the steepest descent it started with.
                let tau = if radius.is_finite() {
                    to_boundary(&s, &d)?
                } else if dot(&s, &s)? == 0.0 {
                    1.0
                } else {
                    0.0
                };
                s = s.f_add(&d.f_mul_scalar(tau)?)?;
                r = r.f_sub(&hd.f_mul_scalar(tau)?)?;
                return Ok((s, r));
            }
            s = next;
            r = r.f_sub(&hd.f_mul_scalar(alpha)?)?;
            let rr_next = dot(&r, &r)?;
            d = r.f_add(&d.f_mul_scalar(rr_next / rr)?)?;
            rr = rr_next;
        }
        Ok((s, r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// `0.5 x'Ax - b'x` with A symmetric positive definite: minimum at A^-1 b.
    /// With `gives_diagonal`, it offers A's diagonal for the preconditioner;
    /// `products` counts the Hessian-vector products asked of it.
    struct Quadratic {
        a: Tensor,
        b: Tensor,
        gives_diagonal: bool,
        products: usize,
    }

    impl Quadratic {
        fn new(a: Tensor, b: Tensor) -> Self {
            Quadratic {
                a,
                b,
                gives_diagonal: false,
                products: 0,
            }
        }
    }

    impl Twice for Quadratic {
        type State = ();
        fn evaluate(&mut self, x: &Tensor) -> Result<(f64, Tensor, ())> {
            let ax = self.a.mv(x);
            let v = 0.5 * dot(x, &ax)? - dot(&self.b, x)?;
            Ok((v, ax - &self.b, ()))
        }
        fn hessian_times(&mut self, _: &(), v: &Tensor) -> Result<Tensor> {
            self.products += 1;
            Ok(self.a.mv(v))
        }
        fn hessian_diagonal(&mut self, _: &()) -> Result<Option<Tensor>> {
            Ok(self.gives_diagonal.then(|| self.a.diagonal(0, 0, 1)))
        }
    }

    /// Rosenbrock's function: minimum 0 at (1, 1), Hessian indefinite on
    /// the way (negative curvature exercises the boundary exit of CG).
    struct Rosenbrock;

    impl Twice for Rosenbrock {
        type State = (f64, f64);
        fn evaluate(&mut self, x: &Tensor) -> Result<(f64, Tensor, (f64, f64))> {
            let (a, b) = (x.double_value(&[0]), x.double_value(&[1]));
            let v = (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2);
            let g = [
                -2.0 * (1.0 - a) - 400.0 * a * (b - a * a),
                200.0 * (b - a * a),
            ];
            Ok((v, Tensor::from_slice(&g), (a, b)))
        }
        fn hessian_times(&mut self, &(a, b): &(f64, f64), v: &Tensor) -> Result<Tensor> {
            let (h11, h12, h22) = (2.0 - 400.0 * (b - 3.0 * a * a), -400.0 * a, 200.0);
            let (v1, v2) = (v.double_value(&[0]), v.double_value(&[1]));
            Ok(Tensor::from_slice(&[
                h11 * v1 + h12 * v2,
                h12 * v1 + h22 * v2,
            ]))
        }
    }

    #[test]
    fn a_quadratic_is_solved_in_one_newton_step() {
        tch::manual_seed(0);
        let m = Tensor::randn([20, 20], (Kind::Double, Device::Cpu));
        let a = m.matmul(&m.tr()) + Tensor::eye(20, (Kind::Double, Device::Cpu));
        let b = Tensor::randn([20], (Kind::Double, Device::Cpu));
        let exact = a.inverse().mv(&b);
        let settings = Newton {
            cg_tolerance: 1e-12,
            gradient_tolerance: 1e-9,
            ..Newton::default()
        };
        let start = Tensor::zeros([20], (Kind::Double, Device::Cpu));
        let found = settings
            .minimize(
                &start,
                &mut Quadratic::new(a.shallow_clone(), b.shallow_clone()),
            )
            .unwrap();
        assert!(found.converged, "{}", found.reason);
        let err = (&found.x - &exact).abs().max().double_value(&[]);
        assert!(err < 1e-8, "{err}");
        // The first step is cut at the first radius (|g|); a few more finish.
        assert!(found.iterations <= 6, "{} iterations", found.iterations);
        // With a line search the first step is the exact Newton step, taken
        // whole.
        let searched = Newton {
            steps: NewtonSteps::LineSearch,
            ..settings
        }
        .minimize(&start, &mut Quadratic::new(a, b))
        .unwrap();
        assert!(searched.converged, "{}", searched.reason);
        let err = (&searched.x - &exact).abs().max().double_value(&[]);
        assert!(err < 1e-8, "{err}");
        assert_eq!(searched.iterations, 1);
        assert_eq!(searched.evaluations, 2);
    }

    /// A line search shortens a step whose end is not finite (a barrier
    /// the model does not see) until the value there falls.
    #[test]
    fn the_line_search_backs_off_a_step_into_infinity() {
        /// `x^2 / 2 - 3x` for x < 2 (minimum at the wall's foot, 2), infinite
        /// beyond: Newton's whole step from 0 lands at 3, past the wall.
        struct Walled;
        impl Twice for Walled {
            type State = ();
            fn evaluate(&mut self, x: &Tensor) -> Result<(f64, Tensor, ())> {
                let a = x.double_value(&[0]);
                let v = if a < 2.0 {
                    0.5 * a * a - 3.0 * a
                } else {
                    f64::INFINITY
                };
                Ok((v, Tensor::from_slice(&[a - 3.0]), ()))
            }
            fn hessian_times(&mut self, _: &(), v: &Tensor) -> Result<Tensor> {
                Ok(v.shallow_clone())
            }
        }
        let settings = Newton {
            steps: NewtonSteps::LineSearch,
            max_iterations: 3,
            ..Newton::default()
        };
        let found = settings
            .minimize(&Tensor::from_slice(&[0.0f64]), &mut Walled)
            .unwrap();
        let x = found.x.double_value(&[0]);
        assert!(found.value.is_finite() && x > 0.0 && x < 2.0, "{x}");
        assert!(found.evaluations > found.iterations + 1);
    }

    /// liblinear's rule: stop once |g|_2 <= eps |g(x0)|_2, whatever the
    /// absolute tolerance; a looser eps stops in fewer steps.
    #[test]
    fn the_relative_tolerance_stops_at_its_fraction_of_the_first_gradient() {
        tch::manual_seed(2);
        let opts = (Kind::Double, Device::Cpu);
        let m = Tensor::randn([40, 40], opts);
        let a = m.matmul(&m.tr()) + Tensor::eye(40, opts);
        let b = Tensor::randn([40], opts);
        let start = Tensor::zeros([40], opts);
        // The gradient at 0 is -b.
        let first = b.norm().double_value(&[]);
        for steps in [NewtonSteps::TrustRegion, NewtonSteps::LineSearch] {
            let mut iterations = Vec::new();
            for eps in [1e-2, 1e-8] {
                let settings = Newton {
                    steps,
                    gradient_tolerance: 0.0,
                    relative_tolerance: eps,
                    cg_tolerance: 0.5,
                    ..Newton::default()
                };
                let mut f = Quadratic::new(a.shallow_clone(), b.shallow_clone());
                let found = settings.minimize(&start, &mut f).unwrap();
                assert!(found.converged, "{}", found.reason);
                assert_eq!(found.reason, "relative gradient tolerance");
                let g = (a.mv(&found.x) - &b).norm().double_value(&[]);
                assert!(
                    g <= eps * first,
                    "eps {eps}: |g| {g} against {}",
                    eps * first
                );
                iterations.push(found.iterations);
            }
            assert!(iterations[0] < iterations[1], "{steps:?}: {iterations:?}");
        }
    }

    /// Variables on scales from 1 to 10^3 (a well-conditioned matrix
    /// scaled by D on both sides): CG alone needs many products, the
    /// diagonal preconditioner undoes most of the scaling.
    #[test]
    fn the_diagonal_preconditioner_reaches_the_same_minimum_with_fewer_products() {
        tch::manual_seed(1);
        let n = 60;
        let opts = (Kind::Double, Device::Cpu);
        let m = Tensor::randn([n, n], opts) / (n as f64).sqrt();
        let well = m.matmul(&m.tr()) + Tensor::eye(n, opts);
        let d = Tensor::logspace(0.0, 1.5, n, 10.0, opts);
        let a = &d.unsqueeze(1) * well * d.unsqueeze(0);
        let b = Tensor::randn([n], opts);
        let exact = a.inverse().mv(&b);
        let start = Tensor::zeros([n], opts);
        let mut products = Vec::new();
        for (mix, gives_diagonal) in [(0.0, true), (1.0, false), (1.0, true), (0.01, true)] {
            let settings = Newton {
                gradient_tolerance: 1e-6,
                preconditioner_mix: mix,
                ..Newton::default()
            };
            let mut f = Quadratic::new(a.shallow_clone(), b.shallow_clone());
            f.gives_diagonal = gives_diagonal;
            let found = settings.minimize(&start, &mut f).unwrap();
            assert!(
                found.converged,
                "mix {mix}: {} after {} iterations, gradient {:.2e}, value {}",
                found.reason, found.iterations, found.gradient_norm, found.value
            );
            eprintln!(
                "mix {mix}, diagonal {gives_diagonal}: {} products",
                f.products
            );
            let err = (&found.x - &exact).abs().max().double_value(&[]);
            let size = exact.abs().max().double_value(&[]);
            assert!(err < 1e-5 * size.max(1.0), "mix {mix}: {err}");
            products.push(f.products);
        }
        // Mix 0 and a problem without a diagonal both run plain CG.
        assert_eq!(products[0], products[1], "{products:?}");
        assert!(products[2] * 3 < products[0], "{products:?}");
        assert!(products[3] < products[0], "{products:?}");
    }

    /// Both kinds of step reach the minimum; a run driven by hand,
    /// evaluation by evaluation, takes the steps `minimize` takes, and
    /// refuses to go on once it has ended.
    #[test]
    fn rosenbrock_reaches_its_minimum_through_negative_curvature() {
        for steps in [NewtonSteps::TrustRegion, NewtonSteps::LineSearch] {
            let settings = Newton {
                steps,
                gradient_tolerance: 1e-10,
                ..Newton::default()
            };
            let start = Tensor::from_slice(&[-1.2f64, 1.0]);
            let found = settings.minimize(&start, &mut Rosenbrock).unwrap();
            assert!(found.converged, "{}", found.reason);
            let x: Vec<f64> = Vec::try_from(&found.x).unwrap();
            assert!(
                (x[0] - 1.0).abs() < 1e-8 && (x[1] - 1.0).abs() < 1e-8,
                "{x:?}"
            );
            assert!(found.value < 1e-16, "{steps:?}: {}", found.value);
            assert!(found.iterations < 100, "{steps:?}: {}", found.iterations);

            let mut run = settings.start(&start).unwrap();
            let mut f = Rosenbrock;
            let mut asked = 0;
            let by_hand = loop {
                asked += 1;
                let (v, g, state) = f.evaluate(run.point()).unwrap();
                if let Some(by_hand) = run.next(&mut f, v, g, state).unwrap() {
                    break by_hand;
                }
            };
            assert_eq!(asked, found.evaluations, "{steps:?}");
            assert_eq!(by_hand.iterations, found.iterations, "{steps:?}");
            assert!(by_hand.x.equal(&found.x), "{steps:?}");
            let (v, g, state) = f.evaluate(&by_hand.x).unwrap();
            assert!(run.next(&mut f, v, g, state).is_err());
        }
    }

    #[test]
    fn bad_settings_and_points_are_errors() {
        let p = Tensor::zeros([2], (Kind::Double, Device::Cpu));
        let bad = Newton {
            cg_tolerance: 1.5,
            ..Newton::default()
        };
        assert!(bad.minimize(&p, &mut Rosenbrock).is_err());
        for relative in [-1e-4, f64::NAN, f64::INFINITY] {
            let bad = Newton {
                relative_tolerance: relative,
                ..Newton::default()
            };
            assert!(bad.minimize(&p, &mut Rosenbrock).is_err(), "{relative}");
        }
        for mix in [-0.1, 1.5, f64::NAN] {
            let bad = Newton {
                preconditioner_mix: mix,
                ..Newton::default()
            };
            assert!(bad.minimize(&p, &mut Rosenbrock).is_err(), "{mix}");
        }
        let empty = Tensor::zeros([0], (Kind::Double, Device::Cpu));
        assert!(Newton::default().minimize(&empty, &mut Rosenbrock).is_err());
    }
}
