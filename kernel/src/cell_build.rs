//! Cells compiled by rustc directly when nothing but the cell changed.
//!
//! evcxr builds every cell with `cargo build`, and cargo spends about 0.09 s
//! of a trivial cell's 0.37 s confirming that none of the 150 dependencies
//! changed before it runs the one rustc that matters. The kernel therefore
//! gives evcxr a `cargo` of its own (this module, in the launcher binary,
//! reached through a toolchain folder in the build folder, see
//! [`install`]). For the cell build it:
//!
//! - runs the real cargo the first time, with itself as rustc's wrapper,
//!   and keeps the exact rustc command cargo ran for the cell crate, with
//!   what that build read: the cargo arguments, manifest, lock file and
//!   environment (as a digest), and the modification times of every
//!   source file of the path dependencies (the library, `kernel/cells`,
//!   any `:dep` by path), every build script and the crates linked;
//! - at the next cell, if none of that changed, runs that rustc
//!   command alone, links the result where cargo would and reports it as
//!   cargo would (`compiler-artifact`); rustc's JSON diagnostics go out as
//!   they are, which evcxr reads as it reads cargo's;
//! - otherwise, and for every other cargo command, runs the real cargo.
//!
//! Anything unexpected (a wrapper evcxr chose itself, a state file that
//! does not parse, a file that cannot be read) means the real cargo.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The name the launcher answers to as evcxr's `cargo`.
pub const CARGO: &str = "cargo";
/// The name the launcher answers to as rustc's wrapper while recording.
pub const RECORDER: &str = "deepscope-rustc-recorder";
/// The real cargo, set by the kernel for the shim.
pub const REAL_CARGO_ENV: &str = "DEEPSCOPE_REAL_CARGO";
const RECORD_ENV: &str = "DEEPSCOPE_CELL_BUILD_RECORD";
/// evcxr's crate name for cells.
const CELL_CRATE: &str = "ctx";
/// Under the cell crate's `target/` folder.
const STATE: &str = "deepscope-cell-build.json";
const RECORD: &str = "deepscope-cell-build.record.json";
/// The last cell build's way, under `target/`.
pub const LOG: &str = "deepscope-cell-build.log";
/// The toolchain folder's name, in the build folder.
const TOOLCHAIN: &str = ".deepscope-toolchain";
/// Variables that hold a cargo run's jobserver file descriptors: they mean
/// nothing to a rustc started later.
const JOBSERVER: [&str; 3] = ["CARGO_MAKEFLAGS", "MAKEFLAGS", "MFLAGS"];

/// rustc's command for the cell crate, as cargo ran it.
#[derive(Serialize, Deserialize)]
struct Invocation {
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: String,
}

/// What a later cell build needs to know to skip cargo.
#[derive(Serialize, Deserialize)]
struct State {
    /// Digest of the cargo arguments, manifest, lock file, cargo config
    /// and environment.
    key: String,
    rustc: Invocation,
    /// Files whose change cargo would act on: (path, modified in ns).
    watched: Vec<(String, u128)>,
}

