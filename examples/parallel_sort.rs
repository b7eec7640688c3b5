//! A parallel quicksort with `heddle::join`, the fork-join shape of
//! `rayon::join`: partition the slice around a pivot (branchless Lomuto),
//! then sort the two sides in parallel. Slices below 8 Ki elements go to `slice::sort_unstable`,
//! and so does any slice after too many bad pivots (as introsort does), so an
//! adversarial input costs O(n log n), not O(n^2).
//!
//! `join` runs its first closure inline and its second inline as well when
//! no other worker stole it, so the recursion costs about as much as plain
//! calls until a worker runs dry and steals.
//!
//! Sorts the same random input with `slice::sort_unstable`, then on 1 worker
//! and on every core, checks both results, and prints the times and the
//! speedups.
//!
//! Run: `cargo run --release --example parallel_sort`
//! Options: `--len N` elements (default 10000000).

use std::time::{Duration, Instant};

use heddle_workloads as workloads;
use workloads::arg;

/// Below this many elements, sort serially.
const SERIAL: usize = 8 * 1024;

/// Sort `v` in parallel.
fn quicksort(v: &mut [u64]) {
    let limit = 2 * (usize::BITS - v.len().leading_zeros());
    sort(v, limit);
}

fn sort(v: &mut [u64], bad_pivots_left: u32) {
    if v.len() <= SERIAL || bad_pivots_left == 0 {
        v.sort_unstable();
        return;
    }
    let mid = partition(v);
    // A split worse than 1:7 counts against the budget (all-equal input
    // splits 0:n every time, and ends in sort_unstable).
    let bad = mid.min(v.len() - mid) < v.len() / 8;
    let budget = bad_pivots_left - u32::from(bad);
    let (left, right) = v.split_at_mut(mid);
    heddle::join(|| sort(left, budget), || sort(right, budget));
}

/// Partition around the median of three samples: afterwards `v[..mid] < p`
/// and `v[mid..] >= p`. Returns `mid`.
///
/// Branchless Lomuto: every element is moved the same way whatever it
/// compares to, so random input costs no branch mispredictions.
fn partition(v: &mut [u64]) -> usize {
    let n = v.len();
    let mut s = [v[n / 4], v[n / 2], v[3 * n / 4]];
    s.sort_unstable();
    let p = s[1];
    let mut mid = 0;
    for i in 0..n {
        let smaller = v[i] < p;
        v.swap(i, mid);
        mid += usize::from(smaller);
    }
    mid
}

fn random_input(len: usize) -> Vec<u64> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        })
        .collect()
}

fn sort_on(workers: usize, input: &[u64]) -> (Vec<u64>, Duration) {
    let rt = heddle::Builder::new()
        .workers(workers)
        .build()
        .expect("runtime");
    let mut v = input.to_vec();
    let start = Instant::now();
    rt.block_on(|| quicksort(&mut v));
    (v, start.elapsed())
}

fn main() {
    let len: usize = arg("--len", 10_000_000);
    let cores = num_cpus::get();
    let input = random_input(len);

    eprintln!("sorting {len} u64s with slice::sort_unstable...");
    let mut expected = input.clone();
    let start = Instant::now();
    expected.sort_unstable();
    let t_std = start.elapsed();

    eprintln!("quicksort with heddle::join on 1 worker...");
    let (one, t1) = sort_on(1, &input);
    assert!(one == expected, "1 worker: wrong order");
    eprintln!("quicksort with heddle::join on {cores} workers...");
    let (many, tn) = sort_on(cores, &input);
    assert!(many == expected, "{cores} workers: wrong order");

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("parallel quicksort of {len} random u64s (both results checked)");
    println!("  slice::sort_unstable:      {:8.1} ms", ms(t_std));
    println!("  heddle::join, 1 worker:    {:8.1} ms", ms(t1));
    println!(
        "  heddle::join, {cores} workers: {:9.1} ms   {:.2}x over 1 worker, {:.2}x over sort_unstable",
        ms(tn),
        ms(t1) / ms(tn),
        ms(t_std) / ms(tn)
    );
}
