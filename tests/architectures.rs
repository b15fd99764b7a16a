//! The convolution's backward pass written out (`architectures::Convolution`)
//! equals libtorch autograd over a grid of strides, paddings, dilations,
//! groups, kernel shapes and odd input sizes, and matches the course
//! notes' hand-worked example.

use deepscope::architectures::Convolution;
use deepscope::zoo;
use tch::{Device, Kind, Tensor};

fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

/// Autograd's `dL/dx` and `dL/dk` for `L = sum(y * dy)`.
fn autograd(c: &Convolution, x: &Tensor, k: &Tensor, dy: &Tensor) -> (Tensor, Tensor) {
    let x = x.detach().set_requires_grad(true);
    let k = k.detach().set_requires_grad(true);
    let y = x.conv2d::<&Tensor>(&k, None, c.stride, c.padding, c.dilation, c.groups);
    (y * dy).sum(Kind::Double).backward();
    (x.grad(), k.grad())
}

#[test]
fn both_gradients_equal_autograd_over_a_grid_of_settings() {
    let opts = (Kind::Double, Device::Cpu);
    let mut cases = 0;
    for (stride, padding, dilation, groups) in [
        ([1, 1], [0, 0], [1, 1], 1),
        ([2, 2], [0, 0], [1, 1], 1),
        ([2, 3], [1, 2], [1, 1], 1),
        ([1, 1], [2, 1], [2, 3], 1),
        ([3, 2], [1, 0], [2, 1], 2),
        ([1, 2], [0, 1], [1, 1], 3),
        ([2, 2], [3, 3], [2, 2], 6),
    ] {
        for (kernel, size) in [([3, 3], [7, 9]), ([1, 1], [5, 4]), ([2, 5], [11, 8])] {
            let conv = Convolution {
                stride,
                padding,
                dilation,
                groups,
            };
            let Ok(out) = conv.output_size(size, kernel) else {
                continue;
            };
            let (c_in, c_out) = (6, 6 * groups.min(2));
            tch::manual_seed(cases);
            let x = Tensor::randn([2, c_in, size[0], size[1]], opts);
            let k = Tensor::randn([c_out, c_in / groups, kernel[0], kernel[1]], opts);
            let dy = Tensor::randn([2, c_out, out[0], out[1]], opts);
            let y = conv.forward(&x, &k).unwrap();
            assert_eq!(y.size(), vec![2, c_out, out[0], out[1]]);
            let (dx_auto, dk_auto) = autograd(&conv, &x, &k, &dy);
            let dk = conv.kernel_gradient(&x, &dy, kernel).unwrap();
            let dx = conv.input_gradient(&dy, &k, size).unwrap();
            let (ek, ex) = (max_abs(&dk, &dk_auto), max_abs(&dx, &dx_auto));
            assert!(
                ek < 1e-10 && ex < 1e-10,
                "{conv:?} kernel {kernel:?} input {size:?}: |dk| err {ek:e}, |dx| err {ex:e}"
            );
            cases += 1;
        }
    }
    assert!(cases >= 18, "only {cases} cases ran");
}

/// In single precision, as a notebook runs it: within 1e-5 of autograd.
#[test]
fn single_precision_agrees_to_1e_5() {
    let opts = (Kind::Float, Device::Cpu);
    tch::manual_seed(7);
    let conv = Convolution::default().stride(2).padding(1);
    let x = Tensor::randn([3, 4, 13, 13], opts);
    let k = Tensor::randn([5, 4, 3, 3], opts) * 0.3;
    let dy = Tensor::randn([3, 5, 7, 7], opts);
    let (dx_auto, dk_auto) = autograd(&conv, &x, &k, &dy);
    let dk = conv.kernel_gradient(&x, &dy, [3, 3]).unwrap();
    let dx = conv.input_gradient(&dy, &k, [13, 13]).unwrap();
    let scale = dk_auto.abs().max().double_value(&[]);
    assert!(max_abs(&dk, &dk_auto) / scale < 1e-5);
    assert!(max_abs(&dx, &dx_auto) < 1e-5);
}

/// A 3x3 input, 2x2 kernel, stride 1: the notes' worked example, by hand.
/// With x = 1..9 and dy = [[1, 0], [0, 1]], dk[i][j] = x[i][j] + x[i+1][j+1]
/// and dx is k placed at (0, 0) plus k placed at (1, 1).
#[test]
fn the_worked_example_by_hand() {
    let x = Tensor::from_slice(&[1.0f64, 2., 3., 4., 5., 6., 7., 8., 9.]).view([1, 1, 3, 3]);
    let k = Tensor::from_slice(&[1.0f64, -1., 2., 0.5]).view([1, 1, 2, 2]);
    let dy = Tensor::from_slice(&[1.0f64, 0., 0., 1.]).view([1, 1, 2, 2]);
    let conv = Convolution::default();
    let dk = conv.kernel_gradient(&x, &dy, [2, 2]).unwrap();
    assert_eq!(
        Vec::<f64>::try_from(dk.flatten(0, -1)).unwrap(),
        vec![1. + 5., 2. + 6., 4. + 8., 5. + 9.]
    );
    let dx = conv.input_gradient(&dy, &k, [3, 3]).unwrap();
    assert_eq!(
        Vec::<f64>::try_from(dx.flatten(0, -1)).unwrap(),
        vec![1., -1., 0., 2., 0.5 + 1., -1., 0., 2., 0.5]
    );
}

