//! Figures: what is drawn, checked in the pixels; text rendered from the
//! embedded font; PNG and SVG output; display bundles; and bad input.

mod common;

use common::err_text;
use deepscope::display::{display, ImageGrid, MimeBundle, Overlay, Scaling, Show, Table};
use deepscope::plot::*;
use tch::{Device, Kind, Tensor};

fn pixels<R: Render>(r: &R) -> image::RgbImage {
    let png = to_png(r).unwrap();
    image::load_from_memory(&png).unwrap().to_rgb8()
}

fn dark_pixels(img: &image::RgbImage, x0: u32, x1: u32, y0: u32, y1: u32) -> usize {
    (y0..y1)
        .flat_map(|y| (x0..x1).map(move |x| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&c| c < 100))
        .count()
}

#[test]
fn titles_are_drawn_with_the_embedded_font() {
    let with = LinePlot::new()
        .title("Training loss per step")
        .values("loss", &[3.0, 2.0, 1.0]);
    let without = LinePlot::new().values("loss", &[3.0, 2.0, 1.0]);
    let (a, b) = (pixels(&with), pixels(&without));
    assert_eq!(a.dimensions(), (640, 400));
    // The caption band holds text only when there is a title.
    assert!(
        dark_pixels(&a, 200, 440, 0, 30) > 100,
        "title text rendered"
    );
    assert_eq!(dark_pixels(&b, 200, 440, 0, 10), 0);
    let svg = to_svg(&with).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("Training loss per step"));
}

#[test]
fn heatmap_cells_take_the_colormap_colour_of_their_value() {
    // 2x2: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right.
    let hm = Heatmap::new(vec![vec![0.0, 1.0], vec![2.0, 3.0]])
        .colormap(Colormap::Viridis)
        .size(500, 400);
    let img = pixels(&hm);
    let color = |t: f64| {
        let c = Colormap::Viridis.color(t);
        [c.0, c.1, c.2]
    };
    // Sample the middle of each cell: the plot area spans roughly x 70..400, y 15..355.
    let find = |want: [u8; 3]| img.pixels().filter(|p| p.0 == want).count();
    for (v, t) in [(0.0, 0.0), (1.0, 1.0 / 3.0), (2.0, 2.0 / 3.0), (3.0, 1.0)] {
        assert!(
            find(color(t)) > 5000,
            "cell of value {v} painted with its colour"
        );
    }
    // Row 0 is at the top: the top-left quadrant of the plot area is the 0 cell.
    let top_left = img.get_pixel(120, 90).0;
    assert_eq!(top_left, color(0.0));
    let msg = err_text(to_png(&Heatmap::new(vec![vec![1.0, 2.0], vec![3.0]])));
    assert!(
        msg.contains("grid row 1 has 1 values, row 0 has 2"),
        "{msg}"
    );
    assert!(err_text(to_png(&Heatmap::new(vec![]))).contains("at least one row"));
    let labelled = Heatmap::new(vec![vec![1.0, 2.0]]).labels(&["a", "b"], &["x", "y"]);
    assert!(err_text(to_png(&labelled)).contains("2 row labels for 1 rows"));
    let t = Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
    assert!(err_text(Heatmap::from_tensor(&t)).contains("a 2-D tensor [rows, cols], got [3]"));
}

#[test]
fn categorical_heatmap_colours_each_class_and_names_those_present() {
    use deepscope::plot::series_color;
    let names = ["T-shirt", "Trouser", "Bag", "Boot"];
    // Classes 0, 2 and 3 occur; class 1 does not.
    let hm = Heatmap::new(vec![vec![0.0, 2.0], vec![3.0, 3.0]])
        .categories(&names)
        .size(500, 400);
    let img = pixels(&hm);
    let count = |c: usize| {
        let c = series_color(c);
        img.pixels().filter(|p| p.0 == [c.0, c.1, c.2]).count()
    };
    assert!(count(0) > 5000 && count(2) > 5000);
    assert!(count(3) > 2 * 5000, "two cells of class 3");
    // The legend has a swatch for each class present (14x14 px), none for class 1.
    assert!(count(1) == 0, "absent classes get no swatch");
    let in_legend = |c: usize| {
        let c = series_color(c);
        (350..500)
            .flat_map(|x| (0..400).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0 == [c.0, c.1, c.2])
            .count()
    };
    for c in [0, 2, 3] {
        assert!(in_legend(c) > 150, "swatch of class {c}: {}", in_legend(c));
    }
    // The legend strip (right 150 px) holds the swatches and text.
    assert!(
        dark_pixels(&img, 350, 500, 30, 110) > 50,
        "legend names drawn"
    );
    let bad = Heatmap::new(vec![vec![0.0, 4.0]]).categories(&names);
    assert!(err_text(to_png(&bad)).contains("class indices 0..4, found 4"));
    let frac = Heatmap::new(vec![vec![0.5]]).categories(&names);
    assert!(err_text(to_png(&frac)).contains("found 0.5"));
}

