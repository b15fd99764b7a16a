//! State shared by the kernel's tasks and threads: the iopub queue, the
//! request whose cell is running (the parent of every output), the running
//! cell's interrupt state, and how far the preload has come.

use crate::wire::Message;
use serde_json::Value;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// Locks a mutex, taking the data over from a thread that panicked while
/// holding it: one failed task must not take the whole kernel down.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The length of a `stream` message's text, as counted by the backlog.
pub fn stream_bytes(content: &Value) -> usize {
    content["text"].as_str().map_or(0, str::len)
}

/// The cell being evaluated, as seen by the interrupt handler.
#[derive(Debug)]
pub struct RunningCell {
    /// Increases with every cell, so a late timer cannot kill the next one.
    pub seq: u64,
    /// An interrupt was sent to this cell.
    pub interrupted: bool,
    /// The grace period ran out and the evaluation process was killed.
    pub killed: bool,
}

/// Where the background compilation of the preloaded library stands.
#[derive(Debug, Clone)]
pub enum Preload {
    /// Compiling since the instant.
    Running(Instant),
    /// Ready; it took this long.
    Ready(Duration),
    /// Failed with this message (cells still run, without the library).
    Failed(String),
}

/// Everything the kernel's parts share.
pub struct Shared {
    /// This kernel's session id (in every header it sends).
    pub session: String,
    /// Messages to publish on iopub, in order.
    pub iopub: UnboundedSender<Message>,
    /// The execute request whose cell is running: outputs name it as parent.
    pub current: Mutex<Option<Message>>,
    /// The running cell, for interrupts.
    pub running: Mutex<Option<RunningCell>>,
    /// The evaluation process, once evcxr has started it.
    pub process: Mutex<Option<Arc<Mutex<std::process::Child>>>>,
    /// The preload's state.
    pub preload: Mutex<Preload>,
    /// Execute requests (msg ids) that show the preload's progress, to be
    /// cleared when their cell starts.
    pub waiting: Mutex<std::collections::HashSet<String>>,
    /// The evcxr build folder.
    pub build_dir: std::path::PathBuf,
    /// How long a cell may ignore an interrupt before its process is killed
    /// (a ready evaluator reads it again from the kernel's environment at
    /// handover).
    pub grace: Mutex<Duration>,
    /// Asks the frontend for input; set once the stdin socket is bound.
    pub ask_input: Mutex<Option<crate::evaluator::InputAsker>>,
    /// Niceness of the preload's build (0 for a kernel someone waits on; a
    /// ready evaluator prepares in the background, behind running cells).
    pub preload_nice: i32,
    /// The message of a panic seen on the running cell's stderr (evcxr
    /// catches panics and reports them only there).
    pub panic: Mutex<Option<crate::streams::PanicReport>>,
    /// Held while stream lines move from evcxr's channels to iopub, so the
    /// evaluator can tell when every line of a cell has been sent; it keeps
    /// the state of the panic filter.
    pub forwarding: Mutex<crate::streams::PanicFilter>,
    /// Cancels the input request the running cell is waiting on, if any:
    /// an interrupt must not leave the kernel waiting for a frontend that
    /// will never answer (the cell's process may be gone).
    pub input_cancel: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    /// The stream text waiting on the iopub queue, bounded.
    pub backlog: crate::backlog::Backlog,
}

impl Shared {
    /// The interrupt grace period now.
    pub fn grace(&self) -> Duration {
        *lock(&self.grace)
    }

    /// Publishes a message of `msg_type` on iopub, child of `parent`.
    pub fn publish(&self, msg_type: &str, parent: Option<&Message>, content: Value) {
        if msg_type == "stream" {
            self.backlog.queued(stream_bytes(&content));
        }
        let msg = Message::new(&self.session, msg_type, parent, content);
        // The receiver lives as long as the runtime; after shutdown there is
        // nobody left to tell.
        let _ = self.iopub.send(msg);
    }

    /// Publishes under the running cell (or with no parent between cells).
    pub fn publish_current(&self, msg_type: &str, content: Value) {
        let parent = lock(&self.current).clone();
        self.publish(msg_type, parent.as_ref(), content);
    }

    /// Publishes `status` with `execution_state`.
    pub fn status(&self, parent: &Message, state: &str) {
        self.publish(
            "status",
            Some(parent),
            serde_json::json!({ "execution_state": state }),
        );
    }
}
