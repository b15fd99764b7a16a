//! The interrupt flag: long loops in the library check it between batches
//! and end cleanly, keeping the model and what was measured. The kernel sets
//! it when the user presses stop; in a terminal, Ctrl-C can set it.
//!
//! Every loop asks in one way, [`should_stop`]: it consumes the request it
//! honours (the kernel also clears the flag after an interrupted cell), and
//! looks at a caller's own flag instead of the process's when given one.
//!
//! One flag per process, also where the library is loaded many times: the
//! deepscope kernel's evaluation process loads every notebook cell as its
//! own shared object, each with a static copy of this library. The flag
//! therefore has an exported name, [`DEEPSCOPE_INTERRUPT_FLAG`]; each copy
//! looks the name up in the process and uses the first definition found
//! (the kernel executable exports its own), falling back to its own flag in
//! an ordinary program.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// The flag's storage, under a name every copy of the library can find.
#[no_mangle]
pub static DEEPSCOPE_INTERRUPT_FLAG: AtomicBool = AtomicBool::new(false);

fn flag() -> &'static AtomicBool {
    static RESOLVED: OnceLock<&'static AtomicBool> = OnceLock::new();
    RESOLVED.get_or_init(|| process_flag().unwrap_or(&DEEPSCOPE_INTERRUPT_FLAG))
}

/// The process's first `DEEPSCOPE_INTERRUPT_FLAG` (the executable's, if it
/// exports one).
#[cfg(unix)]
fn process_flag() -> Option<&'static AtomicBool> {
    let this = libloading::os::unix::Library::this();
    // SAFETY: the symbol, if present, is this very static in some copy of
    // this library: an AtomicBool that lives as long as the process.
    unsafe {
        let symbol = this
            .get::<*const AtomicBool>(b"DEEPSCOPE_INTERRUPT_FLAG\0")
            .ok()?;
        (*symbol).as_ref()
    }
}

#[cfg(not(unix))]
fn process_flag() -> Option<&'static AtomicBool> {
    None
}

/// Whether a loop should stop now: a stop was requested on `own` if given,
/// else on the process-wide flag. The request is consumed: the loop that
/// sees it honours it. What `fit`, the Deep Image Prior, loss-surface scans
/// and the critical-point search call between steps.
pub fn should_stop(own: Option<&AtomicBool>) -> bool {
    match own {
        Some(flag) => flag.swap(false, Ordering::SeqCst),
        None => take(),
    }
}

/// Asks running loops to stop at their next check.
pub fn request() {
    flag().store(true, Ordering::SeqCst);
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    flag().load(Ordering::SeqCst)
}

/// Whether a stop was asked for, clearing the request: what a loop calls
/// when it honours it.
pub fn take() -> bool {
    flag().swap(false, Ordering::SeqCst)
}

/// Clears the request.
pub fn clear() {
    flag().store(false, Ordering::SeqCst);
}

/// Makes Ctrl-C (SIGINT) set the flag instead of killing the process, so a
/// script's training loop ends cleanly. A second Ctrl-C while the first is
/// pending still ends the process (exit status 130).
pub fn install_ctrl_c() -> std::io::Result<()> {
    install(true)
}

/// Makes SIGINT only set the flag, never end the process. The deepscope
/// kernel installs this in its evaluation process: it sends SIGINT when the
/// user interrupts, and itself decides, after a grace period, whether a cell
/// that ignored the flag must be stopped by force.
pub fn install_flag_handler() -> std::io::Result<()> {
    install(false)
}

#[cfg(unix)]
fn install(second_exits: bool) -> std::io::Result<()> {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    // Resolved now: the handler must not allocate or take locks.
    let flag = flag();
    let handler = move || {
        if second_exits && flag.load(Ordering::SeqCst) {
            signal_hook::low_level::exit(130);
        }
        flag.store(true, Ordering::SeqCst);
    };
    // SAFETY: the handler only touches an atomic and may call `_exit`, both
    // async-signal-safe.
    unsafe { signal_hook::low_level::register(signal_hook::consts::SIGINT, handler) }?;
    let _ = INSTALLED.set(());
    Ok(())
}

#[cfg(not(unix))]
fn install(_: bool) -> std::io::Result<()> {
    Ok(())
}

/// Makes SIGTERM set the flag too: what a batch system sends before it
/// kills a job (Slurm's `scancel`, a time limit; the kill follows after
/// `KillWait`, 30 s by default), so a job saves what it has and exits.
#[cfg(unix)]
pub fn install_term_handler() -> std::io::Result<()> {
    let flag = flag();
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        signal_hook::low_level::register(signal_hook::consts::SIGTERM, move || {
            flag.store(true, Ordering::SeqCst)
        })
    }?;
    Ok(())
}

/// SIGTERM has no handler off Unix.
#[cfg(not(unix))]
pub fn install_term_handler() -> std::io::Result<()> {
    Ok(())
}
