//! Trust-region Newton with conjugate-gradient steps, the method of
//! liblinear's TRON (Lin, Weng & Keerthi 2008; Nocedal & Wright,
//! Algorithm 4.1 with Steihaug's CG, Algorithm 7.2). For a smooth convex
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

use crate::error::{Error, Result};
use tch::{Kind, Tensor};

use super::lbfgs::{check_gradient, check_start};
use super::Minimum;

/// The settings of a trust-region Newton run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrustRegion {
    /// Most Newton steps (trial points).
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

impl Default for TrustRegion {
    /// 1,000 Newton steps of at most 250 CG steps, gradient tolerance 1e-8
    /// (no relative one), CG tolerance 0.1, preconditioner mix 0.01 (Hsia
    /// et al.'s choice).
    fn default() -> Self {
        TrustRegion {
            max_iterations: 1000,
            max_cg_steps: 250,
            gradient_tolerance: 1e-8,
            relative_tolerance: 0.0,
            cg_tolerance: 0.1,
            preconditioner_mix: 0.01,
        }
    }
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

fn dot(a: &Tensor, b: &Tensor) -> Result<f64> {
    Ok(a.f_dot(b)?.f_double_value(&[])?)
}

fn largest(g: &Tensor) -> Result<f64> {
    Ok(g.f_abs()?.f_max()?.f_double_value(&[])?)
}

impl TrustRegion {
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
        self.check(x0)?;
        let mut evaluations = 0usize;
        let mut eval = |f: &mut F, x: &Tensor| -> Result<(f64, Tensor, F::State)> {
            evaluations += 1;
            let (v, g, s) = f.evaluate(x)?;
            check_gradient(&g, x)?;
            Ok((v, g.f_to_kind(Kind::Double)?.f_to_device(x.device())?, s))
        };
        // Never changed in place: each step makes a new tensor.
        let mut x = x0.f_to_kind(Kind::Double)?.detach();
        let (mut value, mut g, mut state) = eval(f, &x)?;
        if !value.is_finite() {
            return Err(Error::invalid(format!(
                "the function is {value} at the starting point"
            )));
        }
        // Set at the first step to the (scaled) gradient's length: the first
        // step goes no further than a gradient step of rate 1.
        let mut radius = f64::NAN;
        let mut iterations = 0;
        let mut stalled: Option<&str> = None;
        let relative_stop = self.relative_tolerance * g.f_norm()?.f_double_value(&[])?;
        let (converged, reason) = loop {
            if largest(&g)? <= self.gradient_tolerance {
                break (true, "gradient tolerance");
            }
            if relative_stop > 0.0 && g.f_norm()?.f_double_value(&[])? <= relative_stop {
                break (true, "relative gradient tolerance");
            }
            // After the gradient test: the step that stalled may have
            // reached the tolerance.
            if let Some(reason) = stalled {
                break (false, reason);
            }
            if iterations == self.max_iterations {
                break (false, "iteration limit");
            }
            iterations += 1;
            // CG works on y = sqrt(M) s, where the model's gradient is
            // g / sqrt(M) and its Hessian H scaled by 1 / sqrt(M) both sides.
            let scale = self.preconditioner(f, &state)?;
            let g_scaled = match &scale {
                Some(m) => g.f_div(m)?,
                None => g.shallow_clone(),
            };
            if radius.is_nan() {
                radius = g_scaled.f_norm()?.f_double_value(&[])?;
            }
            let (scaled_step, residual) =
                self.steihaug(f, &state, scale.as_ref(), &g_scaled, radius)?;
            // The model's decrease, -(g.s + s.Hs/2), from the residual
            // r = -g - Hs that CG keeps: no extra Hessian product. It is
            // the same in the scaled variables.
            let predicted = -0.5 * (dot(&g_scaled, &scaled_step)? - dot(&residual, &scaled_step)?);
            // The step's length in M's norm, the trust region's measure.
            let step_norm = scaled_step.f_norm()?.f_double_value(&[])?;
            let step = match &scale {
                Some(m) => scaled_step.f_div(m)?,
                None => scaled_step,
            };
            let trial = x.f_add(&step)?;
            let (t_value, t_g, t_state) = eval(f, &trial)?;
            let actual = value - t_value;
            let ratio = if predicted > 0.0 {
                actual / predicted
            } else {
                -1.0
            };
            if !t_value.is_finite() || ratio < 0.25 {
                radius = 0.25 * step_norm.min(radius);
            } else if ratio > 0.75 && step_norm >= 0.99 * radius {
                radius *= 2.0;
            }
            if t_value.is_finite() && ratio > 1e-4 {
                x = trial;
                value = t_value;
                g = t_g;
                state = t_state;
            }
            // Changes below the rounding of the value: nothing more to gain.
            let scale = 1e-15 * value.abs();
            stalled = if predicted.abs() <= scale && actual.abs() <= scale {
                Some("no further decrease in f64")
            } else if radius <= 1e-14 * x.f_norm()?.f_double_value(&[])?.max(1.0) {
                Some("trust region collapsed")
            } else {
                None
            };
        };
        Ok(Minimum {
            gradient_norm: largest(&g)?,
            x,
            value,
            iterations,
            evaluations,
            converged,
            reason: reason.to_string(),
        })
    }

