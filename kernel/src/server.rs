//! The five Jupyter channels over ZeroMQ. Shell requests are read in order;
//! cells, completions and inspections go to the evaluator thread and their
//! replies are sent when ready, so `kernel_info` and `is_complete` are
//! answered at once even while a cell runs or the preload compiles. Control
//! carries interrupts and shutdown; heartbeat echoes; iopub publishes what
//! every part queues; stdin asks the frontend for input.

use crate::completeness::{judge, Completeness};
use crate::evaluator::{self, Cell, Job};
use crate::preload;
use crate::shared::{lock, stream_bytes, Preload, Shared};
use crate::wire::{error_content, Message, Signer, WireError};
use bytes::Bytes;
use jupyter_protocol::{ConnectionInfo, ExecuteRequest, ShutdownRequest};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc as tmpsc, oneshot, Mutex as AsyncMutex};
use zeromq::{Socket, SocketRecv, SocketSend, ZmqMessage};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The static part of `kernel_info_reply`.
pub fn kernel_info() -> Value {
    json!({
        "status": "ok",
        "protocol_version": crate::wire::PROTOCOL_VERSION,
        "implementation": "deepscope",
        "implementation_version": env!("CARGO_PKG_VERSION"),
        "language_info": {
            "name": "Rust",
            "version": env!("DEEPSCOPE_RUSTC_VERSION"),
            "mimetype": "text/rust",
            "file_extension": ".rs",
            "pygments_lexer": "rust",
            "codemirror_mode": "rust",
        },
        "banner": format!(
            "deepscope {} - Rust (evcxr 0.22) with the deepscope library preloaded",
            env!("CARGO_PKG_VERSION")
        ),
        "help_links": [
            { "text": "deepscope", "url": "https://github.com/deepscope/deepscope" },
            { "text": "Rust std", "url": "https://doc.rust-lang.org/std/" },
        ],
        "debugger": false,
    })
}

fn endpoint(info: &ConnectionInfo, port: u16) -> String {
    format!("{}://{}:{}", info.transport, info.ip, port)
}

async fn bind<S: Socket>(info: &ConnectionInfo, port: u16) -> Result<S> {
    let mut socket = S::new();
    let at = endpoint(info, port);
    socket
        .bind(&at)
        .await
        .map_err(|e| format!("cannot bind {at}: {e}"))?;
    Ok(socket)
}

fn to_zmq(frames: Vec<Bytes>) -> Option<ZmqMessage> {
    ZmqMessage::try_from(frames).ok()
}

/// What arrived on a socket.
enum Incoming {
    /// A well-formed message.
    Message(Message),
    /// A signed request whose body is wrong (its content emptied), and the
    /// error reply's content.
    Refused(Message, Value),
    /// Frames that cannot be answered (unsigned, no header): dropped.
    Dropped,
}

/// Reads one message; logs what it drops or refuses.
fn receive(channel: &str, raw: ZmqMessage, signer: &Signer) -> Incoming {
    match Message::from_frames(raw.into_vec(), signer) {
        Ok(m) => Incoming::Message(m),
        Err(WireError::BadBody(request, why)) if request.msg_type().ends_with("_request") => {
            eprintln!(
                "deepscope-kernel: refused a malformed {} on {channel}: {why}",
                request.msg_type()
            );
            let content = bad_request(&format!("{}: {why}", request.msg_type()));
            Incoming::Refused(*request, content)
        }
        Err(e) => {
            eprintln!("deepscope-kernel: dropped a message on {channel}: {e}");
            Incoming::Dropped
        }
    }
}

/// Reads one message; `None` for frames that are dropped (logged).
fn accept(channel: &str, raw: ZmqMessage, signer: &Signer) -> Option<Message> {
    match Message::from_frames(raw.into_vec(), signer) {
        Ok(m) => Some(m),
        Err(e) => {
            eprintln!("deepscope-kernel: dropped a message on {channel}: {e}");
            None
        }
    }
}

