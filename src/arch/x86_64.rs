//! The x86-64 (SysV) context switch.
//!
//! # Operations
//!
//! - [`switch`]: save the running context's callee-saved state on its own
//!   stack, store its stack pointer, load another context's stack pointer and
//!   restore its state. Ends in `pop rcx; jmp rcx`.
//! - `switch_ret` (feature `bench-internals`): the same switch ending in `ret`, kept only so the
//!   `switch` benchmark can show why we do not use it (see below).
//! - [`init_stack`]: lay out a fresh stack so that the first [`switch`] into
//!   it lands in [`trampoline`], which calls the entry function.
//!
//! # Saved frame
//!
//! A suspended context is a single stack pointer. Everything else it needs is
//! stored just below that pointer, pushed by [`switch`]:
//!
//! ```text
//!  higher addresses
//!  +----------------------+
//!  | return address       |  pushed by the `call switch`; popped into rcx
//!  | rbp                  |
//!  | rbx                  |
//!  | r12                  |
//!  | r13                  |
//!  | r14                  |
//!  | r15                  |
//!  | x87 CW   | MXCSR     |  [rsp + 4] = x87 control word, [rsp] = MXCSR
//!  +----------------------+ <- saved rsp (Context::rsp)
//!  lower addresses
//! ```
//!
//! These are exactly the registers the SysV ABI says a callee must preserve
//! (rsp, rbx, rbp, r12-r15, the MXCSR control bits and the x87 control word).
//! Caller-saved registers need no saving: [`switch`] is an ordinary `extern
//! "sysv64"` call, so the compiler already spilled whatever it needs. `rax`
//! and `rcx` are used as scratch for that reason.
//!
//! # Control words
//!
//! MXCSR holds control bits (rounding, exception masks, FZ, DAZ: bits 6-15,
//! callee-saved) and sticky exception *status* flags (bits 0-5, caller-saved,
//! set by any inexact float operation). `ldmxcsr` with a value different from
//! the current one is slow (it serialises), and after any float arithmetic
//! the status flags of the two sides differ. Loading unconditionally made a
//! round trip an order of magnitude slower once the thread had done float
//! math (figures in `BENCHMARKS.md`). So [`switch`] compares control bits and
//! loads MXCSR (and the x87 control word, likewise) only when they differ:
//! the ABI's guarantee holds, and the common case costs a compare.
//!
//! # Fresh stack
//!
//! [`init_stack`] writes the same frame at the top of a new stack, with the
//! return address pointing at [`trampoline`] and the entry function and its
//! argument parked in rbx and r12:
//!
//! ```text
//!  top (16-byte aligned) ->  +--------------------+
//!                   top - 8  | 0                  |  padding; keeps alignment
//!                   top - 16 | 0                  |  and ends backtraces
//!                   top - 24 | &trampoline        |  "return address"
//!                   top - 32 | rbp = 0            |
//!                   top - 40 | rbx = entry fn     |
//!                   top - 48 | r12 = entry arg    |
//!                   top - 56 | r13 = 0            |
//!                   top - 64 | r14 = 0            |
//!                   top - 72 | r15 = 0            |
//!                   top - 80 | CW 0x037F | MXCSR 0x1F80
//!                            +--------------------+ <- initial rsp
//! ```
//!
//! When [`switch`] first resumes it, `pop rcx` takes `&trampoline` and leaves
//! rsp at `top - 16`, which is 16-byte aligned. The trampoline then does
//! `call rbx`, so the entry function starts with `rsp % 16 == 8`, exactly as
//! after any ordinary `call` (the ABI's alignment rule).
//!
//! # Why `pop rcx; jmp rcx` and not `ret`
//!
//! A `ret` is predicted by the CPU's return-stack buffer, which assumes each
//! `ret` goes back to the matching `call`. A context switch breaks that
//! pairing on every switch, so each `ret` mispredicts. An indirect `jmp` is
//! predicted by the branch target buffer instead, which learns the switch's
//! targets. `benches/switch.rs` measures both (`switch_round_trip/*/ret`
//! against `*/pop_jmp`; figures in `BENCHMARKS.md`).

use core::arch::naked_asm;

/// The saved state of a suspended execution context: its stack pointer.
///
/// Everything else (callee-saved registers, the resume address) lives on the
/// context's own stack, below this pointer; see the module docs.
#[derive(Debug)]
#[repr(transparent)]
pub(crate) struct Context {
    rsp: *mut u8,
}

impl Context {
    /// An empty context, to be filled by the first [`switch`] away from it.
    pub(crate) const fn empty() -> Self {
        Context {
            rsp: core::ptr::null_mut(),
        }
    }

    /// Pointer to the saved stack pointer slot, for [`switch`]'s first argument.
    pub(crate) fn slot(&mut self) -> *mut *mut u8 {
        &mut self.rsp
    }

    /// The saved stack pointer, for [`switch`]'s second argument.
    pub(crate) fn rsp(&self) -> *mut u8 {
        self.rsp
    }

    /// A context that resumes at a fresh stack prepared by [`init_stack`].
    pub(crate) fn from_rsp(rsp: *mut u8) -> Self {
        Context { rsp }
    }
}

