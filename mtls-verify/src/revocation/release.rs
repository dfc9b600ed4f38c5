//! Freeing a large revocation index on a thread of its own.
//!
//! A 1,000,000-entry index is two million allocations: tens of milliseconds to free. The last
//! reference to an index a reload replaced is dropped by whoever lets go of it last, often a
//! connection closing on an async runtime's thread, where those milliseconds would stall every
//! other connection. A large index is therefore freed on a short-lived thread of its own.

use super::RevocationIndex;

/// Revoked entries from which an index is freed on a thread of its own.
const LARGE: usize = 10_000;

impl Drop for RevocationIndex {
    fn drop(&mut self) {
        if self.revoked_count < LARGE {
            return;
        }
        let revoked = std::mem::take(&mut self.revoked);
        let crls = std::mem::take(&mut self.crls);
        // When no thread can be started, the closure and what it holds are freed here.
        let _ = std::thread::Builder::new()
            .name("mtls-free-crls".into())
            .spawn(move || drop((revoked, crls)));
    }
}
