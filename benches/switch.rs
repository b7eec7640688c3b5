//! The raw context switch, outside any runtime: one round trip is two
//! switches (there and back). Compares the runtime's switch (resume
//! address pushed, jumped into, left by `pop rcx; jmp rcx`: `jmp_in`) with
//! the same body entered by a `call` and left by `pop rcx; jmp rcx`
//! (`call_pop_jmp`) or by the textbook `ret` (`ret`), in two shapes:
//!
//! - `loop`: many switches inside one function, no `ret` in between (the
//!   switch alone, as an asm microbenchmark sees it);
//! - `call`: each round trip is a function call that returns, as in a real
//!   scheduler, where the code around the switch executes `ret`s too.
//!
//! - `corosensei`: corosensei's `resume` + `suspend` round trip in a loop,
//!   the same shape as `loop/*`: the physical-limit anchor from a
//!   well-kept coroutine crate.
//!
//! Run: `cargo bench --bench switch`

#![allow(missing_docs)]

use corosensei::Coroutine;
use criterion::{Criterion, criterion_group, criterion_main};
use heddle::__bench::{SwitchForm, SwitchPair};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn switch(c: &mut Criterion) {
    let mut g = c.benchmark_group("switch_round_trip");
    for (name, form) in [
        ("jmp_in", SwitchForm::JmpIn),
        ("call_pop_jmp", SwitchForm::CallPopJmp),
        ("ret", SwitchForm::CallRet),
    ] {
        let mut pair = SwitchPair::new(form);
        g.bench_function(format!("loop/{name}"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                pair.round_trips_in_loop(iters);
                start.elapsed()
            })
        });
        g.bench_function(format!("call/{name}"), |b| b.iter(|| pair.round_trip()));
    }
    let mut co: Coroutine<(), (), ()> = Coroutine::new(|yielder, ()| {
        loop {
            yielder.suspend(());
        }
    });
    g.bench_function("corosensei", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(co.resume(()));
            }
            start.elapsed()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = switch
}
criterion_main!(benches);
