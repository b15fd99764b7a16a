//! The model zoo: the architectures the papers use, and trained weights for
//! named configurations, cached so notebooks re-run in seconds.

mod architectures;

pub use architectures::{
    alexnet, cifar_resnet, lenet5, mlp, resnet18, resnet20, vgg11, vgg16, zfnet, Activation,
    FirstLayer, ZfNetConfig,
};
