//! Image grids from tensors and heatmap overlays on images.

use crate::check;
use crate::error::{Error, Result};
use crate::plot::{drawing, Colormap, Render, FONT};
use plotters::coord::Shift;
use plotters::prelude::*;
use tch::{Kind, Tensor};

/// How image values are scaled to [0, 1] for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scaling {
    /// Each image stretched to its own min..max (projections, filters).
    #[default]
    PerImage,
    /// All images stretched by the batch's min..max (comparable brightness).
    Global,
    /// Values clamped to [0, 1] as they are (photos, dataset images).
    Clamp,
    /// Centred: each image divided by its largest absolute value and mapped to
    /// [0, 1] with 0.5 for zero (signed maps with a diverging colormap).
    Symmetric,
}

/// A grid of images from a tensor `[N, C, H, W]` (C = 1 or 3), with padding,
/// optional labels under each image, and a colormap for single-channel
/// images: filters, feature maps, top-9 patches, reconstructions.
#[derive(Debug)]
pub struct ImageGrid {
    images: Tensor,
    columns: usize,
    padding: u32,
    scale: u32,
    scaling: Scaling,
    colormap: Colormap,
    labels: Vec<String>,
    title: String,
}

impl ImageGrid {
    /// A grid of `images` `[N, C, H, W]` (or one image `[C, H, W]`).
    pub fn new(images: &Tensor) -> Result<Self> {
        check::defined(images, "images")?;
        let images = if images.dim() == 3 {
            images.f_unsqueeze(0)?
        } else {
            images.shallow_clone()
        };
        // A permuted (HWC to CHW) image is not contiguous, and the drawing
        // flattens rows with views.
        let images = images.f_contiguous()?;
        let (n, c, _, _) = check::images(&images, "images")?;
        if c != 1 && c != 3 {
            return Err(Error::shape(
                "images",
                "1 (gray) or 3 (RGB) channels",
                format!("{c} channels"),
            ));
        }
        if n == 0 {
            return Err(Error::invalid("an image grid needs at least one image"));
        }
        let columns = (n as f64).sqrt().ceil() as usize;
        Ok(ImageGrid {
            images: images.to_device(tch::Device::Cpu).to_kind(Kind::Float),
            columns,
            padding: 2,
            scale: 1,
            scaling: Scaling::default(),
            colormap: Colormap::Gray,
            labels: Vec::new(),
            title: String::new(),
        })
    }

    /// Images per row (default: a square-ish grid).
    pub fn columns(mut self, k: usize) -> Self {
        self.columns = k.max(1);
        self
    }

    /// Pixels between images.
    pub fn padding(mut self, p: u32) -> Self {
        self.padding = p;
        self
    }

    /// Each image pixel drawn as `s x s` screen pixels (nearest neighbour).
    pub fn scale(mut self, s: u32) -> Self {
        self.scale = s.clamp(1, 64);
        self
    }

    /// How values map to brightness.
    pub fn scaling(mut self, s: Scaling) -> Self {
        self.scaling = s;
        self
    }

    /// Colormap for single-channel images (default gray).
    pub fn colormap(mut self, map: Colormap) -> Self {
        self.colormap = map;
        self
    }

    /// A label under each image (as many as images).
    pub fn labels<S: ToString>(mut self, labels: &[S]) -> Self {
        self.labels = labels.iter().map(|s| s.to_string()).collect();
        self
    }

    /// A title above the grid.
    pub fn title(mut self, t: impl Into<String>) -> Self {
        self.title = t.into();
        self
    }

    fn geometry(&self) -> (usize, usize, u32, u32, u32, u32) {
        let s = self.images.size();
        let n = s[0] as usize;
        let cols = self.columns.min(n);
        let rows = n.div_ceil(cols);
        let (h, w) = (s[2] as u32 * self.scale, s[3] as u32 * self.scale);
        let label_h = if self.labels.is_empty() { 0 } else { 16 };
        let title_h = if self.title.is_empty() { 0 } else { 26 };
        (cols, rows, w, h, label_h, title_h)
    }

