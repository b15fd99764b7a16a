//! Bakes the libtorch library folder into the run path of this package's tests,
//! examples and benches, so they run without `LD_LIBRARY_PATH`.
//!
//! torch-sys publishes the folder it linked against as `DEP_TCH_LIBTORCH_LIB`
//! (its `links = "tch"` metadata), visible here because we depend on it directly.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        if target_os == "linux" || target_os == "macos" {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        }
    }
}
