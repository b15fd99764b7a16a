//! The kernel's end of the display side channel: a Unix socket, private to
//! this kernel, whose path the evaluation process finds in
//! `DEEPSCOPE_DISPLAY_SOCKET`. Each line is a
//! [`ChannelMessage`](deepscope::display::ChannelMessage); it becomes the
//! iopub message of the same name under the running cell, and the answer
//! `ok` tells the library the output is queued, in order, before the cell's
//! reply.

use crate::shared::Shared;
use deepscope::display::ChannelMessage;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read as _, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;

/// Longest line accepted (a large figure is a few MB of base64).
const MAX_LINE: usize = 256 << 20;

/// Turns one channel message into the iopub message type and content.
pub fn to_iopub(message: ChannelMessage) -> (&'static str, Value) {
    match message {
        ChannelMessage::DisplayData {
            data,
            metadata,
            display_id,
        } => {
            let transient = match display_id {
                Some(id) => json!({ "display_id": id }),
                None => json!({}),
            };
            (
                "display_data",
                json!({ "data": data, "metadata": metadata, "transient": transient }),
            )
        }
        ChannelMessage::UpdateDisplayData {
            data,
            metadata,
            display_id,
        } => (
            "update_display_data",
            json!({ "data": data, "metadata": metadata, "transient": { "display_id": display_id } }),
        ),
        ChannelMessage::ClearOutput { wait } => ("clear_output", json!({ "wait": wait })),
    }
}

fn serve(stream: UnixStream, shared: Arc<Shared>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let answer = if line.len() > MAX_LINE {
            // The rest of an over-long line cannot be resynchronised.
            let _ = writer.write_all(b"error: message longer than 256 MiB\n");
            return;
        } else {
            match serde_json::from_slice::<ChannelMessage>(&line) {
                Ok(message) => {
                    let (kind, content) = to_iopub(message);
                    shared.publish_current(kind, content);
                    "ok\n".to_string()
                }
                Err(e) => {
                    eprintln!("deepscope-kernel: bad display message: {e}");
                    format!("error: {e}\n")
                }
            }
        };
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// Accepts connections from evaluation processes (a new one after each
/// restart) until the kernel ends.
pub fn spawn(listener: UnixListener, shared: Arc<Shared>) {
    std::thread::Builder::new()
        .name("display-channel".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                let _ = std::thread::Builder::new()
                    .name("display-connection".into())
                    .spawn(move || serve(stream, shared));
            }
        })
        .expect("spawning a thread at startup");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_messages_become_the_jupyter_messages_of_the_same_name() {
        let mut data = serde_json::Map::new();
        data.insert("text/plain".into(), json!("x"));
        let (kind, content) = to_iopub(ChannelMessage::DisplayData {
            data: data.clone(),
            metadata: Default::default(),
            display_id: Some("d".into()),
        });
        assert_eq!(kind, "display_data");
        assert_eq!(content["transient"]["display_id"], "d");
        assert_eq!(content["data"]["text/plain"], "x");
        let (kind, content) = to_iopub(ChannelMessage::DisplayData {
            data: data.clone(),
            metadata: Default::default(),
            display_id: None,
        });
        assert_eq!(kind, "display_data");
        assert_eq!(content["transient"], json!({}));
        let (kind, content) = to_iopub(ChannelMessage::UpdateDisplayData {
            data,
            metadata: Default::default(),
            display_id: "d".into(),
        });
        assert_eq!(kind, "update_display_data");
        assert_eq!(content["transient"]["display_id"], "d");
        let (kind, content) = to_iopub(ChannelMessage::ClearOutput { wait: true });
        assert_eq!((kind, content), ("clear_output", json!({ "wait": true })));
    }
}
