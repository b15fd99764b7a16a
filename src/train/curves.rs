//! A run's figure: the loss per step with the held-out loss per epoch, the
//! accuracy per epoch, and the objective's other measurements per step.
//! The live monitor draws it while the run goes; a finished run
//! ([`FitResult`]) and an [`Evaluation`] show themselves with it.

use super::evaluate::Evaluation;
use super::fit::FitResult;
use super::history::History;
use crate::display::{
    figure_bundle, shows_at_cell_end, LiveFigure, MimeBundle, Report, Show, Table,
};
use crate::error::Result;
use crate::plot::{Heatmap, LinePlot, Panels};

impl History {
    /// The run's curves side by side: loss per step (log scale) with the
    /// held-out loss per epoch; train and held-out accuracy per epoch, for
    /// objectives that classify; the other measurements per step. `None`
    /// before the first step. `loss_label` names the loss axis.
    pub fn curves(&self, loss_label: &str) -> Option<Panels<LinePlot>> {
        if self.steps.is_empty() {
            return None;
        }
        let steps: Vec<(f64, f64)> = self.steps.iter().map(|s| (s.step as f64, s.loss)).collect();
        let mut loss = LinePlot::new()
            .title("loss")
            .x_label("step")
            .y_label(loss_label)
            .size(560, 360)
            .log_y()
            .line("train (per batch)", steps);
        // Each epoch's held-out loss at its last step.
        let test_loss: Vec<(f64, f64)> = self
            .epochs
            .iter()
            .filter_map(|e| {
                let last = self.steps.iter().rev().find(|s| s.epoch == e.epoch)?;
                Some((last.step as f64, e.test_loss?))
            })
            .collect();
        if !test_loss.is_empty() {
            loss = loss.points("test (per epoch)", test_loss);
        }
        let mut panels = vec![loss];
        let per_epoch = |f: &dyn Fn(&super::EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
            self.epochs
                .iter()
                .filter_map(|e| f(e).map(|v| ((e.epoch + 1) as f64, 100.0 * v)))
                .collect()
        };
        let train_acc = per_epoch(&|e| e.train_accuracy);
        let test_acc = per_epoch(&|e| e.test_accuracy);
        if !train_acc.is_empty() || !test_acc.is_empty() {
            let mut acc = LinePlot::new()
                .title("accuracy")
                .x_label("epoch")
                .y_label("%")
                .size(560, 360);
            if !train_acc.is_empty() {
                acc = acc.points("train", train_acc);
            }
            if !test_acc.is_empty() {
                acc = acc.points("test", test_acc);
            }
            panels.push(acc);
        }
        let names = self.metric_names();
        if !names.is_empty() {
            let mut other = LinePlot::new()
                .title("other measurements")
                .x_label("step")
                .size(560, 360);
            for name in names {
                let points: Vec<(f64, f64)> = self
                    .steps
                    .iter()
                    .filter_map(|s| s.metric(&name).map(|v| (s.step as f64, v)))
                    .collect();
                other = other.line(name, points);
            }
            panels.push(other);
        }
        Panels::new(panels).ok()
    }
}

/// What the live monitor draws during `fit`: the history's curves.
pub(super) struct HistoryFigure<'a> {
    pub history: &'a History,
    pub loss_label: &'a str,
    /// [`FitConfig::label`](super::FitConfig::label).
    pub label: Option<&'a str>,
}

impl LiveFigure for HistoryFigure<'_> {
    fn frames(&self, caption: &str) -> Result<Vec<MimeBundle>> {
        match self.history.curves(self.loss_label) {
            Some(curves) => {
                let caption = match self.label {
                    Some(label) => format!("{label}: {caption}"),
                    None => caption.to_string(),
                };
                Ok(vec![figure_bundle(&curves.caption(caption), "training")?])
            }
            None => Ok(Vec::new()),
        }
    }
}

