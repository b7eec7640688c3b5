//! `Runtime::dump` and `Runtime::fibers`: every live fiber, by id and
//! name, with what it is doing: running where, ready, or blocked on what.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use heddle::dump::FiberState;

/// The tests here take turns: the timing of the first (a sleeper must
/// still sleep when the dump is taken) should not depend on the load of
/// the others.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// Poll `rt.fibers()` until `pred` holds for the fiber named `name`.
fn wait_for(rt: &heddle::Runtime, name: &str, pred: impl Fn(&FiberState) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let fibers = rt.fibers();
        if fibers
            .iter()
            .any(|f| f.name.as_deref() == Some(name) && pred(&f.state))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never got there:\n{}",
            rt.dump()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn named<T: Send + 'static>(
    rt: &heddle::Runtime,
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> heddle::JoinHandle<T> {
    heddle::fiber::Builder::new()
        .name(name)
        .spawn_on(rt, f)
        .unwrap()
}

#[test]
fn a_dump_names_every_blocked_fiber_and_what_it_waits_on() {
    let _turn = turn();
    let rt = heddle::Builder::new().workers(2).build().unwrap();

    let (tx, rx) = heddle::sync::channel::<u32>();
    let receiver = named(&rt, "receiver", move || rx.recv().unwrap());
    wait_for(&rt, "receiver", |s| *s == FiberState::Receiving);
    let joiner = named(&rt, "joiner", move || receiver.join().unwrap());
    wait_for(&rt, "joiner", |s| matches!(s, FiberState::Joining(_)));

    let (stx, srx) = heddle::sync::sync_channel::<u32>(0);
    let sender = named(&rt, "sender", move || stx.send(1).unwrap());
    wait_for(&rt, "sender", |s| *s == FiberState::Sending);

    let lock = Arc::new(heddle::sync::Mutex::new(0));
    let guard = lock.lock();
    let l = lock.clone();
    let locker = named(&rt, "locker", move || *l.lock() += 1);
    wait_for(&rt, "locker", |s| *s == FiberState::Locking);

    let wg = Arc::new(heddle::sync::WaitGroup::new());
    wg.add(1);
    let w = wg.clone();
    let grouper = named(&rt, "grouper", move || w.wait());
    wait_for(&rt, "grouper", |s| *s == FiberState::WaitingGroup);

    let (btx, brx) = std::sync::mpsc::channel::<()>();
    let blocker = named(&rt, "blocker", move || {
        heddle::blocking(|| brx.recv().unwrap())
    });
    wait_for(&rt, "blocker", |s| *s == FiberState::InBlocking);

    // Check inside catch_unwind: a failed check must still release the
    // fibers below, or dropping the runtime would wait for them forever.
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let fibers = rt.fibers();
        let text = rt.dump();
        let id_of = |name: &str| {
            fibers
                .iter()
                .find(|f| f.name.as_deref() == Some(name))
                .expect(name)
                .id
                .as_u64()
        };
        let line_of = |name: &str| line_of(&text, name);
        assert!(
            text.starts_with("heddle runtime: 2 workers, 6 live fibers\n"),
            "{text}"
        );
        assert_eq!(text.lines().count(), 7, "{text}");
        assert_eq!(
            line_of("receiver"),
            format!(
                "#{} \"receiver\": blocked on a channel receive",
                id_of("receiver")
            )
        );
        assert_eq!(
            line_of("joiner"),
            format!(
                "#{} \"joiner\": blocked on the join of #{}",
                id_of("joiner"),
                id_of("receiver")
            )
        );
        let ends = |name: &str, state: &str| {
            let line = line_of(name);
            assert!(line.ends_with(&format!("\"{name}\": {state}")), "{text}");
        };
        ends("sender", "blocked on a channel send");
        ends("locker", "blocked on a Mutex");
        ends("grouper", "blocked on a WaitGroup");
        ends("blocker", "in a blocking region");
        // Sorted by id.
        let ids: Vec<_> = fibers.iter().map(|f| f.id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }));

    // Let everything finish.
    tx.send(5).unwrap();
    assert_eq!(srx.recv().unwrap(), 1);
    drop(guard);
    wg.done();
    btx.send(()).unwrap();
    assert_eq!(joiner.join().unwrap(), 5);
    sender.join().unwrap();
    locker.join().unwrap();
    grouper.join().unwrap();
    blocker.join().unwrap();
    assert_eq!(*lock.lock(), 1);
    if let Err(p) = checked {
        std::panic::resume_unwind(p);
    }
}

/// The line of the fiber named `name` in dump `text`.
fn line_of(text: &str, name: &str) -> String {
    text.lines()
        .find(|l| l.contains(&format!("\"{name}\": ")))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .to_string()
}

