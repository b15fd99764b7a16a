//! The deconvnet against an independent computation: on plain
//! conv/ReLU/max-pool nets, a projection equals the gradient of the seeded
//! activation with respect to the input when ReLU's backward is replaced by
//! ReLU of the incoming gradient. The reference below gets every other
//! layer's backward from tch's autograd, one layer at a time.

mod common;

use common::err_text;
use deepscope::model::{Conv, Model, ModelBuilder, Op};
use deepscope::rng::with_torch_seed;
use deepscope::viz::{Deconvnet, Overlap, Target};
use tch::{Device, Kind, Tensor};

/// conv 5x5/2 (34 px: its transpose needs output padding) -> relu -> overlapping max pool 3x3/2 -> conv 3x3 -> relu
/// -> max pool 2x2/2 -> flatten -> linear -> relu, with batch norm after conv2.
fn plain_net(seed: u64) -> Model {
    let model = ModelBuilder::new(&[3, 34, 34])
        .seed(seed)
        .conv("conv1", "c1", 6, Conv::new(5).stride(2).padding(1))
        .relu("relu1")
        .max_pool("pool1", 3, 2)
        .conv("conv2", "c2", 8, Conv::new(3).padding(1))
        .batch_norm("bn2", "bn2")
        .relu("relu2")
        .max_pool("pool2", 2, 2)
        .flatten("flatten")
        .linear("fc", "fc", 10)
        .relu("relu3")
        .build(Device::Cpu)
        .unwrap();
    // Batch norm with statistics and scale far from the identity, so its
    // (eval-mode) transpose is really tested.
    let _guard = tch::no_grad_guard();
    let bn = &model.layers()[model.layer_index("bn2").unwrap()];
    for (k, (name, lo, hi)) in [
        ("weight", 0.5, 2.0),
        ("running_var", 0.2, 3.0),
        ("running_mean", -1.0, 1.0),
        ("bias", -0.5, 0.5),
    ]
    .into_iter()
    .enumerate()
    {
        let mut t = bn.tensor(name).unwrap().shallow_clone();
        let u = with_torch_seed(seed * 10 + k as u64, || {
            Tensor::rand([8], (Kind::Float, Device::Cpu))
        });
        t.copy_(&(u * (hi - lo) + lo));
    }
    model
}

/// The reference: forward with autograd, seed the chosen activation, and
/// walk back layer by layer, using autograd's vector-Jacobian product for
/// every layer except ReLU, whose backward becomes relu(gradient).
fn reference(model: &Model, image: &Tensor, layer: &str, target: Target) -> Tensor {
    let last = model.layer_index(layer).unwrap();
    let mut inputs = vec![image.unsqueeze(0)];
    let mut outputs = Vec::new();
    for (i, l) in model.layers()[..=last].iter().enumerate() {
        // Each layer's input is a fresh leaf, so its vjp is its own.
        let input = inputs[i].detach().set_requires_grad(true);
        let (y, _) = l.forward(&input, None).unwrap();
        inputs[i] = input;
        outputs.push(y.shallow_clone());
        inputs.push(y.detach());
    }
    let top = outputs[last].detach();
    let mut grad = Tensor::zeros_like(&top);
    match target.position {
        None if top.dim() == 2 => {
            let _ = grad
                .get(0)
                .get(target.channel)
                .fill_(top.get(0).get(target.channel).double_value(&[]));
        }
        None => {
            let map = top.get(0).get(target.channel);
            let w = map.size()[1];
            let flat = map.reshape([-1]).argmax(0, false).int64_value(&[]);
            let v = map.get(flat / w).get(flat % w).double_value(&[]);
            let _ = grad
                .get(0)
                .get(target.channel)
                .get(flat / w)
                .get(flat % w)
                .fill_(v);
        }
        Some((y, x)) => {
            let v = top
                .get(0)
                .get(target.channel)
                .get(y)
                .get(x)
                .double_value(&[]);
            let _ = grad.get(0).get(target.channel).get(y).get(x).fill_(v);
        }
    }
    for i in (0..=last).rev() {
        grad = match model.layers()[i].op {
            Op::Relu => grad.relu(),
            _ => {
                // The vjp as the gradient of <output, grad>.
                let dot = (&outputs[i] * &grad).sum(Kind::Float);
                Tensor::run_backward(&[&dot], &[&inputs[i]], true, false).remove(0)
            }
        };
    }
    grad.squeeze_dim(0)
}

