//! Transforms: exact values on small images, invariants, and agreement with
//! PyTorch's own definitions where there is one.

mod common;

use common::err_text;
use deepscope::data::transforms::*;
use deepscope::rng::seeded;
use tch::{Device, Kind, Tensor};

fn ramp(n: i64, c: i64, h: i64, w: i64) -> Tensor {
    Tensor::arange(n * c * h * w, (Kind::Float, Device::Cpu)).view([n, c, h, w])
}

#[test]
fn normalize_fit_standardises_each_channel() {
    let x = Tensor::randn([16, 3, 5, 5], (Kind::Float, Device::Cpu))
        * Tensor::from_slice(&[1.0f32, 4.0, 0.5]).view([1, 3, 1, 1])
        + Tensor::from_slice(&[0.0f32, 10.0, -3.0]).view([1, 3, 1, 1]);
    let norm = Normalize::fit(&x).unwrap();
    let y = norm.apply(&x, &mut seeded(0)).unwrap();
    let mean =
        Vec::<f32>::try_from(y.mean_dim([0i64, 2, 3].as_slice(), false, Kind::Float)).unwrap();
    let std = Vec::<f32>::try_from(y.std_dim([0i64, 2, 3].as_slice(), false, false)).unwrap();
    for c in 0..3 {
        assert!(
            mean[c].abs() < 1e-5 && (std[c] - 1.0).abs() < 1e-4,
            "{mean:?} {std:?}"
        );
    }
    let n = Normalize::new(&[0.5], &[0.25]).unwrap();
    let v = n
        .apply(
            &Tensor::full([1, 1, 1, 1], 1.0, (Kind::Float, Device::Cpu)),
            &mut seeded(0),
        )
        .unwrap();
    assert_eq!(f32::try_from(v.flatten(0, -1).get(0)).unwrap(), 2.0);
    assert!(
        err_text(n.apply(&x, &mut seeded(0))).contains("1 channels (as Normalize was built for)")
    );
    assert!(err_text(Normalize::new(&[0.0], &[0.0])).contains("positive finite"));
    assert!(err_text(Normalize::new(&[0.0, 1.0], &[1.0])).contains("2 means and 1 stds"));
}

#[test]
fn resize_keeps_constants_and_matches_interpolate_semantics() {
    let c = Tensor::full([2, 3, 7, 9], 0.3, (Kind::Float, Device::Cpu));
    for (h, w) in [(14, 18), (3, 4), (7, 9)] {
        let y = Resize {
            height: h,
            width: w,
        }
        .apply(&c, &mut seeded(0))
        .unwrap();
        assert_eq!(y.size(), vec![2, 3, h, w]);
        assert!((y - 0.3).abs().max().double_value(&[]) < 1e-6);
    }
    // Doubling a 1x2 ramp [0, 1] with half-pixel centres (align_corners=False)
    // gives [0, 0.25, 0.75, 1], as torch.nn.functional.interpolate does.
    let r = Tensor::from_slice(&[0.0f32, 1.0]).view([1, 1, 1, 2]);
    let y = Resize {
        height: 1,
        width: 4,
    }
    .apply(&r, &mut seeded(0))
    .unwrap();
    assert_eq!(
        Vec::<f32>::try_from(y.flatten(0, -1)).unwrap(),
        vec![0.0, 0.25, 0.75, 1.0]
    );
    // Shrinking antialiases: plain bilinear 8 -> 2 samples at pixel 1.5 and
    // never sees a lone bright pixel in the corner; the antialiasing filter
    // spreads over 4 input pixels per output pixel and does.
    let dot = Tensor::zeros([1, 1, 8, 8], (Kind::Float, Device::Cpu));
    let _ = dot.narrow(2, 0, 1).narrow(3, 0, 1).fill_(1.0);
    let plain = dot.upsample_bilinear2d([2, 2], false, None, None);
    assert_eq!(plain.abs().max().double_value(&[]), 0.0);
    let small = Resize {
        height: 2,
        width: 2,
    }
    .apply(&dot, &mut seeded(0))
    .unwrap();
    assert!(small.double_value(&[0, 0, 0, 0]) > 0.01, "{small}");
    assert_eq!(small.double_value(&[0, 0, 1, 1]), 0.0);
    assert!(err_text(
        Resize {
            height: 0,
            width: 4
        }
        .apply(&c, &mut seeded(0))
    )
    .contains("positive output size"));
}

