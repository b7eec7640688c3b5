//! Skynet: a tree where every node spawns ten children and sums their
//! results, and the leaves return their index. 100,000 leaves sum to
//! 4,999,950,000 on any number of workers.

fn skynet(num: u64, size: u64) -> u64 {
    if size == 1 {
        return num;
    }
    let step = size / 10;
    let children: Vec<_> = (0..10)
        .map(|i| heddle::spawn(move || skynet(num + i * step, step)))
        .collect();
    children.into_iter().map(|h| h.join().unwrap()).sum()
}

fn run(workers: usize) {
    let rt = heddle::Builder::new().workers(workers).build().unwrap();
    assert_eq!(rt.block_on(|| skynet(0, 100_000)), 4_999_950_000);
    let run: u64 = rt.stats().iter().map(|s| s.fibers_run).sum();
    assert_eq!(run, 111_111); // 11,111 inner nodes (the root among them) + 100,000 leaves
}

#[test]
fn skynet_100k_on_1_worker() {
    run(1);
}

#[test]
fn skynet_100k_on_2_workers() {
    run(2);
}

#[test]
fn skynet_100k_on_8_workers() {
    run(8);
}
