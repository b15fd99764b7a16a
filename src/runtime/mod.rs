//! What every part of the library and the kernel share: the interrupt flag
//! that long loops check ([`interrupt`]), where tensors live ([`device`]),
//! and seeded randomness that means the same everywhere ([`rng`]).

pub mod device;
pub mod interrupt;
pub mod rng;
