//! The model zoo: the architectures the papers use, and trained weights for
//! named configurations, cached so notebooks re-run in seconds.

mod architectures;
mod pretrained;

pub use architectures::{
    alexnet, alexnet_small, cifar_resnet, googlenet, googlenet_small, inception, lenet5, mlp,
    resnet18, resnet20, resnet32, resnet44, resnet56, resnet_small, vgg11, vgg16, vgg_small, zfnet,
    Activation, FirstLayer, InceptionWidths, ZfNetConfig,
};
pub use pretrained::{
    cache_dir, pretrained, pretrained_data, pretrained_names, pretrained_on, Pretrained,
    PretrainedInfo,
};
