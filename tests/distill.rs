//! Knowledge distillation: the loss against PyTorch, the paper's
//! high-temperature limit, the objective through `fit_objective` (on the
//! fly, cached, ensembles), and the bias correction for a missing class.

mod common;

use deepscope::data::{self, Dataset};
use deepscope::distill::{
    bias_shift_for_share, distillation_loss, shift_class_bias, Distillation, Teacher,
};
use deepscope::model::Model;
use deepscope::train::{self, FitConfig, Optimizer, ProgressMode};
use deepscope::{rng, weights, zoo};
use std::path::Path;
use tch::{Device, Kind, Tensor};

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

/// The settings of `tests/python/distill_reference.py`, in its order.
const SETTINGS: [(f64, f64); 4] = [(1.0, 0.0), (4.0, 0.5), (20.0, 1.0), (2.5, 0.9)];

#[test]
fn the_loss_and_its_gradient_equal_pytorchs_kl_div_batchmean_times_t_squared() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (student, teacher) = rng::with_torch_seed(3, || {
        (
            Tensor::randn([16, 10], (Kind::Float, Device::Cpu)) * 3.0,
            Tensor::randn([16, 10], (Kind::Float, Device::Cpu)) * 3.0,
        )
    });
    let labels = Tensor::from_slice(&(0..16).map(|i| (i * 7) % 10).collect::<Vec<i64>>());
    let dir = tempfile::tempdir().unwrap();
    weights::write_safetensors(
        &[
            ("student".into(), student.shallow_clone()),
            ("teacher".into(), teacher.shallow_clone()),
            ("labels".into(), labels.shallow_clone()),
        ],
        dir.path().join("inputs.safetensors"),
    )
    .unwrap();
    let status = std::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/python/distill_reference.py"))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let reference = weights::read_map(dir.path().join("reference.safetensors")).unwrap();
    for (i, &(t, a)) in SETTINGS.iter().enumerate() {
        let z = student.copy().set_requires_grad(true);
        let p = (&teacher / t).softmax(1, Kind::Float);
        let loss = distillation_loss(&z, &p, Some(&labels), t, a).unwrap();
        loss.backward();
        let want = reference[&format!("loss_{i}")].double_value(&[0]);
        let got = loss.double_value(&[]);
        assert!(
            (got - want).abs() <= 1e-6 * want.abs().max(1.0),
            "T {t} a {a}: loss {got} against PyTorch's {want}"
        );
        let grad_diff = max_diff(&z.grad(), &reference[&format!("grad_{i}")]);
        assert!(grad_diff < 1e-6, "T {t} a {a}: gradient off by {grad_diff}");
    }
    // T = 1, a = 0 is the plain cross-entropy, whatever the soft targets.
    let p = (&teacher / 1.0).softmax(1, Kind::Float);
    let plain = train::cross_entropy(&student, &labels).unwrap();
    let mixed = distillation_loss(&student, &p, Some(&labels), 1.0, 0.0).unwrap();
    assert_eq!(plain.double_value(&[]), mixed.double_value(&[]));
}

#[test]
fn at_high_temperature_distillation_becomes_logit_matching() {
    // Hinton et al., eq. 3: for zero-mean logits z (student) and v
    // (teacher) over N classes, (1/T)(q_i - p_i) -> (z_i - v_i) / (N T^2).
    let n = 10;
    let (z, v) = rng::with_torch_seed(5, || {
        let z = Tensor::randn([1, n], (Kind::Float, Device::Cpu));
        let v = Tensor::randn([1, n], (Kind::Float, Device::Cpu));
        (&z - z.mean(Kind::Float), &v - v.mean(Kind::Float))
    });
    let relative_error = |t: f64| {
        let zg = z.copy().set_requires_grad(true);
        let p = (&v / t).softmax(1, Kind::Float);
        // Without the T^2 factor, for one example.
        let soft = distillation_loss(&zg, &p, None, t, 1.0).unwrap() / (t * t);
        soft.backward();
        let limit = (&z - &v) / (n as f64 * t * t);
        max_diff(&zg.grad(), &limit) / limit.abs().max().double_value(&[])
    };
    let (at_10, at_100) = (relative_error(10.0), relative_error(100.0));
    assert!(at_100 < 0.02, "T 100: off by {at_100:.4} of the limit");
    assert!(
        at_100 < at_10 / 5.0,
        "the error falls as T grows: {at_10:.4} at T 10, {at_100:.4} at T 100"
    );
}

fn digits() -> Dataset {
    data::digits().unwrap()
}

fn mlp(hidden: i64, seed: u64) -> Model {
    zoo::mlp(&[1, 8, 8], &[hidden], 10, zoo::Activation::Relu)
        .seed(seed)
        .build(Device::Cpu)
        .unwrap()
}

fn config(epochs: usize) -> FitConfig {
    let mut c = FitConfig::new(epochs, 64, Optimizer::adam(3e-3));
    c.progress = ProgressMode::Silent;
    c.seed = 0;
    c
}