/// The signature of a context's entry function. It receives the argument
/// given to [`init_stack`] and must never return: when it is done it switches
/// away for good.
pub(crate) type EntryFn = unsafe extern "sysv64" fn(arg: *mut u8) -> !;

/// The body shared by [`switch`] and [`switch_ret`]: save our callee-saved
/// state, swap stack pointers, restore theirs; `$tail` returns.
macro_rules! switch_asm {
    ($($tail:literal),+) => {
        naked_asm!(
            // Save callee-saved registers and control words on our stack.
            "push rbp",
            "push rbx",
            "push r12",
            "push r13",
            "push r14",
            "push r15",
            "sub rsp, 8",
            "stmxcsr [rsp]",
            "fnstcw [rsp + 4]",
            // Publish our rsp, adopt theirs (rax keeps ours for the compare).
            "mov rax, rsp",
            "mov [rdi], rsp",
            "mov rsp, rsi",
            // Restore theirs, in the reverse order. Load MXCSR / the x87 CW
            // only when their control bits differ from ours: see "Control
            // words" in the module docs.
            "mov ecx, [rax]",
            "xor ecx, [rsp]",
            "test ecx, 0xFFC0",
            "jz 2f",
            "ldmxcsr [rsp]",
            "2:",
            "mov cx, [rax + 4]",
            "cmp cx, [rsp + 4]",
            "je 3f",
            "fldcw [rsp + 4]",
            "3:",
            "add rsp, 8",
            "pop r15",
            "pop r14",
            "pop r13",
            "pop r12",
            "pop rbx",
            "pop rbp",
            $($tail),+
        )
    };
}

/// Switch from the running context to `to`.
///
/// Register contract: `rdi` = where to store the current rsp (`save`), `rsi` =
/// the rsp to resume (`to`, a value stored by an earlier `switch` or made by
/// [`init_stack`]). Returns when some other context switches back to the
/// value stored in `*save`.
///
/// # Safety
///
/// - `save` must be valid for a write, and stay so until this context is
///   resumed.
/// - `to` must be a stack pointer saved by [`switch`] (or made by
///   [`init_stack`]) whose context has not been resumed since, on a stack that
///   is still mapped.
/// - Nothing may unwind out of the resumed context across this call.
#[unsafe(naked)]
pub(crate) unsafe extern "sysv64" fn switch(save: *mut *mut u8, to: *mut u8) {
    // Return through the branch target buffer, not the return stack.
    switch_asm!("pop rcx", "jmp rcx")
}

/// [`switch`] ending in a plain `ret`: the textbook form, slower because the
/// return-stack predictor misses on every switch. Only for the benchmark.
///
/// # Safety
///
/// As for [`switch`].
#[cfg(feature = "bench-internals")]
#[unsafe(naked)]
pub(crate) unsafe extern "sysv64" fn switch_ret(save: *mut *mut u8, to: *mut u8) {
    switch_asm!("ret")
}

/// First code a fresh context runs: [`switch`] "returns" here.
///
/// Register contract: rbx = the [`EntryFn`], r12 = its argument, rsp 16-byte
/// aligned (both set up by [`init_stack`]). The entry function never returns;
/// `ud2` traps if it ever did.
#[unsafe(naked)]
unsafe extern "sysv64" fn trampoline() -> ! {
    naked_asm!("mov rdi, r12", "call rbx", "ud2")
}

/// Default MXCSR: all exceptions masked, round to nearest (SysV ABI).
const MXCSR_DEFAULT: u32 = 0x1F80;
/// Default x87 control word: all exceptions masked, 64-bit precision.
const X87_CW_DEFAULT: u32 = 0x037F;

/// Write the initial frame (see the module docs) below `top` and return the
/// stack pointer to pass to [`switch`].
///
/// # Safety
///
/// `top` must be 16-byte aligned and the end of a writable region at least 80
/// bytes long that stays mapped while the context lives. `entry` must never
/// return (it must end by switching away for good).
pub(crate) unsafe fn init_stack(top: *mut u8, entry: EntryFn, arg: *mut u8) -> Context {
    debug_assert_eq!(top as usize % 16, 0, "stack top must be 16-byte aligned");
    let top = top.cast::<u64>();
    let frame: [u64; 10] = [
        u64::from(MXCSR_DEFAULT) | (u64::from(X87_CW_DEFAULT) << 32), // top - 80
        0,                                                            // r15
        0,                                                            // r14
        0,                                                            // r13
        arg as u64,                                                   // r12
        entry as *const () as usize as u64,                           // rbx
        0,                                                            // rbp
        trampoline as *const () as usize as u64,                      // return address
        0,                                                            // padding
        0,                                                            // padding
    ];
    // SAFETY: the caller guarantees `top` ends a writable region of at least
    // 80 bytes; `top - 10` words is its start, and u64 alignment follows from
    // the 16-byte alignment of `top`.
    unsafe {
        let base = top.sub(frame.len());
        base.copy_from_nonoverlapping(frame.as_ptr(), frame.len());
        Context::from_rsp(base.cast())
    }
}
