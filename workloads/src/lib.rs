//! Workloads shared by heddle's examples, benches and tests, so that an
//! example, its bench and its test run the same code; and the examples'
//! flag parser. A workspace member that is never published.
//!
//! - `scale_*`: the CPU-bound fiber of the scaling demo;
//! - `skynet_*`: the skynet tree (every node has ten children and sums their
//!   results; leaf `i` returns `i`) in heddle (a fiber per node, or
//!   `heddle::join`), `rayon::join` and `rayon::scope` shapes;
//! - `fib_*`: fork-join Fibonacci, heddle against rayon;
//! - `mappings`, `status_bytes`: what the process holds, from `/proc`.
//!
//! Empty under `--cfg loom`: heddle's loom build has no runtime to run
//! them on, and the models do not need them.

#![cfg(not(loom))]

/// The value after `--flag` on the command line, or `default`. A missing or
/// unparsable value exits with a message pointing at the example's docs.
pub fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                eprintln!("{name} needs a value; see the top of this example's source");
                std::process::exit(2)
            }),
        None => default,
    }
}

/// The skynet sum of `size` leaves (numbered from 0).
pub fn skynet_sum(size: u64) -> u64 {
    size * (size - 1) / 2
}

/// One unit of scaling work: 256 rounds of xorshift mixing over a 64-word
/// buffer (about 25 us on the development machine).
pub fn scale_unit(buf: &mut [u64; 64], seed: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..256 {
        for w in buf.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *w = w.wrapping_add(x);
        }
    }
    buf.iter().fold(0, |a, &w| a ^ w)
}

/// One fiber of the scaling demo: `work` units, yielding `yields` times
/// along the way. Returns a checksum of the work.
pub fn scale_fiber(id: u64, work: u64, yields: u64) -> u64 {
    let mut buf = [id; 64];
    let mut acc = 0u64;
    let every = (work / yields.max(1)).max(1);
    for k in 0..work {
        acc ^= scale_unit(&mut buf, id.wrapping_mul(31).wrapping_add(k));
        if k % every == every - 1 {
            heddle::yield_now();
        }
    }
    acc
}

/// The scaling workload: `fibers` fibers of [`scale_fiber`], spawned from
/// the calling fiber and joined in order. Returns the XOR of their checksums.
pub fn scale_all(fibers: u64, work: u64, yields: u64) -> u64 {
    let hs: Vec<_> = (0..fibers)
        .map(|id| heddle::spawn(move || scale_fiber(id, work, yields)))
        .collect();
    hs.into_iter().fold(0u64, |a, h| a ^ h.join().unwrap())
}

/// Skynet with one heddle fiber per node. Call inside a fiber.
pub fn skynet_heddle(num: u64, size: u64) -> u64 {
    if size == 1 {
        return num;
    }
    let step = size / 10;
    let children: Vec<_> = (0..10)
        .map(|i| heddle::spawn(move || skynet_heddle(num + i * step, step)))
        .collect();
    children.into_iter().map(|h| h.join().unwrap()).sum()
}

/// Skynet by a `join` function: each node splits its ten children in
/// halves until one is left (the same tree for heddle and rayon).
macro_rules! skynet_by_join {
    ($(#[$doc:meta])* $name:ident, $join:path) => {
        $(#[$doc])*
        pub fn $name(num: u64, size: u64) -> u64 {
            fn children(num: u64, step: u64, lo: u64, hi: u64) -> u64 {
                if hi - lo == 1 {
                    return $name(num + lo * step, step);
                }
                let mid = (lo + hi) / 2;
                let (a, b) = $join(
                    || children(num, step, lo, mid),
                    || children(num, step, mid, hi),
                );
                a + b
            }
            if size == 1 {
                return num;
            }
            children(num, size / 10, 0, 10)
        }
    };
}

skynet_by_join!(
    /// Skynet with `heddle::join`, in the shape of [`skynet_rayon_join`]
    /// (no fiber per node). Call inside a fiber.
    skynet_heddle_join,
    heddle::join
);

skynet_by_join!(
    /// Skynet with `rayon::join`: each node splits its ten children in
    /// halves until one is left. Call inside a rayon pool.
    skynet_rayon_join,
    rayon::join
);

/// Skynet with `rayon::scope`: each node spawns its ten children into a
/// scope, each writing its own slot. Call inside a rayon pool.
pub fn skynet_rayon_scope(num: u64, size: u64) -> u64 {
    if size == 1 {
        return num;
    }
    let step = size / 10;
    let mut sums = [0u64; 10];
    rayon::scope(|s| {
        for (i, slot) in sums.iter_mut().enumerate() {
            s.spawn(move |_| *slot = skynet_rayon_scope(num + i as u64 * step, step));
        }
    });
    sums.iter().sum()
}

/// Fibonacci by fork-join with `heddle::join`. Call inside a fiber.
pub fn fib_heddle(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = heddle::join(|| fib_heddle(n - 1), || fib_heddle(n - 2));
    a + b
}

/// Fibonacci by fork-join with `rayon::join`. Call inside a rayon pool.
pub fn fib_rayon(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = rayon::join(|| fib_rayon(n - 1), || fib_rayon(n - 2));
    a + b
}

/// Number of memory mappings the process has now (lines of
/// `/proc/self/maps`).
pub fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .expect("read /proc/self/maps")
        .lines()
        .count()
}

/// A `/proc/self/status` field given in kB (`VmRSS`, `VmPTE`, ...), in
/// bytes. Panics naming the field if it is missing.
pub fn status_bytes(field: &str) -> usize {
    let s = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let kib: usize = s
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("unreadable {field} in /proc/self/status"));
    kib * 1024
}
