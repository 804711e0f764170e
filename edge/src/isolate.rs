//! What this isolate knows about itself: the requests it has handled and the size of its wasm
//! linear memory. A leaf: `app` counts, `internal` reports.

use std::sync::atomic::{AtomicU64, Ordering};

use domain::wire::IsolateStats;

/// An isolate handles one request at a time per event-loop turn; relaxed ordering suffices.
static REQUESTS_HANDLED: AtomicU64 = AtomicU64::new(0);

/// Counts one request (called first thing for every request).
pub fn count_request() {
    REQUESTS_HANDLED.fetch_add(1, Ordering::Relaxed);
}

pub fn stats() -> IsolateStats {
    // Outside wasm (the native tests) there is no linear memory to report.
    #[cfg(target_arch = "wasm32")]
    let linear_memory_bytes = Some(linear_memory_bytes());
    #[cfg(not(target_arch = "wasm32"))]
    let linear_memory_bytes = None;
    IsolateStats {
        linear_memory_bytes,
        requests_handled: REQUESTS_HANDLED.load(Ordering::Relaxed),
    }
}

/// The wasm linear memory in bytes (pages of 64 KiB), which grows with the allocator's
/// high-water mark and never shrinks.
#[cfg(target_arch = "wasm32")]
fn linear_memory_bytes() -> u64 {
    const PAGE_BYTES: u64 = 64 * 1024;
    let pages = core::arch::wasm32::memory_size::<0>();
    u64::try_from(pages).map_or(u64::MAX, |pages| pages.saturating_mul(PAGE_BYTES))
}