#[test]
fn a_student_learns_from_a_teacher_on_the_fly_or_from_cached_logits_alike() {
    let ds = digits();
    let mut teacher = mlp(64, 1);
    train::fit(&mut teacher, &ds, &config(8)).unwrap();
    let teacher_accuracy = train::evaluate(&mut teacher, &ds.test, 500)
        .unwrap()
        .accuracy;
    teacher.set_train(true);
    let before = teacher.named_parameters();
    let before: Vec<Tensor> = before.iter().map(|(_, t)| t.copy()).collect();

    let mut students = Vec::new();
    for cached in [false, true] {
        let mut student = mlp(16, 2);
        {
            let t = Teacher::new(vec![&mut teacher]).unwrap();
            let mut d = Distillation::new(&mut student, t, &ds, 4.0).alpha(0.5);
            if cached {
                d = d.cached(100);
            }
            let run = train::fit_objective(&mut d, &config(6), &mut []).unwrap();
            let first = run.history.epochs[0].train_loss;
            let last = run.history.last_epoch().unwrap().train_loss;
            assert!(last < first, "the loss falls: {first} then {last}");
        }
        students.push(student);
    }
    assert!(teacher.is_training(), "the teacher's mode is given back");
    for ((_, now), then) in teacher.named_parameters().iter().zip(&before) {
        assert!(now.equal(then), "the teacher is not trained");
    }
    let diff = common::max_weight_diff(&students[0], &students[1]);
    assert!(diff < 1e-4, "cached and fresh logits train alike: {diff}");
    let student_accuracy = train::evaluate(&mut students[1], &ds.test, 500)
        .unwrap()
        .accuracy;
    assert!(
        student_accuracy > 0.85 && teacher_accuracy > 0.9,
        "teacher {teacher_accuracy}, student {student_accuracy}"
    );
}

#[test]
fn an_ensembles_soft_targets_are_the_mean_of_its_members() {
    let ds = digits();
    let (mut a, mut b) = (mlp(12, 3), mlp(12, 4));
    let images = ds.test.images().narrow(0, 0, 20);
    let t = 3.0;
    let each = |m: &Model| tch::no_grad(|| m.forward(&images).unwrap() / t).softmax(1, Kind::Float);
    let want = (each(&a) + each(&b)) / 2.0;
    let ensemble = Teacher::new(vec![&mut a, &mut b]).unwrap();
    assert_eq!(ensemble.len(), 2);
    let got = ensemble.soft_targets(&images, t).unwrap();
    assert!(max_diff(&got, &want) < 1e-6);
    let sums = got.sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
    assert!(max_diff(&sums, &sums.ones_like()) < 1e-5);
    let cached = ensemble.cache(&ds.test, 7).unwrap();
    assert_eq!(cached.len(), 2);
    assert_eq!(cached[0].size(), [ds.test.len() as i64, 10]);
}

#[test]
fn a_missing_class_is_recovered_by_shifting_its_output_bias() {
    let ds = digits();
    let mut net = mlp(32, 5);
    train::fit(&mut net, &ds, &config(5)).unwrap();
    let bias = |m: &Model| m.layer("out").unwrap().tensor("bias").unwrap().copy();
    let before = bias(&net);
    shift_class_bias(&mut net, 3, 3.5).unwrap();
    let moved = &bias(&net) - &before;
    let expected = Tensor::zeros([10], (Kind::Float, Device::Cpu));
    let _ = expected.get(3).fill_(3.5);
    assert!(max_diff(&moved, &expected) < 1e-6);
    shift_class_bias(&mut net, 3, -3.5).unwrap();

    // The shift that makes 30% of the held-out digits 3s does so.
    let share_of_threes = |m: &mut Model| {
        let e = train::evaluate(m, &ds.test, 500).unwrap();
        let predicted_three: i64 = (0..10).map(|true_class| e.confusion[true_class][3]).sum();
        predicted_three as f64 / ds.test.len() as f64
    };
    let natural = share_of_threes(&mut net);
    let shift = bias_shift_for_share(&mut net, &ds.test, 3, 0.3, 100).unwrap();
    assert!(shift > 0.0, "more 3s need a higher bias: {shift}");
    shift_class_bias(&mut net, 3, shift).unwrap();
    let now = share_of_threes(&mut net);
    let one = 1.0 / ds.test.len() as f64;
    assert!(
        (now - 0.3).abs() <= 2.0 * one,
        "share of 3s {natural:.3} before, {now:.3} after, 0.3 asked"
    );
}