#[test]
fn center_crop_takes_the_middle() {
    let x = ramp(1, 1, 4, 4);
    let y = CenterCrop {
        height: 2,
        width: 2,
    }
    .apply(&x, &mut seeded(0))
    .unwrap();
    assert_eq!(
        Vec::<f32>::try_from(y.flatten(0, -1)).unwrap(),
        vec![5.0, 6.0, 9.0, 10.0]
    );
    assert!(err_text(
        CenterCrop {
            height: 5,
            width: 2
        }
        .apply(&x, &mut seeded(0))
    )
    .contains("at least 5x2 pixels"));
}

#[test]
fn random_crop_and_jitter_move_content_without_changing_it() {
    // One bright pixel in the middle of each 9x9 image.
    let x = Tensor::zeros([32, 1, 9, 9], (Kind::Float, Device::Cpu));
    let _ = x.narrow(2, 4, 1).narrow(3, 4, 1).fill_(1.0);
    let y = Jitter { max_shift: 2 }.apply(&x, &mut seeded(3)).unwrap();
    assert_eq!(y.size(), vec![32, 1, 9, 9]);
    let mut shifts = std::collections::HashSet::new();
    for i in 0..32 {
        let img = y.get(i).get(0);
        assert_eq!(
            img.sum(Kind::Float).double_value(&[]),
            1.0,
            "the pixel stays whole"
        );
        let pos = i64::try_from(img.flatten(0, -1).argmax(0, false)).unwrap();
        let (dr, dc) = (pos / 9 - 4, pos % 9 - 4);
        assert!(dr.abs() <= 2 && dc.abs() <= 2, "shift ({dr}, {dc})");
        shifts.insert((dr, dc));
    }
    assert!(shifts.len() > 5, "images get different shifts: {shifts:?}");
    // Same seed, same crops.
    let again = Jitter { max_shift: 2 }.apply(&x, &mut seeded(3)).unwrap();
    assert!(again.equal(&y));
    // No padding and the full size: nothing to choose.
    let same = RandomCrop {
        height: 9,
        width: 9,
        padding: 0,
    }
    .apply(&x, &mut seeded(1))
    .unwrap();
    assert!(same.equal(&x));
    assert!(err_text(
        RandomCrop {
            height: 3,
            width: 3,
            padding: -1
        }
        .apply(&x, &mut seeded(0))
    )
    .contains("padding must be >= 0"));
    assert!(err_text(Jitter { max_shift: -1 }.apply(&x, &mut seeded(0)))
        .contains("max_shift must be >= 0"));
    let empty = RandomCrop {
        height: 3,
        width: 3,
        padding: 0,
    }
    .apply(
        &Tensor::zeros([0, 1, 9, 9], (Kind::Float, Device::Cpu)),
        &mut seeded(0),
    )
    .unwrap();
    assert_eq!(empty.size(), vec![0, 1, 3, 3]);
}

#[test]
fn flip_mirrors_exactly_and_p_controls_how_often() {
    let x = ramp(200, 1, 2, 3);
    let all = RandomFlip { p: 1.0 }.apply(&x, &mut seeded(0)).unwrap();
    assert!(all.equal(&x.flip([3])));
    assert!(RandomFlip { p: 0.0 }
        .apply(&x, &mut seeded(0))
        .unwrap()
        .equal(&x));
    let half = RandomFlip { p: 0.5 }.apply(&x, &mut seeded(0)).unwrap();
    let flipped = (0..200).filter(|&i| !half.get(i).equal(&x.get(i))).count();
    assert!(
        (70..130).contains(&flipped),
        "{flipped} of 200 flipped at p = 0.5"
    );
    assert!(err_text(RandomFlip { p: 1.5 }.apply(&x, &mut seeded(0))).contains("in [0, 1]"));
}

#[test]
fn compose_applies_in_order_and_checks_shapes() {
    let pipeline = Compose(vec![
        Box::new(Resize {
            height: 8,
            width: 8,
        }),
        Box::new(CenterCrop {
            height: 4,
            width: 4,
        }),
        Box::new(Normalize::new(&[0.5], &[0.5]).unwrap()),
    ]);
    let x = Tensor::full([2, 1, 4, 4], 1.0, (Kind::Float, Device::Cpu));
    let y = pipeline.apply(&x, &mut seeded(0)).unwrap();
    assert_eq!(y.size(), vec![2, 1, 4, 4]);
    assert!((y - 1.0).abs().max().double_value(&[]) < 1e-6);
    let msg = err_text(pipeline.apply(
        &Tensor::zeros([4, 4], (Kind::Float, Device::Cpu)),
        &mut seeded(0),
    ));
    assert!(msg.contains("got [4, 4]"), "{msg}");
}
