//! The Deep Image Prior optimisation: a randomly initialised hourglass is
//! fitted to one corrupted observation from a fixed random code, and the
//! image it produces early on (before it fits the corruption) is the
//! restoration.
//!
//! Each step: input = code + N(0, sigma_p^2) fresh noise, output =
//! net(input), loss = MSE(operator(output), observation), one Adam step. An
//! exponential average of the outputs is kept. PSNR (and SSIM) against the
//! clean image, when known, and PSNR against the observation are recorded.
//!
//! The divergence guard: the paper's code checks, every k steps, whether
//! PSNR against the observation fell by more than 5 dB since the last
//! check, and if so copies back the last good parameters, but only after
//! the bad step's gradients were computed, so the step is still taken from
//! the restored weights, and Adam's moments and the batch-norm statistics
//! are not restored. Here the check comes before the step: on a drop, the
//! parameters, buffers, Adam state and averaged output all return to the
//! last good checkpoint and no step is taken from the diverged weights.
//! The restored state is recorded at the iteration of the rollback (its
//! output and averaged output, as they were at the checkpoint), so the
//! history's last record always describes the run's final output, and the
//! PSNR plot marks each rollback.

use super::net::SkipConfig;
use super::quality::{psnr, ssim};
use super::task::Task;
use crate::display::{
    shows_at_cell_end, ImageGrid, LiveFigure, MimeBundle, Monitor, ProgressMode, Report, Show,
    Table,
};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::plot::LinePlot;
use crate::runtime::interrupt;
use crate::runtime::rng::with_torch_seed;
use crate::train::{optimize, Optimizer, OptimizerState};
use rand::Rng as _;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// The fixed input of the net.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Code {
    /// `channels` of uniform noise in `[0, scale)` (the paper: 32 channels, scale 0.1).
    Noise {
        /// Number of channels (must match the net's `input_channels`).
        channels: i64,
        /// Upper bound of the uniform values.
        scale: f64,
    },
    /// Two channels: the row and column coordinates, each in [0, 1]
    /// (the paper's large-hole inpainting).
    Meshgrid,
}

/// The divergence guard (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Guard {
    /// Steps between checkpoints.
    pub every: usize,
    /// A fall of PSNR against the observation larger than this (dB) since
    /// the last checkpoint undoes the step.
    pub drop_db: f64,
}

/// The settings of a Deep Image Prior run.
#[derive(Debug, Clone)]
pub struct Prior {
    /// The hourglass.
    pub net: SkipConfig,
    /// The fixed input code.
    pub code: Code,
    /// Number of Adam steps.
    pub iterations: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Standard deviation sigma_p of the noise added to the code each step (0: none).
    pub reg_noise: f64,
    /// Weight of the old value in the exponential average of outputs (0: no averaging).
    pub average: f64,
    /// Steps between recorded measurements (1: every step).
    pub record_every: usize,
    /// Iterations at which the output and the averaged output are kept.
    pub snapshots: Vec<usize>,
    /// The divergence guard, if any.
    pub guard: Option<Guard>,
    /// Seed of the weights, the code and the per-step noise.
    pub seed: u64,
    /// Where the run computes.
    pub device: Device,
    /// How progress is shown: in a notebook, the observation, the current
    /// and the averaged output side by side above the PSNR curves, replaced
    /// in place about once a second; in a terminal, a progress bar.
    pub progress: ProgressMode,
}

impl Prior {
    /// The paper's settings around `net`: noise code of the net's input
    /// channels (scale 0.1), Adam lr 0.01, sigma_p 1/30, averaging 0.99,
    /// guard every 100 steps at 5 dB, 3,000 iterations, measurements every
    /// 10 steps, seed 0, the default device.
    pub fn new(net: SkipConfig) -> Self {
        Prior {
            code: Code::Noise {
                channels: net.input_channels,
                scale: 0.1,
            },
            net,
            iterations: 3000,
            lr: 0.01,
            reg_noise: 1.0 / 30.0,
            average: 0.99,
            record_every: 10,
            snapshots: Vec::new(),
            guard: Some(Guard {
                every: 100,
                drop_db: 5.0,
            }),
            seed: 0,
            device: crate::runtime::device::default_device(),
            progress: ProgressMode::Auto,
        }
    }

