//! Deep Image Prior: the hourglass against its PyTorch twin, PSNR and SSIM
//! against scikit-image, the downsampler's invariants, the run's records,
//! snapshots, seeding, guard and interrupt, and clear errors for bad input.

mod common;

use common::err_text;
use deepscope::dip::{self, degrade, quality, Code, Guard, Prior, SkipConfig, Task};
use deepscope::display::ProgressMode;
use deepscope::model::Upsampling;
use deepscope::weights;
use std::path::Path;
use tch::{Device, Kind, Tensor};

fn tiny() -> SkipConfig {
    SkipConfig {
        input_channels: 4,
        down: vec![4, 8, 8],
        up: vec![6, 8, 8],
        skip: vec![2, 0, 3],
        ..SkipConfig::paper_default()
    }
}

/// A 32x32 patch of the astronaut photo: small enough to fit in a test.
fn astronaut_patch() -> Tensor {
    degrade::crop(&deepscope::data::image("astronaut").unwrap(), 60, 200, 32).unwrap()
}

fn python(script: &str, args: &[&str]) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/python").join(script))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn torch_config(cfg: &SkipConfig, out_channels: i64) -> String {
    serde_json::json!({
        "input_channels": cfg.input_channels,
        "down": cfg.down, "up": cfg.up, "skip": cfg.skip,
        "down_k": cfg.down_kernel, "up_k": cfg.up_kernel, "skip_k": cfg.skip_kernel,
        "upsampling": match cfg.upsampling { Upsampling::Bilinear => "bilinear", Upsampling::Nearest => "nearest" },
        "downsampling": match cfg.downsampling { dip::Downsampling::Stride => "stride", dip::Downsampling::AvgPool => "avg" },
        "reflect": cfg.reflect, "conv1x1_up": cfg.conv1x1_up, "slope": cfg.leaky_slope,
        "out_channels": out_channels,
    })
    .to_string()
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn the_hourglass_matches_its_pytorch_twin_in_training_mode() {
    let variants = [
        tiny(),
        SkipConfig {
            upsampling: Upsampling::Nearest,
            downsampling: dip::Downsampling::AvgPool,
            reflect: false,
            conv1x1_up: false,
            down_kernel: 5,
            ..tiny()
        },
    ];
    for cfg in variants {
        let dir = tempfile::tempdir().unwrap();
        let mut net = cfg.build(3, 24, 32, 7, Device::Cpu).unwrap();
        net.set_train(true);
        weights::save(&net, dir.path().join("weights.safetensors")).unwrap();
        let x = deepscope::rng::with_torch_seed(3, || {
            Tensor::rand([1, 4, 24, 32], (Kind::Float, Device::Cpu)) * 0.1
        });
        weights::write_safetensors(
            &[("input".into(), x.shallow_clone())],
            dir.path().join("input.safetensors"),
        )
        .unwrap();
        python(
            "dip_reference.py",
            &[dir.path().to_str().unwrap(), &torch_config(&cfg, 3)],
        );
        let theirs = weights::read_map(dir.path().join("output.safetensors")).unwrap();
        let y = net.forward(&x).unwrap();
        assert_eq!(y.size(), [1, 3, 24, 32]);
        let d = max_diff(&y, &theirs["output"]);
        assert!(d < 1e-5, "{cfg:?}: max |ours - torch| = {d:e}");
        y.square().mean(Kind::Float).backward();
        let grad = |layer: &str| net.layer_parameters(layer).unwrap();
        let out_w = grad("out")
            .into_iter()
            .find(|(n, _)| n == "out.weight")
            .unwrap()
            .1
            .grad();
        let d = max_diff(&out_w, &theirs["grad.out_conv.weight"]);
        assert!(d < 1e-6, "output conv gradient differs by {d:e}");
        let first = net
            .named_parameters()
            .into_iter()
            .find(|(n, _)| n == "level0.down.conv1.weight")
            .unwrap()
            .1
            .grad();
        let d = max_diff(&first, &theirs["grad.level0.down.conv1.weight"]);
        let scale = first.abs().max().double_value(&[]);
        assert!(
            d < 1e-5 * scale.max(1e-3),
            "first conv gradient differs by {d:e} (scale {scale:e})"
        );
    }
}

