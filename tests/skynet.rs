//! Skynet: a tree where every node spawns ten children and sums their
//! results, and the leaves return their index. 100,000 leaves sum to
//! 4,999,950,000 on any number of workers. The tree is the one the skynet
//! example and bench run (`heddle-workloads`).

mod common;

fn run(workers: usize) {
    let rt = common::rt(workers);
    assert_eq!(
        rt.block_on(|| heddle_workloads::skynet_heddle(0, 100_000)),
        heddle_workloads::skynet_sum(100_000)
    );
    assert_eq!(heddle_workloads::skynet_sum(100_000), 4_999_950_000);
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

/// On one worker, newest-first order for fresh fibers runs the tree
/// depth-first: only the nodes on the current path and their waiting
/// siblings are alive at once, not a whole level of the tree (10,000 nodes
/// of 100,000 leaves), so a million-leaf tree needs a few dozen stacks.
#[test]
fn skynet_runs_depth_first_on_1_worker() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static STARTED: AtomicUsize = AtomicUsize::new(0);
    static MOST: AtomicUsize = AtomicUsize::new(0);
    fn node(num: u64, size: u64) -> u64 {
        let now = STARTED.fetch_add(1, Ordering::Relaxed) + 1;
        MOST.fetch_max(now, Ordering::Relaxed);
        let r = if size == 1 {
            num
        } else {
            let step = size / 10;
            let children: Vec<_> = (0..10)
                .map(|i| heddle::spawn(move || node(num + i * step, step)))
                .collect();
            children.into_iter().map(|h| h.join().unwrap()).sum()
        };
        STARTED.fetch_sub(1, Ordering::Relaxed);
        r
    }
    let rt = common::rt(1);
    assert_eq!(rt.block_on(|| node(0, 100_000)), 4_999_950_000);
    let most = MOST.load(Ordering::Relaxed);
    // A root-to-leaf path is 6 fibers, the least possible (6 here).
    assert!(
        most <= 16,
        "{most} fibers were started and unfinished at once"
    );
}

#[test]
fn skynet_100k_by_join_on_1_2_and_8_workers() {
    // The same tree with `heddle::join` splitting each node's children:
    // on 1 worker no join is stolen, so one fiber runs it all.
    for workers in [1, 2, 8] {
        let rt = common::rt(workers);
        assert_eq!(
            rt.block_on(|| heddle_workloads::skynet_heddle_join(0, 100_000)),
            4_999_950_000
        );
        if workers == 1 {
            assert_eq!(rt.stats()[0].fibers_run, 1);
        }
    }
}
