//! Occlusion maps against a brute-force reference: every window occluded
//! on its own copy with an explicit mask, one forward pass each.

mod common;

use common::err_text;
use deepscope::model::{Conv, Model, ModelBuilder};
use deepscope::rng::with_torch_seed;
use deepscope::viz::{DrillDown, Fill, Occlusion};
use tch::{Device, Kind, Tensor};

fn net() -> Model {
    ModelBuilder::new(&[3, 20, 18])
        .seed(4)
        .conv("conv1", "c1", 5, Conv::new(3).padding(1))
        .relu("relu1")
        .max_pool("pool1", 2, 2)
        .conv("conv2", "c2", 6, Conv::new(3))
        .relu("relu2")
        .flatten("flatten")
        .linear("fc", "fc", 4)
        .build(Device::Cpu)
        .unwrap()
}

struct Brute {
    prob: Vec<Vec<f64>>,
    top: Vec<Vec<i64>>,
    feature: Vec<Vec<f64>>,
}

#[allow(clippy::too_many_arguments)]
fn brute(
    model: &Model,
    image: &Tensor,
    window: i64,
    stride: i64,
    fill: &[f64],
    target: i64,
    feature: &str,
    map: i64,
) -> Brute {
    let (h, w) = (image.size()[1], image.size()[2]);
    let mut out = Brute {
        prob: vec![],
        top: vec![],
        feature: vec![],
    };
    let mut y = 0;
    while y + window <= h {
        let (mut pr, mut tp, mut ft) = (vec![], vec![], vec![]);
        let mut x = 0;
        while x + window <= w {
            let mask = Tensor::zeros([1, h, w], (Kind::Float, Device::Cpu));
            let _ = mask.narrow(1, y, window).narrow(2, x, window).fill_(1.0);
            let fills = Tensor::from_slice(fill)
                .to_kind(Kind::Float)
                .reshape([-1, 1, 1]);
            let keep: Tensor = 1.0 - &mask;
            let occluded: Tensor = image * keep + fills * &mask;
            let batch = occluded.unsqueeze(0);
            let p = model.forward(&batch).unwrap().softmax(1, Kind::Float);
            pr.push(p.double_value(&[0, target]));
            tp.push(p.argmax(1, false).int64_value(&[0]));
            let f = model.forward_to(&batch, feature).unwrap();
            ft.push(f.get(0).get(map).sum(Kind::Float).double_value(&[]));
            x += stride;
        }
        out.prob.push(pr);
        out.top.push(tp);
        out.feature.push(ft);
        y += stride;
    }
    out
}

fn rows_f64(t: &Tensor) -> Vec<Vec<f64>> {
    (0..t.size()[0])
        .map(|i| Vec::<f64>::try_from(t.get(i).to_kind(Kind::Double)).unwrap())
        .collect()
}

fn rows_i64(t: &Tensor) -> Vec<Vec<i64>> {
    (0..t.size()[0])
        .map(|i| Vec::<i64>::try_from(t.get(i)).unwrap())
        .collect()
}

