//! Links the kernel against the libtorch of the project's .venv (run path, so
//! no `LD_LIBRARY_PATH`), with libtorch_cuda kept so that a GPU is visible;
//! see the library's build.rs for why. Also records, for the kernel's
//! defaults, where that libtorch is and which rustc built the kernel.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_default();
    println!("cargo:rustc-env=DEEPSCOPE_RUSTC_VERSION={version}");
    let dir = std::env::var("DEP_TCH_LIBTORCH_LIB").unwrap_or_default();
    println!("cargo:rustc-env=DEEPSCOPE_LIBTORCH_LIB={dir}");
    if dir.is_empty() {
        return;
    }
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" || target_os == "macos" {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    if target_os == "linux" {
        // The library's interrupt flag, exported so that every cell's copy
        // of the library finds this one (see deepscope::train::interrupt).
        println!("cargo:rustc-link-arg-bin=deepscope-kernel=-Wl,--export-dynamic-symbol=DEEPSCOPE_INTERRUPT_FLAG");
    }
    if target_os == "linux" && std::path::Path::new(&dir).join("libtorch_cuda.so").exists() {
        // The kernel binary only: the launcher loads no libtorch.
        println!(
            "cargo:rustc-link-arg-bin=deepscope-kernel=-Wl,--no-as-needed,-ltorch_cuda,--as-needed"
        );
    }
}
