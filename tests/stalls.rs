//! The stall monitor (`Builder::stall_threshold`, `on_stall`): a fiber that
//! holds its worker past the threshold without a switch point is reported
//! once, by name, with its worker and how long; fibers that checkpoint are
//! not; reports can be turned off; and an idle runtime's monitor sleeps.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use heddle::dump::Stall;

fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// A runtime of one worker reporting stalls past `threshold` into a list.
fn recording(threshold: Duration) -> (heddle::Runtime, Arc<Mutex<Vec<Stall>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let rt = heddle::Builder::new()
        .workers(1)
        .stall_threshold(threshold)
        .on_stall(move |stall| s.lock().unwrap().push(stall.clone()))
        .build()
        .unwrap();
    (rt, seen)
}

/// Run `f` in a fiber named "cruncher" and return its id.
fn cruncher(rt: &heddle::Runtime, f: impl FnOnce() + Send + 'static) -> u64 {
    rt.block_on(|| {
        let h = heddle::fiber::Builder::new()
            .name("cruncher")
            .spawn(f)
            .unwrap();
        let id = h.fiber().id().as_u64().get();
        h.join().unwrap();
        id
    })
}

#[test]
fn a_stalled_fiber_is_reported_once_by_name() {
    let (rt, seen) = recording(Duration::from_millis(100));
    let id = cruncher(&rt, || spin(Duration::from_millis(400)));
    let stats = rt.stats();
    drop(rt);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let s = &seen[0];
    assert_eq!(s.fiber.as_u64().get(), id);
    assert_eq!(s.name.as_deref(), Some("cruncher"));
    assert_eq!(s.worker, 0);
    assert!(s.held >= Duration::from_millis(100), "{:?}", s.held);
    assert_eq!(stats[0].stalls, 1);
    let text = s.to_string();
    assert!(
        text.starts_with(&format!("fiber #{id} \"cruncher\" has held worker 0 for ")),
        "{text}"
    );
}

#[test]
fn a_fiber_in_a_blocking_std_call_is_reported_too() {
    // A blocking system call is a stall like any other (heddle::blocking
    // is the remedy); an unnamed fiber is named by its id.
    let (rt, seen) = recording(Duration::from_millis(50));
    let id = rt.block_on(|| {
        let h = heddle::spawn(|| std::thread::sleep(Duration::from_millis(200)));
        let id = h.fiber().id().as_u64().get();
        h.join().unwrap();
        id
    });
    drop(rt);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].name, None);
    assert!(
        seen[0]
            .to_string()
            .starts_with(&format!("fiber #{id} has held worker 0"))
    );
}

#[test]
fn a_fiber_that_checkpoints_is_not_reported() {
    let (rt, seen) = recording(Duration::from_millis(100));
    cruncher(&rt, || {
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(400) {
            spin(Duration::from_micros(10));
            heddle::checkpoint();
        }
    });
    assert_eq!(rt.stats()[0].stalls, 0);
    drop(rt);
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn two_stalls_are_two_reports() {
    let (rt, seen) = recording(Duration::from_millis(50));
    cruncher(&rt, || {
        spin(Duration::from_millis(200));
        heddle::yield_now(); // a switch point: the next stall is a new one
        spin(Duration::from_millis(200));
    });
    assert_eq!(rt.stats()[0].stalls, 2);
    drop(rt);
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[test]
fn duration_max_turns_reports_off() {
    let (rt, seen) = recording(Duration::MAX);
    cruncher(&rt, || spin(Duration::from_millis(200)));
    assert_eq!(rt.stats()[0].stalls, 0);
    drop(rt);
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn a_panicking_hook_does_not_stop_the_monitor() {
    let rt = heddle::Builder::new()
        .workers(1)
        .stall_threshold(Duration::from_millis(50))
        .on_stall(|_| panic!("hook fails"))
        .build()
        .unwrap();
    cruncher(&rt, || {
        spin(Duration::from_millis(150));
        heddle::yield_now();
        spin(Duration::from_millis(150));
    });
    assert_eq!(rt.stats()[0].stalls, 2);
}

#[test]
fn child_entry() {
    if common::child_role().as_deref() == Some("stderr_report") {
        let rt = heddle::Builder::new()
            .workers(1)
            .stall_threshold(Duration::from_millis(100))
            .build()
            .unwrap();
        cruncher(&rt, || spin(Duration::from_millis(400)));
    }
}

#[test]
fn the_default_report_names_the_fiber_on_stderr() {
    let out = common::run_child("child_entry", "stderr_report", &[]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let lines: Vec<_> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("heddle: fiber #"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(
        lines[0].contains("\"cruncher\" has held worker 0 for "),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].ends_with(
            "ms without reaching a switch point (a yield, a blocking call, or heddle::checkpoint)"
        ),
        "{}",
        lines[0]
    );
}

/// Voluntary context switches of this process's thread named `name`.
fn switches_of_thread(name: &str) -> u64 {
    for t in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = t.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let status = std::fs::read_to_string(dir.join("status")).unwrap();
            let line = status
                .lines()
                .find(|l| l.starts_with("voluntary_ctxt_switches:"))
                .unwrap();
            return line.split_whitespace().nth(1).unwrap().parse().unwrap();
        }
    }
    panic!("no thread named {name}");
}

#[test]
fn an_idle_runtime_s_monitor_sleeps() {
    let rt = heddle::Builder::new()
        .workers(2)
        .thread_name("idle")
        .time_slice(Duration::from_millis(1)) // a 500 µs tick while busy
        .build()
        .unwrap();
    rt.block_on(|| spin(Duration::from_millis(20))); // the monitor ticks meanwhile
    std::thread::sleep(Duration::from_millis(100)); // every worker falls asleep
    let before = switches_of_thread("idle-monitor");
    std::thread::sleep(Duration::from_millis(500));
    let after = switches_of_thread("idle-monitor");
    // Ticking, it would have woken about 1000 times.
    assert!(
        after - before <= 2,
        "the monitor woke {} times while idle",
        after - before
    );
    // And it wakes again for work.
    assert_eq!(rt.block_on(|| 1 + 1), 2);
}
