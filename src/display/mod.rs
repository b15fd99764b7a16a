//! Showing values in a notebook: figures as `image/png`, tables as
//! `text/html`, each with a `text/plain` fallback, and image grids and
//! overlays built from tensors.
//!
//! `display(&x)` shows `x` at once (several per cell). A figure or table as
//! the last expression of a cell shows itself too (evcxr calls its
//! `evcxr_display` method). Under stock evcxr the output travels on stdout
//! between `EVCXR_BEGIN_CONTENT` / `EVCXR_END_CONTENT` markers.

mod images;
mod table;

pub use images::{ImageGrid, Overlay, Scaling};
pub use table::Table;

use crate::error::Result;
use crate::plot::{to_png, BarChart, Contour, Heatmap, Histogram, LinePlot, Render, Scatter};
use base64::Engine as _;
use std::io::Write;

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

/// Whether this process is a notebook's evaluation process (evcxr sets
/// `EVCXR_IS_RUNTIME` there), where shown values reach the notebook.
pub fn in_notebook() -> bool {
    std::env::var_os("EVCXR_IS_RUNTIME").is_some()
}

/// Shows `x` now, under the cell that is running.
pub fn display<S: Show + ?Sized>(x: &S) -> Result<()> {
    let bundle = x.mime_bundle()?;
    let mut out = std::io::stdout().lock();
    // A closed stdout (no notebook attached) is not the user's error.
    let _ = out.write_all(bundle.to_evcxr().as_bytes());
    let _ = out.flush();
    Ok(())
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
    ImageGrid => "image grid",
    Overlay => "overlay",
);

macro_rules! evcxr_display {
    ($($t:ty),* $(,)?) => {$(
        impl $t {
            /// Called by evcxr when this value ends a cell: shows it. A
            /// drawing error is shown as text instead of a panic.
            pub fn evcxr_display(&self) {
                if let Err(e) = display(self) {
                    println!("EVCXR_BEGIN_CONTENT text/plain\nerror: {e}\nEVCXR_END_CONTENT");
                }
            }
        }
    )*};
}

evcxr_display!(LinePlot, Histogram, Scatter, BarChart, Heatmap, Contour, ImageGrid, Overlay, Table);