#[test]
fn histogram_counts_are_exact() {
    let h = Histogram::new()
        .data("", &[0.0, 0.1, 0.2, 0.9, 1.0, f64::NAN])
        .bins(2)
        .range(0.0, 1.0);
    let (edges, counts) = h.counts().unwrap();
    assert_eq!(edges, vec![0.0, 0.5, 1.0]);
    assert_eq!(counts, vec![vec![3.0, 2.0]]);
    let d = Histogram::new()
        .data("", &[0.0, 0.1, 0.2, 0.9])
        .bins(2)
        .range(0.0, 1.0)
        .density();
    let (_, dens) = d.counts().unwrap();
    // Densities integrate to one: (1.5 + 0.5) * 0.5.
    assert_eq!(dens, vec![vec![1.5, 0.5]]);
    assert!(
        err_text(Histogram::new().data("", &[1.0]).bins(0).counts()).contains("at least one bin")
    );
    assert!(err_text(to_png(&Histogram::new())).contains("at least one set"));
}

fn bowl() -> Vec<Vec<f64>> {
    (0..21)
        .map(|r| {
            (0..21)
                .map(|c| ((r - 10) * (r - 10) + (c - 10) * (c - 10)) as f64)
                .collect()
        })
        .collect()
}

#[test]
fn contour_lines_skip_the_grid_border() {
    // Values at pixel centres (c + 0.5, r + 0.5); the ring's edge vertices are dropped.
    let ring = vec![
        (4.0, 2.5),
        (4.0, 1.5),
        (3.5, 0.0),
        (2.0, 0.5),
        (2.0, 1.5),
        (2.0, 2.5),
        (2.5, 3.0),
        (4.0, 2.5),
    ];
    let runs = isoline_runs(ring.into_iter(), 4, 3);
    assert_eq!(runs, vec![vec![(2.0, 0.5), (2.0, 1.5), (2.0, 2.5)]]);
    let c = Contour::new(bowl(), -1.0, 1.0, -1.0, 1.0).levels(&[10.0, 50.0]);
    assert_eq!(c.level_values().unwrap(), vec![10.0, 50.0]);
    let line_pixels = |c: &Contour| pixels(c).pixels().filter(|p| p.0 == [40, 40, 40]).count();
    assert!(line_pixels(&c) > 100, "iso-lines drawn");
    let above = Contour::new(bowl(), -1.0, 1.0, -1.0, 1.0).levels(&[1000.0]);
    assert_eq!(
        line_pixels(&above),
        0,
        "a level above the maximum has no line"
    );
    assert!(
        err_text(to_png(&Contour::new(vec![vec![1.0]], 0.0, 1.0, 0.0, 1.0)))
            .contains("at least 2x2")
    );
    assert!(err_text(to_png(&Contour::new(
        vec![vec![1.0, 2.0], vec![3.0, 4.0]],
        1.0,
        0.0,
        0.0,
        1.0
    )))
    .contains("is empty"));
}

