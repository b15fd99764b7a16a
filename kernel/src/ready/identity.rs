//! What a ready evaluator was built from: this kernel binary and the
//! library sources it preloads. A kernel hands out only an evaluator whose
//! identity equals its own, so a rebuilt library or kernel is never served
//! by an evaluator compiled from the old one.

use sha2::{Digest, Sha256};
use std::path::Path;

/// The two halves, each a hex digest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// The kernel binary: path, size and modification time.
    pub binary: String,
    /// The library sources: path, size and modification time of
    /// `Cargo.toml`, `Cargo.lock`, `build.rs` and every file under `src/`.
    pub library: String,
}

impl Identity {
    /// This kernel's identity now.
    pub fn current() -> Self {
        let source = crate::source_dir();
        let mut library = Sha256::new();
        for name in ["Cargo.toml", "Cargo.lock", "build.rs"] {
            stamp(&mut library, &source, &source.join(name));
        }
        let mut files = Vec::new();
        walk(&source.join("src"), &mut files);
        files.sort();
        for file in &files {
            stamp(&mut library, &source, file);
        }
        Self {
            binary: binary(),
            library: hex(library),
        }
    }
}

/// The binary half alone (what names a service), without walking the
/// library's sources: the kernel binary's, also when the launcher asks.
pub fn binary() -> String {
    let mut binary = Sha256::new();
    if let Some(exe) = crate::kernel_binary() {
        stamp(&mut binary, &exe, &exe);
    }
    hex(binary)
}

/// Adds a file's path (relative to `root`), size and modification time; a
/// missing file adds its path alone.
fn stamp(hash: &mut Sha256, root: &Path, file: &Path) {
    let relative = file.strip_prefix(root).unwrap_or(file);
    hash.update(relative.as_os_str().as_encoded_bytes());
    hash.update([0]);
    if let Ok(meta) = std::fs::metadata(file) {
        hash.update(meta.len().to_le_bytes());
        if let Ok(Ok(t)) = meta
            .modified()
            .map(|t| t.duration_since(std::time::UNIX_EPOCH))
        {
            hash.update(t.as_nanos().to_le_bytes());
        }
    }
}

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, out),
            Ok(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
}

fn hex(hash: Sha256) -> String {
    hash.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touching_a_source_file_changes_the_library_half() {
        let root = std::env::temp_dir().join(format!("ds-identity-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(root.join("src/a")).unwrap();
        std::fs::write(root.join("src/a/b.rs"), "fn b() {}").unwrap();
        let of = |root: &Path| {
            let mut h = Sha256::new();
            let mut files = Vec::new();
            walk(&root.join("src"), &mut files);
            for f in &files {
                stamp(&mut h, root, f);
            }
            hex(h)
        };
        let before = of(&root);
        assert_eq!(before, of(&root), "stable while nothing changes");
        std::fs::write(root.join("src/a/b.rs"), "fn b() { 1; }").unwrap();
        assert_ne!(before, of(&root), "an edited file changes it");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
