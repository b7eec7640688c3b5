//! The Mandelbrot set, rendered by fibers: the image is cut into bands of
//! rows, one fiber per band, and the fibers are spread over the workers by
//! work stealing. Bands near the set cost far more than bands outside it,
//! so a static split per core would leave cores idle; many small fibers
//! balance themselves.
//!
//! Renders once on 1 worker and once on every core, checks that both images
//! are identical, prints the speedup and writes the image as a binary PPM
//! (any image viewer opens it).
//!
//! Run: `cargo run --release --example mandelbrot`
//! Options: `--width N` (default 1600), `--height N` (default 1200),
//! `--bands N` fibers (default 120), `--out FILE` (default mandelbrot.ppm).

use std::time::{Duration, Instant};

use heddle_workloads as workloads;
use workloads::arg;

const MAX_ITER: u32 = 500;

/// Escape time of the point `(cx, cy)`: iterations before |z| > 2, or
/// `MAX_ITER` inside the set.
fn escape(cx: f64, cy: f64) -> u32 {
    let (mut x, mut y) = (0.0f64, 0.0f64);
    for i in 0..MAX_ITER {
        let (x2, y2) = (x * x, y * y);
        if x2 + y2 > 4.0 {
            return i;
        }
        y = 2.0 * x * y + cy;
        x = x2 - y2 + cx;
    }
    MAX_ITER
}

/// RGB for an escape time: black inside, a blue-to-gold ramp outside.
fn colour(it: u32) -> [u8; 3] {
    if it == MAX_ITER {
        return [0, 0, 0];
    }
    let t = (it as f64 / 64.0).fract();
    let ramp = |a: f64, b: f64| (a + (b - a) * t) as u8;
    [ramp(20.0, 255.0), ramp(40.0, 200.0), ramp(120.0, 40.0)]
}

/// Rows `rows` of the image, as RGB bytes.
fn render_rows(rows: std::ops::Range<usize>, width: usize, height: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * width * 3);
    for py in rows {
        let cy = (py as f64 / height as f64) * 2.4 - 1.2;
        for px in 0..width {
            let cx = (px as f64 / width as f64) * 3.2 - 2.2;
            out.extend_from_slice(&colour(escape(cx, cy)));
        }
        // Cooperative: let the other fibers of this worker have a turn.
        heddle::yield_now();
    }
    out
}

/// The whole image on a runtime with `workers` workers, one fiber per band.
fn render(workers: usize, width: usize, height: usize, bands: usize) -> (Vec<u8>, Duration) {
    let rt = heddle::Builder::new()
        .workers(workers)
        .build()
        .expect("runtime");
    let start = Instant::now();
    let image = rt.block_on(move || {
        let per = height.div_ceil(bands);
        let handles: Vec<_> = (0..height)
            .step_by(per)
            .map(|top| {
                let rows = top..(top + per).min(height);
                heddle::spawn(move || render_rows(rows, width, height))
            })
            .collect();
        let mut image = Vec::with_capacity(width * height * 3);
        for h in handles {
            image.extend_from_slice(&h.join().expect("a band panicked"));
        }
        image
    });
    (image, start.elapsed())
}

fn main() -> std::io::Result<()> {
    let width: usize = arg("--width", 1600);
    let height: usize = arg("--height", 1200);
    let bands: usize = arg("--bands", 120usize).clamp(1, height.max(1));
    let out: String = arg("--out", "mandelbrot.ppm".to_string());
    let cores = num_cpus::get();

    eprintln!("rendering {width}x{height} in {bands} bands on 1 worker...");
    let (one, t1) = render(1, width, height, bands);
    eprintln!("rendering again on {cores} workers...");
    let (many, tn) = render(cores, width, height, bands);
    assert!(one == many, "the two renders differ");

    let mut file = Vec::with_capacity(many.len() + 32);
    file.extend_from_slice(format!("P6\n{width} {height}\n255\n").as_bytes());
    file.extend_from_slice(&many);
    std::fs::write(&out, file)?;

    println!("mandelbrot {width}x{height}, {bands} fibers (one per band of rows)");
    println!("  1 worker:    {:8.1} ms", t1.as_secs_f64() * 1e3);
    println!(
        "  {cores} workers: {:8.1} ms   speedup {:.2}x",
        tn.as_secs_f64() * 1e3,
        t1.as_secs_f64() / tn.as_secs_f64()
    );
    println!("  image: {out} (identical on both runs)");
    Ok(())
}
