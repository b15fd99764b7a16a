//! `deepscope-kernel-launcher run CONNECTION_FILE`: what Jupyter starts.
//!
//! Hands the kernel to a ready evaluator and waits while it serves, as the
//! kernel binary would, but without loading libtorch first (the kernel
//! binary links it: about 0.3 s before its `main`). When no evaluator can be
//! had it becomes the kernel binary (`exec`, same process), which starts
//! the kernel by itself and is told why; any other command goes to the
//! kernel binary unchanged.

use deepscope_kernel::{cell_build, ready};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    // Also evcxr's `cargo` and, while that records, rustc's wrapper: by the
    // name it was started under (links in the build folder's toolchain).
    let name = std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_os_string()));
    if name.as_deref() == Some(cell_build::CARGO.as_ref()) {
        return ExitCode::from(cell_build::cargo_main().clamp(0, 255) as u8);
    }
    if name.as_deref() == Some(cell_build::RECORDER.as_ref()) {
        return ExitCode::from(cell_build::recorder_main().clamp(0, 255) as u8);
    }
    ready::env::capture();
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let mut onward = args.clone();
    if let [run, file] = args.as_slice() {
        if run == "run" {
            let why = match std::fs::read_to_string(file) {
                Ok(text) => match ready::client::take(&text) {
                    Ok(code) => return ExitCode::from(code.clamp(0, 255) as u8),
                    Err(why) => why,
                },
                Err(e) => format!("{}: {e}", file.to_string_lossy()),
            };
            onward.extend(["--without-ready".into(), why.into()]);
        }
    }
    let Some(kernel) = deepscope_kernel::kernel_binary() else {
        eprintln!("deepscope-kernel-launcher: cannot locate the kernel binary");
        return ExitCode::from(2);
    };
    // Returns only when it failed.
    let e = Command::new(&kernel).args(onward).exec();
    eprintln!(
        "deepscope-kernel-launcher: cannot run the kernel binary {}: {e}",
        kernel.display()
    );
    ExitCode::from(2)
}
