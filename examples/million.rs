//! A million fibers parked at once: how much memory and how many kernel
//! mappings each one costs, and how long each phase takes.
//!
//! Every fiber parks on one `WaitGroup` until the root fiber opens it.
//! Resident memory is read from `/proc/self/status` (VmRSS, plus VmPTE for
//! the page tables), mappings from `/proc/self/maps`.
//!
//! Run: `cargo run --release --example million` (`-- N` for another count)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use heddle_workloads::{mappings, status_bytes};

/// A `/proc/self/status` field in KiB.
fn status_kib(field: &str) -> u64 {
    (status_bytes(field) / 1024) as u64
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    // The spawning fiber holds its worker for over a second (spawns do not
    // switch), which the stall monitor would rightly report: not news here.
    let rt = heddle::Builder::new()
        .stall_threshold(std::time::Duration::MAX)
        .build()
        .expect("runtime");
    rt.block_on(|| heddle::spawn(|| ()).join().unwrap()); // warm up: first slab, threads
    let (rss0, pte0, maps0) = (status_kib("VmRSS"), status_kib("VmPTE"), mappings());
    let gate = Arc::new(heddle::sync::WaitGroup::new());
    gate.add(1);
    let arrived = Arc::new(AtomicUsize::new(0));
    let (g, a) = (gate.clone(), arrived.clone());
    let t0 = Instant::now();
    let report = rt.block_on(move || {
        let hs: Vec<_> = (0..n as u64)
            .map(|i| {
                let (g, a) = (g.clone(), a.clone());
                heddle::spawn(move || {
                    a.fetch_add(1, Ordering::Relaxed);
                    g.wait();
                    i
                })
            })
            .collect();
        let spawned = t0.elapsed();
        eprintln!("  spawned {n} fibers in {spawned:.2?}");
        while a.load(Ordering::Relaxed) < n {
            heddle::yield_now();
        }
        let parked = t0.elapsed();
        eprintln!("  all parked after {parked:.2?}");
        let (rss, pte, maps) = (status_kib("VmRSS"), status_kib("VmPTE"), mappings());
        let t1 = Instant::now();
        g.done();
        let sum: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, (n as u64) * (n as u64 - 1) / 2);
        (spawned, parked, t1.elapsed(), rss, pte, maps)
    });
    let (spawned, parked, finished, rss, pte, maps) = report;
    let per = |kib: u64| kib as f64 * 1024.0 / n as f64;
    println!(
        "heddle million: {n} fibers parked at once, {} workers",
        rt.workers()
    );
    println!(
        "  spawn: {:.2?}   all parked: {:.2?}   wake + join all: {:.2?}",
        spawned, parked, finished
    );
    println!(
        "  resident per parked fiber: {:.0} bytes (VmRSS), + {:.0} bytes of page tables (VmPTE)",
        per(rss.saturating_sub(rss0)),
        per(pte.saturating_sub(pte0))
    );
    println!(
        "  mappings: {} more while parked = {:.4} per fiber (stack slabs: {})",
        maps.saturating_sub(maps0),
        maps.saturating_sub(maps0) as f64 / n as f64,
        rt.stack_mappings()
    );
    let t2 = Instant::now();
    drop(rt);
    println!("  runtime drop (unmap everything): {:.2?}", t2.elapsed());
}
