//! Receptive fields against the support of the gradient, and the streaming
//! top-k against sorting every activation of a small dataset.

mod common;

use common::err_text;
use deepscope::model::{Conv, Model, ModelBuilder};
use deepscope::plot::{to_png, Render};
use deepscope::rng::with_torch_seed;
use deepscope::viz::{top_k, Deconvnet, ReceptiveField, Target};
use tch::{Device, Kind, Tensor};

#[test]
fn receptive_field_of_a_zfnet_stem_by_hand() {
    let model = ModelBuilder::new(&[1, 64, 64])
        .conv("conv1", "c1", 4, Conv::new(7).stride(2).padding(1))
        .relu("relu1")
        .max_pool_with("pool1", 3, 2, 1, false)
        .lrn("norm1", 5, 1e-4, 0.75, 2.0)
        .conv("conv2", "c2", 4, Conv::new(5).stride(2))
        .build(Device::Cpu)
        .unwrap();
    let rf = |l: &str| {
        let f = ReceptiveField::of(&model, l).unwrap();
        (f.size, f.jump, f.start)
    };
    assert_eq!(rf("conv1"), ([7, 7], [2, 2], [-1, -1]));
    assert_eq!(rf("relu1"), rf("conv1"));
    assert_eq!(rf("pool1"), ([11, 11], [4, 4], [-3, -3]));
    assert_eq!(rf("conv2"), ([27, 27], [8, 8], [-3, -3]));
    // Unit (0, 0) of conv2 starts in the padding; its pixels start at 0.
    let f = ReceptiveField::of(&model, "conv2").unwrap();
    let b = f.pixels(0, 0);
    assert_eq!((b.top, b.left, b.bottom, b.right), (0, 0, 23, 23));
}