/// Runs the kernel until a shutdown request.
pub async fn serve(
    info: ConnectionInfo,
    shared: Arc<Shared>,
    mut iopub_rx: tmpsc::UnboundedReceiver<Message>,
    jobs: std::sync::mpsc::Sender<evaluator::Job>,
) -> Result<()> {
    if info.signature_scheme != "hmac-sha256" && !info.key.is_empty() {
        return Err(format!(
            "signature scheme {} is not supported (hmac-sha256 is)",
            info.signature_scheme
        )
        .into());
    }
    let signer = Signer::new(&info.key);
    let mut iopub: zeromq::PubSocket = bind(&info, info.iopub_port).await?;
    let shell: zeromq::RouterSocket = bind(&info, info.shell_port).await?;
    let mut control: zeromq::RouterSocket = bind(&info, info.control_port).await?;
    let stdin: zeromq::RouterSocket = bind(&info, info.stdin_port).await?;
    let mut heartbeat: zeromq::RepSocket = bind(&info, info.hb_port).await?;

    // iopub: one task sends everything, in queue order.
    {
        let signer = signer.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            while let Some(mut msg) = iopub_rx.recv().await {
                msg.identities = vec![Bytes::from(msg.msg_type().to_string())];
                if let Some(z) = to_zmq(msg.to_frames(&signer)) {
                    if let Err(e) = iopub.send(z).await {
                        eprintln!("deepscope-kernel: iopub send failed: {e}");
                    }
                }
                if msg.msg_type() == "stream" {
                    shared.backlog.sent(stream_bytes(&msg.content));
                }
            }
        });
    }
    tokio::spawn(async move {
        while let Ok(ping) = heartbeat.recv().await {
            if heartbeat.send(ping).await.is_err() {
                break;
            }
        }
    });

    *lock(&shared.ask_input) = Some(stdin_asker(stdin, signer.clone(), shared.clone()));
    tokio::spawn(shell_loop(shell, signer.clone(), shared.clone(), jobs));

    loop {
        let raw = control.recv().await?;
        let msg = match receive("control", raw, &signer) {
            Incoming::Message(msg) => msg,
            Incoming::Refused(request, content) => {
                shared.status(&request, "busy");
                reply(&mut control, &signer, &shared, &request, content).await;
                shared.status(&request, "idle");
                continue;
            }
            Incoming::Dropped => continue,
        };
        shared.status(&msg, "busy");
        match msg.msg_type() {
            "kernel_info_request" => {
                reply(&mut control, &signer, &shared, &msg, kernel_info()).await
            }
            "interrupt_request" => {
                interrupt(&shared);
                reply(
                    &mut control,
                    &signer,
                    &shared,
                    &msg,
                    json!({ "status": "ok" }),
                )
                .await;
            }
            "shutdown_request" => {
                let restart = serde_json::from_value::<ShutdownRequest>(msg.content.clone())
                    .map(|r| r.restart)
                    .unwrap_or(false);
                reply(
                    &mut control,
                    &signer,
                    &shared,
                    &msg,
                    json!({ "status": "ok", "restart": restart }),
                )
                .await;
                shared.status(&msg, "idle");
                // Let iopub flush the last status before the process ends.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Ok(());
            }
            other => {
                eprintln!("deepscope-kernel: control message {other} is not supported");
                if other.ends_with("_request") {
                    reply(&mut control, &signer, &shared, &msg, not_supported(other)).await;
                }
            }
        }
        shared.status(&msg, "idle");
    }
}

async fn reply<S: SocketSend>(
    socket: &mut S,
    signer: &Signer,
    shared: &Shared,
    request: &Message,
    content: Value,
) {
    let msg = request.reply(&shared.session, content);
    if let Some(z) = to_zmq(msg.to_frames(signer)) {
        if let Err(e) = socket.send(z).await {
            eprintln!("deepscope-kernel: reply failed: {e}");
        }
    }
}

/// Sends SIGINT to the evaluation process (the library's loops stop at
/// their next check) and starts the grace timer that kills the process if
/// the cell is still running when it ends.
fn interrupt(shared: &Arc<Shared>) {
    // The cell is marked before its input is cancelled: a cell waiting for
    // input can finish as soon as its reader returns, and it must finish
    // as interrupted (marked after, a clean-clone run saw such a cell
    // reported "ok").
    let seq = lock(&shared.running).as_mut().map(|cell| {
        cell.interrupted = true;
        cell.seq
    });
    // A cell waiting for input gets no input: its reader returns and the
    // cell can stop.
    if let Some(cancel) = lock(&shared.input_cancel).take() {
        let _ = cancel.send(());
    }
    let Some(seq) = seq else {
        return;
    };
    let process = lock(&shared.process).clone();
    let Some(process) = process else {
        return;
    };
    let pid = lock(&process).id();
    // SAFETY: kill(2) with a pid we spawned; no memory is involved.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGINT);
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        tokio::time::sleep(shared.grace()).await;
        let mut running = lock(&shared.running);
        if let Some(cell) = running.as_mut().filter(|c| c.seq == seq) {
            cell.killed = true;
            drop(running);
            let _ = lock(&process).kill();
        }
    });
}