#[test]
fn image_grids_show_the_pixels_of_the_images() {
    // Two 2x2 gray images: a ramp and its negative, clamped as they are.
    let a = Tensor::from_slice(&[0.0f32, 0.25, 0.5, 1.0]).view([1, 1, 2, 2]);
    let x = Tensor::cat(&[&a, &(1.0 - &a)], 0);
    let grid = ImageGrid::new(&x)
        .unwrap()
        .columns(2)
        .padding(1)
        .scale(10)
        .scaling(Scaling::Clamp);
    assert_eq!(grid.size(), (1 + 2 * 21, 1 + 21));
    let img = pixels(&grid);
    let gray = |v: f64| {
        let c = Colormap::Gray.color(v);
        [c.0, c.1, c.2]
    };
    assert_eq!(img.get_pixel(1 + 5, 1 + 5).0, gray(0.0));
    assert_eq!(img.get_pixel(1 + 15, 1 + 5).0, gray(0.25));
    assert_eq!(img.get_pixel(1 + 15, 1 + 15).0, gray(1.0));
    assert_eq!(
        img.get_pixel(22 + 5, 1 + 5).0,
        gray(1.0),
        "second image starts after the padding"
    );
    assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255], "padding is white");
    // Per-image scaling stretches each image to 0..1.
    let dim = Tensor::from_slice(&[0.4f32, 0.6]).view([1, 1, 1, 2]);
    let stretched = ImageGrid::new(&dim).unwrap().scaled();
    assert_eq!(
        Vec::<f32>::try_from(stretched.flatten(0, -1)).unwrap(),
        vec![0.0, 1.0]
    );
    let signed = ImageGrid::new(&Tensor::from_slice(&[-2.0f32, 1.0]).view([1, 1, 1, 2]))
        .unwrap()
        .scaling(Scaling::Symmetric)
        .scaled();
    assert_eq!(
        Vec::<f32>::try_from(signed.flatten(0, -1)).unwrap(),
        vec![0.0, 0.75]
    );

    assert!(err_text(ImageGrid::new(&Tensor::zeros(
        [2, 4, 3, 3],
        (Kind::Float, Device::Cpu)
    )))
    .contains("4 channels"));
    assert!(err_text(ImageGrid::new(&Tensor::zeros(
        [3, 3],
        (Kind::Float, Device::Cpu)
    )))
    .contains("[N, C, H, W]"));
    let labelled = ImageGrid::new(&x).unwrap().labels(&["one"]);
    assert!(err_text(to_png(&labelled)).contains("1 labels for 2 images"));
}

#[test]
fn overlays_blend_the_map_over_the_image_with_alpha() {
    let image = Tensor::full([3, 4, 4], 1.0, (Kind::Float, Device::Cpu));
    let heat = Tensor::from_slice(&[0.0f32, 1.0]).view([1, 2]);
    let o = Overlay::new(&image, &heat)
        .unwrap()
        .alpha(0.5)
        .colormap(Colormap::Gray)
        .no_colorbar();
    let img = pixels(&o);
    assert_eq!(img.dimensions(), (4, 4));
    // Left edge: heat 0 (black) half over white = 128; right edge: white over white.
    assert_eq!(img.get_pixel(0, 0).0, [128, 128, 128]);
    assert_eq!(img.get_pixel(3, 2).0, [255, 255, 255]);
    assert!(err_text(Overlay::new(
        &image,
        &Tensor::zeros([2, 2, 2], (Kind::Float, Device::Cpu))
    ))
    .contains("heat map: expected [h, w]"));
    assert!(err_text(Overlay::new(&image.get(0), &heat)).contains("image: expected [C, H, W]"));
}

/// The default overlay has a colour bar whose ends are the map's extremes
/// (the hot colormap's black at the bottom, white at the top), a title
/// wrapped to the figure's width above the image, and takes maps that are
/// transposed (not contiguous) or flat.
#[test]
fn overlays_carry_a_colour_bar_and_a_wrapped_title() {
    let image = Tensor::zeros([1, 32, 32], (Kind::Float, Device::Cpu));
    let heat = Tensor::linspace(-2.0, 3.0, 64, (Kind::Float, Device::Cpu)).view([8, 8]);
    let plain = Overlay::new(&image, &heat).unwrap().scale(4).no_colorbar();
    assert_eq!(pixels(&plain).dimensions(), (128, 128));
    let title = "change in the probability of the correct class when the square covers each pixel";
    let o = Overlay::new(&image, &heat.tr())
        .unwrap()
        .scale(4)
        .alpha(1.0)
        .title(title)
        .colorbar_label("ΔP");
    let img = pixels(&o);
    let (w, h) = img.dimensions();
    assert_eq!(w, 128 + 84, "the bar adds its width");
    // Below the title the figure is as tall as the bar needs (170 px), more
    // than the 128 px image.
    let title_h = h - 170;
    assert!(
        title_h >= 6 + 2 * 18,
        "room for a title wrapped to two lines: {title_h}"
    );
    // The image starts below the title: its top-left pixel is the map's
    // value there (transposed: heat[0][0] = -2, the minimum: black).
    assert_eq!(img.get_pixel(0, title_h).0, [0, 0, 0]);
    assert_eq!(
        img.get_pixel(0, title_h - 1).0,
        [255, 255, 255],
        "above it, the title's band"
    );
    // The bar's column runs from near white at its top to near black.
    let brightness: Vec<u32> = (title_h..h)
        .map(|y| {
            img.get_pixel(128 + 84 - 14, y)
                .0
                .iter()
                .map(|&c| c as u32)
                .sum()
        })
        .filter(|&b| b != 3 * 255)
        .collect();
    assert!(
        brightness.len() > 60,
        "a bar at least 60 px tall: {}",
        brightness.len()
    );
    assert!(
        brightness[0] > 700 && brightness[brightness.len() - 1] < 40,
        "{brightness:?}"
    );
    let flat = Overlay::new(&image, &Tensor::ones([4, 4], (Kind::Float, Device::Cpu))).unwrap();
    assert!(to_png(&flat).is_ok());
}