    /// With this many iterations.
    pub fn iterations(mut self, n: usize) -> Self {
        self.iterations = n;
        self
    }
    /// With this learning rate.
    pub fn lr(mut self, lr: f64) -> Self {
        self.lr = lr;
        self
    }
    /// With this sigma_p.
    pub fn reg_noise(mut self, sigma: f64) -> Self {
        self.reg_noise = sigma;
        self
    }
    /// With this averaging weight.
    pub fn average(mut self, w: f64) -> Self {
        self.average = w;
        self
    }
    /// Measuring every `k` steps.
    pub fn record_every(mut self, k: usize) -> Self {
        self.record_every = k;
        self
    }
    /// Keeping the outputs at these iterations.
    pub fn snapshots(mut self, at: &[usize]) -> Self {
        self.snapshots = at.to_vec();
        self
    }
    /// With this guard (None: off).
    pub fn guard(mut self, guard: Option<Guard>) -> Self {
        self.guard = guard;
        self
    }
    /// With this input code; a meshgrid needs a net of 2 input channels.
    pub fn code(mut self, code: Code) -> Self {
        self.code = code;
        self
    }
    /// With this seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// On this device.
    pub fn device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }
    /// Showing progress this way.
    pub fn progress(mut self, mode: ProgressMode) -> Self {
        self.progress = mode;
        self
    }

    fn check(&self, task: &Task) -> Result<()> {
        task.validate()?;
        let [_, h, w] = task.output_shape;
        self.net.check(h, w)?;
        let code_channels = match self.code {
            Code::Noise { channels, scale } => {
                if !(scale.is_finite() && scale > 0.0) {
                    return Err(Error::invalid(format!(
                        "the noise code's scale must be > 0, got {scale}"
                    )));
                }
                channels
            }
            Code::Meshgrid => 2,
        };
        if code_channels != self.net.input_channels {
            return Err(Error::invalid(format!(
                "the code has {code_channels} channels but the net takes {}; set net.input_channels to match",
                self.net.input_channels
            )));
        }
        if self.iterations == 0 || self.record_every == 0 {
            return Err(Error::invalid(
                "a run needs at least one iteration and record_every >= 1",
            ));
        }
        if !(0.0..1.0).contains(&self.average) {
            return Err(Error::invalid(format!(
                "the averaging weight must be in [0, 1), got {}",
                self.average
            )));
        }
        if !(self.reg_noise.is_finite() && self.reg_noise >= 0.0) {
            return Err(Error::invalid(format!(
                "sigma_p must be >= 0, got {}",
                self.reg_noise
            )));
        }
        if let Some(&bad) = self
            .snapshots
            .iter()
            .find(|&&s| s == 0 || s > self.iterations)
        {
            return Err(Error::invalid(format!(
                "snapshot at iteration {bad} is outside 1..={}",
                self.iterations
            )));
        }
        if let Some(g) = self.guard {
            if g.every == 0 || !(g.drop_db.is_finite() && g.drop_db > 0.0) {
                return Err(Error::invalid(format!(
                    "the guard needs every >= 1 and a drop > 0 dB, got {} and {}",
                    g.every, g.drop_db
                )));
            }
        }
        Optimizer::adam(self.lr).validate()
    }

    /// The fixed input code `[1, C, H, W]` for an output of `h x w`
    /// (1 to 8,192 pixels a side).
    pub fn input_code(&self, h: i64, w: i64) -> Result<Tensor> {
        if !(1..=8192).contains(&h) || !(1..=8192).contains(&w) {
            return Err(Error::invalid(format!(
                "the input code is for an output of 1 to 8192 pixels a side, got {h}x{w}"
            )));
        }
        if let Code::Noise { channels, scale } = self.code {
            if !(1..=4096).contains(&channels) || !scale.is_finite() {
                return Err(Error::invalid(format!(
                    "a noise code needs 1 to 4096 channels and a finite scale, got {channels} and {scale}"
                )));
            }
        }
        Ok(match self.code {
            Code::Noise { channels, scale } => with_torch_seed(self.seed ^ 0xC0DE, || {
                Tensor::rand([1, channels, h, w], (Kind::Float, Device::Cpu)) * scale
            }),
            Code::Meshgrid => {
                let rows = Tensor::linspace(0.0, 1.0, h, (Kind::Float, Device::Cpu));
                let cols = Tensor::linspace(0.0, 1.0, w, (Kind::Float, Device::Cpu));
                let grid = Tensor::meshgrid_indexing(&[rows, cols], "ij");
                Tensor::stack(&grid, 0).unsqueeze(0)
            }
        }
        .to_device(self.device))
    }

    /// Runs the optimisation on `task`. Interrupting the kernel (or Ctrl-C
    /// where installed) ends it early with what it has so far. Gradients
    /// are recorded even inside a caller's `tch::no_grad` scope.
    pub fn run(&self, task: &Task) -> Result<Restoration> {
        tch::with_grad(|| self.fit(task))
    }

    fn fit(&self, task: &Task) -> Result<Restoration> {
        self.check(task)?;
        let [c, h, w] = task.output_shape;
        let mut model = self.net.build(c, h, w, self.seed, self.device)?;
        model.set_train(true);
        // Channels last: the convolutions run faster on it and every layer
        // keeps the layout (measured, paper default net, 2 threads: a step
        // at 256x256 0.91 s against 1.01 s, at 128x128 the same).
        let code = self
            .input_code(h, w)?
            .f_permute([0, 2, 3, 1])?
            .f_contiguous()?
            .f_permute([0, 3, 1, 2])?;
        // A task whose parts fit (checked above): the observation, the
        // output's image of it and the clean image share their shapes, so
        // the losses, PSNRs and averages below cannot fail.
        let observation = task.observation.to_device(self.device).unsqueeze(0);
        let clean = task.clean.as_ref().map(|t| t.to_device(self.device));
        let mut opt = OptimizerState::new(Optimizer::adam(self.lr))?;
        let groups = model.param_groups();
        let mut noise_rng = crate::runtime::rng::seeded_stream(self.seed, 1);
        let observation_cpu = task.observation.to_device(Device::Cpu);
        let mut monitor = Monitor::new(self.progress, self.iterations)
            .activity("fitting")
            .unit("iteration")
            .kept("the run keeps what it has");
        monitor.start(0, &crate::display::NoFigure);

        // One step of the live view: the output and average of the record
        // just pushed, which its title describes.
        let show = |monitor: &mut Monitor,
                    it: usize,
                    output: &Tensor,
                    averaged: &Tensor,
                    history: &[Record],
                    rollbacks: &[usize]| {
            let figure = LiveView {
                task: &task.name,
                observation: &observation_cpu,
                output,
                averaged,
                history,
                rollbacks,
            };
            monitor.step(it, status(history), &figure);
        };
        let mut history = Vec::new();
        let mut snapshots = Vec::new();
        let mut rollbacks = Vec::new();
        let mut averaged: Option<Tensor> = None;
        let mut last_output = Tensor::zeros([c, h, w], (Kind::Float, self.device));
        let mut checkpoint: Option<Checkpoint> = None;
        let mut interrupted = false;
        let start = Instant::now();
        for it in 1..=self.iterations {
            if interrupt::should_stop(None) {
                interrupted = true;
                break;
            }
            let input = if self.reg_noise > 0.0 {
                let noise = with_torch_seed(noise_rng.gen(), || code.randn_like());
                &code + noise * self.reg_noise
            } else {
                code.shallow_clone()
            };
            let out = model.forward(&input)?;
            let observed = task.observe(&out)?;
            let loss = (&observed - &observation).square().mean(Kind::Float);
            let loss_value = loss.double_value(&[]);
            if !loss_value.is_finite() {
                return Err(Error::invalid(format!(
                    "the loss became {loss_value} at iteration {it}; lower the learning rate"
                )));
            }
            let out = out.detach();
            let guard_step = self.guard.filter(|g| it % g.every == 0 || it == 1);
            let measure = it % self.record_every == 0
                || it == 1
                || it == self.iterations
                || guard_step.is_some();
            let psnr_obs = if measure {
                Some(psnr(&observed.detach().get(0), &observation.get(0))?)
            } else {
                None
            };
            if let (Some(g), Some(p)) = (guard_step, psnr_obs) {
                match &checkpoint {
                    Some(cp) if p < cp.psnr_observed - g.drop_db => {
                        cp.restore(&model, &mut opt, &mut averaged)?;
                        rollbacks.push(it);
                        // The restored state, recorded at this iteration.
                        let now = cp.output.copy();
                        let avg = averaged.as_ref().map_or_else(|| now.copy(), Tensor::copy);
                        history.push(measure_record(
                            it,
                            cp.loss,
                            cp.psnr_observed,
                            &now,
                            &avg,
                            clean.as_ref(),
                        )?);
                        // The live title and the final one read the monitor's
                        // last step: it must be this record, not the diverged
                        // one before it.
                        show(&mut monitor, it, &now, &avg, &history, &rollbacks);
                        if self.snapshots.contains(&it) {
                            snapshots.push(OutputSnapshot::at(it, &now, &avg));
                        }
                        last_output = now;
                        continue;
                    }
                    _ => {
                        // `out` is the net's `[1, C, H, W]` output.
                        checkpoint = Some(Checkpoint::take(
                            &model,
                            &opt,
                            &averaged,
                            &out.get(0),
                            loss_value,
                            p,
                        ))
                    }
                }
            }
            optimize(&loss, &groups, &mut opt, self.lr, None)?;

            let now = out.get(0);
            let avg = match &averaged {
                Some(a) if self.average > 0.0 => a * self.average + &now * (1.0 - self.average),
                _ => now.shallow_clone(),
            };
            averaged = Some(avg.shallow_clone());
            if measure {
                history.push(measure_record(
                    it,
                    loss_value,
                    psnr_obs.unwrap_or(f64::NAN),
                    &now,
                    &avg,
                    clean.as_ref(),
                )?);
                show(&mut monitor, it, &now, &avg, &history, &rollbacks);
            }
            if self.snapshots.contains(&it) {
                snapshots.push(OutputSnapshot::at(it, &now, &avg));
            }
            last_output = now;
        }
        let averaged = averaged.unwrap_or_else(|| last_output.shallow_clone());
        let figure = LiveView {
            task: &task.name,
            observation: &observation_cpu,
            output: &last_output,
            averaged: &averaged,
            history: &history,
            rollbacks: &rollbacks,
        };
        monitor.finish(interrupted, &figure);
        Ok(Restoration {
            task: task.name.clone(),
            output: last_output.to_device(Device::Cpu),
            averaged: averaged.to_device(Device::Cpu),
            history,
            snapshots,
            rollbacks,
            interrupted,
            seconds: start.elapsed().as_secs_f64(),
            model,
        })
    }
}

