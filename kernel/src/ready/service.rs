//! The ready service (`deepscope-kernel ready-service`): one per user,
//! kernel binary and environment, started by the first kernel. It keeps
//! [`count`](super::count) evaluators ready, hands one to each kernel that
//! asks (passing the kernel's stream to it), prepares a replacement, and
//! exits after [`idle`](super::idle) without a request. A single thread
//! polls the listening socket and the evaluators' streams.

use super::conn::Conn;
use super::identity::Identity;
use serde_json::{json, Value};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Evaluators that die before they are ready this many times in a row
/// stop the preparation until a kernel asks again (a broken build must not
/// loop).
const MAX_FAILURES: u32 = 3;

enum State {
    Preparing(Instant),
    Ready {
        identity: Identity,
        build_dir: String,
        prepared_s: f64,
        since: Instant,
    },
}

struct Worker {
    child: Child,
    conn: Conn,
    state: State,
}

struct Service {
    keep: usize,
    idle: Duration,
    workers: Vec<Worker>,
    /// Evaluators handed to kernels, reaped when they exit.
    served: Vec<Child>,
    started: Instant,
    last_request: Instant,
    takes: u64,
    socket: PathBuf,
    failures: u32,
    last_failure: Option<String>,
    stop: Option<String>,
    identity: Identity,
    /// The variables that shaped its evaluators ([`super::env::fixed`]).
    fixed: super::env::Vars,
}

fn log(text: &str) {
    eprintln!(
        "{} deepscope ready service ({}): {text}",
        chrono::Utc::now().format("%H:%M:%S UTC"),
        std::process::id()
    );
}

/// Runs the service until it is idle or asked to stop.
pub fn run() -> Result<(), String> {
    let vars = super::env::captured()?.clone();
    super::make_runtime_dir().map_err(|e| format!("{}: {e}", super::runtime_dir().display()))?;
    let base = super::service_path(&vars);
    let lock_path = base.with_extension("lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("{}: {e}", lock_path.display()))?;
    if !crate::pool::try_lock(&lock).map_err(|e| format!("{}: {e}", lock_path.display()))? {
        return Ok(()); // another service serves this environment
    }
    let socket = base.with_extension("sock");
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket).map_err(|e| format!("{}: {e}", socket.display()))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("{}: {e}", socket.display()))?;
    let mut service = Service {
        keep: super::count(),
        idle: super::idle(),
        workers: Vec::new(),
        served: Vec::new(),
        started: Instant::now(),
        last_request: Instant::now(),
        takes: 0,
        socket: socket.clone(),
        failures: 0,
        last_failure: None,
        stop: None,
        identity: Identity::current(),
        fixed: super::env::fixed(&vars),
    };
    log(&format!(
        "started at {}; keeps {} ready, exits after {:.0} s without a request",
        socket.display(),
        service.keep,
        service.idle.as_secs_f64()
    ));
    while service.stop.is_none() {
        service.fill();
        service.poll(&listener);
        service.reap();
        if service.last_request.elapsed() >= service.idle {
            service.stop = Some("idle".into());
        }
    }
    // Only if the socket is still ours (a newer service may have taken the
    // path after this one's lock was released: it is not).
    let _ = std::fs::remove_file(&socket);
    log(&format!(
        "exits ({})",
        service.stop.as_deref().unwrap_or("")
    ));
    for mut w in service.workers.drain(..) {
        let _ = w.child.kill();
        let _ = w.child.wait();
    }
    drop(lock);
    Ok(())
}

impl Service {
    /// Starts evaluators until `keep` are ready or preparing.
    fn fill(&mut self) {
        while self.workers.len() < self.keep && self.failures < MAX_FAILURES {
            match spawn_worker() {
                Ok(w) => {
                    log(&format!("preparing an evaluator (pid {})", w.child.id()));
                    self.workers.push(w);
                }
                Err(e) => {
                    self.failure(format!("cannot start an evaluator: {e}"));
                    self.stop = Some("the kernel binary cannot be started again".into());
                    return;
                }
            }
        }
    }

