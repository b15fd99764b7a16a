//! The model zoo's architectures, as [`ModelBuilder`]s: pick a seed and a
//! device, then `build`. Parameter paths follow torchvision's state-dict keys
//! for AlexNet, VGG and ResNet, so ImageNet weights saved from PyTorch load
//! unchanged; layer names are the ones the papers use (conv1..conv5,
//! fc6..fc8).

use crate::model::{Conv, InitScheme, ModelBuilder};

/// LeNet-5 for `[1, 28, 28]` inputs (LeCun et al. 1998, with ReLU and max
/// pooling as is usual today): conv 6@5x5 (padded), pool, conv 16@5x5, pool,
/// fc 120, fc 84, fc `classes`.
pub fn lenet5(classes: i64) -> ModelBuilder {
    ModelBuilder::new(&[1, 28, 28])
        .conv("conv1", "features.0", 6, Conv::new(5).padding(2))
        .relu("relu1")
        .max_pool("pool1", 2, 2)
        .conv("conv2", "features.3", 16, Conv::new(5))
        .relu("relu2")
        .max_pool("pool2", 2, 2)
        .flatten("flatten")
        .linear("fc3", "classifier.0", 120)
        .relu("relu3")
        .linear("fc4", "classifier.2", 84)
        .relu("relu4")
        .linear("fc5", "classifier.4", classes)
}

/// The first layer of the ZFNet-style net (Zeiler & Fergus Fig. 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FirstLayer {
    /// AlexNet's 11x11 filters with stride 4 (coarse, aliased).
    Conv11Stride4,
    /// Zeiler & Fergus's 7x7 filters with stride 2.
    Conv7Stride2,
}

/// A ZFNet/AlexNet-style stack sized for small inputs (64x64 by default).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ZfNetConfig {
    /// Input `[C, H, W]`.
    pub input: [i64; 3],
    /// The first convolution.
    pub first: FirstLayer,
    /// Channels of conv1..conv5.
    pub channels: [i64; 5],
    /// Width of fc6 and fc7.
    pub fc: i64,
    /// Number of classes (fc8).
    pub classes: i64,
    /// Local response normalisation after pool1 and pool2, as in the paper.
    pub lrn: bool,
}

impl Default for ZfNetConfig {
    /// 64x64 grayscale, 7x7/2 first layer, channels (32, 64, 96, 96, 64),
    /// fc 256, 10 classes, with LRN: about a fifth of ZFNet's widths, sized
    /// for a 2-core CPU.
    fn default() -> Self {
        ZfNetConfig {
            input: [1, 64, 64],
            first: FirstLayer::Conv7Stride2,
            channels: [32, 64, 96, 96, 64],
            fc: 256,
            classes: 10,
            lrn: true,
        }
    }
}

/// The ZFNet-style net: conv1-relu-pool-(LRN), conv2-relu-pool-(LRN),
/// conv3-relu, conv4-relu, conv5-relu, pool5, fc6-relu-dropout,
/// fc7-relu-dropout, fc8. Pools are 3x3 with stride 2 (overlapping, as in
/// the paper).
pub fn zfnet(cfg: &ZfNetConfig) -> ModelBuilder {
    let [c1, c2, c3, c4, c5] = cfg.channels;
    let first = match cfg.first {
        FirstLayer::Conv11Stride4 => Conv::new(11).stride(4).padding(5),
        FirstLayer::Conv7Stride2 => Conv::new(7).stride(2).padding(3),
    };
    let mut b = ModelBuilder::new(&cfg.input)
        .conv("conv1", "features.0", c1, first)
        .relu("relu1")
        .max_pool_with("pool1", 3, 2, 1, false);
    if cfg.lrn {
        b = b.lrn("norm1", 5, 1e-4, 0.75, 2.0);
    }
    b = b
        .conv("conv2", "features.4", c2, Conv::new(5).padding(2))
        .relu("relu2")
        .max_pool_with("pool2", 3, 2, 1, false);
    if cfg.lrn {
        b = b.lrn("norm2", 5, 1e-4, 0.75, 2.0);
    }
    b.conv("conv3", "features.8", c3, Conv::new(3).padding(1))
        .relu("relu3")
        .conv("conv4", "features.10", c4, Conv::new(3).padding(1))
        .relu("relu4")
        .conv("conv5", "features.12", c5, Conv::new(3).padding(1))
        .relu("relu5")
        .max_pool_with("pool5", 3, 2, 1, false)
        .flatten("flatten")
        .linear("fc6", "classifier.0", cfg.fc)
        .relu("relu6")
        .dropout("drop6", 0.5)
        .linear("fc7", "classifier.3", cfg.fc)
        .relu("relu7")
        .dropout("drop7", 0.5)
        .linear("fc8", "classifier.6", cfg.classes)
}

