//! One kernel's life in two steps. [`Prepared::new`] holds a build folder,
//! opens the display side channel and starts the evaluator, which creates
//! evcxr's context and compiles the preload in the background;
//! [`Prepared::serve`] binds the Jupyter sockets and answers until shutdown.
//! A kernel started by Jupyter takes both steps at once; a ready evaluator
//! (see [`crate::ready`]) takes the first ahead of time and the second when
//! a kernel takes it over.

use crate::shared::{lock, Preload, Shared};
use crate::{display_channel, evaluator, pool, server, streams, wire};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a kernel is prepared.
#[derive(Debug, Default, Clone, Copy)]
pub struct Options {
    /// Open the socket on which the evaluation process will receive the
    /// kernel's environment at handover (ready evaluators only).
    pub handover: bool,
    /// Niceness of the preload's build.
    pub preload_nice: i32,
}

/// A kernel whose evaluator runs (or is compiling the preload) and that has
/// not yet bound the Jupyter sockets.
pub struct Prepared {
    shared: Arc<Shared>,
    iopub_rx: tokio::sync::mpsc::UnboundedReceiver<wire::Message>,
    jobs: std::sync::mpsc::Sender<evaluator::Job>,
    handover: Option<UnixListener>,
    _socket_dir: SocketDir,
    slot: pool::Slot,
}

/// The folder of the kernel's sockets, removed with it.
struct SocketDir(PathBuf);

