//! What every part of the library and the kernel share: the interrupt flag
//! that long loops check ([`interrupt`]), where tensors live ([`device`]),
//! seeded randomness that means the same everywhere ([`rng`]), and how the C
//! allocator keeps the buffers libtorch frees ([`allocator`]), and files
//! written whole or not at all ([`files`]).

pub mod allocator;
pub mod device;
pub mod files;
pub mod interrupt;
pub mod rng;
