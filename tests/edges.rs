//! The edges a user hits with absurd input or unusual teardown: clear
//! errors and std's wording, never a crash, a hang or a leak.

mod common;

use std::io::ErrorKind;
use std::panic::{self, AssertUnwindSafe, RefUnwindSafe, UnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{panic_message, rt};

#[test]
fn absurd_runtime_stack_sizes_are_errors() {
    for size in [usize::MAX, usize::MAX - 4095, heddle::MAX_STACK_SIZE + 1] {
        let err = heddle::Builder::new()
            .workers(1)
            .stack_size(size)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            err.to_string(),
            format!(
                "heddle: stack size {size} bytes is above the maximum of {} bytes",
                heddle::MAX_STACK_SIZE
            )
        );
    }
}

#[test]
fn absurd_fiber_stack_sizes_are_errors_and_the_runtime_carries_on() {
    let rt = rt(1);
    for size in [usize::MAX, usize::MAX - 4095] {
        let err = heddle::fiber::Builder::new()
            .stack_size(size)
            .spawn_on(&rt, || ())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("above the maximum"), "{err}");
    }
    assert_eq!(rt.block_on(|| 6 * 7), 42);
}

#[test]
fn absurd_worker_counts_are_errors() {
    let err = heddle::Builder::new().workers(1 << 40).build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        err.to_string(),
        format!(
            "heddle: workers({}) is above the maximum of {} workers",
            1u64 << 40,
            heddle::MAX_WORKERS
        )
    );
}

#[test]
fn thread_names_with_nul_are_errors() {
    let err = heddle::Builder::new()
        .workers(1)
        .thread_name("a\0b")
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("nul byte"), "{err}");
}

