//! Build folders reused across kernel starts. evcxr compiles the preloaded
//! library (tch, deepscope and their dependencies) into its build folder;
//! a fresh folder per kernel would recompile all of it at every start. The
//! pool keeps a few numbered folders, each guarded by an exclusive `flock`
//! held for the kernel's lifetime, so two kernels never build in one folder
//! and a crashed kernel releases its folder (the OS drops the lock).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// Default number of folders; more kernels at once than this get a
/// temporary folder (and a cold start).
pub const DEFAULT_SIZE: usize = 4;

/// The pool's root: `$DEEPSCOPE_KERNEL_POOL`, else
/// `$XDG_CACHE_HOME/deepscope/kernel-builds/<checkout>`, else
/// `~/.cache/deepscope/kernel-builds/<checkout>`, where `<checkout>` names
/// the library sources the kernel preloads (their folder name and a hash of
/// the path), so two checkouts never rebuild each other's folders.
pub fn root() -> PathBuf {
    if let Some(dir) = std::env::var_os("DEEPSCOPE_KERNEL_POOL").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache
        .join("deepscope")
        .join("kernel-builds")
        .join(checkout_key(&crate::preload::source_dir()))
}

/// `<folder name>-<first 12 hex digits of sha256(path)>`.
fn checkout_key(source: &Path) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(source.as_os_str().as_encoded_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    let name = source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "root".into());
    format!("{name}-{hex}")
}

/// A build folder held by this process.
#[derive(Debug)]
pub struct Slot {
    /// The folder evcxr builds in.
    pub dir: PathBuf,
    /// Which numbered slot, or `None` for a temporary folder.
    pub index: Option<usize>,
    // Held open: the lock lasts as long as the file descriptor.
    _lock: Option<File>,
    _temp: Option<TempFolder>,
}

/// A temporary build folder, removed when the kernel ends.
#[derive(Debug)]
struct TempFolder(PathBuf);

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Takes an exclusive `flock` on `file` without waiting: `Ok(false)` when
/// another process holds it.
#[cfg(unix)]
pub fn try_lock(file: &File) -> io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

#[cfg(not(unix))]
pub fn try_lock(_: &File) -> io::Result<bool> {
    Ok(true)
}

/// The lock file of slot `index` (created if missing, never truncated:
/// another process may hold a lock on it).
fn lock_file(root: &Path, index: usize) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(root.join(format!("slot-{index}.lock")))
}

/// Takes the first free folder of `size` under `root`, or a temporary folder
/// when all are taken.
pub fn acquire(root: &Path, size: usize) -> io::Result<Slot> {
    std::fs::create_dir_all(root)?;
    for index in 0..size {
        let file = lock_file(root, index)?;
        if try_lock(&file)? {
            let dir = root.join(format!("slot-{index}"));
            std::fs::create_dir_all(&dir)?;
            return Ok(Slot {
                dir,
                index: Some(index),
                _lock: Some(file),
                _temp: None,
            });
        }
    }
    let dir = root.join(format!(
        "temp-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(Slot {
        dir: dir.clone(),
        index: None,
        _lock: None,
        _temp: Some(TempFolder(dir)),
    })
}