#[test]
fn presets_build_and_count_the_papers_parameters() {
    let net = SkipConfig::paper_default()
        .build(3, 64, 64, 0, Device::Cpu)
        .unwrap();
    let n = net.num_parameters();
    // 5 levels of 128 channels with 4 skip channels: about 2.2 M.
    assert!((2_100_000..2_300_000).contains(&n), "{n} parameters");
    assert_eq!(net.output_shape(), [3, 64, 64]);
    for cfg in [
        SkipConfig::paper_jpeg(),
        SkipConfig::paper_inpainting(),
        SkipConfig::cpu(),
    ] {
        let net = cfg.build(3, 96, 128, 0, Device::Cpu).unwrap();
        assert_eq!(net.output_shape(), [3, 96, 128]);
    }
    let half = SkipConfig::paper_default().scaled(0.5);
    assert_eq!(half.down, vec![64; 5]);
    assert_eq!(half.skip, vec![2; 5]);
}

#[test]
fn psnr_and_ssim_agree_with_scikit_image() {
    let dir = tempfile::tempdir().unwrap();
    let clean = degrade::crop(&deepscope::data::image("astronaut").unwrap(), 40, 60, 64).unwrap();
    let noisy = degrade::gaussian_noise(&clean, 0.1, 1).unwrap();
    let gray = clean.mean_dim(0, true, Kind::Float);
    let gray_noisy = degrade::gaussian_noise(&gray, 0.05, 2).unwrap();
    weights::write_safetensors(
        &[
            ("a".into(), noisy.shallow_clone()),
            ("b".into(), clean.shallow_clone()),
            ("c".into(), gray_noisy.shallow_clone()),
            ("d".into(), gray.shallow_clone()),
        ],
        dir.path().join("images.safetensors"),
    )
    .unwrap();
    let out = python(
        "quality_reference.py",
        &[dir.path().join("images.safetensors").to_str().unwrap()],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let close = |ours: f64, key: &str, tol: f64| {
        let theirs = v[key].as_f64().unwrap();
        assert!(
            (ours - theirs).abs() < tol,
            "{key}: ours {ours}, scikit-image {theirs}"
        );
    };
    close(quality::psnr(&noisy, &clean).unwrap(), "psnr_rgb", 1e-6);
    close(quality::ssim(&noisy, &clean).unwrap(), "ssim_rgb", 1e-6);
    close(
        quality::psnr(&gray_noisy, &gray).unwrap(),
        "psnr_gray",
        1e-6,
    );
    close(
        quality::ssim(&gray_noisy, &gray).unwrap(),
        "ssim_gray",
        1e-6,
    );
    assert!((quality::ssim(&clean, &clean).unwrap() - 1.0).abs() < 1e-12);
    assert!(quality::psnr(&clean, &clean).unwrap().is_infinite());
}

#[test]
fn the_lanczos_downsampler_is_normalised_symmetric_and_exact_in_size() {
    for factor in [2, 4, 8] {
        let d = dip::Downsampler::lanczos2(factor).unwrap();
        let taps = d.taps();
        assert_eq!(taps.len() as i64, 4 * factor);
        assert!((taps.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        for i in 0..taps.len() {
            assert!((taps[i] - taps[taps.len() - 1 - i]).abs() < 1e-12);
        }
        // Lanczos lobes: the outermost taps are negative.
        assert!(taps[0] < 0.0 && taps[taps.len() / 2] > 0.0);
        let x = Tensor::full([2, 3, 32, 48], 0.3, (Kind::Double, Device::Cpu));
        let y = d.apply(&x).unwrap();
        assert_eq!(y.size(), [2, 3, 32 / factor, 48 / factor]);
        assert!(
            max_diff(&y, &Tensor::full_like(&y, 0.3)) < 1e-12,
            "a constant stays constant"
        );
    }
    // A plane a*r + b*c is mapped to its value at the block centres away from the borders.
    let d = dip::Downsampler::lanczos2(4).unwrap();
    let r = Tensor::arange(64, (Kind::Double, Device::Cpu)).reshape([1, 1, 64, 1]);
    let y = d
        .apply(&r.expand([1, 1, 64, 64], false).contiguous())
        .unwrap();
    let centre = y.double_value(&[0, 0, 8, 8]);
    assert!((centre - (8.0 * 4.0 + 1.5)).abs() < 1e-9, "{centre}");
    for bad in [0, 1, 3] {
        assert!(err_text(dip::Downsampler::lanczos2(bad)).contains("even"));
    }
}

#[test]
fn degradations_are_seeded_and_shaped() {
    let img = degrade::crop(&deepscope::data::image("astronaut").unwrap(), 40, 60, 64).unwrap();
    let a = degrade::gaussian_noise(&img, 25.0 / 255.0, 5).unwrap();
    let b = degrade::gaussian_noise(&img, 25.0 / 255.0, 5).unwrap();
    assert!(max_diff(&a, &b) == 0.0);
    assert!(a.min().double_value(&[]) >= 0.0 && a.max().double_value(&[]) <= 1.0);
    let noise_std = (&a - &img).std(true).double_value(&[]);
    assert!((0.07..0.1).contains(&noise_std), "{noise_std}");
    let j = degrade::jpeg(&img, 10).unwrap();
    assert_eq!(j.size(), img.size());
    let (p10, p90) = (
        quality::psnr(&j, &img).unwrap(),
        quality::psnr(&degrade::jpeg(&img, 90).unwrap(), &img).unwrap(),
    );
    assert!(
        p10 < p90,
        "quality 10 ({p10} dB) must be worse than 90 ({p90} dB)"
    );
    let text = degrade::text_mask(64, 128, "deep image prior", 14).unwrap();
    let known = text.mean(Kind::Float).double_value(&[]);
    assert!(
        (0.6..0.97).contains(&known),
        "text covers {:.0}% of the mask",
        100.0 * (1.0 - known)
    );
    let hole = degrade::hole_mask(64, 64, 10, 20, 16, 8).unwrap();
    assert_eq!(
        hole.sum(Kind::Float).double_value(&[]),
        (64 * 64 - 16 * 8) as f64
    );
    let half = degrade::random_mask(128, 128, 0.5, 3).unwrap();
    let kept = half.mean(Kind::Float).double_value(&[]);
    assert!((0.47..0.53).contains(&kept), "{kept}");
    let low = degrade::downscale(&img, 4).unwrap();
    assert_eq!(low.size(), [3, 16, 16]);
    assert_eq!(degrade::bicubic(&low, 64, 64).unwrap().size(), [3, 64, 64]);
    let shuffled = degrade::shuffle_pixels(&img, 1).unwrap();
    let sorted = |t: &Tensor| t.flatten(0, -1).sort(0, false).0;
    assert!(
        max_diff(&sorted(&shuffled), &sorted(&img)) == 0.0,
        "same values, new places"
    );
    assert!(max_diff(&shuffled, &img) > 0.1);
}

#[test]
fn a_short_fit_records_improves_keeps_snapshots_and_repeats_with_its_seed() {
    let img = astronaut_patch();
    let task = Task::fit(&img).unwrap().with_clean(&img).unwrap();
    let prior = Prior::new(tiny())
        .iterations(40)
        .record_every(5)
        .snapshots(&[10, 40])
        .progress(ProgressMode::Silent)
        .device(Device::Cpu)
        .seed(3);
    let run = prior.run(&task).unwrap();
    let its: Vec<usize> = run.history.iter().map(|r| r.iteration).collect();
    assert_eq!(its, vec![1, 5, 10, 15, 20, 25, 30, 35, 40]);
    let (first, last) = (&run.history[0], run.last().unwrap());
    assert!(
        last.loss < first.loss / 2.0,
        "loss {} -> {}",
        first.loss,
        last.loss
    );
    assert!(last.psnr_clean.unwrap() > first.psnr_clean.unwrap() + 3.0);
    // Fitting the clean image: against the observation is against the clean image.
    assert!((last.psnr_observed - last.psnr_clean.unwrap()).abs() < 1e-9);
    assert_eq!(run.snapshot(10).unwrap().output.size(), [3, 32, 32]);
    assert!(err_text(run.snapshot(11)).contains("kept: [10, 40]"));
    assert!(max_diff(&run.snapshot(40).unwrap().output, &run.output) == 0.0);
    assert!(run.rollbacks.is_empty());
    let again = prior.run(&task).unwrap();
    assert!(
        max_diff(&again.output, &run.output) == 0.0,
        "same seed, same run"
    );
    assert!(max_diff(&again.averaged, &run.averaged) == 0.0);
    // A caller's no_grad scope changes nothing.
    let inside = tch::no_grad(|| prior.run(&task)).unwrap();
    assert!(
        max_diff(&inside.output, &run.output) == 0.0,
        "inside no_grad"
    );
    let other = prior.clone().seed(4).run(&task).unwrap();
    assert!(max_diff(&other.output, &run.output) > 1e-4);
}

#[test]
fn the_guard_undoes_a_diverging_step_with_the_optimizer_state() {
    // A learning rate far too high makes PSNR against the observation fall;
    // every rollback returns to the last good checkpoint, so the record
    // after a rollback is never worse than the checkpoint minus the margin
    // by more than one interval's worth of steps.
    let img = astronaut_patch();
    let task = Task::fit(&img).unwrap();
    let run = Prior::new(tiny())
        .iterations(60)
        .lr(0.5)
        .record_every(1)
        .guard(Some(Guard {
            every: 1,
            drop_db: 0.5,
        }))
        .progress(ProgressMode::Silent)
        .device(Device::Cpu)
        .run(&task)
        .unwrap();
    assert!(
        !run.rollbacks.is_empty(),
        "lr 0.5 should trip a 0.5 dB guard"
    );
    // With a check every step, a recorded (accepted) step is never more than
    // 0.5 dB below the best accepted PSNR before it.
    let mut best = f64::NEG_INFINITY;
    let mut last = f64::NEG_INFINITY;
    for r in &run.history {
        assert!(
            r.psnr_observed >= last - 0.5 - 1e-9,
            "step {} fell from {last} to {}",
            r.iteration,
            r.psnr_observed
        );
        best = best.max(r.psnr_observed);
        last = r.psnr_observed;
    }
    // Each rollback is recorded, with the state it restored: the record's
    // PSNR against the observation is the checkpoint's, which no accepted
    // step after it fell below by more than the margin.
    for &it in &run.rollbacks {
        assert!(
            run.history.iter().any(|r| r.iteration == it),
            "rollback at {it} not recorded"
        );
    }
    // The last record describes the final output, rollback or not.
    let last = run.last().unwrap();
    let own = quality::psnr(&run.output, &img).unwrap();
    assert!(
        (last.psnr_observed - own).abs() < 1e-4,
        "{} vs {own}",
        last.psnr_observed
    );
}

#[test]
fn a_rollback_at_the_end_leaves_output_average_and_last_record_in_agreement() {
    // Guard at every step with a drop of 0.5 dB at lr 0.5 rolls back
    // often. Which steps depends on the last bits of every kernel, so a
    // first run finds one, and a second, equal up to there, ends on it.
    let img = astronaut_patch();
    let task = Task::fit(&img).unwrap().with_clean(&img).unwrap();
    let prior = Prior::new(tiny())
        .lr(0.5)
        .record_every(1)
        .guard(Some(Guard {
            every: 1,
            drop_db: 0.5,
        }))
        .progress(ProgressMode::Silent)
        .device(Device::Cpu);
    let probe = prior.clone().iterations(60).run(&task).unwrap();
    let end = *probe
        .rollbacks
        .last()
        .expect("a 0.5 dB guard at lr 0.5 rolls back within 60 steps");
    let run = prior.iterations(end).snapshots(&[end]).run(&task).unwrap();
    assert!(run.rollbacks.contains(&end), "{:?}", run.rollbacks);
    let last = run.last().unwrap();
    assert_eq!(last.iteration, end);
    let out = quality::psnr(&run.output, &img).unwrap();
    let avg = quality::psnr(&run.averaged, &img).unwrap();
    assert!(
        (last.psnr_clean.unwrap() - out).abs() < 1e-4,
        "{last:?} vs {out}"
    );
    assert!(
        (last.psnr_averaged.unwrap() - avg).abs() < 1e-4,
        "{last:?} vs {avg}"
    );
    // A snapshot asked for at a rollback's iteration is the restored state.
    let snap = run.snapshot(end).unwrap();
    assert!(snap.averaged.equal(&run.averaged) && snap.output.equal(&run.output));
    // The plot marks the rollbacks.
    let plot = run.psnr_plot();
    let marks = plot
        .series()
        .iter()
        .find(|s| s.name.starts_with("guard rollback"))
        .unwrap();
    assert_eq!(marks.points.len(), run.rollbacks.len());
}

#[test]
fn inpainting_and_super_resolution_observe_through_their_operators() {
    let img = astronaut_patch();
    let mask = degrade::hole_mask(32, 32, 8, 8, 16, 16).unwrap();
    let task = Task::inpaint(&img, &mask)
        .unwrap()
        .with_clean(&img)
        .unwrap();
    let out = Tensor::rand([1, 3, 32, 32], (Kind::Float, Device::Cpu));
    let seen = task.observe(&out).unwrap();
    assert_eq!(
        seen.double_value(&[0, 0, 10, 10]),
        0.0,
        "inside the hole nothing is seen"
    );
    assert_eq!(
        seen.double_value(&[0, 1, 2, 3]),
        out.double_value(&[0, 1, 2, 3])
    );
    let low = degrade::downscale(&img, 4).unwrap();
    let sr = Task::super_resolve(&low, 4)
        .unwrap()
        .with_clean(&img)
        .unwrap();
    assert_eq!(sr.output_shape, [3, 32, 32]);
    assert_eq!(sr.observe(&out).unwrap().size(), [1, 3, 8, 8]);
    let run = Prior::new(SkipConfig {
        skip: vec![2, 2, 2],
        ..tiny()
    })
    .iterations(30)
    .record_every(10)
    .progress(ProgressMode::Silent)
    .device(Device::Cpu)
    .run(&sr)
    .unwrap();
    assert_eq!(run.output.size(), [3, 32, 32]);
    assert!(run.last().unwrap().psnr_observed > run.history[0].psnr_observed);
}

#[test]
fn bad_input_gets_clear_errors() {
    let img = Tensor::rand([3, 32, 32], (Kind::Float, Device::Cpu));
    assert!(err_text(Task::denoise(&Tensor::rand(
        [4, 32, 32],
        (Kind::Float, Device::Cpu)
    )))
    .contains("C = 1 (gray) or 3"));
    assert!(err_text(Task::denoise(&Tensor::rand(
        [32, 32],
        (Kind::Float, Device::Cpu)
    )))
    .contains("[C, H, W]"));
    assert!(err_text(Task::inpaint(
        &img,
        &Tensor::ones([1, 16, 32], (Kind::Float, Device::Cpu))
    ))
    .contains("[1 or 3, 32, 32]"));
    assert!(err_text(Task::inpaint(
        &img,
        &Tensor::full([1, 32, 32], 0.5, (Kind::Float, Device::Cpu))
    ))
    .contains("only 0"));
    assert!(err_text(
        Task::denoise(&img)
            .unwrap()
            .with_clean(&Tensor::rand([3, 30, 32], (Kind::Float, Device::Cpu)))
    )
    .contains("output's shape"));
    let odd = Task::denoise(&Tensor::rand([3, 36, 32], (Kind::Float, Device::Cpu))).unwrap();
    let e = err_text(Prior::new(tiny()).progress(ProgressMode::Silent).run(&odd));
    assert!(
        e.contains("divisible by 2^3 = 8") && e.contains("36x32"),
        "{e}"
    );
    let task = Task::denoise(&img).unwrap();
    let e = err_text(
        Prior::new(tiny())
            .code(Code::Meshgrid)
            .progress(ProgressMode::Silent)
            .run(&task),
    );
    assert!(e.contains("2 channels but the net takes 4"), "{e}");
    assert!(err_text(Prior::new(tiny()).snapshots(&[0]).run(&task)).contains("outside 1..=3000"));
    assert!(err_text(Prior::new(tiny()).lr(f64::NAN).run(&task)).contains("learning rate"));
    assert!(err_text(
        Prior::new(SkipConfig {
            up: vec![4, 4],
            ..tiny()
        })
        .run(&task)
    )
    .contains("one entry per level"));
    assert!(err_text(
        Prior::new(SkipConfig {
            down_kernel: 4,
            ..tiny()
        })
        .run(&task)
    )
    .contains("odd"));
    assert!(err_text(Task::super_resolve(&img, 3)).contains("even"));
    assert!(err_text(degrade::jpeg(&img, 0)).contains("1 to 100"));
    assert!(err_text(degrade::hole_mask(8, 8, 4, 4, 8, 8)).contains("inside"));
    assert!(err_text(degrade::crop(&img, 20, 20, 16)).contains("does not fit"));
    // Reflection padding needs more pixels than it pads at the coarsest level.
    let e = err_text(SkipConfig::paper_default().build(3, 32, 32, 0, Device::Cpu));
    assert!(e.contains("coarsest level"), "{e}");
}

#[test]
fn square_and_harmonic_fill() {
    let photo = deepscope::data::image("chelsea").unwrap();
    let sq = degrade::square(&photo, 96).unwrap();
    assert_eq!(sq.size(), [3, 96, 96]);
    // A smooth ramp is filled exactly (harmonic functions include planes).
    let ramp = Tensor::linspace(0.0, 1.0, 32, (Kind::Float, Device::Cpu))
        .reshape([1, 1, 32])
        .expand([3, 32, 32], false)
        .contiguous();
    let mask = degrade::hole_mask(32, 32, 8, 8, 16, 16).unwrap();
    let filled = degrade::harmonic_fill(&(&ramp * &mask), &mask, 2000).unwrap();
    let d = max_diff(&filled, &ramp);
    assert!(d < 2e-3, "max error {d}");
    assert!(err_text(degrade::harmonic_fill(
        &ramp,
        &Tensor::zeros([1, 32, 32], (Kind::Float, Device::Cpu)),
        5
    ))
    .contains("no known pixel"));
}
