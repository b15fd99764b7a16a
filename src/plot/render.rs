//! Rendering figures: every chart draws itself on a plotters drawing area,
//! and from that comes a PNG (through the `image` crate), an SVG, or a file.
//! Text uses DejaVu Sans compiled into the library, so no system font or
//! fontconfig is needed.

use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

/// The font family name every figure uses.
pub const FONT: &str = "sans-serif";

/// Registers the embedded font with plotters, once per process.
pub fn ensure_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            let bytes = match style {
                FontStyle::Bold => dejavu::sans::bold(),
                _ => dejavu::sans::regular(),
            };
            // The font is compiled in and known to parse; an error here would
            // only cost text, never the figure.
            let _ = plotters::style::register_font(FONT, style, bytes);
        }
    });
}

/// Something that can draw itself as a figure.
pub trait Render {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Draws onto `root`, which covers [`size`](Self::size).
    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>;
}

/// Turns a plotters error into ours.
pub fn drawing<E: std::fmt::Debug>(e: E) -> Error {
    Error::invalid(format!("drawing the figure failed: {e:?}"))
}

/// The figure as RGB pixels `(width, height, bytes)`.
pub fn rgb_pixels<R: Render + ?Sized>(r: &R) -> Result<(u32, u32, Vec<u8>)> {
    ensure_font();
    let (w, h) = r.size();
    if w == 0 || h == 0 || w > 16384 || h > 16384 {
        return Err(Error::invalid(format!(
            "figure size {w}x{h} px is outside 1..=16384"
        )));
    }
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        r.draw_on(&root)?;
        root.present().map_err(drawing)?;
    }
    Ok((w, h, buf))
}

/// The figure as PNG bytes.
pub fn to_png<R: Render + ?Sized>(r: &R) -> Result<Vec<u8>> {
    let (w, h, buf) = rgb_pixels(r)?;
    encode_png(w, h, buf)
}

/// Encodes RGB pixels as PNG.
pub fn encode_png(w: u32, h: u32, rgb: Vec<u8>) -> Result<Vec<u8>> {
    let img = image::RgbImage::from_raw(w, h, rgb)
        .ok_or_else(|| Error::invalid("pixel buffer does not match the figure size"))?;
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| Error::invalid(format!("PNG encoding failed: {e}")))?;
    Ok(out.into_inner())
}

/// The figure as an SVG document.
pub fn to_svg<R: Render + ?Sized>(r: &R) -> Result<String> {
    ensure_font();
    let (w, h) = r.size();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        r.draw_on(&root)?;
        root.present().map_err(drawing)?;
    }
    Ok(svg)
}

/// Saves the figure as PNG or SVG, by the file's extension.
pub fn save<R: Render + ?Sized>(r: &R, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let bytes = match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => to_png(r)?,
        Some("svg") => to_svg(r)?.into_bytes(),
        _ => {
            return Err(Error::invalid(format!(
                "{}: figures are saved as .png or .svg",
                path.display()
            )))
        }
    };
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}