    fn failure(&mut self, why: String) {
        log(&why);
        self.failures += 1;
        self.last_failure = Some(why);
        if self.failures == MAX_FAILURES {
            log("stops preparing evaluators until a kernel asks again");
        }
    }

    /// Waits up to a second for a request or an evaluator's message.
    fn poll(&mut self, listener: &UnixListener) {
        let mut fds: Vec<libc::pollfd> = std::iter::once(listener.as_raw_fd())
            .chain(self.workers.iter().map(|w| w.conn.stream().as_raw_fd()))
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a live array of `fds.len()` pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 1000) };
        if n <= 0 {
            return;
        }
        // Evaluators first (by index, before the list changes).
        let mut gone = Vec::new();
        for (i, pfd) in fds.iter().enumerate().skip(1).rev() {
            if pfd.revents != 0 && !self.hear(i - 1) {
                gone.push(i - 1);
            }
        }
        for i in gone {
            let mut w = self.workers.remove(i);
            let _ = w.child.kill();
            let status = w.child.wait().map(|s| s.to_string()).unwrap_or_default();
            match w.state {
                State::Preparing(_) => self.failure(format!(
                    "an evaluator failed while preparing ({status}); see its log above"
                )),
                State::Ready { .. } => log(&format!("a ready evaluator exited ({status})")),
            }
        }
        if fds[0].revents != 0 {
            while let Ok((stream, _)) = listener.accept() {
                self.answer(stream);
            }
        }
    }

    /// Reads an evaluator's message; false when it is gone.
    fn hear(&mut self, i: usize) -> bool {
        let w = &mut self.workers[i];
        match w.conn.recv() {
            Ok(Some((msg, _))) => {
                let ready = &msg["ready"];
                match serde_json::from_value::<Identity>(ready["identity"].clone()) {
                    Ok(identity) => {
                        log(&format!(
                            "evaluator {} ready in {:.1} s",
                            w.child.id(),
                            ready["prepared_s"].as_f64().unwrap_or(0.0)
                        ));
                        w.state = State::Ready {
                            identity,
                            build_dir: ready["build_dir"].as_str().unwrap_or("").into(),
                            prepared_s: ready["prepared_s"].as_f64().unwrap_or(0.0),
                            since: Instant::now(),
                        };
                        self.failures = 0;
                        // Preparation is not idleness: the idle time runs
                        // from the moment a kernel could have taken it.
                        self.last_request = Instant::now();
                        true
                    }
                    Err(_) => false,
                }
            }
            _ => false,
        }
    }

    /// Answers one request: `take`, `status` or `stop`.
    fn answer(&mut self, stream: UnixStream) {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let Ok(clone) = stream.try_clone() else {
            return;
        };
        let mut conn = Conn::new(clone);
        let Ok(Some((msg, _))) = conn.recv() else {
            return;
        };
        let reply = if let Some(take) = msg.get("take") {
            self.last_request = Instant::now();
            self.failures = 0;
            match serde_json::from_value::<Identity>(take["identity"].clone()) {
                Ok(want) => match self.take(&want, &stream) {
                    None => return, // the evaluator answers
                    Some(why) => json!({ "none": why }),
                },
                Err(e) => json!({ "none": format!("not a take request: {e}") }),
            }
        } else if msg.get("status").is_some() {
            self.status()
        } else if msg.get("stop").is_some() {
            self.stop = Some("asked to stop".into());
            json!({ "stopping": true })
        } else {
            json!({ "error": "unknown request (take, status or stop)" })
        };
        let _ = conn.send(&reply, &[]);
    }

    /// Passes `stream` to a ready evaluator built as `want`; otherwise the
    /// reason why none can be had.
    fn take(&mut self, want: &Identity, stream: &UnixStream) -> Option<String> {
        if want.binary != self.identity.binary {
            self.stop = Some("a kernel from another binary asked".into());
            return Some("the service runs an older kernel binary; it exits".into());
        }
        let mut stale = 0;
        let mut i = 0;
        while i < self.workers.len() {
            let remove = match &self.workers[i].state {
                State::Ready { identity, .. } if identity.library != want.library => {
                    stale += 1;
                    true
                }
                State::Ready { identity, .. } if identity == want => {
                    let w = &mut self.workers[i];
                    if w.conn
                        .send(&json!({ "client": true }), &[stream.as_raw_fd()])
                        .is_ok()
                    {
                        let w = self.workers.remove(i);
                        log(&format!("evaluator {} handed to a kernel", w.child.id()));
                        self.served.push(w.child);
                        self.takes += 1;
                        return None;
                    }
                    true
                }
                _ => false,
            };
            if remove {
                let mut w = self.workers.remove(i);
                let _ = w.child.kill();
                let _ = w.child.wait();
            } else {
                i += 1;
            }
        }
        let preparing = self.workers.len();
        Some(if stale > 0 {
            log(&format!(
                "{stale} evaluator(s) built from other library sources removed"
            ));
            "the ready evaluator was built from other library sources (changed since); a new one is being prepared".into()
        } else if preparing > 0 {
            format!("none ready yet ({preparing} preparing)")
        } else {
            match &self.last_failure {
                Some(why) => format!("none ready (last failure: {why})"),
                None => "none ready".into(),
            }
        })
    }

    fn status(&self) -> Value {
        let workers: Vec<Value> = self
            .workers
            .iter()
            .map(|w| {
                let pid = w.child.id();
                match &w.state {
                    State::Preparing(since) => json!({
                        "pid": pid, "state": "preparing",
                        "for_s": since.elapsed().as_secs_f64(),
                    }),
                    State::Ready {
                        build_dir,
                        prepared_s,
                        since,
                        ..
                    } => {
                        let (rss, pss) = tree_memory_kib(pid);
                        json!({
                        "pid": pid, "state": "ready", "build_dir": build_dir,
                        "prepared_s": prepared_s, "ready_for_s": since.elapsed().as_secs_f64(),
                        "rss_mib": rss as f64 / 1024.0,
                        "pss_mib": pss as f64 / 1024.0,
                        })
                    }
                }
            })
            .collect();
        json!({
            "pid": std::process::id(),
            "socket": self.socket,
            "up_s": self.started.elapsed().as_secs_f64(),
            "keep": self.keep,
            "exits_in_s": self.idle.saturating_sub(self.last_request.elapsed()).as_secs_f64(),
            "handed_out": self.takes,
            "evaluators": workers,
            "last_failure": self.last_failure,
            "fixed": self.fixed,
        })
    }

    /// Collects the exit status of evaluators that served their kernel.
    fn reap(&mut self) {
        self.served.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
    }
}

