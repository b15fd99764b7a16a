//! Points and directions in a model's weight space, and the random
//! directions of loss-landscape plots (Li et al. 2018, "Visualizing the
//! Loss Landscape of Neural Nets").

use crate::error::{Error, Result};
use crate::model::{Layer, Model, Op};
use std::collections::HashMap;
use tch::{Kind, Tensor};

/// What a tensor of a model is, for deciding its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The weight of a convolution or linear layer (`[out, ...]`).
    Weight,
    /// A bias of a convolution or linear layer.
    Bias,
    /// A batch-norm scale or shift.
    NormParam,
    /// A buffer (running statistics): never moved along a direction.
    Buffer,
}

/// Every tensor of a model (parameters and buffers) by full name, with its
/// role: a point of weight space, or a direction in it.
#[derive(Debug)]
pub struct Weights {
    /// `(full name, role, tensor)` in the model's order.
    pub tensors: Vec<(String, Role, Tensor)>,
}

impl Clone for Weights {
    /// A deep copy.
    fn clone(&self) -> Self {
        Weights {
            tensors: self
                .tensors
                .iter()
                .map(|(n, r, t)| (n.clone(), *r, t.copy()))
                .collect(),
        }
    }
}

fn collect(layer: &Layer, out: &mut Vec<(String, Role, Tensor)>) {
    let full = |short: &str| {
        if layer.path.is_empty() {
            short.to_string()
        } else {
            format!("{}.{short}", layer.path)
        }
    };
    for (n, t) in &layer.params {
        let role = match (&layer.op, n.as_str()) {
            (Op::BatchNorm { .. }, _) => Role::NormParam,
            (_, "bias") => Role::Bias,
            _ => Role::Weight,
        };
        out.push((full(n), role, t.shallow_clone()));
    }
    for (n, t) in &layer.buffers {
        out.push((full(n), Role::Buffer, t.shallow_clone()));
    }
    for sub in layer.sublayers() {
        collect(sub, out);
    }
}

impl Weights {
    /// A copy of `model`'s current weights and buffers.
    pub fn of(model: &Model) -> Weights {
        let mut out = Vec::new();
        for l in model.layers() {
            collect(l, &mut out);
        }
        Weights {
            tensors: out
                .into_iter()
                .map(|(n, r, t)| (n, r, t.detach().copy()))
                .collect(),
        }
    }

    /// Zeros shaped like `self`.
    pub fn zeros_like(&self) -> Weights {
        Weights {
            tensors: self
                .tensors
                .iter()
                .map(|(n, r, t)| (n.clone(), *r, t.zeros_like()))
                .collect(),
        }
    }

    pub(crate) fn check_same(&self, other: &Weights) -> Result<()> {
        let same = self.tensors.len() == other.tensors.len()
            && self
                .tensors
                .iter()
                .zip(&other.tensors)
                .all(|(a, b)| a.0 == b.0 && a.2.size() == b.2.size());
        if same {
            Ok(())
        } else {
            Err(Error::invalid(
                "the two weight sets come from different architectures (names or shapes differ)",
            ))
        }
    }

    /// `self + sum_k c_k d_k`, buffers taken from `self` unless `with_buffers`.
    pub fn moved(&self, steps: &[(f64, &Weights)], with_buffers: bool) -> Result<Weights> {
        for (c, d) in steps {
            if !c.is_finite() {
                return Err(Error::invalid(format!(
                    "a step along a direction needs a finite coefficient, got {c}"
                )));
            }
            self.check_same(d)?;
        }
        let tensors = self
            .tensors
            .iter()
            .enumerate()
            .map(|(i, (n, r, t))| {
                let mut v = t.copy();
                if *r != Role::Buffer || with_buffers {
                    for (c, d) in steps {
                        v += &d.tensors[i].2 * *c;
                    }
                }
                (n.clone(), *r, v)
            })
            .collect();
        Ok(Weights { tensors })
    }

