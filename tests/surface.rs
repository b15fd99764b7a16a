//! Loss-landscape helpers: direction normalisation, interpolation with and
//! without batch-norm statistics, 2-D grids in shards that resume and merge
//! to exactly the single-process result, and trajectory PCA.

mod common;

use common::err_text;
use deepscope::data::Split;
use deepscope::surface::{
    self, along, interpolate, linspace, random_direction, BatchStats, LossGrid, Normalization,
    Role, Scan2d, Weights,
};
use deepscope::zoo;
use tch::{Device, Kind, Tensor};

fn net() -> deepscope::model::Model {
    zoo::resnet20([3, 16, 16], 4, true)
        .seed(3)
        .build(Device::Cpu)
        .unwrap()
}

/// Whether `model` holds exactly the weights `w`, buffers included.
fn holds(model: &deepscope::model::Model, w: &Weights) -> bool {
    Weights::of(model)
        .tensors
        .iter()
        .zip(&w.tensors)
        .all(|(x, y)| x.2.equal(&y.2))
}

fn data(n: i64, seed: u64) -> Split {
    deepscope::rng::with_torch_seed(seed, || {
        Split::new(
            Tensor::rand([n, 3, 16, 16], (Kind::Float, Device::Cpu)),
            Tensor::randint(4, [n], (Kind::Int64, Device::Cpu)),
        )
        .unwrap()
    })
}

#[test]
fn filter_normalised_directions_match_each_filters_norm_and_skip_biases_and_norms() {
    let model = net();
    let w = Weights::of(&model);
    let d = random_direction(&w, Normalization::Filter, false, 1).unwrap();
    let mut weights = 0;
    for ((name, role, t), (_, _, wt)) in d.tensors.iter().zip(&w.tensors) {
        match role {
            Role::Weight => {
                weights += 1;
                let rows = t.size()[0];
                let dn = t.reshape([rows, -1]).norm_scalaropt_dim(2, [1], false);
                let wn = wt.reshape([rows, -1]).norm_scalaropt_dim(2, [1], false);
                let err = (dn - &wn).abs().max().double_value(&[]);
                assert!(err < 1e-4 * wn.max().double_value(&[]), "{name}: {err}");
            }
            _ => assert_eq!(t.abs().max().double_value(&[]), 0.0, "{name} must not move"),
        }
    }
    assert!(weights > 20);
    let again = random_direction(&w, Normalization::Filter, false, 1).unwrap();
    assert!(
        d.tensors
            .iter()
            .zip(&again.tensors)
            .all(|(a, b)| a.2.equal(&b.2)),
        "seeded"
    );
    let with_bn = random_direction(&w, Normalization::Layer, true, 2).unwrap();
    let bn = with_bn
        .tensors
        .iter()
        .find(|t| t.1 == Role::NormParam)
        .unwrap();
    let bn_w = w.get(&bn.0).unwrap();
    assert!((bn.2.norm().double_value(&[]) - bn_w.norm().double_value(&[])).abs() < 1e-4);
    let other = random_direction(&w, Normalization::None, false, 3).unwrap();
    let base = random_direction(&w, Normalization::None, false, 4).unwrap();
    let ortho = surface::orthogonalize(&other, &base, &w, Normalization::None).unwrap();
    assert!(ortho.dot(&base).unwrap().abs() < 1e-6 * base.dot(&base).unwrap());
}

