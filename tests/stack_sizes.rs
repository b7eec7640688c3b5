//! A fiber with the smallest stack allowed ([`heddle::MIN_STACK_SIZE`]) can
//! panic with a printed backtrace and capture one, as anyhow and eyre do.
//! Each runs in a child process (the backtrace switches are environment
//! variables read once per process, and a failure is a stack overflow).

mod common;

use std::backtrace::Backtrace;

/// The stack size for the child's fiber: `HEDDLE_TEST_STACK`, or the minimum.
fn child_stack() -> usize {
    std::env::var("HEDDLE_TEST_STACK")
        .map(|s| s.parse().unwrap())
        .unwrap_or(heddle::MIN_STACK_SIZE)
}

fn in_small_fiber(f: impl FnOnce() + Send + 'static) {
    let rt = heddle::Builder::new()
        .workers(1)
        .stack_size(child_stack())
        .build()
        .unwrap();
    let h = rt.spawn(f);
    let _ = h.join();
    println!("child finished");
}

#[test]
fn child_entry() {
    match common::child_role().as_deref() {
        Some("panic") => in_small_fiber(|| panic!("a panic with a backtrace")),
        Some("capture") => in_small_fiber(|| {
            let bt = Backtrace::capture();
            // Formatting resolves the symbols: the deep part.
            let text = bt.to_string();
            println!("captured {} lines", text.lines().count());
        }),
        _ => {}
    }
}

fn check(role: &str, env: (&str, &str), expect: &str) {
    let out = common::run_child("child_entry", role, &[env]);
    assert_eq!(out.code, Some(0), "{role}: {out:?}");
    assert!(out.stdout.contains("child finished"), "{role}: {out:?}");
    assert!(
        out.stderr.contains(expect) || out.stdout.contains(expect),
        "{role}: {out:?}"
    );
}

#[test]
fn a_panic_with_rust_backtrace_fits_the_minimum_stack() {
    check("panic", ("RUST_BACKTRACE", "1"), "stack backtrace:");
}

#[test]
fn a_full_backtrace_fits_the_minimum_stack() {
    check("panic", ("RUST_BACKTRACE", "full"), "stack backtrace:");
}

#[test]
fn backtrace_capture_fits_the_minimum_stack() {
    check("capture", ("RUST_LIB_BACKTRACE", "1"), "captured");
}
