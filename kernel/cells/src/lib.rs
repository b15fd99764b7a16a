//! The deepscope library re-exported whole, built as a Rust `dylib`: what
//! the kernel's cells link against (see this crate's Cargo.toml). Every
//! public item, module and macro of `deepscope` is reachable under the same
//! path, so `use deepscope::prelude::*;` in a cell means what it means in a
//! program that depends on the library directly.

pub use deepscope::*;