#[test]
fn a_colour_bar_label_wraps_inside_its_bar_instead_of_running_off_the_figure() {
    // A scatter coloured by a value whose name is longer than the 90 px
    // bar area: the label wraps to lines within the bar's columns.
    let points: Vec<(f64, f64)> = (0..20).map(|i| (i as f64, (i * i) as f64)).collect();
    let values: Vec<f64> = (0..20).map(|i| i as f64).collect();
    let label = "log2(1 + start epoch) of each point";
    let s = Scatter::new(points)
        .color_by(&values, Colormap::Viridis, label)
        .size(640, 400);
    let img = pixels(&s);
    let (w, _) = img.dimensions();
    let dark =
        |x: u32, y: u32| img.get_pixel(x, y).0.iter().map(|&c| c as u32).sum::<u32>() < 3 * 160;
    let inked_rows: Vec<u32> = (0..60)
        .filter(|&y| (w - 90..w).any(|x| dark(x, y)))
        .collect();
    // Text on at least three separated bands of rows (three lines) above
    // the bar, which starts lower to make room.
    let bands = inked_rows.windows(2).filter(|p| p[1] > p[0] + 1).count() + 1;
    assert!(bands >= 3, "label lines: {bands} ({inked_rows:?})");
    // Nothing runs into the figure's last columns.
    assert!(
        (0..60).all(|y| (w - 3..w).all(|x| !dark(x, y))),
        "the label reaches the right edge"
    );
}

#[test]
fn an_image_extent_puts_row_zero_at_the_top_and_a_scan_extent_at_the_bottom() {
    // Row 0 low (dark in viridis), row 1 high (yellow).
    let values = vec![vec![0.0, 0.0], vec![1.0, 1.0]];
    let brightness = |h: &Heatmap, y: u32| {
        let img = pixels(h);
        img.get_pixel(300, y)
            .0
            .iter()
            .map(|&c| c as u32)
            .sum::<u32>()
    };
    let image = Heatmap::new(values.clone()).image_extent(0.0, 28.0, 0.0, 28.0);
    let scan = Heatmap::new(values.clone()).extent(0.0, 28.0, 0.0, 28.0);
    let grid = Heatmap::new(values);
    for (name, h, top_dark) in [
        ("image", &image, true),
        ("scan", &scan, false),
        ("grid", &grid, true),
    ] {
        let (top, bottom) = (brightness(h, 120), brightness(h, 260));
        assert_eq!(top < bottom, top_dark, "{name}: top {top}, bottom {bottom}");
    }
}

