//! may, the peer fiber runtime, as the bench binaries drive it (each
//! includes this file with `#[path]`): one place for the `unsafe` spawn and
//! for the timed spawn + join loop.

#![allow(dead_code)]

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Spawn a may coroutine.
pub(crate) fn spawn<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> may::coroutine::JoinHandle<T> {
    // SAFETY: may's spawn is unsafe because a coroutine may move between
    // threads while it holds a thread-local; the benches' closures use none.
    unsafe { may::coroutine::spawn(f) }
}

/// Run `f` in a may coroutine and wait for its result.
pub(crate) fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    spawn(f).join().unwrap()
}

/// `iters` spawns and joins of an empty coroutine, from inside a coroutine;
/// returns the time they took.
pub(crate) fn spawn_join(iters: u64) -> Duration {
    run(move || {
        let start = Instant::now();
        for i in 0..iters {
            black_box(spawn(move || black_box(i)).join().unwrap());
        }
        start.elapsed()
    })
}
