//! A fiber that overflows its stack gets a clear report and an abort, like a
//! std thread; a fiber that stays just inside a small stack is fine.
//!
//! The overflow runs in a child process: this test binary re-executes itself
//! (rayon's trick) with an environment variable that selects the child role,
//! and the parent checks the signal and stderr.

mod common;

fn child(role: &str) {
    if role == "slab" {
        return slab_child();
    }
    if role == "thread" {
        return thread_child();
    }
    let rt = common::rt(2);
    let b = heddle::fiber::Builder::new().stack_size(64 * 1024);
    let b = if role == "named" {
        b.name("deep-diver")
    } else {
        b
    };
    let h = b.spawn_on(&rt, || common::recurse(0)).unwrap();
    let _ = h.join();
    unreachable!("the overflow should have aborted the process");
}

/// Overflow on a pooled slab stack, after thousands of stacks went through
/// the pools and back to the kernel (`MADV_DONTNEED` in runs): the guard
/// pages must still be there.
fn slab_child() {
    use std::sync::Arc;
    let rt = heddle::Builder::new()
        .workers(2)
        .stack_size(64 * 1024)
        .build()
        .unwrap();
    for _ in 0..2 {
        let gate = Arc::new(heddle::sync::WaitGroup::new());
        gate.add(1);
        let hs: Vec<_> = (0..5000)
            .map(|_| {
                let g = gate.clone();
                rt.spawn(move || g.wait())
            })
            .collect();
        gate.done();
        hs.into_iter().for_each(|h| h.join().unwrap());
    }
    let h = heddle::fiber::Builder::new()
        .name("slab-diver")
        .spawn_on(&rt, || common::recurse(0))
        .unwrap();
    let _ = h.join();
    unreachable!("the overflow should have aborted the process");
}

/// Re-execute this binary as the child playing `role` (core dumps off:
/// the child crashes on purpose); its signal and stderr.
fn run_child(role: &str) -> (Option<i32>, String) {
    let out = common::run_child("overflow_child_entry", role, &[]);
    (out.signal, out.stderr)
}

#[test]
fn overflow_child_entry() {
    if let Some(role) = common::child_role() {
        child(&role);
    }
}

#[test]
fn unbounded_recursion_in_a_named_fiber_aborts_with_a_report() {
    let (signal, stderr) = run_child("named");
    assert_eq!(signal, Some(libc::SIGABRT), "stderr: {stderr}");
    assert!(
        stderr.contains("fiber 'deep-diver' has overflowed its stack (65536 bytes)"),
        "stderr: {stderr}"
    );
}

#[test]
fn unnamed_fibers_are_reported_by_id() {
    let (signal, stderr) = run_child("unnamed");
    assert_eq!(signal, Some(libc::SIGABRT), "stderr: {stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("has overflowed its stack"))
        .unwrap_or_else(|| panic!("stderr: {stderr}"));
    assert!(
        line.starts_with("fiber '#") && line.ends_with("' has overflowed its stack (65536 bytes)"),
        "{line}"
    );
}

#[test]
fn overflow_on_a_recycled_slab_stack_is_caught() {
    let (signal, stderr) = run_child("slab");
    assert_eq!(signal, Some(libc::SIGABRT), "stderr: {stderr}");
    assert!(
        stderr.contains("fiber 'slab-diver' has overflowed its stack (65536 bytes)"),
        "stderr: {stderr}"
    );
}

#[test]
fn minimum_stack_used_to_just_under_its_limit() {
    // Recurse until this fiber has used all but 3 KiB of its minimum stack,
    // measured from the addresses of locals, then come back.
    #[inline(never)]
    fn dig(top: usize, limit: usize) -> usize {
        let marker = std::hint::black_box([0u8; 128]);
        let here = marker.as_ptr() as usize;
        let used = top - here;
        if used + 3 * 1024 >= limit {
            return used;
        }
        dig(top, limit).max(std::hint::black_box(marker[0]) as usize)
    }
    let rt = common::rt(1);
    let limit = heddle::MIN_STACK_SIZE;
    let h = heddle::fiber::Builder::new()
        .stack_size(limit)
        .spawn_on(&rt, move || {
            let anchor = std::hint::black_box([0u8; 1]);
            let top = anchor.as_ptr() as usize;
            dig(top, limit)
        })
        .unwrap();
    let used = h.join().unwrap();
    assert!(
        used >= limit - 3 * 1024 && used < limit,
        "used {used} of {limit}"
    );
}

#[test]
fn std_threads_still_get_std_overflow_reports() {
    // Our handler passes faults it does not own to the previous handler, so
    // a plain thread's overflow is still std's "has overflowed its stack".
    let (signal, stderr) = run_child("thread");
    assert_eq!(signal, Some(libc::SIGABRT), "stderr: {stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("has overflowed its stack"))
        .unwrap_or("");
    assert!(line.starts_with("thread 'victim'"), "stderr: {stderr}");
    assert!(
        !stderr.contains("fiber '"),
        "misreported as a fiber: {stderr}"
    );
}

/// A plain std thread overflows while a runtime (and our handler) exists.
fn thread_child() {
    let _rt = common::rt(1); // installs our handler
    let t = std::thread::Builder::new()
        .name("victim".into())
        .stack_size(64 * 1024)
        .spawn(|| common::recurse(0))
        .unwrap();
    let _ = t.join();
    unreachable!("the overflow should have aborted the process");
}