#[test]
fn column_names_wider_than_their_columns_are_written_downwards() {
    let names = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ];
    let short = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
    let values: Vec<Vec<f64>> = (0..10)
        .map(|i| (0..10).map(|j| (i + j) as f64).collect())
        .collect();
    // The height of the ink under the plot: the rows below the lowest cell
    // (found from the left column of cells) that hold dark pixels, in the
    // columns of the cells.
    let label_ink_rows = |labels: &[&str]| {
        let img = pixels(&Heatmap::new(values.clone()).labels(labels, labels));
        let (w, h) = img.dimensions();
        let coloured = |x: u32, y: u32| {
            let p = img.get_pixel(x, y).0;
            p.iter().max().unwrap() - p.iter().min().unwrap() > 40
        };
        let x_mid = w / 2 - 60;
        let plot_bottom = (0..h).rev().find(|&y| coloured(x_mid, y)).unwrap();
        (plot_bottom + 8..h)
            .filter(|&y| {
                (150..w - 120)
                    .any(|x| img.get_pixel(x, y).0.iter().map(|&c| c as u32).sum::<u32>() < 300)
            })
            .count()
    };
    let (long, shortest) = (label_ink_rows(&names), label_ink_rows(&short));
    assert!(
        long >= 45,
        "long names take the height of 'T-shirt/top': {long} rows"
    );
    assert!(
        shortest <= 20,
        "short names stay on one line: {shortest} rows"
    );
}

#[test]
fn a_title_longer_than_the_figure_wraps_to_lines_inside_it() {
    let title = "denoising (sigma 25/255): PSNR of the output and of the averaged output against the clean image, and against the noisy observation";
    let p = LinePlot::new()
        .title(title)
        .line("a", vec![(0.0, 1.0), (1.0, 2.0)]);
    let img = pixels(&p);
    let (w, _) = img.dimensions();
    let dark = |x: u32, y: u32| img.get_pixel(x, y).0.iter().all(|&c| c < 120);
    // Rows of the title band (above the plot's first gridline) with ink.
    let inked: Vec<u32> = (0..80).filter(|&y| (0..w).any(|x| dark(x, y))).collect();
    let lines = inked.windows(2).filter(|p| p[1] > p[0] + 1).count() + 1;
    assert!(lines >= 3, "the title takes three lines: {inked:?}");
    // Nothing is cut at either side: the outermost columns stay white.
    assert!((0..80).all(|y| !dark(0, y) && !dark(1, y) && !dark(w - 1, y) && !dark(w - 2, y)));
}

#[test]
fn tables_render_as_escaped_html_and_aligned_text() {
    let t = Table::new(&["claim", "paper", "ours"])
        .title("Yosinski")
        .row(&["AnB+ > baseB", "<0.64>", "0.63"])
        .unwrap();
    let html = t.to_html();
    assert!(
        html.contains("<caption>Yosinski</caption>")
            && html.contains("<td>AnB+ &gt; baseB</td>")
            && html.contains("&lt;0.64&gt;")
    );
    let text = t.to_string();
    assert_eq!(text.lines().nth(1).unwrap(), "claim         paper   ours");
    assert!(err_text(Table::new(&["a", "b"]).row(&["1"]))
        .contains("1 cells, the table has 2 columns (a, b)"));
    let bundle = t.mime_bundle().unwrap();
    assert_eq!(bundle.get("text/html"), Some(html.as_str()));
}

#[test]
fn figures_show_as_png_bundles_in_evcxr_format() {
    let fig = BarChart::new(&["a", "b"]).series("s", &[1.0, 2.0]);
    let bundle: MimeBundle = fig.mime_bundle().unwrap();
    let png = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        bundle.get("image/png").unwrap(),
    )
    .unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(bundle.get("text/plain"), Some("<bar chart, 640x400 px>"));
    let wire = bundle.to_evcxr();
    assert!(wire.starts_with("EVCXR_BEGIN_CONTENT image/png\n"));
    assert!(wire.contains("\nEVCXR_END_CONTENT\nEVCXR_BEGIN_CONTENT text/plain\n<bar chart, 640x400 px>\nEVCXR_END_CONTENT\n"));
    display(&fig).unwrap();
    assert!(
        err_text(BarChart::new(&["a"]).series("s", &[1.0, 2.0]).mime_bundle())
            .contains("2 values for 1 categories")
    );
}