/// The measurements of one iteration's output and averaged output.
fn measure_record(
    iteration: usize,
    loss: f64,
    psnr_observed: f64,
    output: &Tensor,
    averaged: &Tensor,
    clean: Option<&Tensor>,
) -> Result<Record> {
    let (psnr_clean, psnr_averaged, ssim_clean) = match clean {
        Some(cl) => (
            Some(psnr(output, cl)?),
            Some(psnr(averaged, cl)?),
            Some(ssim(output, cl)?),
        ),
        None => (None, None, None),
    };
    Ok(Record {
        iteration,
        loss,
        psnr_observed,
        psnr_clean,
        psnr_averaged,
        ssim_clean,
    })
}

/// The last good state for the guard.
struct Checkpoint {
    tensors: Vec<Tensor>,
    optimizer: OptimizerState,
    averaged: Option<Tensor>,
    /// The output at the checkpoint, `[C, H, W]`.
    output: Tensor,
    loss: f64,
    psnr_observed: f64,
}

impl Checkpoint {
    fn take(
        model: &Model,
        opt: &OptimizerState,
        averaged: &Option<Tensor>,
        output: &Tensor,
        loss: f64,
        psnr_observed: f64,
    ) -> Self {
        Checkpoint {
            tensors: model
                .named_tensors()
                .iter()
                .map(|(_, t)| t.detach().copy())
                .collect(),
            optimizer: opt.duplicate(),
            averaged: averaged.as_ref().map(Tensor::copy),
            output: output.copy(),
            loss,
            psnr_observed,
        }
    }

