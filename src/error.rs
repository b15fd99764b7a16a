//! The one error type of the library.
//!
//! Every public function that takes tensors, files or names from a user checks
//! them and returns one of these instead of panicking: a panic inside a notebook
//! cell can cost the user every variable in the kernel. Messages say what was
//! wrong and what was expected, in words a user can act on.

use std::path::{Path, PathBuf};

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, with enough context to fix it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A dataset or image name the catalog does not know, or one listed in the
    /// manifest whose files were never gathered.
    #[error("dataset '{name}' is not available: {reason}. {hint}")]
    DatasetMissing {
        /// The name the user asked for.
        name: String,
        /// Why it is not available (no manifest, not in the manifest, file gone).
        reason: String,
        /// What to run or set to get it.
        hint: String,
    },

    /// A data file exists but its content is not what its format promises.
    #[error("{}: {what}", path.display())]
    Corrupt {
        /// The file that was read.
        path: PathBuf,
        /// What was wrong: bad magic number, short read, wrong count, ...
        what: String,
    },

    /// A file whose SHA-256 does not match the one recorded in the manifest.
    #[error("{}: checksum mismatch: the manifest records sha256 {expected}, the file has {actual}; re-run `make setup` to gather it again", path.display())]
    Checksum {
        /// The file that was hashed.
        path: PathBuf,
        /// SHA-256 recorded in the manifest (hex).
        expected: String,
        /// SHA-256 of the file on disk (hex).
        actual: String,
    },

    /// An operating-system error while reading or writing a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A tensor with the wrong shape, dtype or device for the call.
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        /// Which argument, e.g. "images".
        what: String,
        /// What the call needs, e.g. "[N, C, H, W]".
        expected: String,
        /// What it was given, e.g. "[28, 28]".
        got: String,
    },

    /// An argument outside its valid range, or an inconsistent combination.
    #[error("{0}")]
    InvalidArgument(String),

    /// The stop flag (the kernel's stop button, Ctrl-C) ended a run before
    /// its last epoch where the caller needed a finished one.
    #[error("{0}")]
    Interrupted(String),

    /// An error that libtorch raised despite our checks (its message only;
    /// libtorch's C++ backtrace is dropped).
    #[error("libtorch: {0}")]
    Torch(String),
}

impl From<tch::TchError> for Error {
    fn from(e: tch::TchError) -> Self {
        Error::Torch(torch_message(&e))
    }
}

/// A libtorch error's message without the C++ backtrace that follows it
/// ("Exception raised from ..." and the frame list), which says nothing to a
/// notebook user.
pub fn torch_message(e: &tch::TchError) -> String {
    let text = e.to_string();
    let cut = text
        .find("\nException raised from")
        .or_else(|| text.find("Exception raised from"));
    text[..cut.unwrap_or(text.len())].trim_end().to_string()
}

impl Error {
    /// A libtorch error raised inside layer `name`, said as that layer's
    /// (other errors pass unchanged): what every forward pass reports.
    pub(crate) fn in_layer(self, name: &str) -> Self {
        match self {
            Error::Torch(t) => Error::invalid(format!("layer '{name}': {t}")),
            other => other,
        }
    }

    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// An [`Error::Corrupt`] for `path`.
    pub fn corrupt(path: impl AsRef<Path>, what: impl Into<String>) -> Self {
        Error::Corrupt {
            path: path.as_ref().to_path_buf(),
            what: what.into(),
        }
    }

    /// An [`Error::Shape`].
    pub fn shape(
        what: impl Into<String>,
        expected: impl Into<String>,
        got: impl Into<String>,
    ) -> Self {
        Error::Shape {
            what: what.into(),
            expected: expected.into(),
            got: got.into(),
        }
    }

    /// An [`Error::InvalidArgument`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidArgument(message.into())
    }
}
