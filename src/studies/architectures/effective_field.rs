//! The effective receptive field (Luo, Li, Urtasun & Zemel 2016): how much
//! each input pixel actually moves one unit in the middle of a layer's
//! map, measured as the gradient of that unit with respect to the input,
//! averaged in absolute value over a batch of inputs. The theoretical
//! field (the summary's) bounds where this can be non-zero; the paper's
//! finding is that the mass concentrates in a Gaussian-like centre that
//! occupies a fraction of it.

use crate::check;
use crate::display::{MimeBundle, Show};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::plot::{Colormap, Heatmap};
use tch::{Kind, Tensor};

/// The map of `mean |d unit / d input|` over a batch, summed over input
/// channels, for the unit at the centre of one layer's output.
#[derive(Debug)]
pub struct EffectiveField {
    /// `[H, W]` (f64, CPU): the mean absolute gradient at each input pixel.
    pub map: Tensor,
    /// The unit's position `(row, column)` in the layer's map.
    pub unit: (i64, i64),
    /// The layer measured.
    pub layer: String,
}

impl EffectiveField {
    /// Measures the field of the centre unit of layer `layer` (summed over
    /// its channels) of `model` in evaluation mode, over the batch `inputs`
    /// (`[N, ...]`, the model's input shape). Luo et al. average over
    /// random inputs; pass images to measure it on data.
    pub fn measure(model: &Model, layer: &str, inputs: &Tensor) -> Result<Self> {
        model.check_input(inputs)?;
        if inputs.dim() != 4 || inputs.size()[0] < 1 {
            return Err(Error::shape(
                "inputs",
                "a batch of at least one image [N, C, H, W]",
                check::shape_str(&inputs.size()),
            ));
        }
        check::finite(inputs, "inputs")?;
        let index = model.layer_index(layer)?;
        let out = model.layer_shape(index).unwrap_or_default();
        let [_, h, w] = out[..] else {
            return Err(Error::invalid(format!(
                "layer '{layer}' gives {}, not a map [C, H, W]: an effective field needs spatial units",
                check::shape_str(out)
            )));
        };
        let unit = (h / 2, w / 2);
        let map = tch::with_grad(|| -> Result<Tensor> {
            let x = inputs.f_detach()?.f_set_requires_grad(true)?;
            let y = model.forward_to(&x, layer)?;
            let centre = y.f_select(2, unit.0)?.f_select(2, unit.1)?;
            let grads = Tensor::f_run_backward(&[centre.f_sum(Kind::Float)?], &[&x], false, false)?;
            let g = grads
                .into_iter()
                .next()
                .ok_or_else(|| Error::invalid("no gradient reached the input"))?;
            Ok(g.f_abs()?
                .f_to_kind(Kind::Double)?
                .f_sum_dim_intlist([1i64].as_slice(), false, Kind::Double)?
                .f_mean_dim([0i64].as_slice(), false, Kind::Double)?
                .f_to_device(tch::Device::Cpu)?)
        })?;
        Ok(EffectiveField {
            map,
            unit,
            layer: layer.to_string(),
        })
    }

    /// The side, in pixels, of the smallest square centred on the map's
    /// centre of mass that holds at least `share` (in (0, 1]) of the total
    /// gradient mass: the effective field's size, comparable with the
    /// theoretical field's. `None` when the map is all zeros.
    pub fn side_holding(&self, share: f64) -> Result<Option<i64>> {
        if !(share > 0.0 && share <= 1.0) {
            return Err(Error::invalid(format!(
                "the share of the mass must be in (0, 1], got {share}"
            )));
        }
        let (h, w) = (self.map.size()[0], self.map.size()[1]);
        let total = self.map.f_sum(Kind::Double)?.f_double_value(&[])?;
        if total <= 0.0 {
            return Ok(None);
        }
        let (cy, cx) = self.centre_of_mass()?;
        let (cy, cx) = (cy.round() as i64, cx.round() as i64);
        for half in 0..=h.max(w) {
            let (top, left) = ((cy - half).max(0), (cx - half).max(0));
            let (bottom, right) = ((cy + half).min(h - 1), (cx + half).min(w - 1));
            let inside = self
                .map
                .f_narrow(0, top, bottom - top + 1)?
                .f_narrow(1, left, right - left + 1)?
                .f_sum(Kind::Double)?
                .f_double_value(&[])?;
            if inside >= share * total * (1.0 - 1e-12) {
                return Ok(Some(2 * half + 1));
            }
        }
        Ok(Some(h.max(w)))
    }

    /// The gradient mass's centre `(row, column)`, input pixels.
    pub fn centre_of_mass(&self) -> Result<(f64, f64)> {
        let (h, w) = (self.map.size()[0], self.map.size()[1]);
        let total = self.map.f_sum(Kind::Double)?.f_double_value(&[])?;
        if total <= 0.0 {
            return Ok(((h - 1) as f64 / 2.0, (w - 1) as f64 / 2.0));
        }
        let opts = (Kind::Double, tch::Device::Cpu);
        let rows = self
            .map
            .f_sum_dim_intlist([1i64].as_slice(), false, Kind::Double)?;
        let cols = self
            .map
            .f_sum_dim_intlist([0i64].as_slice(), false, Kind::Double)?;
        let mean = |marginal: &Tensor, n: i64| -> Result<f64> {
            Ok(marginal
                .f_mul(&Tensor::f_arange(n, opts)?)?
                .f_sum(Kind::Double)?
                .f_double_value(&[])?
                / total)
        };
        Ok((mean(&rows, h)?, mean(&cols, w)?))
    }

    /// The root-mean-square distance of the gradient mass from its centre,
    /// in input pixels: the effective field's radius, the quantity Luo et
    /// al. show grows as the square root of the depth. `None` for an
    /// all-zero map.
    pub fn radius(&self) -> Result<Option<f64>> {
        let (h, w) = (self.map.size()[0], self.map.size()[1]);
        let total = self.map.f_sum(Kind::Double)?.f_double_value(&[])?;
        if total <= 0.0 {
            return Ok(None);
        }
        let (cy, cx) = self.centre_of_mass()?;
        let opts = (Kind::Double, tch::Device::Cpu);
        let dy = Tensor::f_arange(h, opts)?
            .f_sub_scalar(cy)?
            .f_square()?
            .f_unsqueeze(1)?;
        let dx = Tensor::f_arange(w, opts)?
            .f_sub_scalar(cx)?
            .f_square()?
            .f_unsqueeze(0)?;
        let second = self
            .map
            .f_mul(&dy.f_add(&dx)?)?
            .f_sum(Kind::Double)?
            .f_double_value(&[])?;
        Ok(Some((second / total).sqrt()))
    }

    /// The map as a heatmap, scaled to its maximum.
    pub fn heatmap(&self) -> Result<Heatmap> {
        let peak = self.map.f_max()?.f_double_value(&[])?;
        let scaled = if peak > 0.0 {
            self.map.f_div_scalar(peak)?
        } else {
            self.map.shallow_clone()
        };
        Ok(Heatmap::from_tensor(&scaled)?
            .colormap(Colormap::Viridis)
            .range(0.0, 1.0))
    }
}

impl Show for EffectiveField {
    fn mime_bundle(&self) -> Result<MimeBundle> {
        self.heatmap()?.mime_bundle()
    }
}
crate::display::shows_at_cell_end!(EffectiveField);
