//! Results show themselves: an HTML table of their numbers with their
//! figure embedded, and a short text form (what nbconvert's text output and
//! a program print), for every result a user meets at the end of a cell.

use deepscope::data::{self, Dataset};
use deepscope::dip::{degrade, Prior, SkipConfig, Task};
use deepscope::display::{MimeBundle, ProgressMode, Report, Show, Table};
use deepscope::plot::LinePlot;
use deepscope::surface::LossGrid;
use deepscope::train::{self, FitConfig, Optimizer};
use deepscope::transfer::{Extractor, Features, LinearProbe};
use deepscope::viz::{self, Occlusion};
use deepscope::zoo;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tch::Device;

/// The bundle's HTML holds a table and `figures` embedded PNGs that decode
/// as PNG; its text is one line (or, with `lines`, that many).
fn check_bundle(b: &MimeBundle, figures: usize, lines: usize) -> (String, String) {
    let html = b.get("text/html").expect("an HTML form").to_string();
    let text = b.get("text/plain").expect("a text form").to_string();
    assert!(
        html.contains("<table>") && html.contains("</table>"),
        "{html:.200}"
    );
    let pngs: Vec<&str> = html
        .split("<img src=\"data:image/png;base64,")
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect();
    assert_eq!(pngs.len(), figures, "figures in {text}");
    for p in pngs {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD.decode(p).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    }
    assert_eq!(text.lines().count(), lines, "{text}");
    assert!(
        b.get("image/png").is_none(),
        "one copy of each figure, inside the HTML"
    );
    (html, text)
}

fn quiet(epochs: usize) -> FitConfig {
    let mut c = FitConfig::new(epochs, 64, Optimizer::adam(1e-2));
    c.progress = ProgressMode::Silent;
    c.interrupt = Some(Arc::new(AtomicBool::new(false)));
    c
}

#[test]
fn an_evaluation_and_a_fit_show_their_numbers_and_figures() {
    let ds = data::digits().unwrap();
    let mut net = zoo::mlp(&[1, 8, 8], &[32], 10, zoo::Activation::Relu)
        .seed(0)
        .build(Device::Cpu)
        .unwrap();
    let run = train::fit(&mut net, &ds, &quiet(3)).unwrap();
    let (html, text) = check_bundle(&run.mime_bundle().unwrap(), 1, 1);
    assert!(
        html.contains("<td>epochs</td><td>3 of 3</td>"),
        "{html:.600}"
    );
    assert!(html.contains("last epoch: test accuracy"));
    assert!(
        text.starts_with("training run: 3 of 3 epochs, 69 steps"),
        "{text}"
    );

    let eval = train::evaluate(&mut net, &ds.test, 100).unwrap();
    let (html, text) = check_bundle(&eval.mime_bundle().unwrap(), 1, 1);
    assert!(
        html.contains(&format!("<td>{}</td>", ds.test.len())),
        "{html:.400}"
    );
    assert_eq!(text, format!("{eval} on {} examples", ds.test.len()));
    assert!(!text.contains("confusion"), "no Debug dump: {text}");
}

#[test]
fn a_model_shows_its_summary_table() {
    let net = zoo::lenet5(10).build(Device::Cpu).unwrap();
    let (html, text) = check_bundle(&net.mime_bundle().unwrap(), 0, net.layers().len() + 2);
    assert!(html.contains("<td>conv1</td>") && html.contains("<td>total</td>"));
    assert!(html.contains(&format!("<td>{}</td>", net.num_parameters())));
    assert_eq!(text, net.summary().to_string());
}

