//! Figures: line plots, histograms, heatmaps with colour bars, contour plots,
//! scatter plots and bar charts, drawn with plotters and an embedded font.
//! Each renders to PNG or SVG and shows itself in a notebook (see
//! [`display`](crate::display)).
//!
//! ```no_run
//! use deepscope::plot::{LinePlot, Render};
//! let fig = LinePlot::new()
//!     .title("training loss")
//!     .x_label("step")
//!     .log_y()
//!     .values("loss", &[2.3, 1.1, 0.7, 0.5]);
//! deepscope::plot::save(&fig, "loss.png")?;
//! # Ok::<(), deepscope::Error>(())
//! ```

mod charts;
mod colormap;
mod field;
mod frame;
mod legend;
mod panels;
mod render;
mod surface3d;

pub use charts::{BarChart, Histogram, LinePlot, Scatter, Series};
pub use colormap::{series_color, Colormap};
pub(crate) use field::draw_colorbar;
pub use field::{isoline_runs, matrix_from_tensor, Contour, Heatmap};
pub use frame::Frame;
pub(crate) use legend::wrap;
pub use panels::Panels;
pub use render::{
    drawing, encode_png, ensure_font, rgb_pixels, save, to_png, to_svg, Render, FONT,
};
pub use surface3d::Surface3d;
