//! Tables: the closing "paper vs ours" tables of every notebook, layer
//! summaries, benchmark results. Shown as HTML in notebooks, text elsewhere.

use crate::error::{Error, Result};
use std::fmt;

/// A table of text cells under named columns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    title: String,
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Table {
    /// A table with these column headers.
    pub fn new<S: ToString>(headers: &[S]) -> Self {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            ..Default::default()
        }
    }

    /// A caption above the table.
    pub fn title(mut self, t: impl Into<String>) -> Self {
        self.title = t.into();
        self
    }

    /// Adds a row; it must have one cell per column.
    pub fn row<S: ToString>(mut self, cells: &[S]) -> Result<Self> {
        if cells.len() != self.headers.len() {
            return Err(Error::invalid(format!(
                "table row has {} cells, the table has {} columns ({})",
                cells.len(),
                self.headers.len(),
                self.headers.join(", ")
            )));
        }
        self.rows
            .push(cells.iter().map(|c| c.to_string()).collect());
        Ok(self)
    }

    /// The rows added so far.
    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    /// The table as an HTML `<table>` (cells escaped).
    pub fn to_html(&self) -> String {
        let mut h = String::from("<table>");
        if !self.title.is_empty() {
            h += &format!("<caption>{}</caption>", escape(&self.title));
        }
        h += "<thead><tr>";
        for c in &self.headers {
            h += &format!("<th>{}</th>", escape(c));
        }
        h += "</tr></thead><tbody>";
        for r in &self.rows {
            h += "<tr>";
            for c in r {
                h += &format!("<td>{}</td>", escape(c));
            }
            h += "</tr>";
        }
        h + "</tbody></table>"
    }
}

impl fmt::Display for Table {
    /// Aligned plain text, columns padded to their widest cell.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|i| {
                std::iter::once(&self.headers[i])
                    .chain(self.rows.iter().map(|r| &r[i]))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        if !self.title.is_empty() {
            writeln!(f, "{}", self.title)?;
        }
        writeln!(f, "{}", line(&self.headers))?;
        writeln!(
            f,
            "{}",
            widths
                .iter()
                .map(|w| "-".repeat(*w))
                .collect::<Vec<_>>()
                .join("  ")
        )?;
        for r in &self.rows {
            writeln!(f, "{}", line(r))?;
        }
        Ok(())
    }
}
