//! 2-D loss-surface scan speed, our side (issue 7's benchmark);
//! `bench/surface.py` scans the same model, directions and evaluation set
//! with the `loss-landscapes` package and with a plain PyTorch loop, checks
//! that the loop's losses equal ours, and prints the ratios.
//!
//! The model: ResNet-20 on Fashion-MNIST average-pooled to 14x14, trained
//! for one epoch on 2,000 images (seed 0). The scan: two filter-normalised
//! directions (seeds 1 and 2), the training loss and accuracy in evaluation
//! mode on 500 training images in one batch, points on [-1, 1]^2. Written to
//! `target/bench-surface/` for the Python side: the weights, the
//! directions and the evaluation set as safetensors.
//!
//! The 9x9 timing runs in fresh processes, twice: with glibc's allocator as
//! it comes and with the freed buffers kept
//! (`runtime::allocator::retain_freed_buffers`); the Python side runs with
//! the same two settings through glibc's `MALLOC_*` variables.
//!
//! Second part: a 21x21 grid run by one process with every thread against
//! two processes, each running half of the points (one shard, half the
//! threads) and saving it to its own file, then merged. The processes are
//! this program started again with `--shard`.

#[path = "common/mod.rs"]
mod common;

use deepscope::data::{self, Split};
use deepscope::surface::{random_direction, LossGrid, Normalization, Scan2d, Weights};
use deepscope::train::{FitConfig, Optimizer, ProgressMode};
use deepscope::{weights, zoo, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use tch::{Device, Tensor};

const EVAL: i64 = 500;
const SIDE: usize = 21;

fn folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-surface")
}

fn net() -> Result<deepscope::model::Model> {
    zoo::resnet20([1, 14, 14], 10, true)
        .seed(0)
        .build(Device::Cpu)
}

fn pooled(s: &Split) -> Result<Split> {
    Split::new(
        s.images()
            .avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None::<i64>),
        s.labels().shallow_clone(),
    )
}

/// Trains the model and writes it, the directions and the evaluation set.
fn prepare(dir: &Path) -> Result<()> {
    let fm = data::fashion_mnist()?.balanced_subset(200, 10, 0)?;
    let fm = data::Dataset::new(
        fm.name.clone(),
        pooled(&fm.train)?,
        pooled(&fm.test)?,
        fm.classes.clone(),
    )?;
    let mut model = net()?;
    let mut cfg = FitConfig::new(1, 32, Optimizer::momentum(0.05, 0.9));
    cfg.evaluate = false;
    cfg.progress = ProgressMode::Silent;
    deepscope::train::fit(&mut model, &fm, &cfg)?;
    let center = Weights::of(&model);
    let d1 = random_direction(&center, Normalization::Filter, false, 1)?;
    let d2 = random_direction(&center, Normalization::Filter, false, 2)?;
    let step = fm.train.len() as i64 / EVAL;
    let eval = fm
        .train
        .select(&(0..EVAL).map(|i| i * step).collect::<Vec<_>>())?;
    weights::save(&model, dir.join("model.safetensors"))?;
    weights::write_safetensors(&d1.named(), dir.join("d1.safetensors"))?;
    weights::write_safetensors(&d2.named(), dir.join("d2.safetensors"))?;
    weights::write_safetensors(
        &[
            ("images".to_string(), eval.images().shallow_clone()),
            ("labels".to_string(), eval.labels().shallow_clone()),
        ],
        dir.join("eval.safetensors"),
    )?;
    Ok(())
}

/// The model, directions and evaluation set [`prepare`] wrote.
struct Setup {
    model: deepscope::model::Model,
    center: Weights,
    d1: Weights,
    d2: Weights,
    eval: Split,
}

