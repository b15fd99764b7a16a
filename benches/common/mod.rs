#![allow(dead_code)] // each bench uses part of it
//! What our benches share: the thread count and a peak-memory probe that
//! the Python side (`bench/common.py`) measures the same way.

use std::time::Instant;

/// Sets libtorch's threads to `BENCH_THREADS`, else every core, and returns
/// the count (the Python side reads it from our JSON and matches it).
pub fn set_threads() -> i32 {
    let threads = std::env::var("BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as i32));
    tch::set_num_threads(threads);
    tch::get_num_threads()
}

/// A field of `/proc/self/status` in bytes (`VmRSS`, `VmHWM`).
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Runs `f` and returns (seconds, resident memory at the peak above what
/// was resident before, in bytes). Linux resets the peak (`VmHWM`) when "5"
/// is written to `/proc/self/clear_refs`.
pub fn time_and_peak<T>(f: impl FnOnce() -> T) -> (f64, u64, T) {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = status_bytes("VmRSS");
    let t = Instant::now();
    let out = f();
    let seconds = t.elapsed().as_secs_f64();
    (seconds, status_bytes("VmHWM").saturating_sub(before), out)
}
