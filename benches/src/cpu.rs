//! CPU time of the calling thread: what the benches report, so that the time other processes
//! take from this core (the machine is shared) is not counted.

use std::time::Duration;

use rustix::time::{ClockId, clock_gettime};

/// CPU time consumed so far by the calling thread (`CLOCK_THREAD_CPUTIME_ID`).
///
/// One call is a system call (about 0.2-0.5 µs): read it around batches, or around the few
/// server-side calls of a handshake.
pub fn thread_time() -> Duration {
    let t = clock_gettime(ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// Runs `f` `iters` times and returns the thread CPU time it took: for criterion's
/// `iter_custom`.
pub fn measure(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = thread_time();
    for _ in 0..iters {
        f();
    }
    thread_time().saturating_sub(start)
}
