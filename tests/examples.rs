//! The examples run the way a user runs them: train LeNet-5 (quick mode),
//! then classify an image file with the saved weights.

use deepscope::{data, weights};
use std::path::PathBuf;
use std::process::Command;

fn example(name: &str) -> PathBuf {
    // tests run from target/<profile>/deps; examples are built beside them.
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name)
}

#[test]
fn train_lenet_then_classify_a_test_image() {
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(example("train_lenet"))
        .arg(out.path())
        .env("DEEPSCOPE_QUICK", "1")
        .output()
        .expect(
            "the examples are built (a full `cargo test` builds them; or `cargo build --examples`)",
        );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("test: loss"), "{stdout}");
    for f in ["loss.png", "confusion.png"] {
        let img = image::open(out.path().join(f)).unwrap();
        assert!(img.width() >= 640, "{f}");
    }

    // A trouser from the test split, saved as a PNG file.
    let fm = data::fashion_mnist().unwrap();
    let labels = Vec::<i64>::try_from(fm.test.labels()).unwrap();
    let i = labels.iter().position(|&l| l == 1).unwrap();
    let png = out.path().join("trouser.png");
    data::save_image(&fm.test.images().get(i as i64), &png).unwrap();
    let run = Command::new(example("classify"))
        .arg(out.path().join("lenet5.safetensors"))
        .arg(&png)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        fm.classes.iter().any(|c| lines[0].starts_with(c.as_str())),
        "{stdout}"
    );
    let total: f64 = lines
        .iter()
        .map(|l| {
            l.split_whitespace()
                .last()
                .unwrap()
                .trim_end_matches('%')
                .parse::<f64>()
                .unwrap()
        })
        .sum();
    assert!(total <= 100.01, "{stdout}");

    let bad = Command::new(example("classify"))
        .arg("only-one-arg")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("usage: classify"));
}

#[test]
fn inside_evcxr_training_shows_a_loss_chart_in_the_notebook() {
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(example("train_lenet"))
        .arg(out.path())
        .env("DEEPSCOPE_QUICK", "1")
        .env("EVCXR_IS_RUNTIME", "1")
        .output()
        .expect(
            "the examples are built (a full `cargo test` builds them; or `cargo build --examples`)",
        );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    // Stock evcxr cannot replace a display, so the monitor shows itself once
    // per epoch and once at the end (evcxr keeps the last).
    let figures = stdout.matches("EVCXR_BEGIN_CONTENT image/png\n").count();
    assert_eq!(figures, 3, "quick mode trains two epochs: {stdout:.300}");
    let last_text = stdout
        .rsplit("EVCXR_BEGIN_CONTENT text/plain\n")
        .next()
        .unwrap_or_default();
    assert!(
        last_text.starts_with("done  step") && last_text.contains("epoch 2/2  loss"),
        "the final state names the run's end and its epochs: {last_text:.300}"
    );
}

#[test]
fn a_killed_run_resumes_from_its_checkpoint_to_the_uninterrupted_weights() {
    let epochs = "6";
    let whole = tempfile::tempdir().unwrap();
    let done = Command::new(example("train_lenet"))
        .args([whole.path().to_str().unwrap(), epochs])
        .env("DEEPSCOPE_QUICK", "1")
        .output()
        .unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );

    let killed = tempfile::tempdir().unwrap();
    let args = [killed.path().to_str().unwrap(), epochs, "--checkpoint"];
    let mut child = Command::new(example("train_lenet"))
        .args(args)
        .env("DEEPSCOPE_QUICK", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let marker = killed.path().join("checkpoint/checkpoint.json");
    while !marker.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before its first checkpoint"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    assert!(
        !killed.path().join("lenet5.safetensors").exists(),
        "killed before the end"
    );

    let resumed = Command::new(example("train_lenet"))
        .args(args)
        .env("DEEPSCOPE_QUICK", "1")
        .output()
        .unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let a = weights::read_tensors(whole.path().join("lenet5.safetensors")).unwrap();
    let b = weights::read_tensors(killed.path().join("lenet5.safetensors")).unwrap();
    assert_eq!(a.len(), b.len());
    for ((n, x), (m, y)) in a.iter().zip(&b) {
        assert_eq!(n, m);
        assert!(x.equal(y), "{n} differs after kill and resume");
    }
}
