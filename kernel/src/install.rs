//! `deepscope-kernel install`: writes the kernelspec (`kernel.json` and the
//! logos) so that Jupyter lists "Rust (deepscope)". The spec runs this very
//! binary and carries the environment the evaluation process needs:
//! libtorch for building and loading cells, the data folder, the library
//! sources.

use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

const LOGO_32: &[u8] = include_bytes!("../assets/logo-32x32.png");
const LOGO_64: &[u8] = include_bytes!("../assets/logo-64x64.png");

/// The kernelspec name.
pub const NAME: &str = "deepscope";

/// Where to install, from the command line.
#[derive(Debug, PartialEq)]
pub enum Target {
    /// `<prefix>/share/jupyter/kernels/deepscope` (a virtual environment).
    Prefix(PathBuf),
    /// The user's Jupyter data folder.
    User,
}

/// Parses `install [--prefix DIR | --user]`.
pub fn parse(args: &[String]) -> Result<Target, String> {
    match args {
        [] => Ok(Target::User),
        [flag] if flag == "--user" => Ok(Target::User),
        [flag, dir] if flag == "--prefix" => Ok(Target::Prefix(PathBuf::from(dir))),
        _ => Err("usage: deepscope-kernel install [--prefix DIR | --user]".into()),
    }
}

fn user_data_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("JUPYTER_DATA_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").ok_or("HOME is not set; pass --prefix DIR")?;
    let home = PathBuf::from(home);
    Ok(if cfg!(target_os = "macos") {
        home.join("Library/Jupyter")
    } else {
        std::env::var_os("XDG_DATA_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".local/share"))
            .join("jupyter")
    })
}

/// The folder the spec goes into.
pub fn spec_dir(target: &Target) -> Result<PathBuf, String> {
    let base = match target {
        Target::Prefix(p) => p.join("share/jupyter"),
        Target::User => user_data_dir()?,
    };
    Ok(base.join("kernels").join(NAME))
}

/// The environment the kernel needs, from this process's (as `make setup`
/// exports it) with the build-time libtorch as the fallback.
pub fn kernel_env() -> Map<String, Value> {
    let mut env = Map::new();
    let libtorch = std::env::var("LIBTORCH")
        .ok()
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .or_else(crate::default_libtorch);
    if let Some(lt) = libtorch {
        // Made absolute but not resolved: torch-sys rebuilds when LIBTORCH
        // changes, so the kernel must name it as `make setup`'s warm did.
        let lt = std::path::absolute(&lt).unwrap_or(lt);
        env.insert("LIBTORCH".into(), json!(lt.display().to_string()));
        env.insert(
            "LD_LIBRARY_PATH".into(),
            json!(lt.join("lib").display().to_string()),
        );
    }
    for key in ["DEEPSCOPE_DATA", "DEEPSCOPE_CACHE", "DEEPSCOPE_KERNEL_POOL"] {
        if let Some(v) = std::env::var_os(key).filter(|v| !v.is_empty()) {
            let p = PathBuf::from(&v);
            let p = std::path::absolute(&p).unwrap_or(p);
            env.insert(key.into(), json!(p.display().to_string()));
        }
    }
    env.insert(
        "DEEPSCOPE_SOURCE".into(),
        json!(crate::preload::source_dir().display().to_string()),
    );
    env
}

/// The `kernel.json` for running `exe`.
pub fn kernel_json(exe: &Path) -> Value {
    json!({
        "argv": [exe.display().to_string(), "run", "{connection_file}"],
        "display_name": "Rust (deepscope)",
        "language": "rust",
        "interrupt_mode": "message",
        "env": kernel_env(),
        "metadata": { "debugger": false },
    })
}

/// Writes the spec; returns its folder.
pub fn install(target: &Target) -> Result<PathBuf, String> {
    let dir = spec_dir(target)?;
    // The launcher when it was built beside this binary (a start through a
    // ready evaluator then skips loading libtorch), else this binary.
    let exe = deepscope_kernel::launcher()
        .map_or_else(std::env::current_exe, Ok)
        .and_then(std::fs::canonicalize)
        .map_err(|e| format!("cannot locate this binary: {e}"))?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let spec = serde_json::to_string_pretty(&kernel_json(&exe)).map_err(|e| e.to_string())?;
    for (name, bytes) in [
        ("kernel.json", spec.as_bytes()),
        ("logo-32x32.png", LOGO_32),
        ("logo-64x64.png", LOGO_64),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        assert_eq!(parse(&[]), Ok(Target::User));
        assert_eq!(
            parse(&["--prefix".into(), "/x".into()]),
            Ok(Target::Prefix("/x".into()))
        );
        assert!(parse(&["--prefix".into()]).is_err());
        assert_eq!(
            spec_dir(&Target::Prefix("/v".into())).unwrap(),
            PathBuf::from("/v/share/jupyter/kernels/deepscope")
        );
    }

    #[test]
    fn spec_runs_this_binary_with_message_interrupts() {
        let spec = kernel_json(Path::new("/bin/k"));
        assert_eq!(spec["argv"], json!(["/bin/k", "run", "{connection_file}"]));
        assert_eq!(spec["display_name"], "Rust (deepscope)");
        assert_eq!(spec["language"], "rust");
        assert_eq!(spec["interrupt_mode"], "message");
        assert!(spec["env"]["DEEPSCOPE_SOURCE"].is_string());
    }
}
