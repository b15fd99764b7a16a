//! `deepscope-kernel`: the Jupyter kernel for deepscope. evcxr compiles and
//! runs the cells, with the deepscope library and tch preloaded; this binary
//! speaks the Jupyter protocol around it, carries live displays from the
//! evaluation process over a side channel, turns interrupts into the
//! library's stop flag, and reuses build folders across starts.
//!
//! ```text
//! deepscope-kernel run CONNECTION_FILE    what Jupyter starts (kernel.json)
//! deepscope-kernel install [--prefix DIR | --user]
//! deepscope-kernel warm                   compile the preload into a build folder
//! deepscope-kernel doctor                 check libtorch, device, data, pool
//! deepscope-kernel --version
//! ```

mod completeness;
mod display_channel;
mod doctor;
mod evaluator;
mod install;
mod pool;
mod preload;
mod server;
mod shared;
mod streams;
mod user_error;
mod wire;

use shared::{Preload, Shared};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: deepscope-kernel run CONNECTION_FILE | install [--prefix DIR | --user] | warm | doctor | --version";

/// The libtorch this binary was built against (the parent of its lib folder).
pub fn default_libtorch() -> Option<PathBuf> {
    let lib = env!("DEEPSCOPE_LIBTORCH_LIB");
    (!lib.is_empty())
        .then(|| PathBuf::from(lib).parent().map(PathBuf::from))
        .flatten()
}

/// Makes the environment evcxr's builds and its evaluation process need:
/// `LIBTORCH` for torch-sys, libtorch on the library path for loading cells.
/// Runs before any thread starts.
fn prepare_environment(build_dir: &std::path::Path, socket: Option<&std::path::Path>) {
    // SAFETY (for set_var): called at the top of main, before any thread.
    if std::env::var_os("LIBTORCH").is_none_or(|v| v.is_empty()) {
        if let Some(lt) = default_libtorch() {
            std::env::set_var("LIBTORCH", lt);
        }
    }
    let mut paths: Vec<PathBuf> = Vec::new();
    if let Some(lt) = std::env::var_os("LIBTORCH") {
        // Absolute, as the kernelspec names it: torch-sys rebuilds (minutes)
        // whenever the LIBTORCH string changes.
        let lt = PathBuf::from(lt);
        let lt = std::path::absolute(&lt).unwrap_or(lt);
        std::env::set_var("LIBTORCH", &lt);
        paths.push(lt.join("lib"));
    }
    // Cells link Rust's std dynamically. Their run path points at it
    // relative to the build folder, which is wrong one level below where
    // evcxr loads them from when the build folder and the toolchain share a
    // parent (a pool under ~/.cache and rustup under ~/.rustup).
    if let Some(dir) = rust_target_libdir() {
        paths.push(dir);
    }
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
        paths.extend(std::env::split_paths(&old));
    }
    if let Ok(joined) = std::env::join_paths(paths) {
        std::env::set_var("LD_LIBRARY_PATH", joined);
    }
    std::env::set_var("EVCXR_TMPDIR", build_dir);
    match socket {
        Some(s) => std::env::set_var(deepscope::display::SOCKET_ENV, s),
        None => std::env::remove_var(deepscope::display::SOCKET_ENV),
    }
}

/// Where the toolchain keeps `libstd-*.so`.
fn rust_target_libdir() -> Option<PathBuf> {
    let out = std::process::Command::new("rustc")
        .args(["--print", "target-libdir"])
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let path = PathBuf::from(text.trim());
    path.is_dir().then_some(path)
}