    fn restore(
        &self,
        model: &Model,
        opt: &mut OptimizerState,
        averaged: &mut Option<Tensor>,
    ) -> Result<()> {
        tch::no_grad(|| -> Result<()> {
            for ((_, t), saved) in model.named_tensors().iter().zip(&self.tensors) {
                t.shallow_clone().f_copy_(saved)?;
            }
            Ok(())
        })?;
        *opt = self.optimizer.duplicate();
        *averaged = self.averaged.as_ref().map(Tensor::copy);
        Ok(())
    }
}

/// Measurements at one iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// 1-based iteration.
    pub iteration: usize,
    /// The MSE loss against the observation.
    pub loss: f64,
    /// PSNR (dB) of the observed output against the observation.
    pub psnr_observed: f64,
    /// PSNR (dB) of the output against the clean image, if known.
    pub psnr_clean: Option<f64>,
    /// PSNR (dB) of the averaged output against the clean image, if known.
    pub psnr_averaged: Option<f64>,
    /// SSIM of the output against the clean image, if known.
    pub ssim_clean: Option<f64>,
}

/// The output and averaged output at one iteration, `[C, H, W]` on the CPU.
#[derive(Debug)]
pub struct OutputSnapshot {
    /// 1-based iteration.
    pub iteration: usize,
    /// The net's output.
    pub output: Tensor,
    /// The exponential average of outputs so far.
    pub averaged: Tensor,
}

