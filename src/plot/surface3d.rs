//! A grid of values as a shaded surface seen from an oblique angle: the
//! 3-D view of a loss landscape.

use super::colormap::Colormap;
use super::frame::{frame_setters, Frame};
use super::render::{drawing, Render, FONT};
use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

/// `values[row][col]` over `x0..x1` (columns) and `y0..y1` (rows) drawn as
/// a surface of quadrilaterals coloured by height, seen from `yaw` and
/// `pitch` (radians).
#[derive(Debug, Clone, PartialEq)]
pub struct Surface3d {
    frame: Frame,
    values: Vec<Vec<f64>>,
    extent: (f64, f64, f64, f64),
    colormap: Colormap,
    yaw: f64,
    pitch: f64,
    clip: Option<f64>,
}

frame_setters!(Surface3d);

impl Surface3d {
    /// A surface of `values[row][col]`, columns spanning `x0..x1` and rows `y0..y1`.
    pub fn new(values: Vec<Vec<f64>>, x0: f64, x1: f64, y0: f64, y1: f64) -> Self {
        Surface3d {
            frame: Frame::default(),
            values,
            extent: (x0, x1, y0, y1),
            colormap: Colormap::Viridis,
            yaw: 0.6,
            pitch: 0.45,
            clip: None,
        }
    }

    /// The viewing angles in radians (default yaw 0.6, pitch 0.45).
    pub fn view(mut self, yaw: f64, pitch: f64) -> Self {
        self.yaw = yaw;
        self.pitch = pitch;
        self
    }

    /// Values above `max` drawn at `max` (loss surfaces explode far from
    /// the minimum and would flatten the interesting part).
    pub fn clip(mut self, max: f64) -> Self {
        self.clip = Some(max);
        self
    }

    /// Colours by height.
    pub fn colormap(mut self, map: Colormap) -> Self {
        self.colormap = map;
        self
    }
}

impl Render for Surface3d {
    fn size(&self) -> (u32, u32) {
        self.frame.size
    }

    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let rows = self.values.len();
        let cols = self.values.first().map_or(0, Vec::len);
        if rows < 2 || cols < 2 || self.values.iter().any(|r| r.len() != cols) {
            return Err(Error::invalid(format!(
                "a surface needs a rectangular grid of at least 2x2 values, got {rows} rows"
            )));
        }
        let v = |r: usize, c: usize| {
            let x = self.values[r][c];
            self.clip.map_or(x, |m| x.min(m))
        };
        let finite: Vec<f64> = (0..rows)
            .flat_map(|r| (0..cols).map(move |c| (r, c)))
            .map(|(r, c)| v(r, c))
            .filter(|x| x.is_finite())
            .collect();
        if finite.is_empty() {
            return Err(Error::invalid("a surface needs some finite values"));
        }
        let lo = finite.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = finite.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let hi = if hi > lo { hi } else { lo + 1.0 };
        let (x0, x1, y0, y1) = self.extent;
        let at = |r: usize, c: usize| {
            (
                x0 + (x1 - x0) * c as f64 / (cols - 1) as f64,
                v(r, c),
                y0 + (y1 - y0) * r as f64 / (rows - 1) as f64,
            )
        };
        let mut builder = ChartBuilder::on(root);
        builder.margin(20);
        self.frame.put_title(root, &mut builder, 20)?;
        let mut chart = builder
            .build_cartesian_3d(x0..x1, lo..hi, y0..y1)
            .map_err(drawing)?;
        let (yaw, pitch) = (self.yaw, self.pitch);
        chart.with_projection(|mut p| {
            p.yaw = yaw;
            p.pitch = pitch;
            p.scale = 0.85;
            p.into_matrix()
        });
        chart
            .configure_axes()
            .label_style((FONT, 11))
            .light_grid_style(BLACK.mix(0.08))
            .max_light_lines(3)
            .draw()
            .map_err(drawing)?;
        // Back cells first, so that nearer ones cover them.
        let mut cells: Vec<(usize, usize)> = (0..rows - 1)
            .flat_map(|r| (0..cols - 1).map(move |c| (r, c)))
            .collect();
        cells.sort_by_key(|&(r, c)| std::cmp::Reverse(r + c));
        let map = self.colormap;
        let quads = cells.into_iter().filter_map(|(r, c)| {
            let corners = [at(r, c), at(r, c + 1), at(r + 1, c + 1), at(r + 1, c)];
            if corners.iter().any(|p| !p.1.is_finite()) {
                return None;
            }
            let mean = corners.iter().map(|p| p.1).sum::<f64>() / 4.0;
            let color = map.color((mean - lo) / (hi - lo));
            Some(Polygon::new(corners.to_vec(), color.mix(0.95).filled()))
        });
        chart.draw_series(quads).map_err(drawing)?;
        Ok(())
    }
}