/// torchvision's AlexNet for `[3, 224, 224]` inputs.
pub fn alexnet(classes: i64) -> ModelBuilder {
    ModelBuilder::new(&[3, 224, 224])
        .conv(
            "conv1",
            "features.0",
            64,
            Conv::new(11).stride(4).padding(2),
        )
        .relu("relu1")
        .max_pool("pool1", 3, 2)
        .conv("conv2", "features.3", 192, Conv::new(5).padding(2))
        .relu("relu2")
        .max_pool("pool2", 3, 2)
        .conv("conv3", "features.6", 384, Conv::new(3).padding(1))
        .relu("relu3")
        .conv("conv4", "features.8", 256, Conv::new(3).padding(1))
        .relu("relu4")
        .conv("conv5", "features.10", 256, Conv::new(3).padding(1))
        .relu("relu5")
        .max_pool("pool5", 3, 2)
        .adaptive_avg_pool("avgpool", [6, 6])
        .flatten("flatten")
        .dropout("drop6", 0.5)
        .linear("fc6", "classifier.1", 4096)
        .relu("relu6")
        .dropout("drop7", 0.5)
        .linear("fc7", "classifier.4", 4096)
        .relu("relu7")
        .linear("fc8", "classifier.6", classes)
}

/// VGG's convolutional blocks on `input` without batch norm; `cfg` lists
/// conv widths (3x3, padding 1) and `0` for a 2x2 max pool. Layers are
/// named as in the VGG paper: `conv3_2` is the second convolution of block
/// 3, `pool3` ends it; parameter paths as torchvision's `features.i`.
fn vgg_features(input: &[i64], cfg: &[i64]) -> ModelBuilder {
    let mut b = ModelBuilder::new(input);
    let (mut index, mut block, mut conv) = (0, 1, 0);
    for &c in cfg {
        if c == 0 {
            b = b.max_pool(&format!("pool{block}"), 2, 2);
            index += 1;
            block += 1;
            conv = 0;
        } else {
            conv += 1;
            b = b
                .conv(
                    &format!("conv{block}_{conv}"),
                    &format!("features.{index}"),
                    c,
                    Conv::new(3).padding(1),
                )
                .relu(&format!("relu{block}_{conv}"));
            index += 2;
        }
    }
    b
}

/// VGG's classifier: flatten, fc6 and fc7 of `width` units with ReLU and
/// dropout 0.5, fc8 of `classes` (torchvision's `classifier.i` paths).
fn vgg_head(b: ModelBuilder, width: i64, classes: i64) -> ModelBuilder {
    b.flatten("flatten")
        .linear("fc6", "classifier.0", width)
        .relu("relu6")
        .dropout("drop6", 0.5)
        .linear("fc7", "classifier.3", width)
        .relu("relu7")
        .dropout("drop7", 0.5)
        .linear("fc8", "classifier.6", classes)
}

/// torchvision's VGG without batch norm for `[3, 224, 224]` inputs.
fn vgg(cfg: &[i64], classes: i64) -> ModelBuilder {
    let features = vgg_features(&[3, 224, 224], cfg).adaptive_avg_pool("avgpool", [7, 7]);
    vgg_head(features, 4096, classes)
}

