//! The layered model: stopping at layers, activations, switches, copying,
//! freezing and re-initialising, and the zoo's sizes against torchvision's.

mod common;

use common::err_text;
use deepscope::model::{Conv, ModelBuilder};
use deepscope::zoo::{self, FirstLayer, ZfNetConfig};
use tch::{Device, Kind, Tensor};

fn batch(n: i64, shape: &[i64]) -> Tensor {
    let mut dims = vec![n];
    dims.extend_from_slice(shape);
    tch::manual_seed(3);
    Tensor::rand(dims.as_slice(), (Kind::Float, Device::Cpu))
}

#[test]
fn parameter_counts_match_torchvision() {
    for (name, b, want) in [
        ("alexnet", zoo::alexnet(1000), 61_100_840),
        ("vgg11", zoo::vgg11(1000), 132_863_336),
        ("vgg16", zoo::vgg16(1000), 138_357_544),
        ("resnet18", zoo::resnet18(1000), 11_689_512),
        // LeNet-5 with a padded first conv: 156 + 2,416 + 48,120 + 10,164 + 850.
        ("lenet5", zoo::lenet5(10), 61_706),
    ] {
        let m = b.build(Device::Cpu).unwrap();
        assert_eq!(m.num_parameters(), want, "{name}");
    }
}

#[test]
fn stopping_at_a_layer_agrees_with_the_full_pass() {
    let m = zoo::lenet5(10).seed(0).build(Device::Cpu).unwrap();
    let x = batch(4, &[1, 28, 28]);
    let full = m.forward(&x).unwrap();
    let pool2 = m.forward_to(&x, "pool2").unwrap();
    assert_eq!(pool2.size(), vec![4, 16, 5, 5]);
    assert!(m
        .forward_from(&pool2, "pool2")
        .unwrap()
        .allclose(&full, 1e-6, 1e-6, false));
    let acts = m.activations(&x, &["fc5", "conv1", "pool2"]).unwrap();
    assert!(acts[0].allclose(&full, 1e-6, 1e-6, false));
    assert_eq!(acts[1].size(), vec![4, 6, 28, 28]);
    assert!(acts[2].equal(&pool2));
    let summary = m.summary().to_string();
    assert!(
        summary.contains("[16, 5, 5]") && summary.contains("61706"),
        "{summary}"
    );
}

#[test]
fn switches_point_at_the_maxima_of_each_pool_window() {
    let m = zoo::zfnet(&ZfNetConfig::default())
        .seed(1)
        .build(Device::Cpu)
        .unwrap();
    let x = batch(2, &[1, 64, 64]);
    let trace = m.trace(&x, "pool5").unwrap();
    for name in ["pool1", "pool2", "pool5"] {
        let i = m.layer_index(name).unwrap();
        let input = &trace.outputs[i - 1];
        let output = &trace.outputs[i];
        let sw = trace.switches[i]
            .as_ref()
            .expect("max pools record switches");
        // Gathering the pool's input at the switches gives its output.
        let (n, c) = (input.size()[0], input.size()[1]);
        let gathered = input
            .view([n, c, -1])
            .gather(2, &sw.view([n, c, -1]), false)
            .view_as(output);
        assert!(gathered.equal(output), "{name}");
    }
    assert!(trace.switches[m.layer_index("conv1").unwrap()].is_none());
    assert_eq!(trace.outputs.len(), m.layer_index("pool5").unwrap() + 1);
}

#[test]
fn copy_freeze_and_reinitialise_layers() {
    let a = zoo::lenet5(10).seed(1).build(Device::Cpu).unwrap();
    let mut b = zoo::lenet5(10).seed(2).build(Device::Cpu).unwrap();
    b.copy_layers_from(&a, "conv2").unwrap();
    let w = |m: &deepscope::model::Model, l: &str| {
        m.layer(l)
            .unwrap()
            .tensor("weight")
            .unwrap()
            .shallow_clone()
    };
    assert!(w(&a, "conv1").equal(&w(&b, "conv1")) && w(&a, "conv2").equal(&w(&b, "conv2")));
    assert!(!w(&a, "fc3").equal(&w(&b, "fc3")));

    b.freeze_up_to("conv2").unwrap();
    assert!(
        b.is_frozen("conv1").unwrap()
            && b.is_frozen("conv2").unwrap()
            && !b.is_frozen("fc3").unwrap()
    );
    let groups: Vec<String> = b.param_groups().into_iter().map(|g| g.layer).collect();
    assert_eq!(groups, vec!["fc3", "fc4", "fc5"]);
    let x = batch(3, &[1, 28, 28]);
    b.forward(&x).unwrap().sum(Kind::Float).backward();
    assert!(
        !w(&b, "conv1").grad().defined(),
        "frozen layers get no gradient"
    );
    assert!(w(&b, "fc3").grad().defined());
    b.unfreeze(&["conv1"]).unwrap();
    assert!(!b.is_frozen("conv1").unwrap());

    let before = w(&b, "fc5").copy();
    b.reinitialize(&["fc5"], 9).unwrap();
    let first = w(&b, "fc5").copy();
    assert!(!first.equal(&before));
    b.reinitialize(&["fc5"], 9).unwrap();
    assert!(w(&b, "fc5").equal(&first), "re-initialisation is seeded");
    // PyTorch's default bound for fc5 (84 inputs) is 1/sqrt(84).
    assert!(first.abs().max().double_value(&[]) <= 1.0 / 84f64.sqrt());

    let c = zoo::mlp(&[1, 28, 28], &[32], 10, zoo::Activation::Relu)
        .build(Device::Cpu)
        .unwrap();
    let msg = err_text(b.copy_layers_from(&c, "conv2"));
    assert!(msg.contains("conv1: not in the source model"), "{msg}");
    assert!(err_text(b.set_lr_scale("fc3", -1.0)).contains(">= 0"));
}