    /// The images scaled to [0, 1] as the grid shows them, `[N, C, H, W]`.
    pub fn scaled(&self) -> Tensor {
        // `new` made the images a contiguous Float CPU batch with N, C, H
        // and W all at least 1: the views and reductions cannot fail.
        let x = &self.images;
        let n = x.size()[0];
        let flat = x.view([n, -1]);
        match self.scaling {
            Scaling::Clamp => x.clamp(0.0, 1.0),
            Scaling::Global => {
                let (lo, hi) = (x.min(), x.max());
                ((x - &lo) / (hi - &lo).clamp_min(1e-12)).clamp(0.0, 1.0)
            }
            Scaling::PerImage => {
                let lo = flat.min_dim(1, true).0.view([n, 1, 1, 1]);
                let hi = flat.max_dim(1, true).0.view([n, 1, 1, 1]);
                ((x - &lo) / (hi - &lo).clamp_min(1e-12)).clamp(0.0, 1.0)
            }
            Scaling::Symmetric => {
                let m = flat
                    .abs()
                    .max_dim(1, true)
                    .0
                    .view([n, 1, 1, 1])
                    .clamp_min(1e-12);
                (x / m * 0.5 + 0.5).clamp(0.0, 1.0)
            }
        }
    }
}

fn nan_to_zero(t: &Tensor) -> Tensor {
    t.nan_to_num(0.0, 0.0, 0.0)
}

/// `[C, H, W]` in [0, 1] to rows of RGB colours, through `map` for one channel.
fn to_rgb(img: &Tensor, map: Colormap) -> Result<Vec<Vec<RGBColor>>> {
    let s = img.size();
    let (c, h, w) = (s[0], s[1] as usize, s[2] as usize);
    let v = Vec::<f32>::try_from(nan_to_zero(img).contiguous().flatten(0, -1))?;
    let at = |ch: usize, r: usize, col: usize| v[ch * h * w + r * w + col] as f64;
    Ok((0..h)
        .map(|r| {
            (0..w)
                .map(|col| {
                    if c == 1 {
                        map.color(at(0, r, col))
                    } else {
                        let q = |ch| (at(ch, r, col) * 255.0).round().clamp(0.0, 255.0) as u8;
                        RGBColor(q(0), q(1), q(2))
                    }
                })
                .collect()
        })
        .collect())
}

/// Draws `pixels` (rows of colours) with its top-left corner at `(x0, y0)`,
/// each as an `s x s` block.
fn put_pixels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    pixels: &[Vec<RGBColor>],
    x0: i32,
    y0: i32,
    s: i32,
) -> Result<()> {
    for (r, row) in pixels.iter().enumerate() {
        for (c, color) in row.iter().enumerate() {
            for dy in 0..s {
                for dx in 0..s {
                    root.draw_pixel((x0 + c as i32 * s + dx, y0 + r as i32 * s + dy), color)
                        .map_err(drawing)?;
                }
            }
        }
    }
    Ok(())
}

impl Render for ImageGrid {
    fn size(&self) -> (u32, u32) {
        let (cols, rows, w, h, label_h, title_h) = self.geometry();
        let p = self.padding;
        (
            cols as u32 * (w + p) + p,
            rows as u32 * (h + label_h + p) + p + title_h,
        )
    }

    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let n = self.images.size()[0] as usize;
        if !self.labels.is_empty() && self.labels.len() != n {
            return Err(Error::invalid(format!(
                "{} labels for {n} images",
                self.labels.len()
            )));
        }
        let (cols, _, w, h, label_h, title_h) = self.geometry();
        let p = self.padding;
        root.fill(&WHITE).map_err(drawing)?;
        if !self.title.is_empty() {
            root.draw(&Text::new(
                self.title.as_str(),
                (p as i32, 4),
                (FONT, 16).into_font(),
            ))
            .map_err(drawing)?;
        }
        let scaled = self.scaled();
        let s = self.scale as i32;
        for i in 0..n {
            let (gx, gy) = ((i % cols) as u32, (i / cols) as u32);
            let x0 = (p + gx * (w + p)) as i32;
            let y0 = (title_h + p + gy * (h + label_h + p)) as i32;
            let pixels = to_rgb(&scaled.get(i as i64), self.colormap)?;
            put_pixels(root, &pixels, x0, y0, s)?;
            if let Some(label) = self.labels.get(i) {
                root.draw(&Text::new(
                    label.as_str(),
                    (x0, y0 + h as i32 + 2),
                    (FONT, 11).into_font(),
                ))
                .map_err(drawing)?;
            }
        }
        Ok(())
    }
}