/// torchvision's VGG-11 (configuration A).
pub fn vgg11(classes: i64) -> ModelBuilder {
    vgg(
        &[64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
        classes,
    )
}

/// torchvision's VGG-16 (configuration D).
pub fn vgg16(classes: i64) -> ModelBuilder {
    vgg(
        &[
            64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0,
        ],
        classes,
    )
}

/// torchvision's ResNet-18 for `[3, 224, 224]` inputs.
pub fn resnet18(classes: i64) -> ModelBuilder {
    let mut b = ModelBuilder::new(&[3, 224, 224])
        .init(InitScheme::KaimingNormalFanOut)
        .conv(
            "conv1",
            "conv1",
            64,
            Conv::new(7).stride(2).padding(3).no_bias(),
        )
        .batch_norm("bn1", "bn1")
        .relu("relu")
        .max_pool_with("maxpool", 3, 2, 1, false);
    for (stage, width) in [(1, 64), (2, 128), (3, 256), (4, 512)] {
        for block in 0..2 {
            let stride = if stage > 1 && block == 0 { 2 } else { 1 };
            b = b.basic_block(
                &format!("layer{stage}.{block}"),
                &format!("layer{stage}.{block}"),
                width,
                stride,
                true,
            );
        }
    }
    b.adaptive_avg_pool("avgpool", [1, 1])
        .flatten("flatten")
        .linear("fc", "fc", classes)
}

/// A CIFAR-style ResNet of depth `6n + 2` (He et al. 2016, section 4.2):
/// 3x3 conv 16, three stages of `n` basic blocks (16, 32, 64 channels,
/// strides 1, 2, 2), global average pool, fc. `residual = false` gives its
/// plain twin: the same layers and names without shortcuts.
pub fn cifar_resnet(input: [i64; 3], n: usize, classes: i64, residual: bool) -> ModelBuilder {
    let mut b = ModelBuilder::new(&input)
        .init(InitScheme::KaimingNormalFanOut)
        .conv("conv1", "conv1", 16, Conv::new(3).padding(1).no_bias())
        .batch_norm("bn1", "bn1")
        .relu("relu");
    for (stage, width) in [(1, 16), (2, 32), (3, 64)] {
        for block in 0..n {
            let stride = if stage > 1 && block == 0 { 2 } else { 1 };
            let name = format!("layer{stage}.{block}");
            b = b.basic_block(&name, &name, width, stride, residual);
        }
    }
    b.adaptive_avg_pool("avgpool", [1, 1])
        .flatten("flatten")
        .linear("fc", "fc", classes)
}

/// ResNet-20 (n = 3) and, with `residual = false`, its plain twin.
pub fn resnet20(input: [i64; 3], classes: i64, residual: bool) -> ModelBuilder {
    cifar_resnet(input, 3, classes, residual)
}

/// ResNet-32 (n = 5) and its plain twin.
pub fn resnet32(input: [i64; 3], classes: i64, residual: bool) -> ModelBuilder {
    cifar_resnet(input, 5, classes, residual)
}

/// ResNet-44 (n = 7) and its plain twin.
pub fn resnet44(input: [i64; 3], classes: i64, residual: bool) -> ModelBuilder {
    cifar_resnet(input, 7, classes, residual)
}

/// ResNet-56 (n = 9) and its plain twin.
pub fn resnet56(input: [i64; 3], classes: i64, residual: bool) -> ModelBuilder {
    cifar_resnet(input, 9, classes, residual)
}

/// The widths of one inception module (Szegedy et al. 2015, Table 1): the
/// 1x1 branch, the 3x3 branch's reduction and output, the "5x5" branch's
/// reduction and output, and the pool branch's projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InceptionWidths {
    /// 1x1 convolutions.
    pub c1: i64,
    /// 1x1 reduction before the 3x3.
    pub c3_reduce: i64,
    /// 3x3 convolutions.
    pub c3: i64,
    /// 1x1 reduction before the second wide branch.
    pub c5_reduce: i64,
    /// The second wide branch's outputs.
    pub c5: i64,
    /// 1x1 projection after the 3x3 max pool.
    pub pool_proj: i64,
}

impl InceptionWidths {
    const fn new(
        c1: i64,
        c3_reduce: i64,
        c3: i64,
        c5_reduce: i64,
        c5: i64,
        pool_proj: i64,
    ) -> Self {
        InceptionWidths {
            c1,
            c3_reduce,
            c3,
            c5_reduce,
            c5,
            pool_proj,
        }
    }

    /// Output channels of the module.
    pub fn output(&self) -> i64 {
        self.c1 + self.c3 + self.c5 + self.pool_proj
    }
}