impl OutputSnapshot {
    /// The output and averaged output at `iteration`, copied to the CPU.
    fn at(iteration: usize, output: &Tensor, averaged: &Tensor) -> Self {
        OutputSnapshot {
            iteration,
            output: output.to_device(Device::Cpu),
            averaged: averaged.to_device(Device::Cpu),
        }
    }
}

/// What a run gives.
#[derive(Debug)]
pub struct Restoration {
    /// The task's name.
    pub task: String,
    /// The final output `[C, H, W]` (CPU): the last step's, or after a
    /// rollback at the end, the restored one. The last record measures it.
    pub output: Tensor,
    /// The final averaged output `[C, H, W]` (CPU), as [`Restoration::output`].
    pub averaged: Tensor,
    /// Measurements every `record_every` steps.
    pub history: Vec<Record>,
    /// The kept outputs.
    pub snapshots: Vec<OutputSnapshot>,
    /// Iterations at which the guard undid a diverging step (each has a
    /// record of the restored state).
    pub rollbacks: Vec<usize>,
    /// Whether the run was interrupted.
    pub interrupted: bool,
    /// Wall time of the run.
    pub seconds: f64,
    /// The fitted net (in training mode, as it ran).
    pub model: Model,
}

impl Restoration {
    /// The record with the highest PSNR against the clean image, if known.
    pub fn peak(&self) -> Option<&Record> {
        self.history
            .iter()
            .filter(|r| r.psnr_clean.is_some_and(f64::is_finite))
            .max_by(|a, b| {
                a.psnr_clean
                    .unwrap_or(f64::NAN)
                    .total_cmp(&b.psnr_clean.unwrap_or(f64::NAN))
            })
    }

    /// The last record.
    pub fn last(&self) -> Option<&Record> {
        self.history.last()
    }

    /// The snapshot kept at `iteration`.
    pub fn snapshot(&self, iteration: usize) -> Result<&OutputSnapshot> {
        self.snapshots
            .iter()
            .find(|s| s.iteration == iteration)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "no snapshot at iteration {iteration}; kept: {:?}",
                    self.snapshots
                        .iter()
                        .map(|s| s.iteration)
                        .collect::<Vec<_>>()
                ))
            })
    }

    /// The PSNR curves against iteration: against the clean image (output
    /// and averaged output) when known, and against the observation.
    pub fn psnr_plot(&self) -> LinePlot {
        psnr_plot(&self.task, &self.history, &self.rollbacks)
    }

    /// The loss against iteration (log scale), as in the paper's Fig. 2.
    pub fn loss_plot(&self) -> LinePlot {
        let points: Vec<(f64, f64)> = self
            .history
            .iter()
            .map(|r| (r.iteration as f64, r.loss))
            .collect();
        LinePlot::new()
            .title(format!("{}: loss", self.task))
            .x_label("iteration")
            .y_label("MSE")
            .log_y()
            .line("loss", points)
    }
}

