//! Choosing where tensors live: CUDA when a GPU is usable, CPU otherwise.
//!
//! tch links `libtorch_cuda.so` only if some symbol of it is used, and the
//! linker's `--as-needed` drops it otherwise; then libtorch never registers its
//! CUDA backend and `Cuda::is_available()` says false even on a GPU machine.
//! Rather than depend on link flags (which cannot reach the kernel's evaluation
//! process or a user's own binary), we load the library ourselves, once, before
//! the first question about CUDA.

use std::path::PathBuf;
use std::sync::OnceLock;
use tch::Device;

/// What [`load_cuda_backend`] found, for diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CudaBackend {
    /// `libtorch_cuda.so` is loaded (from the path given, or by the loader's search).
    Loaded(String),
    /// This libtorch has no CUDA library (a CPU-only build).
    Absent,
    /// The library exists but could not be loaded (missing NVIDIA libraries, ...).
    Failed(String),
}

static CUDA_BACKEND: OnceLock<CudaBackend> = OnceLock::new();

/// Loads libtorch's CUDA library into the process once, so that libtorch can
/// see a GPU. Safe to call many times; later calls return the first result.
pub fn load_cuda_backend() -> &'static CudaBackend {
    CUDA_BACKEND.get_or_init(|| {
        if !cfg!(target_os = "linux") {
            return CudaBackend::Absent;
        }
        let Some(path) = libtorch_lib_dir().map(|d| d.join("libtorch_cuda.so")) else {
            return CudaBackend::Absent;
        };
        if !path.exists() {
            return CudaBackend::Absent;
        }
        open_global(&path)
    })
}

#[cfg(unix)]
fn open_global(path: &std::path::Path) -> CudaBackend {
    use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
    // SAFETY: loading libtorch_cuda runs its static initialisers, which only
    // register the CUDA backend with the libtorch already in this process.
    match unsafe { Library::open(Some(path), RTLD_NOW | RTLD_GLOBAL) } {
        Ok(lib) => {
            // Unloading libtorch_cuda while its hooks stay registered would crash.
            std::mem::forget(lib);
            CudaBackend::Loaded(path.display().to_string())
        }
        Err(e) => CudaBackend::Failed(e.to_string()),
    }
}

#[cfg(not(unix))]
fn open_global(_path: &std::path::Path) -> CudaBackend {
    CudaBackend::Absent
}

/// The folder of the libtorch shared libraries this process runs on: the one
/// holding the `libtorch_cpu.so` the dynamic loader mapped.
pub fn libtorch_lib_dir() -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|p| p.ends_with("/libtorch_cpu.so"))
        .and_then(|p| PathBuf::from(p).parent().map(PathBuf::from))
}

/// The device deepscope computes on: the first CUDA GPU when one is usable,
/// otherwise the CPU. The environment variable `DEEPSCOPE_DEVICE=cpu` forces
/// the CPU (for comparisons, or to leave a GPU to someone else).
pub fn default_device() -> Device {
    if std::env::var("DEEPSCOPE_DEVICE").is_ok_and(|v| v.eq_ignore_ascii_case("cpu")) {
        return Device::Cpu;
    }
    load_cuda_backend();
    Device::cuda_if_available()
}

/// Whether a CUDA GPU is usable from this process (after loading the backend).
pub fn cuda_available() -> bool {
    load_cuda_backend();
    tch::Cuda::is_available()
}
