//! What every live fiber of a runtime is doing: [`Runtime::dump`]'s text
//! and its structured form, [`Runtime::fibers`]; and the [`Stall`] report.
//!
//! # Format of a dump
//!
//! A header line, then one line per live fiber, sorted by id:
//!
//! ```text
//! heddle runtime: 2 workers, 6 live fibers
//! #1 "main": running on worker 0 for 12 ms
//! #4: ready
//! #5 "consumer": blocked on a channel receive
//! #6: blocked on the join of #9
//! #7: sleeping until +35 ms
//! #9: in a blocking region
//! ```
//!
//! Each line is `#id`, the name in quotes if the fiber has one, a colon,
//! and its state as [`FiberState`]'s `Display` writes it. A dump is a
//! snapshot taken shard by shard, not at one instant: a fiber that
//! changes state meanwhile shows one of its states. Running times come
//! from the monitor thread, which samples each worker every tick (half the
//! time slice), so they are lower bounds, coarse by up to one tick.
//!
//! [`Runtime::dump`]: crate::Runtime::dump
//! [`Runtime::fibers`]: crate::Runtime::fibers

use std::fmt;
use std::time::{Duration, Instant};

use crate::handle::FiberId;
use crate::loom::Ordering;
use crate::scheduler::Shared;
use crate::scheduler::registry::Listed;
use crate::scheduler::task::{Status, Wait, epoch};

/// One live fiber in a dump: see [`Runtime::fibers`](crate::Runtime::fibers).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FiberInfo {
    /// The fiber's id.
    pub id: FiberId,
    /// Its name, if it was given one (`fiber::Builder::name`).
    pub name: Option<String>,
    /// What it is doing.
    pub state: FiberState,
}

/// What a fiber is doing, as a dump saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FiberState {
    /// Running on this worker, for at least this long.
    Running {
        /// The worker's index.
        worker: usize,
        /// How long it has run without switching out (a lower bound).
        elapsed: Duration,
    },
    /// Queued, waiting for a worker.
    Ready,
    /// Blocked in `JoinHandle::join` (or `join`) on this fiber.
    Joining(FiberId),
    /// Blocked in [`join`](fn@crate::join), waiting for its other half, which
    /// another worker took.
    JoiningHalf,
    /// Blocked receiving from a channel.
    Receiving,
    /// Blocked sending on a channel.
    Sending,
    /// Blocked locking a `heddle::sync::Mutex`.
    Locking,
    /// Blocked waiting on a `heddle::sync::Condvar` for a notify.
    WaitingCondvar,
    /// Blocked locking a `heddle::sync::RwLock` (to read or to write).
    LockingRwLock,
    /// Blocked in `Barrier::wait`, for the rest of the round.
    WaitingBarrier,
    /// Blocked on a `heddle::sync::OnceLock` (or `LazyLock`) that another
    /// caller is initializing.
    WaitingInit,
    /// Parked on a `heddle::sync::Parker`, waiting for its token.
    Parked,
    /// Blocked in `WaitGroup::wait` (`scope` waits on one too).
    WaitingGroup,
    /// In `heddle::sleep`: wakes after this long (`None`: never).
    Sleeping {
        /// Time left, measured when the dump was taken.
        remaining: Option<Duration>,
    },
    /// Inside `heddle::blocking`, on a thread of its own.
    InBlocking,
    /// Blocked while unwinding from a panic, on a thread of its own.
    Detached,
}

impl fmt::Display for FiberState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FiberState::Running { worker, elapsed } => {
                write!(
                    f,
                    "running on worker {worker} for {} ms",
                    elapsed.as_millis()
                )
            }
            FiberState::Ready => f.write_str("ready"),
            FiberState::Joining(id) => write!(f, "blocked on the join of #{}", id.as_u64()),
            FiberState::JoiningHalf => {
                f.write_str("blocked in join, on the half another worker took")
            }
            FiberState::Receiving => f.write_str("blocked on a channel receive"),
            FiberState::Sending => f.write_str("blocked on a channel send"),
            FiberState::Locking => f.write_str("blocked on a Mutex"),
            FiberState::WaitingCondvar => f.write_str("blocked on a Condvar"),
            FiberState::LockingRwLock => f.write_str("blocked on an RwLock"),
            FiberState::WaitingBarrier => f.write_str("blocked on a Barrier"),
            FiberState::WaitingInit => f.write_str("blocked on a OnceLock being initialized"),
            FiberState::Parked => f.write_str("parked on a Parker"),
            FiberState::WaitingGroup => f.write_str("blocked on a WaitGroup"),
            FiberState::Sleeping { remaining: None } => f.write_str("sleeping for good"),
            FiberState::Sleeping {
                remaining: Some(left),
            } => write!(f, "sleeping until +{} ms", left.as_millis()),
            FiberState::InBlocking => f.write_str("in a blocking region"),
            FiberState::Detached => f.write_str("blocked while unwinding, off its worker"),
        }
    }
}