fn grace() -> Duration {
    std::env::var("DEEPSCOPE_INTERRUPT_GRACE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(Duration::from_secs(5), Duration::from_secs_f64)
}

fn run(connection_file: &str) -> Result<(), String> {
    let text =
        std::fs::read_to_string(connection_file).map_err(|e| format!("{connection_file}: {e}"))?;
    let info: jupyter_protocol::ConnectionInfo = serde_json::from_str(&text)
        .map_err(|e| format!("{connection_file}: not a Jupyter connection file: {e}"))?;
    let slot = pool::acquire(&pool::root(), pool::size())
        .map_err(|e| format!("build folder pool {}: {e}", pool::root().display()))?;
    // The socket lives in a folder only this user can enter.
    let socket_dir =
        std::env::temp_dir().join(format!("deepscope-kernel-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&socket_dir).map_err(|e| format!("{}: {e}", socket_dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&socket_dir, std::fs::Permissions::from_mode(0o700));
    }
    let socket_path = socket_dir.join("display.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket_path)
        .map_err(|e| format!("{}: {e}", socket_path.display()))?;
    prepare_environment(&slot.dir, Some(&socket_path));
    eprintln!(
        "deepscope-kernel: build folder {}{}",
        slot.dir.display(),
        if slot.index.is_none() {
            " (pool full: a temporary folder, cold start)"
        } else {
            ""
        }
    );

    let (iopub_tx, iopub_rx) = tokio::sync::mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        session: uuid::Uuid::new_v4().to_string(),
        iopub: iopub_tx,
        current: Mutex::new(None),
        running: Mutex::new(None),
        process: Mutex::new(None),
        preload: Mutex::new(Preload::Running(Instant::now())),
        waiting: Mutex::new(Default::default()),
        build_dir: slot.dir.clone(),
        grace: grace(),
        panic: Mutex::new(None),
        forwarding: Mutex::new(streams::PanicFilter::default()),
        input_cancel: Mutex::new(None),
    });
    display_channel::spawn(listener, shared.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let result = runtime.block_on(server::serve(info, shared, iopub_rx));
    let _ = std::fs::remove_dir_all(&socket_dir);
    drop(slot);
    result.map_err(|e| e.to_string())
}

/// Compiles the preload into a pool folder, so that the next kernel starts
/// warm. Prints how long each part took.
fn warm() -> Result<(), String> {
    let slot = pool::acquire(&pool::root(), pool::size())
        .map_err(|e| format!("build folder pool {}: {e}", pool::root().display()))?;
    if slot.index.is_none() {
        return Err("every build folder is in use by a running kernel".into());
    }
    prepare_environment(&slot.dir, None);
    let started = Instant::now();
    let (mut ctx, _outputs) =
        evcxr::CommandContext::new().map_err(|e| format!("evcxr could not start: {e}"))?;
    let context_ready = started.elapsed();
    preload::run(&mut ctx, &slot.dir)?;
    let preloaded = started.elapsed() - context_ready;
    let cell = Instant::now();
    ctx.execute("let t = tch::Tensor::ones([3], (tch::Kind::Float, tch::Device::Cpu)); t.sum(tch::Kind::Float)")
        .map_err(|e| format!("a first tensor cell failed: {e}"))?;
    println!(
        "warmed {} in {:.1} s (evcxr started {:.1} s, preload {:.1} s, a first library cell {:.1} s)",
        slot.dir.display(),
        started.elapsed().as_secs_f64(),
        context_ready.as_secs_f64(),
        preloaded.as_secs_f64(),
        cell.elapsed().as_secs_f64(),
    );
    Ok(())
}

fn main() -> ExitCode {
    if std::env::var_os("EVCXR_IS_RUNTIME").is_some() {
        // The evaluation process: an interrupt sets the library's stop flag
        // (the kernel kills the process if a cell ignores it). Installed here
        // so that every restarted process has it too.
        if let Err(e) = deepscope::runtime::interrupt::install_flag_handler() {
            eprintln!("deepscope-kernel: no interrupt handler: {e}");
        }
        // Ensures the exported flag is linked in.
        std::hint::black_box(&deepscope::runtime::interrupt::DEEPSCOPE_INTERRUPT_FLAG);
        if let Err(e) = user_error::relay_stdout() {
            eprintln!("deepscope-kernel: cells that stop at `?` will not report an error: {e}");
        }
    }
    // In the evaluation process and evcxr's rustc wrapper this never returns.
    evcxr::runtime_hook();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("--version") | Some("-V") => {
            println!("deepscope-kernel {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Some("doctor") => return doctor::doctor(),
        Some("run") if args.len() == 2 => run(&args[1]),
        Some("install") => install::parse(&args[1..]).and_then(|t| {
            let dir = install::install(&t)?;
            println!(
                "installed kernelspec '{}' in {}",
                install::NAME,
                dir.display()
            );
            Ok(())
        }),
        Some("warm") if args.len() == 1 => warm(),
        _ => Err(USAGE.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("deepscope-kernel: {e}");
            ExitCode::from(2)
        }
    }
}
