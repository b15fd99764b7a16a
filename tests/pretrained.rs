//! `zoo::pretrained`: trains once, then loads from the cache. Its own test
//! binary: it sets DEEPSCOPE_QUICK and DEEPSCOPE_CACHE.

mod common;

use deepscope::zoo;
use tch::Device;

#[test]
fn trains_once_then_loads_the_same_weights_from_the_cache() {
    let cache = tempfile::tempdir().unwrap();
    std::env::set_var("DEEPSCOPE_CACHE", cache.path());
    std::env::set_var("DEEPSCOPE_QUICK", "1");
    assert_eq!(zoo::cache_dir(), cache.path());

    let first = zoo::pretrained_on("lenet5-fashion", Device::Cpu).unwrap();
    assert!(first.trained_now);
    assert!(first.path.starts_with(cache.path()) && first.path.is_file());
    assert_eq!(
        zoo::pretrained_data("lenet5-fashion").unwrap().train.len(),
        2000,
        "quick mode: 200 per class"
    );
    // Three quick epochs already beat chance (10%) by far.
    assert!(
        first.info.test_accuracy > 0.4,
        "{}",
        first.info.test_accuracy
    );
    assert_eq!(first.info.history.epochs.len(), 3);
    assert!(!first.model.is_training());

    let started = std::time::Instant::now();
    let second = zoo::pretrained_on("lenet5-fashion", Device::Cpu).unwrap();
    eprintln!("loaded from the cache in {:?}", started.elapsed());
    assert!(!second.trained_now, "the second call loads from the cache");
    assert_eq!(second.path, first.path);
    assert_eq!(second.info.key, first.info.key);
    for ((n, a), (_, b)) in first
        .model
        .named_tensors()
        .iter()
        .zip(second.model.named_tensors())
    {
        assert!(a.equal(&b), "{n}");
    }

    let zf = zoo::pretrained_on("zfnet-fashion64", Device::Cpu).unwrap();
    assert_eq!(
        zoo::pretrained_data("zfnet-fashion64")
            .unwrap()
            .train
            .image_shape(),
        [1, 64, 64]
    );
    assert!(
        zf.info.test_accuracy > 0.4,
        "the ZFNet recipe learns: {}",
        zf.info.test_accuracy
    );
    assert_ne!(zf.info.key, first.info.key);

    // The ZFNet recipes keep weights along the way (quick: epochs 1 and 2 of 3)
    // and renormalise every filter to RMS <= 0.1, as Zeiler & Fergus did.
    assert_eq!(zf.snapshot_epochs(), vec![1, 2]);
    assert!(first.snapshots.is_empty());
    let early = zf.at_epoch(1).unwrap();
    let last = zf.at_epoch(3).unwrap();
    let w = |m: &deepscope::model::Model| {
        m.layer("conv1")
            .unwrap()
            .tensor("weight")
            .unwrap()
            .shallow_clone()
    };
    assert!(last
        .named_tensors()
        .iter()
        .zip(zf.model.named_tensors())
        .all(|((_, a), (_, b))| a.equal(&b)));
    assert!(
        !w(&early).equal(&w(&zf.model)),
        "epoch 1 is not the final model"
    );
    assert!(!early.is_training());
    let msg = common::err_text(zf.at_epoch(4));
    assert!(msg.contains("kept epochs [1, 2] and the final 3"), "{msg}");
    for l in zf
        .model
        .layers()
        .iter()
        .filter(|l| l.op.kind_name() == "conv")
    {
        let w = l.tensor("weight").unwrap();
        let rms = w
            .reshape([w.size()[0], -1])
            .square()
            .mean_dim(1, false, tch::Kind::Float)
            .sqrt();
        let worst = rms.max().double_value(&[]);
        assert!(worst <= 0.1 + 1e-6, "{}: filter RMS {worst}", l.name);
    }
    let again = zoo::pretrained_on("zfnet-fashion64", Device::Cpu).unwrap();
    assert!(!again.trained_now && again.snapshot_epochs() == vec![1, 2]);
    assert!(again
        .at_epoch(1)
        .unwrap()
        .named_tensors()
        .iter()
        .zip(early.named_tensors())
        .all(|((_, a), (_, b))| a.equal(&b)));

    let msg = common::err_text(zoo::pretrained_on("alexnet-imagenet", Device::Cpu));
    assert!(
        msg.contains("no pretrained model 'alexnet-imagenet'; there are: lenet5-fashion"),
        "{msg}"
    );
    assert!(zoo::pretrained_names()
        .iter()
        .any(|(n, _)| *n == "mlp-digits"));
    std::env::remove_var("DEEPSCOPE_QUICK");
    std::env::remove_var("DEEPSCOPE_CACHE");
}