/// Building, using and dropping a runtime costs each worker a bounded
/// number of scans of the other workers' queues. Before, an idle worker
/// scanned all of them at every backoff step, and every worker did so again
/// when woken for shutdown: 4,000 workers took 16 s of CPU to build and
/// drop, 10,000 over 280 s.
#[test]
fn many_workers_scan_each_other_a_bounded_number_of_times() {
    let n = 1000;
    let rt = rt(n);
    let sum: u64 = rt.block_on(|| {
        let hs: Vec<_> = (0..100u64).map(|i| heddle::spawn(move || i)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(sum, 4950);
    let stats = rt.stats();
    drop(rt);
    let tried: u64 = stats.iter().map(|s| s.steals_tried).sum();
    let full_scans = tried as f64 / (n * (n - 1)) as f64;
    assert!(
        full_scans <= 4.0,
        "{tried} steal attempts for {n} workers: {full_scans:.1} full scans each"
    );
}

#[test]
fn wait_group_overflow_panics() {
    let wg = heddle::sync::WaitGroup::new();
    wg.add(usize::MAX);
    let r = panic::catch_unwind(|| wg.add(1));
    assert_eq!(
        panic_message(&*r.unwrap_err()),
        "WaitGroup::add overflows the counter"
    );
    assert_eq!(wg.count(), usize::MAX);
}

#[test]
fn sync_types_are_unwind_safe_like_std() {
    fn both<T: UnwindSafe + RefUnwindSafe>() {}
    both::<heddle::sync::Mutex<Vec<u8>>>();
    both::<heddle::sync::WaitGroup>();
    both::<heddle::sync::Sender<String>>();
    both::<heddle::sync::SyncSender<String>>();
    both::<heddle::sync::Receiver<String>>();
    // What a user would write: it compiles, and the count drops.
    let wg = heddle::sync::WaitGroup::new();
    wg.add(1);
    assert!(panic::catch_unwind(|| wg.done()).is_ok());
    assert_eq!(wg.count(), 0);
}

/// A fiber holding its own handle gets std's answer to a thread joining
/// itself, a panic, instead of parking forever.
#[test]
fn a_fiber_that_joins_itself_panics() {
    let rt = rt(1);
    let (handle_tx, handle_rx) = heddle::sync::channel::<heddle::JoinHandle<()>>();
    let (out_tx, out_rx) = heddle::sync::channel();
    let h = rt.spawn(move || {
        let me = handle_rx.recv().unwrap();
        let r = panic::catch_unwind(AssertUnwindSafe(|| me.join()));
        out_tx
            .send(r.map(|_| ()).map_err(|p| panic_message(&*p)))
            .unwrap();
    });
    handle_tx.send(h).unwrap();
    match out_rx.recv_timeout(Duration::from_secs(10)) {
        Ok(r) => assert_eq!(
            r.unwrap_err(),
            "heddle: a fiber joined itself (deadlock avoided)"
        ),
        Err(e) => {
            std::mem::forget(rt); // its fiber is stuck: do not wait for it
            panic!("self-join did not return: {e:?}");
        }
    }
}

/// Dropping the last `Arc<Runtime>` inside one of its own fibers: no panic,
/// and once that fiber finishes the runtime's threads exit.
#[test]
fn runtime_dropped_in_its_own_fiber_shuts_down_after_it() {
    let before = common::thread_count();
    for round in 0..10 {
        let rt = Arc::new(rt(2));
        let (go_tx, go_rx) = heddle::sync::channel::<()>();
        let mine = rt.clone();
        let h = rt.spawn(move || {
            go_rx.recv().unwrap();
            drop(mine); // the last reference
            // Still running, on a runtime nobody holds: spawn and join work.
            heddle::spawn(move || round * 2).join().unwrap()
        });
        drop(rt);
        go_tx.send(()).unwrap();
        assert_eq!(h.join().unwrap(), round * 2);
    }
    wait_for_threads(before);
}

/// The same while the dropping fiber unwinds: its panic reaches the joiner
/// and nothing aborts.
#[test]
fn runtime_dropped_by_an_unwinding_fiber_shuts_down_after_it() {
    let before = common::thread_count();
    let rt = Arc::new(rt(2));
    let (go_tx, go_rx) = heddle::sync::channel::<()>();
    let mine = rt.clone();
    let h = rt.spawn(move || {
        let _last = mine;
        go_rx.recv().unwrap();
        panic!("boom while holding the runtime");
    });
    drop(rt);
    go_tx.send(()).unwrap();
    let payload = h.join().unwrap_err();
    assert_eq!(panic_message(&*payload), "boom while holding the runtime");
    wait_for_threads(before);
}

/// A drop would wait forever for a fiber blocked on a channel nobody
/// sends to; `shutdown_timeout` gives up, the fiber still gets its message
/// later, and then the runtime's threads exit by themselves.
#[test]
fn shutdown_timeout_gives_up_on_a_blocked_fiber_which_still_finishes() {
    let before = common::thread_count();
    let (tx, rx) = heddle::sync::channel::<u32>();
    let (h, sums, gave_up) = common::within_a_minute("shutdown_timeout", move || {
        let rt = rt(2);
        let h = rt.spawn(move || rx.recv().map(|v| v * 3));
        let sums: Vec<_> = (0..8u32).map(|i| rt.spawn(move || (0..=i).sum::<u32>())).collect();
        (h, sums, !rt.shutdown_timeout(Duration::from_millis(20)))
    });
    // The runtime lives on without an owner: its fibers still run.
    assert_eq!(
        sums.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>(),
        [0, 1, 3, 6, 10, 15, 21, 28]
    );
    tx.send(14).unwrap();
    assert_eq!(h.join().unwrap(), Ok(42));
    assert!(gave_up);
    wait_for_threads(before);
}

/// With every fiber finished in time, `shutdown_timeout` is a drop: it
/// waits for them (a detached one too) and returns true.
#[test]
fn shutdown_timeout_stops_a_runtime_whose_fibers_finish() {
    for timeout in [Duration::from_secs(60), Duration::MAX] {
        let rt = rt(2);
        let (tx, rx) = heddle::sync::channel::<u64>();
        let h = rt.spawn(move || rx.iter().sum::<u64>());
        let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let count = sent.clone();
        let feeder = rt.spawn(move || {
            for i in 1..=100 {
                heddle::sleep(Duration::from_micros(50));
                tx.send(i).unwrap();
                count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        drop(feeder);
        assert!(rt.shutdown_timeout(timeout));
        // The detached feeder was waited for.
        assert_eq!(sent.load(std::sync::atomic::Ordering::Relaxed), 100);
        assert_eq!(h.join().unwrap(), 5050);
    }
}

/// Inside one of its own fibers the runtime cannot wait for itself:
/// `shutdown_timeout` returns false at once, and the runtime stops after
/// that fiber finished.
#[test]
fn shutdown_timeout_in_its_own_fiber_hands_the_stop_over() {
    let before = common::thread_count();
    let rt = Arc::new(rt(2));
    let (go_tx, go_rx) = heddle::sync::channel::<()>();
    let mine = rt.clone();
    let h = rt.spawn(move || {
        go_rx.recv().unwrap();
        let rt = Arc::try_unwrap(mine).expect("the last reference");
        let gave_up = !rt.shutdown_timeout(Duration::MAX);
        // Still running, on a runtime nobody holds: spawn and join work.
        (gave_up, heddle::spawn(|| 7).join().unwrap())
    });
    drop(rt);
    go_tx.send(()).unwrap();
    assert_eq!(h.join().unwrap(), (true, 7));
    wait_for_threads(before);
}

fn wait_for_threads(before: usize) {
    let give_up = Instant::now() + Duration::from_secs(20);
    loop {
        let now = common::thread_count();
        // Other tests of this binary run beside us; ours are gone when the
        // count is back to where it was (or below).
        if now <= before {
            return;
        }
        assert!(Instant::now() < give_up, "{now} threads, {before} before");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn child_entry() {
    match common::child_role().as_deref() {
        Some("result_drop") => result_panics_on_drop(false),
        Some("payload_drop") => result_panics_on_drop(true),
        Some("long_name") => long_name_overflow(),
        _ => {}
    }
}

struct PanicsOnDrop;
impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("dropping the result");
    }
}

fn result_panics_on_drop(as_payload: bool) {
    let rt = rt(1);
    let h = rt.spawn(move || {
        if as_payload {
            std::panic::panic_any(PanicsOnDrop);
        }
        PanicsOnDrop
    });
    drop(h); // detached: the fiber's teardown drops the result
    drop(rt);
    // Reached only if nothing aborted.
    println!("child survived");
}

#[test]
fn detached_result_that_panics_on_drop_aborts_with_std_wording() {
    for role in ["result_drop", "payload_drop"] {
        let out = common::run_child("child_entry", role, &[]);
        assert_eq!(out.signal, Some(libc::SIGABRT), "{role}: {out:?}");
        assert!(
            out.stderr
                .contains("fatal runtime error: thread result panicked on drop"),
            "{role}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("failed to initiate panic"), "{role}");
    }
}

fn long_name_overflow() {
    let rt = rt(1);
    let name = "n".repeat(600);
    let h = heddle::fiber::Builder::new()
        .name(name)
        .spawn_on(&rt, || common::recurse(0))
        .unwrap();
    let _ = h.join();
}

#[test]
fn overflow_report_keeps_its_sentence_for_long_names() {
    let out = common::run_child("child_entry", "long_name", &[]);
    assert_eq!(out.signal, Some(libc::SIGABRT), "{out:?}");
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with("fiber '"))
        .unwrap_or_else(|| panic!("{}", out.stderr));
    assert!(
        line.ends_with("...' has overflowed its stack (262144 bytes)"),
        "{line}"
    );
    assert!(line.contains(&"n".repeat(100)), "{line}");
}
