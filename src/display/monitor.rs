//! One live monitor for every long loop of the library (training, the Deep
//! Image Prior): an indicatif bar in a terminal, plain lines where output
//! is not a terminal, and a live figure in a notebook, replaced in place at
//! most about once a second, whose last state stays in the saved notebook.
//!
//! The loop supplies its figure through [`LiveFigure`]; the monitor decides
//! when to draw it and writes the progress line (`training  step 120/400
//! loss 0.4213  0:05, ~0:12 left`) on it and into its text form, with the
//! milestone lines (one per epoch) below.

use super::{DisplayHandle, MimeBundle};
use crate::error::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How a long run shows its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, the live figure in a notebook,
    /// plain lines otherwise.
    #[default]
    Auto,
    /// Always the indicatif bar.
    Bar,
    /// One line per milestone (epoch) on stderr.
    Lines,
    /// The live figure in the notebook: the progress line (position,
    /// status, elapsed and remaining time) on the run's own figure,
    /// replaced in place about once a second.
    Chart,
    /// Nothing.
    Silent,
}

/// A run's figure, drawn when the monitor shows it.
pub trait LiveFigure {
    /// The outputs to show, each replaced in place by later frames;
    /// `caption` is the progress line, to be written on the figure. Empty
    /// when there is nothing to draw yet (the monitor then shows the
    /// progress line as text).
    fn frames(&self, caption: &str) -> Result<Vec<MimeBundle>>;
}

/// Nothing to draw: the progress line alone.
pub struct NoFigure;

impl LiveFigure for NoFigure {
    fn frames(&self, _caption: &str) -> Result<Vec<MimeBundle>> {
        Ok(Vec::new())
    }
}

enum View {
    Silent,
    Lines,
    Bar(ProgressBar),
    Live(Live),
}

struct Live {
    handles: Vec<DisplayHandle>,
    /// Updates replace the display in place, so it can refresh every second;
    /// elsewhere (stock evcxr, a program) it shows itself only at milestones
    /// and at the end.
    in_place: bool,
    last_shown: Option<Instant>,
}

/// The progress of one run. See the [module docs](self).
pub struct Monitor {
    view: View,
    activity: String,
    unit: String,
    kept: String,
    total: usize,
    first: usize,
    position: usize,
    started: Instant,
    status: String,
    notes: Vec<String>,
    finished: bool,
}

impl Monitor {
    /// Shows refresh at most this often.
    const PERIOD: Duration = Duration::from_secs(1);

    /// A monitor for `total` units (steps, iterations), shown as `mode`
    /// says; not started yet.
    pub fn new(mode: ProgressMode, total: usize) -> Monitor {
        let view = match mode {
            ProgressMode::Silent => View::Silent,
            ProgressMode::Lines => View::Lines,
            ProgressMode::Bar => View::Bar(ProgressBar::hidden()),
            ProgressMode::Chart => View::Live(Live {
                handles: Vec::new(),
                in_place: false,
                last_shown: None,
            }),
            ProgressMode::Auto if std::io::stderr().is_terminal() => {
                View::Bar(ProgressBar::hidden())
            }
            ProgressMode::Auto if super::in_notebook() => {
                return Monitor::new(ProgressMode::Chart, total)
            }
            ProgressMode::Auto => View::Lines,
        };
        Monitor {
            view,
            activity: "running".into(),
            unit: "step".into(),
            kept: "what was done so far is kept".into(),
            total,
            first: 0,
            position: 0,
            started: Instant::now(),
            status: String::new(),
            notes: Vec::new(),
            finished: false,
        }
    }

    /// What the run is doing, for the progress line ("training").
    pub fn activity(mut self, activity: &str) -> Self {
        self.activity = activity.to_string();
        self
    }

    /// What one unit is called ("step", "iteration").
    pub fn unit(mut self, unit: &str) -> Self {
        self.unit = unit.to_string();
        self
    }

    /// What an interrupted run keeps, in words ("the model keeps what it
    /// learned").
    pub fn kept(mut self, kept: &str) -> Self {
        self.kept = kept.to_string();
        self
    }

    /// Starts the clock at unit `first` (past 0 when resumed) and shows the
    /// run's start.
    pub fn start(&mut self, first: usize, figure: &dyn LiveFigure) {
        self.started = Instant::now();
        self.first = first;
        self.position = first;
        match &mut self.view {
            View::Bar(bar) => {
                let b = ProgressBar::with_draw_target(
                    Some(self.total as u64),
                    ProgressDrawTarget::stderr(),
                );
                let template = format!(
                    "{{bar:30}} {{pos}}/{{len}} {}s  {{msg}}  [{{elapsed}} < {{eta}}]",
                    self.unit
                );
                if let Ok(style) = ProgressStyle::with_template(&template) {
                    b.set_style(style);
                }
                b.set_position(first as u64);
                *bar = b;
            }
            View::Live(live) => live.in_place = super::updates_in_place(),
            View::Silent | View::Lines => {}
        }
        let state = self.activity.clone();
        self.show(&state, figure);
    }

