//! `update_batch_norm`: the running statistics it leaves are the data's own
//! (computed here independently from the layer's input), averaged over
//! batches as PyTorch's `momentum=None`; everything else is as it was.

use deepscope::data::Split;
use deepscope::model::{Conv, Model, ModelBuilder};
use deepscope::train::update_batch_norm;
use deepscope::zoo;
use tch::{Device, Kind, Tensor};

/// conv (3 filters) -> batch norm -> ReLU -> linear, on 1x6x6 images.
fn net() -> Model {
    ModelBuilder::new(&[1, 6, 6])
        .seed(3)
        .conv("conv", "conv", 3, Conv::new(3))
        .batch_norm("bn", "bn")
        .relu("relu")
        .flatten("flat")
        .linear("fc", "fc", 4)
        .build(Device::Cpu)
        .unwrap()
}

/// `n` images from a fixed seed, not centred, so that the statistics are
/// far from the reset values (mean 0, variance 1).
fn images(n: i64) -> Split {
    tch::manual_seed(11);
    let x = Tensor::randn([n, 1, 6, 6], (Kind::Float, Device::Cpu)) * 2.0 + 0.7;
    let y = Tensor::arange(n, (Kind::Int64, Device::Cpu)).remainder(4);
    Split::new(x, y).unwrap()
}

fn buffer(model: &Model, name: &str) -> Tensor {
    model
        .named_tensors()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t.copy())
        .unwrap()
}

/// Per-channel mean and unbiased variance of the batch norm's input.
fn input_stats(model: &Model, x: &Tensor) -> (Tensor, Tensor) {
    let h = tch::no_grad(|| model.forward_to(x, "conv").unwrap());
    (
        h.mean_dim([0i64, 2, 3].as_slice(), false, Kind::Double),
        h.to_kind(Kind::Double)
            .var_dim([0i64, 2, 3].as_slice(), true, false),
    )
}

fn assert_close(a: &Tensor, b: &Tensor, what: &str) {
    let diff = (a.to_kind(Kind::Double) - b.to_kind(Kind::Double))
        .abs()
        .max()
        .double_value(&[]);
    assert!(diff < 1e-5, "{what}: {a:?} vs {b:?} (max diff {diff})");
}

#[test]
fn one_batch_gives_the_splits_own_statistics() {
    let mut model = net();
    let data = images(20);
    let (mean, var) = input_stats(&model, data.images());
    assert_eq!(update_batch_norm(&mut model, &data, 20).unwrap(), 1);
    assert_close(&buffer(&model, "bn.running_mean"), &mean, "mean");
    assert_close(&buffer(&model, "bn.running_var"), &var, "variance");
}

#[test]
fn several_batches_weigh_equally_whatever_their_size() {
    let mut model = net();
    let data = images(20);
    // Batches of 8, 8 and 4 in storage order.
    let parts: Vec<(Tensor, Tensor)> = [(0, 8), (8, 8), (16, 4)]
        .iter()
        .map(|&(start, len)| input_stats(&model, &data.images().narrow(0, start, len)))
        .collect();
    let mean = parts.iter().map(|p| &p.0).sum::<Tensor>() / 3.0;
    let var = parts.iter().map(|p| &p.1).sum::<Tensor>() / 3.0;
    update_batch_norm(&mut model, &data, 8).unwrap();
    assert_close(&buffer(&model, "bn.running_mean"), &mean, "mean");
    assert_close(&buffer(&model, "bn.running_var"), &var, "variance");
}

#[test]
fn parameters_mode_and_momentum_are_kept() {
    let mut model = net();
    model.set_train(false);
    let params: Vec<(String, Tensor)> = model
        .named_parameters()
        .into_iter()
        .map(|(n, t)| (n, t.copy()))
        .collect();
    let data = images(20);
    update_batch_norm(&mut model, &data, 8).unwrap();
    assert!(!model.is_training(), "evaluation mode is restored");
    for ((n, before), (_, after)) in params.iter().zip(model.named_parameters()) {
        assert!(before.equal(&after), "{n} changed");
    }
    // A later training step moves the statistics by the builder's momentum
    // (0.1), not by the last batch's 1/3.
    let old = buffer(&model, "bn.running_mean");
    let x = data.images().narrow(0, 0, 5);
    let (batch_mean, _) = input_stats(&model, &x);
    model.set_train(true);
    let _ = tch::no_grad(|| model.forward(&x).unwrap());
    assert_close(
        &buffer(&model, "bn.running_mean"),
        &(old.to_kind(Kind::Double) * 0.9 + batch_mean * 0.1),
        "momentum",
    );
}

#[test]
fn nested_batch_norms_are_found_and_a_net_without_any_is_left_alone() {
    // ResNet-20 keeps its batch norms inside residual blocks: 19 of them
    // (one after the first conv, two per block in 9 blocks).
    let mut resnet = zoo::resnet20([1, 8, 8], 10, true)
        .seed(0)
        .build(Device::Cpu)
        .unwrap();
    assert_eq!(
        update_batch_norm(&mut resnet, &images_sized(6, 8), 3).unwrap(),
        resnet
            .named_tensors()
            .iter()
            .filter(|(n, _)| n.ends_with("running_mean"))
            .count()
    );
    let mut mlp = zoo::mlp(&[1, 6, 6], &[5], 4, zoo::Activation::Relu)
        .build(Device::Cpu)
        .unwrap();
    let before: Vec<Tensor> = mlp
        .named_tensors()
        .into_iter()
        .map(|(_, t)| t.copy())
        .collect();
    assert_eq!(update_batch_norm(&mut mlp, &images(4), 2).unwrap(), 0);
    for (b, (_, a)) in before.iter().zip(mlp.named_tensors()) {
        assert!(b.equal(&a));
    }
}

fn images_sized(n: i64, side: i64) -> Split {
    let x = Tensor::rand([n, 1, side, side], (Kind::Float, Device::Cpu));
    Split::new(x, Tensor::zeros([n], (Kind::Int64, Device::Cpu))).unwrap()
}

#[test]
fn a_split_the_net_cannot_take_is_refused_and_the_statistics_are_kept() {
    let mut model = net();
    update_batch_norm(&mut model, &images(20), 20).unwrap();
    let (mean, var) = (
        buffer(&model, "bn.running_mean"),
        buffer(&model, "bn.running_var"),
    );
    // 8x8 images where the net takes 6x6.
    let wrong = Split::new(
        Tensor::rand([4, 1, 8, 8], (Kind::Float, Device::Cpu)),
        Tensor::zeros([4], (Kind::Int64, Device::Cpu)),
    )
    .unwrap();
    assert!(update_batch_norm(&mut model, &wrong, 2).is_err());
    assert!(buffer(&model, "bn.running_mean").equal(&mean));
    assert!(buffer(&model, "bn.running_var").equal(&var));
    assert!(!model.is_training());
}