/// Makes each free numbered folder below `upto` (other than `from`'s) a
/// copy of `from`'s folder, so that the kernels and ready evaluators that
/// take them start warm: a copy costs seconds where a build from nothing
/// costs minutes, and cargo finds the copy fresh (its fingerprints hold
/// the sources' times and paths relative to the folder, and `cp -a` keeps
/// the times). A folder in use is left alone. Returns the indices copied.
///
/// Each copy is written beside its folder and renamed into place, so an
/// interrupted copy never leaves a half folder where a kernel would build.
pub fn seed_free_slots(root: &Path, from: &Slot, upto: usize) -> io::Result<Vec<usize>> {
    let mut copied = Vec::new();
    for index in (0..upto).filter(|&i| Some(i) != from.index) {
        let lock = lock_file(root, index)?;
        if !try_lock(&lock)? {
            continue;
        }
        let dir = root.join(format!("slot-{index}"));
        let fresh = root.join(format!("slot-{index}.copying-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&fresh);
        let status = std::process::Command::new("cp")
            .args(["-a", "--reflink=auto"])
            .arg(&from.dir)
            .arg(&fresh)
            .status()?;
        if !status.success() {
            let _ = std::fs::remove_dir_all(&fresh);
            return Err(io::Error::other(format!(
                "cp -a {} {} failed ({status})",
                from.dir.display(),
                fresh.display()
            )));
        }
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::rename(&fresh, &dir)?;
        copied.push(index);
    }
    Ok(copied)
}

/// The pool size from `$DEEPSCOPE_KERNEL_POOL_SIZE` (at least 1).
pub fn size() -> usize {
    std::env::var("DEEPSCOPE_KERNEL_POOL_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n >= 1)
        .unwrap_or(DEFAULT_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkouts_get_their_own_pools() {
        let a = checkout_key(Path::new("/work/main"));
        let b = checkout_key(Path::new("/tmp/main"));
        assert!(a.starts_with("main-") && b.starts_with("main-"));
        assert_ne!(a, b);
        assert_eq!(a, checkout_key(Path::new("/work/main")));
    }

    #[test]
    fn two_holders_never_share_a_folder() {
        let root = std::env::temp_dir().join(format!("ds-pool-test-{}", uuid::Uuid::new_v4()));
        let a = acquire(&root, 2).unwrap();
        let b = acquire(&root, 2).unwrap();
        assert_eq!((a.index, b.index), (Some(0), Some(1)));
        let c = acquire(&root, 2).unwrap();
        assert_eq!(c.index, None, "a full pool hands out a temporary folder");
        let temp = c.dir.clone();
        drop(c);
        assert!(!temp.exists(), "the temporary folder is removed");
        drop(a);
        // A child another test forks holds a copy of every descriptor from
        // its fork to its exec (where close-on-exec drops it), and with it
        // the lock: the release can take a moment to be seen.
        let d = (0..200).find_map(|_| {
            let d = acquire(&root, 2).unwrap();
            if d.index == Some(0) {
                return Some(d);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            None
        });
        assert!(d.is_some(), "a released folder is reused");
        drop((b, d));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn free_folders_become_copies_and_held_ones_are_left_alone() {
        use std::os::unix::fs::MetadataExt;
        let root = std::env::temp_dir().join(format!("ds-pool-test-{}", uuid::Uuid::new_v4()));
        let built = acquire(&root, 3).unwrap();
        let held = acquire(&root, 3).unwrap();
        std::fs::create_dir_all(built.dir.join("target/debug")).unwrap();
        let artifact = built.dir.join("target/debug/libx.rlib");
        std::fs::write(&artifact, b"compiled").unwrap();
        std::fs::write(held.dir.join("mine"), b"in use").unwrap();
        // An old file in the free folder must not survive the copy.
        std::fs::create_dir_all(root.join("slot-2")).unwrap();
        std::fs::write(root.join("slot-2/stale"), b"old").unwrap();

        let copied = seed_free_slots(&root, &built, 3).unwrap();

        assert_eq!(copied, vec![2], "slot 1 is held, slot 0 is the source");
        let copy = root.join("slot-2/target/debug/libx.rlib");
        assert_eq!(std::fs::read(&copy).unwrap(), b"compiled");
        let (a, b) = (artifact.metadata().unwrap(), copy.metadata().unwrap());
        assert_eq!(
            (a.mtime(), a.mtime_nsec()),
            (b.mtime(), b.mtime_nsec()),
            "cargo compares times"
        );
        assert!(!root.join("slot-2/stale").exists());
        assert_eq!(std::fs::read(held.dir.join("mine")).unwrap(), b"in use");
        assert!(!held.dir.join("target").exists());
        let leftovers: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("copying"))
            .collect();
        assert!(leftovers.is_empty());
        drop((built, held));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