    /// An approximate minimiser of `g.s + s.Hs/2` with `|s| <= radius`, by
    /// conjugate gradients stopped at the boundary, at negative curvature
    /// or at a small residual; returns the step and the residual `-g - Hs`.
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
                let tau = to_boundary(&s, &d)?;
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
        let settings = TrustRegion {
            cg_tolerance: 1e-12,
            gradient_tolerance: 1e-9,
            ..TrustRegion::default()
        };
        let start = Tensor::zeros([20], (Kind::Double, Device::Cpu));
        let found = settings
            .minimize(&start, &mut Quadratic::new(a, b))
            .unwrap();
        assert!(found.converged, "{}", found.reason);
        let err = (&found.x - &exact).abs().max().double_value(&[]);
        assert!(err < 1e-8, "{err}");
        // The first step is cut at the first radius (|g|); a few more finish.
        assert!(found.iterations <= 6, "{} iterations", found.iterations);
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
        let mut iterations = Vec::new();
        for eps in [1e-2, 1e-8] {
            let settings = TrustRegion {
                gradient_tolerance: 0.0,
                relative_tolerance: eps,
                cg_tolerance: 0.5,
                ..TrustRegion::default()
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
        assert!(iterations[0] < iterations[1], "{iterations:?}");
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
            let settings = TrustRegion {
                gradient_tolerance: 1e-6,
                preconditioner_mix: mix,
                ..TrustRegion::default()
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

    #[test]
    fn rosenbrock_reaches_its_minimum_through_negative_curvature() {
        let settings = TrustRegion {
            gradient_tolerance: 1e-10,
            ..TrustRegion::default()
        };
        let start = Tensor::from_slice(&[-1.2f64, 1.0]);
        let found = settings.minimize(&start, &mut Rosenbrock).unwrap();
        assert!(found.converged, "{}", found.reason);
        let x: Vec<f64> = Vec::try_from(&found.x).unwrap();
        assert!(
            (x[0] - 1.0).abs() < 1e-8 && (x[1] - 1.0).abs() < 1e-8,
            "{x:?}"
        );
        assert!(found.value < 1e-16, "{}", found.value);
        assert!(found.iterations < 100, "{}", found.iterations);
    }

    #[test]
    fn bad_settings_and_points_are_errors() {
        let p = Tensor::zeros([2], (Kind::Double, Device::Cpu));
        let bad = TrustRegion {
            cg_tolerance: 1.5,
            ..TrustRegion::default()
        };
        assert!(bad.minimize(&p, &mut Rosenbrock).is_err());
        for relative in [-1e-4, f64::NAN, f64::INFINITY] {
            let bad = TrustRegion {
                relative_tolerance: relative,
                ..TrustRegion::default()
            };
            assert!(bad.minimize(&p, &mut Rosenbrock).is_err(), "{relative}");
        }
        for mix in [-0.1, 1.5, f64::NAN] {
            let bad = TrustRegion {
                preconditioner_mix: mix,
                ..TrustRegion::default()
            };
            assert!(bad.minimize(&p, &mut Rosenbrock).is_err(), "{mix}");
        }
        let empty = Tensor::zeros([0], (Kind::Double, Device::Cpu));
        assert!(TrustRegion::default()
            .minimize(&empty, &mut Rosenbrock)
            .is_err());
    }
}
