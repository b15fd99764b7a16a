//! Exports torch-sys's C functions from the shared object. rustc's version
//! script for a `dylib` exports Rust symbols only, but a cell instantiates
//! tch's generic and inline code itself, which calls those functions
//! (`atg_sum`, ...) by name: the cell must find them in this object, the one
//! copy whose error state tch reads back.
fn main() {
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let script = out.join("torch-c-api.map");
    std::fs::write(
        &script,
        "{\n  global:\n    at_*; atc_*; atg_*; ati_*; atm_*; ato_*; ats_*; thp_*;\n    get_and_reset_last_err;\n};\n",
    )
    .expect("OUT_DIR is writable");
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!(
            "cargo:rustc-link-arg=-Wl,--version-script={}",
            script.display()
        );
    }
}