fn stdin_asker(
    socket: zeromq::RouterSocket,
    signer: Signer,
    shared: Arc<Shared>,
) -> evaluator::InputAsker {
    type Ask = (Message, oneshot::Sender<Option<String>>);
    let (tx, mut rx) = tmpsc::unbounded_channel::<Ask>();
    let mut socket = socket;
    let session = shared.session.clone();
    tokio::spawn(async move {
        while let Some((request, answer)) = rx.recv().await {
            let (cancel_tx, mut cancelled) = oneshot::channel();
            *lock(&shared.input_cancel) = Some(cancel_tx);
            if let Some(z) = to_zmq(request.to_frames(&signer)) {
                if socket.send(z).await.is_err() {
                    lock(&shared.input_cancel).take();
                    let _ = answer.send(None);
                    continue;
                }
            }
            let value = loop {
                tokio::select! {
                    _ = &mut cancelled => break None,
                    raw = socket.recv() => match raw {
                        Ok(raw) => {
                            let Some(msg) = accept("stdin", raw, &signer) else {
                                continue;
                            };
                            // A late answer to a request an interrupt gave up
                            // on is not the answer to this one.
                            let answers_this = msg
                                .parent_header
                                .as_ref()
                                .is_none_or(|p| p.msg_id == request.header.msg_id);
                            if msg.msg_type() == "input_reply" && answers_this {
                                break msg.content["value"].as_str().map(str::to_owned);
                            }
                        }
                        Err(_) => break None,
                    },
                }
            };
            lock(&shared.input_cancel).take();
            let _ = answer.send(value);
        }
    });
    Arc::new(move |parent: &Message, prompt: &str, password: bool| {
        let mut request = Message::new(
            &session,
            "input_request",
            Some(parent),
            json!({ "prompt": prompt, "password": password }),
        );
        request.identities = parent.identities.clone();
        let (atx, arx) = oneshot::channel();
        tx.send((request, atx)).ok()?;
        arx.blocking_recv().ok().flatten()
    })
}

async fn shell_loop(
    shell: zeromq::RouterSocket,
    signer: Signer,
    shared: Arc<Shared>,
    jobs: mpsc::Sender<Job>,
) {
    let (send_half, mut recv_half) = shell.split();
    let sender = Arc::new(AsyncMutex::new(send_half));
    let count = Arc::new(AtomicU32::new(0));
    loop {
        let raw = match recv_half.recv().await {
            Ok(raw) => raw,
            Err(e) => {
                eprintln!("deepscope-kernel: shell receive failed: {e}");
                continue;
            }
        };
        let msg = match receive("shell", raw, &signer) {
            Incoming::Message(msg) => msg,
            Incoming::Refused(request, content) => {
                shared.status(&request, "busy");
                send(&sender, &signer, request.reply(&shared.session, content)).await;
                shared.status(&request, "idle");
                continue;
            }
            Incoming::Dropped => continue,
        };
        shared.status(&msg, "busy");
        let answer: Option<Value> = match msg.msg_type() {
            "kernel_info_request" => Some(kernel_info()),
            "is_complete_request" => Some(match msg.content["code"].as_str() {
                Some(code) => match judge(code) {
                    Completeness::Complete => json!({ "status": "complete" }),
                    Completeness::Incomplete(indent) => {
                        json!({ "status": "incomplete", "indent": indent })
                    }
                    Completeness::Invalid => json!({ "status": "invalid" }),
                },
                None => bad_request("is_complete_request needs a string `code`"),
            }),
            "history_request" => Some(json!({ "status": "ok", "history": [] })),
            "comm_info_request" => Some(json!({ "status": "ok", "comms": {} })),
            "comm_open" => {
                // No comm targets: close it, as the protocol asks.
                let id = msg.content["comm_id"].clone();
                shared.publish(
                    "comm_close",
                    Some(&msg),
                    json!({ "comm_id": id, "data": {} }),
                );
                None
            }
            "comm_msg" | "comm_close" => None,
            "shutdown_request" => {
                // Old clients send it on shell; the answer comes from control's handler.
                eprintln!("deepscope-kernel: shutdown_request on shell; exiting");
                let reply = msg.reply(&shared.session, json!({ "status": "ok", "restart": false }));
                send(&sender, &signer, reply).await;
                shared.status(&msg, "idle");
                tokio::time::sleep(Duration::from_millis(100)).await;
                std::process::exit(0);
            }
            "execute_request" => {
                execute(&msg, &shared, &jobs, &count, &sender, &signer);
                continue;
            }
            "complete_request" | "inspect_request" => {
                let code = msg.content["code"].as_str().map(str::to_owned);
                let cursor = msg.content["cursor_pos"].as_u64().map(|c| c as usize);
                match (code, cursor) {
                    (Some(code), Some(cursor)) => {
                        let ready = matches!(*lock(&shared.preload), Preload::Ready(_));
                        if !ready && msg.msg_type() == "complete_request" {
                            Some(
                                json!({ "status": "ok", "matches": [], "cursor_start": cursor, "cursor_end": cursor, "metadata": {} }),
                            )
                        } else if !ready {
                            Some(
                                json!({ "status": "ok", "found": false, "data": {}, "metadata": {} }),
                            )
                        } else {
                            let (tx, rx) = oneshot::channel();
                            let job = if msg.msg_type() == "complete_request" {
                                Job::Complete(code, cursor, tx)
                            } else {
                                Job::Inspect(code, cursor, tx)
                            };
                            defer_reply(job, rx, &msg, &shared, &jobs, &sender, &signer);
                            continue;
                        }
                    }
                    _ => Some(bad_request(
                        "needs a string `code` and an integer `cursor_pos`",
                    )),
                }
            }
            other => {
                eprintln!("deepscope-kernel: shell message {other} is not supported");
                other.ends_with("_request").then(|| not_supported(other))
            }
        };
        if let Some(content) = answer {
            send(&sender, &signer, msg.reply(&shared.session, content)).await;
        }
        shared.status(&msg, "idle");
    }
}