/// `cargo ARGS`, as evcxr runs it: a cell build skips cargo where it can;
/// everything else is the real cargo's.
pub fn cargo_main() -> i32 {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let Some(real) = std::env::var_os(REAL_CARGO_ENV).filter(|c| !c.is_empty()) else {
        eprintln!("deepscope cargo shim: {REAL_CARGO_ENV} is not set: the kernel sets it");
        return 101;
    };
    let crate_dir = std::env::current_dir().ok();
    let cell_build = crate_dir
        .as_deref()
        .filter(|dir| is_cell_build(&args, dir))
        .filter(|_| std::env::var_os("RUSTC_WRAPPER").is_none());
    let Some(dir) = cell_build else {
        let e = Command::new(&real).args(&args).exec();
        eprintln!(
            "deepscope cargo shim: cannot run {}: {e}",
            real.to_string_lossy()
        );
        return 101;
    };
    let target = dir.join("target");
    let key = key(dir, &args);
    let why = match load(&target.join(STATE)) {
        None => "no state kept".to_owned(),
        Some(state) if key.as_deref() != Some(state.key.as_str()) => {
            "the arguments, manifest, lock file or environment changed".to_owned()
        }
        Some(state) => match changed(&state.watched) {
            Some(path) => format!("{path} changed"),
            None => match rustc_alone(&state.rustc) {
                Some(code) => {
                    note(&target, "rustc alone");
                    return code;
                }
                None => "rustc could not be started".to_owned(),
            },
        },
    };
    note(&target, &format!("cargo: {why}"));
    let _ = std::fs::remove_file(target.join(STATE));
    let record = target.join(RECORD);
    let _ = std::fs::remove_file(&record);
    // Beside the name this was started under (the toolchain's link, where
    // the current executable would be the launcher itself).
    let recorder = std::env::args_os()
        .next()
        .map(|me| PathBuf::from(me).with_file_name(RECORDER))
        .filter(|r| r.is_absolute() && r.exists());
    let mut cargo = Command::new(&real);
    cargo.args(&args);
    if let Some(recorder) = &recorder {
        cargo
            .env("RUSTC_WRAPPER", recorder)
            .env(RECORD_ENV, &record);
    }
    let code = match cargo.status() {
        Ok(status) => status.code().unwrap_or(101),
        Err(e) => {
            eprintln!(
                "deepscope cargo shim: cannot run {}: {e}",
                real.to_string_lossy()
            );
            return 101;
        }
    };
    // Kept even when the cell failed to compile: its dependencies built,
    // and the next cell needs only rustc. The key as cargo left the folder
    // (it writes the lock file as it builds).
    if let (Some(key), Some(rustc)) = (self::key(dir, &args), read_record(&record)) {
        let state = State {
            key,
            watched: watched(dir, &rustc),
            rustc,
        };
        save(&target.join(STATE), &state);
    }
    let _ = std::fs::remove_file(&record);
    code
}

/// `RECORDER RUSTC ARGS`: cargo's rustc wrapper while recording. Keeps the
/// command for the cell crate, then runs rustc.
pub fn recorder_main() -> i32 {
    let mut args = std::env::args_os().skip(1);
    let Some(rustc) = args.next() else {
        eprintln!("deepscope rustc recorder: no rustc given");
        return 101;
    };
    let args: Vec<OsString> = args.collect();
    if let Some(record) = std::env::var_os(RECORD_ENV) {
        if is_cell_crate(&args) {
            if let Some(invocation) = invocation(&rustc, &args) {
                if let Ok(text) = serde_json::to_vec(&invocation) {
                    let _ = std::fs::write(record, text);
                }
            }
        }
    }
    let mut command = Command::new(&rustc);
    command.args(&args).env_remove(RECORD_ENV);
    let e = command.exec();
    eprintln!(
        "deepscope rustc recorder: cannot run {}: {e}",
        rustc.to_string_lossy()
    );
    101
}

/// evcxr's cell build: `[--offline] build --target T --message-format=json`
/// in the folder of the crate named `ctx`.
fn is_cell_build(args: &[OsString], dir: &Path) -> bool {
    let args: Vec<&str> = match args.iter().map(|a| a.to_str()).collect::<Option<Vec<_>>>() {
        Some(a) => a,
        None => return false,
    };
    let args = match args.as_slice() {
        ["--offline", rest @ ..] => rest,
        rest => rest,
    };
    let shape = matches!(args, ["build", "--target", _, "--message-format=json"]);
    shape && is_cell_folder(dir)
}

/// Whether `dir` holds evcxr's cell crate (its Cargo.toml names `ctx`).
fn is_cell_folder(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .is_ok_and(|m| m.contains(&format!("name = \"{CELL_CRATE}\"")))
}

