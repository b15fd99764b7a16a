//! Ready evaluators: kernels that start in a second instead of fifteen.
//!
//! Most of a kernel's start is spent before the first cell: evcxr's first
//! evaluation and the preload (cargo checking the library's dependency
//! graph, linking, rust-analyzer loading it). A per-user *service* keeps a
//! few evaluators with all of that done, each its own process with its own
//! build folder. The kernel process that Jupyter starts (the launcher,
//! `deepscope-kernel-launcher`) asks the service for one and hands it the
//! connection file, its environment, its working folder and
//! its stdout and stderr; the evaluator binds the Jupyter sockets and
//! serves the notebook while the kernel process waits, and the service
//! prepares a replacement. When the kernel process dies (a SIGKILL from
//! Jupyter), the evaluator sees its end of the stream close and exits,
//! taking its evaluation process with it.
//!
//! ```text
//! Jupyter ──starts──▶ launcher ──take──▶ service ──(its stream)──▶ ready evaluator
//!                       │◀───────────── env, cwd, connection, stdout/stderr ──▶│
//!                       └─ waits for the evaluator's exit code ◀───────────────┘
//! ```
//!
//! Whenever no evaluator can be had (none ready, the service absent or
//! disabled, a different library or kernel binary, a fault in the
//! handover), the launcher becomes the kernel binary (`exec`), which starts
//! the way it always did, by itself, and says why in its log. The first
//! kernel in an environment starts the service once its own preload is
//! done.
//!
//! This module is the half that needs neither libtorch nor evcxr (taking an
//! evaluator, the service's address, the handover's wire format), in the
//! kernel crate's library so that the launcher Jupyter starts links it
//! alone; the service, its workers and the evaluation process's side live
//! with the kernel binary (`main.rs`, `mod ready`).

pub mod client;
pub mod conn;
pub mod env;
pub mod identity;

use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::Duration;

/// The evaluation process of a ready evaluator finds here the socket on
/// which it receives the kernel's environment and working folder.
pub const HANDOVER_ENV: &str = "DEEPSCOPE_HANDOVER_SOCKET";
/// A ready evaluator finds here its descriptor of the stream to the service.
pub const WORKER_FD_ENV: &str = "DEEPSCOPE_READY_FD";

/// How many evaluators the service keeps ready:
/// `$DEEPSCOPE_KERNEL_READY`, default 1; 0 turns the service off.
pub fn count() -> usize {
    std::env::var("DEEPSCOPE_KERNEL_READY")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1)
}

/// How long the service waits without a kernel asking before it exits:
/// `$DEEPSCOPE_KERNEL_READY_IDLE` seconds, default 900.
pub fn idle() -> Duration {
    std::env::var("DEEPSCOPE_KERNEL_READY_IDLE")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(Duration::from_secs(900), Duration::from_secs_f64)
}

/// The folder of the service's socket, lock and log: private to the user.
pub fn runtime_dir() -> PathBuf {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    // SAFETY: getuid cannot fail.
    base.join(format!("deepscope-kernel-{}", unsafe { libc::getuid() }))
}

/// The service for this kernel binary and this environment's fixed
/// variables ([`env::is_fixed`]): its socket path, without extension.
pub fn service_path(vars: &env::Vars) -> PathBuf {
    let mut hash = Sha256::new();
    hash.update(identity::binary().as_bytes());
    for (k, v) in env::fixed(vars) {
        hash.update(k.as_bytes());
        hash.update([0]);
        hash.update(v.as_bytes());
        hash.update([0]);
    }
    let key: String = hash.finalize()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    runtime_dir().join(format!("ready-{key}"))
}

/// Creates [`runtime_dir`] readable by the user alone.
pub fn make_runtime_dir() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let dir = runtime_dir();
    std::fs::create_dir_all(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(dir)
}
