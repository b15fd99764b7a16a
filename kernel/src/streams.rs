//! evcxr's stdout and stderr, forwarded to iopub as `stream` messages under
//! the running cell. Lines that arrive within a few milliseconds travel as
//! one message; panics are noticed on the way.

use crate::shared::{lock, Shared};
use crossbeam_channel::{Receiver, Select};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn publish(shared: &Shared, filter: &mut PanicFilter, name: &str, lines: Vec<String>) {
    filter.received += lines.len() as u64;
    let mut text = String::new();
    let mut lines = lines.into_iter().peekable();
    while let Some(line) = lines.next() {
        // The panic hook starts with an empty line; it goes with the panic.
        let before_panic = lines
            .peek()
            .is_some_and(|next| next.starts_with("thread '") && next.contains(" panicked at "));
        if name == "stderr" && line.is_empty() && before_panic {
            continue;
        }
        if name == "stdout" && line == crate::user_error::CELL_ERROR_LINE {
            filter.user_error = true;
            continue;
        }
        if name == "stdout" || filter.keep(&line, shared) {
            if name == "stderr" && !line.trim().is_empty() {
                filter.last_stderr = Some(line.clone());
            }
            text.push_str(&line);
            text.push('\n');
        }
    }
    if !text.is_empty() && shared.backlog.admit(text.matches('\n').count(), text.len()) {
        publish_notice(shared);
        shared.publish_current("stream", json!({ "name": name, "text": text }));
    }
}

/// Says on stderr how much output was dropped since the last notice, if any
/// was (see [`crate::backlog`]).
fn publish_notice(shared: &Shared) {
    if let Some(notice) = shared.backlog.take_notice() {
        shared.publish_current("stream", json!({ "name": "stderr", "text": notice }));
    }
}

/// Sends whatever is waiting now; once it returns, every line the cell
/// printed is on the iopub queue (the forwarder cannot hold one in flight,
/// as both take the same lock).
pub fn drain(shared: &Shared, stdout: &Receiver<String>, stderr: &Receiver<String>) {
    let mut filter = lock(&shared.forwarding);
    for (name, rx) in [("stdout", stdout), ("stderr", stderr)] {
        let lines: Vec<String> = rx.try_iter().collect();
        publish(shared, &mut filter, name, lines);
    }
}

/// How long both streams must stay quiet, and the longest wait, before a
/// cell is reported done.
const QUIET: Duration = Duration::from_millis(30);
const LIMIT: Duration = Duration::from_millis(300);

/// [`drain`] until both streams have been quiet for [`QUIET`] (at most
/// [`LIMIT`]): the cell's process writes stdout and stderr through pipes
/// that evcxr reads on other threads, so on a busy machine its last lines (a
/// panic, the error a `?` stopped at) can come after evcxr reports the cell
/// done. They belong to the cell's output, before its reply and idle.
pub fn drain_settled(shared: &Shared, stdout: &Receiver<String>, stderr: &Receiver<String>) {
    let start = Instant::now();
    let mut seen = lock(&shared.forwarding).received;
    let mut quiet_since = Instant::now();
    loop {
        drain(shared, stdout, stderr);
        let now = lock(&shared.forwarding).received;
        if now != seen {
            seen = now;
            quiet_since = Instant::now();
        }
        if quiet_since.elapsed() >= QUIET || start.elapsed() >= LIMIT {
            // A gap at the end of the cell is said before its reply.
            publish_notice(shared);
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Sends evcxr's stdout and stderr lines to iopub as `stream` messages,
/// joining lines that arrive within a few milliseconds into one message.
pub fn forward(shared: Arc<Shared>, stdout: Receiver<String>, stderr: Receiver<String>) {
    let _ = std::thread::Builder::new()
        .name("streams".into())
        .spawn(move || {
            let channels = [("stdout", stdout), ("stderr", stderr)];
            loop {
                let mut select = Select::new();
                for (_, rx) in &channels {
                    select.recv(rx);
                }
                let op = select.select();
                let index = op.index();
                let (name, rx) = &channels[index];
                let Ok(first) = op.recv(rx) else {
                    return;
                };
                let mut filter = lock(&shared.forwarding);
                let mut lines = vec![first];
                let until = Instant::now() + Duration::from_millis(20);
                while let Ok(line) = rx.recv_timeout(Duration::from_millis(2)) {
                    lines.push(line);
                    if Instant::now() > until {
                        break;
                    }
                }
                publish(&shared, &mut filter, name, lines);
            }
        });
}

/// A panic seen on stderr: where, and its message.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PanicReport {
    /// `file:line:column` from the panic hook's first line.
    pub location: String,
    /// The panic message (may span lines).
    pub message: String,
}

/// Takes panics out of stderr: evcxr catches them and keeps the variables,
/// but reports them only as the panic hook's text, followed by a backtrace
/// of evcxr's own machinery. The kernel turns the report into the cell's
/// `error` output instead.
#[derive(Default)]
pub struct PanicFilter {
    /// Collecting a panic's message lines.
    collecting: bool,
    in_backtrace: bool,
    /// The running cell stopped at a `?` (see [`crate::user_error`]).
    pub user_error: bool,
    /// The last non-empty line the cell wrote to stderr: the error's message
    /// when it stopped at a `?`.
    pub last_stderr: Option<String>,
    /// Lines taken from either stream since the kernel started (not reset
    /// per cell): [`drain_settled`] watches it for late lines.
    pub received: u64,
}

impl PanicFilter {
    /// Forgets the previous cell: an unfinished panic, its error, its stderr.
    pub fn reset(&mut self) {
        *self = PanicFilter {
            received: self.received,
            ..PanicFilter::default()
        };
    }

    /// Whether `line` goes to the notebook; panic text is kept aside.
    fn keep(&mut self, line: &str, shared: &Shared) -> bool {
        if self.in_backtrace {
            if line.starts_with("note: Some details are omitted") {
                self.in_backtrace = false;
            }
            return false;
        }
        if let Some((thread, location)) = line
            .strip_prefix("thread '")
            .and_then(|rest| rest.split_once(" panicked at "))
        {
            // Only a panic of the thread that runs the cell (the evaluation
            // process's main thread, whose OS id is the process id) ends the
            // cell; another thread's, which the cell may have joined and
            // handled, is ordinary output, shown where it happened. The hook
            // writes `thread '<name>' (<os id>) panicked at`; without the id
            // (older Rust) every panic counts as the cell's.
            let os_id = thread
                .rsplit_once(" (")
                .and_then(|(_, id)| id.strip_suffix(')'))
                .and_then(|id| id.parse::<u32>().ok());
            let process = lock(&shared.process).as_ref().map(|p| lock(p).id());
            if let (Some(os_id), Some(pid)) = (os_id, process) {
                if os_id != pid {
                    return true;
                }
            }
            let location = location.trim_end_matches(':').to_string();
            *lock(&shared.panic) = Some(PanicReport {
                location,
                message: String::new(),
            });
            self.collecting = true;
            return false;
        }
        if !self.collecting {
            return true;
        }
        if line == "stack backtrace:" {
            self.collecting = false;
            self.in_backtrace = true;
        } else if line.starts_with("note: ") {
            self.collecting = false;
        } else if let Some(report) = lock(&shared.panic).as_mut() {
            if !report.message.is_empty() {
                report.message.push('\n');
            }
            report.message.push_str(line);
        }
        false
    }
}
