//! How the C allocator treats the large buffers libtorch frees.
//!
//! On Linux, libtorch's CPU tensors come from glibc's `malloc`. By default
//! glibc serves blocks above a threshold with fresh `mmap`s and hands freed
//! memory at the top of its heap back to the kernel once it exceeds another;
//! both thresholds adapt, but only upwards and only to one block at a time.
//! A forward pass frees several activation buffers of a few MiB each, so
//! every pass hands them back and the next one page-faults them in again,
//! zeroed by the kernel: a loss-surface scan of a ResNet-20 over 500 images
//! took about 22,000 page faults and 45 ms of system time per forward pass,
//! and ran 1.9x faster with the buffers kept (2.5x in PyTorch, which leaves
//! this to the `MALLOC_*` environment variables or to another allocator).
//!
//! [`retain_freed_buffers`] sets both thresholds once for the process: the
//! kernel's evaluation process calls it at start, and a program that runs
//! many forward passes on the CPU can call it first. The cost is memory
//! that stays with the process after a peak, up to [`TRIM_THRESHOLD`] at the
//! top of the heap, and blocks up to [`MMAP_THRESHOLD`] that are reused
//! rather than returned.

use crate::{Error, Result};

/// Blocks up to this size (bytes) come from the heap, where freed ones are
/// reused, not from their own `mmap` (32 MiB, glibc's largest allowed).
pub const MMAP_THRESHOLD: usize = 32 << 20;

/// Free memory at the top of the heap is handed back only above this
/// (bytes; 128 MiB).
pub const TRIM_THRESHOLD: usize = 128 << 20;

/// The environment variables with which a user chooses glibc's thresholds
/// for a process themselves; the kernel leaves those alone.
pub const ENV: [&str; 2] = ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"];

/// Keeps freed buffers in the process (see the module documentation).
/// Returns `Ok(true)` when the thresholds were set, `Ok(false)` where the C
/// library is not glibc (nothing to do), and an error if glibc refused one.
pub fn retain_freed_buffers() -> Result<bool> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        for (option, value, name) in [
            (libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD, "M_MMAP_THRESHOLD"),
            (libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD, "M_TRIM_THRESHOLD"),
        ] {
            // SAFETY: mallopt only changes allocator parameters; it is
            // thread-safe in glibc and the values are within its limits.
            let ok = unsafe { libc::mallopt(option, value as libc::c_int) };
            if ok != 1 {
                return Err(Error::invalid(format!(
                    "glibc refused mallopt({name}, {value})"
                )));
            }
        }
        Ok(true)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        Ok(false)
    }
}

/// Whether the user chose glibc's thresholds through [`ENV`].
pub fn chosen_by_environment() -> bool {
    ENV.iter().any(|k| std::env::var_os(k).is_some())
}