/// A heatmap laid over an image: occlusion sensitivity, attributions,
/// receptive fields. The map is resized (bilinear) to the image.
///
/// By default a colour bar beside the image gives the map's values (what a
/// colour means is otherwise lost to the reader); a title, wrapped to the
/// figure's width, says what the map is.
#[derive(Debug)]
pub struct Overlay {
    image: Tensor,
    heat: Tensor,
    alpha: f64,
    colormap: Colormap,
    scale: u32,
    symmetric: bool,
    title: String,
    colorbar: Option<String>,
}

/// Width of the colour bar beside an overlay, in pixels.
const OVERLAY_BAR_W: u32 = 84;
/// Height the colour bar needs to be read, in pixels: the figure grows to it.
const OVERLAY_BAR_MIN_H: u32 = 170;
/// Title font, and the width of one of its characters (about 0.55 em, as
/// measured for the legends).
const OVERLAY_TITLE_FONT: f64 = 14.0;
const EM_PER_CHAR: f64 = 0.55;

impl Overlay {
    /// `heat` `[h, w]` over `image` `[C, H, W]` (C = 1 or 3, values in [0, 1]).
    pub fn new(image: &Tensor, heat: &Tensor) -> Result<Self> {
        check::defined(image, "image")?;
        check::defined(heat, "heat map")?;
        let size = image.size();
        let [c, ih, iw] = size[..] else {
            return Err(Error::shape("image", "[C, H, W]", check::shape_str(&size)));
        };
        if c != 1 && c != 3 {
            return Err(Error::shape(
                "image",
                "1 or 3 channels",
                format!("{c} channels"),
            ));
        }
        if ih == 0 || iw == 0 {
            return Err(Error::shape(
                "image",
                "at least one pixel",
                check::shape_str(&size),
            ));
        }
        let hs = heat.size();
        if hs.len() != 2 || hs[0] == 0 || hs[1] == 0 {
            return Err(Error::shape("heat map", "[h, w]", check::shape_str(&hs)));
        }
        check::floating(heat, "heat map")?;
        // `f_reshape`, not `view`: a transposed or sliced map is not
        // contiguous. Values that are not finite are drawn as 0: cleared
        // once here, for the range and the colours alike.
        let heat = heat
            .f_to_device(tch::Device::Cpu)?
            .f_to_kind(Kind::Float)?
            .f_reshape([1, 1, hs[0], hs[1]])?
            .f_upsample_bilinear2d([ih, iw], false, None, None)?
            .f_reshape([ih, iw])?
            .f_nan_to_num(0.0, 0.0, 0.0)?;
        Ok(Overlay {
            image: image
                .f_to_device(tch::Device::Cpu)?
                .f_to_kind(Kind::Float)?
                .f_clamp(0.0, 1.0)?
                .f_contiguous()?,
            heat,
            alpha: 0.5,
            colormap: Colormap::Hot,
            scale: 1,
            symmetric: false,
            title: String::new(),
            colorbar: Some(String::new()),
        })
    }

    /// A title above the overlay, wrapped to its width.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// A label above the colour bar (the map's quantity and unit).
    pub fn colorbar_label(mut self, label: impl Into<String>) -> Self {
        self.colorbar = Some(label.into());
        self
    }

    /// No colour bar: the image alone (thumbnails, pixel tests).
    pub fn no_colorbar(mut self) -> Self {
        self.colorbar = None;
        self
    }