/// With stride 2 on a 6-pixel input and a 3-tap kernel, the last input
/// column is in no window: its gradient is exactly zero.
#[test]
fn input_pixels_no_window_reaches_get_zero() {
    let opts = (Kind::Double, Device::Cpu);
    let conv = Convolution::default().stride(2);
    let k = Tensor::ones([1, 1, 3, 3], opts);
    let dy = Tensor::ones([1, 1, 2, 2], opts);
    let dx = conv.input_gradient(&dy, &k, [6, 6]).unwrap();
    assert_eq!(dx.size(), vec![1, 1, 6, 6]);
    assert_eq!(
        dx.select(3, 5).abs().sum(Kind::Double).double_value(&[]),
        0.0
    );
    assert_eq!(
        dx.select(2, 5).abs().sum(Kind::Double).double_value(&[]),
        0.0
    );
    // Column 2 is shared by both windows.
    assert_eq!(dx.double_value(&[0, 0, 2, 2]), 4.0);
}

/// torchinfo's numbers for torchvision's nets, made once per version of
/// the script in cargo's scratch folder.
fn torchinfo_reference() -> serde_json::Value {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/python/summary_reference.py");
    let hash = deepscope::data::sha256_file(&script).unwrap();
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("summary-reference-{}.json", &hash[..12]));
    if !path.is_file() {
        let partial = path.with_extension("partial");
        let status = std::process::Command::new(root.join(".venv/bin/python"))
            .arg(&script)
            .arg(&partial)
            .status()
            .expect(".venv/bin/python (run `make setup`)");
        assert!(status.success());
        std::fs::rename(&partial, &path).unwrap();
    }
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Parameters exactly and multiply-adds within 1% of torchinfo's (which
/// also counts one per bias and two per batch-norm channel).
#[test]
fn summaries_match_torchinfo_on_torchvision_nets() {
    let refs = torchinfo_reference();
    for (name, builder) in [
        ("alexnet", zoo::alexnet(1000)),
        ("vgg16", zoo::vgg16(1000)),
        ("resnet18", zoo::resnet18(1000)),
        ("googlenet", zoo::googlenet(1000)),
    ] {
        let net = builder.seed(0).build(Device::Cpu).unwrap();
        let s = net.summary();
        let r = &refs[name];
        assert_eq!(
            s.parameters(),
            r["torchinfo_params"].as_i64().unwrap(),
            "{name} parameters"
        );
        assert_eq!(s.parameters(), r["parameters"].as_i64().unwrap());
        let theirs = r["torchinfo_mult_adds"].as_f64().unwrap();
        let rel = (s.mult_adds() as f64 - theirs).abs() / theirs;
        assert!(
            rel < 0.01,
            "{name}: ours {} mult-adds, torchinfo {theirs} ({:.3}% apart)",
            s.mult_adds(),
            100.0 * rel
        );
    }
}

/// Receptive fields worked out by hand from the papers' layer tables (and
/// listed by Araujo et al. 2019, with VGG-16's effective padding of 90):
/// AlexNet's pool5 sees 195 pixels, VGG-16's pool5 212, ResNet-18's last
/// block 435.
#[test]
fn receptive_fields_of_the_classic_nets() {
    let field = |b: deepscope::model::ModelBuilder, layer: &str| {
        let net = b.seed(0).build(Device::Cpu).unwrap();
        let s = net.summary();
        s.layers
            .iter()
            .find(|l| l.name == layer)
            .unwrap()
            .field
            .unwrap()
    };
    let alex = field(zoo::alexnet(10), "pool5");
    assert_eq!((alex.size, alex.jump), ([195, 195], [32, 32]));
    let vgg = field(zoo::vgg16(10), "pool5");
    // Thirteen 1-pixel paddings at jumps 1, 1, 2, 2, 4, 4, 4, 8, 8, 8, 16, 16, 16.
    assert_eq!(
        (vgg.size, vgg.jump, vgg.start),
        ([212, 212], [32, 32], [-90, -90])
    );
    let conv5_3 = field(zoo::vgg16(10), "conv5_3");
    assert_eq!(conv5_3.size, [196, 196]);
    let res = field(zoo::resnet18(10), "layer4.1");
    assert_eq!((res.size, res.jump), ([435, 435], [32, 32]));
    // LeNet-5's pool2 by hand: 5, 6 (jump 2), 14, 16 (jump 4).
    let lenet = field(zoo::lenet5(10), "pool2");
    assert_eq!(
        (lenet.size, lenet.jump, lenet.start),
        ([16, 16], [4, 4], [-2, -2])
    );
}