fn is_cell_crate(args: &[OsString]) -> bool {
    let has = |flag: &str, value: &str| args.windows(2).any(|w| w[0] == flag && w[1] == value);
    has("--crate-name", CELL_CRATE) && has("--crate-type", "cdylib")
}

fn invocation(rustc: &OsString, args: &[OsString]) -> Option<Invocation> {
    let text = |s: &OsString| s.to_str().map(str::to_owned);
    let mut env = Vec::new();
    for (k, v) in std::env::vars_os() {
        let (k, v) = (text(&k)?, text(&v)?);
        if k == RECORD_ENV || k == "RUSTC_WRAPPER" || JOBSERVER.contains(&k.as_str()) {
            continue;
        }
        env.push((k, v));
    }
    Some(Invocation {
        program: text(rustc)?,
        args: args.iter().map(text).collect::<Option<_>>()?,
        env,
        cwd: std::env::current_dir().ok()?.to_str()?.to_owned(),
    })
}

/// Digest of what cargo reads besides the files in [`watched`].
fn key(dir: &Path, args: &[OsString]) -> Option<String> {
    let mut hash = Sha256::new();
    // A build folder copied from another (the pool seeds them so) holds
    // the other's state, whose paths name the other folder.
    hash.update(dir.as_os_str().as_encoded_bytes());
    hash.update([0]);
    for arg in args {
        hash.update(arg.as_encoded_bytes());
        hash.update([0]);
    }
    for file in ["Cargo.toml", "Cargo.lock", ".cargo/config.toml"] {
        match std::fs::read(dir.join(file)) {
            Ok(bytes) => hash.update(&bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => hash.update(b"-"),
            Err(_) => return None,
        }
        hash.update([0]);
    }
    let mut vars: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| k.to_str().is_none_or(|k| !varies_harmlessly(k)))
        .collect();
    vars.sort();
    for (k, v) in vars {
        hash.update(k.as_encoded_bytes());
        hash.update([b'=']);
        hash.update(v.as_encoded_bytes());
        hash.update([0]);
    }
    Some(format!("{:x}", hash.finalize()))
}

/// Variables that differ between a ready evaluator's preparation and the
/// kernel it serves (the kernel's own, Jupyter's, the shell's) and that no
/// build reads: left out of the key, so that the first cell after a
/// handover needs no cargo either. Any other change means the real cargo.
fn varies_harmlessly(key: &str) -> bool {
    const EXACT: &[&str] = &["PWD", "OLDPWD", "SHLVL", "_"];
    const PREFIX: &[&str] = &["JPY_", "JUPYTER_", "PYDEVD_"];
    crate::ready::env::is_own(key)
        || EXACT.contains(&key)
        || PREFIX.iter().any(|p| key.starts_with(p))
}