impl Show for Restoration {
    /// The run's numbers, the output beside the averaged output, and the
    /// PSNR curves.
    fn mime_bundle(&self) -> Result<MimeBundle> {
        let db = |v: Option<f64>| v.map_or("-".to_string(), |p| format!("{p:.2} dB"));
        let last = self.last();
        let peak = self.peak();
        let iterations = last.map_or(0, |r| r.iteration);
        let rollbacks = if self.rollbacks.is_empty() {
            "none".to_string()
        } else {
            format!("{} (at {:?})", self.rollbacks.len(), self.rollbacks)
        };
        let table = Table::new(&["", "value"])
            .title(format!("Deep Image Prior: {}", self.task))
            .row(&["iterations".to_string(), iterations.to_string()])?
            .row(&[
                "peak PSNR (output)".to_string(),
                peak.map_or("-".to_string(), |r| {
                    format!("{} at iteration {}", db(r.psnr_clean), r.iteration)
                }),
            ])?
            .row(&[
                "last PSNR (output)".to_string(),
                db(last.and_then(|r| r.psnr_clean)),
            ])?
            .row(&[
                "last PSNR (averaged)".to_string(),
                db(last.and_then(|r| r.psnr_averaged)),
            ])?
            .row(&[
                "last PSNR vs observation".to_string(),
                db(last.map(|r| r.psnr_observed)),
            ])?
            .row(&["guard rollbacks".to_string(), rollbacks])?
            .row(&["seconds".to_string(), format!("{:.1}", self.seconds)])?
            .row(&["interrupted".to_string(), self.interrupted.to_string()])?;
        let text = format!(
            "{}: {iterations} iterations, last PSNR {} (averaged {}){}",
            self.task,
            db(last.and_then(|r| r.psnr_clean)),
            db(last.and_then(|r| r.psnr_averaged)),
            if self.interrupted {
                ", interrupted"
            } else {
                ""
            }
        );
        let mut report = Report::new(table, text);
        if let Ok(images) = Tensor::f_stack(&[&self.output, &self.averaged], 0)
            .map_err(Error::from)
            .and_then(|t| ImageGrid::new(&t))
        {
            report = report.figure(&images.columns(2).labels(&["output", "averaged"]));
        }
        report.figure(&self.psnr_plot()).mime_bundle()
    }
}

shows_at_cell_end!(Restoration);

/// The PSNR curves, with a dot where the guard restored the last good
/// state (at the restored output's PSNR against the clean image, or against
/// the observation when no clean image is known).
fn psnr_plot(task: &str, history: &[Record], rollbacks: &[usize]) -> LinePlot {
    let series = |f: &dyn Fn(&Record) -> Option<f64>| -> Vec<(f64, f64)> {
        history
            .iter()
            .filter_map(|r| {
                f(r).filter(|v| v.is_finite())
                    .map(|v| (r.iteration as f64, v))
            })
            .collect()
    };
    let mut plot = LinePlot::new()
        .title(format!("{task}: PSNR"))
        .x_label("iteration")
        .y_label("dB");
    let clean = series(&|r| r.psnr_clean);
    if !clean.is_empty() {
        plot = plot
            .line("output vs clean", clean)
            .line("averaged vs clean", series(&|r| r.psnr_averaged));
    }
    plot = plot.line("output vs observation", series(&|r| Some(r.psnr_observed)));
    if rollbacks.is_empty() {
        return plot;
    }
    let marks = series(&|r| {
        rollbacks
            .contains(&r.iteration)
            .then_some(r.psnr_clean.unwrap_or(r.psnr_observed))
    });
    plot.points(
        format!(
            "guard rollback ({}): last good state restored",
            rollbacks.len()
        ),
        marks,
    )
}