fn load(dir: &Path) -> Result<Setup> {
    let mut model = net()?;
    weights::load(&mut model, dir.join("model.safetensors"))?;
    let center = Weights::of(&model);
    let d1 = Weights::from_named(&center, &weights::read_tensors(dir.join("d1.safetensors"))?)?;
    let d2 = Weights::from_named(&center, &weights::read_tensors(dir.join("d2.safetensors"))?)?;
    let map = weights::read_map(dir.join("eval.safetensors"))?;
    let get = |k: &str| {
        map.get(k)
            .map(Tensor::shallow_clone)
            .ok_or_else(|| deepscope::Error::invalid(format!("eval.safetensors lacks {k}")))
    };
    let eval = Split::new(get("images")?, get("labels")?)?;
    Ok(Setup {
        model,
        center,
        d1,
        d2,
        eval,
    })
}

fn axis(n: usize) -> Vec<f64> {
    deepscope::surface::linspace(-1.0, 1.0, n)
}

/// Runs points `range` of an `n`x`n` grid along the stored directions,
/// saving to `file` when given.
fn scan(
    s: &mut Setup,
    n: usize,
    range: std::ops::Range<usize>,
    file: Option<&Path>,
) -> Result<LossGrid> {
    let Setup {
        model,
        center,
        d1,
        d2,
        eval,
    } = s;
    scan_along(model, eval, (center, d1, d2), n, range, file)
}

fn scan_along(
    model: &mut deepscope::model::Model,
    eval: &Split,
    (center, d1, d2): (&Weights, &Weights, &Weights),
    n: usize,
    range: std::ops::Range<usize>,
    file: Option<&Path>,
) -> Result<LossGrid> {
    let scan = Scan2d {
        center,
        d1,
        d2,
        data: eval,
        batch: EVAL as usize,
    };
    let grid = LossGrid::new(
        "bench: resnet20 fashion 14x14, filter dirs 1/2",
        axis(n),
        axis(n),
    )?;
    scan.run(model, grid, range, file)
}

/// The work loss-landscapes' `random_plane` times besides its grid: copy
/// the weights and draw two filter-normalised directions that move every
/// parameter. Returns them and the seconds it took.
fn setup(s: &Setup) -> Result<((Weights, Weights, Weights), f64)> {
    let t = Instant::now();
    let center = Weights::of(&s.model);
    let d1 = random_direction(&center, Normalization::Filter, true, 3)?;
    let d2 = random_direction(&center, Normalization::Filter, true, 4)?;
    Ok(((center, d1, d2), t.elapsed().as_secs_f64()))
}

/// `--shard k --of m --file F` (or `--of 1` for the whole grid): one
/// process's part of the 21x21 grid.
fn child(args: &[String]) -> Result<()> {
    let arg = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
    };
    let k: usize = arg("--shard").and_then(|v| v.parse().ok()).unwrap_or(0);
    let m: usize = arg("--of").and_then(|v| v.parse().ok()).unwrap_or(1);
    let file = PathBuf::from(arg("--file").map_or("grid.json", String::as_str));
    let _ = std::fs::remove_file(&file);
    let mut s = load(&folder())?;
    let range = LossGrid::new("", axis(SIDE), axis(SIDE))?.shards(m)[k].clone();
    scan(&mut s, SIDE, range, Some(&file))?;
    Ok(())
}