#[test]
fn seeds_make_models_repeatable() {
    let a = zoo::resnet20([1, 28, 28], 10, true)
        .seed(5)
        .build(Device::Cpu)
        .unwrap();
    let b = zoo::resnet20([1, 28, 28], 10, true)
        .seed(5)
        .build(Device::Cpu)
        .unwrap();
    for ((n, x), (_, y)) in a.named_tensors().iter().zip(b.named_tensors()) {
        assert!(x.equal(&y), "{n}");
    }
}

#[test]
fn residual_and_plain_twins_share_names_but_not_shortcuts() {
    let res = zoo::resnet20([1, 28, 28], 10, true)
        .build(Device::Cpu)
        .unwrap();
    let plain = zoo::resnet20([1, 28, 28], 10, false)
        .build(Device::Cpu)
        .unwrap();
    assert_eq!(res.layer_names(), plain.layer_names());
    let res_names: Vec<String> = res.named_parameters().into_iter().map(|(n, _)| n).collect();
    let plain_names: Vec<String> = plain
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(res_names.contains(&"layer2.0.downsample.0.weight".to_string()));
    assert_eq!(
        res_names
            .iter()
            .filter(|n| n.contains("downsample"))
            .count(),
        6
    );
    assert!(plain_names.iter().all(|n| !n.contains("downsample")));
    assert!(res_names
        .iter()
        .filter(|n| !n.contains("downsample"))
        .eq(plain_names.iter()));
    // ResNet-20 has about 0.27M parameters (He et al. 2016, Table 6).
    assert!(
        (260_000..280_000).contains(&res.num_parameters()),
        "{}",
        res.num_parameters()
    );
}

#[test]
fn both_zfnet_first_layers_build_and_classify() {
    for first in [FirstLayer::Conv7Stride2, FirstLayer::Conv11Stride4] {
        let cfg = ZfNetConfig {
            first,
            ..ZfNetConfig::default()
        };
        let m = zoo::zfnet(&cfg).build(Device::Cpu).unwrap();
        assert_eq!(m.output_shape(), &[10]);
        assert_eq!(m.output_layer(), "fc8");
        let k = if first == FirstLayer::Conv7Stride2 {
            7
        } else {
            11
        };
        assert_eq!(
            m.layer("conv1").unwrap().tensor("weight").unwrap().size(),
            vec![32, 1, k, k]
        );
        assert_eq!(
            m.forward(&batch(2, &[1, 64, 64])).unwrap().size(),
            vec![2, 10]
        );
    }
}

#[test]
fn impossible_stacks_fail_at_build_and_bad_inputs_at_forward() {
    let too_big = ModelBuilder::new(&[1, 4, 4])
        .conv("c", "c", 2, Conv::new(7))
        .build(Device::Cpu);
    let msg = err_text(too_big);
    assert!(
        msg.contains("layer 'c' (conv) cannot take input of shape [1, 4, 4]"),
        "{msg}"
    );
    let no_flatten = ModelBuilder::new(&[1, 4, 4])
        .linear("fc", "fc", 2)
        .build(Device::Cpu);
    assert!(err_text(no_flatten).contains("add a flatten layer"));
    let dup = ModelBuilder::new(&[4])
        .relu("a")
        .relu("a")
        .build(Device::Cpu);
    assert!(err_text(dup).contains("two layers are called 'a'"));
    assert!(
        err_text(ModelBuilder::new(&[0, 3]).relu("a").build(Device::Cpu))
            .contains("positive sizes")
    );
    assert!(err_text(ModelBuilder::new(&[3]).build(Device::Cpu)).contains("at least one layer"));

    let m = zoo::lenet5(10).build(Device::Cpu).unwrap();
    let msg = err_text(m.forward(&Tensor::zeros([28, 28], (Kind::Float, Device::Cpu))));
    assert_eq!(msg, "input: expected a batch [N, 1, 28, 28], got [28, 28]");
    assert!(err_text(m.forward(&batch(1, &[3, 28, 28]))).contains("got [1, 3, 28, 28]"));
    assert!(
        err_text(m.forward(&batch(1, &[1, 28, 28]).to_kind(Kind::Double))).contains("Float (f32)")
    );
    assert!(err_text(m.forward_to(&batch(1, &[1, 28, 28]), "conv9"))
        .contains("no layer named 'conv9'; this model has: conv1, relu1"));
    assert!(err_text(m.activations(&batch(1, &[1, 28, 28]), &["fc5", "nope"])).contains("'nope'"));
}

