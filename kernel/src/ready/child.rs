//! The evaluation process's side: it dies with the process that runs
//! evcxr (no orphan keeps a GPU or a dataset in memory after a kernel is
//! killed), and, in a ready evaluator, it takes on the environment and
//! working folder of the kernel it is handed to before the first cell.

use super::conn::Conn;
use super::env::Delta;
use serde_json::json;
use std::os::unix::net::UnixStream;

/// Called first thing in the evaluation process's `main`, while it has one
/// thread.
pub fn start() {
    // SAFETY: prctl with integer arguments. The signal comes when the
    // thread that spawned this process (evcxr's evaluator thread, alive as
    // long as the kernel) ends.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
    let Some(path) = std::env::var_os(super::HANDOVER_ENV) else {
        return;
    };
    // Not for the cells' own child processes.
    std::env::remove_var(super::HANDOVER_ENV);
    let spawned = std::thread::Builder::new()
        .name("handover".into())
        .spawn(move || {
            if let Err(e) = receive(&path) {
                eprintln!("deepscope-kernel: handover to the evaluation process failed: {e}");
            }
        });
    if let Err(e) = spawned {
        eprintln!("deepscope-kernel: no handover thread: {e}");
    }
}

/// Waits for the kernel's environment and folder, applies them, answers.
fn receive(path: &std::ffi::OsStr) -> std::io::Result<()> {
    let mut conn = Conn::new(UnixStream::connect(path)?);
    conn.send(&json!({ "pid": std::process::id() }), &[])?;
    let Some((msg, _)) = conn.recv()? else {
        return Ok(()); // the evaluator was never handed out
    };
    let answer = match apply(&msg) {
        Ok(()) => json!({ "applied": true }),
        Err(why) => json!({ "error": why }),
    };
    conn.send(&answer, &[])
}

fn apply(msg: &serde_json::Value) -> Result<(), String> {
    let delta: Delta = serde_json::from_value(msg["delta"].clone())
        .map_err(|e| format!("not an environment change: {e}"))?;
    delta.apply();
    if let Some(cwd) = msg["cwd"].as_str() {
        std::env::set_current_dir(cwd).map_err(|e| format!("{cwd}: {e}"))?;
    }
    Ok(())
}