/// The files whose change would make cargo do more than recompile the
/// cell: every source that a dependency's dep-info lists outside cargo's
/// registry (the path dependencies and the build scripts), their
/// manifests, and the crates the cell links.
fn watched(dir: &Path, rustc: &Invocation) -> Vec<(String, u128)> {
    let registry = cargo_home().map(|h| h.join("registry"));
    let own = dir.join("src");
    let mut paths = std::collections::BTreeSet::new();
    let mut cell_dirs = std::collections::HashMap::new();
    let target = dir.join("target");
    // Dep-info files: the crates' in `deps`, the build scripts' in
    // `build/<package>-<hash>`, for the host (`target/debug`) and for the
    // target triple (`target/<triple>/debug`).
    let mut profiles = vec![target.join("debug")];
    if let Ok(entries) = std::fs::read_dir(&target) {
        profiles.extend(entries.flatten().map(|e| e.path().join("debug")));
    }
    let mut dep_dirs = Vec::new();
    for profile in profiles {
        dep_dirs.push(profile.join("deps"));
        if let Ok(entries) = std::fs::read_dir(profile.join("build")) {
            dep_dirs.extend(entries.flatten().map(|e| e.path()));
        }
    }
    for deps in dep_dirs {
        let Ok(entries) = std::fs::read_dir(&deps) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().is_none_or(|x| x != "d") {
                continue;
            }
            // The cell crate's own (rebuilt at every cell, and in a folder
            // seeded from another, naming that folder's sources).
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            if stem == CELL_CRATE || stem.starts_with(&format!("{CELL_CRATE}-")) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            for source in dep_info_sources(&text) {
                // Relative for the cell crate's own files (rustc ran there).
                let source = dir.join(source);
                let outside = registry.as_ref().is_none_or(|r| !source.starts_with(r));
                if outside
                    && !source.starts_with(&own)
                    && !source.starts_with(&target)
                    && !in_a_build_folder(&source, &mut cell_dirs)
                {
                    if let Some(manifest) = manifest_of(&source) {
                        paths.insert(manifest);
                    }
                    paths.insert(source);
                }
            }
        }
    }
    let mut args = rustc.args.iter();
    while let Some(arg) = args.next() {
        if arg == "--extern" {
            if let Some((_, path)) = args.next().and_then(|a| a.split_once('=')) {
                paths.insert(PathBuf::from(path));
            }
        }
    }
    paths
        .into_iter()
        .filter_map(|p| Some((p.to_str()?.to_owned(), modified(&p)?)))
        .collect()
}

/// The sources a dep-info file lists (`target: a.rs b\ c.rs`), spaces
/// unescaped.
fn dep_info_sources(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((_, deps)) = line.split_once(": ") else {
            continue;
        };
        let mut current = String::new();
        let mut chars = deps.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&' ') => current.push(chars.next().unwrap_or(' ')),
                ' ' => {
                    if !current.is_empty() {
                        out.push(std::mem::take(&mut current));
                    }
                }
                c => current.push(c),
            }
        }
        if !current.is_empty() {
            out.push(current);
        }
    }
    out
}

/// Whether `source` lies in a cells' build folder (this one's or, in a
/// folder the pool seeded from another, the other's: generated files of its
/// `target/`, its cell): those change with every cell there and are not
/// dependencies' sources. `known` caches the answer per folder.
fn in_a_build_folder(source: &Path, known: &mut std::collections::HashMap<PathBuf, bool>) -> bool {
    source.ancestors().skip(1).any(|dir| {
        *known
            .entry(dir.to_path_buf())
            .or_insert_with(|| is_cell_folder(dir))
    })
}

/// The Cargo.toml of the package a source file belongs to.
fn manifest_of(source: &Path) -> Option<PathBuf> {
    source
        .ancestors()
        .skip(1)
        .map(|d| d.join("Cargo.toml"))
        .find(|m| m.is_file())
}

fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
}

fn modified(path: &Path) -> Option<u128> {
    let time = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(time.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos())
}

/// The first watched file that changed (or the lack of any watched).
fn changed(watched: &[(String, u128)]) -> Option<String> {
    if watched.is_empty() {
        return Some("nothing watched".into());
    }
    watched
        .iter()
        .find(|(path, when)| modified(Path::new(path)) != Some(*when))
        .map(|(path, _)| path.clone())
}

/// The last cell build's way and why, in `target/` (for whoever wonders
/// why a cell was slow).
fn note(target: &Path, line: &str) {
    let _ = std::fs::write(target.join(LOG), format!("{line}\n"));
}

fn load(path: &Path) -> Option<State> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn read_record(path: &Path) -> Option<Invocation> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Written whole under another name, then renamed: a reader never sees half.
fn save(path: &Path, state: &State) {
    let Ok(text) = serde_json::to_vec(state) else {
        return;
    };
    let partial = path.with_extension("partial");
    if std::fs::write(&partial, text).is_ok() {
        let _ = std::fs::rename(&partial, path);
    }
}

