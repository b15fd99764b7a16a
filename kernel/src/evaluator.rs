//! The evaluator: one thread that owns evcxr's `CommandContext`, compiles
//! the preload in the background at start, then runs jobs in arrival order
//! (cells, completions, inspections). Cell outputs reach iopub as they
//! happen: stdout and stderr through evcxr's channels, displays through the
//! side channel; the cell's last value comes back as `execute_result`.

use crate::dep_lines;
use crate::preload;
use crate::shared::{lock, Preload, RunningCell, Shared};
use crate::streams;
use crate::wire::{error_content, Message};
use crossbeam_channel::Receiver;
use evcxr::{CommandContext, EvalCallbacks, EvalOutputs};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

/// A cell to run.
pub struct Cell {
    /// The execute request (parent of the outputs).
    pub request: Message,
    /// Its code.
    pub code: String,
    /// The execution count shown beside it.
    pub count: u32,
    /// Silent: no execute_input or result.
    pub silent: bool,
    /// Skip it when an earlier cell failed (`stop_on_error`).
    pub stop_on_error: bool,
    /// Whether the frontend can answer input requests.
    pub allow_stdin: bool,
    /// When the shell received it.
    pub received: Instant,
}

/// Work for the evaluator; each carries where its answer goes.
pub enum Job {
    /// Run a cell; the answer is the execute_reply content.
    Execute(Box<Cell>, oneshot::Sender<Value>),
    /// Complete at a cursor (code, cursor in characters).
    Complete(String, usize, oneshot::Sender<Value>),
    /// Inspect at a cursor.
    Inspect(String, usize, oneshot::Sender<Value>),
}

/// Asks the frontend for a line of input (the stdin channel).
pub type InputAsker = Arc<dyn Fn(&Message, &str, bool) -> Option<String> + Send + Sync>;

struct Evaluator {
    ctx: CommandContext,
    shared: Arc<Shared>,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    seq: u64,
    /// When the last failing cell ended (for `stop_on_error`).
    failed_at: Option<Instant>,
}

/// Starts the evaluator thread, which creates evcxr's context and compiles
/// the preload at once; jobs sent before the preload finishes wait for it.
pub fn spawn(shared: Arc<Shared>) -> std::io::Result<std::sync::mpsc::Sender<Job>> {
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("evaluator".into())
        .spawn(move || run(shared, rx))?;
    Ok(tx)
}

fn run(shared: Arc<Shared>, jobs: std::sync::mpsc::Receiver<Job>) {
    let started = Instant::now();
    let (ctx, outputs) = match CommandContext::new() {
        Ok(pair) => pair,
        Err(e) => {
            let why = format!("evcxr could not start: {e}");
            eprintln!("deepscope-kernel: {why}");
            *lock(&shared.preload) = Preload::Failed(why.clone());
            // Answer every job with the reason rather than hang the frontend.
            for job in jobs {
                let reply = error_reply(0, "KernelError", &why);
                match job {
                    Job::Execute(_, tx) | Job::Complete(_, _, tx) | Job::Inspect(_, _, tx) => {
                        let _ = tx.send(reply.clone());
                    }
                }
            }
            return;
        }
    };
    *lock(&shared.process) = Some(ctx.process_handle());
    streams::forward(
        shared.clone(),
        outputs.stdout.clone(),
        outputs.stderr.clone(),
    );
    let mut ev = Evaluator {
        ctx,
        shared,
        stdout: outputs.stdout,
        stderr: outputs.stderr,
        seq: 0,
        failed_at: None,
    };
    ev.preload(started);
    for job in jobs {
        // A bug in evcxr or here must cost one answer, not the evaluator
        // (and with it every later cell of the session).
        let guarded = |f: &mut dyn FnMut() -> Value, count: u32| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
                let why = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into());
                eprintln!("deepscope-kernel: internal error: {why}");
                error_reply(
                    count,
                    "KernelError",
                    &format!("internal error in the kernel: {why}"),
                )
            })
        };
        match job {
            Job::Execute(cell, tx) => {
                let reply = guarded(&mut || ev.execute(&cell), cell.count);
                if reply["ename"] == "KernelError" {
                    *lock(&ev.shared.current) = None;
                    lock(&ev.shared.running).take();
                }
                let _ = tx.send(reply);
            }
            Job::Complete(code, pos, tx) => {
                let _ = tx.send(guarded(&mut || ev.complete(&code, pos), 0));
            }
            Job::Inspect(code, pos, tx) => {
                let _ = tx.send(guarded(&mut || ev.inspect(&code, pos), 0));
            }
        }
    }
}

