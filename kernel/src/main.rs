//! `deepscope-kernel`: the Jupyter kernel for deepscope (the protocol and
//! evcxr evaluation arrive with the kernel issue). Today it answers
//! `--version` and `doctor`, which checks the environment a kernel needs:
//! libtorch, the CUDA backend, the compute device and the data folder.

use deepscope::data;
use deepscope::device::{default_device, libtorch_lib_dir, load_cuda_backend};
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

fn doctor() -> ExitCode {
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

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--version") | Some("-V") => {
            println!("deepscope-kernel {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some("doctor") => doctor(),
        _ => {
            eprintln!(
                "usage: deepscope-kernel --version | doctor\n\
                 (the Jupyter kernel itself is not built yet)"
            );
            ExitCode::from(2)
        }
    }
}