/// torchvision's `BasicConv2d`: convolution without bias, batch norm
/// (eps 1e-3), ReLU; parameters under `path.conv` and `path.bn`.
fn basic_conv(b: ModelBuilder, name: &str, path: &str, out: i64, conv: Conv) -> ModelBuilder {
    let (conv_name, bn_name, relu_name) = if name.is_empty() {
        ("conv".to_string(), "bn".to_string(), "relu".to_string())
    } else {
        (
            name.to_string(),
            format!("{name}_bn"),
            format!("{name}_relu"),
        )
    };
    b.conv(&conv_name, &format!("{path}.conv"), out, conv.no_bias())
        .batch_norm_eps(&bn_name, &format!("{path}.bn"), 1e-3)
        .relu(&relu_name)
}

/// One inception module as a concatenation of four branches, with
/// torchvision's parameter paths under `path` (`branch1`, `branch2.0`, ...).
/// As in torchvision (whose ImageNet weights use it), the second wide
/// branch convolves 3x3, not the paper's 5x5.
pub fn inception(b: ModelBuilder, name: &str, widths: InceptionWidths) -> ModelBuilder {
    let w = widths;
    let p = |s: &str| format!("{name}.{s}");
    let one = basic_conv(
        ModelBuilder::branch(),
        "",
        &p("branch1"),
        w.c1,
        Conv::new(1),
    );
    let three = basic_conv(
        basic_conv(
            ModelBuilder::branch(),
            "reduce",
            &p("branch2.0"),
            w.c3_reduce,
            Conv::new(1),
        ),
        "",
        &p("branch2.1"),
        w.c3,
        Conv::new(3).padding(1),
    );
    let wide = basic_conv(
        basic_conv(
            ModelBuilder::branch(),
            "reduce",
            &p("branch3.0"),
            w.c5_reduce,
            Conv::new(1),
        ),
        "",
        &p("branch3.1"),
        w.c5,
        Conv::new(3).padding(1),
    );
    let pool = basic_conv(
        ModelBuilder::branch().max_pool_with("pool", 3, 1, 1, true),
        "",
        &p("branch4.1"),
        w.pool_proj,
        Conv::new(1),
    );
    b.concat(name, vec![one, three, wide, pool])
}

/// torchvision's GoogLeNet (Inception v1, Szegedy et al. 2015) for
/// `[3, 224, 224]` inputs, without the auxiliary classifiers (parameter
/// paths as torchvision's state dict; 6,624,904 parameters at 1,000
/// classes, as torchvision's `googlenet(aux_logits=False)`). Weights drawn
/// as ResNet's (Kaiming, fan-out), not torchvision's truncated normal.
pub fn googlenet(classes: i64) -> ModelBuilder {
    type W = InceptionWidths;
    let b = ModelBuilder::new(&[3, 224, 224]).init(InitScheme::KaimingNormalFanOut);
    let b = basic_conv(b, "conv1", "conv1", 64, Conv::new(7).stride(2).padding(3))
        .max_pool_with("pool1", 3, 2, 0, true);
    let b = basic_conv(b, "conv2", "conv2", 64, Conv::new(1));
    let b = basic_conv(b, "conv3", "conv3", 192, Conv::new(3).padding(1))
        .max_pool_with("pool2", 3, 2, 0, true);
    let b = inception(b, "inception3a", W::new(64, 96, 128, 16, 32, 32));
    let b = inception(b, "inception3b", W::new(128, 128, 192, 32, 96, 64))
        .max_pool_with("pool3", 3, 2, 0, true);
    let b = inception(b, "inception4a", W::new(192, 96, 208, 16, 48, 64));
    let b = inception(b, "inception4b", W::new(160, 112, 224, 24, 64, 64));
    let b = inception(b, "inception4c", W::new(128, 128, 256, 24, 64, 64));
    let b = inception(b, "inception4d", W::new(112, 144, 288, 32, 64, 64));
    let b = inception(b, "inception4e", W::new(256, 160, 320, 32, 128, 128))
        .max_pool_with("pool4", 2, 2, 0, true);
    let b = inception(b, "inception5a", W::new(256, 160, 320, 32, 128, 128));
    inception(b, "inception5b", W::new(384, 192, 384, 48, 128, 128))
        .adaptive_avg_pool("avgpool", [1, 1])
        .flatten("flatten")
        .dropout("dropout", 0.2)
        .linear("fc", "fc", classes)
}

/// The 28x28 grayscale input of the small zoo (Fashion-MNIST, MNIST).
const SMALL: [i64; 3] = [1, 28, 28];

