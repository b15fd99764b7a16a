//! Studies as units: shards cover the units once, a sharded study merges to
//! the bytes one process writes, finished units are not computed again,
//! and a sweep's defaults merge under its runs.

use deepscope::jobs::{shard_range, Engine, Settings, Study, SweepResult};
use serde_json::json;
use std::path::Path;

fn grid(points: usize) -> serde_json::Value {
    json!({
        "kind": "surface",
        "name": "lenet5 plane",
        "model": {"name": "lenet5"},
        "data": {"dataset": "fashion-mnist", "train_per_class": 5, "test_per_class": 1},
        "eval_count": 32,
        "directions": {"seeds": [1, 2]},
        "x": {"from": -1.0, "to": 1.0, "count": points},
        "y": {"from": -0.5, "to": 0.5, "count": points},
        "batch": 32
    })
}

fn sweep() -> serde_json::Value {
    json!({
        "kind": "sweep",
        "name": "digits seeds",
        "defaults": {
            "data": {"dataset": "digits", "train_per_class": 10, "test_per_class": 5},
            "model": {"name": "mlp", "widths": [16]},
            "train": {"epochs": 2, "batch": 20, "lr": 0.05, "momentum": 0.9}
        },
        "runs": [{"seed": 0}, {"seed": 1, "key": "second"}, {"seed": 2, "train": {"lr": 0.01}}]
    })
}

fn study(dir: &Path, name: &str, mut settings: serde_json::Value) -> Study {
    settings["output"] = json!(format!("{name}.out"));
    let file = dir.join(format!("{name}.json"));
    std::fs::write(&file, settings.to_string()).unwrap();
    Study::load(&file).unwrap()
}

#[test]
fn shards_cover_every_unit_once_in_order() {
    for units in [0, 1, 7, 12, 100] {
        for of in 1..=9 {
            let all: Vec<usize> = (0..of)
                .flat_map(|s| shard_range(units, s, of).unwrap())
                .collect();
            assert_eq!(all, (0..units).collect::<Vec<_>>(), "{units} units in {of}");
        }
    }
    assert!(shard_range(10, 3, 3).is_err());
    assert!(shard_range(10, 0, 0).is_err());
}

#[test]
fn a_grid_in_shards_merges_to_the_bytes_of_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let one = study(dir.path(), "one", grid(3));
    let r = one.run(0, 1).unwrap();
    assert_eq!(
        (r.units, r.computed, r.skipped, r.complete),
        (0..9, 9, 0, true)
    );
    let expected = std::fs::read(one.merge().unwrap()).unwrap();

    let parts = study(dir.path(), "parts", grid(3));
    assert!(parts.merge().is_err(), "nothing computed yet");
    for s in [2, 0] {
        parts.run(s, 3).unwrap();
    }
    let p = parts.progress().unwrap();
    assert_eq!((p.done, p.total, p.merged), (6, 9, false));
    let err = parts.merge().unwrap_err().to_string();
    assert!(err.contains("3 of 9 points are not computed"), "{err}");
    // A finished shard is not computed again.
    let again = parts.run(2, 3).unwrap();
    assert_eq!((again.computed, again.skipped), (0, 3));
    // Other shard counts reuse what is done: 9 units in 2 shards.
    let r = parts.run(0, 2).unwrap();
    assert_eq!((r.units, r.computed, r.skipped), (0..4, 1, 3));
    parts.run(1, 2).unwrap();
    assert_eq!(std::fs::read(parts.merge().unwrap()).unwrap(), expected);
    assert!(parts.progress().unwrap().merged);
}

#[test]
fn a_sweep_runs_each_configuration_once_and_merges_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = study(dir.path(), "sweep", sweep());
    let Settings::Sweep(settings) = &s.settings else {
        panic!("a sweep read as {:?}", s.settings)
    };
    assert_eq!(settings.keys(), ["run-0", "second", "run-2"]);
    assert_eq!(settings.runs[2].train.lr, 0.01, "a run's own field wins");
    assert_eq!(
        settings.runs[2].train.momentum, 0.9,
        "the defaults fill the rest"
    );
    assert_eq!(settings.runs[1].model, settings.runs[0].model);
    s.run(1, 2).unwrap();
    assert_eq!(s.progress().unwrap().done, 2);
    let r = s.run(0, 1).unwrap();
    assert_eq!((r.computed, r.skipped), (1, 2));
    let merged = SweepResult::load(s.merge().unwrap()).unwrap();
    let keys: Vec<&str> = merged.runs.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["run-0", "second", "run-2"]);
    for run in &merged.runs {
        assert_eq!(run.result.train_loss.len(), 2);
        assert!((0.0..=1.0).contains(&run.result.test_accuracy));
        assert!(s
            .output
            .join("runs")
            .join(&run.key)
            .join("weights.safetensors")
            .is_file());
    }
    // The same seed and settings train the same net, bit for bit.
    let twin = study(dir.path(), "twin", sweep());
    twin.run(0, 1).unwrap();
    assert_eq!(
        std::fs::read(twin.merge().unwrap()).unwrap(),
        std::fs::read(s.result_file()).unwrap()
    );
}

