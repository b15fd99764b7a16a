//! The kernel's side: take a ready evaluator and wait while it serves, or
//! say why not (the kernel then starts by itself); start the service; ask
//! it for its state or to stop.

use super::conn::Conn;
use super::identity::Identity;
use serde_json::{json, Value};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// The service's socket for this kernel's binary and environment.
fn socket() -> Result<PathBuf, String> {
    Ok(super::service_path(super::env::captured()?).with_extension("sock"))
}

fn connect() -> Result<Conn, String> {
    let path = socket()?;
    let stream = UnixStream::connect(&path)
        .map_err(|e| format!("no ready service at {} ({e})", path.display()))?;
    let conn = Conn::new(stream);
    conn.set_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// Hands the kernel described by `connection` (the connection file's JSON)
/// to a ready evaluator and waits until it has served: `Ok` with the exit
/// code for this process. `Err` with the reason when no evaluator took it,
/// in which case nothing was bound and the kernel starts by itself.
pub fn take(connection: &str) -> Result<i32, String> {
    if super::count() == 0 {
        return Err("ready evaluators are off (DEEPSCOPE_KERNEL_READY=0)".into());
    }
    let connection: Value =
        serde_json::from_str(connection).map_err(|e| format!("connection file: {e}"))?;
    let vars = super::env::captured()?;
    let mut conn = connect()?;
    let io = |e: std::io::Error| format!("handover: {e}");
    conn.send(&json!({ "take": { "identity": Identity::current() } }), &[])
        .map_err(io)?;
    let (answer, _) = conn
        .recv()
        .map_err(io)?
        .ok_or("the service closed the connection")?;
    if let Some(why) = answer["none"].as_str() {
        return Err(why.to_string());
    }
    if answer.get("ready").is_none() {
        return Err(format!("unexpected answer from the service: {answer}"));
    }
    let cwd = std::env::current_dir().map_err(|e| format!("working folder: {e}"))?;
    conn.set_timeout(Some(Duration::from_secs(30)))
        .map_err(io)?;
    conn.send(
        &json!({ "kernel": { "env": vars, "cwd": cwd, "connection": connection } }),
        &[1, 2],
    )
    .map_err(io)?;
    let (answer, _) = conn
        .recv()
        .map_err(io)?
        .ok_or("the evaluator closed the connection during the handover")?;
    if let Some(why) = answer["refused"].as_str() {
        return Err(format!("the evaluator refused: {why}"));
    }
    if answer.get("serving").is_none() {
        return Err(format!("unexpected answer from the evaluator: {answer}"));
    }
    // From here the evaluator owns the connection's ports: whatever
    // happens, this process only reports how it ended.
    let _ = conn.set_timeout(None);
    loop {
        match conn.recv() {
            Ok(Some((msg, _))) => {
                if let Some(code) = msg["exit"].as_i64() {
                    return Ok(code as i32);
                }
            }
            Ok(None) | Err(_) => {
                eprintln!("deepscope-kernel: the evaluator ended without an exit code");
                return Ok(1);
            }
        }
    }
}

/// Starts the service for this environment in the background, unless one
/// answers already. Its log is `<runtime dir>/ready-<key>.log`.
pub fn start_service() -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    if super::count() == 0 || connect().is_ok() {
        return Ok(());
    }
    let vars = super::env::captured()?;
    super::make_runtime_dir().map_err(|e| e.to_string())?;
    let log_path = super::service_path(vars).with_extension("log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("{}: {e}", log_path.display()))?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut command = std::process::Command::new(exe);
    command
        .arg("ready-service")
        .env_clear()
        .envs(vars)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log);
    // SAFETY: setsid between fork and exec (async-signal-safe): the service
    // outlives this kernel and is not in Jupyter's process group.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("starting the ready service: {e}"))?;
    // Reaped by a thread, so no zombie stays behind this kernel.
    std::thread::spawn(move || child.wait());
    Ok(())
}

/// Asks the service to stop (its ready evaluators with it).
pub fn stop() -> Result<Value, String> {
    request(json!({ "stop": true }))
}

/// The sockets of every service of this user.
fn all_sockets() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(super::runtime_dir()) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sock"))
        .collect();
    paths.sort();
    paths
}

fn request_at(path: &std::path::Path, msg: &Value) -> Option<Value> {
    let mut conn = Conn::new(UnixStream::connect(path).ok()?);
    conn.set_timeout(Some(Duration::from_secs(5))).ok()?;
    conn.send(msg, &[]).ok()?;
    conn.recv().ok().flatten().map(|(v, _)| v)
}

/// The state of every service of this user that answers (kernels started
/// with different toolchain or libtorch settings have services of their
/// own).
pub fn status_all() -> Vec<Value> {
    all_sockets()
        .iter()
        .filter_map(|p| request_at(p, &json!({ "status": true })))
        .collect()
}

/// Asks every service of this user to stop; returns how many answered.
pub fn stop_all() -> usize {
    all_sockets()
        .iter()
        .filter(|p| request_at(p, &json!({ "stop": true })).is_some())
        .count()
}

fn request(msg: Value) -> Result<Value, String> {
    let mut conn = connect()?;
    conn.send(&msg, &[]).map_err(|e| e.to_string())?;
    conn.recv()
        .map_err(|e| e.to_string())?
        .map(|(v, _)| v)
        .ok_or_else(|| "the service closed the connection".into())
}

/// A short report of every service of this user, for `doctor` and
/// `ready status`.
pub fn describe() -> String {
    if super::count() == 0 {
        return "off in this environment (DEEPSCOPE_KERNEL_READY=0)".into();
    }
    let services = status_all();
    if services.is_empty() {
        return format!(
            "none running (sockets in {}); the next kernel starts one",
            super::runtime_dir().display()
        );
    }
    let mut text = String::new();
    for s in &services {
        text.push_str(&format!(
            "\n  service {} ({}): up {:.0} s, keeps {}, {} handed out, exits in {:.0} s without a request",
            s["pid"], s["socket"].as_str().unwrap_or(""), s["up_s"].as_f64().unwrap_or(0.0),
            s["keep"], s["handed_out"], s["exits_in_s"].as_f64().unwrap_or(0.0)
        ));
        for w in s["evaluators"].as_array().into_iter().flatten() {
            if w["state"] == "ready" {
                text.push_str(&format!(
                    "\n    evaluator {}: ready for {:.0} s, {:.0} MiB its own (PSS; {:.0} MiB resident with shared pages), prepared in {:.1} s in {}",
                    w["pid"], w["ready_for_s"].as_f64().unwrap_or(0.0),
                    w["pss_mib"].as_f64().unwrap_or(0.0),
                    w["rss_mib"].as_f64().unwrap_or(0.0), w["prepared_s"].as_f64().unwrap_or(0.0),
                    w["build_dir"].as_str().unwrap_or("")
                ));
            } else {
                text.push_str(&format!(
                    "\n    evaluator {}: preparing for {:.0} s",
                    w["pid"],
                    w["for_s"].as_f64().unwrap_or(0.0)
                ));
            }
        }
        if let Some(f) = s["last_failure"].as_str() {
            text.push_str(&format!("\n    last failure: {f}"));
        }
    }
    format!("{} running{text}", services.len())
}
