//! Showing a run's progress: an indicatif bar in a terminal, one line per
//! epoch elsewhere (a notebook, a log), or nothing.

use super::history::{EpochRecord, StepRecord};
use crate::plot::LinePlot;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Receives a run's measurements as they happen.
pub trait Progress {
    /// A run of `total_steps` steps begins (at `first_step` when resumed).
    fn start(&mut self, total_steps: usize, first_step: usize);
    /// A step finished.
    fn step(&mut self, record: &StepRecord);
    /// An epoch finished.
    fn epoch(&mut self, record: &EpochRecord, epochs: usize);
    /// The run ended (`interrupted` if it stopped early).
    fn finish(&mut self, interrupted: bool);
}

/// How [`fit`](super::fit) reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, epoch lines otherwise.
    Auto,
    /// Always the indicatif bar.
    Bar,
    /// One line per epoch on stderr.
    Lines,
    /// A live display in the notebook, replaced in place about once a
    /// second: the progress line (step, loss, elapsed and remaining time)
    /// above the loss curves and the per-epoch accuracy. Its final state
    /// stays in the saved notebook.
    Chart,
    /// Nothing.
    Silent,
}

impl ProgressMode {
    /// The reporter for this mode.
    pub fn reporter(self) -> Box<dyn Progress> {
        match self {
            ProgressMode::Silent => Box::new(Silent),
            ProgressMode::Lines => Box::new(Lines),
            ProgressMode::Bar => Box::new(Bar::default()),
            ProgressMode::Chart => Box::new(Chart::default()),
            ProgressMode::Auto if std::io::stderr().is_terminal() => Box::new(Bar::default()),
            ProgressMode::Auto if crate::display::in_notebook() => Box::new(Chart::default()),
            ProgressMode::Auto => Box::new(Lines),
        }
    }
}

struct Silent;

impl Progress for Silent {
    fn start(&mut self, _: usize, _: usize) {}
    fn step(&mut self, _: &StepRecord) {}
    fn epoch(&mut self, _: &EpochRecord, _: usize) {}
    fn finish(&mut self, _: bool) {}
}

/// One line per epoch: `epoch 3/10  loss 0.4213  acc 84.12%  test 0.4420 / 83.90%  12.3 s`.
pub fn epoch_line(r: &EpochRecord, epochs: usize) -> String {
    let test = match (r.test_loss, r.test_accuracy) {
        (Some(l), Some(a)) => format!("  test {l:.4} / {:.2}%", 100.0 * a),
        _ => String::new(),
    };
    format!(
        "epoch {}/{epochs}  loss {:.4}  acc {:.2}%{test}  {:.1} s",
        r.epoch + 1,
        r.train_loss,
        100.0 * r.train_accuracy,
        r.seconds
    )
}

struct Lines;

impl Progress for Lines {
    fn start(&mut self, _: usize, _: usize) {}
    fn step(&mut self, _: &StepRecord) {}
    fn epoch(&mut self, r: &EpochRecord, epochs: usize) {
        eprintln!("{}", epoch_line(r, epochs));
    }
    fn finish(&mut self, interrupted: bool) {
        if interrupted {
            eprintln!("interrupted: training stopped, the model keeps what it learned so far");
        }
    }
}

#[derive(Default)]
struct Bar {
    bar: Option<ProgressBar>,
}

impl Progress for Bar {
    fn start(&mut self, total: usize, first: usize) {
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        if let Ok(style) =
            ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  [{elapsed} < {eta}]")
        {
            bar.set_style(style);
        }
        bar.set_position(first as u64);
        self.bar = Some(bar);
    }
    fn step(&mut self, r: &StepRecord) {
        if let Some(b) = &self.bar {
            b.set_position(r.step as u64 + 1);
            if r.step.is_multiple_of(10) {
                b.set_message(format!("loss {:.4}", r.loss));
            }
        }
    }
    fn epoch(&mut self, r: &EpochRecord, epochs: usize) {
        if let Some(b) = &self.bar {
            b.println(epoch_line(r, epochs));
        }
    }
    fn finish(&mut self, interrupted: bool) {
        if let Some(b) = self.bar.take() {
            if interrupted {
                b.abandon_with_message("interrupted");
            } else {
                b.finish();
            }
        }
    }
}

/// The live monitor: one display, replaced in place at most about once a
/// second, that shows the progress line above the loss curves (per batch,
/// and the test loss per epoch) and, from the first epoch on, the train and
/// test accuracy. Its last state stays in the saved notebook.
#[derive(Default)]
struct Chart {
    handle: Option<crate::display::DisplayHandle>,
    /// Updates replace the display in place, so it can refresh every second.
    live: bool,
    started: Option<std::time::Instant>,
    last_shown: Option<std::time::Instant>,
    /// Set when the run ends: a run a callback stopped early has steps
    /// left in its budget but nothing left to wait for.
    finished: bool,
    total: usize,
    first: usize,
    step: usize,
    epoch_lines: Vec<String>,
    steps: Vec<(f64, f64)>,
    test_loss: Vec<(f64, f64)>,
    train_acc: Vec<(f64, f64)>,
    test_acc: Vec<(f64, f64)>,
}

/// Seconds as `1:05` or `1:02:03`, for progress lines.
pub fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

impl Chart {
    const PERIOD: std::time::Duration = std::time::Duration::from_secs(1);