#[test]
fn a_dump_shows_running_ready_and_sleeping_fibers() {
    // One worker: a sleeper, then a fiber that spins on it, then one more
    // that can only wait its turn.
    let _turn = turn();
    let rt = common::rt(1);
    let sleeper = named(&rt, "sleeper", || heddle::sleep(Duration::from_secs(2)));
    wait_for(&rt, "sleeper", |s| matches!(s, FiberState::Sleeping { .. }));
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let spinner = named(&rt, "spinner", move || {
        while !s.load(Ordering::Relaxed) {
            std::hint::spin_loop();
        }
    });
    wait_for(&rt, "spinner", |s| matches!(s, FiberState::Running { .. }));
    let queued = named(&rt, "queued", || 7);
    wait_for(&rt, "queued", |s| *s == FiberState::Ready);
    std::thread::sleep(Duration::from_millis(30));
    let fibers = rt.fibers();
    let text = rt.dump();
    stop.store(true, Ordering::Relaxed);
    spinner.join().unwrap();
    assert_eq!(queued.join().unwrap(), 7);
    sleeper.join().unwrap();

    assert!(
        text.starts_with("heddle runtime: 1 workers, 3 live fibers\n"),
        "{text}"
    );
    assert!(
        line_of(&text, "sleeper").contains("\"sleeper\": sleeping until +"),
        "{text}"
    );
    assert!(
        line_of(&text, "queued").ends_with("\"queued\": ready"),
        "{text}"
    );
    assert!(
        line_of(&text, "spinner").contains("\"spinner\": running on worker 0 for "),
        "{text}"
    );
    match fibers
        .iter()
        .find(|f| f.name.as_deref() == Some("spinner"))
        .unwrap()
        .state
    {
        FiberState::Running { worker, elapsed } => {
            assert_eq!(worker, 0);
            assert!(elapsed >= Duration::from_millis(10), "{elapsed:?}");
        }
        other => panic!("{other:?}"),
    }
    match fibers
        .iter()
        .find(|f| f.name.as_deref() == Some("sleeper"))
        .unwrap()
        .state
    {
        FiberState::Sleeping {
            remaining: Some(left),
        } => {
            assert!(left <= Duration::from_secs(2), "{left:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_empty_runtime_dumps_its_header_only() {
    let _turn = turn();
    let rt = common::rt(3);
    assert_eq!(rt.dump(), "heddle runtime: 3 workers, 0 live fibers\n");
    assert!(rt.fibers().is_empty());
}

#[test]
fn a_fiber_sees_itself_running_in_a_dump() {
    let _turn = turn();
    let rt = Arc::new(common::rt(1));
    let r = rt.clone();
    let (me, state) = rt.block_on(move || {
        let me = heddle::fiber::current().id();
        let f = r.fibers().into_iter().find(|f| f.id == me).unwrap();
        (me, f.state)
    });
    assert!(me.as_u64().get() >= 1);
    assert!(
        matches!(state, FiberState::Running { worker: 0, .. }),
        "{state:?}"
    );
}

#[test]
fn dumps_taken_while_fibers_come_and_go_read_only_live_fibers() {
    let _turn = turn();
    // Fibers named after their index are spawned and finish in a loop
    // while another thread dumps: every name a dump reads must be one of
    // them, well formed (a dump reading a freed or reused task would read
    // garbage or crash), and the runtime must not lose a fiber.
    let rt = Arc::new(common::rt(2));
    let stop = Arc::new(AtomicBool::new(false));
    let dumper = {
        let (rt, stop) = (rt.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut dumps = 0u32;
            let mut seen = 0usize;
            while !stop.load(Ordering::Relaxed) {
                for f in rt.fibers() {
                    if let Some(name) = f.name {
                        let i: u64 = name
                            .strip_prefix("n")
                            .and_then(|n| n.parse().ok())
                            .expect(&name);
                        assert!(i < 200_000, "{name}");
                        seen += 1;
                    }
                }
                dumps += 1;
            }
            (dumps, seen)
        })
    };
    let sum = rt.block_on(|| {
        let mut sum = 0u64;
        for chunk in 0..200u64 {
            let hs: Vec<_> = (0..1000u64)
                .map(|i| {
                    let n = chunk * 1000 + i;
                    heddle::fiber::Builder::new()
                        .name(format!("n{n}"))
                        .spawn(move || n)
                        .unwrap()
                })
                .collect();
            sum += hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>();
        }
        sum
    });
    stop.store(true, Ordering::Relaxed);
    let (dumps, seen) = dumper.join().unwrap();
    assert_eq!(sum, (0..200_000u64).sum::<u64>());
    assert!(dumps > 0);
    let _ = seen;
}

#[test]
fn a_joiner_waiting_for_a_stolen_half_says_so() {
    let _turn = turn();
    let rt = common::rt(2);
    let started = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let (s, r) = (started.clone(), release.clone());
    let joiner = named(&rt, "joiner", move || {
        heddle::join(
            || {
                // Wait until a thief runs `b`, then park on it.
                while !s.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
            },
            || {
                s.store(true, Ordering::Release);
                while !r.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
            },
        )
    });
    wait_for(&rt, "joiner", |s| *s == FiberState::JoiningHalf);
    let line = rt
        .dump()
        .lines()
        .find(|l| l.contains("\"joiner\""))
        .unwrap()
        .to_string();
    release.store(true, Ordering::Release);
    joiner.join().unwrap();
    assert!(
        line.ends_with("\"joiner\": blocked in join, on the half another worker took"),
        "{line}"
    );
}
