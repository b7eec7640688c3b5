//! With the address-space limit (RLIMIT_AS) set low, spawning returns an
//! error that says what ran out, fibers already running are unaffected, and
//! the runtime carries on once the limit is raised again. Runs in a child
//! process (the limit is process-wide): this binary re-executes itself.

mod common;

use std::sync::Arc;

fn set_as_limit(bytes: u64) {
    let lim = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit with a valid struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) }, 0);
}

fn child() {
    // A failed assertion must not unwind into dropping a runtime whose
    // fibers wait on a gate that will never open: report and exit at once.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        std::process::exit(101);
    }));
    let rt = common::rt(2);
    let gate = Arc::new(heddle::sync::WaitGroup::new());
    gate.add(1);
    let mut handles = Vec::with_capacity(1_000_000);
    let spawn = |handles: &mut Vec<_>| {
        let g = gate.clone();
        heddle::fiber::Builder::new()
            .spawn_on(&rt, move || {
                g.wait();
                1u64
            })
            .map(|h| handles.push(h))
    };
    for _ in 0..100 {
        spawn(&mut handles).unwrap();
    }
    // A fiber already running when the limit bites: it must finish normally.
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let go = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(0));
    let (g, r) = (go.clone(), rounds.clone());
    let runner = rt.spawn(move || {
        while !g.load(Ordering::Acquire) {
            r.fetch_add(1, Ordering::Relaxed);
            heddle::yield_now();
        }
        5
    });
    while rounds.load(Ordering::Relaxed) == 0 {
        std::thread::yield_now(); // make sure it is running before the limit
    }
    // Room for a few more slabs of stacks, not for a million stacks.
    set_as_limit(common::status_bytes("VmSize") as u64 + (256 << 20));
    let err = loop {
        if let Err(e) = spawn(&mut handles) {
            break e;
        }
        assert!(handles.len() < 1_000_000, "the limit never bit");
    };
    let msg = err.to_string();
    assert!(
        msg.contains("cannot map") && msg.contains("RLIMIT_AS"),
        "{msg}"
    );
    let before_raise = handles.len();
    // Running fibers are unaffected.
    go.store(true, Ordering::Release);
    assert_eq!(runner.join().unwrap(), 5);
    set_as_limit(libc::RLIM_INFINITY);
    for _ in 0..1000 {
        spawn(&mut handles).unwrap();
    }
    gate.done();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total as usize, before_raise + 1000);
    println!("CHILD-OK spawned {before_raise} before the limit; error: {msg}");
}

#[test]
fn rlimit_child_entry() {
    if common::child_role().is_some() {
        child();
    }
}

#[test]
fn low_address_space_limit_gives_an_error_and_the_runtime_carries_on() {
    let out = common::run_child("rlimit_child_entry", "1", &[]);
    let (stdout, stderr) = (&out.stdout, &out.stderr);
    assert_eq!(out.code, Some(0), "child failed: {stdout}\n{stderr}");
    assert!(
        stdout.contains("CHILD-OK"),
        "child did not finish: {stdout}\n{stderr}"
    );
}
