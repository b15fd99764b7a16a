//! Optimisers whose state we own, so that a checkpoint can hold it and a
//! resumed run continues exactly. The update rules are PyTorch's
//! (`torch.optim.SGD` and `torch.optim.Adam`), checked against them in the
//! tests.

use crate::error::{Error, Result};
use crate::model::ParamGroup;
use std::collections::BTreeMap;
use tch::Tensor;

/// Which optimiser, with its hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Optimizer {
    /// Stochastic gradient descent, as `torch.optim.SGD` (dampening 0).
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Momentum factor (0 for none).
        momentum: f64,
        /// L2 penalty added to the gradient.
        weight_decay: f64,
        /// Nesterov momentum.
        nesterov: bool,
    },
    /// Adam, as `torch.optim.Adam` (L2 weight decay added to the gradient).
    Adam {
        /// Learning rate.
        lr: f64,
        /// Decay of the first-moment average.
        beta1: f64,
        /// Decay of the second-moment average.
        beta2: f64,
        /// Added to the denominator.
        eps: f64,
        /// L2 penalty added to the gradient.
        weight_decay: f64,
    },
}

impl Optimizer {
    /// Plain SGD with learning rate `lr`.
    pub fn sgd(lr: f64) -> Self {
        Optimizer::Sgd {
            lr,
            momentum: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }

    /// SGD with momentum.
    pub fn momentum(lr: f64, momentum: f64) -> Self {
        Optimizer::Sgd {
            lr,
            momentum,
            weight_decay: 0.0,
            nesterov: false,
        }
    }

    /// Adam with PyTorch's defaults (betas 0.9, 0.999, eps 1e-8).
    pub fn adam(lr: f64) -> Self {
        Optimizer::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }

    /// The base learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            Optimizer::Sgd { lr, .. } | Optimizer::Adam { lr, .. } => *lr,
        }
    }

    /// Checks the hyper-parameters.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Optimizer::Sgd {
                lr,
                momentum,
                weight_decay,
                nesterov,
            } => {
                if !(lr.is_finite() && lr >= 0.0) {
                    return Err(Error::invalid(format!(
                        "learning rate must be finite and >= 0, got {lr}"
                    )));
                }
                if !(0.0..1.0 + f64::EPSILON).contains(&momentum) {
                    return Err(Error::invalid(format!(
                        "momentum must be in [0, 1], got {momentum}"
                    )));
                }
                if !(weight_decay.is_finite() && weight_decay >= 0.0) {
                    return Err(Error::invalid(format!(
                        "weight decay must be >= 0, got {weight_decay}"
                    )));
                }
                if nesterov && momentum == 0.0 {
                    return Err(Error::invalid("Nesterov momentum needs a momentum > 0"));
                }
            }
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            } => {
                if !(lr.is_finite() && lr >= 0.0) {
                    return Err(Error::invalid(format!(
                        "learning rate must be finite and >= 0, got {lr}"
                    )));
                }
                for (name, b) in [("beta1", beta1), ("beta2", beta2)] {
                    if !(0.0..1.0).contains(&b) {
                        return Err(Error::invalid(format!(
                            "Adam {name} must be in [0, 1), got {b}"
                        )));
                    }
                }
                if eps.is_nan() || eps <= 0.0 || weight_decay.is_nan() || weight_decay < 0.0 {
                    return Err(Error::invalid(format!(
                        "Adam needs eps > 0 and weight decay >= 0, got {eps} and {weight_decay}"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// An optimiser with its per-parameter state (momentum buffers, Adam
/// moments and step counts), keyed by parameter name.
pub struct OptimizerState {
    kind: Optimizer,
    buffers: BTreeMap<String, Tensor>,
    steps: BTreeMap<String, i64>,
    /// Working memory for Adam's intermediate terms where the update runs
    /// as tensor operations (CUDA, Double, non-contiguous parameters), flat
    /// and as large as the largest parameter seen: reused by every update
    /// instead of allocating (and page-faulting) eight parameter-sized
    /// temporaries per parameter per step. Not part of the state a
    /// checkpoint holds.
    scratch: Option<Tensor>,
}

impl OptimizerState {
    /// A fresh optimiser.
    pub fn new(kind: Optimizer) -> Result<Self> {
        kind.validate()?;
        Ok(OptimizerState {
            kind,
            buffers: BTreeMap::new(),
            steps: BTreeMap::new(),
            scratch: None,
        })
    }

    /// A copy that shares no tensors with this one (a checkpoint that later
    /// steps do not change).
    pub fn duplicate(&self) -> Self {
        OptimizerState {
            kind: self.kind,
            buffers: self
                .buffers
                .iter()
                .map(|(k, t)| (k.clone(), t.copy()))
                .collect(),
            steps: self.steps.clone(),
            scratch: None,
        }
    }

    /// A tensor of `p`'s shape, kind and device with undefined contents,
    /// a view of [`scratch`](Self::scratch) (grown when `p` is larger).
    fn scratch_like(&mut self, p: &Tensor) -> Result<Tensor> {
        let numel = p.numel() as i64;
        let fits = self.scratch.as_ref().is_some_and(|s| {
            s.size()[0] >= numel && s.kind() == p.kind() && s.device() == p.device()
        });
        let flat = match &self.scratch {
            Some(s) if fits => s.shallow_clone(),
            _ => {
                let s = Tensor::f_empty([numel], (p.kind(), p.device()))?;
                self.scratch = Some(s.shallow_clone());
                s
            }
        };
        Ok(flat.f_narrow(0, 0, numel)?.f_view(p.size().as_slice())?)
    }

    /// One update of every parameter that has a gradient, with learning rate
    /// `lr` times each group's scale.
    pub fn step(&mut self, groups: &[ParamGroup], lr: f64) -> Result<()> {
        tch::no_grad(|| -> Result<()> {
            for g in groups {
                let lr = lr * g.lr_scale;
                if lr == 0.0 {
                    continue;
                }
                for (name, p) in &g.params {
                    let grad = p.grad();
                    if !grad.defined() {
                        continue;
                    }
                    self.update(name, p, &grad, lr)?;
                }
            }
            Ok(())
        })
    }

    fn update(&mut self, name: &str, p: &Tensor, grad: &Tensor, lr: f64) -> Result<()> {
        let mut p = p.shallow_clone();
        match self.kind {
            Optimizer::Sgd {
                momentum,
                weight_decay,
                nesterov,
                ..
            } => {
                let mut d = if weight_decay != 0.0 {
                    grad.f_add(&(&p * weight_decay))?
                } else {
                    grad.shallow_clone()
                };
                if momentum != 0.0 {
                    let key = format!("{name}.momentum_buffer");
                    let buf = match self.buffers.get(&key) {
                        Some(b) => {
                            let mut b = b.shallow_clone();
                            let _ = b.f_mul_scalar_(momentum)?.f_add_(&d)?;
                            b
                        }
                        None => {
                            let b = d.copy();
                            self.buffers.insert(key, b.shallow_clone());
                            b
                        }
                    };
                    d = if nesterov {
                        d.f_add(&(&buf * momentum))?
                    } else {
                        buf
                    };
                }
                let _ = p.f_sub_(&(d * lr))?;
            }
            Optimizer::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
                ..
            } => {
                let t = {
                    let s = self.steps.entry(name.to_string()).or_insert(0);
                    *s += 1;
                    *s
                };
                let m_key = format!("{name}.exp_avg");
                let v_key = format!("{name}.exp_avg_sq");
                let m = self
                    .buffers
                    .entry(m_key)
                    .or_insert_with(|| p.zeros_like())
                    .shallow_clone();
                let v = self
                    .buffers
                    .entry(v_key)
                    .or_insert_with(|| p.zeros_like())
                    .shallow_clone();
                let bias1 = 1.0 - beta1.powi(t as i32);
                let bias2_sqrt = (1.0 - beta2.powi(t as i32)).sqrt();
                let step = AdamStep {
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                    bias2_sqrt,
                    step_size: lr / bias1,
                };
                if !step.on_cpu_f32(&p, grad, &m, &v)? {
                    let s = self.scratch_like(&p)?;
                    step.with_tensor_ops(&p, grad, &m, &v, &s)?;
                }
            }
        }
        Ok(())
    }

    /// The state as named tensors, for a checkpoint (`optim.<param>.<buffer>`
    /// and `optim.<param>.step`).
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> = self
            .buffers
            .iter()
            .map(|(k, t)| (format!("optim.{k}"), t.shallow_clone()))
            .collect();
        for (k, s) in &self.steps {
            out.push((format!("optim.{k}.step"), Tensor::from_slice(&[*s])));
        }
        out
    }

    /// Restores state written by [`state_tensors`](Self::state_tensors),
    /// moving buffers to `device`.
    pub fn load_state(&mut self, tensors: &[(String, Tensor)], device: tch::Device) -> Result<()> {
        self.buffers.clear();
        self.steps.clear();
        for (k, t) in tensors {
            let Some(rest) = k.strip_prefix("optim.") else {
                continue;
            };
            if let Some(param) = rest.strip_suffix(".step") {
                self.steps.insert(param.to_string(), i64::try_from(t)?);
            } else {
                self.buffers.insert(rest.to_string(), t.to_device(device));
            }
        }
        Ok(())
    }
}

/// The constants of one Adam update of one parameter.
struct AdamStep {
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    /// `sqrt(1 - beta2^t)`.
    bias2_sqrt: f64,
    /// `lr / (1 - beta1^t)`.
    step_size: f64,
}

impl AdamStep {
    /// The update as tensor operations, for any kind and device, written
    /// into the working memory `s` of the parameter's shape: the same
    /// operations in the same order as [`on_cpu_f32`](Self::on_cpu_f32).
    fn with_tensor_ops(
        &self,
        p: &Tensor,
        g: &Tensor,
        m: &Tensor,
        v: &Tensor,
        s: &Tensor,
    ) -> Result<()> {
        let (mut p, mut m, mut v, mut s) = (
            p.shallow_clone(),
            m.shallow_clone(),
            v.shallow_clone(),
            s.shallow_clone(),
        );
        let d = if self.weight_decay != 0.0 {
            g.f_add(&p.f_mul_scalar(self.weight_decay)?)?
        } else {
            g.shallow_clone()
        };
        let _ = d.f_mul_scalar_out(&s, 1.0 - self.beta1)?;
        let _ = m.f_mul_scalar_(self.beta1)?.f_add_(&s)?;
        let _ = d.f_mul_out(&s, &d)?;
        let _ = s.f_mul_scalar_(1.0 - self.beta2)?;
        let _ = v.f_mul_scalar_(self.beta2)?.f_add_(&s)?;
        let _ = v.f_sqrt_out(&s)?;
        let _ = s.f_div_scalar_(self.bias2_sqrt)?.f_add_scalar_(self.eps)?;
        let _ = m.f_div_out(&s, &s)?;
        let _ = s.f_mul_scalar_(self.step_size)?;
        let _ = p.f_sub_(&s)?;
        Ok(())
    }

    /// The whole update in one pass over the parameter's memory instead of
    /// thirteen tensor operations, for contiguous `Float` tensors on the CPU
    /// (the common case, and where the operation-by-operation update spent
    /// much of a small net's step); returns false, changing nothing, for
    /// anything else.
    ///
    /// Each element goes through the operations of the tensor form in the
    /// same order, in f32, with the constants rounded to f32 as libtorch
    /// rounds a scalar operand of a Float tensor and without fused
    /// multiply-adds (Rust never contracts `a * b + c`), so the moments are
    /// bit for bit the tensor form's. The square root is IEEE `sqrt`, which
    /// libtorch's vectorised `sqrt` is not (about 0.7% of values differ in
    /// the last bit), so a parameter may end one unit in the last place
    /// away from the tensor form's. As with updates under `torch.no_grad`
    /// through `.data`, the parameter's autograd version is not bumped.
    fn on_cpu_f32(&self, p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor) -> Result<bool> {
        let all = [p, g, m, v];
        let n = p.numel();
        if all.iter().any(|t| {
            t.device() != tch::Device::Cpu
                || t.kind() != tch::Kind::Float
                || !t.is_contiguous()
                || t.numel() != n
        }) {
            return Ok(false);
        }
        // Distinct memory: the optimiser's own moment buffers, the
        // parameter, and the gradient autograd allocated.
        let ptrs = all.map(|t| t.data_ptr() as usize);
        if (1..ptrs.len()).any(|i| ptrs[..i].contains(&ptrs[i])) {
            return Ok(false);
        }
        let c = AdamConstants {
            b1: self.beta1 as f32,
            c1: (1.0 - self.beta1) as f32,
            b2: self.beta2 as f32,
            c2: (1.0 - self.beta2) as f32,
            bias2_sqrt: self.bias2_sqrt as f32,
            eps: self.eps as f32,
            step: self.step_size as f32,
            decay: (self.weight_decay != 0.0).then_some(self.weight_decay as f32),
        };
        // SAFETY: the four tensors are distinct, contiguous f32 CPU tensors
        // of n elements (checked above) that outlive these borrows, and no
        // two slices made here overlap.
        let slice = |i: usize| unsafe { std::slice::from_raw_parts_mut(ptrs[i] as *mut f32, n) };
        // One thread: libtorch's intra-op threads keep spinning on the
        // other cores between operations, and loops split over threads of
        // our own ran at two thirds of the speed (distillation benchmark).
        c.run(slice(0), slice(1), slice(2), slice(3));
        Ok(true)
    }
}

/// [`AdamStep`]'s constants rounded to f32, for the one-pass loop.
struct AdamConstants {
    b1: f32,
    c1: f32,
    b2: f32,
    c2: f32,
    bias2_sqrt: f32,
    eps: f32,
    step: f32,
    decay: Option<f32>,
}

impl AdamConstants {
    /// The loop compiled for the widest vectors the CPU has: the crate is
    /// built for baseline x86-64 (4 floats a vector), and the loop's
    /// division and square root gain most from 8 or 16.
    fn run(&self, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has the feature the function is built for.
                return unsafe { self.run_avx512(p, g, m, v) };
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: as above.
                return unsafe { self.run_avx2(p, g, m, v) };
            }
        }
        self.run_portable(p, g, m, v)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn run_avx512(&self, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        self.run_portable(p, g, m, v)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn run_avx2(&self, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        self.run_portable(p, g, m, v)
    }

    /// Zipped iterators (no bounds checks) and the decay test hoisted out
    /// of the loop, so that the compiler vectorises it.
    #[inline(always)]
    fn run_portable(&self, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        let (b1, c1, b2, c2, bc2, eps, step) = (
            self.b1,
            self.c1,
            self.b2,
            self.c2,
            self.bias2_sqrt,
            self.eps,
            self.step,
        );
        let update = |p: &mut f32, d: f32, m: &mut f32, v: &mut f32| {
            *m = *m * b1 + d * c1;
            *v = *v * b2 + (d * d) * c2;
            *p -= (*m / (v.sqrt() / bc2 + eps)) * step;
        };
        let all = p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut());
        match self.decay {
            Some(wd) => {
                for (((p, g), m), v) in all {
                    let d = *g + *p * wd;
                    update(p, d, m, v);
                }
            }
            None => {
                for (((p, g), m), v) in all {
                    update(p, *g, m, v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// The one-pass loop and the tensor operations give the same moments
    /// bit for bit, and parameters that differ by at most the rounding of
    /// the update (the square roots may differ in their last bit) and of the
    /// subtraction, with and without weight decay, at
    /// the first and a later step, on a length that leaves a remainder
    /// after any vector width.
    #[test]
    fn the_cpu_loop_equals_the_tensor_operations() {
        for (decay, t) in [(0.0, 1), (5e-4, 1), (1e-2, 37)] {
            let (beta1, beta2): (f64, f64) = (0.9, 0.999);
            let step = AdamStep {
                beta1,
                beta2,
                eps: 1e-8,
                weight_decay: decay,
                bias2_sqrt: (1.0 - beta2.powi(t)).sqrt(),
                step_size: 2e-3 / (1.0 - beta1.powi(t)),
            };
            let init = crate::rng::with_torch_seed(t as u64, || {
                let r = |scale: f64| Tensor::randn([1000, 37], (Kind::Float, Device::Cpu)) * scale;
                (r(1.0), r(0.1), r(0.01), r(1e-3).abs())
            });
            let run = |fast: bool| {
                let (p, g, m, v) = (init.0.copy(), init.1.copy(), init.2.copy(), init.3.copy());
                if fast {
                    assert!(step.on_cpu_f32(&p, &g, &m, &v).unwrap());
                } else {
                    step.with_tensor_ops(&p, &g, &m, &v, &p.empty_like())
                        .unwrap();
                }
                (p, m, v)
            };
            let (a, b) = (run(true), run(false));
            assert!(
                a.1.equal(&b.1) && a.2.equal(&b.2),
                "moments, decay {decay}, step {t}"
            );
            let values = |t: &Tensor| Vec::<f32>::try_from(t.flatten(0, -1)).unwrap();
            let (p0, pa, pb) = (values(&init.0), values(&a.0), values(&b.0));
            let moved = p0.iter().zip(&pb).filter(|(z, y)| z != y).count();
            assert!(
                moved > 30_000,
                "the update moved only {moved} of 37,000 values"
            );
            let mut differ = 0;
            for (i, ((x, y), z)) in pa.iter().zip(&pb).zip(&p0).enumerate() {
                let update = (z - y).abs();
                let bound = f32::EPSILON * (y.abs() + 2.0 * update);
                assert!(
                    (x - y).abs() <= bound,
                    "decay {decay}, step {t}, element {i}: {x} against {y}"
                );
                differ += usize::from(x != y);
            }
            assert!(
                differ < pa.len() / 10,
                "{differ} of {} parameters differ",
                pa.len()
            );
        }
    }

    #[test]
    fn anything_but_contiguous_cpu_floats_takes_the_tensor_path() {
        let step = AdamStep {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            bias2_sqrt: 1.0,
            step_size: 1e-3,
        };
        let f = |shape: [i64; 2]| Tensor::ones(shape, (Kind::Float, Device::Cpu));
        let d = Tensor::ones([4, 3], (Kind::Double, Device::Cpu));
        assert!(!step
            .on_cpu_f32(&d, &d.copy(), &d.copy(), &d.copy())
            .unwrap());
        let t = f([3, 4]).transpose(0, 1);
        assert!(!step
            .on_cpu_f32(&t, &f([4, 3]), &f([4, 3]), &f([4, 3]))
            .unwrap());
        let p = f([4, 3]);
        assert!(!step.on_cpu_f32(&p, &p, &f([4, 3]), &f([4, 3])).unwrap());
    }
}
