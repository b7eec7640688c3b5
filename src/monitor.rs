//! The monitor thread: time slices for `checkpoint`, and stall reports.
//!
//! heddle cannot preempt a fiber (a fiber interrupted inside `malloc`, or
//! holding a std lock, would deadlock the next fiber on its thread), so a
//! fiber holds its worker until it reaches a switch point. The monitor
//! watches for fibers that hold on too long, as Go's `sysmon` does:
//!
//! - past the **time slice**, it sets the worker's `preempt` flag, and the
//!   fiber's next [`checkpoint`](crate::checkpoint) yields if another fiber
//!   is ready;
//! - past the **stall threshold**, it reports the fiber once per stall
//!   (stderr, or the runtime's `on_stall` hook) and counts it in the
//!   worker's stats.
//!
//! # What the monitor reads, and who writes it
//!
//! All per worker, in its `StatsCell` (scheduler/shared.rs), Relaxed:
//!
//! | field          | written by                       | meaning to the monitor |
//! |----------------|----------------------------------|------------------------|
//! | `running`      | the worker, at each switch in/out | which fiber holds it (0: none) |
//! | `switches`     | the worker, at each switch in    | it switched since the last look |
//! | `checkpoints`  | `checkpoint`, when it saw `preempt` | the fiber reached a switch point without switching (nothing else was ready) |
//! | `preempt`      | the monitor sets; the worker and `checkpoint` clear | slice used up |
//! | `seen_*`, `stalls` | the monitor only             | (for dumps and stats)  |
//!
//! A worker has made progress since the last look if any of `running`,
//! `switches`, `checkpoints` changed; then its fiber's clock restarts. A
//! fiber is charged from the first look that saw it hold the worker, so
//! the times are lower bounds, coarse by one tick (half the smaller of the
//! slice and the threshold, within [`MIN_TICK`]..[`MAX_TICK`]).
//!
//! # Idle
//!
//! Between looks the monitor waits on the sleep protocol's watcher
//! (scheduler/sleep.rs, "The watcher"): a tick while any worker is awake,
//! and for good once they all sleep, so an idle runtime costs no CPU.

use std::fmt;
use std::sync::Arc as StdArc;
use std::time::{Duration, Instant};

use crate::dump::{self, Stall};
use crate::loom::Ordering;
use crate::scheduler::Shared;
use crate::scheduler::task::epoch;

/// Shortest wait between two looks at the workers.
pub(crate) const MIN_TICK: Duration = Duration::from_micros(100);
/// Longest wait between two looks at the workers (while any is awake).
pub(crate) const MAX_TICK: Duration = Duration::from_millis(50);

/// What the user's `on_stall` hook is.
pub(crate) type StallFn = dyn Fn(&Stall) + Send + Sync;

/// A runtime's `on_stall` hook, cloneable with its `Builder`.
#[derive(Clone)]
pub(crate) struct StallHook(pub(crate) StdArc<StallFn>);

impl fmt::Debug for StallHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StallHook(..)")
    }
}

/// The monitor's settings (from `Builder`).
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) slice: Duration,
    /// `Duration::MAX`: never report.
    pub(crate) stall: Duration,
    /// `None`: report on stderr.
    pub(crate) on_stall: Option<StallHook>,
}

impl Config {
    /// The wait between two looks while any worker is awake.
    pub(crate) fn tick(&self) -> Duration {
        (self.slice.min(self.stall) / 2).clamp(MIN_TICK, MAX_TICK)
    }
}

/// What the monitor last saw of one worker.
#[derive(Clone, Copy)]
struct Seen {
    running: u64,
    switches: u64,
    checkpoints: u64,
    /// When the monitor first saw the current fiber hold the worker.
    since: Instant,
    /// This stall was reported already.
    reported: bool,
}

/// The monitor thread's body: look, wait, until shutdown.
pub(crate) fn run(shared: &Shared, config: &Config) {
    let tick = config.tick();
    let now = Instant::now();
    let mut seen = vec![
        Seen {
            running: 0,
            switches: 0,
            checkpoints: 0,
            since: now,
            reported: false,
        };
        shared.workers()
    ];
    while !shared.shutdown.load(Ordering::SeqCst) {
        look(shared, config, &mut seen, Instant::now());
        shared.sleep.watch(tick);
    }
}

/// One look at every worker: restart the clock of those that made
/// progress; flag slices used up; report stalls.
fn look(shared: &Shared, config: &Config, seen: &mut [Seen], now: Instant) {
    for (worker, (s, last)) in shared.stats.iter().zip(seen.iter_mut()).enumerate() {
        let running = s.running.load(Ordering::Relaxed);
        let switches = s.switches.load(Ordering::Relaxed);
        let checkpoints = s.checkpoints.load(Ordering::Relaxed);
        if running == 0
            || running != last.running
            || switches != last.switches
            || checkpoints != last.checkpoints
        {
            if running != last.running || switches != last.switches {
                let since = now.saturating_duration_since(epoch()).as_micros() as u64;
                s.seen_since.store(since, Ordering::Relaxed);
                s.seen_running.store(running, Ordering::Relaxed);
            }
            *last = Seen {
                running,
                switches,
                checkpoints,
                since: now,
                reported: false,
            };
            continue;
        }
        let held = now.saturating_duration_since(last.since);
        // A fiber it woke waits in its run-next slot, and nobody was told
        // (run_next.rs): a tick later, wake a worker to take it.
        if !shared.run_next[worker].is_empty() {
            shared.sleep.notify_work();
        }
        if held >= config.slice && !s.preempt.load(Ordering::Relaxed) {
            s.preempt.store(true, Ordering::Relaxed);
        }
        if held >= config.stall && !last.reported {
            last.reported = true;
            s.bump_stalls();
            if let Some(report) = dump::stall(shared, running, worker, held) {
                match &config.on_stall {
                    Some(hook) => {
                        let call = std::panic::AssertUnwindSafe(|| (hook.0)(&report));
                        if std::panic::catch_unwind(call).is_err() {
                            eprintln!(
                                "heddle: the on_stall hook panicked; reported here: {report}"
                            );
                        }
                    }
                    None => eprintln!("heddle: {report}"),
                }
            }
        }
    }
}
