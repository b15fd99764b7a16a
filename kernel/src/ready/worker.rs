//! A ready evaluator: a process the service starts (`deepscope-kernel
//! ready-worker`). It prepares a kernel (evcxr's context, the preload)
//! with a low priority, tells the service it is ready, and waits. When the
//! service passes it a kernel's stream, it takes on that kernel's
//! environment, working folder, stdout and stderr, binds the sockets of the
//! kernel's connection file and serves the notebook until shutdown; the
//! kernel process waits for its exit code. If the kernel process dies
//! first, this process kills its evaluation process and exits.

use super::conn::Conn;
use super::env::{self, Delta, Vars};
use super::identity::Identity;
use crate::session::{Options, Prepared};
use serde_json::{json, Value};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

/// Niceness of the background preparation: running kernels come first.
const NICE: i32 = 10;

/// Runs the evaluator; returns the exit code of the kernel it served.
pub fn run() -> Result<i32, String> {
    let fd: i32 = std::env::var(super::WORKER_FD_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or("ready-worker is started by the kernel's ready service, not by hand")?;
    std::env::remove_var(super::WORKER_FD_ENV);
    // SAFETY: the service passed this descriptor, open, for this process
    // alone; it becomes owned here, and close-on-exec keeps it from the
    // evaluation process.
    let service = unsafe {
        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        UnixStream::from_raw_fd(fd)
    };
    let mut service = Conn::new(service);
    // Taken before the preload compiles the library: if the sources change
    // meanwhile, this evaluator is stale, never served.
    let identity = Identity::current();
    let ours = env::captured()?.clone();
    let prepared = Prepared::new(Options {
        handover: true,
        preload_nice: NICE,
    })?;
    let took = prepared
        .wait_for_preload(|| peer_closed(service.stream()))
        .map_err(|why| format!("preparing a ready evaluator: {why}"))?;
    let child = accept_child(&prepared)?;
    service
        .send(
            &json!({ "ready": {
                "identity": identity,
                "pid": std::process::id(),
                "build_dir": prepared.build_dir(),
                "prepared_s": took.as_secs_f64(),
            }}),
            &[],
        )
        .map_err(|e| format!("telling the service: {e}"))?;
    let Some((_, fds)) = service
        .recv()
        .map_err(|e| format!("waiting for a kernel: {e}"))?
    else {
        // The service exited: nobody will take this evaluator.
        return Ok(0);
    };
    let stream = fds
        .into_iter()
        .next()
        .map(UnixStream::from)
        .ok_or("the service sent no kernel")?;
    drop(service);
    handover(prepared, child, Conn::new(stream), &ours)
}

/// Whether the other end of `stream` has closed it.
fn peer_closed(stream: &UnixStream) -> bool {
    let mut byte = 0u8;
    // SAFETY: a one-byte peek into a local, without waiting.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n == 0
}

/// The evaluation process's connection on the handover socket (it
/// connects when it starts; matched by its process id).
fn accept_child(prepared: &Prepared) -> Result<Conn, String> {
    let listener: &UnixListener = prepared.handover().ok_or("no handover socket")?;
    let pid = crate::shared::lock(&prepared.shared().process)
        .as_ref()
        .map(|p| crate::shared::lock(p).id())
        .ok_or("no evaluation process")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("handover socket: {e}"))?;
    while Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let mut conn = Conn::new(stream);
                let _ = conn.set_timeout(Some(Duration::from_secs(2)));
                if let Ok(Some((msg, _))) = conn.recv() {
                    if msg["pid"].as_u64() == Some(pid as u64) {
                        return Ok(conn);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => return Err(format!("handover socket: {e}")),
        }
    }
    Err(format!(
        "the evaluation process ({pid}) did not connect for the handover"
    ))
}

