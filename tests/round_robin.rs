//! On one worker, fibers that yield after every step interleave strictly
//! round-robin (the seed demo).

use std::sync::{Arc, Mutex};

#[test]
fn two_counters_interleave_strictly() {
    let rt = heddle::Builder::new().workers(1).build().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    rt.block_on(|| {
        let hs: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|name| {
                let log = log.clone();
                heddle::spawn(move || {
                    for i in 0..10 {
                        log.lock().unwrap().push(format!("{name}{i}"));
                        heddle::yield_now();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    let expected: Vec<String> = (0..10)
        .flat_map(|i| [format!("a{i}"), format!("b{i}")])
        .collect();
    assert_eq!(*log.lock().unwrap(), expected);
}

#[test]
fn five_fibers_take_turns_in_spawn_order() {
    let rt = heddle::Builder::new().workers(1).build().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    rt.block_on(|| {
        let hs: Vec<_> = (0..5)
            .map(|f| {
                let log = log.clone();
                heddle::spawn(move || {
                    for round in 0..3 {
                        log.lock().unwrap().push((round, f));
                        heddle::yield_now();
                    }
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
    });
    let expected: Vec<(i32, i32)> = (0..3).flat_map(|r| (0..5).map(move |f| (r, f))).collect();
    assert_eq!(*log.lock().unwrap(), expected);
}

#[test]
fn yield_outside_a_fiber_is_harmless() {
    heddle::yield_now();
}
