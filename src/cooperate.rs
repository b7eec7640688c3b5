//! Sharing a worker with long-running code: [`checkpoint`] for long
//! computations, [`blocking`] for code that blocks its OS thread. (The
//! stall monitor that reports fibers doing neither is `monitor.rs`.)

use crate::scheduler::suspend;

/// A preemption point for long computations: yield if this fiber has used
/// up its time slice and another fiber is ready; otherwise return at once.
///
/// heddle never interrupts a running fiber (doing so soundly is not
/// possible in Rust: a fiber stopped inside `malloc`, or holding a std
/// lock, would deadlock the next fiber on its thread). A fiber that
/// computes for long without yielding or blocking holds its worker; calling
/// `checkpoint` every few microseconds of work lets the fibers queued
/// behind it run.
///
/// - It yields only when the fiber has run for longer than the runtime's
///   [`time_slice`](crate::Builder::time_slice) since it last switched in
///   (any yield or blocking call starts a new slice), and another fiber is
///   ready on this worker or waiting for any worker.
/// - Otherwise it costs a thread-local read and one load of a flag that
///   the runtime's monitor thread sets (see `benches/runtime.rs`,
///   `checkpoint`).
/// - Outside a fiber it does nothing.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// let rt = heddle::Builder::new().workers(1).time_slice(Duration::from_millis(2)).build()?;
/// let ticks = rt.block_on(|| {
///     let ticker = heddle::spawn(|| (0..5).map(|_| heddle::sleep(Duration::from_millis(1))).count());
///     // A 100 ms computation on the one worker; the ticker still ticks.
///     let t = Instant::now();
///     while t.elapsed() < Duration::from_millis(100) {
///         heddle::checkpoint();
///     }
///     ticker.join().unwrap()
/// });
/// assert_eq!(ticks, 5);
/// # Ok::<(), std::io::Error>(())
/// ```
#[inline]
pub fn checkpoint() {
    suspend::checkpoint();
}

/// Run `f`, which may block its OS thread (a blocking system call, a C
/// library call, a long computation that cannot yield), without holding
/// up the other fibers of the current worker.
///
/// Inside a fiber, the worker's run queue, timers and other fibers are
/// first handed to a spare thread (pooled, at most
/// [`Builder::max_blocking_threads`](crate::Builder::max_blocking_threads)
/// of them), which runs them meanwhile; `f` then runs on the current OS
/// thread, and heddle's own blocking calls inside it (channels, locks,
/// `sleep`, `yield_now`) block that thread too. When `f` returns, the fiber
/// carries on as an ordinary fiber, possibly on another worker. A panic in
/// `f` unwinds the fiber as usual.
///
/// `f` runs in place, with the worker waiting for it, outside a fiber (it
/// is then just a call), on a worker that hosts pinned fibers (they must
/// not change thread), and when no spare thread can be had.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let rt = heddle::Builder::new().workers(1).build()?;
/// let (ticks, v) = rt.block_on(|| {
///     let ticker = heddle::spawn(|| {
///         (0..10).map(|_| heddle::sleep(Duration::from_millis(1))).count()
///     });
///     // Blocks this thread; the one worker keeps running the ticker.
///     let v = heddle::blocking(|| {
///         std::thread::sleep(Duration::from_millis(50));
///         42
///     });
///     (ticker.join().unwrap(), v)
/// });
/// assert_eq!((ticks, v), (10, 42));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn blocking<F, R>(f: F) -> R
where
    F: FnOnce() -> R,
{
    suspend::blocking(f)
}
