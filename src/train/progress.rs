//! Showing a run's progress: an indicatif bar in a terminal, one line per
//! epoch elsewhere (a notebook, a log), or nothing.

use super::history::{EpochRecord, StepRecord};
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
    /// Epoch lines and, after every epoch, a chart of the train and test
    /// loss shown in the notebook (the last one stays in the saved notebook).
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

/// Loss curves shown in the notebook after each epoch, with epoch lines.
#[derive(Default)]
struct Chart {
    steps: Vec<(f64, f64)>,
    test: Vec<(f64, f64)>,
}

impl Chart {
    fn figure(&self) -> crate::plot::LinePlot {
        crate::plot::LinePlot::new()
            .title("training")
            .x_label("step")
            .y_label("cross-entropy")
            .log_y()
            .line("train (per batch)", self.steps.clone())
            .points("test (per epoch)", self.test.clone())
    }
}

impl Progress for Chart {
    fn start(&mut self, _: usize, _: usize) {}
    fn step(&mut self, r: &StepRecord) {
        self.steps.push((r.step as f64, r.loss));
    }
    fn epoch(&mut self, r: &EpochRecord, epochs: usize) {
        eprintln!("{}", epoch_line(r, epochs));
        if let (Some(loss), Some(last)) = (r.test_loss, self.steps.last()) {
            self.test.push((last.0, loss));
        }
        if !self.steps.is_empty() {
            // A figure that cannot be drawn must not stop the training.
            let _ = crate::display::display(&self.figure());
        }
    }
    fn finish(&mut self, interrupted: bool) {
        Lines.finish(interrupted);
    }
}
