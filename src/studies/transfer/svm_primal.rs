//! The one-vs-rest squared-hinge SVM in the primal by Newton's method
//! with CG steps (liblinear's primal solver for `LinearSVC`, which
//! scikit-learn picks when there are more examples than features), each
//! class's Hessian products over its own margin violators, the classes'
//! evaluations together.
//!
//! Why per class: the one-vs-rest objective is a sum of independent
//! problems, and each has its own generalised Hessian `I + 2C x_A' x_A`
//! over the examples `A` inside its margin, typically a small part of
//! the split once the first Newton steps are taken. Fitting the classes
//! as one joint problem multiplies every example for every class in each
//! CG step, and keeps every class stepping until the slowest converges.
//! Here each Newton step gathers its class's violators once, and its CG
//! steps read only those rows, as does the preconditioner's diagonal.
//!
//! Why the evaluations together: each reads every example, and the
//! classes' runs ([`Run`]) wait for their next evaluation at the same
//! time, so one matrix product over the split serves all of them.

use super::dense::{column_squares, elements};
use crate::error::Result;
use crate::train::{Minimum, Newton, Run, Twice};
use std::cell::RefCell;
use std::rc::Rc;
use tch::{Device, Kind, Tensor};

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

/// Values, gradients and margin violators of one-vs-rest classes at
/// their points, in two passes over the features whatever the number of
/// classes: `x [N, D]`, the classes' targets `t [N, m]` (+1 or -1) and
/// points `theta [m, D + 1]` (`[w, b]` each). For each class: the value,
/// the gradient `[D + 1]` and the row numbers of the examples inside its
/// margin.
///
/// Why together: each class's evaluation reads every example once, a
/// memory-bound matrix-vector product over the whole split, where one
/// matrix product reads the split once for all classes (5,000 x 4,096:
/// 9 ms for 10 classes against 4 ms for each class alone).
fn evaluate_points(
    x: &Tensor,
    t: &Tensor,
    theta: &Tensor,
    c: f64,
) -> Result<Vec<(f64, Tensor, Tensor)>> {
    let d = x.size()[1];
    let m = theta.size()[0];
    let w = theta.f_narrow(1, 0, d)?;
    // [1, m]: a row to add to every example's scores.
    let b = theta.f_narrow(1, d, 1)?.f_tr()?;
    let z = x.f_matmul(&w.f_tr()?)?.f_add(&b)?;
    let slack = t.f_mul(&z)?.f_neg()?.f_add_scalar(1.0)?.f_relu()?;
    // -2C t * slack: zero outside the margins.
    let factor = t.f_mul(&slack)?.f_mul_scalar(-2.0 * c)?;
    let grad_w = w.f_add(&factor.f_tr()?.f_matmul(x)?)?;
    let grad_b = b.f_add(&factor.f_sum_dim_intlist(0, true, Kind::Double)?)?;
    let grads = Tensor::f_cat(&[grad_w, grad_b.f_tr()?], 1)?;
    let values = slack
        .f_square()?
        .f_sum_dim_intlist(0, false, Kind::Double)?
        .f_mul_scalar(c)?
        .f_add(
            &theta
                .f_square()?
                .f_sum_dim_intlist(1, false, Kind::Double)?
                .f_mul_scalar(0.5)?,
        )?;
    let values = Vec::<f64>::try_from(&values)?;
    let inside = slack.f_gt(0.0)?;
    (0..m)
        .map(|j| {
            let rows = inside.f_select(1, j)?.f_nonzero()?.f_view([-1])?;
            Ok((values[j as usize], grads.f_select(0, j)?, rows))
        })
        .collect()
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
    /// The violators' rows of the state whose CG ran last, shared by all
    /// classes of a fit, and the count that names their states.
    gathered: Rc<RefCell<Gathered>>,
}

