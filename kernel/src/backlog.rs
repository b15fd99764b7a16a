//! A bound on the stream text waiting on the iopub queue. A cell that prints
//! without end, faster than the sockets can take it, would otherwise grow
//! the kernel's memory until the machine runs out; past the bound, lines are
//! dropped and counted, and a notice says how many where the output resumes.

use crate::shared::lock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Bytes of stream text that may wait on the iopub queue (64 MiB: far more
/// than a second of what the sockets carry, so output a frontend can follow
/// is never dropped).
pub const LIMIT: usize = 64 << 20;

/// The limit: [`LIMIT`], or `DEEPSCOPE_KERNEL_BACKLOG_BYTES` when set to a
/// number (the protocol tests use a small one to see the dropping).
pub fn limit_from_env() -> usize {
    std::env::var("DEEPSCOPE_KERNEL_BACKLOG_BYTES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(LIMIT)
}

/// What was dropped since the last notice.
#[derive(Debug, Default)]
struct Dropped {
    /// Dropping until the queue has drained to half the limit, so that a
    /// flood gives one gap and one notice rather than many.
    active: bool,
    lines: u64,
    bytes: u64,
}

/// The queued stream bytes and the lines dropped, shared by the thread that
/// forwards the cell's output and the task that sends iopub.
#[derive(Debug)]
pub struct Backlog {
    limit: usize,
    queued: AtomicUsize,
    dropped: Mutex<Dropped>,
}

impl Backlog {
    /// A backlog that holds at most `limit` bytes of stream text.
    pub fn new(limit: usize) -> Self {
        Backlog {
            limit,
            queued: AtomicUsize::new(0),
            dropped: Mutex::new(Dropped::default()),
        }
    }

    /// Whether stream text of `bytes` in `lines` lines may be queued now;
    /// if not, it is counted as dropped. A queue that is empty takes any
    /// text, however long, so one large message always gets through.
    pub fn admit(&self, lines: usize, bytes: usize) -> bool {
        let queued = self.queued.load(Ordering::Acquire);
        let mut dropped = lock(&self.dropped);
        if dropped.active && queued > self.limit / 2 {
            // still draining
        } else if queued == 0 || queued + bytes <= self.limit {
            dropped.active = false;
            return true;
        }
        dropped.active = true;
        dropped.lines += lines as u64;
        dropped.bytes += bytes as u64;
        false
    }

    /// Stream text of `bytes` went on the queue.
    pub fn queued(&self, bytes: usize) {
        self.queued.fetch_add(bytes, Ordering::AcqRel);
    }

    /// Stream text of `bytes` left the queue (sent or given up).
    pub fn sent(&self, bytes: usize) {
        let _ = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                Some(q.saturating_sub(bytes))
            });
    }

    /// Bytes of stream text on the queue now.
    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// The notice for what was dropped since the last one (once), if
    /// anything was.
    pub fn take_notice(&self) -> Option<String> {
        let mut dropped = lock(&self.dropped);
        if dropped.lines == 0 && dropped.bytes == 0 {
            return None;
        }
        let notice = format!(
            "[deepscope: {} lines ({} bytes) of output were dropped here: the cell printed \
             faster than the notebook could take them]\n",
            dropped.lines, dropped.bytes
        );
        dropped.lines = 0;
        dropped.bytes = 0;
        Some(notice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_beyond_the_limit_is_dropped_counted_and_noticed_once() {
        let b = Backlog::new(100);
        assert!(b.admit(1, 60));
        b.queued(60);
        assert!(b.admit(1, 40));
        b.queued(40);
        assert!(!b.admit(2, 10), "a full queue takes nothing more");
        assert!(!b.admit(3, 1));
        assert_eq!(b.waiting(), 100);
        let notice = b.take_notice().expect("something was dropped");
        assert!(notice.contains("5 lines"), "{notice}");
        assert!(b.take_notice().is_none(), "one notice per gap");
    }

    #[test]
    fn dropping_goes_on_until_the_queue_has_drained_to_half() {
        let b = Backlog::new(100);
        b.queued(100);
        assert!(!b.admit(1, 10));
        b.sent(30); // 70 waiting: room for 10, but still above half
        assert!(!b.admit(1, 10));
        b.sent(30); // 40 waiting
        assert!(b.admit(1, 10));
        assert_eq!(b.take_notice().map(|n| n.contains("2 lines")), Some(true));
    }

    #[test]
    fn an_empty_queue_takes_one_message_longer_than_the_limit() {
        let b = Backlog::new(100);
        assert!(b.admit(1, 1000));
        b.queued(1000);
        b.sent(1000);
        assert_eq!(b.waiting(), 0);
        assert!(b.take_notice().is_none());
    }

    #[test]
    fn the_count_never_goes_below_zero() {
        let b = Backlog::new(100);
        b.sent(5);
        assert_eq!(b.waiting(), 0);
    }
}