/// The progress status: PSNR against the clean image (and of the averaged
/// output) when known, else against the observation.
fn status(history: &[Record]) -> String {
    history
        .last()
        .map_or(String::new(), |r| match r.psnr_clean {
            Some(p) => format!(
                "PSNR {p:.2} dB (averaged {:.2})",
                r.psnr_averaged.unwrap_or(f64::NAN)
            ),
            None => format!("PSNR vs observation {:.2} dB", r.psnr_observed),
        })
}

/// What the live monitor shows of a run: the observation (upsampled to the
/// output's size if smaller), the output and the averaged output side by
/// side under the progress line, then the PSNR curves.
struct LiveView<'a> {
    task: &'a str,
    observation: &'a Tensor,
    output: &'a Tensor,
    averaged: &'a Tensor,
    history: &'a [Record],
    rollbacks: &'a [usize],
}

impl LiveFigure for LiveView<'_> {
    fn frames(&self, caption: &str) -> Result<Vec<MimeBundle>> {
        let size = self.output.size();
        let obs = if self.observation.size() == size {
            self.observation.shallow_clone()
        } else {
            self.observation
                .unsqueeze(0)
                .f_upsample_nearest2d([size[1], size[2]], None, None)?
                .squeeze_dim(0)
        };
        let row = Tensor::f_stack(
            &[
                obs,
                self.output.to_device(Device::Cpu),
                self.averaged.to_device(Device::Cpu),
            ],
            0,
        )?;
        let images = ImageGrid::new(&row)?
            .columns(3)
            .labels(&["observation", "output", "averaged"])
            .title(format!("{}: {caption}", self.task));
        let mut frames = vec![images.mime_bundle()?];
        if !self.history.is_empty() {
            frames.push(psnr_plot(self.task, self.history, self.rollbacks).mime_bundle()?);
        }
        Ok(frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_restores_weights_buffers_adam_moments_and_the_average() {
        let net = SkipConfig::cpu().scaled(0.25);
        let mut model = net.build(3, 64, 64, 0, Device::Cpu).unwrap();
        model.set_train(true);
        let groups = model.param_groups();
        let mut opt = OptimizerState::new(Optimizer::adam(0.01)).unwrap();
        let x = Tensor::rand([1, 32, 64, 64], (Kind::Float, Device::Cpu));
        let step = |opt: &mut OptimizerState| {
            for (_, p) in groups.iter().flat_map(|g| &g.params) {
                p.shallow_clone().zero_grad();
            }
            model.forward(&x).unwrap().mean(Kind::Float).backward();
            opt.step(&groups, 0.01).unwrap();
        };
        step(&mut opt);
        let mut averaged = Some(Tensor::ones([3, 64, 64], (Kind::Float, Device::Cpu)));
        let output = Tensor::zeros([3, 64, 64], (Kind::Float, Device::Cpu));
        let cp = Checkpoint::take(&model, &opt, &averaged, &output, 0.1, 20.0);
        let snapshot = |m: &Model, o: &OptimizerState| -> Vec<Tensor> {
            m.named_tensors()
                .into_iter()
                .map(|(_, t)| t.copy())
                .chain(o.state_tensors().into_iter().map(|(_, t)| t.copy()))
                .collect()
        };
        let before = snapshot(&model, &opt);
        step(&mut opt);
        step(&mut opt);
        averaged = Some(Tensor::zeros([3, 64, 64], (Kind::Float, Device::Cpu)));
        let moved = snapshot(&model, &opt);
        assert!(before.iter().zip(&moved).any(|(a, b)| !a.equal(b)));
        cp.restore(&model, &mut opt, &mut averaged).unwrap();
        let after = snapshot(&model, &opt);
        assert_eq!(before.len(), after.len());
        for (a, b) in before.iter().zip(&after) {
            assert!(
                a.equal(b),
                "every weight, running statistic and Adam state is back"
            );
        }
        assert!(averaged
            .unwrap()
            .equal(&Tensor::ones([3, 64, 64], (Kind::Float, Device::Cpu))));
    }
}
