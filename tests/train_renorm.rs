//! Zeiler & Fergus's filter renormalisation: exact on a made-up weight, and
//! as a callback it keeps every filter within the radius during training.

mod common;

use common::err_text;
use deepscope::data::{Dataset, Split};
use deepscope::model::{Conv, ModelBuilder};
use deepscope::rng::with_torch_seed;
use deepscope::train::{
    fit_with, renormalize_filters, Callback, FilterRenorm, FitConfig, Optimizer, ProgressMode,
};
use tch::{Device, Kind, Tensor};

fn filter_rms(w: &Tensor) -> Vec<f64> {
    let out = w.size()[0];
    Vec::<f64>::try_from(
        w.reshape([out, -1])
            .square()
            .mean_dim(1, false, Kind::Float)
            .sqrt()
            .to_kind(Kind::Double),
    )
    .unwrap()
}

#[test]
fn only_filters_above_the_radius_are_scaled_to_it() {
    // Filter k has every entry equal to k * 0.05: RMS 0, 0.05, 0.1, 0.15, 0.2.
    let w = Tensor::arange(5, (Kind::Float, Device::Cpu))
        .reshape([5, 1, 1, 1])
        .repeat([1, 3, 2, 2])
        * 0.05;
    let scaled = renormalize_filters(&w, 0.1).unwrap();
    assert_eq!(scaled, 2);
    let rms = filter_rms(&w);
    for (k, (got, want)) in rms.iter().zip([0.0, 0.05, 0.1, 0.1, 0.1]).enumerate() {
        assert!((got - want).abs() < 1e-6, "filter {k}: {got} vs {want}");
    }
    // Direction is kept: filter 4 is still constant.
    let f4 = w.get(4);
    assert!((f4.max() - f4.min()).double_value(&[]).abs() < 1e-7);
    assert!(err_text(renormalize_filters(&w, 0.0)).contains("positive"));
    assert!(err_text(renormalize_filters(&w.reshape([5, 12]), 0.1)).contains("[out, in, kh, kw]"));
}

#[test]
fn the_callback_keeps_filters_within_the_radius_while_training() {
    let mut model = ModelBuilder::new(&[1, 8, 8])
        .seed(2)
        .conv("conv", "c", 4, Conv::new(3))
        .relu("relu")
        .flatten("flat")
        .linear("fc", "fc", 2)
        .build(Device::Cpu)
        .unwrap();
    let (x, y) = with_torch_seed(9, || {
        let x = Tensor::randn([64, 1, 8, 8], (Kind::Float, Device::Cpu)) * 3.0;
        let y = x
            .mean_dim(&[1i64, 2, 3][..], false, Kind::Float)
            .gt(0.0)
            .to_kind(Kind::Int64);
        (x, y)
    });
    let split = || Split::new(x.shallow_clone(), y.shallow_clone()).unwrap();
    let data = Dataset::new("sign", split(), split(), vec!["neg".into(), "pos".into()]).unwrap();
    let mut renorm = FilterRenorm::new(&model, &["conv"], 0.05).unwrap();
    let mut cfg = FitConfig::new(3, 16, Optimizer::sgd(1.0));
    cfg.progress = ProgressMode::Silent;
    {
        let mut callbacks: [&mut dyn Callback; 1] = [&mut renorm];
        fit_with(&mut model, &data, &cfg, &mut callbacks).unwrap();
    }
    assert!(
        renorm.scaled > 0,
        "a learning rate of 1 pushes filters past 0.05"
    );
    let w = model.layers()[0].tensor("weight").unwrap();
    assert!(filter_rms(w).iter().all(|&r| r <= 0.05 + 1e-6));
    assert!(err_text(FilterRenorm::new(&model, &["fc"], 0.1)).contains("not a convolution"));
    assert!(err_text(FilterRenorm::new(&model, &["nope"], 0.1)).contains("nope"));
}