impl FitResult {
    /// The numbers of the run: epochs and steps done, the last epoch's
    /// training and held-out loss and accuracy, time, how it ended.
    pub fn table(&self) -> Result<Table> {
        let h = &self.history;
        let done = h.epochs.len();
        let how = if self.interrupted {
            "interrupted"
        } else if self.stopped_early {
            "stopped early by a callback"
        } else if done < self.epochs {
            "cut short"
        } else {
            "finished"
        };
        let mut t = Table::new(&["", "value"])
            .title("training run")
            .row(&["epochs".to_string(), format!("{done} of {}", self.epochs)])?
            .row(&["steps".to_string(), h.steps.len().to_string()])?
            .row(&["ended".to_string(), how.to_string()])?
            .row(&[
                "seconds (this call)".to_string(),
                format!("{:.1}", self.seconds),
            ])?;
        if let Some(e) = h.last_epoch() {
            t = t.row(&[
                "last epoch: train loss".to_string(),
                format!("{:.4}", e.train_loss),
            ])?;
            if let Some(a) = e.train_accuracy {
                t = t.row(&["last epoch: train accuracy".to_string(), percent(a)])?;
            }
            if let Some(l) = e.test_loss {
                t = t.row(&["last epoch: test loss".to_string(), format!("{l:.4}")])?;
            }
            if let Some(a) = e.test_accuracy {
                t = t.row(&["last epoch: test accuracy".to_string(), percent(a)])?;
            }
            for (name, v) in &e.metrics {
                t = t.row(&[format!("last epoch: {name}"), format!("{v:.4}")])?;
            }
        }
        Ok(t)
    }
}

impl Show for FitResult {
    fn mime_bundle(&self) -> Result<MimeBundle> {
        let h = &self.history;
        let last = h.last_epoch().map_or(String::new(), |e| {
            let test = e
                .test_accuracy
                .map_or(String::new(), |a| format!(", test accuracy {}", percent(a)));
            format!(", train loss {:.4}{test}", e.train_loss)
        });
        let text = format!(
            "training run: {} of {} epochs, {} steps{last}, {:.1} s{}",
            h.epochs.len(),
            self.epochs,
            h.steps.len(),
            self.seconds,
            if self.interrupted {
                " (interrupted)"
            } else {
                ""
            }
        );
        let mut report = Report::new(self.table()?, text);
        if let Some(curves) = h.curves("loss") {
            report = report.figure(&curves);
        }
        report.mime_bundle()
    }
}

impl Evaluation {
    /// Loss, accuracy and the number of examples as a table.
    pub fn table(&self) -> Result<Table> {
        let n: i64 = self.confusion.iter().flatten().sum();
        Table::new(&["examples", "loss", "accuracy"])
            .title("evaluation")
            .row(&[
                n.to_string(),
                format!("{:.4}", self.loss),
                percent(self.accuracy),
            ])
    }

    /// The confusion matrix as a labelled heatmap (rows: true class,
    /// columns: predicted), each cell annotated with its count when there
    /// are at most 12 classes. `classes` names them (indices if empty).
    pub fn confusion_heatmap(&self, classes: &[String]) -> Heatmap {
        let k = self.confusion.len();
        let names: Vec<String> = if classes.len() == k {
            classes.to_vec()
        } else {
            (0..k).map(|i| i.to_string()).collect()
        };
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let values = self
            .confusion
            .iter()
            .map(|r| r.iter().map(|&c| c as f64).collect())
            .collect();
        let map = Heatmap::new(values)
            .title("confusion matrix (rows: true, columns: predicted)")
            .labels(&names, &names)
            .size(680, 560);
        if k <= 12 {
            map.annotate()
        } else {
            map
        }
    }
}

impl Show for Evaluation {
    fn mime_bundle(&self) -> Result<MimeBundle> {
        let n: i64 = self.confusion.iter().flatten().sum();
        Report::new(self.table()?, format!("{self} on {n} examples"))
            .figure(&self.confusion_heatmap(&[]))
            .mime_bundle()
    }
}

shows_at_cell_end!(FitResult, Evaluation);

fn percent(v: f64) -> String {
    format!("{:.2}%", 100.0 * v)
}
