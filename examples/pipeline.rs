//! A pipeline: one producer fiber, a pool of fibers transforming items, and
//! a consumer, connected by bounded channels (back-pressure keeps memory
//! flat however fast the producer is). Prints the throughput.
//!
//! Run: `cargo run --release --example pipeline` (`-- ITEMS TRANSFORMERS CAP`)

use std::time::Instant;

fn transform(x: u64) -> u64 {
    // A little real work per item: a few rounds of mixing.
    let mut h = x ^ 0x9E37_79B9_7F4A_7C15;
    for _ in 0..64 {
        h = (h ^ (h >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    }
    h
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let items = args.first().copied().unwrap_or(1_000_000);
    let transformers = args.get(1).copied().unwrap_or(8) as usize;
    let cap = args.get(2).copied().unwrap_or(256) as usize;
    let rt = heddle::Runtime::new().expect("runtime");
    let start = Instant::now();
    let (count, checksum) = rt.block_on(move || {
        let (raw_tx, raw_rx) = heddle::sync::sync_channel::<u64>(cap);
        let (out_tx, out_rx) = heddle::sync::sync_channel::<u64>(cap);
        let producer = heddle::spawn(move || {
            for i in 0..items {
                raw_tx.send(i).unwrap();
            }
        });
        let pool: Vec<_> = (0..transformers)
            .map(|_| {
                let (rx, tx) = (raw_rx.clone(), out_tx.clone());
                heddle::spawn(move || {
                    for x in rx.iter() {
                        tx.send(transform(x)).unwrap();
                    }
                })
            })
            .collect();
        drop((raw_rx, out_tx));
        let consumer =
            heddle::spawn(move || out_rx.iter().fold((0u64, 0u64), |(n, c), x| (n + 1, c ^ x)));
        producer.join().unwrap();
        pool.into_iter().for_each(|h| h.join().unwrap());
        consumer.join().unwrap()
    });
    let t = start.elapsed();
    let expected = (0..items).fold(0u64, |c, x| c ^ transform(x));
    assert_eq!(
        (count, checksum),
        (items, expected),
        "lost, duplicated or corrupted items"
    );
    println!(
        "pipeline: {items} items, 1 producer -> {transformers} transformers -> 1 consumer, channels of {cap}, {} workers",
        rt.workers()
    );
    println!(
        "  {:.2?}: {:.2} M items/s ({:.0} ns per item end to end)",
        t,
        items as f64 / t.as_secs_f64() / 1e6,
        t.as_nanos() as f64 / items as f64
    );
}
