//! PyTorch interop for real: torchvision's AlexNet, VGG-11 and ResNet-18 with
//! random weights, saved by tests/python/torchvision_reference.py as .pt and
//! as safetensors, load into our zoo models and give the same outputs to 1e-4.

mod common;

use deepscope::model::local_response_norm;
use deepscope::{weights, zoo};
use std::path::{Path, PathBuf};
use std::process::Command;
use tch::{Device, Tensor};

/// The reference files, made once per version of the script in cargo's
/// per-target scratch folder and reused by later runs (they are 1.6 GB; a
/// temporary folder held in a static would never be removed).
fn reference_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let script = root.join("tests/python/torchvision_reference.py");
        let hash = deepscope::data::sha256_file(&script).unwrap();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("torchvision-reference-{}", &hash[..12]));
        if !dir.join("complete").is_file() {
            let _ = std::fs::remove_dir_all(&dir);
            let status = Command::new(root.join(".venv/bin/python"))
                .arg(&script)
                .arg(&dir)
                .status()
                .expect(".venv/bin/python (run `make setup`)");
            assert!(status.success());
            std::fs::write(dir.join("complete"), b"").unwrap();
        }
        dir
    })
}

fn reference(name: &str) -> Tensor {
    weights::read_map(reference_dir().join("reference.safetensors")).unwrap()[name].shallow_clone()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

fn check(name: &str, builder: deepscope::model::ModelBuilder) {
    let mut model = builder.build(Device::Cpu).unwrap();
    let x = reference("input");
    let want = reference(&format!("{name}.output"));
    for ext in ["pt", "safetensors"] {
        weights::load(&mut model, reference_dir().join(format!("{name}.{ext}"))).unwrap();
        let got = tch::no_grad(|| model.forward(&x)).unwrap();
        let diff = max_abs_diff(&got, &want);
        assert!(
            diff < 1e-4,
            "{name}.{ext}: max |ours - torchvision| = {diff:e}"
        );
    }
}

#[test]
fn alexnet_matches_torchvision() {
    check("alexnet", zoo::alexnet(1000));
}

#[test]
fn vgg11_matches_torchvision() {
    check("vgg11", zoo::vgg11(1000));
}

#[test]
fn resnet18_matches_torchvision_including_batch_norm_buffers() {
    check("resnet18", zoo::resnet18(1000));
}

#[test]
fn local_response_norm_matches_pytorch() {
    let x = reference("lrn.input");
    let ours = local_response_norm(&x, 5, 1e-4, 0.75, 2.0).unwrap();
    assert!(max_abs_diff(&ours, &reference("lrn.output")) < 1e-6);
    let even = local_response_norm(&x, 4, 0.3, 0.6, 1.0).unwrap();
    assert!(max_abs_diff(&even, &reference("lrn4.output")) < 1e-6);
}

#[test]
fn files_that_do_not_fit_are_refused_with_every_problem_listed() {
    let mut model = zoo::resnet18(1000).build(Device::Cpu).unwrap();
    let before = model.named_tensors()[0].1.copy();
    let mut tensors = weights::read_tensors(reference_dir().join("resnet18.safetensors")).unwrap();
    tensors.retain(|(n, _)| n != "layer1.0.conv1.weight");
    tensors.push((
        "head.weight".into(),
        Tensor::zeros([3], (tch::Kind::Float, Device::Cpu)),
    ));
    for (n, t) in tensors.iter_mut() {
        if n == "fc.weight" {
            *t = Tensor::zeros([10, 512], (tch::Kind::Float, Device::Cpu));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.safetensors");
    weights::write_safetensors(&tensors, &bad).unwrap();
    let msg = common::err_text(weights::load(&mut model, &bad));
    assert!(msg.contains("bad.safetensors"), "{msg}");
    assert!(
        msg.contains("missing from the file: layer1.0.conv1.weight"),
        "{msg}"
    );
    assert!(msg.contains("not in the model: head.weight"), "{msg}");
    assert!(
        msg.contains("wrong shape: fc.weight (model [1000, 512], file [10, 512])"),
        "{msg}"
    );
    // Nothing was loaded.
    assert!(model.named_tensors()[0].1.equal(&before));

    // load_partial takes what fits and says what it left.
    let report = weights::load_partial(&mut model, &bad).unwrap();
    assert_eq!(report.missing, vec!["layer1.0.conv1.weight"]);
    assert_eq!(report.mismatched[0].0, "fc.weight");
    assert_eq!(report.unexpected, vec!["head.weight"]);
    assert!(!model.named_tensors()[0].1.equal(&before));

    let junk = common::write(dir.path(), "junk.pt", b"definitely not weights");
    assert!(common::err_text(weights::read_tensors(&junk)).contains("not a weights file"));
    assert!(
        common::err_text(weights::save(&model, dir.path().join("w.pt"))).contains(".safetensors")
    );
}

#[test]
fn safetensors_round_trip_keeps_every_tensor() {
    let a = zoo::resnet20([1, 28, 28], 10, true)
        .seed(1)
        .build(Device::Cpu)
        .unwrap();
    let mut b = zoo::resnet20([1, 28, 28], 10, true)
        .seed(2)
        .build(Device::Cpu)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r20.safetensors");
    weights::save(&a, &path).unwrap();
    weights::load(&mut b, &path).unwrap();
    for ((na, ta), (nb, tb)) in a.named_tensors().iter().zip(b.named_tensors()) {
        assert_eq!(na, &nb);
        assert!(ta.equal(&tb), "{na}");
    }
}