/// Takes on the kernel at the other end of `kernel` and serves it.
fn handover(
    prepared: Prepared,
    mut child: Conn,
    mut kernel: Conn,
    ours: &Vars,
) -> Result<i32, String> {
    let io = |e: std::io::Error| format!("handover: {e}");
    kernel
        .set_timeout(Some(Duration::from_secs(30)))
        .map_err(io)?;
    kernel
        .send(&json!({ "ready": { "pid": std::process::id() } }), &[])
        .map_err(io)?;
    let (msg, fds) = kernel
        .recv()
        .map_err(io)?
        .ok_or("the kernel left before the handover")?;
    let msg = &msg["kernel"];
    let mut refuse = |why: String| {
        let _ = kernel.send(&json!({ "refused": why }), &[]);
        Err(why)
    };
    let Ok(theirs) = serde_json::from_value::<Vars>(msg["env"].clone()) else {
        return refuse("the kernel sent no environment".into());
    };
    let Ok(info) =
        serde_json::from_value::<jupyter_protocol::ConnectionInfo>(msg["connection"].clone())
    else {
        return refuse("the kernel sent no connection file".into());
    };
    let cwd = msg["cwd"].as_str().map(str::to_owned);
    let differ = env::fixed_differences(ours, &theirs);
    if !differ.is_empty() {
        return refuse(format!(
            "variables that shaped this evaluator differ: {}",
            differ.join(", ")
        ));
    }
    let delta = Delta::between(ours, &theirs);
    // The evaluation process first: it is the one that runs cells.
    let applied = child
        .send(&json!({ "delta": delta, "cwd": cwd }), &[])
        .and_then(|()| child.recv());
    match applied {
        Ok(Some((answer, _))) if answer["applied"] == Value::Bool(true) => {}
        Ok(Some((answer, _))) => {
            return refuse(format!(
                "the evaluation process refused the environment: {answer}"
            ))
        }
        Ok(None) => return refuse("the evaluation process is gone".into()),
        Err(e) => return refuse(format!("the evaluation process did not answer: {e}")),
    }
    // Then this process, so that a restarted evaluation process and every
    // build inherit the same.
    delta.apply();
    if let Some(dir) = &cwd {
        if let Err(e) = std::env::set_current_dir(dir) {
            return refuse(format!("{dir}: {e}"));
        }
    }
    std::env::remove_var(super::HANDOVER_ENV);
    prepared.reread_settings();
    redirect_output(&fds);
    eprintln!(
        "deepscope-kernel: serving from a ready evaluator (pid {}, build folder {})",
        std::process::id(),
        prepared.build_dir().display()
    );
    kernel
        .send(&json!({ "serving": { "pid": std::process::id() } }), &[])
        .map_err(io)?;
    watch_kernel(&kernel, prepared.shared().clone())?;
    let code = match prepared.serve(info) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("deepscope-kernel: {e}");
            2
        }
    };
    let _ = kernel.send(&json!({ "exit": code }), &[]);
    Ok(code)
}

/// Points this process's stdout and stderr at the kernel's.
fn redirect_output(fds: &[OwnedFd]) {
    for (fd, target) in fds.iter().zip([1, 2]) {
        // SAFETY: dup2 between descriptors this process owns.
        unsafe { libc::dup2(fd.as_raw_fd(), target) };
    }
}

/// When the kernel process dies (killed by Jupyter), its end of the stream
/// closes: the evaluation process is killed and this process ends.
fn watch_kernel(
    kernel: &Conn,
    shared: std::sync::Arc<crate::shared::Shared>,
) -> Result<(), String> {
    let stream = kernel
        .stream()
        .try_clone()
        .map_err(|e| format!("handover: {e}"))?;
    let _ = stream.set_read_timeout(None);
    std::thread::Builder::new()
        .name("kernel-watch".into())
        .spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 256];
            let mut stream = stream;
            // The kernel sends nothing after the handover; a read ends
            // only when it is gone.
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
            }
            eprintln!("deepscope-kernel: the kernel process is gone; stopping its evaluator");
            Prepared::kill_evaluation(&shared);
            // SAFETY: ends the process without running destructors that
            // other threads may be using.
            unsafe { libc::_exit(1) };
        })
        .map(|_| ())
        .map_err(|e| format!("no thread to watch the kernel: {e}"))
}
