//! The Hessian by double backward against finite differences of the
//! gradient, Hessian-vector products against the matrix, Lanczos against
//! the exact spectrum, and critical-point search.

use deepscope::data::Order;
use deepscope::surface::hessian::{self, hvp, index, lanczos, loss_and_gradient, num_parameters};
use deepscope::zoo::{self, Activation};
use tch::{Device, Kind, Tensor};

fn tiny() -> (deepscope::model::Model, Tensor, Tensor) {
    let data = deepscope::data::digits().unwrap();
    let (x, y) = data
        .train
        .batches(200, Order::Sequential, false)
        .unwrap()
        .next()
        .unwrap();
    let model = zoo::mlp(&[1, 8, 8], &[6], 10, Activation::Tanh)
        .seed(1)
        .build(Device::Cpu)
        .unwrap();
    (model, x, y)
}

#[test]
fn the_exact_hessian_matches_finite_differences_of_the_gradient() {
    let (model, x, y) = tiny();
    let p = num_parameters(&model);
    assert_eq!(p, 64 * 6 + 6 + 6 * 10 + 10);
    let h = hessian::hessian(&model, &x, &y).unwrap();
    assert_eq!(h.size(), [p, p]);
    // Column j by central differences of the gradient along parameter j.
    let params = hessian::parameters(&model);
    let eps = 1e-3;
    for j in [0i64, 100, 390, 455] {
        let (mut t, mut k) = (0usize, j);
        while k >= params[t].numel() as i64 {
            k -= params[t].numel() as i64;
            t += 1;
        }
        let shift = |d: f64| {
            tch::no_grad(|| {
                let flat = params[t].reshape([-1]);
                let _ = flat.get(k).f_add_scalar_(d);
            })
        };
        shift(eps);
        let (_, gp) = loss_and_gradient(&model, &x, &y).unwrap();
        shift(-2.0 * eps);
        let (_, gm) = loss_and_gradient(&model, &x, &y).unwrap();
        shift(eps);
        let fd = (gp - gm) / (2.0 * eps);
        let col = h.select(1, j);
        let err = (&fd - &col).abs().max().double_value(&[]);
        let scale = col.abs().max().double_value(&[]).max(1e-3);
        assert!(
            err < 2e-2 * scale,
            "column {j}: finite-difference error {err:e} at scale {scale:e}"
        );
    }
    // Hessian-vector products agree with the matrix.
    let v = deepscope::rng::with_torch_seed(4, || Tensor::randn([p], (Kind::Double, Device::Cpu)));
    let hv = hvp(&model, &x, &y, &v).unwrap();
    let err = (&hv - h.mv(&v)).abs().max().double_value(&[]);
    assert!(err < 1e-4 * hv.abs().max().double_value(&[]), "{err:e}");
    // Called inside `tch::no_grad` (where notebooks often are), the same:
    // the graph they differentiate is built with gradients on regardless.
    let inside = tch::no_grad(|| {
        (
            hvp(&model, &x, &y, &v).unwrap(),
            hessian::hessian(&model, &x, &y).unwrap(),
        )
    });
    // (Up to the order of libtorch's threaded sums.)
    assert!(
        (&inside.0 - &hv).abs().max().double_value(&[]) < 1e-6 * hv.abs().max().double_value(&[])
    );
    assert!(
        (&inside.1 - &h).abs().max().double_value(&[]) < 1e-6 * h.abs().max().double_value(&[])
    );
    let bad = Tensor::zeros([3], (Kind::Double, Device::Cpu));
    assert!(hvp(&model, &x, &y, &bad)
        .unwrap_err()
        .to_string()
        .contains("trainable parameters"));
}

#[test]
fn lanczos_finds_the_extreme_eigenvalues_and_the_index_counts_negative_ones() {
    let (model, x, y) = tiny();
    let h = hessian::hessian(&model, &x, &y).unwrap();
    let eig = h.linalg_eigvalsh("L");
    let (lo, hi) = (eig.min().double_value(&[]), eig.max().double_value(&[]));
    let (l_lo, l_hi, ritz) = lanczos(&model, &x, &y, 60, 0).unwrap();
    assert!(ritz.windows(2).all(|w| w[0] <= w[1]));
    assert!(
        (l_hi - hi).abs() < 1e-3 * hi.abs().max(1.0),
        "largest {l_hi} vs {hi}"
    );
    assert!(
        (l_lo - lo).abs() < 2e-2 * hi.abs().max(1.0),
        "smallest {l_lo} vs {lo}"
    );
    let e = Tensor::from_slice(&[-2.0, -1e-9, 0.5, 3.0]);
    assert_eq!(index(&e, 1e-6).unwrap(), 0.25);
    assert!(lanczos(&model, &x, &y, 0, 0).is_err());
}

#[test]
fn seeking_a_critical_point_shrinks_the_gradient() {
    let (mut model, x, y) = tiny();
    let (_, g0) = loss_and_gradient(&model, &x, &y).unwrap();
    let n0 = g0.norm().double_value(&[]);
    let n1 = hessian::seek_critical_point(&mut model, &x, &y, 300, 1e-3).unwrap();
    assert!(n1 < n0 / 3.0, "gradient norm {n0} -> {n1}");
}

#[test]
fn newton_refinement_lands_on_a_critical_point_the_adam_search_only_nears() {
    let (mut model, x, y) = tiny();
    let after_adam = hessian::seek_critical_point(&mut model, &x, &y, 300, 1e-3).unwrap();
    let r = hessian::refine_critical_point(&mut model, &x, &y, 20, 1e-5).unwrap();
    assert!((r.start_norm - after_adam).abs() < 1e-9 * after_adam.max(1.0));
    assert!(r.converged && r.gradient_norm <= 1e-5, "{r:?}");
    // The norm it reports is the model's.
    let (_, g) = loss_and_gradient(&model, &x, &y).unwrap();
    assert!((g.norm().double_value(&[]) - r.gradient_norm).abs() < 1e-12);
    // A point already within the tolerance is left where it is.
    let before = hessian::parameters(&model)
        .iter()
        .map(|t| t.copy())
        .collect::<Vec<_>>();
    let again = hessian::refine_critical_point(&mut model, &x, &y, 20, 1e-3).unwrap();
    assert_eq!(again.steps, 0);
    assert!(before
        .iter()
        .zip(hessian::parameters(&model))
        .all(|(a, b)| a.equal(&b)));
    assert!(hessian::refine_critical_point(&mut model, &x, &y, 5, 0.0).is_err());
}