/// Removes the socket folders of kernels that ended without removing their
/// own (killed by Jupyter, or ready evaluators stopped by their service):
/// folders named like ours, older than a minute, whose display socket
/// nobody listens on any more.
fn sweep_socket_dirs(temp: &Path) {
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(id) = name
            .to_str()
            .and_then(|n| n.strip_prefix("deepscope-kernel-"))
        else {
            continue;
        };
        if uuid::Uuid::parse_str(id).is_err() {
            continue; // the ready services' folder, or not ours
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(60));
        if !old {
            continue;
        }
        // A live kernel's display channel takes the probe as a client that
        // sends nothing and leaves.
        let dir = entry.path();
        let abandoned = matches!(
            std::os::unix::net::UnixStream::connect(dir.join("display.sock")),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound)
        );
        if abandoned {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

impl Drop for SocketDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Prepared {
    /// Takes a build folder and starts the evaluator. Changes this
    /// process's environment (for evcxr's builds and its evaluation
    /// process), so it runs before any other thread of the process starts.
    pub fn new(options: Options) -> Result<Self, String> {
        let slot = pool::acquire(&pool::root(), pool::size())
            .map_err(|e| format!("build folder pool {}: {e}", pool::root().display()))?;
        sweep_socket_dirs(&std::env::temp_dir());
        // The sockets live in a folder only this user can enter.
        let socket_dir =
            std::env::temp_dir().join(format!("deepscope-kernel-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&socket_dir)
            .map_err(|e| format!("{}: {e}", socket_dir.display()))?;
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&socket_dir, std::fs::Permissions::from_mode(0o700));
        }
        let bind = |name: &str| {
            let path = socket_dir.join(name);
            UnixListener::bind(&path)
                .map(|l| (l, path.clone()))
                .map_err(|e| format!("{}: {e}", path.display()))
        };
        let (listener, socket_path) = bind("display.sock")?;
        let handover = if options.handover {
            Some(bind("handover.sock")?)
        } else {
            None
        };
        prepare_environment(
            &slot.dir,
            Some(&socket_path),
            handover.as_ref().map(|(_, p)| p.as_path()),
        );
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
            grace: Mutex::new(grace()),
            ask_input: Mutex::new(None),
            preload_nice: options.preload_nice,
            panic: Mutex::new(None),
            forwarding: Mutex::new(streams::PanicFilter::default()),
            input_cancel: Mutex::new(None),
            backlog: crate::backlog::Backlog::new(crate::backlog::limit_from_env()),
        });
        display_channel::spawn(listener, shared.clone());
        let jobs = evaluator::spawn(shared.clone())
            .map_err(|e| format!("no thread for the evaluator: {e}"))?;
        Ok(Self {
            shared,
            iopub_rx,
            jobs,
            handover: handover.map(|(l, _)| l),
            _socket_dir: SocketDir(socket_dir),
            slot,
        })
    }

    /// What the kernel's parts share.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The listener of the handover socket, if prepared with one.
    pub fn handover(&self) -> Option<&UnixListener> {
        self.handover.as_ref()
    }

    /// Waits until the preload is ready (`Ok` with how long it took) or
    /// failed, checking `give_up` between looks.
    pub fn wait_for_preload(&self, give_up: impl Fn() -> bool) -> Result<Duration, String> {
        loop {
            match &*lock(&self.shared.preload) {
                Preload::Ready(took) => return Ok(*took),
                Preload::Failed(why) => return Err(why.clone()),
                Preload::Running(_) => {}
            }
            if give_up() {
                return Err("given up".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Reads the settings a kernel takes from its environment again (after
    /// a ready evaluator took on a kernel's environment).
    pub fn reread_settings(&self) {
        *lock(&self.shared.grace) = grace();
    }

    /// Serves the connection until a shutdown request.
    pub fn serve(self, info: jupyter_protocol::ConnectionInfo) -> Result<(), String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        let Self {
            shared,
            iopub_rx,
            jobs,
            _socket_dir,
            slot,
            ..
        } = self;
        let result = runtime.block_on(server::serve(info, shared, iopub_rx, jobs));
        drop((_socket_dir, slot));
        result.map_err(|e| e.to_string())
    }

    /// Kills the evaluation process (when the kernel it served is gone).
    pub fn kill_evaluation(shared: &Shared) {
        if let Some(process) = lock(&shared.process).as_ref() {
            let _ = lock(process).kill();
        }
    }

    /// The build folder.
    pub fn build_dir(&self) -> &Path {
        &self.slot.dir
    }
}

/// Parses the text of the connection file at `path` (named in errors).
pub fn connection_info(path: &str, text: &str) -> Result<jupyter_protocol::ConnectionInfo, String> {
    serde_json::from_str(text).map_err(|e| format!("{path}: not a Jupyter connection file: {e}"))
}

/// Makes the environment evcxr's builds and its evaluation process need:
/// `LIBTORCH` for torch-sys, libtorch on the library path for loading cells,
/// the build folder, the side channel's socket (and, for a ready evaluator,
/// the handover socket).
pub fn prepare_environment(build_dir: &Path, socket: Option<&Path>, handover: Option<&Path>) {
    // For set_var: called before the process starts its threads
    // (Prepared::new's contract).
    if std::env::var_os("LIBTORCH").is_none_or(|v| v.is_empty()) {
        if let Some(lt) = crate::default_libtorch() {
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
    use_cargo_shim(build_dir);
    match socket {
        Some(s) => std::env::set_var(deepscope::display::SOCKET_ENV, s),
        None => std::env::remove_var(deepscope::display::SOCKET_ENV),
    }
    match handover {
        Some(h) => std::env::set_var(crate::ready::HANDOVER_ENV, h),
        None => std::env::remove_var(crate::ready::HANDOVER_ENV),
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

/// Points evcxr at the launcher's cargo shim (`deepscope_kernel::cell_build`),
/// which compiles a cell with rustc alone when nothing else changed;
/// `DEEPSCOPE_KERNEL_CARGO_SHIM=0` keeps evcxr on the real cargo. Part of
/// [`prepare_environment`], under its contract.
fn use_cargo_shim(build_dir: &Path) {
    if std::env::var("DEEPSCOPE_KERNEL_CARGO_SHIM").is_ok_and(|v| v == "0") {
        return;
    }
    let Some(launcher) = deepscope_kernel::launcher() else {
        eprintln!(
            "deepscope-kernel: no launcher beside the kernel binary: cells build through cargo"
        );
        return;
    };
    match deepscope_kernel::cell_build::install(build_dir, &launcher) {
        Ok(vars) => {
            for (name, value) in vars {
                std::env::set_var(name, value);
            }
        }
        Err(why) => eprintln!("deepscope-kernel: cells build through cargo: {why}"),
    }
}

/// `$DEEPSCOPE_INTERRUPT_GRACE` seconds, default 5.
fn grace() -> Duration {
    std::env::var("DEEPSCOPE_INTERRUPT_GRACE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(Duration::from_secs(5), Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn socket_dir(
        temp: &Path,
        name: &str,
        listening: bool,
        age: Duration,
    ) -> (PathBuf, Option<UnixListener>) {
        let dir = temp.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let listener = UnixListener::bind(dir.join("display.sock")).unwrap();
        let kept = listening.then_some(listener);
        std::fs::File::open(&dir)
            .unwrap()
            .set_modified(SystemTime::now() - age)
            .unwrap();
        (dir, kept)
    }

    #[test]
    fn only_old_abandoned_socket_folders_are_swept() {
        // Short: a socket path has at most 107 bytes.
        let temp = std::env::temp_dir().join(format!(
            "ds-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        std::fs::create_dir_all(&temp).unwrap();
        let hour = Duration::from_secs(3600);
        let id = || format!("deepscope-kernel-{}", uuid::Uuid::new_v4());
        let (abandoned, _) = socket_dir(&temp, &id(), false, hour);
        let (live, _listener) = socket_dir(&temp, &id(), true, hour);
        let (fresh, _) = socket_dir(&temp, &id(), false, Duration::ZERO);
        let (services, _) = socket_dir(&temp, "deepscope-kernel-0", false, hour);
        sweep_socket_dirs(&temp);
        assert!(
            !abandoned.exists(),
            "an old folder nobody listens in is removed"
        );
        assert!(live.exists(), "a running kernel's folder stays");
        assert!(
            fresh.exists(),
            "a folder just made (its kernel binding) stays"
        );
        assert!(
            services.exists(),
            "the ready services' folder is not a kernel's"
        );
        std::fs::remove_dir_all(&temp).unwrap();
    }
}