    /// `(1 - alpha) a + alpha b`: the line between two sets of weights;
    /// with `with_buffers` the batch-norm running statistics are
    /// interpolated too (Li et al.'s "states"), otherwise taken from `a`.
    /// Beyond the ends (alpha < 0 or > 1) a running variance can extrapolate
    /// below zero, which would make every later activation NaN: it is
    /// clamped at zero (batch norm then divides by its epsilon alone).
    pub fn lerp(a: &Weights, b: &Weights, alpha: f64, with_buffers: bool) -> Result<Weights> {
        let diff = b.moved(&[(-1.0, a)], true)?;
        let mut out = a.moved(&[(alpha, &diff)], with_buffers)?;
        if with_buffers {
            for (n, r, t) in &mut out.tensors {
                if *r == Role::Buffer && n.ends_with("running_var") {
                    *t = t.clamp_min(0.0);
                }
            }
        }
        Ok(out)
    }

    /// Writes these values into `model` (same architecture).
    pub fn load_into(&self, model: &Model) -> Result<()> {
        let live = Weights::of_live(model);
        self.check_same(&live)?;
        tch::no_grad(|| -> Result<()> {
            for ((_, _, dst), (_, _, src)) in live.tensors.iter().zip(&self.tensors) {
                dst.shallow_clone().f_copy_(src)?;
            }
            Ok(())
        })
    }

    /// The model's own tensors (not copies).
    fn of_live(model: &Model) -> Weights {
        let mut out = Vec::new();
        for l in model.layers() {
            collect(l, &mut out);
        }
        Weights { tensors: out }
    }

    /// Dot product over the tensors that move (buffers left out).
    pub fn dot(&self, other: &Weights) -> Result<f64> {
        self.check_same(other)?;
        let parts = self
            .tensors
            .iter()
            .zip(&other.tensors)
            .filter(|(a, _)| a.1 != Role::Buffer)
            .map(|(a, b)| -> Result<f64> {
                Ok(a.2
                    .f_to_kind(Kind::Double)?
                    .f_mul(&b.2.f_to_kind(Kind::Double)?.f_to_device(a.2.device())?)?
                    .f_sum(Kind::Double)?
                    .f_double_value(&[])?)
            })
            .collect::<Result<Vec<f64>>>()?;
        Ok(parts.iter().sum())
    }

    /// All moving values as one flat f64 vector `[P]` (buffers left out;
    /// `[0]` for a model without parameters).
    pub fn flatten(&self) -> Tensor {
        let parts: Vec<Tensor> = self
            .tensors
            .iter()
            .filter(|t| t.1 != Role::Buffer)
            .map(|t| t.2.reshape([-1]).to_kind(Kind::Double))
            .collect();
        // `cat` of no tensors is a libtorch error; of flat tensors of one
        // kind it cannot fail (and always makes a new tensor).
        if parts.is_empty() {
            Tensor::zeros([0], (Kind::Double, tch::Device::Cpu))
        } else {
            Tensor::cat(&parts, 0)
        }
    }

    /// The inverse of [`flatten`](Self::flatten): `flat` `[P]` shaped like `self`, zero buffers.
    pub fn unflatten_like(&self, flat: &Tensor) -> Result<Weights> {
        let p: i64 = self
            .tensors
            .iter()
            .filter(|t| t.1 != Role::Buffer)
            .map(|t| t.2.numel() as i64)
            .sum();
        if flat.size() != [p] {
            return Err(Error::shape(
                "flat vector",
                format!("[{p}]"),
                format!("{:?}", flat.size()),
            ));
        }
        let mut offset = 0;
        let tensors = self
            .tensors
            .iter()
            .map(|(n, r, t)| {
                let v = if *r == Role::Buffer {
                    t.zeros_like()
                } else {
                    // `flat` has the `[P]` checked above, cut at the sizes
                    // that make up P: the narrow and reshape cannot fail.
                    let k = t.numel() as i64;
                    let part = flat
                        .narrow(0, offset, k)
                        .reshape(t.size().as_slice())
                        .to_kind(t.kind())
                        .to_device(t.device());
                    offset += k;
                    part
                };
                (n.clone(), *r, v)
            })
            .collect();
        Ok(Weights { tensors })
    }

    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|t| t.0 == name).map(|t| &t.2)
    }

    /// Names and tensors as a map (for saving with `weights::write_safetensors`).
    pub fn named(&self) -> Vec<(String, Tensor)> {
        self.tensors
            .iter()
            .map(|(n, _, t)| (n.clone(), t.shallow_clone()))
            .collect()
    }

    /// Weights read back from `named` pairs, shaped and named like `like`.
    pub fn from_named(like: &Weights, named: &[(String, Tensor)]) -> Result<Weights> {
        let map: HashMap<&str, &Tensor> = named.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let tensors = like
            .tensors
            .iter()
            .map(|(n, r, t)| {
                let v = map
                    .get(n.as_str())
                    .ok_or_else(|| Error::invalid(format!("no tensor '{n}' in the file")))?;
                if v.size() != t.size() {
                    return Err(Error::shape(
                        n.clone(),
                        format!("{:?}", t.size()),
                        format!("{:?}", v.size()),
                    ));
                }
                Ok((
                    n.clone(),
                    *r,
                    v.f_to_device(t.device())?.f_to_kind(t.kind())?,
                ))
            })
            .collect::<Result<_>>()?;
        Ok(Weights { tensors })
    }
}

