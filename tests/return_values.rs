//! Awkward return types cross the join, and fiber stacks are 16-byte aligned
//! at entry (code that needs alignment works).

mod common;

#[test]
fn u128_string_big_array_and_zst() {
    let rt = common::rt(2);
    let x = rt.spawn(|| u128::MAX / 3).join().unwrap();
    assert_eq!(x, u128::MAX / 3);
    let s = rt.spawn(|| "hello ".repeat(3)).join().unwrap();
    assert_eq!(s, "hello hello hello ");
    // A 64 KiB result passes through a few frames by value on its way to
    // the latch; unoptimised builds keep a copy in each, more than the
    // default 256 KiB stack holds, so this fiber asks for 1 MiB.
    let big = heddle::fiber::Builder::new()
        .stack_size(1 << 20)
        .spawn_on(&rt, || {
            let mut a = [0u8; 64 * 1024];
            for (i, b) in a.iter_mut().enumerate() {
                *b = (i % 251) as u8;
            }
            a
        })
        .unwrap();
    let a = big.join().unwrap();
    assert!(a.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
    #[derive(Debug, PartialEq)]
    struct Zst;
    assert_eq!(rt.spawn(|| Zst).join().unwrap(), Zst);
    assert_eq!(rt.spawn(|| ()).join().unwrap(), ());
    let v = rt.spawn(|| vec![Box::new(1u64); 1000]).join().unwrap();
    assert_eq!(v.iter().map(|b| **b).sum::<u64>(), 1000);
}

#[test]
fn alignment_sensitive_code_runs_in_fibers() {
    let rt = common::rt(2);
    let hs: Vec<_> = (0..64u64)
        .map(|i| {
            rt.spawn(move || {
                // f64 formatting and parsing use SSE and aligned spills.
                let f = format!("{:.6}", (i as f64).sqrt() * std::f64::consts::PI);
                let back: f64 = f.parse().unwrap();
                // u128 arithmetic (spills to 16-byte aligned slots).
                let big = (i as u128 + 1) * 0x1234_5678_9abc_def0_1234_5678u128;
                heddle::yield_now();
                let q = big / (i as u128 + 1);
                // 16-byte aligned locals must really be aligned.
                #[repr(align(16))]
                struct A([u8; 16]);
                let a = std::hint::black_box(A([i as u8; 16]));
                assert_eq!(&a as *const A as usize % 16, 0);
                assert_eq!(a.0[15], i as u8);
                (back, q)
            })
        })
        .collect();
    for (i, h) in hs.into_iter().enumerate() {
        let (back, q) = h.join().unwrap();
        assert!((back - (i as f64).sqrt() * std::f64::consts::PI).abs() < 1e-5);
        assert_eq!(q, 0x1234_5678_9abc_def0_1234_5678u128);
    }
}

fn mxcsr() -> u32 {
    let mut v = 0u32;
    // SAFETY: stmxcsr only stores the register into `v`.
    unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut v, options(nostack)) };
    v
}

fn set_mxcsr(v: u32) {
    // SAFETY: ldmxcsr with a valid MXCSR value (reserved bits clear).
    unsafe { std::arch::asm!("ldmxcsr [{}]", in(reg) &v, options(nostack)) };
}

fn x87_cw() -> u16 {
    let mut v = 0u16;
    // SAFETY: fnstcw only stores the control word into `v`.
    unsafe { std::arch::asm!("fnstcw [{}]", in(reg) &mut v, options(nostack)) };
    v
}

fn set_x87_cw(v: u16) {
    // SAFETY: fldcw with a valid control word.
    unsafe { std::arch::asm!("fldcw [{}]", in(reg) &v, options(nostack)) };
}

/// Rounding-control bits of MXCSR (13-14) and of the x87 CW (10-11).
const MXCSR_RC: u32 = 0b11 << 13;
const X87_RC: u16 = 0b11 << 10;

#[test]
fn float_control_words_are_per_fiber() {
    // MXCSR and x87 control bits are callee-saved: a fiber that changes its
    // rounding mode keeps it across yields, and other fibers never see it.
    // It restores MXCSR before returning, as Rust requires (heddle's last
    // switch out of a fiber takes MXCSR's defaults for granted: see
    // `arch`, "The last switch"); the x87 word it leaves changed.
    let rt = common::rt(1);
    let (mine, others, joiner) = rt.block_on(|| {
        let rounder = heddle::spawn(|| {
            set_mxcsr((mxcsr() & !MXCSR_RC) | (0b10 << 13)); // round up
            set_x87_cw((x87_cw() & !X87_RC) | (0b01 << 10)); // round down
            let mut seen = Vec::new();
            for _ in 0..5 {
                heddle::yield_now();
                seen.push((mxcsr() & MXCSR_RC, x87_cw() & X87_RC));
                // Float math sets status flags; they must not leak either way.
                std::hint::black_box(std::hint::black_box(1.0f64) / 3.0);
            }
            set_mxcsr(mxcsr() & !MXCSR_RC);
            seen
        });
        let plain = heddle::spawn(|| {
            let mut seen = Vec::new();
            for _ in 0..5 {
                seen.push((mxcsr() & MXCSR_RC, x87_cw() & X87_RC));
                heddle::yield_now();
            }
            seen
        });
        let mine = rounder.join().unwrap();
        let joiner = (mxcsr() & MXCSR_RC, x87_cw() & X87_RC);
        (mine, plain.join().unwrap(), joiner)
    });
    assert_eq!(mine, vec![(0b10 << 13, 0b01 << 10); 5]);
    assert_eq!(others, vec![(0, 0); 5]);
    assert_eq!(joiner, (0, 0), "the joiner keeps its own modes");
    // The worker thread itself is unaffected too: a new fiber starts clean.
    let fresh = rt
        .spawn(|| (mxcsr() & MXCSR_RC, x87_cw() & X87_RC))
        .join()
        .unwrap();
    assert_eq!(fresh, (0, 0));
}

/// Worker threads inherit the floating-point modes of the thread that
/// started them (here: round up), but every fiber starts with the
/// defaults; and a fiber that set its own modes finds them again after
/// each join, when its child's last switch (which takes MXCSR's defaults
/// for granted: `arch`, "The last switch") resumes it.
#[test]
fn fibers_start_with_default_modes_and_joiners_keep_theirs() {
    let saved = mxcsr();
    set_mxcsr((saved & !MXCSR_RC) | (0b10 << 13)); // round up, for the workers to inherit
    let rt = common::rt(2);
    set_mxcsr(saved);
    let (children, parent): (Vec<u32>, Vec<u32>) = rt.block_on(|| {
        heddle::spawn(|| {
            set_mxcsr((mxcsr() & !MXCSR_RC) | (0b01 << 13)); // round down
            let mut seen = (Vec::new(), Vec::new());
            for i in 0..2_000u32 {
                let child = heddle::spawn(move || {
                    if i % 7 == 0 {
                        heddle::yield_now();
                    }
                    mxcsr() & MXCSR_RC
                });
                seen.0.push(child.join().unwrap());
                seen.1.push(mxcsr() & MXCSR_RC);
            }
            set_mxcsr(mxcsr() & !MXCSR_RC); // Rust's defaults again before returning
            seen
        })
        .join()
        .unwrap()
    });
    assert!(
        children.iter().all(|&rc| rc == 0),
        "a child saw its spawner's or its thread's modes"
    );
    assert!(
        parent.iter().all(|&rc| rc == 0b01 << 13),
        "a joiner lost its own modes"
    );
    drop(rt);
    assert_eq!(mxcsr() & MXCSR_RC, saved & MXCSR_RC);
}