fn close(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn projections_equal_the_rectified_gradient_on_a_plain_net() {
    let model = plain_net(3);
    let images = with_torch_seed(11, || {
        Tensor::randn([4, 3, 34, 34], (Kind::Float, Device::Cpu))
    });
    // The most active map of each (layer, image): a zero activation would
    // project to zero and test nothing.
    let busiest = |layer: &str, image: i64| -> i64 {
        let out = model.forward_to(&images, layer).unwrap().get(image);
        let per_channel = if out.dim() == 1 {
            out
        } else {
            out.reshape([out.size()[0], -1]).amax(1, false)
        };
        per_channel.argmax(0, false).int64_value(&[])
    };
    // And an explicit position: the second strongest of that pool2 map.
    let c = busiest("pool2", 2);
    let map = model.forward_to(&images, "pool2").unwrap().get(2).get(c);
    let w = map.size()[1];
    let flat = map.reshape([-1]).argsort(0, true).int64_value(&[1]);
    let targets = [
        ("conv1", Target::strongest(0, busiest("conv1", 0))),
        ("relu2", Target::strongest(1, busiest("relu2", 1))),
        (
            "pool2",
            Target {
                image: 2,
                channel: c,
                position: Some((flat / w, flat % w)),
            },
        ),
        ("pool2", Target::strongest(3, busiest("pool2", 3))),
        ("relu3", Target::strongest(0, busiest("relu3", 0))),
    ];
    for (layer, target) in targets {
        let ours = Deconvnet::new(&model)
            .project(&images, layer, &[target])
            .unwrap();
        let reference = reference(&model, &images.get(target.image as i64), layer, target);
        assert_eq!(ours.size(), vec![1, 3, 34, 34]);
        let scale = reference.abs().max().double_value(&[]).max(1e-6);
        let err = close(&ours.get(0), &reference);
        assert!(
            err <= 1e-5 * scale.max(1.0),
            "{layer} {target:?}: max error {err} (scale {scale})"
        );
        assert!(scale > 1e-6, "{layer}: the projection is not empty");
    }
}

#[test]
fn a_batch_of_targets_equals_the_targets_one_by_one() {
    let model = plain_net(5);
    let images = with_torch_seed(12, || {
        Tensor::randn([3, 3, 34, 34], (Kind::Float, Device::Cpu))
    });
    let targets: Vec<Target> = (0..9)
        .map(|k| Target::strongest(k % 3, (k % 8) as i64))
        .collect();
    let deconv = Deconvnet::new(&model);
    let batch = deconv.project(&images, "pool2", &targets).unwrap();
    assert_eq!(batch.size(), vec![9, 3, 34, 34]);
    for (k, t) in targets.iter().enumerate() {
        let one = deconv.project(&images, "pool2", &[*t]).unwrap();
        assert!(close(&batch.get(k as i64), &one.get(0)) < 1e-6);
    }
}

#[test]
fn overlapping_windows_that_share_a_pick_add_up_or_overwrite() {
    // pool 3x3/2 on a 9x9 image with one bright pixel at (2, 2): the four
    // windows around it all pick it. A 3x3 all-ones conv above, seeded at
    // one position, sends signal back into all four pool outputs.
    let model = ModelBuilder::new(&[1, 9, 9])
        .max_pool("pool", 3, 2)
        .conv("conv", "c", 1, Conv::new(3).padding(1).no_bias())
        .build(Device::Cpu)
        .unwrap();
    {
        let _guard = tch::no_grad_guard();
        let mut w = model.layers()[1].tensor("weight").unwrap().shallow_clone();
        let _ = w.fill_(1.0);
    }
    let image = Tensor::zeros([1, 1, 9, 9], (Kind::Float, Device::Cpu));
    let _ = image.get(0).get(0).get(2).get(2).fill_(5.0);
    let target = [Target {
        image: 0,
        channel: 0,
        position: Some((1, 1)),
    }];
    let sum = Deconvnet::new(&model)
        .project(&image, "conv", &target)
        .unwrap();
    let over = Deconvnet::new(&model)
        .overlap(Overlap::Overwrite)
        .project(&image, "conv", &target)
        .unwrap();
    // The seed is conv's output at (1, 1): 4 pool outputs of 5 each = 20.
    // Through the all-ones conv each of the 3x3 pool outputs gets 20; the
    // four that picked (2, 2) meet there.
    let at = |t: &Tensor| t.get(0).get(0).get(2).get(2).double_value(&[]);
    assert!((at(&sum) - 80.0).abs() < 1e-4, "sum: {}", at(&sum));
    assert!((at(&over) - 20.0).abs() < 1e-4, "overwrite: {}", at(&over));
    // Elsewhere both rules agree.
    let _ = sum.get(0).get(0).get(2).get(2).fill_(0.0);
    let _ = over.get(0).get(0).get(2).get(2).fill_(0.0);
    assert!(close(&sum, &over) < 1e-6);
}

#[test]
fn what_cannot_be_inverted_is_named() {
    let tanh = ModelBuilder::new(&[1, 8, 8])
        .conv("conv", "c", 2, Conv::new(3))
        .tanh("squash")
        .build(Device::Cpu)
        .unwrap();
    let x = Tensor::ones([1, 1, 8, 8], (Kind::Float, Device::Cpu));
    let e = err_text(Deconvnet::new(&tanh).project(&x, "squash", &[Target::strongest(0, 0)]));
    assert!(e.contains("'squash'") && e.contains("tanh"), "{e}");
    let resnet = deepscope::zoo::resnet20([3, 32, 32], 10, true)
        .build(Device::Cpu)
        .unwrap();
    let x = Tensor::ones([1, 3, 32, 32], (Kind::Float, Device::Cpu));
    let last = resnet.layer_names().last().unwrap().to_string();
    let e = err_text(Deconvnet::new(&resnet).project(&x, &last, &[Target::strongest(0, 0)]));
    assert!(e.contains("residual block"), "{e}");
    let hourglass = deepscope::dip::SkipConfig::cpu()
        .scaled(0.25)
        .build(3, 64, 64, 0, Device::Cpu)
        .unwrap();
    let x = Tensor::ones([1, 32, 64, 64], (Kind::Float, Device::Cpu));
    let e = err_text(Deconvnet::new(&hourglass).project(&x, "concat0", &[Target::strongest(0, 0)]));
    assert!(e.contains("'concat0'") && e.contains("concat"), "{e}");
    let net = plain_net(1);
    let x = Tensor::ones([2, 3, 34, 34], (Kind::Float, Device::Cpu));
    let d = Deconvnet::new(&net);
    assert!(err_text(d.project(&x, "conv2", &[Target::strongest(2, 0)])).contains("out of range"));
    assert!(err_text(d.project(&x, "conv2", &[Target::strongest(0, 8)])).contains("out of range"));
    assert!(err_text(d.project(
        &x,
        "conv2",
        &[Target {
            image: 0,
            channel: 0,
            position: Some((99, 0))
        }]
    ))
    .contains("outside"));
    assert!(err_text(d.project(
        &x,
        "fc",
        &[Target {
            image: 0,
            channel: 0,
            position: Some((0, 0))
        }]
    ))
    .contains("no spatial"));
    assert!(err_text(d.project(&x, "nope", &[Target::strongest(0, 0)])).contains("nope"));
    assert!(err_text(d.project(&x, "conv2", &[])).contains("at least one"));
}