fn error_reply(count: u32, ename: &str, evalue: &str) -> Value {
    let mut content = error_content(ename, evalue);
    content["execution_count"] = count.into();
    content
}

impl Evaluator {
    fn preload(&mut self, started: Instant) {
        *lock(&self.shared.preload) = Preload::Running(started);
        let nice = self.shared.preload_nice;
        let build_dir = self.shared.build_dir.clone();
        let ctx = &mut self.ctx;
        // On its own thread, so that the niceness (which the thread's
        // children, cargo and rustc, inherit) ends with the preload.
        let outcome = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("preload".into())
                .spawn_scoped(scope, move || {
                    if nice > 0 {
                        // SAFETY: setpriority on this thread's own id.
                        unsafe {
                            libc::setpriority(
                                libc::PRIO_PROCESS,
                                libc::gettid() as libc::id_t,
                                nice,
                            )
                        };
                    }
                    preload::run(ctx, &build_dir)
                })
                .map_err(|e| format!("no thread for the preload: {e}"))?
                .join()
                .unwrap_or_else(|_| Err("the preload panicked".into()))
        });
        let state = match outcome {
            Ok(()) => Preload::Ready(started.elapsed()),
            Err(why) => {
                eprintln!("deepscope-kernel: {why}");
                Preload::Failed(why)
            }
        };
        self.drain();
        if let Preload::Ready(t) = &state {
            eprintln!(
                "deepscope-kernel: library ready in {:.1} s (build folder {})",
                t.as_secs_f64(),
                self.shared.build_dir.display()
            );
        }
        *lock(&self.shared.preload) = state;
    }

    /// Sends every stdout/stderr line evcxr has produced so far.
    fn drain(&self) {
        streams::drain(&self.shared, &self.stdout, &self.stderr);
    }

    fn variables(&self) -> Vec<String> {
        let mut vars: Vec<String> = self
            .ctx
            .variables_and_types()
            .filter(|(name, _)| !name.starts_with(preload::HIDDEN_PREFIX))
            .map(|(name, ty)| format!("{name}: {ty}"))
            .collect();
        vars.sort();
        vars
    }

    fn execute(&mut self, cell: &Cell) -> Value {
        if cell.stop_on_error && self.failed_at.is_some_and(|t| cell.received < t) {
            return json!({ "status": "aborted", "execution_count": cell.count });
        }
        if let Preload::Failed(why) = lock(&self.shared.preload).clone() {
            self.shared.publish(
                "stream",
                Some(&cell.request),
                json!({ "name": "stderr", "text": format!("deepscope: {why}\n") }),
            );
        }
        if lock(&self.shared.waiting).remove(&cell.request.header.msg_id) {
            // The preload's progress display has served its purpose.
            self.shared.publish(
                "clear_output",
                Some(&cell.request),
                json!({ "wait": false }),
            );
        }
        let before = self.variables();
        lock(&self.shared.panic).take();
        lock(&self.shared.forwarding).reset();
        self.seq += 1;
        *lock(&self.shared.current) = Some(cell.request.clone());
        *lock(&self.shared.running) = Some(RunningCell {
            seq: self.seq,
            interrupted: false,
            killed: false,
        });
        let asker = lock(&self.shared.ask_input).clone();
        let request = cell.request.clone();
        let allow_stdin = cell.allow_stdin;
        // evcxr does not export the request type, so the closure is typed by
        // the field it is written into.
        let mut code = cell.code.clone();
        let mut added = Ok(EvalOutputs::new());
        if let Some((deps, rest)) = dep_lines::split(&cell.code) {
            let lock = dep_lines::save(&self.shared.build_dir);
            added = self.ctx.execute(&deps);
            dep_lines::restore(&self.shared.build_dir, lock);
            code = rest;
        }
        let result = added.and_then(|_| {
            if code.trim().is_empty() {
                return Ok(EvalOutputs::new());
            }
            self.ctx.execute_with_callbacks(
                &crate::cell_end::borrow_place_at_end(&code),
                &mut EvalCallbacks {
                    input_reader: &move |r| match &asker {
                        Some(ask) if allow_stdin => {
                            ask(&request, &r.prompt, r.is_password).unwrap_or_default()
                        }
                        _ => String::new(),
                    },
                },
            )
        });
        let run = lock(&self.shared.running).take();
        streams::drain_settled(&self.shared, &self.stdout, &self.stderr);
        let panic = lock(&self.shared.panic).take();
        let returned_error = {
            let filter = lock(&self.shared.forwarding);
            filter.user_error.then(|| filter.last_stderr.clone())
        };
        let (interrupted, killed) = run.map_or((false, false), |r| (r.interrupted, r.killed));
        let reply = match result {
            Ok(outputs) => {
                if !cell.silent {
                    self.publish_result(cell, outputs);
                }
                if let Some(report) = panic {
                    if interrupted {
                        self.after_interrupt();
                    }
                    let evalue = format!(
                        "{} (variables defined before this cell are kept)",
                        report.message
                    );
                    let traceback = vec![
                        format!("\u{1b}[0;31mPanic\u{1b}[0m: {}", report.message),
                        format!(
                            "  at {} (variables defined before this cell are kept)",
                            report.location
                        ),
                    ];
                    self.error(cell, "Panic", &evalue, &traceback)
                } else if interrupted {
                    self.after_interrupt();
                    self.error(
                        cell,
                        "Interrupted",
                        "the cell stopped at the interrupt; every variable defined before it is kept",
                        &[],
                    )
                } else if let Some(message) = returned_error {
                    let evalue = format!(
                        "{} (the cell stopped at a `?`; variables it defined are not kept)",
                        message.as_deref().unwrap_or("the cell returned an error")
                    );
                    self.error(cell, "Error", &evalue, &[])
                } else {
                    json!({
                        "status": "ok",
                        "execution_count": cell.count,
                        "user_expressions": {},
                        "payload": [],
                    })
                }
            }
            Err(evcxr::Error::SubprocessTerminated(why)) => {
                let lost = if before.is_empty() {
                    "no variables were defined".to_string()
                } else {
                    format!("variables lost: {}", before.join(", "))
                };
                let (ename, evalue) = if killed {
                    (
                        "Interrupted",
                        format!(
                            "the cell ignored the interrupt for {} s, so its evaluation process was stopped; {lost}. Functions, types and `use` lines are kept.",
                            self.shared.grace().as_secs_f64()
                        ),
                    )
                } else {
                    (
                        "ProcessEnded",
                        format!("the evaluation process ended ({}); {lost}", why.trim()),
                    )
                };
                self.error(cell, ename, &evalue, &[])
            }
            Err(evcxr::Error::CompilationErrors(errors)) => {
                let mut lines = Vec::new();
                for e in &errors {
                    lines.extend(render_compile_error(e));
                }
                let first = errors
                    .first()
                    .map(|e| e.message())
                    .unwrap_or_else(|| "compilation failed".into());
                self.error(cell, "CompileError", &first, &lines)
            }
            Err(other) => {
                let text = other.to_string();
                let ename = if text.contains("panicked") {
                    "Panic"
                } else {
                    "Error"
                };
                if interrupted {
                    self.after_interrupt();
                }
                self.error(cell, ename, text.trim(), &[])
            }
        };
        *lock(&self.shared.current) = None;
        if reply["status"] == "error" {
            self.failed_at = Some(Instant::now());
        }
        reply
    }

    fn publish_result(&self, cell: &Cell, outputs: EvalOutputs) {
        if shows_nothing(&outputs) {
            return;
        }
        let mut data = Map::new();
        for (mime, payload) in outputs.content_by_mime_type {
            let value = if mime.contains("json") {
                serde_json::from_str(&payload).unwrap_or(Value::String(payload))
            } else {
                Value::String(payload)
            };
            data.insert(mime, value);
        }
        self.shared.publish(
            "execute_result",
            Some(&cell.request),
            json!({ "execution_count": cell.count, "data": data, "metadata": {} }),
        );
    }

    /// Publishes an `error` output and returns the error reply.
    fn error(&self, cell: &Cell, ename: &str, evalue: &str, traceback: &[String]) -> Value {
        let traceback: Vec<String> = if traceback.is_empty() {
            vec![format!("\u{1b}[0;31m{ename}\u{1b}[0m: {evalue}")]
        } else {
            traceback.to_vec()
        };
        let mut content = json!({ "ename": ename, "evalue": evalue, "traceback": traceback });
        self.shared
            .publish("error", Some(&cell.request), content.clone());
        // The reply carries the same error, with its status and count.
        content["status"] = "error".into();
        content["execution_count"] = cell.count.into();
        content
    }

    /// Clears the library's interrupt flag, so that the next training loop
    /// does not stop at an interrupt meant for this cell.
    fn after_interrupt(&mut self) {
        if preload::enabled() && matches!(*lock(&self.shared.preload), Preload::Ready(_)) {
            if let Err(e) = self.ctx.execute(preload::CLEAR_INTERRUPT) {
                eprintln!("deepscope-kernel: clearing the interrupt flag failed: {e}");
            }
            self.drain();
        }
    }

    fn complete(&mut self, code: &str, cursor: usize) -> Value {
        let byte = char_to_byte(code, cursor);
        match self.ctx.completions(code, byte) {
            Ok(c) => {
                let start = byte_to_char(code, c.start_offset);
                let end = byte_to_char(code, c.end_offset);
                let types: Vec<Value> = c
                    .completions
                    .iter()
                    .map(|x| json!({ "text": x.code, "type": x.kind, "start": start, "end": end, "signature": x.label }))
                    .collect();
                json!({
                    "status": "ok",
                    "matches": c.completions.iter().map(|x| x.code.clone()).collect::<Vec<_>>(),
                    "cursor_start": start,
                    "cursor_end": end,
                    "metadata": { "_jupyter_types_experimental": types },
                })
            }
            Err(e) => error_content("CompletionError", &e.to_string()),
        }
    }

    fn inspect(&mut self, code: &str, cursor: usize) -> Value {
        let byte = char_to_byte(code, cursor);
        match self.ctx.hover_at(code, byte) {
            Ok((plain, html)) if plain != "No documentation found" => json!({
                "status": "ok",
                "found": true,
                "data": { "text/plain": plain, "text/html": html },
                "metadata": {},
            }),
            _ => json!({ "status": "ok", "found": false, "data": {}, "metadata": {} }),
        }
    }
}

