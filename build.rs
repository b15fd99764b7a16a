//! Links this package's tests, examples and benches against the libtorch of
//! the project's .venv so that they run without `LD_LIBRARY_PATH`, and makes
//! examples and benches see a GPU through tch's own `Device::cuda_if_available()`.
//!
//! torch-sys publishes the folder it linked against as `DEP_TCH_LIBTORCH_LIB`
//! (its `links = "tch"` metadata), visible here because we depend on it directly.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    if target_os != "linux" && target_os != "macos" {
        return;
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    // The linker drops libtorch_cuda (no symbol of it is used), and without it
    // libtorch registers no CUDA backend. Tests load it on demand instead
    // (deepscope::device), which spares each test binary the load time.
    if target_os == "linux" && std::path::Path::new(&dir).join("libtorch_cuda.so").exists() {
        for target in ["examples", "benches"] {
            println!("cargo:rustc-link-arg-{target}=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}