/// Runs the kept rustc command and answers as cargo would; `None` when it
/// could not be run at all (then the real cargo runs).
fn rustc_alone(rustc: &Invocation) -> Option<i32> {
    let output = Command::new(&rustc.program)
        .args(&rustc.args)
        .env_clear()
        .envs(rustc.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&rustc.cwd)
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let _ = std::io::stderr().write_all(&output.stderr);
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(&output.stdout);
    let code = output.status.code().unwrap_or(101);
    if code != 0 {
        return Some(code);
    }
    let Some(built) = built_object(rustc) else {
        return Some(101);
    };
    // Where cargo puts a root crate's artifact (and reports it): one folder
    // above rustc's output folder.
    let uplifted = built
        .parent()
        .and_then(Path::parent)
        .zip(built.file_name())
        .map(|(dir, name)| dir.join(name))?;
    let _ = std::fs::remove_file(&uplifted);
    if std::fs::hard_link(&built, &uplifted).is_err() {
        std::fs::copy(&built, &uplifted).ok()?;
    }
    let artifact = serde_json::json!({
        "reason": "compiler-artifact",
        "package_id": format!("path+file://{}#{CELL_CRATE}", rustc.cwd),
        "target": { "name": CELL_CRATE, "kind": ["cdylib"], "crate_types": ["cdylib"] },
        "filenames": [uplifted],
        "fresh": false,
    });
    let _ = writeln!(stdout, "{artifact}");
    let _ = writeln!(
        stdout,
        "{}",
        serde_json::json!({ "reason": "build-finished", "success": true })
    );
    Some(0)
}

