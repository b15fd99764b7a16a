//! The model zoo: the architectures the papers use, and trained weights for
//! named configurations, cached so notebooks re-run in seconds.

mod architectures;
mod pretrained;

pub use architectures::{
    alexnet, cifar_resnet, lenet5, mlp, resnet18, resnet20, vgg11, vgg16, zfnet, Activation,
    FirstLayer, ZfNetConfig,
};
pub use pretrained::{
    cache_dir, pretrained, pretrained_data, pretrained_names, pretrained_on, Pretrained,
    PretrainedInfo,
};