#[test]
fn occlusion_maps_and_top_k_show_themselves() {
    let net = zoo::lenet5(10).seed(1).build(Device::Cpu).unwrap();
    let fm = data::fashion_mnist().unwrap();
    let image = fm.test.images().get(0);
    let maps = Occlusion::new(&net, 8, 4)
        .unwrap()
        .feature_layer("relu2")
        .unwrap()
        .run(&image, 3)
        .unwrap();
    let (html, text) = check_bundle(&maps.mime_bundle().unwrap(), 1, 1);
    assert!(
        html.contains("8x8 px, stride 4x4, 6x6 positions"),
        "{html:.800}"
    );
    assert!(text.starts_with("occlusion of class 3: p "), "{text}");

    let images = fm.test.images().narrow(0, 0, 40);
    let top = viz::top_k(&net, &images, "relu2", 4, 20).unwrap();
    let (html, text) = check_bundle(&top.mime_bundle().unwrap(), 1, 1);
    assert!(html.contains("top 4 activations of relu2"), "{html:.300}");
    assert!(text.starts_with("top-k of relu2: 16 maps"), "{text}");
}

#[test]
fn a_restoration_shows_its_psnr_and_images() {
    let clean = degrade::crop(&data::image("astronaut").unwrap(), 0, 0, 64).unwrap();
    let noisy = degrade::gaussian_noise(&clean, 0.1, 0).unwrap();
    let task = Task::denoise(&noisy).unwrap().with_clean(&clean).unwrap();
    let run = Prior::new(SkipConfig::cpu().scaled(0.25))
        .iterations(8)
        .record_every(4)
        .progress(ProgressMode::Silent)
        .device(Device::Cpu)
        .run(&task)
        .unwrap();
    let (html, text) = check_bundle(&run.mime_bundle().unwrap(), 2, 1);
    assert!(
        html.contains("<td>iterations</td><td>8</td>"),
        "{html:.600}"
    );
    assert!(text.contains("8 iterations, last PSNR"), "{text}");
}

#[test]
fn a_loss_grid_shows_contours_when_complete_and_a_heatmap_before() {
    let mut grid = LossGrid::new("toy", vec![-1.0, 0.0, 1.0], vec![-1.0, 0.0, 1.0]).unwrap();
    let (html, text) = check_bundle(&grid.mime_bundle().unwrap(), 0, 1);
    assert!(html.contains("0 of 9 evaluated"), "{html:.400}");
    assert!(text.ends_with("lowest loss -"), "{text}");
    for i in 0..9 {
        let (x, y) = (grid.xs[i % 3], grid.ys[i / 3]);
        grid.loss[i] = 1.0 + x * x + 2.0 * y * y;
        grid.accuracy[i] = 0.5;
    }
    let (html, _) = check_bundle(&grid.mime_bundle().unwrap(), 1, 1);
    assert!(html.contains("1.0000 at (0.000, 0.000)"), "{html:.600}");
    assert!(html.contains("<td>loss at the centre</td><td>1.0000</td>"));
}

#[test]
fn a_linear_probe_on_features_shows_its_accuracy() {
    let ds = data::digits().unwrap();
    let mut net = zoo::mlp(&[1, 8, 8], &[24], 10, zoo::Activation::Relu)
        .seed(0)
        .build(Device::Cpu)
        .unwrap();
    train::fit(&mut net, &ds, &quiet(2)).unwrap();
    let feats: Dataset = Features::new(&mut net, "act1")
        .unwrap()
        .of_dataset(&ds)
        .unwrap();
    assert_eq!(feats.train.image_shape(), [24, 1, 1]);
    let probe = LinearProbe::new(40).run(&feats).unwrap();
    assert!(probe.accuracy() > 0.8, "{}", probe.accuracy());
    let (html, text) = check_bundle(&probe.mime_bundle().unwrap(), 1, 1);
    assert!(html.contains("digits at act1"), "{html:.400}");
    assert!(
        text.starts_with("softmax probe on digits at act1 (24 features"),
        "{text}"
    );
}

#[test]
fn a_report_leaves_out_a_figure_it_cannot_draw() {
    let table = Table::new(&["a"]).row(&["1"]).unwrap();
    let b = Report::new(table, "one")
        .figure(&LinePlot::new().values("nan", &[f64::NAN]))
        .figure(&LinePlot::new().values("ok", &[1.0, 2.0]))
        .mime_bundle()
        .unwrap();
    check_bundle(&b, 1, 1);
}
