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

/// torchvision's VGG without batch norm; `cfg` lists conv widths and `0`
/// for a max pool. Layers are named as in the VGG paper: `conv3_2` is the
/// second convolution of block 3, `pool3` ends it.
fn vgg(cfg: &[i64], classes: i64) -> ModelBuilder {
    let mut b = ModelBuilder::new(&[3, 224, 224]);
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
    b.adaptive_avg_pool("avgpool", [7, 7])
        .flatten("flatten")
        .linear("fc6", "classifier.0", 4096)
        .relu("relu6")
        .dropout("drop6", 0.5)
        .linear("fc7", "classifier.3", 4096)
        .relu("relu7")
        .dropout("drop7", 0.5)
        .linear("fc8", "classifier.6", classes)
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