/// The shared object rustc writes: `--out-dir` and the platform's name for
/// the crate.
fn built_object(rustc: &Invocation) -> Option<PathBuf> {
    let out_dir = rustc
        .args
        .windows(2)
        .find(|w| w[0] == "--out-dir")
        .map(|w| PathBuf::from(&w[1]))?;
    Some(out_dir.join(format!(
        "{}{CELL_CRATE}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )))
}

/// Makes evcxr use the shim: a toolchain folder in `build_dir` whose
/// `cargo` and recorder are `launcher` and whose `rustc` is the real one,
/// named by `RUSTUP_TOOLCHAIN` (which `rustup which cargo`, evcxr's way to
/// find cargo, obeys) or first on `PATH` where there is no rustup. Returns
/// the variables to set, or why not (then evcxr finds the real cargo).
pub fn install(build_dir: &Path, launcher: &Path) -> Result<Vec<(String, OsString)>, String> {
    let rustup = tool_by_rustup("cargo").is_some();
    let find = |tool: &str| {
        if rustup {
            tool_by_rustup(tool)
        } else {
            on_path(tool)
        }
        .ok_or_else(|| format!("cannot find {tool}"))
    };
    let (cargo, rustc) = (find("cargo")?, find("rustc")?);
    let toolchain = build_dir.join(TOOLCHAIN);
    let bin = toolchain.join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| format!("{}: {e}", bin.display()))?;
    for (name, to) in [
        (CARGO, launcher),
        (RECORDER, launcher),
        ("rustc", rustc.as_path()),
    ] {
        let link = bin.join(name);
        let partial = bin.join(format!(".{name}.partial"));
        let _ = std::fs::remove_file(&partial);
        std::os::unix::fs::symlink(to, &partial)
            .and_then(|_| std::fs::rename(&partial, &link))
            .map_err(|e| format!("{}: {e}", link.display()))?;
    }
    let mut vars = vec![(REAL_CARGO_ENV.to_owned(), cargo.into_os_string())];
    if rustup {
        vars.push(("RUSTUP_TOOLCHAIN".into(), toolchain.into_os_string()));
    } else {
        let mut paths = vec![bin];
        if let Some(old) = std::env::var_os("PATH") {
            paths.extend(std::env::split_paths(&old));
        }
        let joined = std::env::join_paths(paths).map_err(|e| e.to_string())?;
        vars.push(("PATH".into(), joined));
    }
    Ok(vars)
}

/// `rustup which TOOL` for the toolchain this environment names.
fn tool_by_rustup(tool: &str) -> Option<PathBuf> {
    let mut rustup = Command::new("rustup");
    rustup.args(["which", tool]);
    // A kernel started from a cell inherits this module's toolchain: ask
    // about the one it stands in for.
    if std::env::var_os("RUSTUP_TOOLCHAIN").is_some_and(|t| Path::new(&t).ends_with(TOOLCHAIN)) {
        rustup.env_remove("RUSTUP_TOOLCHAIN");
    }
    let out = rustup.output().ok()?;
    if !out.status.success() {
        return None;
    }
    let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    path.is_file().then_some(path)
}

fn on_path(tool: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_variables_no_build_reads_are_left_out_of_the_key() {
        for k in [
            "JPY_PARENT_PID",
            "JUPYTER_PATH",
            "DEEPSCOPE_DISPLAY_SOCKET",
            "PWD",
        ] {
            assert!(varies_harmlessly(k), "{k}");
        }
        for k in [
            "PATH",
            "LIBTORCH",
            "RUSTFLAGS",
            "CC",
            "CARGO_HOME",
            "DEEPSCOPE_SOURCE",
        ] {
            assert!(!varies_harmlessly(k), "{k}");
        }
    }

    #[test]
    fn dep_info_lists_sources_with_escaped_spaces() {
        let text = "/t/deps/libx.rlib: /src/a.rs /src/my\\ dir/b.rs\n\n/src/a.rs:\n";
        assert_eq!(dep_info_sources(text), ["/src/a.rs", "/src/my dir/b.rs"]);
    }

    #[test]
    fn only_evcxrs_cell_build_is_taken() {
        let dir = std::env::temp_dir().join(format!("deepscope-cell-build-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Cargo.toml"), "[package]\nname = \"ctx\"\n").unwrap();
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        let build = [
            "build",
            "--target",
            "x86_64-unknown-linux-gnu",
            "--message-format=json",
        ];
        assert!(is_cell_build(&args(&build), &dir));
        let offline: Vec<&str> = std::iter::once("--offline").chain(build).collect();
        assert!(is_cell_build(&args(&offline), &dir));
        assert!(!is_cell_build(
            &args(&["check", "--target", "x", "--message-format=json"]),
            &dir
        ));
        assert!(!is_cell_build(
            &args(&["metadata", "--format-version=1"]),
            &dir
        ));
        std::fs::write(dir.join("Cargo.toml"), "[package]\nname = \"other\"\n").unwrap();
        assert!(!is_cell_build(&args(&build), &dir));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_cell_crate_is_recognised_by_name_and_type() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(is_cell_crate(&args(&[
            "--crate-name",
            "ctx",
            "src/lib.rs",
            "--crate-type",
            "cdylib"
        ])));
        assert!(!is_cell_crate(&args(&[
            "--crate-name",
            "ctx",
            "--crate-type",
            "lib"
        ])));
        assert!(!is_cell_crate(&args(&[
            "--crate-name",
            "tch",
            "--crate-type",
            "cdylib"
        ])));
    }

    #[test]
    fn a_changed_or_missing_file_is_a_change() {
        let dir = std::env::temp_dir().join(format!("deepscope-cell-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("a.rs");
        std::fs::write(&file, "1").unwrap();
        let when = modified(&file).unwrap();
        let entry = vec![(file.to_str().unwrap().to_owned(), when)];
        assert_eq!(changed(&entry), None);
        let later = vec![(file.to_str().unwrap().to_owned(), when + 1)];
        assert_eq!(changed(&later).as_deref(), file.to_str());
        std::fs::remove_file(&file).unwrap();
        assert_eq!(changed(&entry).as_deref(), file.to_str());
        assert!(
            changed(&[]).is_some(),
            "nothing recorded is not a licence to skip cargo"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