fn spawn_worker() -> std::io::Result<Worker> {
    use std::os::unix::process::CommandExt;
    let exe: PathBuf = std::env::current_exe()?;
    if exe.to_string_lossy().ends_with(" (deleted)") {
        return Err(std::io::Error::other("the kernel binary was replaced"));
    }
    let (ours, theirs) = UnixStream::pair()?;
    let fd = theirs.as_raw_fd();
    let mut command = Command::new(exe);
    command
        .arg("ready-worker")
        .env(super::WORKER_FD_ENV, fd.to_string())
        .stdin(Stdio::null());
    // SAFETY: between fork and exec only fcntl runs (async-signal-safe);
    // it lets the evaluator inherit its end of the stream.
    unsafe {
        command.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command.spawn()?;
    drop(theirs);
    Ok(Worker {
        child,
        conn: Conn::new(ours),
        state: State::Preparing(Instant::now()),
    })
}

/// Memory of a process and its descendants, in KiB: resident (`VmRSS`,
/// counting every shared page in full) and proportional (`Pss`, shared
/// pages divided among the processes that map them: what the evaluator
/// adds to the machine).
pub fn tree_memory_kib(pid: u32) -> (u64, u64) {
    let field = |file: &str, name: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/{file}"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with(name))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .unwrap_or(0)
    };
    let own = (field("status", "VmRSS:"), field("smaps_rollup", "Pss:"));
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .map(tree_memory_kib)
        .fold(own, |(r, p), (cr, cp)| (r + cr, p + cp))
}
