//! Colormaps for heatmaps, image grids of single-channel maps and overlays.

use plotters::style::RGBColor;

/// A map from a value in [0, 1] to a colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Colormap {
    /// Black to white.
    Gray,
    /// Perceptually uniform dark blue to yellow (matplotlib's default).
    #[default]
    Viridis,
    /// Blue, white, red: for signed values centred on zero (attributions).
    Diverging,
    /// Black, red, yellow, white: for intensities (occlusion maps).
    Hot,
}

fn lerp(stops: &[(f64, [f64; 3])], t: f64) -> RGBColor {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let i = stops
        .windows(2)
        .position(|w| t <= w[1].0)
        .unwrap_or(stops.len() - 2);
    let ((t0, a), (t1, b)) = (stops[i], stops[i + 1]);
    let u = if t1 > t0 { (t - t0) / (t1 - t0) } else { 0.0 };
    let c = |k: usize| ((a[k] + u * (b[k] - a[k])) * 255.0).round() as u8;
    RGBColor(c(0), c(1), c(2))
}

impl Colormap {
    /// The colour of `t` in [0, 1] (values outside are clamped, NaN is 0).
    pub fn color(self, t: f64) -> RGBColor {
        match self {
            Colormap::Gray => lerp(&[(0.0, [0.0; 3]), (1.0, [1.0; 3])], t),
            Colormap::Viridis => {
                use plotters::style::colors::colormaps::{ColorMap, ViridisRGB};
                let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
                ViridisRGB.get_color(t)
            }
            Colormap::Diverging => lerp(
                &[
                    (0.0, [0.13, 0.27, 0.60]),
                    (0.5, [0.97, 0.97, 0.97]),
                    (1.0, [0.70, 0.09, 0.17]),
                ],
                t,
            ),
            Colormap::Hot => lerp(
                &[
                    (0.0, [0.0, 0.0, 0.0]),
                    (0.4, [0.9, 0.0, 0.0]),
                    (0.75, [1.0, 0.85, 0.0]),
                    (1.0, [1.0, 1.0, 1.0]),
                ],
                t,
            ),
        }
    }
}

/// Distinct colours for series and classes (plotters' 99-colour palette,
/// cycled).
pub fn series_color(i: usize) -> RGBColor {
    use plotters::style::{Palette, Palette99};
    let (r, g, b) = Palette99::COLORS[i % Palette99::COLORS.len()];
    RGBColor(r, g, b)
}