/// Positive weights and inputs: every pixel a unit sees has a non-zero
/// gradient, so the gradient's support is exactly the (clipped) field.
#[test]
fn receptive_field_is_the_support_of_the_gradient() {
    let model: Model = ModelBuilder::new(&[1, 40, 37])
        .conv("a", "a", 2, Conv::new(5).stride(2).padding(2))
        .relu("ra")
        .avg_pool("pool", 3, 2)
        .conv("b", "b", 2, Conv::new(3).padding(1))
        .build(Device::Cpu)
        .unwrap();
    {
        let _guard = tch::no_grad_guard();
        for (_, t) in model.named_parameters() {
            let mut t = t.shallow_clone();
            let _ = t.fill_(0.1);
        }
    }
    let rf = ReceptiveField::of(&model, "b").unwrap();
    let out = model
        .forward_to(
            &Tensor::ones([1, 1, 40, 37], (Kind::Float, Device::Cpu)),
            "b",
        )
        .unwrap();
    let (oh, ow) = (out.size()[2], out.size()[3]);
    for (y, x) in [(0, 0), (3, 4), (oh - 1, ow - 1), (oh / 2, 0)] {
        let input =
            Tensor::ones([1, 1, 40, 37], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let unit = model
            .forward_to(&input, "b")
            .unwrap()
            .get(0)
            .get(0)
            .get(y)
            .get(x);
        let grad = Tensor::run_backward(&[&unit], &[&input], false, false)
            .remove(0)
            .get(0)
            .get(0);
        let nz = grad.gt(0.0).nonzero();
        let rows = nz.select(1, 0);
        let cols = nz.select(1, 1);
        let b = rf.pixels(y, x);
        let found = (
            rows.min().int64_value(&[]),
            cols.min().int64_value(&[]),
            rows.max().int64_value(&[]),
            cols.max().int64_value(&[]),
        );
        assert_eq!(found, (b.top, b.left, b.bottom, b.right), "unit ({y}, {x})");
    }
}

fn small_net() -> Model {
    ModelBuilder::new(&[1, 12, 12])
        .seed(8)
        .conv("conv", "c", 5, Conv::new(3).padding(1))
        .relu("relu")
        .max_pool("pool", 2, 2)
        .flatten("flat")
        .linear("fc", "fc", 3)
        .build(Device::Cpu)
        .unwrap()
}

#[test]
fn streaming_top_k_equals_sorting_everything() {
    let model = small_net();
    let images = with_torch_seed(31, || {
        Tensor::randn([37, 1, 12, 12], (Kind::Float, Device::Cpu))
    });
    let k = 9;
    let streamed = top_k(&model, &images, "pool", k, 8).unwrap();
    let whole = top_k(&model, &images, "pool", k, 37).unwrap();
    let all = model.forward_to(&images, "pool").unwrap();
    for c in 0..5i64 {
        let per_image = all.select(1, c).reshape([37, -1]);
        let (best, place) = per_image.max_dim(1, false);
        let best = Vec::<f64>::try_from(best.to_kind(Kind::Double)).unwrap();
        let place = Vec::<i64>::try_from(place).unwrap();
        let mut order: Vec<usize> = (0..37).collect();
        order.sort_by(|&a, &b| best[b].total_cmp(&best[a]).then(a.cmp(&b)));
        let got = &streamed.maps[c as usize];
        assert_eq!(got.len(), k);
        for (rank, t) in got.iter().enumerate() {
            let i = order[rank];
            assert_eq!(t.image, i, "map {c} rank {rank}");
            assert!((t.value - best[i]).abs() < 1e-6);
            assert_eq!(t.position, (place[i] / 6, place[i] % 6));
            assert_eq!(t.pixels, streamed.field.pixels(t.position.0, t.position.1));
        }
        assert_eq!(got, &whole.maps[c as usize], "batching changes nothing");
    }
}

#[test]
fn top_k_refuses_what_it_cannot_do() {
    let model = small_net();
    let images = Tensor::zeros([4, 1, 12, 12], (Kind::Float, Device::Cpu));
    assert!(err_text(top_k(&model, &images, "fc", 9, 2)).contains("receptive field"));
    assert!(err_text(top_k(&model, &images, "pool", 0, 2)).contains("k >= 1"));
    assert!(err_text(top_k(&model, &images, "nope", 9, 2)).contains("nope"));
    let wrong = Tensor::zeros([4, 3, 12, 12], (Kind::Float, Device::Cpu));
    assert!(!err_text(top_k(&model, &wrong, "pool", 9, 2)).is_empty());
}

/// A stem whose deeper fields hang over the border: conv 5x5 (pad 2),
/// pool 3/2 (pad 1), conv 3x3 (pad 1): field 11x11, jump 2, start -3.
fn stem() -> Model {
    ModelBuilder::new(&[1, 16, 16])
        .seed(5)
        .conv("c1", "c1", 3, Conv::new(5).padding(2))
        .relu("r1")
        .max_pool_with("p1", 3, 2, 1, false)
        .conv("c2", "c2", 4, Conv::new(3).padding(1))
        .relu("r2")
        .build(Device::Cpu)
        .unwrap()
}

#[test]
fn patches_are_the_winners_boxes_in_field_sized_crops() {
    let model = stem();
    let images = with_torch_seed(3, || {
        Tensor::rand([11, 1, 16, 16], (Kind::Float, Device::Cpu))
    });
    let top = top_k(&model, &images, "r2", 4, 5).unwrap();
    assert_eq!(top.field.size, [11, 11]);
    assert_eq!(top.crop_size(&images).unwrap(), [11, 11]);
    for c in 0..4 {
        let patches = top.patches(&images, c).unwrap();
        assert_eq!(patches.size(), [4, 1, 11, 11]);
        for (i, w) in top.maps[c as usize].iter().enumerate() {
            let b = w.pixels;
            let (h, wd) = (b.bottom - b.top + 1, b.right - b.left + 1);
            let want = images
                .get(w.image as i64)
                .narrow(1, b.top, h)
                .narrow(2, b.left, wd);
            let crop = patches.get(i as i64);
            // The box's pixels are in the crop (top-left, or bottom-right where the
            // top or left border cut it) and nothing else is.
            let nominal = top.field.start[0] + w.position.0 * top.field.jump[0];
            let oy = if b.top > nominal { 11 - h } else { 0 };
            let nominal = top.field.start[1] + w.position.1 * top.field.jump[1];
            let ox = if b.left > nominal { 11 - wd } else { 0 };
            let got = crop.narrow(1, oy, h).narrow(2, ox, wd);
            assert_eq!(
                got.to_kind(Kind::Double)
                    .sum(Kind::Double)
                    .double_value(&[]),
                want.to_kind(Kind::Double)
                    .sum(Kind::Double)
                    .double_value(&[])
            );
            assert!(got.equal(&want), "map {c} winner {i}");
            let total = crop.abs().sum(Kind::Double).double_value(&[]);
            let inside = got.abs().sum(Kind::Double).double_value(&[]);
            assert!((total - inside).abs() < 1e-9, "zero outside the box");
        }
    }
}

#[test]
fn projections_lose_nothing_to_the_crop() {
    let model = stem();
    let images = with_torch_seed(4, || {
        Tensor::rand([9, 1, 16, 16], (Kind::Float, Device::Cpu))
    });
    let top = top_k(&model, &images, "r2", 3, 4).unwrap();
    let deconvnet = Deconvnet::new(&model);
    let mut checked = 0;
    for c in 0..4 {
        let cropped = top.projections(&deconvnet, &images, c).unwrap();
        assert_eq!(cropped.size(), [3, 1, 11, 11]);
        for (i, w) in top.maps[c as usize].iter().enumerate() {
            let one = images.narrow(0, w.image as i64, 1);
            let target = Target {
                image: 0,
                channel: c,
                position: Some(w.position),
            };
            let full = deconvnet.project(&one, "r2", &[target]).unwrap();
            // A projection lives inside the unit's receptive field, so the crop
            // keeps all of it.
            if w.value <= 0.0 {
                continue; // a map that never fires projects nothing
            }
            let whole = full.abs().sum(Kind::Double).double_value(&[]);
            let kept = cropped
                .get(i as i64)
                .abs()
                .sum(Kind::Double)
                .double_value(&[]);
            assert!(whole > 0.0, "map {c} winner {i} projects to something");
            assert!(
                (whole - kept).abs() <= 1e-6 * whole,
                "map {c} winner {i}: {whole} vs {kept}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} winners fired");
}

#[test]
fn figure_pairs_projections_with_patches_and_checks_its_input() {
    let model = stem();
    let images = with_torch_seed(6, || {
        Tensor::rand([10, 1, 16, 16], (Kind::Float, Device::Cpu))
    });
    let top = top_k(&model, &images, "r2", 9, 10).unwrap();
    let fig = top.figure(&model, &images, &[0, 2, 3], 2).unwrap();
    assert_eq!(fig.panels().len(), 6);
    let (w, h) = fig.size();
    let (pw, ph) = fig.panels()[0].size();
    assert_eq!((w, h), (4 * pw, 2 * ph), "two maps (four grids) per row");
    assert!(to_png(&fig).unwrap().len() > 100);
    assert!(err_text(top.figure(&model, &images, &[7], 2)).contains("out of range"));
    assert!(err_text(top.figure(&model, &images, &[], 2)).contains("at least one"));
    let fewer = images.narrow(0, 0, 3);
    assert!(err_text(top.patches(&fewer, 0)).contains("pass the images top_k streamed"));
}

#[test]
fn strongest_maps_and_class_purity_follow_their_definitions() {
    let model = stem();
    let images = with_torch_seed(8, || {
        Tensor::rand([12, 1, 16, 16], (Kind::Float, Device::Cpu))
    });
    let top = top_k(&model, &images, "r2", 3, 12).unwrap();
    let order = top.strongest_maps(4);
    assert_eq!(order.len(), 4);
    let firsts: Vec<f64> = order
        .iter()
        .map(|&c| top.maps[c as usize][0].value)
        .collect();
    assert!(firsts.windows(2).all(|w| w[0] >= w[1]), "{firsts:?}");
    assert_eq!(top.strongest_maps(2), order[..2]);

    // All images of one class: every firing map is pure.
    let one = Tensor::zeros([12], (Kind::Int64, Device::Cpu));
    for p in top.class_purity(&one).unwrap().into_iter().flatten() {
        assert_eq!(p, 1.0);
    }
    // Each image its own class: purity 1/k.
    let own = Tensor::arange(12, (Kind::Int64, Device::Cpu));
    let purity = top.class_purity(&own).unwrap();
    for (c, p) in purity.iter().enumerate() {
        let fires = top.maps[c].iter().any(|w| w.value > 0.0);
        assert_eq!(p.is_some(), fires, "map {c}");
        if let Some(p) = p {
            assert!((p - 1.0 / 3.0).abs() < 1e-12);
        }
    }
    assert!(purity.iter().any(Option::is_some));
    // Labels by hand: image i has class i % 2.
    let parity = Tensor::arange(12, (Kind::Int64, Device::Cpu)).remainder(2);
    for (c, p) in top.class_purity(&parity).unwrap().iter().enumerate() {
        if let Some(p) = p {
            let even = top.maps[c].iter().filter(|w| w.image % 2 == 0).count();
            assert_eq!(*p, even.max(3 - even) as f64 / 3.0);
        }
    }
    assert!(err_text(top.class_purity(&own.narrow(0, 0, 2))).contains("no label"));
    assert!(err_text(top.class_purity(&own.to_kind(Kind::Float))).contains("class indices"));
}