/// The summary's totals add up its rows, and the activation memory counts
/// every value a block writes (a plain twin writes less than the ResNet).
#[test]
fn summary_totals_and_activations() {
    let res = zoo::resnet_small(10, true)
        .seed(0)
        .build(Device::Cpu)
        .unwrap();
    let plain = zoo::resnet_small(10, false)
        .seed(0)
        .build(Device::Cpu)
        .unwrap();
    let (a, b) = (res.summary(), plain.summary());
    assert_eq!(a.parameters(), res.num_parameters());
    assert!(
        a.parameters() > b.parameters(),
        "projection shortcuts add weights"
    );
    assert!(a.mult_adds() > b.mult_adds());
    // Same layers, same outputs: the activation memory differs only by the
    // projections' outputs.
    assert!(a.activation_bytes() > b.activation_bytes());
    let text = a.to_string();
    assert!(
        text.contains("layer3.2") && text.contains("total"),
        "{text}"
    );
    assert_eq!(
        a.layers.last().unwrap().output,
        vec![10],
        "the output layer's shape"
    );
}

/// A summary at another image size: a net with global pooling takes it,
/// and the multiply-adds of its convolutions scale with the pixels.
#[test]
fn summary_at_another_input_size() {
    let net = zoo::resnet18(10).seed(0).build(Device::Cpu).unwrap();
    let full = net.summary();
    // Twice the side: every map of every stage twice as wide (448 / 32 =
    // 14), so four times the convolutions' multiply-adds.
    let double = net.summary_for(&[3, 448, 448]).unwrap();
    assert_eq!(double.parameters(), full.parameters());
    let fc = 512 * 10;
    let ratio = (double.mult_adds() - fc) as f64 / (full.mult_adds() - fc) as f64;
    assert!((ratio - 4.0).abs() < 1e-12, "{ratio}");
    assert_eq!(double.layers[0].output, vec![64, 224, 224]);
    assert_eq!(double.layers.last().unwrap().output, vec![10]);
    assert_eq!(net.summary_for(&[3, 224, 224]).unwrap(), full);
}

/// Two 3x3 convolutions of ones without bias or nonlinearity on a 9x9
/// input: the centre unit's gradient is the box filter convolved with
/// itself, [1, 2, 3, 2, 1] on each axis, on exactly the theoretical field.
#[test]
fn the_effective_field_of_two_box_filters_is_their_convolution() {
    use deepscope::architectures::EffectiveField;
    use deepscope::model::{Conv, ModelBuilder};
    let net = ModelBuilder::new(&[1, 9, 9])
        .conv("conv1", "c1", 1, Conv::new(3).no_bias())
        .conv("conv2", "c2", 1, Conv::new(3).no_bias())
        .seed(0)
        .build(Device::Cpu)
        .unwrap();
    tch::no_grad(|| {
        for name in ["conv1", "conv2"] {
            let mut w = net
                .layer(name)
                .unwrap()
                .tensor("weight")
                .unwrap()
                .shallow_clone();
            let _ = w.fill_(1.0);
        }
    });
    let inputs = Tensor::randn([4, 1, 9, 9], (Kind::Float, Device::Cpu));
    let erf = EffectiveField::measure(&net, "conv2", &inputs).unwrap();
    assert_eq!(erf.unit, (2, 2));
    let tri = Tensor::from_slice(&[1.0f64, 2., 3., 2., 1.]);
    let want = Tensor::zeros([9, 9], (Kind::Double, Device::Cpu));
    want.narrow(0, 2, 5)
        .narrow(1, 2, 5)
        .copy_(&tri.unsqueeze(1).matmul(&tri.unsqueeze(0)));
    assert!(max_abs(&erf.map, &want) < 1e-12);
    // The field the summary computes: 5 pixels from (2 - 2) = 0 at jump 1,
    // so the centre unit (2, 2) sees rows and columns 2..=6.
    let field = net.summary().output_field().unwrap();
    assert_eq!((field.size, field.start), ([5, 5], [0, 0]));
    assert_eq!(erf.side_holding(1.0).unwrap(), Some(5));
    // The centre 3x3 holds (2 + 3 + 2)^2 = 49 of the 81.
    assert_eq!(erf.side_holding(49.0 / 81.0).unwrap(), Some(3));
    assert_eq!(erf.centre_of_mass().unwrap(), (4.0, 4.0));
    // Per axis the weights 1, 2, 3, 2, 1 (of 9) at offsets -2..2 give a
    // variance of (4 + 2 + 0 + 2 + 4) / 9 = 4/3; two axes: 8/3.
    let r = erf.radius().unwrap().unwrap();
    assert!((r - (8.0f64 / 3.0).sqrt()).abs() < 1e-12, "{r}");
}
