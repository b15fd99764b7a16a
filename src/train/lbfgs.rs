//! L-BFGS for full-batch problems (linear probes on feature tensors, small
//! smooth objectives): limited-memory quasi-Newton directions from the last
//! `memory` steps (Nocedal & Wright, Algorithm 7.4, the two-loop
//! recursion) and a line search that meets the strong Wolfe conditions
//! (Algorithms 3.5 and 3.6, cubic interpolation). tch has no L-BFGS of its
//! own that takes a closure over a flat vector and reports why it stopped.

use crate::error::{Error, Result};
use tch::{Kind, Tensor};

/// The settings of an L-BFGS run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lbfgs {
    /// Steps remembered for the curvature estimate.
    pub memory: usize,
    /// Most iterations (line searches).
    pub max_iterations: usize,
    /// Most evaluations of the function in all.
    pub max_evaluations: usize,
    /// Stop when the largest gradient entry is at most this.
    pub gradient_tolerance: f64,
    /// Stop when an iteration lowers the value by at most this, relative to
    /// `max(|f|, 1)`.
    pub value_tolerance: f64,
}

impl Default for Lbfgs {
    /// Memory 10, 1,000 iterations, gradient tolerance 1e-8, value
    /// tolerance 1e-15: tight enough that a convex probe ends at its
    /// minimum, not at a solver's early stop.
    fn default() -> Self {
        Lbfgs {
            memory: 10,
            max_iterations: 1000,
            max_evaluations: 5000,
            gradient_tolerance: 1e-8,
            value_tolerance: 1e-15,
        }
    }
}

/// Why a run ended, with where it ended.
#[derive(Debug)]
pub struct Minimum {
    /// The point `[P]` (f64).
    pub x: Tensor,
    /// The value there.
    pub value: f64,
    /// The largest gradient entry there.
    pub gradient_norm: f64,
    /// Iterations taken.
    pub iterations: usize,
    /// Function evaluations taken.
    pub evaluations: usize,
    /// Whether a tolerance was met (not a limit, nor a failed line search).
    pub converged: bool,
    /// In words: which tolerance or limit ended the run.
    pub reason: String,
}

/// A solver's starting point must be a non-empty vector `[P]`.
pub(super) fn check_start(x0: &Tensor) -> Result<()> {
    if x0.dim() != 1 || x0.numel() == 0 {
        return Err(Error::shape(
            "starting point",
            "a non-empty vector [P]",
            crate::check::shape_str(&x0.size()),
        ));
    }
    Ok(())
}

/// A gradient the function returned must have its point's shape.
pub(super) fn check_gradient(g: &Tensor, x: &Tensor) -> Result<()> {
    if g.size() != x.size() {
        return Err(Error::shape(
            "gradient",
            format!("the point's shape {}", crate::check::shape_str(&x.size())),
            crate::check::shape_str(&g.size()),
        ));
    }
    Ok(())
}

/// A value and its gradient at one point.
struct Point {
    step: f64,
    value: f64,
    slope: f64,
    gradient: Tensor,
}

