//! A kernel's environment, split in two. A ready evaluator was prepared in
//! the environment of the kernel that started the service, and is handed to
//! a kernel that Jupyter started with its own. Variables that shaped the
//! preparation (the toolchain, libtorch and its threads, the library
//! sources, the kernel's own settings) must be equal, so they name the
//! service a kernel asks; every other variable (`DEEPSCOPE_QUICK`, the data
//! folder, Jupyter's session names) is applied to the evaluator at handover.

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Variables as name and value, sorted by name.
pub type Vars = BTreeMap<String, String>;

static AT_START: OnceLock<Result<Vars, String>> = OnceLock::new();

/// Records the environment this process started with; called first thing
/// in `main`, before the kernel adds its own variables.
pub fn capture() {
    let _ = AT_START.set(read());
}

fn read() -> Result<Vars, String> {
    let mut vars = Vars::new();
    for (k, v) in std::env::vars_os() {
        match (k.to_str(), v.to_str()) {
            (Some(k), Some(v)) => _ = vars.insert(k.to_string(), v.to_string()),
            // It could not travel in a message, so no evaluator could be
            // given it.
            _ if !is_own(&k.to_string_lossy()) => {
                return Err(format!("the variable {} is not UTF-8", k.to_string_lossy()))
            }
            _ => {}
        }
    }
    Ok(vars)
}

/// The environment recorded by [`capture`] (read now if it was not); an
/// error when a variable is not UTF-8.
pub fn captured() -> Result<&'static Vars, String> {
    AT_START.get_or_init(read).as_ref().map_err(Clone::clone)
}

/// Variables the kernel itself sets for its evaluation process; never
/// compared or carried.
const OWN: &[&str] = &[
    "EVCXR_IS_RUNTIME",
    "EVCXR_TMPDIR",
    crate::DISPLAY_SOCKET_ENV,
    super::HANDOVER_ENV,
    super::WORKER_FD_ENV,
];

pub(crate) fn is_own(key: &str) -> bool {
    OWN.contains(&key)
}

/// Whether a variable shaped how an evaluator was prepared (so it cannot be
/// changed afterwards): the toolchain and cargo, libtorch and its thread
/// pools, the loader, the library sources and the kernel's settings.
pub fn is_fixed(key: &str) -> bool {
    const EXACT: &[&str] = &[
        "PATH",
        "HOME",
        "USER",
        "TMPDIR",
        "LIBTORCH",
        "RUSTFLAGS",
        "RUSTC",
        "RUSTC_WRAPPER",
        "DEEPSCOPE_SOURCE",
        "XDG_CACHE_HOME",
        "XDG_RUNTIME_DIR",
    ];
    const PREFIX: &[&str] = &[
        "LD_",
        "LIBTORCH_",
        "RUSTUP_",
        "CARGO",
        "EVCXR_",
        "DEEPSCOPE_KERNEL_",
        "OMP_",
        "MKL_",
        "KMP_",
        "CUDA_",
        "NVIDIA_",
        "TORCH_",
        "PYTORCH_",
    ];
    !is_own(key) && (EXACT.contains(&key) || PREFIX.iter().any(|p| key.starts_with(p)))
}

/// The fixed part of `vars`.
pub fn fixed(vars: &Vars) -> Vars {
    vars.iter()
        .filter(|(k, _)| is_fixed(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// What turns one environment into another, for the variables that are
/// neither fixed nor the kernel's own.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Delta {
    /// Variables to set (new or changed).
    pub set: Vars,
    /// Variables to remove.
    pub unset: Vec<String>,
}

impl Delta {
    /// From `from` (the evaluator's) to `to` (the kernel's).
    pub fn between(from: &Vars, to: &Vars) -> Self {
        let late = |k: &str| !is_fixed(k) && !is_own(k);
        Self {
            set: to
                .iter()
                .filter(|(k, v)| late(k) && from.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            unset: from
                .keys()
                .filter(|k| late(k) && !to.contains_key(*k))
                .cloned()
                .collect(),
        }
    }

    /// Applies it to this process.
    ///
    /// Changing the environment of a running process races with threads
    /// that read it through libc; the evaluator and the evaluation process
    /// call this only while nothing runs (between preparation and the
    /// first cell), and Rust's own readers take the same lock as this.
    pub fn apply(&self) {
        for (k, v) in &self.set {
            // See above: no cell or build runs at this moment.
            std::env::set_var(k, v);
        }
        for k in &self.unset {
            std::env::remove_var(k);
        }
    }
}

/// Names of fixed variables that differ between `a` and `b`.
pub fn fixed_differences(a: &Vars, b: &Vars) -> Vec<String> {
    let (fa, fb) = (fixed(a), fixed(b));
    let mut keys: Vec<String> = fa
        .keys()
        .chain(fb.keys())
        .filter(|k| fa.get(*k) != fb.get(*k))
        .cloned()
        .collect();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_split() {
        for key in [
            "PATH",
            "LIBTORCH",
            "LD_LIBRARY_PATH",
            "CARGO_HOME",
            "OMP_NUM_THREADS",
            "CUDA_VISIBLE_DEVICES",
            "DEEPSCOPE_KERNEL_READY",
            "DEEPSCOPE_SOURCE",
        ] {
            assert!(is_fixed(key), "{key} is fixed");
        }
        for key in [
            "DEEPSCOPE_QUICK",
            "DEEPSCOPE_DATA",
            "JPY_SESSION_NAME",
            "DEEPSCOPE_INTERRUPT_GRACE",
            "PATHOLOGY",
            "EVCXR_IS_RUNTIME",
            "DEEPSCOPE_DISPLAY_SOCKET",
        ] {
            assert!(!is_fixed(key), "{key} is applied late or the kernel's own");
        }
    }

    #[test]
    fn delta_turns_one_environment_into_the_other() {
        let from = vars(&[
            ("PATH", "/a"),
            ("KEEP", "1"),
            ("OLD", "x"),
            ("CHANGED", "1"),
            ("EVCXR_TMPDIR", "/slot-1"),
        ]);
        let to = vars(&[
            ("PATH", "/b"),
            ("KEEP", "1"),
            ("CHANGED", "2"),
            ("NEW", "y"),
        ]);
        let delta = Delta::between(&from, &to);
        assert_eq!(delta.set, vars(&[("CHANGED", "2"), ("NEW", "y")]));
        assert_eq!(delta.unset, vec!["OLD".to_string()]);
        assert_eq!(fixed_differences(&from, &to), vec!["PATH".to_string()]);
        assert_eq!(Delta::between(&to, &to), Delta::default());
    }
}