fn assert_close(a: &[Vec<f64>], b: &[Vec<f64>], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: rows");
    for (ra, rb) in a.iter().zip(b) {
        assert_eq!(ra.len(), rb.len(), "{what}: columns");
        for (x, y) in ra.iter().zip(rb) {
            assert!(
                (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
                "{what}: {x} vs {y}"
            );
        }
    }
}

#[test]
fn one_sweep_gives_the_maps_of_one_window_at_a_time() {
    let model = net();
    let image = with_torch_seed(21, || {
        Tensor::randn([3, 20, 18], (Kind::Float, Device::Cpu))
    });
    let maps = Occlusion::new(&model, 5, 3)
        .unwrap()
        .feature_layer("relu2")
        .unwrap()
        .run(&image, 2)
        .unwrap();
    let map = maps.feature_map.unwrap();
    // The strongest map of the unoccluded image.
    let f = model
        .forward_to(&image.unsqueeze(0), "relu2")
        .unwrap()
        .get(0);
    let totals = f.reshape([6, -1]).sum_dim_intlist(1, false, Kind::Float);
    assert_eq!(map, totals.argmax(0, false).int64_value(&[]));
    let reference = brute(&model, &image, 5, 3, &[0.0; 3], 2, "relu2", map);
    // Rows start at 0, 3, ..., 15 (20 px) and columns at 0, ..., 12 (18 px).
    assert_eq!(maps.class_prob.size(), vec![6, 5]);
    assert_close(
        &rows_f64(&maps.class_prob),
        &reference.prob,
        "class probability",
    );
    assert_eq!(rows_i64(&maps.top_class), reference.top);
    assert_close(
        &rows_f64(maps.feature.as_ref().unwrap()),
        &reference.feature,
        "feature total",
    );
    // On the image, the cells are centred on the occluders' centres: the
    // first row's window covers pixels 0..5 (centre 2.5), a stride (3 px)
    // per cell; 6 rows reach 1 + 18 = 19, 5 columns 1 + 15 = 16.
    assert_eq!(maps.position_extent(), (1.0, 16.0, 1.0, 19.0));
}

#[test]
fn batches_of_any_size_agree_and_mean_fill_uses_each_channels_mean() {
    let model = net();
    let image = with_torch_seed(22, || Tensor::rand([3, 20, 18], (Kind::Float, Device::Cpu)));
    let big = Occlusion::new(&model, 4, 2).unwrap().fill(Fill::ImageMean);
    let a = big.clone().run(&image, 1).unwrap();
    let b = big.budget_bytes(1).run(&image, 1).unwrap();
    assert!(
        (&a.class_prob - &b.class_prob)
            .abs()
            .max()
            .double_value(&[])
            < 1e-6
    );
    let means =
        Vec::<f64>::try_from(image.reshape([3, -1]).mean_dim(1, false, Kind::Float)).unwrap();
    let reference = brute(&model, &image, 4, 2, &means, 1, "relu2", 0);
    assert_close(&rows_f64(&a.class_prob), &reference.prob, "mean fill");
}

#[test]
fn attribution_is_the_mean_drop_over_the_windows_covering_each_pixel() {
    let model = net();
    let image = with_torch_seed(23, || {
        Tensor::randn([3, 20, 18], (Kind::Float, Device::Cpu))
    });
    let (window, stride) = (6, 5);
    let maps = Occlusion::new(&model, window, stride)
        .unwrap()
        .run(&image, 3)
        .unwrap();
    let base = model
        .forward(&image.unsqueeze(0))
        .unwrap()
        .softmax(1, Kind::Float)
        .double_value(&[0, 3]);
    assert!((maps.base_prob - base).abs() < 1e-6);
    let prob = rows_f64(&maps.class_prob);
    let attr = rows_f64(&maps.attribution);
    assert_eq!(maps.attribution.size(), vec![20, 18]);
    for py in 0..20i64 {
        for px in 0..18i64 {
            let mut drops = vec![];
            for (i, row) in prob.iter().enumerate() {
                for (j, p) in row.iter().enumerate() {
                    let (y, x) = (i as i64 * stride, j as i64 * stride);
                    if (y..y + window).contains(&py) && (x..x + window).contains(&px) {
                        drops.push(base - p);
                    }
                }
            }
            let expected = if drops.is_empty() {
                0.0
            } else {
                drops.iter().sum::<f64>() / drops.len() as f64
            };
            let got = attr[py as usize][px as usize];
            assert!(
                (got - expected).abs() < 1e-5,
                "pixel ({py}, {px}): {got} vs {expected}"
            );
        }
    }
    // Columns 16-17 are never covered (windows start at 0, 5, 10).
    assert_eq!(attr[0][17], 0.0);
}

#[test]
fn bad_requests_say_what_was_wrong() {
    let model = net();
    let image = Tensor::zeros([3, 20, 18], (Kind::Float, Device::Cpu));
    assert!(err_text(Occlusion::new(&model, 0, 1)).contains("at least 1"));
    let o = Occlusion::new(&model, 5, 2).unwrap();
    assert!(err_text(o.clone().feature_layer("nope")).contains("nope"));
    assert!(err_text(o.run(&image, 4)).contains("out of range"));
    assert!(err_text(o.run(&image.unsqueeze(0), 0)).contains("[C, H, W]"));
    assert!(
        err_text(Occlusion::new(&model, 19, 2).unwrap().run(&image, 0)).contains("larger than")
    );
    let wrong = Tensor::zeros([1, 20, 18], (Kind::Float, Device::Cpu));
    assert!(!err_text(o.run(&wrong, 0)).is_empty());
}

/// Largest difference between two maps, relative to the larger magnitude
/// of the full map (at least 1e-12).
fn relative_gap(a: &Tensor, full: &Tensor) -> f64 {
    let scale = full.abs().max().double_value(&[]).max(1e-12);
    (a - full).abs().max().double_value(&[]) / scale
}

/// Incremental and full sweeps of `model` (evaluation mode) over a random
/// image: every map agrees to 1e-4 relative, and the most probable class
/// differs only where two classes tie to 1e-4. Both sweeps fold batch norms
/// into the convolutions before them and run channels last, so the full
/// sweep is checked too, against the model's own forward pass on each
/// occluded copy.
fn incremental_agrees(model: &Model, window: i64, stride: i64, feature: &str, what: &str) {
    let shape = model.input_shape().to_vec();
    let image = with_torch_seed(9, || {
        Tensor::randn(shape.as_slice(), (Kind::Float, Device::Cpu))
    });
    let sweep = |incremental: bool, budget: usize| {
        Occlusion::new(model, window, stride)
            .unwrap()
            .feature_layer(feature)
            .unwrap()
            .budget_bytes(budget)
            .incremental(incremental)
            .run(&image, 1)
            .unwrap()
    };
    let (fast, full) = (sweep(true, 64 << 20), sweep(false, 64 << 20));
    assert!(fast.incremental && !full.incremental, "{what}: modes");
    let map = full.feature_map.unwrap();
    let fill = vec![0.0; shape[0] as usize];
    let reference = brute(model, &image, window, stride, &fill, 1, feature, map);
    let as_tensor = |rows: &[Vec<f64>]| Tensor::from_slice2(rows).to_kind(Kind::Float);
    for (name, ours, theirs) in [
        ("class probability", &full.class_prob, &reference.prob),
        (
            "feature map total",
            full.feature.as_ref().unwrap(),
            &reference.feature,
        ),
    ] {
        let gap = relative_gap(ours, &as_tensor(theirs));
        assert!(
            gap <= 1e-4,
            "{what}: full sweep's {name} differs from the model's own pass by {gap:e}"
        );
    }
    // One position at a time: the base activations shared by every batch
    // must come out of a batch unchanged.
    let single = sweep(true, 1);
    let gap = relative_gap(&single.class_prob, &full.class_prob);
    assert!(gap <= 1e-4, "{what}: batches of one differ by {gap:e}");
    for (name, a, b) in [
        ("class probability", &fast.class_prob, &full.class_prob),
        (
            "feature map total",
            fast.feature.as_ref().unwrap(),
            full.feature.as_ref().unwrap(),
        ),
    ] {
        let gap = relative_gap(a, b);
        assert!(gap <= 1e-4, "{what}: {name} differs by {gap:e} (relative)");
    }
    // The attribution is the base probability less each occluded one: an
    // error in a probability is an error in it, so it is judged against
    // the probabilities' scale (with one-pixel windows the drops
    // themselves are a thousandth of it, below float32's summation noise).
    let scale = full.class_prob.abs().max().double_value(&[]);
    let gap = (&fast.attribution - &full.attribution)
        .abs()
        .max()
        .double_value(&[])
        / scale;
    assert!(
        gap <= 1e-4,
        "{what}: attribution differs by {gap:e} of the probability"
    );
    assert_eq!(fast.feature_map, full.feature_map, "{what}: strongest map");
    let differ = fast.top_class.ne_tensor(&full.top_class);
    let n = differ.sum(Kind::Int64).int64_value(&[]);
    assert!(
        n == 0,
        "{what}: the most probable class differs at {n} positions"
    );
}

#[test]
fn incremental_occlusion_equals_full_recomputation_on_odd_geometry() {
    // Odd sizes, strides that do not divide the image, padding, a ceil-mode
    // pool, batch norm, LRN, leaky ReLU, average pooling, a residual block
    // with a projection (windowed) and one with the identity (whose second
    // convolution's window reaches half its map, so the copies are made
    // whole inside the block).
    let mut model = ModelBuilder::new(&[3, 61, 67])
        .seed(3)
        .conv("conv1", "c1", 6, Conv::new(5).stride(2).padding(2))
        .batch_norm("bn1", "bn1")
        .leaky_relu("act1", 0.1)
        .max_pool_with("pool1", 3, 2, 1, true)
        .lrn("norm1", 3, 1e-2, 0.75, 1.0)
        .conv("conv2", "c2", 8, Conv::new(3).padding(1))
        .relu("relu2")
        .basic_block("block1", "b1", 12, 2, true)
        .basic_block("block2", "b2", 12, 1, true)
        .avg_pool("pool2", 2, 1)
        .adaptive_avg_pool("gap", [1, 1])
        .flatten("flatten")
        .linear("fc", "fc", 5)
        .build(Device::Cpu)
        .unwrap();
    // Batch-norm statistics other than the initial 0 and 1, so that the
    // base activations of every layer matter.
    tch::no_grad(|| {
        for l in model.layers() {
            for (name, t) in &l.buffers {
                if name == "running_var" {
                    let _ = t.shallow_clone().uniform_(0.5, 2.0);
                } else if name == "running_mean" {
                    let _ = t.shallow_clone().uniform_(-0.5, 0.5);
                }
            }
        }
    });
    model.set_train(false);
    incremental_agrees(&model, 7, 4, "conv2", "odd net, window 7 stride 4");
    // A convolution whose own output is asked for is not folded with the
    // batch norm after it.
    incremental_agrees(
        &model,
        5,
        6,
        "conv1",
        "odd net, feature before a batch norm",
    );
    incremental_agrees(&model, 1, 9, "block1", "odd net, window 1 stride 9");
    incremental_agrees(&model, 30, 11, "relu2", "odd net, window 30 stride 11");
}

#[test]
fn approximate_sweeps_report_their_error_and_the_whole_map_is_exact() {
    let model = net();
    let image = with_torch_seed(5, || Tensor::rand([3, 20, 18], (Kind::Float, Device::Cpu)));
    let sweep = |o: Occlusion| o.run(&image, 2).unwrap();
    let base = Occlusion::new(&model, 3, 1).unwrap();
    let exact = sweep(base.clone());
    // A cap of the whole side never binds: the exact maps.
    let whole = sweep(base.clone().approximate(1.0).unwrap());
    assert_eq!(whole.approximation, Some(1.0));
    let e = whole.error_against(&exact).unwrap();
    assert!(e.max_abs <= 1e-5, "{e:?}");
    assert_eq!(e.top_class_agreement, 1.0);
    // A fifth of each side binds at conv1 (windows of 4 where 5 are reached).
    let rough = sweep(base.approximate(0.2).unwrap());
    let e = rough.error_against(&exact).unwrap();
    assert!(e.max_abs > 1e-6, "the cap changed nothing: {e:?}");
    assert!(e.max_abs <= 1.0 && (0.0..=1.0).contains(&e.top_class_agreement));
    let ssim = e.ssim.expect("maps of 18x16 positions have an SSIM");
    assert!(ssim.is_finite() && ssim <= 1.0 + 1e-9, "{ssim}");
    // The reference must be the same sweep.
    let other = Occlusion::new(&model, 4, 2)
        .unwrap()
        .run(&image, 2)
        .unwrap();
    assert!(rough.error_against(&other).is_err());
}

#[test]
fn drill_down_evaluates_coarse_and_changing_cells_and_interpolates_the_rest() {
    let model = net();
    let image = with_torch_seed(6, || Tensor::rand([3, 20, 18], (Kind::Float, Device::Cpu)));
    let base = Occlusion::new(&model, 3, 1)
        .unwrap()
        .feature_layer("relu1")
        .unwrap();
    let exact = base.run(&image, 1).unwrap();
    assert_eq!((exact.evaluated, exact.drill_down), (18 * 16, None));
    let (p, top) = (rows_f64(&exact.class_prob), rows_i64(&exact.top_class));
    let f = rows_f64(exact.feature.as_ref().unwrap());

    // Every cell refined: every position evaluated, the exact maps.
    let all = base
        .clone()
        .drill_down(3, 1.0)
        .unwrap()
        .run(&image, 1)
        .unwrap();
    assert_eq!(all.evaluated, 18 * 16);
    assert_close(&rows_f64(&all.class_prob), &p, "p, every cell refined");
    assert_eq!(rows_i64(&all.top_class), top);

    // Coarse rows 0, 3, .., 15, 17 and columns 0, 3, .., 15: 7 x 6, then a
    // fifth of the 30 cells (6), each adding at most 16 - 4 positions.
    let rough = base.drill_down(3, 0.2).unwrap().run(&image, 1).unwrap();
    assert_eq!(rough.drill_down, Some(DrillDown::new(3, 0.2).unwrap()));
    assert!(
        rough.evaluated > 42 && rough.evaluated <= 42 + 6 * 12,
        "{}",
        rough.evaluated
    );
    let (rp, rf) = (
        rows_f64(&rough.class_prob),
        rows_f64(rough.feature.as_ref().unwrap()),
    );
    let coarse_rows = [0, 3, 6, 9, 12, 15, 17];
    for &r in &coarse_rows {
        for c in (0..16).step_by(3) {
            assert!(
                (rp[r][c] - p[r][c]).abs() < 1e-6,
                "coarse ({r}, {c}) is evaluated"
            );
            assert!((rf[r][c] - f[r][c]).abs() <= 1e-4 * f[r][c].abs().max(1.0));
        }
    }
    // Interpolated values lie within their cell's corners.
    for r in 0..18 {
        for c in 0..16 {
            let (r0, r1) = (r / 3 * 3, (r / 3 * 3 + 3).min(17));
            let (c0, c1) = (c / 3 * 3, (c / 3 * 3 + 3).min(15));
            let corners = [p[r0][c0], p[r0][c1], p[r1][c0], p[r1][c1]];
            let lo = corners.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = corners.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let v = rp[r][c];
            let evaluated = (v - p[r][c]).abs() < 1e-6;
            assert!(
                evaluated || (lo - 1e-6..=hi + 1e-6).contains(&v),
                "({r}, {c}): {v}"
            );
        }
    }
    let e = rough.error_against(&exact).unwrap();
    assert!(e.max_abs > 0.0 && e.max_abs < 1.0, "{e:?}");
    assert!(Occlusion::new(&model, 3, 1)
        .unwrap()
        .drill_down(1, 0.5)
        .is_err());
    assert!(Occlusion::new(&model, 3, 1)
        .unwrap()
        .drill_down(2, -0.1)
        .is_err());
}

#[test]
fn incremental_occlusion_equals_full_recomputation_on_the_zoo() {
    use deepscope::zoo;
    // Built models are in evaluation mode.
    let cases = [
        (zoo::lenet5(10), 5, 3, "relu2", "LeNet-5"),
        (
            zoo::zfnet(&Default::default()),
            9,
            7,
            "relu5",
            "ZFNet-style 64 px",
        ),
        (zoo::resnet18(1000), 15, 100, "layer2.1", "ResNet-18 224 px"),
        (zoo::vgg11(1000), 15, 100, "relu4_1", "VGG-11 224 px"),
    ];
    for (seed, (builder, window, stride, layer, what)) in cases.into_iter().enumerate() {
        let model = builder.seed(seed as u64 + 1).build(Device::Cpu).unwrap();
        assert!(!model.is_training());
        incremental_agrees(&model, window, stride, layer, what);
    }
}
