//! The interrupt flag: long loops in the library check it between batches
//! and end cleanly, keeping the model and what was measured. The kernel sets
//! it when the user presses stop; in a terminal, Ctrl-C can set it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

fn flag() -> &'static Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// The process-wide flag, for code that wants to share it.
pub fn shared_flag() -> Arc<AtomicBool> {
    flag().clone()
}

/// Asks running loops to stop at their next check.
pub fn request() {
    flag().store(true, Ordering::SeqCst);
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    flag().load(Ordering::SeqCst)
}

/// Clears the request (loops clear it themselves when they honour it).
pub fn clear() {
    flag().store(false, Ordering::SeqCst);
}

/// Makes Ctrl-C (SIGINT) set the flag instead of killing the process, so a
/// script's training loop ends cleanly. A second Ctrl-C while the first is
/// pending still ends the process.
pub fn install_ctrl_c() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use signal_hook::consts::SIGINT;
        // The second registration kills only when the flag is already set.
        signal_hook::flag::register_conditional_shutdown(SIGINT, 130, flag().clone())?;
        signal_hook::flag::register(SIGINT, flag().clone())?;
    }
    Ok(())
}