/// A compile error as traceback lines: the message, the offending lines with
/// carets under the span, and rustc's help notes.
fn render_compile_error(e: &evcxr::CompilationError) -> Vec<String> {
    let mut out = vec![format!("\u{1b}[0;31merror\u{1b}[0m: {}", e.message())];
    for m in e.spanned_messages() {
        out.extend(m.lines.iter().cloned());
        match &m.span {
            Some(span) if span.end_column > span.start_column => out.push(format!(
                "{}{} {}",
                " ".repeat(span.start_column.saturating_sub(1)),
                "^".repeat(span.end_column - span.start_column),
                m.label
            )),
            _ if !m.label.is_empty() => out.push(m.label.clone()),
            _ => {}
        }
    }
    for help in e.help() {
        out.push(format!("help: {help}"));
    }
    out
}

/// Jupyter counts cursor positions in Unicode code points; evcxr in bytes.
pub fn char_to_byte(code: &str, chars: usize) -> usize {
    code.char_indices()
        .nth(chars)
        .map_or(code.len(), |(byte, _)| byte)
}

/// The character index of a byte offset (clamped to the code).
pub fn byte_to_char(code: &str, byte: usize) -> usize {
    code.char_indices().take_while(|(b, _)| *b < byte).count()
}

/// A cell that ends in a statement-like expression (a `for` loop, a call
/// returning `()`) has no result to show, as Python's `None` has none.
fn shows_nothing(outputs: &EvalOutputs) -> bool {
    let content = &outputs.content_by_mime_type;
    content.is_empty()
        || (content.len() == 1 && content.get("text/plain").is_some_and(|t| t.trim() == "()"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_offsets_count_code_points() {
        let code = "é = x";
        assert_eq!(char_to_byte(code, 0), 0);
        assert_eq!(char_to_byte(code, 1), 2);
        assert_eq!(char_to_byte(code, 99), code.len());
        assert_eq!(byte_to_char(code, 2), 1);
        assert_eq!(byte_to_char(code, code.len()), 5);
    }

    fn outputs(pairs: &[(&str, &str)]) -> EvalOutputs {
        let mut o = EvalOutputs::new();
        for (mime, text) in pairs {
            o.content_by_mime_type
                .insert(mime.to_string(), text.to_string());
        }
        o
    }

    #[test]
    fn unit_and_nothing_are_not_shown_but_values_are() {
        assert!(shows_nothing(&outputs(&[])));
        assert!(shows_nothing(&outputs(&[("text/plain", "()")])));
        assert!(!shows_nothing(&outputs(&[("text/plain", "(1, 2)")])));
        assert!(!shows_nothing(&outputs(&[("text/plain", "\"()\"")])));
        assert!(!shows_nothing(&outputs(&[
            ("text/plain", "()"),
            ("image/png", "x")
        ])));
    }
}