    /// `position` units are done; `status` is the short state of the run
    /// (`loss 0.4213`). A live view refreshes when a second has passed.
    pub fn step(&mut self, position: usize, status: String, figure: &dyn LiveFigure) {
        self.position = position;
        self.status = status;
        match &self.view {
            View::Bar(bar) => {
                bar.set_position(position as u64);
                bar.set_message(self.status.clone());
            }
            View::Live(live) => {
                let due = live.last_shown.is_none_or(|t| t.elapsed() >= Self::PERIOD);
                if due && live.in_place {
                    let state = self.activity.clone();
                    self.show(&state, figure);
                }
            }
            View::Silent | View::Lines => {}
        }
    }

    /// A milestone (an epoch's line): printed as a line, above the bar, or
    /// under the live figure, which is redrawn with `state` as its progress
    /// line's first word.
    pub fn milestone(&mut self, line: String, state: &str, figure: &dyn LiveFigure) {
        match &self.view {
            View::Lines => eprintln!("{line}"),
            View::Bar(bar) => bar.println(&line),
            View::Live(_) | View::Silent => {}
        }
        self.notes.push(line);
        self.show(state, figure);
    }

    /// The run ended; the live view shows its last state (`done` or
    /// `interrupted`), which stays in the saved notebook.
    pub fn finish(&mut self, interrupted: bool, figure: &dyn LiveFigure) {
        self.finished = true;
        match &self.view {
            View::Lines if interrupted => eprintln!(
                "interrupted: {} stopped, {} so far",
                self.activity, self.kept
            ),
            View::Bar(bar) if interrupted => bar.abandon_with_message("interrupted"),
            View::Bar(bar) => bar.finish(),
            _ => {}
        }
        let state = if interrupted {
            format!("interrupted ({})", self.kept)
        } else {
            "done".to_string()
        };
        self.show(&state, figure);
    }

    /// The progress line: `training  step 120/400  loss 0.4213  0:05, ~0:12 left`
    /// (no time left once the run has finished).
    pub fn line(&self, state: &str) -> String {
        let elapsed = self.started.elapsed().as_secs_f64();
        let done = self.position.saturating_sub(self.first);
        let left = self.total.saturating_sub(self.position);
        let eta = if done > 0 && left > 0 && !self.finished {
            format!(", ~{} left", clock(elapsed / done as f64 * left as f64))
        } else {
            String::new()
        };
        let status = if self.status.is_empty() {
            String::new()
        } else {
            format!("  {}", self.status)
        };
        format!(
            "{state}  {} {}/{}{status}  {}{eta}",
            self.unit,
            self.position,
            self.total,
            clock(elapsed)
        )
    }

    /// Shows the live view now; a display that fails must not stop the run.
    fn show(&mut self, state: &str, figure: &dyn LiveFigure) {
        if !matches!(self.view, View::Live(_)) {
            return;
        }
        let caption = self.line(state);
        let text = std::iter::once(caption.clone())
            .chain(self.notes.iter().cloned())
            .collect::<Vec<_>>()
            .join("\n");
        let mut frames = match figure.frames(&caption) {
            Ok(f) if !f.is_empty() => f,
            _ => vec![MimeBundle::default()],
        };
        // The first frame's text form is the progress line and the notes:
        // what nbconvert's text output and a plain program show.
        let first = &mut frames[0];
        first.0.retain(|(mime, _)| mime != "text/plain");
        first.0.push(("text/plain".into(), text));
        let View::Live(live) = &mut self.view else {
            return;
        };
        let mut shown = true;
        for (i, frame) in frames.iter().enumerate() {
            shown &= match live.handles.get(i) {
                Some(h) => h.update(frame).is_ok(),
                None => match DisplayHandle::show(frame) {
                    Ok(h) => {
                        live.handles.push(h);
                        true
                    }
                    Err(_) => false,
                },
            };
        }
        if shown {
            live.last_shown = Some(Instant::now());
        }
    }
}

impl super::Show for MimeBundle {
    fn mime_bundle(&self) -> Result<MimeBundle> {
        Ok(self.clone())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A run stopped early (112 of 400 steps) gives no time left once done;
    /// while it runs, it does.
    #[test]
    fn a_finished_run_shows_no_time_left() {
        let mut m = Monitor::new(ProgressMode::Silent, 400).activity("training");
        m.started = Instant::now() - Duration::from_secs(30);
        m.position = 112;
        let running = m.line("training");
        assert!(
            running.contains("step 112/400") && running.contains("left"),
            "{running}"
        );
        m.finished = true;
        let done = m.line("done");
        assert!(
            done.starts_with("done  step 112/400") && !done.contains("left"),
            "{done}"
        );
    }

    #[test]
    fn the_line_names_the_unit_and_the_status() {
        let mut m = Monitor::new(ProgressMode::Silent, 3000).unit("iteration");
        m.position = 10;
        m.status = "PSNR 21.30 dB".into();
        let line = m.line("fitting");
        assert!(
            line.starts_with("fitting  iteration 10/3000  PSNR 21.30 dB  0:00"),
            "{line}"
        );
    }

    #[test]
    fn clock_reads_minutes_and_hours() {
        assert_eq!(clock(65.4), "1:05");
        assert_eq!(clock(3723.0), "1:02:03");
        assert_eq!(clock(-3.0), "0:00");
    }
}
