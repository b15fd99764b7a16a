//! The one-vs-rest squared-hinge SVM in the primal by trust-region Newton,
//! one class at a time, each class's Hessian products over its own margin
//! violators (liblinear's primal solver for `LinearSVC`, which
//! scikit-learn picks when there are more examples than features).
//!
//! Why per class: the one-vs-rest objective is a sum of independent
//! problems, and each has its own generalised Hessian `I + 2C x_A' x_A`
//! over the examples `A` inside its margin, typically a small part of
//! the split once the first Newton steps are taken. Fitting the classes
//! as one joint problem multiplies every example for every class in each
//! CG step, and keeps every class stepping until the slowest converges.
//! Here each Newton step gathers its class's violators once, and its CG
//! steps read only those rows, as does the preconditioner's diagonal.

use super::dense::{column_squares, elements};
use crate::error::Result;
use crate::train::{TrustRegion, Twice};
use std::cell::RefCell;
use std::rc::Rc;
use tch::{Kind, Tensor};

/// The one-vs-rest targets of labels `y [N]` in `0..k`: `[N, K]`, +1 for
/// the example's class and -1 for the others (f64).
pub(super) fn targets(y: &Tensor, k: i64) -> Result<Tensor> {
    Ok(y.f_one_hot(k)?
        .f_to_kind(Kind::Double)?
        .f_mul_scalar(2.0)?
        .f_sub_scalar(1.0)?)
}

/// The whole probe's objective, a scalar tensor (differentiable): `C
/// sum_ik max(0, 1 - t_ik z_ik)^2 + (|W|^2 + |b|^2) / 2` with `z = x W^T +
/// b`, for features `x [N, D]`, [`targets`] `[N, K]`, `W [K, D]`, `b [K]`.
pub(super) fn objective(
    x: &Tensor,
    targets: &Tensor,
    w: &Tensor,
    b: &Tensor,
    c: f64,
) -> Result<Tensor> {
    let z = x.f_matmul(&w.f_tr()?)?.f_add(b)?;
    let slack = targets.f_mul(&z)?.f_neg()?.f_add_scalar(1.0)?.f_relu()?;
    let penalty = w
        .f_square()?
        .f_sum(Kind::Double)?
        .f_add(&b.f_square()?.f_sum(Kind::Double)?)?;
    Ok(slack
        .f_square()?
        .f_sum(Kind::Double)?
        .f_mul_scalar(c)?
        .f_add(&penalty.f_mul_scalar(0.5)?)?)
}

/// One class's problem over `theta = [w (D), b]`: `C sum_i max(0, 1 -
/// t_i (w x_i + b))^2 + (|w|^2 + b^2) / 2`, with `t_i = +1` for the
/// class's examples and -1 for the others (f64 throughout).
struct ClassHinge<'a> {
    /// Features `[N, D]`, contiguous f64 on the CPU.
    x: &'a Tensor,
    /// Targets `[N]`, +1 or -1.
    t: Tensor,
    c: f64,
    d: i64,
    /// Room for the violators' rows, `[M * D]` each, kept between points.
    buffers: Rc<RefCell<Vec<Tensor>>>,
}

/// The margin violators at a point: their rows of `x`, `[M, D]`, gathered
/// once per point for the CG steps there, into a buffer that goes back to
/// the problem's pool when the point is dropped. A fresh buffer of tens of
/// MiB per point is a fresh `mmap` whose pages fault in one by one: the
/// gather took four times as long as copying into a kept one.
struct Violators {
    x: Tensor,
    buffer: Option<Tensor>,
    pool: Rc<RefCell<Vec<Tensor>>>,
}

impl Drop for Violators {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            self.pool.borrow_mut().push(buffer);
        }
    }
}

impl ClassHinge<'_> {
    /// `(w [D], b [1])` of a parameter vector `[D + 1]`.
    fn split(&self, theta: &Tensor) -> Result<(Tensor, Tensor)> {
        Ok((theta.f_narrow(0, 0, self.d)?, theta.f_narrow(0, self.d, 1)?))
    }

    /// The rows `rows` of `x`, `[M, D]`: `x` itself when every row is in
    /// (the first point, zero, has every example inside its margin), else
    /// copied into a kept buffer, replaced by a larger one when too small.
    fn gather(&self, rows: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        let m = rows.size()[0];
        if m == self.x.size()[0] {
            return Ok((self.x.shallow_clone(), None));
        }
        let needed = m * self.d;
        let buffer = match self.buffers.borrow_mut().pop() {
            Some(buffer) if buffer.numel() as i64 >= needed => buffer,
            _ => Tensor::f_empty([needed], (Kind::Double, self.x.device()))?,
        };
        // Exactly the output's shape: libtorch writes it in place.
        let view = buffer.f_narrow(0, 0, needed)?.f_view([m, self.d])?;
        let view = self.x.f_index_select_out(&view, 0, rows)?;
        Ok((view, Some(buffer)))
    }
}