impl Lbfgs {
    /// Minimises `f` from `x0` (`[P]`, any float kind; worked in f64 on
    /// its device). `f(x)` returns the value and the gradient `[P]` at `x`.
    pub fn minimize(
        &self,
        x0: &Tensor,
        mut f: impl FnMut(&Tensor) -> Result<(f64, Tensor)>,
    ) -> Result<Minimum> {
        check_start(x0)?;
        if self.memory == 0 || self.max_iterations == 0 {
            return Err(Error::invalid(
                "L-BFGS needs a memory of at least 1 step and at least 1 iteration",
            ));
        }
        let evaluations = std::cell::Cell::new(0usize);
        let mut eval = |x: &Tensor| -> Result<(f64, Tensor)> {
            evaluations.set(evaluations.get() + 1);
            let (v, g) = f(x)?;
            check_gradient(&g, x)?;
            Ok((v, g.f_to_kind(Kind::Double)?.f_to_device(x.device())?))
        };
        let mut x = x0.to_kind(Kind::Double).detach().copy();
        let (mut value, mut g) = eval(&x)?;
        if !value.is_finite() {
            return Err(Error::invalid(format!(
                "the function is {value} at the starting point"
            )));
        }
        let mut memory: Vec<(Tensor, Tensor, f64)> = Vec::with_capacity(self.memory);
        let mut iterations = 0;
        let (converged, reason) = loop {
            let gmax = max_abs(&g);
            if gmax <= self.gradient_tolerance {
                break (true, format!("gradient below {}", self.gradient_tolerance));
            }
            if iterations >= self.max_iterations {
                break (false, format!("{} iterations", self.max_iterations));
            }
            let mut d = direction(&g, &memory);
            let mut slope = dot(&g, &d);
            if slope >= 0.0 {
                // Not a descent direction (curvature pairs gone stale):
                // forget them and go down the gradient.
                memory.clear();
                d = -&g;
                slope = dot(&g, &d);
            }
            // The first step: the gradient scaled to length 1 at most, as
            // PyTorch's LBFGS does; later ones start at the quasi-Newton 1.
            let first = if iterations == 0 {
                (1.0 / sum_abs(&g)).min(1.0)
            } else {
                1.0
            };
            let start = Point {
                step: 0.0,
                value,
                slope,
                gradient: g.shallow_clone(),
            };
            let budget = self.max_evaluations.saturating_sub(evaluations.get());
            let found = wolfe_search(
                &mut |t| {
                    let xt = &x + &d * t;
                    let (v, gt) = eval(&xt)?;
                    Ok(Point {
                        step: t,
                        value: v,
                        slope: dot(&gt, &d),
                        gradient: gt,
                    })
                },
                &start,
                first,
                budget.min(25),
            )?;
            iterations += 1;
            let Some(p) = found else {
                break (
                    false,
                    "the line search found no acceptable step".to_string(),
                );
            };
            let s = &d * p.step;
            let y = &p.gradient - &g;
            let sy = dot(&s, &y);
            if sy > 1e-10 * dot(&y, &y) {
                if memory.len() == self.memory {
                    drop(memory.remove(0));
                }
                memory.push((s.shallow_clone(), y, 1.0 / sy));
            }
            x += s;
            let decrease = value - p.value;
            value = p.value;
            g = p.gradient;
            if decrease.abs() <= self.value_tolerance * value.abs().max(1.0) {
                break (true, format!("value change below {}", self.value_tolerance));
            }
            if evaluations.get() >= self.max_evaluations {
                break (false, format!("{} evaluations", self.max_evaluations));
            }
        };
        Ok(Minimum {
            gradient_norm: max_abs(&g),
            x,
            value,
            iterations,
            evaluations: evaluations.get(),
            converged,
            reason,
        })
    }
}

/// The two-loop recursion: `-H g` with `H` the L-BFGS inverse Hessian of
/// the remembered `(s, y, 1 / s.y)`, scaled by `s.y / y.y` of the newest.
fn direction(g: &Tensor, memory: &[(Tensor, Tensor, f64)]) -> Tensor {
    let mut q = -g;
    let mut alphas = Vec::with_capacity(memory.len());
    for (s, y, rho) in memory.iter().rev() {
        let a = rho * dot(s, &q);
        q -= y * a;
        alphas.push(a);
    }
    if let Some((s, y, _)) = memory.last() {
        q *= dot(s, y) / dot(y, y);
    }
    for ((s, y, rho), a) in memory.iter().zip(alphas.into_iter().rev()) {
        let b = rho * dot(y, &q);
        q += s * (a - b);
    }
    q
}

