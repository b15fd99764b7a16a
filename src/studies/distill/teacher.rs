//! The teacher: one trained model or an ensemble, whose predictions at a
//! temperature are the student's soft targets.

use crate::data::Split;
use crate::error::{Error, Result};
use crate::model::Model;
use tch::{Device, Kind, Tensor};

/// One or several trained models run in evaluation mode (no dropout) and
/// without gradients. The members are put in evaluation mode when the
/// teacher is made and given back their mode when it is dropped.
pub struct Teacher<'a> {
    members: Vec<&'a mut Model>,
    modes: Vec<bool>,
}

impl<'a> Teacher<'a> {
    /// A teacher of `members` (one model, or an ensemble whose soft
    /// targets are the mean of the members'), all with one input shape and
    /// one number of classes.
    pub fn new(mut members: Vec<&'a mut Model>) -> Result<Self> {
        let first = members
            .first()
            .ok_or_else(|| Error::invalid("a teacher needs at least one model, got none"))?;
        let (input, output) = (first.input_shape().to_vec(), first.output_shape().to_vec());
        if output.len() != 1 {
            return Err(Error::shape(
                "the teacher's output",
                "class scores [K]",
                crate::check::shape_str(&output),
            ));
        }
        if let Some((i, m)) = members
            .iter()
            .enumerate()
            .find(|(_, m)| m.input_shape() != input || m.output_shape() != output)
        {
            return Err(Error::shape(
                format!("ensemble member {i}"),
                format!(
                    "the first member's input {} and output {}",
                    crate::check::shape_str(&input),
                    crate::check::shape_str(&output)
                ),
                format!(
                    "input {} and output {}",
                    crate::check::shape_str(m.input_shape()),
                    crate::check::shape_str(m.output_shape())
                ),
            ));
        }
        let modes = members.iter().map(|m| m.is_training()).collect();
        for m in members.iter_mut() {
            m.set_train(false);
        }
        Ok(Teacher { members, modes })
    }

    /// How many models the teacher averages.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the teacher has no model (never: [`new`](Self::new) refuses it).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The number of classes it predicts.
    pub fn classes(&self) -> i64 {
        self.members[0].output_shape()[0]
    }

    /// The input shape `[C, H, W]` it takes.
    pub fn input_shape(&self) -> &[i64] {
        self.members[0].input_shape()
    }

    /// Each member's logits `[B, K]` for `images` `[B, C, H, W]`, on the
    /// images' device.
    pub fn logits(&self, images: &Tensor) -> Result<Vec<Tensor>> {
        tch::no_grad(|| {
            self.members
                .iter()
                .map(|m| {
                    m.forward(&images.f_to_device(m.device())?)?
                        .f_to_device(images.device())
                        .map_err(Error::from)
                })
                .collect()
        })
    }

    /// The soft targets `[B, K]` for `images`: the mean over the members of
    /// `softmax(z / T)`.
    pub fn soft_targets(&self, images: &Tensor, temperature: f64) -> Result<Tensor> {
        super::loss::check_settings(temperature, 1.0)?;
        soft_targets(&self.logits(images)?, temperature)
    }

    /// Every member's logits for the whole of `split`, computed once in
    /// batches of `batch_size` and kept on the CPU (`[N, K]` per member):
    /// the fixed transfer set's targets, looked up by example position.
    pub fn cache(&self, split: &Split, batch_size: usize) -> Result<Vec<Tensor>> {
        if batch_size == 0 {
            return Err(Error::invalid("the batch size must be at least 1"));
        }
        let images = split.images();
        let n = split.len() as i64;
        let mut parts: Vec<Vec<Tensor>> = (0..self.members.len()).map(|_| Vec::new()).collect();
        for start in (0..n).step_by(batch_size) {
            let len = (batch_size as i64).min(n - start);
            let batch = images.f_narrow(0, start, len)?;
            for (m, z) in self.logits(&batch)?.into_iter().enumerate() {
                parts[m].push(z.f_to_device(Device::Cpu)?);
            }
        }
        parts
            .into_iter()
            .map(|p| {
                if p.is_empty() {
                    Ok(Tensor::zeros(
                        [0, self.classes()],
                        (Kind::Float, Device::Cpu),
                    ))
                } else {
                    Tensor::f_cat(&p, 0).map_err(Error::from)
                }
            })
            .collect()
    }
}

impl Drop for Teacher<'_> {
    fn drop(&mut self) {
        for (m, &mode) in self.members.iter_mut().zip(&self.modes) {
            m.set_train(mode);
        }
    }
}

/// The mean over `logits` (one `[B, K]` per member) of `softmax(z / T)`.
pub(super) fn soft_targets(logits: &[Tensor], temperature: f64) -> Result<Tensor> {
    let mut sum: Option<Tensor> = None;
    for z in logits {
        let p = z.f_div_scalar(temperature)?.f_softmax(1, Kind::Float)?;
        sum = Some(match sum {
            Some(s) => s.f_add(&p)?,
            None => p,
        });
    }
    let sum = sum.ok_or_else(|| Error::invalid("no teacher logits to average"))?;
    Ok(sum.f_div_scalar(logits.len() as f64)?)
}