/// The margin violators at one point of one class: their row numbers
/// `[M]`. Their rows are gathered when the point's first Hessian product
/// (or diagonal) asks for them, into the buffer that all classes of a fit
/// share, since CG runs for one class at a time: a rejected trial gathers
/// nothing, and the classes' violators are never all held at once.
struct Violators {
    /// Which of the states sharing the buffers they are.
    name: u64,
    rows: Tensor,
}

/// Rows gathered for one state, in buffers kept between points. A fresh
/// buffer of tens of MiB per point is a fresh `mmap` whose pages fault in
/// one by one: the gather took four times as long as copying into a kept
/// one.
#[derive(Default)]
struct Gathered {
    /// States named so far: the next state's name.
    named: u64,
    /// Whose rows the buffers hold.
    name: Option<u64>,
    /// The rows, `[M, D]` f64 (for the preconditioner's diagonal), a view
    /// of `buffer`, and the same in f32 (for the Hessian products), a view
    /// of `buffer32`.
    rows: Option<(Tensor, Tensor)>,
    buffer: Option<Tensor>,
    buffer32: Option<Tensor>,
}

/// `buffer` if it holds `needed` elements, else a new one of `kind`.
fn room(buffer: Option<Tensor>, needed: i64, kind: Kind, device: Device) -> Result<Tensor> {
    Ok(match buffer {
        Some(buffer) if buffer.numel() as i64 >= needed => buffer,
        _ => Tensor::f_empty([needed], (kind, device))?,
    })
}

impl ClassHinge<'_> {
    /// `(w [D], b [1])` of a parameter vector `[D + 1]`.
    fn split(&self, theta: &Tensor) -> Result<(Tensor, Tensor)> {
        Ok((theta.f_narrow(0, 0, self.d)?, theta.f_narrow(0, self.d, 1)?))
    }

    /// The state at the next point, whose violators are `rows`.
    fn violators(&mut self, rows: Tensor) -> Violators {
        let mut gathered = self.gathered.borrow_mut();
        gathered.named += 1;
        Violators {
            name: gathered.named,
            rows,
        }
    }

    /// The violators' rows of `x`, `[M, D]`, in f64 and in f32: `x` itself
    /// (both) when every row is in (the first point, zero, has every
    /// example inside its margin), else their copies in the shared
    /// buffers, gathered again only when the buffers hold another state's
    /// (replaced by larger ones when too small). Used at once: the next
    /// state's gathering overwrites them.
    fn rows(&self, state: &Violators) -> Result<(Tensor, Tensor)> {
        let m = state.rows.size()[0];
        if m == self.x.size()[0] {
            return Ok((self.x.shallow_clone(), self.x.shallow_clone()));
        }
        let mut gathered = self.gathered.borrow_mut();
        if let (Some(name), Some((rows, rows32))) = (gathered.name, &gathered.rows) {
            if name == state.name {
                return Ok((rows.shallow_clone(), rows32.shallow_clone()));
            }
        }
        let needed = m * self.d;
        let device = self.x.device();
        let buffer = room(gathered.buffer.take(), needed, Kind::Double, device)?;
        let buffer32 = room(gathered.buffer32.take(), needed, Kind::Float, device)?;
        // Exactly the output's shape: libtorch writes it in place.
        let rows = buffer.f_narrow(0, 0, needed)?.f_view([m, self.d])?;
        let rows = self.x.f_index_select_out(&rows, 0, &state.rows)?;
        let mut rows32 = buffer32.f_narrow(0, 0, needed)?.f_view([m, self.d])?;
        rows32.f_copy_(&rows)?;
        gathered.name = Some(state.name);
        gathered.rows = Some((rows.shallow_clone(), rows32.shallow_clone()));
        gathered.buffer = Some(buffer);
        gathered.buffer32 = Some(buffer32);
        Ok((rows, rows32))
    }
}