#[test]
fn interpolation_ends_at_both_solutions_and_can_carry_batch_norm_statistics() {
    let mut model = net();
    let (train, test) = (data(64, 1), data(32, 2));
    let a = Weights::of(&model);
    let mut other = net();
    other
        .reinitialize(
            &other
                .layer_names()
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            9,
        )
        .unwrap();
    // Give the second net different running statistics.
    other.set_train(true);
    let _ = other.forward(&(train.images() * 3.0)).unwrap();
    let b = Weights::of(&other);
    let alphas = linspace(0.0, 1.0, 5);
    let sets = [("train", &train), ("test", &test)];
    let states = interpolate(
        &mut model,
        &a,
        &b,
        &alphas,
        &sets,
        BatchStats::Interpolated,
        32,
    )
    .unwrap();
    let params_only =
        interpolate(&mut model, &a, &b, &alphas, &sets, BatchStats::First, 32).unwrap();
    assert!(holds(&model, &a), "the model ends at a");
    let eval_at = |m: &mut deepscope::model::Model, w: &Weights, s: &Split| {
        w.load_into(m).unwrap();
        m.set_train(false);
        deepscope::train::evaluate(m, s, 32).unwrap().loss
    };
    let la = eval_at(&mut model, &a, &train);
    let lb = eval_at(&mut model, &b, &train);
    assert!((states.sets[0].1[0] - la).abs() < 1e-6 && (states.sets[0].1[4] - lb).abs() < 1e-6);
    // Without the statistics the end point mixes b's weights with a's statistics.
    assert!((params_only.sets[0].1[4] - lb).abs() > 1e-4);
    let mid = Weights::lerp(&a, &b, 0.5, true).unwrap();
    let name = &a
        .tensors
        .iter()
        .find(|t| t.1 == Role::Buffer && t.0.ends_with("running_var"))
        .unwrap()
        .0;
    let expect = (a.get(name).unwrap() + b.get(name).unwrap()) / 2.0;
    assert!(mid.get(name).unwrap().allclose(&expect, 1e-6, 1e-6, false));
    // Past the point where the first running variance extrapolates below
    // zero (on either side), it is clamped, so the loss stays finite
    // instead of turning NaN.
    let (va, vb) = (a.get(name).unwrap(), b.get(name).unwrap());
    let crossing = |t: Tensor| -> f64 {
        let t = t.masked_select(&t.gt(0.0));
        if t.numel() == 0 {
            f64::INFINITY
        } else {
            t.min().double_value(&[])
        }
    };
    // v_a + alpha (v_b - v_a) = 0 at alpha = v_a / (v_a - v_b): beyond b where
    // v_b < v_a, before a (alpha < 0) where v_b > v_a.
    let after = crossing(va / (va - vb));
    let before = crossing(va / (vb - va));
    let far = if after - 1.0 < before {
        1.0 + (after - 1.0) * 1.1
    } else {
        -before * 1.1
    };
    assert!(far.is_finite());
    let raw = va * (1.0 - far) + vb * far;
    assert!(
        raw.min().double_value(&[]) < 0.0,
        "the test needs a negative extrapolation"
    );
    let beyond = Weights::lerp(&a, &b, far, true).unwrap();
    assert!(beyond.get(name).unwrap().min().double_value(&[]) >= 0.0);
    let outside = interpolate(
        &mut model,
        &a,
        &b,
        &[far],
        &sets,
        BatchStats::Interpolated,
        32,
    )
    .unwrap();
    assert!(
        outside
            .sets
            .iter()
            .all(|s| s.1.iter().all(|l| l.is_finite())),
        "{outside:?}"
    );
    let d = random_direction(&a, Normalization::Filter, false, 5).unwrap();
    let c = along(&mut model, &a, &d, &[0.0, 0.5], &sets[..1], 32).unwrap();
    assert!((c.sets[0].1[0] - la).abs() < 1e-6 && c.sets[0].1[1] > la);
    let (lp, ap) = c.plots("along d");
    assert_eq!(lp.series().len(), 1);
    assert_eq!(ap.series().len(), 1);
}