#[test]
fn saving_picks_the_format_from_the_extension_and_bad_values_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fig = Scatter::new([(0.0, 1.0), (1.0, 2.0)]).classes(&[0, 1], &["a", "b"]);
    save(&fig, dir.path().join("s.png")).unwrap();
    save(&fig, dir.path().join("s.svg")).unwrap();
    assert!(image::open(dir.path().join("s.png")).is_ok());
    assert!(std::fs::read_to_string(dir.path().join("s.svg"))
        .unwrap()
        .contains("<svg"));
    assert!(err_text(save(&fig, dir.path().join("s.jpg"))).contains(".png or .svg"));
    assert!(
        err_text(to_png(&LinePlot::new().values("x", &[1.0, f64::INFINITY])))
            .contains("infinite values")
    );
    assert!(
        err_text(to_png(&LinePlot::new().log_y().values("x", &[-1.0, 0.0])))
            .contains("no positive finite values for a log axis")
    );
    assert!(err_text(to_png(&LinePlot::new())).contains("at least one point"));
    assert!(
        err_text(to_png(&Scatter::new([(0.0, 0.0)]).classes(&[0, 1], &[])))
            .contains("2 class labels for 1 points")
    );
    assert!(
        err_text(to_png(&LinePlot::new().values("x", &[1.0]).size(0, 10)))
            .contains("outside 1..=16384")
    );
    // NaN splits a curve instead of failing.
    assert!(to_png(&LinePlot::new().values("x", &[1.0, f64::NAN, 2.0, 3.0])).is_ok());
}

#[test]
fn panels_lay_figures_side_by_side_under_a_caption() {
    let a = LinePlot::new().size(300, 200).values("a", &[1.0, 2.0]);
    let b = LinePlot::new().size(200, 150).values("b", &[2.0, 1.0]);
    let row = Panels::new(vec![a.clone(), b.clone()]).unwrap();
    assert_eq!(
        row.size(),
        (600, 200),
        "each cell as large as the largest figure"
    );
    let captioned = row.clone().caption("step 3/10");
    assert_eq!(captioned.size(), (600, 230));
    let grid = Panels::new(vec![a.clone(), b.clone(), a.clone()])
        .unwrap()
        .columns(2)
        .unwrap();
    assert_eq!(grid.size(), (600, 400));
    // The caption strip has text; an uncaptioned figure's top strip is blank
    // above the plot's own title area.
    let img = pixels(&captioned);
    assert!(dark_pixels(&img, 0, 300, 0, 28) > 20);
    // Each panel drew its own plot: dark pixels in both halves.
    assert!(dark_pixels(&img, 20, 280, 60, 220) > 100);
    assert!(dark_pixels(&img, 320, 580, 60, 220) > 100);
    assert!(err_text(Panels::<LinePlot>::new(vec![])).contains("at least one"));
    assert!(err_text(row.columns(0)).contains("at least 1"));
}