/// Starts `m` copies of this program, each with `threads / m` threads and
/// one shard; returns the wall time and the merged grid.
fn processes(m: usize, threads: i32) -> Result<(f64, LossGrid)> {
    let exe = std::env::current_exe().map_err(|e| deepscope::Error::invalid(e.to_string()))?;
    let dir = folder();
    let per = (threads / m as i32).max(1);
    let started = Instant::now();
    let children: Vec<_> = (0..m)
        .map(|k| {
            Command::new(&exe)
                .env("BENCH_THREADS", per.to_string())
                .args(["--shard", &k.to_string(), "--of", &m.to_string(), "--file"])
                .arg(dir.join(format!("shard-{k}-of-{m}.json")))
                .spawn()
        })
        .collect::<std::io::Result<_>>()
        .map_err(|e| deepscope::Error::invalid(format!("cannot start a shard process: {e}")))?;
    for mut c in children {
        let status = c
            .wait()
            .map_err(|e| deepscope::Error::invalid(e.to_string()))?;
        if !status.success() {
            return Err(deepscope::Error::invalid(format!(
                "a shard process failed: {status}"
            )));
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let parts = (0..m)
        .map(|k| LossGrid::load(dir.join(format!("shard-{k}-of-{m}.json"))))
        .collect::<Result<Vec<_>>>()?;
    Ok((seconds, LossGrid::merge(&parts)?))
}

/// `--points [--retain]`: the 9x9 timing in a fresh process (the process
/// that trained the model has glibc's allocator thresholds raised by
/// training, which would flatter the scan), with glibc's defaults or with
/// the buffers kept (`runtime::allocator`). Prints one JSON object.
fn points(args: &[String]) -> Result<()> {
    let retain = args.iter().any(|a| a == "--retain");
    if retain {
        deepscope::runtime::allocator::retain_freed_buffers()?;
    }
    let dir = folder();
    let mut s = load(&dir)?;
    let n = 9;
    scan(&mut s, n, 0..1, None)?;
    let t = Instant::now();
    let grid = scan(&mut s, n, 0..n * n, None)?;
    let points_per_second = (n * n) as f64 / t.elapsed().as_secs_f64();
    if !retain {
        std::fs::write(
            dir.join("grid-9x9.json"),
            serde_json::to_string(&grid.loss)
                .map_err(|e| deepscope::Error::invalid(e.to_string()))?,
        )
        .map_err(|e| deepscope::Error::io(&dir, e))?;
    }
    // The same grid, timed with what random_plane does before it.
    let t = Instant::now();
    let (dirs, setup_s) = setup(&s)?;
    scan_along(
        &mut s.model,
        &s.eval,
        (&dirs.0, &dirs.1, &dirs.2),
        n,
        0..n * n,
        None,
    )?;
    let with_setup = (n * n) as f64 / t.elapsed().as_secs_f64();
    println!(
        "{{\"points_per_second\": {points_per_second}, \"with_setup_points_per_second\": {with_setup}, \"setup_s\": {setup_s}}}"
    );
    Ok(())
}

/// Runs [`points`] in a fresh copy of this program; its JSON object.
fn points_in_a_process(retain: bool, threads: i32) -> Result<String> {
    let exe = std::env::current_exe().map_err(|e| deepscope::Error::invalid(e.to_string()))?;
    let mut command = Command::new(exe);
    command
        .env("BENCH_THREADS", threads.to_string())
        .arg("--points");
    if retain {
        command.arg("--retain");
    }
    let out = command
        .output()
        .map_err(|e| deepscope::Error::invalid(format!("cannot start a scan process: {e}")))?;
    if !out.status.success() {
        return Err(deepscope::Error::invalid(format!(
            "the scan process failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let threads = common::set_threads();
    if args.iter().any(|a| a == "--shard") {
        return child(&args);
    }
    if args.iter().any(|a| a == "--points") {
        return points(&args);
    }
    let json = args.iter().any(|a| a == "--json");
    let dir = folder();
    std::fs::create_dir_all(&dir).map_err(|e| deepscope::Error::io(&dir, e))?;
    prepare(&dir)?;

    let default = points_in_a_process(false, threads)?;
    let retained = points_in_a_process(true, threads)?;
    let (one, whole) = processes(1, threads)?;
    let (two, merged) = processes(2, threads)?;
    let differ = whole
        .loss
        .iter()
        .zip(&merged.loss)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    if json {
        println!(
            "{{\"threads\": {threads}, \"points\": 81, \"default\": {default}, \"retained\": {retained}, \"side\": {SIDE}, \"one_process_s\": {one}, \"two_processes_s\": {two}, \"max_loss_difference\": {differ}, \"grid_file\": {:?}}}",
            dir.join("grid-9x9.json").display().to_string()
        );
    } else {
        println!("2-D scan, 9x9 points, {EVAL} images, glibc's defaults: {default}");
        println!("the same with freed buffers kept: {retained}");
        println!("21x21 grid: 1 process {one:.1} s, 2 processes {two:.1} s (largest loss difference {differ:.2e})");
    }
    Ok(())
}