impl Twice for ClassHinge<'_> {
    type State = Violators;

    fn evaluate(&mut self, theta: &Tensor) -> Result<(f64, Tensor, Violators)> {
        let t = self.t.f_unsqueeze(1)?;
        let mut one = evaluate_points(self.x, &t, &theta.f_unsqueeze(0)?, self.c)?;
        let (value, grad, rows) = one.pop().expect("one point, one evaluation");
        Ok((value, grad, self.violators(rows)))
    }

    /// In f32 over the gathered violators (f64 over all rows at the
    /// start, where nothing is gathered): the products only shape each
    /// Newton step, which is then judged by f64 values and gradients, so
    /// the minimum is the f64 objective's, and half the bytes read make
    /// the memory-bound products about 10% faster in all.
    fn hessian_times(&mut self, state: &Violators, v: &Tensor) -> Result<Tensor> {
        let (_, x) = self.rows(state)?;
        let (vw, vb) = self.split(v)?;
        let u = x
            .f_mv(&vw.f_to_kind(x.kind())?)?
            .f_to_kind(Kind::Double)?
            .f_add(&vb)?
            .f_mul_scalar(2.0 * self.c)?;
        let xu = x.f_tr()?.f_mv(&u.f_to_kind(x.kind())?)?;
        let hw = vw.f_add(&xu.f_to_kind(Kind::Double)?)?;
        let hb = vb.f_add(&u.f_sum(Kind::Double)?.f_view([1])?)?;
        Ok(Tensor::f_cat(&[hw, hb], 0)?)
    }

    /// `1 + 2C sum_A x_ij^2` per feature, `1 + 2C |A|` for the bias.
    fn hessian_diagonal(&mut self, state: &Violators) -> Result<Option<Tensor>> {
        let d = self.d as usize;
        let (x, _) = self.rows(state)?;
        let rows = elements(&x)?;
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
/// `0..k`, each class minimised from zero by `solver`; the objective is
/// the sum of the classes' (the joint problem's value).
///
/// The classes step together: every class still running is evaluated at
/// its next point in one pass over the data ([`evaluate_points`]), then
/// each in turn takes its Newton step (its CG over its own violators) on
/// libtorch's threads. Each class's steps are those it would take alone.
pub(super) fn fit(
    solver: &Newton,
    x: &Tensor,
    y: &Tensor,
    k: i64,
    c: f64,
) -> Result<(Tensor, Tensor, f64)> {
    let d = x.size()[1];
    // The Hessian products read the rows as memory: no copy if they are.
    let x = &x.f_to_kind(Kind::Double)?.f_contiguous()?;
    let all_targets = targets(y, k)?;
    let gathered = Rc::new(RefCell::new(Gathered::default()));
    let mut problems = (0..k)
        .map(|class| {
            Ok(ClassHinge {
                x,
                t: all_targets.f_select(1, class)?.f_contiguous()?,
                c,
                d,
                gathered: Rc::clone(&gathered),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let start = Tensor::f_zeros([d + 1], (Kind::Double, x.device()))?;
    let mut runs = (0..k)
        .map(|_| solver.start(&start))
        .collect::<Result<Vec<Run<Violators>>>>()?;
    let mut found: Vec<Option<Minimum>> = (0..k).map(|_| None).collect();
    let mut open: Vec<usize> = (0..k as usize).collect();
    while !open.is_empty() {
        let classes: Vec<i64> = open.iter().map(|&j| j as i64).collect();
        let t = all_targets.f_index_select(1, &Tensor::from_slice(&classes))?;
        let points: Vec<&Tensor> = open.iter().map(|&j| runs[j].point()).collect();
        let evaluated = evaluate_points(x, &t, &Tensor::f_stack(&points, 0)?, c)?;
        let mut still = Vec::with_capacity(open.len());
        for (&j, (value, grad, rows)) in open.iter().zip(evaluated) {
            let state = problems[j].violators(rows);
            match runs[j].next(&mut problems[j], value, grad, state)? {
                Some(minimum) => found[j] = Some(minimum),
                None => still.push(j),
            }
        }
        open = still;
    }
    let mut weights = Vec::with_capacity(k as usize);
    let mut biases = Vec::with_capacity(k as usize);
    let mut objective = 0.0;
    for minimum in found.into_iter().flatten() {
        weights.push(minimum.x.f_narrow(0, 0, d)?);
        biases.push(minimum.x.f_narrow(0, d, 1)?);
        objective += minimum.value;
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
    use crate::train::NewtonSteps;
    use tch::Device;

    fn problem<'a>(x: &'a Tensor, y: &Tensor, class: i64) -> ClassHinge<'a> {
        ClassHinge {
            x,
            t: targets(y, 4).unwrap().select(1, class).contiguous(),
            c: 0.7,
            d: x.size()[1],
            gathered: Rc::new(RefCell::new(Gathered::default())),
        }
    }

    /// Value, gradient, generalised Hessian products (autograd's double
    /// backward takes relu's derivative as 0 at the kink too) and the
    /// diagonal, against autograd of the written objective. With 300
    /// examples most violate their margins near zero, enough rows for the
    /// products to split over threads where libtorch has more than one.
    /// The products are in f32 (gathered violators): to f32's precision
    /// of the largest entry; the diagonal, summed in f64, is exact.
    #[test]
    fn one_class_written_out_equals_autograd() {
        tch::manual_seed(3);
        let (n, d, k) = (300, 7, 4);
        let opts = (Kind::Double, Device::Cpu);
        let x = Tensor::randn([n, d], opts);
        let y = Tensor::randint(k, [n], (Kind::Int64, Device::Cpu));
        let close = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
        // Relative to the largest entry of `b`.
        let near = |a: &Tensor, b: &Tensor| close(a, b) / b.abs().max().double_value(&[]);
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
            assert!(near(&hv, &h) < 1e-6, "H v {}", near(&hv, &h));
            assert!(near(&hv, &h) > 0.0, "the products are in f32");

            let eye = Tensor::eye(d + 1, opts);
            let columns: Vec<Tensor> = (0..d + 1)
                .map(|j| f.hessian_times(&state, &eye.get(j)).unwrap())
                .collect();
            let from_products = Tensor::stack(&columns, 0).diagonal(0, 0, 1);
            let diagonal = f.hessian_diagonal(&state).unwrap().unwrap();
            assert!(near(&diagonal, &from_products) < 1e-6, "diagonal");
            let (rows, _) = f.rows(&state).unwrap();
            let exact = rows.square().sum_dim_intlist(0, false, Kind::Double) * 1.4 + 1.0;
            assert!(close(&diagonal.narrow(0, 0, d), &exact) < 1e-10, "diagonal");
        }
    }

    /// States of two classes sharing the buffer: each Hessian product
    /// reads its own state's violators, gathered again when the other
    /// class's overwrote them; a rejected trial gathers nothing.
    #[test]
    fn each_state_reads_its_own_violators_from_the_shared_buffer() {
        tch::manual_seed(4);
        let opts = (Kind::Double, Device::Cpu);
        let x = Tensor::randn([60, 5], opts);
        let y = Tensor::randint(4, [60], (Kind::Int64, Device::Cpu));
        let mut one = problem(&x, &y, 1);
        let mut two = problem(&x, &y, 2);
        two.gathered = Rc::clone(&one.gathered);
        let v = Tensor::randn([6], opts);
        let (_, _, here) = one.evaluate(&(Tensor::randn([6], opts) * 0.5)).unwrap();
        let before = one.hessian_times(&here, &v).unwrap();
        assert_eq!(one.gathered.borrow().name, Some(here.name));
        for trial in 0..4 {
            // A rejected trial of the same class: evaluated, then dropped.
            let scale = (trial + 1) as f64;
            let (_, _, rejected) = one.evaluate(&(Tensor::randn([6], opts) * scale)).unwrap();
            drop(rejected);
            assert_eq!(one.gathered.borrow().name, Some(here.name));
            // The other class's CG overwrites the buffer.
            let (_, _, other) = two.evaluate(&(Tensor::randn([6], opts) * scale)).unwrap();
            let _ = two.hessian_times(&other, &v).unwrap();
            assert_eq!(one.gathered.borrow().name, Some(other.name));
            let after = one.hessian_times(&here, &v).unwrap();
            assert!(before.equal(&after));
        }
        // At zero every example violates its margin: the rows are x itself.
        let (_, _, at_zero) = one.evaluate(&Tensor::zeros([6], opts)).unwrap();
        let (rows, rows32) = one.rows(&at_zero).unwrap();
        assert_eq!(rows.data_ptr(), x.data_ptr());
        assert_eq!(rows32.data_ptr(), x.data_ptr());
    }

    /// Several classes evaluated in one pass give what each gives alone.
    #[test]
    fn classes_evaluated_together_equal_each_alone() {
        tch::manual_seed(6);
        let opts = (Kind::Double, Device::Cpu);
        let (n, d) = (80, 9);
        let x = Tensor::randn([n, d], opts);
        let y = Tensor::randint(4, [n], (Kind::Int64, Device::Cpu));
        let classes = Tensor::from_slice(&[3i64, 0, 2]);
        let t = targets(&y, 4).unwrap().index_select(1, &classes);
        let theta = Tensor::randn([3, d + 1], opts) * 0.4;
        let together = evaluate_points(&x, &t, &theta, 0.7).unwrap();
        for (j, (value, grad, rows)) in together.into_iter().enumerate() {
            let class = classes.int64_value(&[j as i64]);
            let mut alone = problem(&x, &y, class);
            let (v, g, state) = alone.evaluate(&theta.get(j as i64)).unwrap();
            assert!((value - v).abs() < 1e-10 * v.abs().max(1.0), "{value} {v}");
            let err = (&grad - &g).abs().max().double_value(&[]);
            assert!(err < 1e-10, "{err}");
            assert!(rows.equal(&state.rows));
            assert!(rows.size()[0] > 0 && rows.size()[0] < n);
        }
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
        for steps in [NewtonSteps::TrustRegion, NewtonSteps::LineSearch] {
            let solver = Newton {
                steps,
                gradient_tolerance: 1e-7,
                ..Newton::default()
            };
            let (w, b, value) = fit(&solver, &x, &y, 3, 0.5).unwrap();
            assert_eq!(w.size(), [3, 6]);
            assert_eq!(b.size(), [3]);
            let (w, b) = (w.set_requires_grad(true), b.set_requires_grad(true));
            let whole = objective(&x, &targets(&y, 3).unwrap(), &w, &b, 0.5).unwrap();
            assert!((whole.double_value(&[]) - value).abs() < 1e-9 * value);
            // Without a preconditioner (no squared features made): the same minimum.
            let plain = Newton {
                preconditioner_mix: 0.0,
                ..solver
            };
            let (_, _, plain_value) = fit(&plain, &x, &y, 3, 0.5).unwrap();
            assert!(
                (plain_value - value).abs() < 1e-9 * value,
                "{plain_value} against {value}"
            );
            // Stepping together, each class takes the steps it takes alone.
            for class in 0..3 {
                let mut alone = ClassHinge {
                    x: &x,
                    t: targets(&y, 3).unwrap().select(1, class).contiguous(),
                    c: 0.5,
                    d: 6,
                    gathered: Rc::new(RefCell::new(Gathered::default())),
                };
                let found = solver
                    .minimize(&Tensor::zeros([7], opts), &mut alone)
                    .unwrap();
                let together =
                    Tensor::cat(&[w.get(class).detach(), b.get(class).detach().view([1])], 0);
                let err = (&found.x - &together).abs().max().double_value(&[]);
                assert!(err < 1e-9, "class {class}: {err}");
            }
            let grads = Tensor::run_backward(&[&whole], &[&w, &b], false, false);
            for g in grads {
                let largest = g.abs().max().double_value(&[]);
                assert!(largest < 1e-6, "{steps:?}: {largest}");
            }
        }
    }
}