#[test]
fn settings_written_by_a_program_read_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let s = study(dir.path(), "grid", grid(2));
    let copy = Study::write(&s.settings, dir.path().join("sub").join("copy.json")).unwrap();
    assert_eq!(format!("{:?}", copy.settings), format!("{:?}", s.settings));
    assert_eq!(copy.output, dir.path().join("sub").join("copy.out"));
    assert_eq!(copy.units(), 4);
}

#[test]
fn computed_in_process_it_is_the_same_study_and_leaves_the_threads_alone() {
    let dir = tempfile::tempdir().unwrap();
    let one = study(dir.path(), "one", grid(3));
    one.run(0, 1).unwrap();
    let expected = std::fs::read(one.merge().unwrap()).unwrap();
    let here = study(dir.path(), "here", grid(3));
    let threads = tch::get_num_threads();
    let path = here.compute(&Engine::InProcess).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), expected);
    assert_eq!(tch::get_num_threads(), threads);
    // Merged: computing again returns at once.
    assert_eq!(here.compute(&Engine::InProcess).unwrap(), path);
}

#[test]
fn the_engine_comes_from_the_environment() {
    // The only test that sets these variables.
    let set = |k: &str, v: Option<&str>| match v {
        Some(v) => unsafe { std::env::set_var(k, v) },
        None => unsafe { std::env::remove_var(k) },
    };
    set("DEEPSCOPE_ENGINE", None);
    set("DEEPSCOPE_SHARDS", None);
    assert_eq!(Engine::from_env().unwrap(), Engine::InProcess);
    set("DEEPSCOPE_ENGINE", Some("slurm"));
    set("DEEPSCOPE_SHARDS", Some("8"));
    let Engine::Slurm(job) = Engine::from_env().unwrap() else {
        panic!("not Slurm")
    };
    assert_eq!(job.shards, 8);
    set("DEEPSCOPE_ENGINE", Some("ray"));
    assert!(matches!(
        Engine::from_env().unwrap(),
        Engine::Ray { shards: 8, .. }
    ));
    set("DEEPSCOPE_ENGINE", Some("mpi"));
    let e = Engine::from_env().unwrap_err().to_string();
    assert!(e.contains("expected 'in-process', 'slurm' or 'ray'"), "{e}");
    set("DEEPSCOPE_ENGINE", None);
    set("DEEPSCOPE_SHARDS", Some("0"));
    let e = Engine::from_env().unwrap_err().to_string();
    assert!(e.contains("expected a whole number >= 1"), "{e}");
    set("DEEPSCOPE_SHARDS", None);
}

#[test]
fn a_transfer_sweep_starts_from_the_base_sweeps_nets() {
    let dir = tempfile::tempdir().unwrap();
    let train = json!({"epochs": 1, "batch": 50, "lr": 0.001, "optimizer": "adam"});
    let data = |classes: [i64; 5]| json!({"dataset": "fashion-mnist", "train_per_class": 20, "test_per_class": 5, "classes": classes});
    let bases = study(
        dir.path(),
        "bases",
        json!({"kind": "sweep", "name": "bases", "defaults": {"model": {"name": "lenet5"}, "train": train},
               "runs": [{"key": "baseA", "seed": 1, "data": data([0, 1, 2, 3, 4])}]}),
    );
    let transfer = |lower: &str| json!({"key": lower, "seed": 7, "transfer": {"study": "bases.json", "key": "baseA", "last": "relu2", "lower": lower}});
    let transfers = study(
        dir.path(),
        "transfers",
        json!({"kind": "sweep", "name": "AnB", "defaults": {"model": {"name": "lenet5"}, "train": train, "data": data([5, 6, 7, 8, 9])},
               "runs": [transfer("frozen"), transfer("fine_tuned"), transfer("random_frozen")]}),
    );
    let e = transfers.run(0, 1).unwrap_err().to_string();
    assert!(
        e.contains("base run 'baseA' of bases.json has not finished"),
        "{e}"
    );
    bases.run(0, 1).unwrap();
    transfers.run(0, 1).unwrap();
    let conv1 = |path: std::path::PathBuf| {
        tch::Tensor::read_safetensors(path)
            .unwrap()
            .into_iter()
            .find(|(n, _)| n == "features.0.weight")
            .unwrap()
            .1
    };
    let weights =
        |s: &Study, key: &str| s.output.join("runs").join(key).join("weights.safetensors");
    let base = conv1(weights(&bases, "baseA"));
    assert!(
        conv1(weights(&transfers, "frozen")).equal(&base),
        "frozen layers are the base's"
    );
    assert!(
        !conv1(weights(&transfers, "fine_tuned")).equal(&base),
        "fine-tuned layers moved"
    );
    let random = conv1(weights(&transfers, "random_frozen"));
    assert!(!random.equal(&base));
    assert_eq!(transfers.progress().unwrap().done, 3);
    let bad = json!({"kind": "sweep", "name": "x", "defaults": {"model": {"name": "lenet5"}, "train": train, "data": data([5, 6, 7, 8, 9])},
                     "runs": [{"transfer": {"study": "bases.json", "key": "baseA", "last": "relu2", "lower": "thawed"}}]});
    let mut bad_file = bad.clone();
    bad_file["output"] = json!("bad.out");
    let e = Study::from_json(bad_file, dir.path().join("bad.json"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("expected 'frozen', 'fine_tuned' or 'random_frozen'"),
        "{e}"
    );
}
