//! What every kernel compiles before the first cell: the deepscope library
//! as a dependency (tch comes with it) and the prelude imported. While it compiles,
//! a cell that is waiting shows the build's progress.

use crate::shared::{lock, Preload, Shared};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use deepscope_kernel::source_dir;

/// A statement that makes evcxr's rust-analyzer resolve tch's and the
/// library's types now, in the background, rather than in the user's first
/// cell (measured: about 7 s on 2 cores, most of it tch's generated
/// bindings). Its variable is hidden from reports by its prefix.
const WARM_UP: &str =
    "let _deepscope_warm_up = tch::Tensor::zeros([1], (tch::Kind::Float, tch::Device::Cpu)).size();";

/// Variables the preload defines, left out of what the user is told.
pub const HIDDEN_PREFIX: &str = "_deepscope";

/// Clears the stop flag after an interrupted cell.
pub const CLEAR_INTERRUPT: &str = "deepscope::runtime::interrupt::clear();";

/// Whether to preload the library: `DEEPSCOPE_KERNEL_PRELOAD=none` gives a
/// plain Rust kernel (seconds to start, nothing to compile), for notebooks
/// that do not use deepscope.
pub fn enabled() -> bool {
    std::env::var("DEEPSCOPE_KERNEL_PRELOAD").map_or(true, |v| v != "none")
}

/// The preload, as evcxr commands and code (empty when disabled).
pub fn code() -> String {
    if !enabled() {
        return String::new();
    }
    format!(
        ":dep deepscope = {}\n\
         use deepscope::prelude::*;\n\
         {WARM_UP}\n",
        library_dep(&source_dir())
    )
}

/// The cells' dependency on the library, as a Cargo.toml value: the
/// library as one shared object (`kernel/cells`, named `deepscope` in the
/// cells) where the sources have it, else the library's own crate, which
/// each cell then links statically (slower, same behaviour).
fn library_dep(source: &Path) -> String {
    let cells = source.join("kernel").join("cells");
    // Debug-escaped, so a path with quotes or backslashes stays one string.
    if cells.join("Cargo.toml").is_file() {
        format!(
            "{{ package = \"deepscope-cells\", path = {:?} }}",
            cells.display().to_string()
        )
    } else {
        format!("{{ path = {:?} }}", source.display().to_string())
    }
}

/// Puts the workspace's lock file into the build folder, so that the
/// preload builds the dependency versions the library was tested with and
/// needs no registry lookup. (evcxr's start rewrites the folder's lock file
/// for a crate without dependencies, and its check of each `:dep` for that
/// dependency alone: hence one `:dep`, the library, whose graph holds every
/// pinned version; `tch` comes with the prelude, which re-exports it.)
fn seed_lockfile(build_dir: &Path) {
    let _ = std::fs::copy(
        source_dir().join("Cargo.lock"),
        build_dir.join("Cargo.lock"),
    );
}

/// Compiles the preload in `ctx`, whose build folder is `build_dir` (for the
/// kernel in the background, for `warm` in the foreground).
pub fn run(ctx: &mut evcxr::CommandContext, build_dir: &Path) -> Result<(), String> {
    let code = code();
    if code.is_empty() {
        return Ok(());
    }
    seed_lockfile(build_dir);
    ctx.execute(&code)
        .map(|_| ())
        .map_err(|e| format!("the preloaded library did not compile: {e}"))
}

/// Crates cargo has (re)built in the build folder since `since`: the
/// fingerprint folders it touched.
fn rebuilt_since(build_dir: &Path, since: std::time::SystemTime) -> usize {
    let mut count = 0;
    let Ok(triples) = std::fs::read_dir(build_dir.join("target")) else {
        return 0;
    };
    for triple in triples.flatten() {
        let Ok(entries) = std::fs::read_dir(triple.path().join("debug").join(".fingerprint"))
        else {
            continue;
        };
        count += entries
            .flatten()
            .filter(|e| {
                e.metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t >= since)
            })
            .count();
    }
    count
}

/// While the preload runs, keeps a display under `request` that says how far
/// the build has come (only if the wait lasts more than a few seconds). When
/// the cell starts, the evaluator clears it (see [`Shared::waiting`]), so it
/// does not stay in the saved notebook.
pub async fn show_progress(shared: Arc<Shared>, request: crate::wire::Message) {
    const QUIET: Duration = Duration::from_secs(4);
    let id = format!("preload-{}", uuid::Uuid::new_v4());
    let mut shown = false;
    loop {
        {
            // Publishing under the preload lock: the evaluator marks the
            // preload done under the same lock before it clears the display,
            // so no update can arrive after the clear.
            let state = lock(&shared.preload);
            let Preload::Running(since) = &*state else {
                return;
            };
            if since.elapsed() >= QUIET {
                let began = std::time::SystemTime::now() - since.elapsed();
                let rebuilt = rebuilt_since(&shared.build_dir, began);
                let crates = if rebuilt > 0 {
                    let s = if rebuilt == 1 { "" } else { "s" };
                    format!(", {rebuilt} crate{s} rebuilt so far; a cold build folder rebuilds about 150")
                } else {
                    String::new()
                };
                let text = format!(
                    "deepscope: compiling the preloaded library ({}{crates}); this cell runs when it is ready.",
                    deepscope::display::clock(since.elapsed().as_secs_f64())
                );
                let content = serde_json::json!({
                    "data": { "text/plain": text },
                    "metadata": {},
                    "transient": { "display_id": id },
                });
                if shown {
                    shared.publish("update_display_data", Some(&request), content);
                } else {
                    lock(&shared.waiting).insert(request.header.msg_id.clone());
                    shared.publish("display_data", Some(&request), content);
                    shown = true;
                }
            }
        }
        let pause = if shown { 1000 } else { 200 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_link_the_shared_library_where_the_sources_have_it() {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let dep = library_dep(source);
        assert!(
            dep.starts_with("{ package = \"deepscope-cells\", path = "),
            "{dep}"
        );
        assert!(dep.contains("cells\""), "{dep}");
        // The folder named is a crate whose name is the one asked for.
        let manifest = std::fs::read_to_string(source.join("kernel/cells/Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"deepscope-cells\""));
        assert!(manifest.contains("crate-type = [\"dylib\"]"));
    }

    #[test]
    fn other_sources_are_linked_as_the_library_crate() {
        let dir = std::env::temp_dir().join(format!("deepscope-preload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dep = library_dep(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(dep, format!("{{ path = {:?} }}", dir.display().to_string()));
    }
}
