//! CNN architectures and why they train (the course notes' family): the
//! convolution's backward pass written out and checked against autograd,
//! and, with [`Model::summary`](crate::model::Model::summary), the numbers
//! that set LeNet, AlexNet, VGG, GoogLeNet and ResNet apart (parameters,
//! multiply-adds, activation memory, receptive field), and the effective
//! receptive field measured by gradients (Luo et al. 2016).

mod conv_backward;
mod effective_field;

pub use conv_backward::Convolution;
pub use effective_field::EffectiveField;
