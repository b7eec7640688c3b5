//! The classic first fiber program: two fibers each count to ten, yielding
//! after every step, so their lines interleave strictly on one worker. The
//! fiber spawned last starts first (as with `rayon::spawn` and Go), then the
//! two alternate.
//!
//! Run: `cargo run --release --example seed`

fn main() -> std::io::Result<()> {
    let rt = heddle::Builder::new().workers(1).build()?;
    rt.block_on(|| {
        let counters: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|name| {
                heddle::spawn(move || {
                    for i in 0..10 {
                        println!("{name}: {i}");
                        heddle::yield_now();
                    }
                })
            })
            .collect();
        for c in counters {
            c.join().unwrap();
        }
    });
    Ok(())
}