/// A step along the direction that satisfies the strong Wolfe conditions
/// (sufficient decrease c1 = 1e-4, curvature c2 = 0.9), or `None` when
/// `budget` evaluations did not find one.
fn wolfe_search(
    phi: &mut dyn FnMut(f64) -> Result<Point>,
    start: &Point,
    first: f64,
    budget: usize,
) -> Result<Option<Point>> {
    const C1: f64 = 1e-4;
    const C2: f64 = 0.9;
    let armijo = |p: &Point| p.value <= start.value + C1 * p.step * start.slope;
    // Near the minimum the decrease is below f64's resolution of the value;
    // there Hager and Zhang's approximate Wolfe conditions, on slopes, decide
    // (value within rounding of the start, slope risen to between
    // C2 and 1 - 2 C1 of the start's).
    let resolution = 1e-14 * start.value.abs();
    let curvature = |p: &Point| {
        p.slope.abs() <= -C2 * start.slope
            || (p.value <= start.value + resolution
                && p.slope >= C2 * start.slope
                && p.slope <= (2.0 * C1 - 1.0) * start.slope)
    };
    let mut previous = Point {
        step: 0.0,
        value: start.value,
        slope: start.slope,
        gradient: start.gradient.shallow_clone(),
    };
    let mut t = first;
    let mut used = 0;
    while used < budget {
        let p = phi(t)?;
        used += 1;
        let near = p.value <= start.value + resolution;
        if !p.value.is_finite() || !(armijo(&p) || near) || (used > 1 && p.value > previous.value) {
            return zoom(phi, start, previous, p, budget - used, &armijo, &curvature);
        }
        if curvature(&p) {
            return Ok(Some(p));
        }
        if p.slope >= 0.0 {
            return zoom(phi, start, p, previous, budget - used, &armijo, &curvature);
        }
        t = p.step * 2.0;
        previous = p;
    }
    Ok(None)
}

/// Narrows `[lo, hi]` (lo: the lower value so far) to a strong Wolfe step.
fn zoom(
    phi: &mut dyn FnMut(f64) -> Result<Point>,
    start: &Point,
    mut lo: Point,
    mut hi: Point,
    budget: usize,
    armijo: &dyn Fn(&Point) -> bool,
    curvature: &dyn Fn(&Point) -> bool,
) -> Result<Option<Point>> {
    for _ in 0..budget {
        let t = interpolate(&lo, &hi);
        if (t - lo.step).abs() < 1e-12 * lo.step.abs().max(1.0) {
            break;
        }
        let p = phi(t)?;
        let near = p.value <= start.value + 1e-14 * start.value.abs();
        if !p.value.is_finite() || !(armijo(&p) || near) || p.value > lo.value {
            hi = p;
        } else {
            if curvature(&p) {
                return Ok(Some(p));
            }
            if p.slope * (hi.step - lo.step) >= 0.0 {
                hi = lo;
            }
            lo = p;
        }
    }
    // The best point with a sufficient decrease is still a step forward.
    Ok((lo.step > 0.0 && lo.value < start.value).then_some(lo))
}

/// The minimiser of the cubic through two points' values and slopes, kept
/// well inside the interval (bisection where the cubic does not help).
fn interpolate(a: &Point, b: &Point) -> f64 {
    let (lo, hi) = (a.step.min(b.step), a.step.max(b.step));
    let width = hi - lo;
    let bisect = lo + 0.5 * width;
    if !b.value.is_finite() {
        return bisect;
    }
    let d1 = a.slope + b.slope - 3.0 * (a.value - b.value) / (a.step - b.step);
    let disc = d1 * d1 - a.slope * b.slope;
    if disc < 0.0 {
        return bisect;
    }
    let d2 = (b.step - a.step).signum() * disc.sqrt();
    let t = b.step - (b.step - a.step) * (b.slope + d2 - d1) / (b.slope - a.slope + 2.0 * d2);
    if t.is_finite() && t > lo + 0.1 * width && t < hi - 0.1 * width {
        t
    } else {
        bisect
    }
}

// The three helpers below see the solver's own f64 vectors `[P]` on one
// device (`minimize` checks and converts every gradient): they cannot fail.
fn dot(a: &Tensor, b: &Tensor) -> f64 {
    a.dot(b).double_value(&[])
}