    /// The map's values at the colormap's two ends: its min and max (a
    /// unit around a flat map's value, which then shows mid-scale), or
    /// `-m..m` with `m` its largest magnitude when symmetric. Values that
    /// are not finite count as 0, as they are drawn.
    fn value_range(&self) -> (f64, f64) {
        // `heat` is a finite Float CPU map of at least one pixel (made so in
        // `new`): its reductions cannot fail.
        let h = &self.heat;
        if self.symmetric {
            let m = h.abs().max().double_value(&[]).max(1e-12);
            return (-m, m);
        }
        let (lo, hi) = (h.min().double_value(&[]), h.max().double_value(&[]));
        if hi > lo {
            (lo, hi)
        } else {
            (lo - 0.5, hi + 0.5)
        }
    }

    /// `(image width, image height, bar width, title lines, title height)`
    /// in pixels.
    fn layout(&self) -> (u32, u32, u32, Vec<String>, u32) {
        let s = self.image.size();
        let (w, h) = (s[2] as u32 * self.scale, s[1] as u32 * self.scale);
        let bar_w = if self.colorbar.is_some() {
            OVERLAY_BAR_W
        } else {
            0
        };
        let chars =
            |width: u32, font: f64| ((width as f64 - 8.0) / (EM_PER_CHAR * font)).max(1.0) as usize;
        let title = if self.title.is_empty() {
            Vec::new()
        } else {
            crate::plot::wrap(&self.title, chars(w + bar_w, OVERLAY_TITLE_FONT))
        };
        let title_h = if title.is_empty() {
            0
        } else {
            6 + 18 * title.len() as u32
        };
        (w, h, bar_w, title, title_h)
    }

    /// Opacity of the heat map, in [0, 1].
    pub fn alpha(mut self, a: f64) -> Self {
        self.alpha = a.clamp(0.0, 1.0);
        self
    }

    /// Colormap of the heat map (default hot).
    pub fn colormap(mut self, map: Colormap) -> Self {
        self.colormap = map;
        self
    }

    /// Signed map centred on zero (use with [`Colormap::Diverging`]).
    pub fn symmetric(mut self) -> Self {
        self.symmetric = true;
        self
    }

    /// Screen pixels per image pixel.
    pub fn scale(mut self, s: u32) -> Self {
        self.scale = s.clamp(1, 64);
        self
    }
}

/// `lines` of text from `at` down, `step` pixels apart, at `font` px.
fn draw_lines<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    lines: &[String],
    at: (i32, i32),
    font: f64,
    step: i32,
) -> Result<()> {
    for (i, line) in lines.iter().enumerate() {
        area.draw(&Text::new(
            line.as_str(),
            (at.0, at.1 + step * i as i32),
            (FONT, font).into_font(),
        ))
        .map_err(drawing)?;
    }
    Ok(())
}

impl Render for Overlay {
    fn size(&self) -> (u32, u32) {
        let (w, h, bar_w, _, title_h) = self.layout();
        let body = if bar_w > 0 {
            h.max(OVERLAY_BAR_MIN_H)
        } else {
            h
        };
        (w + bar_w, title_h + body)
    }

    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let (w, _, bar_w, title, title_h) = self.layout();
        root.fill(&WHITE).map_err(drawing)?;
        draw_lines(root, &title, (4, 4), OVERLAY_TITLE_FONT, 18)?;
        let (lo, hi) = self.value_range();
        if bar_w > 0 {
            let bar = root.margin(title_h, 0, w, 0);
            let label = self.colorbar.as_deref().unwrap_or("");
            crate::plot::draw_colorbar(&bar, self.colormap, lo, hi, label)?;
        }
        let base = to_rgb(&self.image, Colormap::Gray)?;
        let t = ((&self.heat - lo) / (hi - lo)).clamp(0.0, 1.0);
        let heat = to_rgb(&t.unsqueeze(0), self.colormap)?;
        let a = self.alpha;
        let mix = |x: u8, y: u8| ((1.0 - a) * x as f64 + a * y as f64).round() as u8;
        let blended: Vec<Vec<RGBColor>> = base
            .iter()
            .zip(&heat)
            .map(|(brow, hrow)| {
                brow.iter()
                    .zip(hrow)
                    .map(|(b, q)| RGBColor(mix(b.0, q.0), mix(b.1, q.1), mix(b.2, q.2)))
                    .collect()
            })
            .collect();
        put_pixels(root, &blended, 0, title_h as i32, self.scale as i32)
    }
}