    fn line(&self, state: &str) -> String {
        let elapsed = self.started.map_or(0.0, |t| t.elapsed().as_secs_f64());
        let done = self.step.saturating_sub(self.first);
        let left = self.total.saturating_sub(self.step);
        let eta = if done > 0 && left > 0 && !self.finished {
            format!(", ~{} left", clock(elapsed / done as f64 * left as f64))
        } else {
            String::new()
        };
        let loss = self
            .steps
            .last()
            .map_or(String::new(), |&(_, l)| format!("  loss {l:.4}"));
        format!(
            "{state}  step {}/{}{loss}  {}{eta}",
            self.step,
            self.total,
            clock(elapsed)
        )
    }

    fn figure(&self, caption: String) -> crate::error::Result<crate::plot::Panels<LinePlot>> {
        let mut loss = LinePlot::new()
            .title("loss")
            .x_label("step")
            .y_label("cross-entropy")
            .size(560, 360)
            .log_y()
            .line("train (per batch)", self.steps.clone());
        if !self.test_loss.is_empty() {
            loss = loss.points("test (per epoch)", self.test_loss.clone());
        }
        let mut panels = vec![loss];
        if !self.train_acc.is_empty() {
            let mut acc = LinePlot::new()
                .title("accuracy")
                .x_label("epoch")
                .y_label("%")
                .size(560, 360)
                .points("train", self.train_acc.clone());
            if !self.test_acc.is_empty() {
                acc = acc.points("test", self.test_acc.clone());
            }
            panels.push(acc);
        }
        Ok(crate::plot::Panels::new(panels)?.caption(caption))
    }

    /// Shows the current state; the text form lists the epochs so far.
    fn show(&mut self, state: &str) {
        let caption = self.line(state);
        let text = std::iter::once(caption.clone())
            .chain(self.epoch_lines.iter().cloned())
            .collect::<Vec<_>>()
            .join("\n");
        let shown = if self.steps.is_empty() {
            self.send(&text)
        } else {
            match self.figure(caption) {
                Ok(fig) => self.send(&Live { fig, text }),
                Err(_) => self.send(&text),
            }
        };
        if shown {
            self.last_shown = Some(std::time::Instant::now());
        }
    }

    /// Shows or updates; a display that fails must not stop the training.
    fn send<S: crate::display::Show + ?Sized>(&mut self, x: &S) -> bool {
        match &self.handle {
            Some(h) => h.update(x).is_ok(),
            None => match crate::display::DisplayHandle::show(x) {
                Ok(h) => {
                    self.handle = Some(h);
                    true
                }
                Err(_) => false,
            },
        }
    }
}

/// The monitor's figure with its text form (progress line and epoch lines).
struct Live {
    fig: crate::plot::Panels<LinePlot>,
    text: String,
}

impl crate::display::Show for Live {
    fn mime_bundle(&self) -> crate::error::Result<crate::display::MimeBundle> {
        let mut bundle = crate::display::figure_bundle(&self.fig, "training")?;
        bundle.0.retain(|(mime, _)| mime != "text/plain");
        bundle.0.push(("text/plain".into(), self.text.clone()));
        Ok(bundle)
    }
}

impl Progress for Chart {
    fn start(&mut self, total: usize, first: usize) {
        self.live = crate::display::updates_in_place();
        self.started = Some(std::time::Instant::now());
        self.total = total;
        self.first = first;
        self.step = first;
        self.show("training");
    }
    fn step(&mut self, r: &StepRecord) {
        self.step = r.step + 1;
        self.steps.push((r.step as f64, r.loss));
        // Where updates cannot replace the display (stock evcxr, a plain
        // program), the monitor shows itself only per epoch and at the end.
        let due = self.last_shown.is_none_or(|t| t.elapsed() >= Self::PERIOD);
        if due && self.live {
            self.show("training");
        }
    }
    fn epoch(&mut self, r: &EpochRecord, epochs: usize) {
        let x = (r.epoch + 1) as f64;
        if let (Some(loss), Some(last)) = (r.test_loss, self.steps.last()) {
            self.test_loss.push((last.0, loss));
        }
        self.train_acc.push((x, 100.0 * r.train_accuracy));
        if let Some(a) = r.test_accuracy {
            self.test_acc.push((x, 100.0 * a));
        }
        self.epoch_lines.push(epoch_line(r, epochs));
        self.show(&format!("epoch {}/{epochs}", r.epoch + 1));
    }
    fn finish(&mut self, interrupted: bool) {
        let state = if interrupted {
            "interrupted (the model keeps what it learned)"
        } else {
            "done"
        };
        self.finished = true;
        self.show(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run stopped early (112 of 400 steps) gives no time left once done;
    /// while it runs, it does.
    #[test]
    fn a_finished_run_shows_no_time_left() {
        let mut chart = Chart {
            started: Some(std::time::Instant::now() - std::time::Duration::from_secs(30)),
            total: 400,
            step: 112,
            ..Chart::default()
        };
        let running = chart.line("training");
        assert!(
            running.contains("step 112/400") && running.contains("left"),
            "{running}"
        );
        chart.finished = true;
        let done = chart.line("done");
        assert!(
            done.starts_with("done  step 112/400") && !done.contains("left"),
            "{done}"
        );
    }
}