#[test]
fn confusable_groups_cluster_the_classes_a_generalist_predicts_together() {
    use rand::Rng;
    // Six classes; the generalist hesitates within {0, 1, 2} and within
    // {3, 4}, and is sure of 5.
    let truth: [&[i64]; 3] = [&[0, 1, 2], &[3, 4], &[5]];
    let mut r = rng::seeded(9);
    let mut rows = Vec::new();
    for i in 0..600 {
        let group = truth[i % 3];
        let mut p = [0.02f64; 6];
        let weights: Vec<f64> = group.iter().map(|_| r.gen_range(0.1..1.0)).collect();
        let total: f64 = weights.iter().sum();
        for (&c, w) in group.iter().zip(&weights) {
            p[c as usize] += (1.0 - 0.02 * 6.0) * w / total;
        }
        rows.extend_from_slice(&p);
    }
    let probabilities = Tensor::from_slice(&rows).view([600, 6]);
    let groups = deepscope::distill::confusable_groups(&probabilities, 3, 0).unwrap();
    assert_eq!(groups, vec![vec![0, 1, 2], vec![3, 4], vec![5]]);
}

#[test]
fn a_specialist_trains_on_its_group_and_as_many_others_in_a_dustbin() {
    let ds = digits();
    let group = [3i64, 5, 8];
    let s = deepscope::distill::specialist_data(&ds, &group, 0).unwrap();
    assert_eq!(s.classes, ["3", "5", "8", "dustbin"]);
    let counts = s.train.class_counts(4).unwrap();
    let original = ds.train.class_counts(10).unwrap();
    assert_eq!(&counts[..3], &[original[3], original[5], original[8]]);
    assert_eq!(counts[3], counts[..3].iter().sum::<i64>(), "half dustbin");
    assert_eq!(s.test.len(), ds.test.len());
    let test_counts = s.test.class_counts(4).unwrap();
    let test_original = ds.test.class_counts(10).unwrap();
    assert_eq!(test_counts[1], test_original[5]);
    assert_eq!(
        test_counts[3],
        ds.test.len() as i64 - test_original[3] - test_original[5] - test_original[8]
    );
}

/// `KL(p_g ‖ q) + Σ KL(p_m ‖ q_m)` for one example, in f64.
fn agreement_cost(pg: &[f64], specialists: &[(Vec<usize>, Vec<f64>)], q: &[f64]) -> f64 {
    let kl = |p: &[f64], q: &[f64]| -> f64 {
        p.iter()
            .zip(q)
            .filter(|(&a, _)| a > 0.0)
            .map(|(&a, &b)| a * (a / b).ln())
            .sum()
    };
    let mut cost = kl(pg, q);
    for (group, pm) in specialists {
        let mut qm: Vec<f64> = group.iter().map(|&c| q[c]).collect();
        qm.push(1.0 - qm.iter().sum::<f64>());
        cost += kl(pm, &qm);
    }
    cost
}

#[test]
fn combining_finds_the_distribution_that_agrees_best_with_the_active_specialists() {
    use deepscope::distill::combine;
    // Three examples over three classes: the generalist hesitates between
    // 0 and 1 (twice) or is sure of 2; the specialist on {0, 1} is sure of
    // 1 (dustbin last).
    let generalist =
        Tensor::from_slice(&[0.45f32, 0.45, 0.10, 0.30, 0.50, 0.20, 0.05, 0.05, 0.90]).view([3, 3]);
    let specialist =
        Tensor::from_slice(&[0.05f32, 0.90, 0.05, 0.20, 0.70, 0.10, 0.50, 0.40, 0.10]).view([3, 3]);
    let q = combine(&generalist, &[(vec![0, 1], specialist.shallow_clone())], 1).unwrap();
    let rows: Vec<Vec<f64>> = (0..3)
        .map(|i| Vec::<f64>::try_from(q.get(i).to_kind(Kind::Double)).unwrap())
        .collect();
    assert!(rows[0][1] > 0.5 && rows[0][1] > rows[0][0], "{:?}", rows[0]);
    // Example 2: the generalist's top class is 2, the specialist is idle.
    assert!(
        max_diff(&q.get(2), &generalist.get(2)) < 1e-4,
        "{:?}",
        rows[2]
    );
    // Examples 0 and 1 are at the minimum: no point of a 0.002 grid over
    // the simplex does better.
    for i in 0..2 {
        let pg = Vec::<f64>::try_from(generalist.get(i).to_kind(Kind::Double)).unwrap();
        let pm = Vec::<f64>::try_from(specialist.get(i).to_kind(Kind::Double)).unwrap();
        let spec = [(vec![0usize, 1], pm)];
        let ours = agreement_cost(&pg, &spec, &rows[i as usize]);
        let mut best = f64::INFINITY;
        for a in 1..500 {
            for b in 1..(500 - a) {
                let q = [
                    a as f64 / 500.0,
                    b as f64 / 500.0,
                    (500 - a - b) as f64 / 500.0,
                ];
                best = best.min(agreement_cost(&pg, &spec, &q));
            }
        }
        assert!(
            ours <= best + 1e-6,
            "example {i}: {ours} against the grid's {best}"
        );
    }
    // Without specialists, the generalist's distribution.
    let alone = combine(&generalist, &[], 2).unwrap();
    assert!(max_diff(&alone, &generalist) < 1e-4);
}
