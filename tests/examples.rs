//! The examples run the way a user runs them: train LeNet-5 (quick mode),
//! then classify an image file with the saved weights.

use deepscope::data;
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
    let labels = Vec::<i64>::try_from(&fm.test.labels).unwrap();
    let i = labels.iter().position(|&l| l == 1).unwrap();
    let png = out.path().join("trouser.png");
    data::save_image(&fm.test.images.get(i as i64), &png).unwrap();
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
    let figures = stdout.matches("EVCXR_BEGIN_CONTENT image/png\n").count();
    assert_eq!(figures, 1, "one chart per epoch (quick mode trains one)");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("epoch 1/1  loss"),
        "epoch lines go to stderr: {stderr}"
    );
}
