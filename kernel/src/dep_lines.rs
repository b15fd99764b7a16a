//! `:dep` without re-resolving the preloaded library's dependencies.
//!
//! evcxr checks a new dependency by running `cargo metadata` on a throwaway
//! manifest in the build folder, which rewrites the folder's Cargo.lock
//! with that manifest's dependencies alone. The next build then resolves
//! every dependency of the library afresh (newer versions where the
//! registry has them), rebuilds the library and relinks the shared object
//! that the running cells already loaded (`kernel/cells`): the next cell's
//! symbols no longer match it and it fails to load. So the kernel runs a
//! cell's `:dep` lines on their own, puts the lock file back as it was, and
//! then runs the rest of the cell: cargo only adds the new crates to it.

use std::path::Path;

/// A cell's `:dep` lines and the rest of it, in their order; `None` when it
/// has no `:dep` line.
pub fn split(code: &str) -> Option<(String, String)> {
    let (deps, rest): (Vec<&str>, Vec<&str>) =
        code.lines().partition(|line| is_dep(line.trim_start()));
    if deps.is_empty() {
        return None;
    }
    Some((deps.join("\n"), rest.join("\n")))
}

fn is_dep(line: &str) -> bool {
    line.strip_prefix(":dep")
        .is_some_and(|after| after.is_empty() || after.starts_with(char::is_whitespace))
}

/// The build folder's lock file as it is now, to put back with [`restore`].
pub fn save(build_dir: &Path) -> Option<Vec<u8>> {
    std::fs::read(build_dir.join("Cargo.lock")).ok()
}

/// Puts back a lock file kept by [`save`]; says why on the kernel's log if
/// it cannot (the build then resolves afresh, as evcxr alone would).
pub fn restore(build_dir: &Path, saved: Option<Vec<u8>>) {
    if let Some(bytes) = saved {
        if let Err(e) = std::fs::write(build_dir.join("Cargo.lock"), bytes) {
            eprintln!(
                "deepscope-kernel: could not restore the build folder's Cargo.lock after :dep: {e}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dep_lines_are_taken_out_in_order_and_the_rest_kept() {
        let code = "let a = 1;\n:dep foo = \"1\"\n  :dep bar = { path = \"x\" }\n:depth\na + 1";
        let (deps, rest) = split(code).unwrap();
        assert_eq!(deps, ":dep foo = \"1\"\n  :dep bar = { path = \"x\" }");
        assert_eq!(rest, "let a = 1;\n:depth\na + 1");
    }

    #[test]
    fn a_cell_without_dep_is_left_alone() {
        assert_eq!(
            split("let dep = 1;\n// :dep in a comment? no, it starts the line\n"),
            None
        );
        assert_eq!(split(":dependency x"), None);
    }

    #[test]
    fn the_lock_file_comes_back_byte_for_byte() {
        let dir = std::env::temp_dir().join(format!("deepscope-dep-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Cargo.lock"), b"version = 4\n# pinned\n").unwrap();
        let saved = save(&dir);
        std::fs::write(dir.join("Cargo.lock"), b"version = 4\n").unwrap();
        restore(&dir, saved);
        let back = std::fs::read(dir.join("Cargo.lock")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(back, b"version = 4\n# pinned\n");
    }
}
