//! The C allocator's settings for a daemon that moves megabyte buffers all day.
//!
//! glibc's malloc serves a large allocation with `mmap` until one such block is freed, then
//! raises its threshold and serves it from an arena, whose free top it hands back to the
//! kernel once it passes twice the threshold. With 1 MiB bundles going through several
//! buffers each (API frame, store read, encoding, TCPCL transfer), that handing back and
//! taking again costs a page fault and a zeroed page for every 4 KiB: measured with
//! `perf stat -e task-clock,page-faults` over `NODE_BENCH_ONLY=1m cargo bench -p tools
//! --bench node`, 660,000-910,000 faults and ~30 s of CPU for the run by default, 460,000
//! and ~23 s with the settings below, RSS after the run 141 MiB (was 123 MiB).
//!
//! The settings: blocks up to 4 MiB come from the arenas (bundles larger than that still
//! get their own mapping, returned when freed), and an arena keeps up to 32 MiB of free
//! top before trimming. `GLIBC_TUNABLES` set by the operator still applies first; this
//! replaces only these two values.
//!
//! What the arenas keep is handed back once traffic stops ([`trim`], called by the core
//! after a second without bundles): each thread's arena may hold tens of megabytes of free
//! buffers, and the resident size of an idle daemon swung with it (88 to 208 MiB after
//! queueing 10 GiB, `NODE_BENCH_ONLY=queued cargo bench -p tools --bench node`).

/// Largest allocation served from an arena rather than its own mapping.
const MMAP_THRESHOLD: i32 = 4 << 20;
/// Free memory at an arena's top kept before it is returned to the kernel.
const TRIM_THRESHOLD: i32 = 32 << 20;

/// Returns free memory in every arena to the kernel (`malloc_trim`). Costs a walk over the
/// free lists: for an idle moment, not the hot path.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: malloc_trim is thread-safe and only releases memory malloc holds free.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Applies the settings. Call first in `main`, before threads start.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: mallopt only changes malloc's parameters; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}