fn max_abs(t: &Tensor) -> f64 {
    t.abs().max().double_value(&[])
}

fn sum_abs(t: &Tensor) -> f64 {
    t.abs().sum(Kind::Double).double_value(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn vec(v: &[f64]) -> Tensor {
        Tensor::from_slice(v)
    }

    /// f = 0.5 x'Ax - b'x with A symmetric positive definite: the minimum
    /// is A^-1 b, found to the solver's tolerance.
    #[test]
    fn a_quadratic_ends_at_the_solution_of_its_linear_system() {
        let n = 12;
        let m = crate::runtime::rng::with_torch_seed(3, || {
            Tensor::randn([n, n], (Kind::Double, Device::Cpu))
        });
        let a = m.matmul(&m.transpose(0, 1)) + Tensor::eye(n, (Kind::Double, Device::Cpu));
        let b = Tensor::arange(n, (Kind::Double, Device::Cpu)) - 5.0;
        let want = Tensor::linalg_solve(&a, &b, true);
        let r = Lbfgs::default()
            .minimize(&Tensor::zeros([n], (Kind::Double, Device::Cpu)), |x| {
                let ax = a.mv(x);
                Ok((0.5 * dot(x, &ax) - dot(&b, x), ax - &b))
            })
            .unwrap();
        assert!(r.converged, "{}", r.reason);
        let err = max_abs(&(&r.x - &want));
        assert!(err < 1e-7, "{err}");
        let fmin = -0.5 * dot(&b, &want);
        assert!((r.value - fmin).abs() < 1e-10 * fmin.abs());
    }

    fn rosenbrock(x: &Tensor) -> Result<(f64, Tensor)> {
        let v = Vec::<f64>::try_from(x)?;
        let n = v.len();
        let mut f = 0.0;
        let mut g = vec![0.0; n];
        for i in 0..n - 1 {
            let (a, b) = (v[i], v[i + 1]);
            f += 100.0 * (b - a * a).powi(2) + (1.0 - a).powi(2);
            g[i] += -400.0 * a * (b - a * a) - 2.0 * (1.0 - a);
            g[i + 1] += 200.0 * (b - a * a);
        }
        Ok((f, vec_of(&g)))
    }

    fn vec_of(g: &[f64]) -> Tensor {
        vec(g)
    }

    /// Rosenbrock's valley from the classic start (-1.2, 1), and in 10
    /// dimensions from all -1: the minimum is all ones, value 0.
    #[test]
    fn rosenbrock_ends_at_all_ones() {
        for start in [
            vec(&[-1.2, 1.0]),
            Tensor::full([10], -1.0, (Kind::Double, Device::Cpu)),
        ] {
            let r = Lbfgs::default().minimize(&start, rosenbrock).unwrap();
            assert!(r.converged, "{}", r.reason);
            assert!(r.value < 1e-14, "{}", r.value);
            let err = max_abs(&(&r.x - 1.0));
            assert!(err < 1e-6, "{err} after {} iterations", r.iterations);
            assert!(r.iterations < 200, "{}", r.iterations);
        }
    }

    #[test]
    fn a_bad_start_or_gradient_is_an_error() {
        let f = |x: &Tensor| Ok((0.0, x.shallow_clone()));
        assert!(Lbfgs::default()
            .minimize(&Tensor::zeros([2, 2], (Kind::Double, Device::Cpu)), f)
            .unwrap_err()
            .to_string()
            .contains("a non-empty vector [P]"));
        let wrong = |_: &Tensor| Ok((1.0, vec(&[1.0])));
        assert!(Lbfgs::default()
            .minimize(&vec(&[1.0, 2.0]), wrong)
            .unwrap_err()
            .to_string()
            .contains("gradient: expected the point's shape [2]"));
        let nan = |x: &Tensor| Ok((f64::NAN, x.shallow_clone()));
        assert!(Lbfgs::default()
            .minimize(&vec(&[1.0]), nan)
            .unwrap_err()
            .to_string()
            .contains("the function is NaN at the starting point"));
    }
}