/// AlexNet's shape for `[1, 28, 28]` inputs: five convolutions (32@5x5,
/// 64@5x5, 96, 96, 64@3x3) with three overlapping 3x3/2 max pools, then
/// fc 256, fc 256 with dropout 0.5, fc `classes`. Layer names as
/// [`alexnet`]'s.
pub fn alexnet_small(classes: i64) -> ModelBuilder {
    ModelBuilder::new(&SMALL)
        .conv("conv1", "features.0", 32, Conv::new(5).padding(2))
        .relu("relu1")
        .max_pool("pool1", 3, 2)
        .conv("conv2", "features.3", 64, Conv::new(5).padding(2))
        .relu("relu2")
        .max_pool("pool2", 3, 2)
        .conv("conv3", "features.6", 96, Conv::new(3).padding(1))
        .relu("relu3")
        .conv("conv4", "features.8", 96, Conv::new(3).padding(1))
        .relu("relu4")
        .conv("conv5", "features.10", 64, Conv::new(3).padding(1))
        .relu("relu5")
        .max_pool("pool5", 3, 2)
        .flatten("flatten")
        .dropout("drop6", 0.5)
        .linear("fc6", "classifier.1", 256)
        .relu("relu6")
        .dropout("drop7", 0.5)
        .linear("fc7", "classifier.4", 256)
        .relu("relu7")
        .linear("fc8", "classifier.6", classes)
}

/// VGG's shape for `[1, 28, 28]` inputs: blocks of 3x3 convolutions
/// (32; 64; 128, 128), each ended by a 2x2 max pool, then fc 256, fc 256
/// with dropout 0.5, fc `classes`. Layer names as [`vgg16`]'s.
pub fn vgg_small(classes: i64) -> ModelBuilder {
    vgg_head(
        vgg_features(&SMALL, &[32, 0, 64, 0, 128, 128, 0]),
        256,
        classes,
    )
}

/// GoogLeNet's shape for `[1, 28, 28]` inputs: a 3x3 stem of 32 channels,
/// a 3x3/2 pool, inception modules 3a and 3b at a quarter of the paper's
/// widths, a pool, module 4a at a quarter width, global average pool,
/// dropout 0.2, fc `classes`.
pub fn googlenet_small(classes: i64) -> ModelBuilder {
    type W = InceptionWidths;
    let b = ModelBuilder::new(&SMALL).init(InitScheme::KaimingNormalFanOut);
    let b = basic_conv(b, "conv1", "conv1", 32, Conv::new(3).padding(1))
        .max_pool_with("pool1", 3, 2, 0, true);
    let b = inception(b, "inception3a", W::new(16, 24, 32, 4, 8, 8));
    let b = inception(b, "inception3b", W::new(32, 32, 48, 8, 24, 16))
        .max_pool_with("pool3", 3, 2, 0, true);
    inception(b, "inception4a", W::new(48, 24, 52, 4, 12, 16))
        .adaptive_avg_pool("avgpool", [1, 1])
        .flatten("flatten")
        .dropout("dropout", 0.2)
        .linear("fc", "fc", classes)
}

/// ResNet-20 for `[1, 28, 28]` inputs (the CIFAR design, He et al. 2016
/// Sec. 4.2) and, with `residual = false`, its plain twin.
pub fn resnet_small(classes: i64, residual: bool) -> ModelBuilder {
    resnet20(SMALL, classes, residual)
}

/// The nonlinearity of an [`mlp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activation {
    /// ReLU.
    Relu,
    /// tanh.
    Tanh,
    /// Logistic sigmoid.
    Sigmoid,
}

/// A multilayer perceptron: flatten, then one hidden layer per width
/// ("fc1", "act1", ...), then "out" with `classes` outputs. Parameters under
/// "layers.i" as `torch.nn.Sequential` would name them.
pub fn mlp(input: &[i64], widths: &[i64], classes: i64, act: Activation) -> ModelBuilder {
    let mut b = ModelBuilder::new(input).flatten("flatten");
    let mut index = 0;
    for (i, &w) in widths.iter().enumerate() {
        let k = i + 1;
        b = b.linear(&format!("fc{k}"), &format!("layers.{index}"), w);
        let name = format!("act{k}");
        b = match act {
            Activation::Relu => b.relu(&name),
            Activation::Tanh => b.tanh(&name),
            Activation::Sigmoid => b.sigmoid(&name),
        };
        index += 2;
    }
    b.linear("out", &format!("layers.{index}"), classes)
}
