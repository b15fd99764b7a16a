//! Cells that stop at a `?`: evcxr prints the error to stderr and tells its
//! parent on stdout with a marker line that it consumes itself, so the
//! cell's reply would say "ok" and a notebook run by nbconvert would go on
//! past the failed cell. In the evaluation process we put a relay between
//! the process's stdout and evcxr: it passes every line through unchanged
//! and, before evcxr's marker, adds a line of ours, which evcxr forwards as
//! ordinary output and the stream forwarder turns into the cell's error.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, OwnedFd};

/// The line the relay adds before evcxr's marker (never shown to the user).
pub const CELL_ERROR_LINE: &str = "DEEPSCOPE_CELL_RETURNED_ERROR";

/// What evcxr 0.22's generated `From` impl prints after the error message
/// (`evcxr_internal_runtime::USER_ERROR_OCCURRED`, not exported).
const EVCXR_MARKER: &str = "EVCXR_ERROR_OCCURRED";

/// Puts the relay in place: fd 1 becomes a pipe read by a thread that
/// copies each line to the original stdout. Call it in the evaluation
/// process before evcxr's runtime loop starts.
pub fn relay_stdout() -> std::io::Result<()> {
    let mut fds = [0; 2];
    // SAFETY: pipe writes two new descriptors into `fds`; dup and dup2 only
    // take descriptors we own. Each is wrapped in an owner exactly once.
    let (reader, original) = unsafe {
        if libc::pipe(fds.as_mut_ptr()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let original = libc::dup(1);
        if original < 0 || libc::dup2(fds[1], 1) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        libc::close(fds[1]);
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(original))
    };
    std::thread::Builder::new()
        .name("stdout-relay".into())
        .spawn(move || relay(BufReader::new(File::from(reader)), File::from(original)))?;
    Ok(())
}

/// Copies lines from `from` to `to`, announcing evcxr's error marker.
/// Returns when `from` ends or `to` is gone.
fn relay(mut from: impl BufRead, mut to: impl Write) {
    let mut line = Vec::new();
    loop {
        line.clear();
        match from.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line.strip_suffix(b"\n") == Some(EVCXR_MARKER.as_bytes())
            && writeln!(to, "{CELL_ERROR_LINE}").is_err()
        {
            return;
        }
        if to.write_all(&line).and_then(|_| to.flush()).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relay_passes_everything_and_announces_the_marker() {
        let input = b"hello\nEVCXR_ERROR_OCCURRED\nEVCXR_ERROR_OCCURRED and more\nno newline";
        let mut out = Vec::new();
        relay(&input[..], &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "hello\nDEEPSCOPE_CELL_RETURNED_ERROR\nEVCXR_ERROR_OCCURRED\nEVCXR_ERROR_OCCURRED and more\nno newline"
        );
    }
}
