//! Showing values in a notebook: figures as `image/png`, tables as
//! `text/html`, each with a `text/plain` fallback, and image grids and
//! overlays built from tensors.
//!
//! `display(&x)` shows `x` at once (several per cell);
//! [`DisplayHandle::show`] shows it under an id so that
//! [`DisplayHandle::update`] can replace it in place (live charts), and
//! [`clear_output`] clears the cell. A figure or table as the last expression
//! of a cell shows itself too (evcxr calls its `evcxr_display` method).
//!
//! In the deepscope kernel these travel on a side channel ([`ChannelMessage`])
//! and reach the notebook while the cell runs; under stock evcxr they fall
//! back to the `EVCXR_BEGIN_CONTENT` stdout protocol, and in a plain program
//! the `text/plain` form is printed. A cell's last expression always uses the
//! stdout protocol, so that the kernel shows it as the cell's
//! `execute_result`.

mod cell_end;
mod channel;
mod images;
mod monitor;
mod table;

pub use cell_end::DebugAtCellEnd;
pub use channel::{updates_in_place, ChannelMessage, SOCKET_ENV};
pub use images::{ImageGrid, Overlay, Scaling};
pub use monitor::{clock, LiveFigure, Monitor, NoFigure, ProgressMode};
pub use table::Table;

use crate::error::Result;
use crate::plot::{
    to_png, BarChart, Contour, Heatmap, Histogram, LinePlot, Panels, Render, Scatter, Surface3d,
};
use base64::Engine as _;
use serde_json::Map;

/// A value's representations by MIME type; binary payloads (PNG) are base64.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MimeBundle(pub Vec<(String, String)>);

impl MimeBundle {
    /// The payload for `mime`, if there is one.
    pub fn get(&self, mime: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(m, _)| m == mime)
            .map(|(_, d)| d.as_str())
    }

    /// The bundle in stock evcxr's stdout protocol.
    pub fn to_evcxr(&self) -> String {
        self.0
            .iter()
            .map(|(mime, data)| format!("EVCXR_BEGIN_CONTENT {mime}\n{data}\nEVCXR_END_CONTENT\n"))
            .collect()
    }
}

/// Something a notebook can show.
pub trait Show {
    /// Its representations.
    fn mime_bundle(&self) -> Result<MimeBundle>;
}

/// A figure's bundle: PNG and a one-line text description.
pub fn figure_bundle<R: Render + ?Sized>(r: &R, what: &str) -> Result<MimeBundle> {
    let png = to_png(r)?;
    let (w, h) = r.size();
    Ok(MimeBundle(vec![
        (
            "image/png".into(),
            base64::engine::general_purpose::STANDARD.encode(png),
        ),
        ("text/plain".into(), format!("<{what}, {w}x{h} px>")),
    ]))
}

impl Show for Table {
    fn mime_bundle(&self) -> Result<MimeBundle> {
        Ok(MimeBundle(vec![
            ("text/html".into(), self.to_html()),
            ("text/plain".into(), self.to_string()),
        ]))
    }
}

/// How a result shows itself: an HTML table of its numbers with its
/// figures below (embedded PNGs), and a short plain-text form for
/// nbconvert's text output and for programs. A figure that cannot be drawn
/// (no finite values yet) is left out rather than failing the display.
///
/// ```
/// use deepscope::display::{Report, Show, Table};
/// use deepscope::plot::LinePlot;
/// let table = Table::new(&["epochs", "loss"]).row(&["3", "0.42"])?;
/// let bundle = Report::new(table, "3 epochs, loss 0.42")
///     .figure(&LinePlot::new().values("loss", &[0.9, 0.6, 0.42]))
///     .mime_bundle()?;
/// assert!(bundle.get("text/html").unwrap().contains("<img src=\"data:image/png;base64,"));
/// assert_eq!(bundle.get("text/plain"), Some("3 epochs, loss 0.42"));
/// # Ok::<(), deepscope::Error>(())
/// ```
pub struct Report {
    table: Table,
    figures: Vec<Vec<u8>>,
    text: String,
}

impl Report {
    /// A report of `table`, read as `text` where HTML is not shown.
    pub fn new(table: Table, text: impl Into<String>) -> Self {
        Report {
            table,
            figures: Vec::new(),
            text: text.into(),
        }
    }

    /// With `figure` below the table (skipped if it cannot be drawn).
    pub fn figure<R: Render + ?Sized>(mut self, figure: &R) -> Self {
        if let Ok(png) = to_png(figure) {
            self.figures.push(png);
        }
        self
    }
}

