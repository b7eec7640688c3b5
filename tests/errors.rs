//! Bad input gets a clear error, not a panic or a hang.

mod common;

#[test]
fn zero_workers_is_an_error() {
    let err = heddle::Builder::new().workers(0).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(
        err.to_string(),
        "heddle: a runtime needs at least one worker (workers(0) was given)"
    );
}

#[test]
fn tiny_stacks_are_errors() {
    let err = heddle::Builder::new().stack_size(4096).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(
        err.to_string()
            .contains("stack size 4096 bytes is below the minimum of 32768"),
        "{err}"
    );
    let rt = common::rt(1);
    let err = heddle::fiber::Builder::new()
        .stack_size(0)
        .spawn_on(&rt, || ())
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("below the minimum"), "{err}");
}

#[test]
fn spawn_outside_a_runtime_panics_with_a_message() {
    let r = std::panic::catch_unwind(|| heddle::spawn(|| 1));
    assert!(common::panic_message(&*r.unwrap_err()).contains("outside a heddle runtime"));
}

#[test]
fn fallible_spawn_outside_a_fiber_is_an_error() {
    let err = heddle::fiber::Builder::new().spawn(|| 1).unwrap_err();
    assert!(err.to_string().contains("outside a fiber"), "{err}");
}

#[test]
fn block_on_inside_a_fiber_panics_instead_of_deadlocking() {
    let rt = common::rt(1);
    let rt2 = common::rt(1);
    let r = rt.spawn(move || rt2.block_on(|| 1)).join();
    assert!(
        common::panic_message(&*r.unwrap_err()).contains("block_on called from inside a fiber")
    );
}

#[test]
fn custom_stack_sizes_work() {
    let rt = heddle::Builder::new()
        .workers(1)
        .stack_size(64 * 1024)
        .build()
        .unwrap();
    // 4 MiB for a 1 MiB array: an unoptimised build keeps two copies of
    // it (the literal and `black_box`'s).
    let h = heddle::fiber::Builder::new()
        .stack_size(4 << 20)
        .spawn_on(&rt, || {
            let buf = std::hint::black_box([7u8; 1 << 20]);
            buf.iter().map(|&b| b as u64).sum::<u64>()
        })
        .unwrap();
    assert_eq!(h.join().unwrap(), 7 << 20);
}
