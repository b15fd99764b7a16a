//! Where shown values go. Three outlets, chosen once per process:
//!
//! - **the deepscope kernel**: it puts the path of a Unix socket in
//!   [`SOCKET_ENV`] for the evaluation process. Each message is one JSON line
//!   ([`ChannelMessage`]); the kernel answers `ok` once the message is queued
//!   for the notebook, so a display is on its way before `display()` returns
//!   and before the cell can end. Displays can be updated in place and
//!   outputs cleared.
//! - **stock evcxr** (`EVCXR_IS_RUNTIME` without the socket): the
//!   `EVCXR_BEGIN_CONTENT` stdout protocol. evcxr keeps one output per MIME
//!   type and shows it when the cell ends, so an update shows the new value
//!   instead and a clear does nothing.
//! - **a plain program**: the `text/plain` form on stdout.

use super::MimeBundle;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The environment variable naming the kernel's display socket.
pub const SOCKET_ENV: &str = "DEEPSCOPE_DISPLAY_SOCKET";

/// One message from the evaluation process to the kernel, a JSON object per
/// line with an `op` field. The kernel turns it into the Jupyter message of
/// the same name, under the cell that is running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ChannelMessage {
    /// `display_data`: a new output; with `display_id` it can be updated later.
    DisplayData {
        /// MIME type to payload (base64 for binary types).
        data: Map<String, Value>,
        /// Per-MIME metadata (e.g. image sizes).
        #[serde(default)]
        metadata: Map<String, Value>,
        /// Names the output for later updates.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display_id: Option<String>,
    },
    /// `update_display_data`: replaces every output shown under `display_id`.
    UpdateDisplayData {
        /// MIME type to payload.
        data: Map<String, Value>,
        /// Per-MIME metadata.
        #[serde(default)]
        metadata: Map<String, Value>,
        /// The display to replace.
        display_id: String,
    },
    /// `clear_output`: clears the cell's outputs (with `wait`, when the next
    /// output arrives, which avoids flicker).
    ClearOutput {
        /// Clear when the next output arrives rather than now.
        #[serde(default)]
        wait: bool,
    },
}

impl MimeBundle {
    /// The bundle as a Jupyter `data` object.
    pub fn to_data(&self) -> Map<String, Value> {
        self.0
            .iter()
            .map(|(mime, payload)| (mime.clone(), Value::String(payload.clone())))
            .collect()
    }
}

enum Outlet {
    Kernel(String),
    Evcxr,
    Plain,
}

fn outlet() -> Outlet {
    match std::env::var(SOCKET_ENV) {
        Ok(path) if !path.is_empty() => Outlet::Kernel(path),
        _ if super::in_notebook() => Outlet::Evcxr,
        _ => Outlet::Plain,
    }
}

/// Whether [`DisplayHandle::update`](super::DisplayHandle::update) replaces
/// an output in place (the deepscope kernel). Elsewhere each update is shown
/// anew, so live displays should update sparingly.
pub fn updates_in_place() -> bool {
    matches!(outlet(), Outlet::Kernel(_))
}

/// The open connection to the kernel, made on first use (and again after the
/// kernel went away and came back).
#[cfg(unix)]
static CONNECTION: Mutex<Option<BufReader<std::os::unix::net::UnixStream>>> = Mutex::new(None);

#[cfg(unix)]
fn send_to_kernel(path: &str, message: &ChannelMessage) -> Result<()> {
    use std::os::unix::net::UnixStream;
    let mut line = serde_json::to_vec(message)
        .map_err(|e| Error::invalid(format!("display message cannot be encoded: {e}")))?;
    line.push(b'\n');
    let io = |e: std::io::Error| Error::Io {
        path: path.into(),
        source: e,
    };
    let mut guard = CONNECTION
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if guard.is_none() {
        let stream = UnixStream::connect(path).map_err(io)?;
        // A kernel that stopped reading must not hang the cell forever.
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(io)?;
        *guard = Some(BufReader::new(stream));
    }
    let result = (|| {
        let conn = guard.as_mut().expect("connected above");
        conn.get_mut().write_all(&line)?;
        let mut answer = String::new();
        conn.read_line(&mut answer)?;
        match answer.trim_end() {
            "ok" => Ok(Ok(())),
            "" => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the kernel closed the display channel",
            )),
            refusal => Ok(Err(Error::invalid(format!(
                "the kernel refused a display message: {refusal}"
            )))),
        }
    })();
    match result {
        Ok(answer) => answer,
        Err(e) => {
            // Reconnect next time rather than reuse a broken stream.
            *guard = None;
            Err(io(e))
        }
    }
}

#[cfg(not(unix))]
fn send_to_kernel(_: &str, _: &ChannelMessage) -> Result<()> {
    Err(Error::invalid(
        "the deepscope kernel's display channel needs a Unix socket",
    ))
}

/// Writes `text` to stdout and flushes it.
pub(super) fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (no reader) is not the user's error.
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Sends `message`; `bundle` is the same content for the fallbacks.
pub(super) fn emit(message: ChannelMessage, bundle: Option<&MimeBundle>) -> Result<()> {
    match outlet() {
        Outlet::Kernel(path) => {
            // Text printed before the display should reach the notebook first.
            let _ = std::io::stdout().flush();
            let _ = std::io::stderr().flush();
            send_to_kernel(&path, &message)
        }
        Outlet::Evcxr => {
            if let Some(b) = bundle {
                print_stdout(&b.to_evcxr());
            }
            Ok(())
        }
        Outlet::Plain => {
            if let Some(text) = bundle.and_then(|b| b.get("text/plain")) {
                print_stdout(&format!("{text}\n"));
            }
            Ok(())
        }
    }
}

/// A display id unique within this process. The counter's address is part
/// of it because a kernel's evaluation process holds one copy of this
/// library, and of the counter, per cell.
pub(super) fn new_display_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "deepscope-{}-{:p}-{}",
        std::process::id(),
        &NEXT,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