#[test]
fn recomputed_statistics_are_each_points_own_on_the_whole_line() {
    let mut model = net();
    let (train, test) = (data(64, 4), data(32, 5));
    let a = Weights::of(&model);
    let other = zoo::resnet20([3, 16, 16], 4, true)
        .seed(9)
        .build(Device::Cpu)
        .unwrap();
    let b = Weights::of(&other);
    let alphas = [-0.5, 0.0, 0.5, 1.5];
    let sets = [("train", &train), ("test", &test)];
    let line = interpolate(
        &mut model,
        &a,
        &b,
        &alphas,
        &sets,
        BatchStats::Recomputed(&train),
        16,
    )
    .unwrap();
    assert!(
        holds(&model, &a),
        "the model ends at a, its own statistics included"
    );
    // Each point, by hand: the interpolated weights, then the statistics of
    // the training images, then an evaluation.
    for (k, &alpha) in alphas.iter().enumerate() {
        Weights::lerp(&a, &b, alpha, false)
            .unwrap()
            .load_into(&model)
            .unwrap();
        deepscope::train::update_batch_norm(&mut model, &train, 16).unwrap();
        model.set_train(false);
        for (s, (_, split)) in sets.iter().enumerate() {
            let e = deepscope::train::evaluate(&mut model, split, 16).unwrap();
            assert!(
                (line.sets[s].1[k] - e.loss).abs() < 1e-9 && line.sets[s].2[k] == e.accuracy,
                "alpha {alpha}, set {s}: {} vs {}",
                line.sets[s].1[k],
                e.loss
            );
            assert!(e.loss.is_finite());
        }
    }
    a.load_into(&model).unwrap();
}

#[test]
fn a_sharded_resumed_grid_equals_the_single_process_grid() {
    let mut model = net();
    let eval = data(48, 3);
    let center = Weights::of(&model);
    let d1 = random_direction(&center, Normalization::Filter, false, 1).unwrap();
    let d2 = random_direction(&center, Normalization::Filter, false, 2).unwrap();
    let scan = Scan2d {
        center: &center,
        d1: &d1,
        d2: &d2,
        data: &eval,
        batch: 16,
    };
    let axes = || {
        LossGrid::new(
            "resnet20 seed 3, dirs 1/2",
            linspace(-1.0, 1.0, 4),
            linspace(-1.0, 1.0, 3),
        )
        .unwrap()
    };
    let whole = scan.run(&mut model, axes(), 0..12, None).unwrap();
    assert!(whole.is_complete());
    let dir = tempfile::tempdir().unwrap();
    let shards = axes().shards(2);
    assert_eq!(shards, vec![0..6, 6..12]);
    // Shard 0 is "interrupted" after 4 points, then resumed from its file.
    let f0 = dir.path().join("shard0.json");
    let part = scan.run(&mut model, axes(), 0..4, Some(&f0)).unwrap();
    assert_eq!(part.missing(), (4..12).collect::<Vec<_>>());
    let mut saved = LossGrid::load(&f0).unwrap();
    saved.loss[0] = 123.0; // a point already done is not evaluated again
    saved.save(&f0).unwrap();
    let g0 = scan
        .run(&mut model, axes(), shards[0].clone(), Some(&f0))
        .unwrap();
    assert_eq!(g0.loss[0], 123.0);
    let g1 = scan
        .run(
            &mut model,
            axes(),
            shards[1].clone(),
            Some(&dir.path().join("shard1.json")),
        )
        .unwrap();
    let mut merged = LossGrid::merge(&[LossGrid::load(&f0).unwrap(), g1]).unwrap();
    assert!(merged.is_complete());
    merged.loss[0] = whole.loss[0];
    assert_eq!(merged.loss, whole.loss, "bit for bit");
    assert_eq!(merged.accuracy, whole.accuracy);
    // The centre of the grid has the centre's loss.
    let centre_loss = {
        center.load_into(&model).unwrap();
        model.set_train(false);
        deepscope::train::evaluate(&mut model, &eval, 16)
            .unwrap()
            .loss
    };
    let small = scan
        .run(
            &mut model,
            LossGrid::new("c", vec![0.0], vec![0.0]).unwrap(),
            0..1,
            None,
        )
        .unwrap();
    assert!((small.loss[0] - centre_loss).abs() < 1e-9);
    let foreign = LossGrid::new(
        "another scan",
        linspace(-1.0, 1.0, 4),
        linspace(-1.0, 1.0, 3),
    )
    .unwrap();
    assert!(err_text(LossGrid::merge(&[whole.clone(), foreign])).contains("different scans"));
    assert!(err_text(scan.run(&mut model, axes(), 0..13, None)).contains("outside"));
    std::fs::write(dir.path().join("bad.json"), "{").unwrap();
    assert!(err_text(LossGrid::load(dir.path().join("bad.json"))).contains("not a saved grid"));
    let png = deepscope::plot::to_png(&whole.contour("loss")).unwrap();
    assert!(png.len() > 1000);
    deepscope::plot::to_png(&whole.heatmap("loss")).unwrap();
    let png = deepscope::plot::to_png(&whole.surface("loss", Some(10.0))).unwrap();
    let img = image::load_from_memory(&png).unwrap().to_rgb8();
    let coloured = img
        .pixels()
        .filter(|p| p.0[0].abs_diff(p.0[1]) > 30 || p.0[1].abs_diff(p.0[2]) > 30)
        .count();
    assert!(
        coloured > 2000,
        "the surface is drawn ({coloured} coloured pixels)"
    );
    let flat = deepscope::plot::Surface3d::new(vec![vec![1.0]], 0.0, 1.0, 0.0, 1.0);
    assert!(err_text(deepscope::plot::to_png(&flat)).contains("2x2"));
}