impl Twice for ClassHinge<'_> {
    type State = Violators;

    fn evaluate(&mut self, theta: &Tensor) -> Result<(f64, Tensor, Violators)> {
        let (w, b) = self.split(theta)?;
        let z = self.x.f_mv(&w)?.f_add(&b)?;
        let slack = self.t.f_mul(&z)?.f_neg()?.f_add_scalar(1.0)?.f_relu()?;
        let inside = slack.f_gt(0.0)?;
        let rows = inside.f_nonzero()?.f_view([-1])?;
        let (x_active, buffer) = self.gather(&rows)?;
        // -2C t * slack on the violators (zero elsewhere).
        let factor = self
            .t
            .f_mul(&slack)?
            .f_index_select(0, &rows)?
            .f_mul_scalar(-2.0 * self.c)?;
        let grad_w = w.f_add(&x_active.f_tr()?.f_mv(&factor)?)?;
        let grad_b = b.f_add(&factor.f_sum(Kind::Double)?.f_view([1])?)?;
        let value = self.c * slack.f_square()?.f_sum(Kind::Double)?.f_double_value(&[])?
            + 0.5 * theta.f_square()?.f_sum(Kind::Double)?.f_double_value(&[])?;
        Ok((
            value,
            Tensor::f_cat(&[grad_w, grad_b], 0)?,
            Violators {
                x: x_active,
                buffer,
                pool: Rc::clone(&self.buffers),
            },
        ))
    }

    fn hessian_times(&mut self, state: &Violators, v: &Tensor) -> Result<Tensor> {
        let (vw, vb) = self.split(v)?;
        let u = state.x.f_mv(&vw)?.f_add(&vb)?.f_mul_scalar(2.0 * self.c)?;
        let hw = vw.f_add(&state.x.f_tr()?.f_mv(&u)?)?;
        let hb = vb.f_add(&u.f_sum(Kind::Double)?.f_view([1])?)?;
        Ok(Tensor::f_cat(&[hw, hb], 0)?)
    }

    /// `1 + 2C sum_A x_ij^2` per feature, `1 + 2C |A|` for the bias.
    fn hessian_diagonal(&mut self, state: &Violators) -> Result<Option<Tensor>> {
        let d = self.d as usize;
        let rows = elements(&state.x)?;
        let m = (rows.len() / d.max(1)) as f64;
        let mut squares = vec![0.0; d];
        column_squares(rows, &mut squares);
        let w = Tensor::from_slice(&squares)
            .f_mul_scalar(2.0 * self.c)?
            .f_add_scalar(1.0)?;
        let b = Tensor::from_slice(&[1.0 + 2.0 * self.c * m]);
        Ok(Some(Tensor::f_cat(&[w, b], 0)?))
    }
}