#[test]
fn concat_runs_branches_on_one_input_and_stacks_their_channels() {
    let m = ModelBuilder::new(&[2, 8, 8])
        .concat(
            "cat",
            vec![
                ModelBuilder::branch().conv("a", "a", 3, Conv::new(3).reflect()),
                ModelBuilder::branch()
                    .conv("b", "b", 4, Conv::new(3).stride(2).padding(1))
                    .upsample("up", 2, deepscope::model::Upsampling::Nearest),
            ],
        )
        .build(Device::Cpu)
        .unwrap();
    assert_eq!(m.output_shape(), [7, 8, 8]);
    let x = batch(2, &[2, 8, 8]);
    let y = m.forward(&x).unwrap();
    let names: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["a.weight", "a.bias", "b.weight", "b.bias"]);
    // Branch a by hand: reflection pad then a valid convolution.
    let p = m.named_parameters();
    let a =
        x.reflection_pad2d([1, 1, 1, 1])
            .conv2d(&p[0].1, Some(&p[1].1), [1, 1], [0, 0], [1, 1], 1);
    let b = x
        .conv2d(&p[2].1, Some(&p[3].1), [2, 2], [1, 1], [1, 1], 1)
        .upsample_nearest2d([8, 8], None, None);
    let d = (y - Tensor::cat(&[a, b], 1)).abs().max().double_value(&[]);
    assert!(d < 1e-6, "{d}");

    let mismatch = ModelBuilder::new(&[2, 8, 8])
        .concat(
            "cat",
            vec![
                ModelBuilder::branch().conv("a", "a", 3, Conv::new(3).padding(1)),
                ModelBuilder::branch().conv("b", "b", 3, Conv::new(3).stride(2).padding(1)),
            ],
        )
        .build(Device::Cpu);
    assert!(err_text(mismatch).contains("same spatial size"));
    let empty = ModelBuilder::new(&[2, 8, 8])
        .concat("cat", vec![ModelBuilder::branch()])
        .build(Device::Cpu);
    assert!(err_text(empty).contains("at least one layer"));
    let twice = ModelBuilder::new(&[2, 8, 8])
        .concat("cat", vec![ModelBuilder::branch().relu("r").relu("r")])
        .build(Device::Cpu);
    assert!(err_text(twice).contains("two layers are called 'r'"));
    let small = ModelBuilder::new(&[2, 2, 2])
        .conv("c", "c", 1, Conv::new(5).reflect())
        .build(Device::Cpu);
    assert!(err_text(small).contains("reflection padding"));
}

#[test]
fn leaky_relu_layer_and_its_gradient_follow_the_slope() {
    // Values on both sides of zero, and zero itself (the slope's side, as
    // in PyTorch); distinct upstream gradients so that a mixed-up element
    // shows.
    let xs = [-3.0f32, -0.5, 0.0, 0.25, 2.0, -1e-3];
    let gs = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    let x = Tensor::from_slice(&xs)
        .reshape([1, 6, 1, 1])
        .set_requires_grad(true);
    let g = Tensor::from_slice(&gs).reshape([1, 6, 1, 1]);
    for slope in [0.2f32, 0.01, 0.0, 1.5] {
        let m = ModelBuilder::new(&[6, 1, 1])
            .leaky_relu("act", slope as f64)
            .build(Device::Cpu)
            .unwrap();
        let y = m.forward(&x).unwrap();
        let loss = (&y * &g).sum(Kind::Float);
        let grad = Tensor::run_backward(&[&loss], &[&x], false, false)
            .pop()
            .unwrap();
        for (i, (v, gi)) in xs.iter().zip(gs).enumerate() {
            let i = i as i64;
            let want = if *v > 0.0 { *v } else { slope * v };
            assert_eq!(
                y.double_value(&[0, i, 0, 0]) as f32,
                want,
                "slope {slope}, x {v}"
            );
            let dwant = if *v > 0.0 { gi } else { slope * gi };
            assert_eq!(
                grad.double_value(&[0, i, 0, 0]) as f32,
                dwant,
                "slope {slope}, x {v}"
            );
        }
    }
}
