//! Trains (or loads from the cache) the named pretrained models and prints
//! their test accuracy, training time and cache file. Run it once to warm the
//! cache before opening the notebooks.
//!
//! cargo run --release --example pretrain -- [NAME ...]   (no name: list them)

use deepscope::prelude::*;

fn main() -> deepscope::Result<()> {
    let names: Vec<String> = std::env::args().skip(1).collect();
    if names.is_empty() {
        for (name, about) in zoo::pretrained_names() {
            println!("{name:<20} {about}");
        }
        println!("cache: {}", zoo::cache_dir().display());
        return Ok(());
    }
    let mut table = Table::new(&["model", "test accuracy", "training time", "from", "file"]);
    for name in &names {
        let p = zoo::pretrained(name)?;
        table = table.row(&[
            name.clone(),
            format!("{:.2}%", 100.0 * p.info.test_accuracy),
            format!("{:.0} s", p.info.train_seconds),
            if p.trained_now {
                "trained now".into()
            } else {
                "cache".into()
            },
            p.path.display().to_string(),
        ])?;
    }
    println!("{table}");
    Ok(())
}
