//! Trains LeNet-5 on Fashion-MNIST and saves the loss curve, the weights and
//! the confusion matrix: the smallest complete training script.
//!
//! cargo run --release --example train_lenet -- [OUT_DIR] [EPOCHS] [--checkpoint]
//!
//! Ctrl-C stops training at the next batch and still saves what was learned.
//! With `--checkpoint`, every epoch is checkpointed in OUT_DIR/checkpoint and
//! a second run of the same command resumes there (after a crash or a kill).
//! With DEEPSCOPE_QUICK=1 it trains on 200 images per class (2 epochs unless
//! EPOCHS says otherwise).

use deepscope::prelude::*;
use deepscope::train::{interrupt, ProgressMode};

fn main() -> deepscope::Result<()> {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let checkpoint = all.iter().any(|a| a == "--checkpoint");
    let mut args = all.iter().filter(|a| *a != "--checkpoint");
    let out = std::path::PathBuf::from(
        args.next()
            .cloned()
            .unwrap_or_else(|| "lenet-output".into()),
    );
    let epochs: usize = match args.next() {
        Some(e) => e
            .parse()
            .map_err(|_| Error::invalid(format!("EPOCHS must be a whole number, got '{e}'")))?,
        None if quick_mode() => 2,
        None => 5,
    };
    std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
    let _ = interrupt::install_ctrl_c();

    let mut data = data::fashion_mnist()?;
    if quick_mode() {
        data = data.balanced_subset(200, 50, 0)?;
    }
    let device = default_device();
    let mut net = zoo::lenet5(10).seed(0).build(device)?;
    println!("{}", net.summary());

    let mut cfg = FitConfig::new(epochs, 128, Optimizer::momentum(0.05, 0.9));
    if checkpoint {
        cfg.checkpoint_dir = Some(out.join("checkpoint"));
    }
    cfg.schedule = Schedule::Step {
        every: 3,
        gamma: 0.5,
    };
    cfg.progress = ProgressMode::Auto;
    let run = fit(&mut net, &data, &cfg)?;
    if run.interrupted {
        println!("interrupted: saving the model as it is");
    }

    let steps: Vec<(f64, f64)> = run
        .history
        .steps
        .iter()
        .map(|s| (s.step as f64, s.loss))
        .collect();
    let per_epoch = run.history.steps.len() as f64 / run.history.epochs.len().max(1) as f64;
    let test: Vec<(f64, f64)> = run
        .history
        .epochs
        .iter()
        .filter_map(|e| Some(((e.epoch + 1) as f64 * per_epoch, e.test_loss?)))
        .collect();
    let curve = LinePlot::new()
        .title("LeNet-5 on Fashion-MNIST")
        .x_label("step")
        .y_label("cross-entropy")
        .log_y()
        .line("train (per batch)", steps)
        .points("test (per epoch)", test);
    deepscope::plot::save(&curve, out.join("loss.png"))?;
    weights::save(&net, out.join("lenet5.safetensors"))?;

    let eval = evaluate(&mut net, &data.test, 512)?;
    println!("test: {eval}");
    let names: Vec<&str> = data.classes.iter().map(String::as_str).collect();
    let confusion = Heatmap::new(
        eval.confusion
            .iter()
            .map(|r| r.iter().map(|&v| v as f64).collect())
            .collect(),
    )
    .labels(&names, &names)
    .annotate()
    .title("confusion matrix (rows: true class)")
    .size(900, 700);
    deepscope::plot::save(&confusion, out.join("confusion.png"))?;
    println!(
        "wrote {}/loss.png, confusion.png and lenet5.safetensors",
        out.display()
    );
    Ok(())
}