#[test]
fn trajectory_pca_recovers_a_path_in_a_plane() {
    let model = net();
    let end = Weights::of(&model);
    let u = random_direction(&end, Normalization::None, false, 1).unwrap();
    let v = surface::orthogonalize(
        &random_direction(&end, Normalization::None, false, 2).unwrap(),
        &u,
        &end,
        Normalization::None,
    )
    .unwrap();
    let (nu, nv) = (u.dot(&u).unwrap().sqrt(), v.dot(&v).unwrap().sqrt());
    let path: Vec<(f64, f64)> = (0..8)
        .map(|i| (8.0 - i as f64, 0.3 * ((i as f64) * 0.9).sin()))
        .collect();
    let checkpoints: Vec<Weights> = path
        .iter()
        .map(|&(a, b)| end.moved(&[(a / nu, &u), (b / nv, &v)], false).unwrap())
        .collect();
    let t = surface::trajectory(&checkpoints, &end).unwrap();
    assert!(
        t.explained.0 > 0.9 && t.explained.0 + t.explained.1 > 0.999,
        "{:?}",
        t.explained
    );
    // Distances to the end point are preserved by the projection (the path lies in the plane).
    for (p, q) in path.iter().zip(&t.points) {
        let (r1, r2) = (
            (p.0 * p.0 + p.1 * p.1).sqrt(),
            (q.0 * q.0 + q.1 * q.1).sqrt(),
        );
        assert!((r1 - r2).abs() < 1e-3 * r1.max(1.0), "{r1} vs {r2}");
    }
    assert!(err_text(surface::trajectory(&checkpoints[..1], &end)).contains("two checkpoints"));
}

#[test]
fn a_saved_grid_loads_back_exactly_whatever_its_axes_and_values() {
    // Axes such as a trajectory's PCA range are arbitrary doubles: a grid
    // resumed from its file must carry them bit for bit, or it cannot be
    // merged with the scan that continues it.
    let dir = tempfile::tempdir().unwrap();
    let xs = linspace(-0.123_456_789_012_345_6, 0.987_654_321_098_765_4, 13);
    let ys: Vec<f64> = (0..7).map(|i| (i as f64 * 0.1).exp() / 3.0).collect();
    let mut g = LossGrid::new("odd axes", xs, ys).unwrap();
    for i in 0..g.len() {
        if i % 3 != 0 {
            g.loss[i] = 1.0 / (i as f64 + 0.7);
            g.accuracy[i] = (i as f64).sqrt() / 17.0;
        }
    }
    let path = dir.path().join("odd.json");
    g.save(&path).unwrap();
    let back = LossGrid::load(&path).unwrap();
    assert_eq!(back.xs, g.xs);
    assert_eq!(back.ys, g.ys);
    for i in 0..g.len() {
        assert_eq!(back.loss[i].to_bits(), g.loss[i].to_bits(), "point {i}");
        assert_eq!(back.accuracy[i].to_bits(), g.accuracy[i].to_bits());
    }
    assert_eq!(back.missing(), g.missing());
    LossGrid::merge(&[g, back]).unwrap();
}