impl Show for Report {
    fn mime_bundle(&self) -> Result<MimeBundle> {
        let mut html = String::from("<div class=\"deepscope-result\">");
        html += &self.table.to_html();
        for png in &self.figures {
            html += &format!(
                "<img src=\"data:image/png;base64,{}\"/>",
                base64::engine::general_purpose::STANDARD.encode(png)
            );
        }
        html += "</div>";
        Ok(MimeBundle(vec![
            ("text/html".into(), html),
            ("text/plain".into(), self.text.clone()),
        ]))
    }
}

/// Gives result types the method evcxr calls when a value ends a cell
/// (`evcxr_display`), which shows its [`Show`] bundle as the cell's result.
macro_rules! shows_at_cell_end {
    ($($t:ty),* $(,)?) => {$(
        impl $t {
            /// Called by evcxr when this value ends a cell: shown as the
            /// cell's result (its table and figure).
            pub fn evcxr_display(&self) {
                $crate::display::print_for_evcxr(self);
            }
        }
    )*};
}
pub(crate) use shows_at_cell_end;

/// Whether this process is a notebook's evaluation process (evcxr sets
/// `EVCXR_IS_RUNTIME` there), where shown values reach the notebook.
pub fn in_notebook() -> bool {
    std::env::var_os("EVCXR_IS_RUNTIME").is_some()
}

/// Shows `x` now, under the cell that is running.
pub fn display<S: Show + ?Sized>(x: &S) -> Result<()> {
    show_as(x, None)
}

/// Sends `x` as a new output, under `display_id` if given.
fn show_as<S: Show + ?Sized>(x: &S, display_id: Option<String>) -> Result<()> {
    let bundle = x.mime_bundle()?;
    channel::emit(
        ChannelMessage::DisplayData {
            data: bundle.to_data(),
            metadata: Map::new(),
            display_id,
        },
        Some(&bundle),
    )
}

/// Clears the outputs of the running cell; with `wait`, only when the next
/// output arrives (no flicker between frames).
pub fn clear_output(wait: bool) -> Result<()> {
    channel::emit(ChannelMessage::ClearOutput { wait }, None)
}

/// A shown output that can be replaced in place, such as a live training
/// chart: the notebook keeps only its latest content, also when saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayHandle {
    id: String,
}

impl DisplayHandle {
    /// Shows `x` under a new display id.
    pub fn show<S: Show + ?Sized>(x: &S) -> Result<Self> {
        let id = channel::new_display_id();
        show_as(x, Some(id.clone()))?;
        Ok(DisplayHandle { id })
    }

    /// Replaces what this handle shows with `x`.
    pub fn update<S: Show + ?Sized>(&self, x: &S) -> Result<()> {
        let bundle = x.mime_bundle()?;
        channel::emit(
            ChannelMessage::UpdateDisplayData {
                data: bundle.to_data(),
                metadata: Map::new(),
                display_id: self.id.clone(),
            },
            Some(&bundle),
        )
    }

    /// The Jupyter display id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl Show for str {
    fn mime_bundle(&self) -> Result<MimeBundle> {
        Ok(MimeBundle(vec![("text/plain".into(), self.to_owned())]))
    }
}

impl Show for String {
    fn mime_bundle(&self) -> Result<MimeBundle> {
        self.as_str().mime_bundle()
    }
}

macro_rules! showable_figure {
    ($($t:ty => $what:expr),* $(,)?) => {$(
        impl Show for $t {
            fn mime_bundle(&self) -> Result<MimeBundle> {
                figure_bundle(self, $what)
            }
        }
    )*};
}

showable_figure!(
    LinePlot => "line plot",
    Histogram => "histogram",
    Scatter => "scatter plot",
    BarChart => "bar chart",
    Heatmap => "heatmap",
    Contour => "contour plot",
    Surface3d => "surface plot",
    ImageGrid => "image grid",
    Overlay => "overlay",
);

shows_at_cell_end!(
    Report, LinePlot, Histogram, Scatter, BarChart, Heatmap, Contour, Surface3d, ImageGrid,
    Overlay, Table,
);

/// Panels of any figure kind: the training monitor's curves, Fig. 2's
/// projection and patch grids, occlusion heatmaps side by side.
impl<R: Render> Show for Panels<R> {
    fn mime_bundle(&self) -> Result<MimeBundle> {
        figure_bundle(self, "panels")
    }
}

impl<R: Render> Panels<R> {
    /// Called by evcxr when these panels end a cell (see the figures above).
    pub fn evcxr_display(&self) {
        print_for_evcxr(self);
    }
}

/// Prints `value` in evcxr's stdout protocol, which the kernel shows as the
/// cell's result. A drawing error is shown as text instead of a panic.
pub(crate) fn print_for_evcxr<S: Show + ?Sized>(value: &S) {
    let text = match value.mime_bundle() {
        Ok(bundle) => bundle.to_evcxr(),
        Err(e) => MimeBundle(vec![("text/plain".into(), format!("error: {e}"))]).to_evcxr(),
    };
    channel::print_stdout(&text);
}
