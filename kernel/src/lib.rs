//! The part of the deepscope kernel that needs neither libtorch nor evcxr:
//! asking the service of ready evaluators for one and handing it the
//! kernel (see [`ready`]). The launcher that Jupyter starts
//! (`deepscope-kernel-launcher`) links this alone, so a kernel served by a
//! ready evaluator does not load libtorch first (about 0.3 s); the kernel
//! binary (`deepscope-kernel`) uses it too.

pub mod cell_build;
pub mod ready;

use std::path::{Path, PathBuf};

/// The kernel binary's file name.
pub const KERNEL: &str = "deepscope-kernel";

/// The launcher's file name (what the kernelspec runs).
pub const LAUNCHER: &str = "deepscope-kernel-launcher";

/// The variable naming the evaluation process's display socket (the
/// library's `deepscope::display::SOCKET_ENV`; a test holds them equal).
pub const DISPLAY_SOCKET_ENV: &str = "DEEPSCOPE_DISPLAY_SOCKET";

/// The kernel binary: `deepscope-kernel` beside the running one (itself,
/// when the kernel runs).
pub fn kernel_binary() -> Option<PathBuf> {
    sibling(KERNEL)
}

/// The launcher beside the running binary, if it was built.
pub fn launcher() -> Option<PathBuf> {
    sibling(LAUNCHER).filter(|p| p.is_file())
}

/// `name` in the folder of the running binary.
pub fn sibling(name: &str) -> Option<PathBuf> {
    let me = std::env::current_exe().ok()?;
    Some(me.with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
}

/// Where the deepscope sources are: `$DEEPSCOPE_SOURCE`, else the workspace
/// this kernel was built from.
pub fn source_dir() -> PathBuf {
    match std::env::var_os("DEEPSCOPE_SOURCE").filter(|s| !s.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
    }
}