#[test]
fn display_messages_have_the_wire_form_the_kernel_reads() {
    use deepscope::display::ChannelMessage;
    let msg = ChannelMessage::UpdateDisplayData {
        data: Table::new(&["k"]).mime_bundle().unwrap().to_data(),
        metadata: Default::default(),
        display_id: "d1".into(),
    };
    let json: serde_json::Value = serde_json::to_value(&msg).unwrap();
    assert_eq!(json["op"], "update_display_data");
    assert_eq!(json["display_id"], "d1");
    assert!(json["data"]["text/html"]
        .as_str()
        .unwrap()
        .contains("<table"));
    let back: ChannelMessage = serde_json::from_value(json).unwrap();
    assert_eq!(back, msg);
    let clear: ChannelMessage = serde_json::from_str(r#"{"op":"clear_output"}"#).unwrap();
    assert_eq!(clear, ChannelMessage::ClearOutput { wait: false });
    assert!(serde_json::from_str::<ChannelMessage>(r#"{"op":"explode"}"#).is_err());
}

#[test]
fn scatter_coloured_by_value_draws_a_colour_bar_and_checks_lengths() {
    use deepscope::plot::{to_png, Colormap, Scatter};
    let pts = vec![(0.0, 0.0), (1.0, 1.0), (2.0, 0.5)];
    let fig = Scatter::new(pts.clone()).color_by(&[0.0, 1.0, 2.0], Colormap::Viridis, "epoch");
    let png = to_png(&fig).unwrap();
    let img = image::load_from_memory(&png).unwrap().to_rgb8();
    // The colour bar sits at the right edge: Viridis's yellow top and dark bottom.
    let (w, h) = img.dimensions();
    let column: Vec<_> = (0..h).map(|y| img.get_pixel(w - 20, y).0).collect();
    assert!(
        column.iter().any(|p| p[0] > 200 && p[1] > 200 && p[2] < 80),
        "yellow end of the bar"
    );
    assert!(
        column.iter().any(|p| p[0] < 90 && p[2] > 60 && p[1] < 60),
        "dark purple end of the bar"
    );
    let bad = Scatter::new(pts).color_by(&[0.0], Colormap::Viridis, "epoch");
    assert!(to_png(&bad)
        .unwrap_err()
        .to_string()
        .contains("1 colour values for 3 points"));
}

/// The bounding box `(x0, x1, y0, y1)` of the legend's border: the
/// horizontal runs of at least 40 pixels in its colour, RGB(200, 200, 200)
/// (antialiased text may hit that grey in single pixels, never in runs).
fn legend_box(img: &image::RgbImage) -> Option<(u32, u32, u32, u32)> {
    let mut runs = Vec::new();
    for y in 0..img.height() {
        let mut start = None;
        for x in 0..=img.width() {
            let on = x < img.width() && img.get_pixel(x, y).0 == [200, 200, 200];
            match (on, start) {
                (true, None) => start = Some(x),
                (false, Some(s)) => {
                    if x - s >= 40 {
                        runs.push((s, x - 1, y));
                    }
                    start = None;
                }
                _ => {}
            }
        }
    }
    let x0 = runs.iter().map(|r| r.0).min()?;
    let x1 = runs.iter().map(|r| r.1).max()?;
    let y0 = runs.iter().map(|r| r.2).min()?;
    let y1 = runs.iter().map(|r| r.2).max()?;
    Some((x0, x1, y0, y1))
}

/// Coloured (not grey) pixels inside the legend box, right of its swatch
/// column: a curve or bar under the legend shows through its 85% white.
fn colour_under_legend(img: &image::RgbImage) -> usize {
    let (x0, x1, y0, y1) = legend_box(img).expect("a legend is drawn");
    let mut n = 0;
    for y in y0 + 1..y1 {
        for x in x0 + 34..x1 {
            let [r, g, b] = img.get_pixel(x, y).0;
            let spread = r.max(g).max(b) - r.min(g).min(b);
            if spread > 12 {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn legends_go_where_the_data_is_not() {
    // A rising curve fills the upper right corner, where legends used to
    // go: the legend moves to a free corner.
    let rising: Vec<f64> = (0..50).map(|i| i as f64).collect();
    let fig = LinePlot::new()
        .title("rising")
        .values("a curve with a long name", &rising)
        .values(
            "another",
            &rising.iter().map(|v| v * 0.9).collect::<Vec<_>>(),
        );
    let img = pixels(&fig);
    let (x0, _, y0, _) = legend_box(&img).unwrap();
    assert!(x0 < 200 && y0 < 100, "upper left, got ({x0}, {y0})");
    assert_eq!(colour_under_legend(&img), 0);

    // A zigzag through every corner: room is made above the data.
    let zigzag: Vec<f64> = (0..40)
        .map(|i| if i % 2 == 0 { 0.0 } else { 10.0 })
        .collect();
    let img = pixels(&LinePlot::new().values("zigzag", &zigzag));
    assert_eq!(colour_under_legend(&img), 0);

    // Bars as tall as the chart in every category: the same.
    let bars = BarChart::new(&["a", "b", "c", "d"])
        .series("first", &[10.0, 9.0, 10.0, 9.5])
        .series("second", &[9.0, 10.0, 9.5, 10.0]);
    assert_eq!(colour_under_legend(&pixels(&bars)), 0);

    // Histograms with the mass on the right: the legend goes left.
    let right: Vec<f64> = (0..500).map(|i| 5.0 + (i % 50) as f64 / 10.0).collect();
    let hist = Histogram::new()
        .data("right-heavy", &right)
        .data("also", &right)
        .range(0.0, 10.0)
        .bins(20);
    let img = pixels(&hist);
    assert_eq!(colour_under_legend(&img), 0);
}

#[test]
fn dots_of_single_runs_widen_the_axes_and_are_drawn_in_their_line_colour() {
    use plotters::style::{Palette, Palette99};
    // The line (the mean) stays at 1; the runs reach 0 and 10.
    let fig = LinePlot::new().size(400, 300).line_with_dots(
        "mean of runs",
        [(1.0, 1.0), (2.0, 1.0)],
        [(1.0, 0.0), (2.0, 10.0)],
    );
    let img = pixels(&fig);
    let (r, g, b) = Palette99::COLORS[0];
    // Drawn at 55% opacity on white.
    let blend = |c: u8| (0.55 * c as f64 + 0.45 * 255.0).round();
    let target = [blend(r), blend(g), blend(b)];
    let near = |p: &image::Rgb<u8>| {
        p.0.iter()
            .zip(target)
            .all(|(&c, t)| (c as f64 - t).abs() <= 12.0)
    };
    let rows: Vec<u32> = img
        .enumerate_pixels()
        .filter(|(_, _, p)| near(p))
        .map(|(_, y, _)| y)
        .collect();
    assert!(!rows.is_empty(), "no dot in the series colour");
    let (top, bottom) = (*rows.iter().min().unwrap(), *rows.iter().max().unwrap());
    // One dot at the top of the plot area (y = 10), one at the bottom (y = 0).
    assert!(
        bottom - top > 150,
        "dots at {top}..{bottom}: the axis did not take them in"
    );
    // Only dots: a plot without them has no pixel of that colour.
    let plain = pixels(
        &LinePlot::new()
            .size(400, 300)
            .line("mean of runs", [(1.0, 1.0), (2.0, 1.0)]),
    );
    assert_eq!(
        plain.enumerate_pixels().filter(|(_, _, p)| near(p)).count(),
        0
    );
    let bad = LinePlot::new().line_with_dots("x", [(0.0, 1.0)], [(0.0, f64::INFINITY)]);
    assert!(err_text(to_png(&bad)).contains("infinite"));
}

#[test]
fn a_tall_legend_goes_beside_the_plot_instead_of_stretching_the_axis() {
    use plotters::style::{Palette, Palette99};
    // Seven curves through every corner, as the accuracy panels of the
    // transfer notebook: a band above the data would take most of the height.
    let mut fig = LinePlot::new().size(640, 300).title("seven probes");
    for k in 0..7 {
        let zigzag: Vec<f64> = (0..20)
            .map(|i| 20.0 + 80.0 * (((i + k) % 2) as f64))
            .collect();
        fig = fig.values(format!("features of layer {k}"), &zigzag);
    }
    let img = pixels(&fig);
    let (x0, _, _, _) = legend_box(&img).expect("a legend");
    // Every pixel of the last series drawn (on top) lies left of the legend.
    let (r, g, b) = Palette99::COLORS[6];
    let rightmost = img
        .enumerate_pixels()
        .filter(|(_, _, p)| p.0 == [r, g, b])
        .filter(|(x, _, _)| *x < x0)
        .map(|(x, _, _)| x)
        .max()
        .unwrap();
    assert!(
        rightmost + 10 < x0,
        "data up to x = {rightmost}, legend from {x0}"
    );
    assert_eq!(colour_under_legend(&img), 0);
    // The axis ends near the data's maximum (100), not far above it: the
    // topmost pixel of the data is close to the plot's top.
    let top = img
        .enumerate_pixels()
        .filter(|(x, _, p)| *x < x0 && p.0 == [r, g, b])
        .map(|(_, y, _)| y)
        .min()
        .unwrap();
    assert!(
        top < 60,
        "the data's top at y = {top}: the axis was stretched"
    );
}

#[test]
fn long_series_names_wrap_beside_the_plot_instead_of_squeezing_it() {
    // Three curves through every corner, named as the transfer notebook's
    // panels name them: the legend goes beside the plot.
    let names = [
        "trained from scratch on the same examples, 80 steps",
        "frozen C1-FC7 with FCa and FCb trained on the new task",
        "every layer fine-tuned from the source net",
    ];
    let mut fig = LinePlot::new().size(640, 300).title("three long names");
    for (k, name) in names.iter().enumerate() {
        let zigzag: Vec<f64> = (0..20)
            .map(|i| 20.0 + 80.0 * (((i + k) % 2) as f64))
            .collect();
        fig = fig.values(*name, &zigzag);
    }
    let img = pixels(&fig);
    let (x0, x1, y0, y1) = legend_box(&img).expect("a legend");
    // Unwrapped, the longest name alone took 44 + 55 * 7.2 = 440 px: the
    // plot kept under a third of the figure.
    assert!(x0 >= 400, "the legend starts at x = {x0} of 640");
    assert!(x1 < 640, "the legend is cut at the right edge: {x1}");
    // More lines than names: 19 px a line, 10 px of padding.
    let lines = (y1 - y0 - 10) / 19;
    assert!(lines > 3, "{lines} lines for 3 long names");
}
