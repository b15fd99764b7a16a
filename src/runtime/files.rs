//! Files that are whole or absent: what a resumable run, a grid shard or
//! a merged study writes while another process may read it, or while the
//! writer may be killed.

use crate::error::{Error, Result};
use std::path::Path;

/// Writes `bytes` to a temporary file beside `path` (named for this
/// process, so that two processes writing the same file do not share one),
/// then renames it into place: a reader sees the old file or the whole new
/// one, never a part, and a kill leaves at most a stray temporary file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_replaced_whole_and_no_temporary_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("result.json");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second, longer").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second, longer");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["result.json"]);
        let missing = dir.path().join("no-such-folder").join("x.json");
        assert!(write_atomically(&missing, b"x").is_err());
    }
}
