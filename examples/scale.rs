//! The scaling demo: a CPU-bound workload of many fibers run with 1, 2, ...
//! up to the number of cores, then oversubscribed at 2x and 4x the cores.
//!
//! Each fiber does a fixed amount of real arithmetic (an xorshift mix over a
//! small buffer), yielding every so often, so every row does exactly the same
//! work (the checksum column proves it) and only the worker count changes.
//! Each row is the fastest of `--reps` runs. At the end, an idle runtime is
//! watched for a second with `getrusage` to show it costs (nearly) no CPU.
//!
//! Run: `cargo run --release --example scale` (a progress line per run goes to
//! stderr, the table to stdout)
//! Options: `--fibers N` (default 2000), `--work N` (units of work per fiber,
//! default 60, about 1.5 ms), `--yields N` (yields per fiber, default 10),
//! `--reps N` (default 3), `--max-workers N` (default: the number of cores).

use std::time::{Duration, Instant};

use heddle_workloads as workloads;

struct Opts {
    fibers: u64,
    work: u64,
    yields: u64,
    reps: usize,
    max_workers: usize,
}

fn parse() -> Opts {
    let mut o = Opts {
        fibers: 2000,
        work: 60,
        yields: 10,
        reps: 3,
        max_workers: num_cpus::get(),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = || -> u64 {
            args.get(i + 1)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| {
                    eprintln!("{} needs a number", args[i]);
                    std::process::exit(2)
                })
        };
        match args[i].as_str() {
            "--fibers" => o.fibers = value(),
            "--work" => o.work = value(),
            "--yields" => o.yields = value().max(1),
            "--reps" => o.reps = value().max(1) as usize,
            "--max-workers" => o.max_workers = value().max(1) as usize,
            other => {
                eprintln!("unknown option {other}; see the top of examples/scale.rs");
                std::process::exit(2)
            }
        }
        i += 2;
    }
    o
}

struct Row {
    workers: usize,
    time: Duration,
    checksum: u64,
    steals: u64,
    parks: u64,
}

fn run(workers: usize, o: &Opts) -> Row {
    let rt = heddle::Builder::new()
        .workers(workers)
        .build()
        .expect("runtime");
    let mut best = Duration::MAX;
    let mut checksum = 0;
    for rep in 1..=o.reps {
        let (fibers, work, yields) = (o.fibers, o.work, o.yields);
        let start = Instant::now();
        checksum = rt.block_on(move || workloads::scale_all(fibers, work, yields));
        let took = start.elapsed();
        eprintln!(
            "  {workers} worker(s), run {rep}/{}: {:.1} ms",
            o.reps,
            took.as_secs_f64() * 1e3
        );
        best = best.min(took);
    }
    let stats = rt.stats();
    Row {
        workers,
        time: best,
        checksum,
        steals: stats.iter().map(|s| s.steals).sum(),
        parks: stats.iter().map(|s| s.parks).sum(),
    }
}

fn cpu_time() -> Duration {
    // SAFETY: getrusage writes into the struct we pass.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn main() {
    let o = parse();
    let cores = num_cpus::get();
    let mut counts: Vec<usize> = (1..=o.max_workers).collect();
    for extra in [2 * cores, 4 * cores] {
        if !counts.contains(&extra) {
            counts.push(extra);
        }
    }
    println!(
        "heddle scale: {} fibers x {} work units, {} yields each; {} cores; best of {}",
        o.fibers, o.work, o.yields, cores, o.reps
    );
    println!(
        "{:>8} {:>10} {:>8} {:>10} {:>8} {:>8} {:>18}",
        "workers", "time", "speedup", "efficiency", "steals", "parks", "checksum"
    );
    let mut base: Option<Duration> = None;
    let mut best_at_cores: Option<Duration> = None;
    for &w in &counts {
        let r = run(w, &o);
        let t1 = *base.get_or_insert(r.time);
        let speedup = t1.as_secs_f64() / r.time.as_secs_f64();
        let eff = speedup / (r.workers.min(cores) as f64);
        if r.workers == cores.min(o.max_workers) {
            best_at_cores = Some(r.time);
        }
        let note = match best_at_cores {
            Some(tc) if r.workers > cores => {
                format!(
                    "  ({:+.1}% vs {} workers)",
                    (r.time.as_secs_f64() / tc.as_secs_f64() - 1.0) * 100.0,
                    cores
                )
            }
            _ => String::new(),
        };
        println!(
            "{:>8} {:>8.1}ms {:>7.2}x {:>9.0}% {:>8} {:>8} {:>18x}{}",
            r.workers,
            r.time.as_secs_f64() * 1e3,
            speedup,
            eff * 100.0,
            r.steals,
            r.parks,
            r.checksum,
            note
        );
    }

    // An idle runtime should cost nearly nothing.
    let rt = heddle::Builder::new()
        .workers(cores)
        .build()
        .expect("runtime");
    rt.block_on(|| {
        (0..100)
            .map(|i| heddle::spawn(move || i))
            .for_each(|h| drop(h.join()))
    });
    std::thread::sleep(Duration::from_millis(100)); // let the workers settle
    let (c0, t0) = (cpu_time(), Instant::now());
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_time() - c0;
    println!(
        "idle: {} workers with no work for {:.2}s used {:.3}% of one core",
        cores,
        t0.elapsed().as_secs_f64(),
        used.as_secs_f64() / t0.elapsed().as_secs_f64() * 100.0
    );
}
