//! A grid of independent training runs that survives a kill: Yosinski's
//! transfer grid (over a hundred nets), seeds of many widths, a sweep of
//! one setting.
//!
//! A [`RunFolder`] holds one subfolder per run, named by the run's key.
//! While a run trains, its checkpoint lives in `<key>/checkpoint` (give
//! [`RunFiles::checkpoint`] to [`FitConfig::checkpoint_dir`](super::FitConfig)),
//! and whatever else it keeps (a trained net's weights) goes in
//! `<key>/`. When it finishes, its result is written to `<key>/result.json`
//! (a temporary file renamed into place: the rename is the commit) and the
//! checkpoint is removed. Asking for the run again returns the stored
//! result without training; a run killed part-way resumes from its last
//! epoch. Each run is a unit that another process (or, later, another
//! machine) can compute by itself.
//!
//! Each result records the run's settings in words: asking for a finished
//! run under other settings is an error rather than a stale answer.

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

const RESULT: &str = "result.json";

/// A folder of runs, each computed once.
#[derive(Debug, Clone)]
pub struct RunFolder {
    dir: PathBuf,
}

/// The files of one run, for the closure that trains it.
#[derive(Debug, Clone)]
pub struct RunFiles {
    /// The run's own folder (`<folder>/<key>`), for files it keeps.
    pub dir: PathBuf,
    /// Where its checkpoint goes while it trains (`<dir>/checkpoint`).
    pub checkpoint: PathBuf,
}

/// What `result.json` holds.
#[derive(Debug, Serialize, Deserialize)]
struct Stored<T> {
    key: String,
    settings: String,
    /// Wall-clock seconds of the call that finished the run (not of
    /// earlier, interrupted ones).
    seconds: f64,
    result: T,
}

impl RunFolder {
    /// The runs kept in `dir` (created if missing).
    pub fn new(dir: impl AsRef<Path>) -> Result<RunFolder> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(RunFolder { dir })
    }

    /// The folder itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The files of run `key` (the folder is created).
    pub fn files(&self, key: &str) -> Result<RunFiles> {
        check_key(key)?;
        let dir = self.dir.join(key);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(RunFiles {
            checkpoint: dir.join("checkpoint"),
            dir,
        })
    }

    /// The stored result of run `key`, or `None` if it has not finished.
    /// An error if it finished under other settings, or its result does
    /// not read as a `T`.
    pub fn finished<T: DeserializeOwned>(&self, key: &str, settings: &str) -> Result<Option<T>> {
        check_key(key)?;
        let path = self.dir.join(key).join(RESULT);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let stored: Stored<T> = serde_json::from_str(&text).map_err(|e| {
            Error::invalid(format!(
                "{}: not the result of a run of this kind ({e})",
                path.display()
            ))
        })?;
        if stored.settings != settings {
            return Err(Error::invalid(format!(
                "run '{key}' in {} finished with the settings \"{}\", not \"{settings}\": \
                 remove its folder to run it again, or keep the runs of other settings in another folder",
                self.dir.display(),
                stored.settings
            )));
        }
        Ok(Some(stored.result))
    }

    /// Run `key`'s result: the stored one if it has finished (no training),
    /// else what `train` returns, stored before it is returned. `train` is
    /// given the run's files; with [`RunFiles::checkpoint`] as its
    /// checkpoint folder a killed run resumes from its last epoch.
    pub fn run<T, F>(&self, key: &str, settings: &str, train: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(&RunFiles) -> Result<T>,
    {
        if let Some(done) = self.finished(key, settings)? {
            return Ok(done);
        }
        let files = self.files(key)?;
        let started = Instant::now();
        let result = train(&files)?;
        let stored = Stored {
            key: key.to_string(),
            settings: settings.to_string(),
            seconds: started.elapsed().as_secs_f64(),
            result,
        };
        let text = serde_json::to_string_pretty(&stored)
            .map_err(|e| Error::invalid(format!("run '{key}': its result is not JSON ({e})")))?;
        let path = files.dir.join(RESULT);
        crate::runtime::files::write_atomically(&path, text.as_bytes())?;
        if files.checkpoint.exists() {
            std::fs::remove_dir_all(&files.checkpoint)
                .map_err(|e| Error::io(&files.checkpoint, e))?;
        }
        Ok(stored.result)
    }

    /// Keys of the finished runs, sorted.
    pub fn keys(&self) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))? {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            if entry.path().join(RESULT).is_file() {
                keys.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        keys.sort();
        Ok(keys)
    }
}

/// A key names a folder: letters, digits, `-`, `_`, `.` and `+` (AnB+),
/// not starting with a dot, at most 200 characters.
fn check_key(key: &str) -> Result<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "-_.+".contains(c);
    if key.is_empty() || key.len() > 200 || key.starts_with('.') || !key.chars().all(ok_char) {
        return Err(Error::invalid(format!(
            "run key {key:?}: expected 1 to 200 letters, digits, '-', '_', '.' or '+', not starting with '.'"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_run_is_not_run_again_and_its_checkpoint_goes() {
        let tmp = tempfile::tempdir().unwrap();
        let runs = RunFolder::new(tmp.path().join("grid")).unwrap();
        let mut calls = 0;
        let first: f64 = runs
            .run("AnB+-3-r0", "lr 0.01", |files| {
                calls += 1;
                std::fs::create_dir_all(&files.checkpoint).unwrap();
                std::fs::write(files.dir.join("weights"), b"w").unwrap();
                Ok(0.625)
            })
            .unwrap();
        let again: f64 = runs
            .run("AnB+-3-r0", "lr 0.01", |_| {
                calls += 1;
                Ok(0.0)
            })
            .unwrap();
        assert_eq!((first, again, calls), (0.625, 0.625, 1));
        let dir = runs.dir().join("AnB+-3-r0");
        assert!(!dir.join("checkpoint").exists());
        assert!(dir.join("weights").exists(), "the run's own files stay");
        assert_eq!(runs.keys().unwrap(), vec!["AnB+-3-r0".to_string()]);
    }

    #[test]
    fn a_failed_run_stores_nothing_and_runs_again() {
        let tmp = tempfile::tempdir().unwrap();
        let runs = RunFolder::new(tmp.path()).unwrap();
        let failed: Result<u32> = runs.run("a", "s", |_| Err(Error::invalid("killed")));
        assert!(failed.is_err());
        assert_eq!(runs.finished::<u32>("a", "s").unwrap(), None);
        assert!(runs.keys().unwrap().is_empty());
        assert_eq!(runs.run("a", "s", |_| Ok(7u32)).unwrap(), 7);
    }

    #[test]
    fn other_settings_or_another_kind_of_result_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let runs = RunFolder::new(tmp.path()).unwrap();
        runs.run("a", "epochs 5", |_| Ok(1.5f64)).unwrap();
        let e = runs.run("a", "epochs 6", |_| Ok(2.0f64)).unwrap_err();
        assert!(e.to_string().contains("\"epochs 5\""), "{e}");
        let e = runs.finished::<Vec<String>>("a", "epochs 5").unwrap_err();
        assert!(e.to_string().contains("not the result"), "{e}");
        for bad in ["", "../up", "a/b", ".hidden", "sp ace"] {
            assert!(runs.run(bad, "s", |_| Ok(0u8)).is_err(), "{bad:?}");
        }
    }
}