/// `(W [K, D], b [K], objective)`: the one-vs-rest squared-hinge SVM of
/// strength `c` on features `x [N, D]` (f64) with labels `y [N]` in
/// `0..k`, each class minimised from zero by `solver`, one after the
/// other (each on libtorch's threads); the objective is the sum of the
/// classes' (the joint problem's value).
pub(super) fn fit(
    solver: &TrustRegion,
    x: &Tensor,
    y: &Tensor,
    k: i64,
    c: f64,
) -> Result<(Tensor, Tensor, f64)> {
    let d = x.size()[1];
    // The Hessian products read the rows as memory: no copy if they are.
    let x = &x.f_to_kind(Kind::Double)?.f_contiguous()?;
    // Two buffers at most: the current point's and a trial's; shared by
    // the classes, whose margins hold similar numbers of examples.
    let buffers = Rc::new(RefCell::new(Vec::new()));
    let mut weights = Vec::with_capacity(k as usize);
    let mut biases = Vec::with_capacity(k as usize);
    let mut objective = 0.0;
    let all_targets = targets(y, k)?;
    for class in 0..k {
        let mut problem = ClassHinge {
            x,
            t: all_targets.f_select(1, class)?.f_contiguous()?,
            c,
            d,
            buffers: Rc::clone(&buffers),
        };
        let start = Tensor::f_zeros([d + 1], (Kind::Double, x.device()))?;
        let found = solver.minimize(&start, &mut problem)?;
        weights.push(found.x.f_narrow(0, 0, d)?);
        biases.push(found.x.f_narrow(0, d, 1)?);
        objective += found.value;
    }
    Ok((
        Tensor::f_stack(&weights, 0)?,
        Tensor::f_cat(&biases, 0)?,
        objective,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn problem<'a>(x: &'a Tensor, y: &Tensor, class: i64) -> ClassHinge<'a> {
        ClassHinge {
            x,
            t: targets(y, 4).unwrap().select(1, class).contiguous(),
            c: 0.7,
            d: x.size()[1],
            buffers: Rc::new(RefCell::new(Vec::new())),
        }
    }

    /// Value, gradient, generalised Hessian products (autograd's double
    /// backward takes relu's derivative as 0 at the kink too) and the
    /// diagonal, against autograd of the written objective. With 300
    /// examples most violate their margins near zero, enough rows for the
    /// products to split over threads where libtorch has more than one.
    #[test]
    fn one_class_written_out_equals_autograd() {
        tch::manual_seed(3);
        let (n, d, k) = (300, 7, 4);
        let opts = (Kind::Double, Device::Cpu);
        let x = Tensor::randn([n, d], opts);
        let y = Tensor::randint(k, [n], (Kind::Int64, Device::Cpu));
        let close = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
        for class in 0..k {
            let mut f = problem(&x, &y, class);
            let theta = Tensor::randn([d + 1], opts) * 0.3;
            let v = Tensor::randn([d + 1], opts);
            let (value, grad, state) = f.evaluate(&theta).unwrap();
            let hv = f.hessian_times(&state, &v).unwrap();

            let t = theta.detach().set_requires_grad(true);
            let by_autograd = objective(
                &x,
                &f.t.unsqueeze(1),
                &t.narrow(0, 0, d).unsqueeze(0),
                &t.narrow(0, d, 1),
                0.7,
            )
            .unwrap();
            let g = Tensor::run_backward(&[&by_autograd], &[&t], true, true)
                .pop()
                .unwrap();
            let h = Tensor::run_backward(&[&(&g * &v).sum(Kind::Double)], &[&t], false, false)
                .pop()
                .unwrap();
            assert!(
                (value - by_autograd.double_value(&[])).abs() < 1e-10,
                "value"
            );
            assert!(close(&grad, &g) < 1e-10, "gradient {}", close(&grad, &g));
            assert!(close(&hv, &h) < 1e-10, "H v {}", close(&hv, &h));

            let eye = Tensor::eye(d + 1, opts);
            let columns: Vec<Tensor> = (0..d + 1)
                .map(|j| f.hessian_times(&state, &eye.get(j)).unwrap())
                .collect();
            let from_products = Tensor::stack(&columns, 0).diagonal(0, 0, 1);
            let diagonal = f.hessian_diagonal(&state).unwrap().unwrap();
            assert!(close(&diagonal, &from_products) < 1e-10, "diagonal");
        }
    }

    /// The trust region keeps the current point's state while it tries
    /// another and drops a rejected trial's: a kept buffer must never be
    /// written while the state that holds it lives.
    #[test]
    fn a_live_state_keeps_its_violators_while_trials_come_and_go() {
        tch::manual_seed(4);
        let opts = (Kind::Double, Device::Cpu);
        let x = Tensor::randn([60, 5], opts);
        let y = Tensor::randint(4, [60], (Kind::Int64, Device::Cpu));
        let mut f = problem(&x, &y, 1);
        let here = Tensor::randn([6], opts) * 0.5;
        let v = Tensor::randn([6], opts);
        let (_, _, state) = f.evaluate(&here).unwrap();
        let before = f.hessian_times(&state, &v).unwrap();
        for trial in 0..4 {
            // Points with other violators, each dropped (a rejected trial).
            let (_, _, other) = f
                .evaluate(&(Tensor::randn([6], opts) * (trial + 1) as f64))
                .unwrap();
            drop(other);
        }
        let after = f.hessian_times(&state, &v).unwrap();
        assert!(before.equal(&after));
        assert!(f.buffers.borrow().len() <= 1);
        // At zero every example violates its margin: no copy at all.
        let (_, _, at_zero) = f.evaluate(&Tensor::zeros([6], opts)).unwrap();
        assert!(at_zero.buffer.is_none());
        assert_eq!(at_zero.x.data_ptr(), x.data_ptr());
    }

    /// Class by class, the sum of the classes' minima is the joint
    /// objective at the stacked solution, and the solution is the minimum
    /// (the gradient of the written objective vanishes).
    #[test]
    fn the_classes_together_minimise_the_whole_objective() {
        tch::manual_seed(5);
        let opts = (Kind::Double, Device::Cpu);
        let x = Tensor::randn([200, 6], opts);
        let y = x.narrow(1, 0, 3).argmax(1, false);
        let solver = TrustRegion {
            gradient_tolerance: 1e-7,
            ..TrustRegion::default()
        };
        let (w, b, value) = fit(&solver, &x, &y, 3, 0.5).unwrap();
        assert_eq!(w.size(), [3, 6]);
        assert_eq!(b.size(), [3]);
        let (w, b) = (w.set_requires_grad(true), b.set_requires_grad(true));
        let whole = objective(&x, &targets(&y, 3).unwrap(), &w, &b, 0.5).unwrap();
        assert!((whole.double_value(&[]) - value).abs() < 1e-9 * value);
        // Without a preconditioner (no squared features made): the same minimum.
        let plain = TrustRegion {
            preconditioner_mix: 0.0,
            ..solver
        };
        let (_, _, plain_value) = fit(&plain, &x, &y, 3, 0.5).unwrap();
        assert!(
            (plain_value - value).abs() < 1e-9 * value,
            "{plain_value} against {value}"
        );
        let grads = Tensor::run_backward(&[&whole], &[&w, &b], false, false);
        for g in grads {
            let largest = g.abs().max().double_value(&[]);
            assert!(largest < 1e-6, "{largest}");
        }
    }
}
