//! Renders one of each figure type into a folder, PNG and SVG: a quick way to
//! see what the plotting module draws.
//!
//! cargo run --example figure_gallery -- /tmp/figures

use deepscope::display::{ImageGrid, Overlay, Scaling, Table};
use deepscope::plot::*;

fn main() -> deepscope::Result<()> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "figures".into()));
    std::fs::create_dir_all(&dir).map_err(|e| deepscope::Error::io(&dir, e))?;
    let steps: Vec<f64> = (1..=200).map(f64::from).collect();
    let lines = LinePlot::new()
        .title("training curves")
        .x_label("step")
        .y_label("loss")
        .log_y()
        .line("train", steps.iter().map(|&s| (s, 2.3 / s.sqrt())))
        .line("test", steps.iter().map(|&s| (s, 2.3 / s.sqrt() + 0.1)));
    save(&lines, dir.join("lines.png"))?;
    save(&lines, dir.join("lines.svg"))?;
    let normal: Vec<f64> = (0..2000)
        .map(|i| ((i as f64 * 0.618).fract() - 0.5) * 4.0 + (i % 7) as f64 * 0.1)
        .collect();
    save(
        &Histogram::new()
            .title("final test loss")
            .data("width 10", &normal)
            .data(
                "width 100",
                &normal.iter().map(|v| v * 0.5 + 1.0).collect::<Vec<_>>(),
            )
            .bins(25),
        dir.join("histogram.png"),
    )?;
    let confusion: Vec<Vec<f64>> = (0..4)
        .map(|r| {
            (0..4)
                .map(|c| {
                    if r == c {
                        90.0 - r as f64 * 5.0
                    } else {
                        (r + c) as f64
                    }
                })
                .collect()
        })
        .collect();
    save(
        &Heatmap::new(confusion)
            .title("confusion")
            .labels(&["a", "b", "c", "d"], &["a", "b", "c", "d"])
            .annotate()
            .x_label("predicted")
            .y_label("true"),
        dir.join("heatmap.png"),
    )?;
    let surface: Vec<Vec<f64>> = (0..41)
        .map(|r| {
            (0..41)
                .map(|c| {
                    let (x, y) = (-1.0 + c as f64 * 0.05, -1.0 + r as f64 * 0.05);
                    x * x + 2.0 * y * y + 0.3 * (3.0 * x).sin()
                })
                .collect()
        })
        .collect();
    save(
        &Contour::new(surface, -1.0, 1.0, -1.0, 1.0)
            .title("loss surface")
            .filled(Colormap::Viridis)
            .level_count(8)
            .path(
                "trajectory",
                &[(0.9, 0.8), (0.5, 0.4), (0.2, 0.1), (0.0, 0.0)],
            ),
        dir.join("contour.png"),
    )?;
    let pts: Vec<(f64, f64)> = (0..300)
        .map(|i| {
            let c = (i % 3) as f64;
            let a = i as f64 * 0.37;
            (c * 3.0 + a.cos(), c + a.sin())
        })
        .collect();
    let cls: Vec<usize> = (0..300).map(|i| i % 3).collect();
    save(
        &Scatter::new(pts)
            .classes(&cls, &["zero", "one", "two"])
            .title("t-SNE"),
        dir.join("scatter.png"),
    )?;
    save(
        &BarChart::new(&["conv1", "conv2", "fc6", "fc7"])
            .series("linear probe", &[0.61, 0.74, 0.85, 0.88])
            .series("from scratch", &[0.5, 0.6, 0.7, 0.72])
            .title("accuracy by layer")
            .y_label("accuracy"),
        dir.join("bars.png"),
    )?;
    let fm = deepscope::data::fashion_mnist()?;
    let first = fm.test.images().narrow(0, 0, 16);
    let names: Vec<String> = Vec::<i64>::try_from(fm.test.labels().narrow(0, 0, 16))?
        .iter()
        .map(|&l| fm.classes[l as usize].clone())
        .collect();
    save(
        &ImageGrid::new(&first)?
            .columns(8)
            .scale(3)
            .scaling(Scaling::Clamp)
            .labels(&names)
            .title("Fashion-MNIST test images"),
        dir.join("grid.png"),
    )?;
    let coffee = deepscope::data::image("coffee")?;
    let heat = tch::Tensor::arange(12 * 18, (tch::Kind::Float, tch::Device::Cpu))
        .view([12, 18])
        .sin();
    save(
        &Overlay::new(&coffee, &heat)?.alpha(0.45),
        dir.join("overlay.png"),
    )?;
    let table = Table::new(&["claim", "paper", "ours", "holds"]).row(&[
        "AnB+ above baseB",
        "0.64 vs 0.625",
        "-",
        "-",
    ])?;
    println!("{table}");
    println!("figures in {}", dir.display());
    Ok(())
}