fn bad_request(why: &str) -> Value {
    error_content("BadRequest", why)
}

fn not_supported(msg_type: &str) -> Value {
    error_content(
        "NotSupported",
        &format!("{msg_type} is not supported by this kernel"),
    )
}

type ShellSender = Arc<AsyncMutex<zeromq::RouterSendHalf>>;

async fn send(sender: &ShellSender, signer: &Signer, msg: Message) {
    if let Some(z) = to_zmq(msg.to_frames(signer)) {
        if let Err(e) = sender.lock().await.send(z).await {
            eprintln!("deepscope-kernel: shell send failed: {e}");
        }
    }
}

/// Queues `job` for the evaluator and replies when it answers.
fn defer_reply(
    job: Job,
    rx: oneshot::Receiver<Value>,
    msg: &Message,
    shared: &Arc<Shared>,
    jobs: &mpsc::Sender<Job>,
    sender: &ShellSender,
    signer: &Signer,
) {
    let queued = jobs.send(job).is_ok();
    let (msg, shared, sender, signer) =
        (msg.clone(), shared.clone(), sender.clone(), signer.clone());
    tokio::spawn(async move {
        let content = match (queued, rx.await) {
            (true, Ok(content)) => content,
            _ => error_content("KernelError", "the evaluator stopped"),
        };
        send(&sender, &signer, msg.reply(&shared.session, content)).await;
        shared.status(&msg, "idle");
    });
}

fn execute(
    msg: &Message,
    shared: &Arc<Shared>,
    jobs: &mpsc::Sender<Job>,
    count: &AtomicU32,
    sender: &ShellSender,
    signer: &Signer,
) {
    let request: ExecuteRequest = match serde_json::from_value(msg.content.clone()) {
        Ok(r) => r,
        Err(e) => {
            let (msg, shared, sender, signer) =
                (msg.clone(), shared.clone(), sender.clone(), signer.clone());
            tokio::spawn(async move {
                let content = bad_request(&format!("execute_request content: {e}"));
                send(&sender, &signer, msg.reply(&shared.session, content)).await;
                shared.status(&msg, "idle");
            });
            return;
        }
    };
    let counts = !request.silent && request.store_history;
    let n = if counts {
        count.fetch_add(1, Ordering::SeqCst) + 1
    } else {
        count.load(Ordering::SeqCst)
    };
    if !request.silent {
        shared.publish(
            "execute_input",
            Some(msg),
            json!({ "code": request.code, "execution_count": n }),
        );
    }
    if matches!(*lock(&shared.preload), Preload::Running(_)) {
        tokio::spawn(preload::show_progress(shared.clone(), msg.clone()));
    }
    let cell = Cell {
        request: msg.clone(),
        code: request.code,
        count: n,
        silent: request.silent,
        stop_on_error: request.stop_on_error,
        allow_stdin: request.allow_stdin,
        received: Instant::now(),
    };
    let (tx, rx) = oneshot::channel();
    defer_reply(
        Job::Execute(Box::new(cell), tx),
        rx,
        msg,
        shared,
        jobs,
        sender,
        signer,
    );
}