impl fmt::Display for FiberInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.id.as_u64())?;
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        write!(f, ": {}", self.state)
    }
}

/// A fiber that held its worker past the runtime's stall threshold without
/// reaching a switch point: what [`Builder::on_stall`] receives, and what
/// the default report prints on stderr.
///
/// [`Builder::on_stall`]: crate::Builder::on_stall
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stall {
    /// The fiber.
    pub fiber: FiberId,
    /// Its name, if it has one.
    pub name: Option<String>,
    /// The worker it holds.
    pub worker: usize,
    /// How long it had held the worker when the monitor saw it (a lower
    /// bound, coarse by one monitor tick).
    pub held: Duration,
}

impl fmt::Display for Stall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fiber #{}", self.fiber.as_u64())?;
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        write!(
            f,
            " has held worker {} for {} ms without reaching a switch point \
             (a yield, a blocking call, or heddle::checkpoint)",
            self.worker,
            self.held.as_millis()
        )
    }
}

/// Every live fiber of `shared`, sorted by id.
pub(crate) fn fibers(shared: &Shared) -> Vec<FiberInfo> {
    let now = Instant::now();
    // Who runs where, read once: (fiber id or 0, for how long).
    let running: Vec<(u64, Duration)> = shared
        .stats
        .iter()
        .map(|s| {
            let id = s.running.load(Ordering::Relaxed);
            let elapsed = if id != 0 && s.seen_running.load(Ordering::Relaxed) == id {
                let since = epoch() + Duration::from_micros(s.seen_since.load(Ordering::Relaxed));
                now.saturating_duration_since(since)
            } else {
                Duration::ZERO // started after the monitor's last look
            };
            (id, elapsed)
        })
        .collect();
    let mut out: Vec<FiberInfo> = shared
        .registry
        .snapshot()
        .into_iter()
        .map(|l| FiberInfo {
            id: FiberId::new(l.id),
            name: l.name.as_deref().map(String::from),
            state: state_of(&l, &running, now),
        })
        .collect();
    out.sort_by_key(|f| f.id);
    out
}

/// The text form: see the module docs.
pub(crate) fn dump(shared: &Shared) -> String {
    use fmt::Write as _;
    let fibers = fibers(shared);
    let mut s = format!(
        "heddle runtime: {} workers, {} live fibers\n",
        shared.workers(),
        fibers.len()
    );
    for f in &fibers {
        let _ = writeln!(s, "{f}");
    }
    s
}

fn state_of(l: &Listed, running: &[(u64, Duration)], now: Instant) -> FiberState {
    if let Some(worker) = running.iter().position(|r| r.0 == l.id) {
        let elapsed = running[worker].1;
        return FiberState::Running { worker, elapsed };
    }
    match l.status {
        Status::Ready => FiberState::Ready,
        Status::Waiting(Wait::Join(0)) => FiberState::JoiningHalf,
        Status::Waiting(Wait::Join(id)) => FiberState::Joining(FiberId::new(id)),
        Status::Waiting(Wait::Recv) => FiberState::Receiving,
        Status::Waiting(Wait::Send) => FiberState::Sending,
        Status::Waiting(Wait::Mutex) => FiberState::Locking,
        Status::Waiting(Wait::Condvar) => FiberState::WaitingCondvar,
        Status::Waiting(Wait::RwLock) => FiberState::LockingRwLock,
        Status::Waiting(Wait::Barrier) => FiberState::WaitingBarrier,
        Status::Waiting(Wait::Init) => FiberState::WaitingInit,
        Status::Waiting(Wait::Park) => FiberState::Parked,
        Status::Waiting(Wait::Group) => FiberState::WaitingGroup,
        Status::Waiting(Wait::Sleep(until)) => FiberState::Sleeping {
            remaining: until.map(|u| u.saturating_duration_since(now)),
        },
        Status::InBlocking => FiberState::InBlocking,
        Status::Detached => FiberState::Detached,
    }
}

/// The [`Stall`] report for fiber `id` on `worker`, held for `held`; `None`
/// if the fiber is gone already.
pub(crate) fn stall(shared: &Shared, id: u64, worker: usize, held: Duration) -> Option<Stall> {
    let l = shared.registry.find(id)?;
    Some(Stall {
        fiber: FiberId::new(id),
        name: l.name.as_deref().map(String::from),
        worker,
        held,
    })
}
