//! `deepscope-kernel doctor`: checks the environment a kernel needs:
//! libtorch, the CUDA backend, the compute device, how cells' freed memory
//! is kept, the data folder, the build folder pool, the launcher Jupyter
//! starts, and the service of ready evaluators.

use deepscope::data;
use deepscope::runtime::device::{default_device, libtorch_lib_dir, load_cuda_backend};
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

/// Prints the report; fails when something a kernel needs is missing.
pub fn doctor() -> ExitCode {
    let mut ok = true;
    let mut report = String::new();
    match libtorch_lib_dir() {
        Some(dir) => _ = writeln!(report, "libtorch:      {}", dir.display()),
        None => {
            report.push_str("libtorch:      not found in this process's mapped libraries\n");
            ok = false;
        }
    }
    _ = writeln!(report, "cuda backend:  {:?}", load_cuda_backend());
    _ = writeln!(report, "device:        {:?}", default_device());
    _ = writeln!(report, "threads:       {}", tch::get_num_threads());
    {
        use deepscope::runtime::allocator as a;
        let allocator = if a::chosen_by_environment() {
            "cells' freed buffers: as MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_ say".to_string()
        } else {
            format!(
                "cells' freed buffers kept (glibc thresholds: mmap {} MiB, trim {} MiB)",
                a::MMAP_THRESHOLD >> 20,
                a::TRIM_THRESHOLD >> 20
            )
        };
        _ = writeln!(report, "allocator:     {allocator}");
    }
    _ = writeln!(
        report,
        "sources:       {}",
        crate::preload::source_dir().display()
    );
    _ = writeln!(
        report,
        "build pool:    {} ({} folders)",
        crate::pool::root().display(),
        crate::pool::size()
    );
    let launcher = deepscope_kernel::launcher();
    _ = writeln!(
        report,
        "launcher:      {}",
        launcher.map_or_else(
            || "not built: Jupyter starts this binary, which loads libtorch first (about 0.3 s)"
                .to_string(),
            |p| p.display().to_string()
        )
    );
    _ = writeln!(
        report,
        "ready service: {}",
        crate::ready::client::describe()
    );
    match data::list() {
        Ok(catalog) => _ = write!(report, "{catalog}"),
        Err(e) => {
            _ = writeln!(report, "data:          {e}");
            ok = false;
        }
    }
    // A closed pipe (`| head`) is not an error worth a panic.
    _ = std::io::stdout().lock().write_all(report.as_bytes());
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
