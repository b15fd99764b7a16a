//! Several figures in one image: side by side or in a grid, under an
//! optional caption. The live training monitor draws its loss and accuracy
//! this way, and notebooks use it for before/after pairs.

use super::render::{drawing, Render, FONT};
use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Height in pixels of the caption strip above the panels.
const CAPTION_HEIGHT: u32 = 30;

/// Figures of one kind laid out row by row, `columns` per row, each at the
/// size of the largest one.
#[derive(Debug, Clone, PartialEq)]
pub struct Panels<R> {
    panels: Vec<R>,
    columns: usize,
    caption: Option<String>,
}

impl<R: Render> Panels<R> {
    /// The figures in one row. An empty list is an error: there would be
    /// nothing to size the image by.
    pub fn new(panels: Vec<R>) -> Result<Self> {
        if panels.is_empty() {
            return Err(Error::invalid("Panels needs at least one figure"));
        }
        let columns = panels.len();
        Ok(Panels {
            panels,
            columns,
            caption: None,
        })
    }

    /// At most `k` figures per row (`k` >= 1; larger than the count means one row).
    pub fn columns(mut self, k: usize) -> Result<Self> {
        if k == 0 {
            return Err(Error::invalid("Panels::columns needs at least 1 column"));
        }
        self.columns = k.min(self.panels.len());
        Ok(self)
    }

    /// A line of text above all panels.
    pub fn caption(mut self, text: impl Into<String>) -> Self {
        self.caption = Some(text.into());
        self
    }

    /// The figures, in order.
    pub fn panels(&self) -> &[R] {
        &self.panels
    }

    fn rows(&self) -> usize {
        self.panels.len().div_ceil(self.columns)
    }

    fn cell_size(&self) -> (u32, u32) {
        self.panels.iter().fold((1, 1), |(w, h), p| {
            let (pw, ph) = p.size();
            (w.max(pw), h.max(ph))
        })
    }
}

impl<R: Render> Render for Panels<R> {
    fn size(&self) -> (u32, u32) {
        let (w, h) = self.cell_size();
        let caption = if self.caption.is_some() {
            CAPTION_HEIGHT
        } else {
            0
        };
        (
            w.saturating_mul(self.columns as u32),
            h.saturating_mul(self.rows() as u32).saturating_add(caption),
        )
    }

    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        root.fill(&WHITE).map_err(drawing)?;
        let body = match &self.caption {
            Some(text) => {
                let (top, rest) = root.split_vertically(CAPTION_HEIGHT);
                top.draw_text(
                    text,
                    &(FONT, 16).into_text_style(&top).color(&BLACK),
                    (10, 7),
                )
                .map_err(drawing)?;
                rest
            }
            None => root.clone(),
        };
        let areas = body.split_evenly((self.rows(), self.columns));
        for (panel, area) in self.panels.iter().zip(areas.iter()) {
            panel.draw_on(area)?;
        }
        Ok(())
    }
}