/// How a random direction is scaled to the weights it perturbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalization {
    /// Each output filter (row of a linear weight) scaled to the norm of the
    /// same filter of the weights (Li et al.'s filter normalisation).
    Filter,
    /// Each tensor scaled to the norm of the weight tensor.
    Layer,
    /// Plain Gaussian values.
    None,
}

/// A Gaussian random direction for `center`, drawn from `seed`, normalised
/// as asked. Biases and batch-norm parameters get a zero direction unless
/// `include_bias_and_norm`; buffers always do.
pub fn random_direction(
    center: &Weights,
    normalization: Normalization,
    include_bias_and_norm: bool,
    seed: u64,
) -> Result<Weights> {
    let mut tensors = Vec::with_capacity(center.tensors.len());
    crate::runtime::rng::with_torch_seed(seed, || -> Result<()> {
        for (n, r, w) in &center.tensors {
            let moves = match r {
                Role::Weight => true,
                Role::Bias | Role::NormParam => include_bias_and_norm,
                Role::Buffer => false,
            };
            let d = if moves {
                normalize(&w.randn_like(), w, normalization)?
            } else {
                w.zeros_like()
            };
            tensors.push((n.clone(), *r, d));
        }
        Ok(())
    })?;
    Ok(Weights { tensors })
}

/// `d` scaled as `how` says to the norms of `w`, a tensor of its shape
/// (both from one set of weights, so the products below cannot fail).
fn normalize(d: &Tensor, w: &Tensor, how: Normalization) -> Result<Tensor> {
    Ok(match how {
        Normalization::None => d.shallow_clone(),
        Normalization::Layer => {
            d * (w.norm().double_value(&[]) / (d.norm().double_value(&[]) + 1e-10))
        }
        Normalization::Filter => {
            if w.dim() <= 1 {
                // A bias or a norm parameter: as a whole.
                d * (w.norm().double_value(&[]) / (d.norm().double_value(&[]) + 1e-10))
            } else {
                let rows = w.size()[0];
                let wn = w.reshape([rows, -1]).norm_scalaropt_dim(2, [1], true);
                let dn = d.reshape([rows, -1]).norm_scalaropt_dim(2, [1], true);
                (d.reshape([rows, -1]) * (wn / (dn + 1e-10))).reshape(d.size().as_slice())
            }
        }
    })
}

/// `d2` with its component along `d1` removed (over the moving tensors),
/// then normalised again as asked: a second direction orthogonal to the
/// first up to the renormalisation.
pub fn orthogonalize(
    d2: &Weights,
    d1: &Weights,
    center: &Weights,
    normalization: Normalization,
) -> Result<Weights> {
    let c = d2.dot(d1)? / d1.dot(d1)?.max(1e-300);
    let projected = d2.moved(&[(-c, d1)], false)?;
    let tensors = projected
        .tensors
        .iter()
        .zip(&center.tensors)
        .map(|((n, r, d), (_, _, w))| {
            // `max` of an empty tensor is a libtorch error.
            let zero = d.numel() == 0 || d.abs().f_max()?.f_double_value(&[])? == 0.0;
            let v = if *r == Role::Buffer || zero {
                d.shallow_clone()
            } else {
                normalize(d, w, normalization)?
            };
            Ok((n.clone(), *r, v))
        })
        .collect::<Result<_>>()?;
    Ok(Weights { tensors })
}
