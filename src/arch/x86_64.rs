//! The x86-64 (SysV) context switch.
//!
//! # Operations
//!
//! - [`switch`]: save the running context's callee-saved state on its own
//!   stack, store its stack pointer, load another context's stack pointer and
//!   restore its state. Inlined at each call site: it pushes its resume
//!   address and *jumps* into the shared body ([`switch_body`]), which ends
//!   in `pop rcx; jmp rcx` (see "Entering without `call`" below).
//! - `switch_called` and `switch_ret` (feature `bench-internals`): the same
//!   body entered by an ordinary `call`, ending in `pop rcx; jmp rcx` or in
//!   `ret`. Kept only so the `switch` benchmark can show why [`switch`] is
//!   neither.
//! - [`init_stack`]: lay out a fresh stack so that the first [`switch`] into
//!   it lands in [`trampoline`], which jumps to the entry function.
//! - [`exit_to`]: the last switch of a context that has finished: restore
//!   another context's state, saving nothing (see "The last switch").
//!
//! # Saved frame
//!
//! A suspended context is a single stack pointer. Everything else it needs is
//! stored just below that pointer, pushed by [`switch`]:
//!
//! ```text
//!  higher addresses
//!  +----------------------+
//!  | resume address       |  pushed by `switch` (or a `call`); popped into rcx
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
//! Reading MXCSR is not free either: `stmxcsr` costs about 15 cycles on the
//! AMD host of `BENCHMARKS.md` (3.6 ns back to back), and about 7 more when
//! its value is loaded straight back. [`exit_to`] does without it.
//!
//! # The last switch
//!
//! A context whose entry function has finished is never resumed, so
//! [`exit_to`] saves nothing of it: no registers, no stack pointer, no
//! control words. It still needs the *current* control words, to know
//! whether the resumed context's must be loaded:
//!
//! - the x87 control word is read (`fnstcw`, cheap);
//! - MXCSR's control bits are taken to be the defaults (0x1F80), not read.
//!   A fiber's entry starts with the defaults (its initial frame), and its
//!   last switch runs in Rust code after its closure returned, where Rust
//!   requires the default floating-point environment: running Rust code
//!   with other rounding, masking or denormal modes is undefined behaviour
//!   (the documentation of `core::arch::x86_64::_mm_setcsr`). Debug builds
//!   check it and abort naming the rule (`scheduler/transition.rs`).
//!
//! So a fiber may change MXCSR and keep its modes across every switch while
//! it runs (the compare above), but must restore them before it returns,
//! as Rust requires of any code. One that does not leaks its modes into
//! the next context on its thread, as a task on a thread pool would.
//!
//! # Fresh stack
//!
//! [`init_stack`] writes the same frame at the top of a new stack, with the
//! return address pointing at [`trampoline`] and the entry function and its
//! argument parked in rbx and r12:
//!
//! ```text
//!  top (16-byte aligned) ->  +--------------------+
//!                   top - 8  | 0                  |  padding; keeps
//!                   top - 16 | 0                  |  alignment
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
//! rsp at `top - 16`, which is 16-byte aligned. The trampoline then pushes a
//! zero "return address" and *jumps* to rbx, so the entry function starts
//! with `rsp % 16 == 8`, exactly as after any ordinary `call` (the ABI's
//! alignment rule), and an unwinder finds a null return address there: the
//! end of the fiber's backtrace.
//!
//! ```text
//!  top - 16 | 0 (padding)        |
//!  top - 24 | 0 (pushed)         |  the entry function's "return address"
//!           +--------------------+ <- rsp at the entry function's first instruction
//! ```
//!
//! Jumping rather than calling leaves no return-stack entry behind (next
//! section): the entry function never returns, and a fiber's last switch
//! away (`scheduler/transition.rs`, `task_main`) is made with nothing of
//! the fiber's own on the return-stack buffer.
//!
//! # Entering without `call`, leaving without `ret`
//!
//! The CPU predicts a `ret` with its return-stack buffer (RSB), which
//! assumes every `ret` goes back to the matching `call`. A switch breaks
//! that pairing, and the two textbook forms each pay for it:
//!
//! | form (bench name)        | the switch's own exit               | afterwards                          |
//! |--------------------------|-------------------------------------|-------------------------------------|
//! | `call`, `ret` (`ret`)    | predicted from the RSB: right only when both sides were suspended at the same call site | RSB balanced |
//! | `call`, `pop; jmp` (`call_pop_jmp`) | predicted by the branch target buffer, which learns the switch's targets | the `call`'s RSB entry is never popped: every `ret` of the resumed context up its call chain mispredicts |
//! | push, `jmp`, `pop; jmp` ([`switch`], `jmp_in`) | branch target buffer | RSB untouched, balanced |
//!
//! [`switch`] is the third: an inline `lea`/`push`/`jmp` pushes the resume
//! address (the label right after it) exactly where a `call` would, so the
//! saved frame is the same, but no RSB entry is made; the body leaves with
//! an indirect `jmp`. A fiber that yields to another fiber that yielded
//! runs with every branch predicted.
//!
//! The same rule holds for the RSB as a whole: what the resumed context's
//! `ret`s find there is whatever the context that switched away left. A
//! fresh fiber's entry is jumped to ([`trampoline`]) and a finishing fiber
//! switches away from its entry function's own frame, with its calls all
//! returned, so the fiber that resumes next (its joiner, typically) finds
//! its own return addresses, as it left them, on top. `benches/switch.rs` measures the three
//! forms, and the runtime's `yield` bench the difference they make
//! (figures in `BENCHMARKS.md`).

use core::arch::{asm, naked_asm};

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

/// The body shared by every form of the switch: save our callee-saved
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
            restore_theirs!(),
            $($tail),+
        )
    };
}

/// The second half of every switch, once rsp is the resumed context's and
/// rax points at the control words of the context it leaves (MXCSR at
/// `[rax]`, the x87 CW at `[rax + 4]`): restore the resumed context's
/// frame in the reverse order of `switch_asm!`'s pushes, loading MXCSR /
/// the x87 CW only when their control bits differ (see "Control words").
/// Leaves the resume address on top of the stack.
macro_rules! restore_theirs {
    () => {
        concat!(
            "mov ecx, [rax]\n",
            "xor ecx, [rsp]\n",
            "test ecx, 0xFFC0\n",
            "jz 2f\n",
            "ldmxcsr [rsp]\n",
            "2:\n",
            "mov cx, [rax + 4]\n",
            "cmp cx, [rsp + 4]\n",
            "je 3f\n",
            "fldcw [rsp + 4]\n",
            "3:\n",
            "add rsp, 8\n",
            "pop r15\n",
            "pop r14\n",
            "pop r13\n",
            "pop r12\n",
            "pop rbx\n",
            "pop rbp\n",
        )
    };
}

/// Switch from the running context to `to`.
///
/// Register contract (of the body it jumps to): `rdi` = where to store the
/// current rsp (`save`), `rsi` = the rsp to resume (`to`, a value stored by
/// an earlier `switch` or made by [`init_stack`]), the resume address on
/// top of the stack. Returns when some other context switches back to the
/// value stored in `*save`. To the compiler the block is a call that
/// clobbers every caller-saved register and any memory.
///
/// # Safety
///
/// - `save` must be valid for a write, and stay so until this context is
///   resumed.
/// - `to` must be a stack pointer saved by [`switch`] (or made by
///   [`init_stack`]) whose context has not been resumed since, on a stack that
///   is still mapped.
/// - Nothing may unwind out of the resumed context across this call.
#[inline(always)]
pub(crate) unsafe fn switch(save: *mut *mut u8, to: *mut u8) {
    // SAFETY: the caller's contract above. The block pushes one word (the
    // resume address, popped again by whoever resumes us), which `asm!`
    // allows without `nostack`, and leaves rsp as it found it; callee-saved
    // registers are saved and restored by the body, the rest are declared
    // clobbered by `clobber_abi`.
    unsafe {
        asm!(
            "lea rax, [rip + 2f]",
            "push rax",
            "jmp {body}",
            "2:",
            body = sym switch_body,
            inout("rdi") save => _,
            inout("rsi") to => _,
            clobber_abi("sysv64"),
        );
    }
}

/// The body of [`switch`], entered by a `jmp` with the resume address
/// already pushed: save, swap stack pointers, restore, `pop rcx; jmp rcx`.
///
/// # Safety
///
/// Only [`switch`] enters it, with its register contract.
#[unsafe(naked)]
unsafe extern "sysv64" fn switch_body() {
    switch_asm!("pop rcx", "jmp rcx")
}

/// Resume `to` from a context that has finished and is never resumed: its
/// state is not saved, and its MXCSR control bits are taken to be the
/// defaults (see "The last switch" in the module docs).
///
/// Register contract: `rsi` = the rsp to resume; the resumed context finds
/// its frame as [`switch`] left it (or as [`init_stack`] made it).
///
/// # Safety
///
/// - `to` as for [`switch`].
/// - Nothing of the running context may be used again: its stack is left
///   as it is, and nothing returns to it.
/// - MXCSR's control bits are the defaults (Rust's own requirement in Rust
///   code, see above).
#[inline(always)]
pub(crate) unsafe fn exit_to(to: *mut u8) -> ! {
    // SAFETY: the caller's contract above. Our control words go to the
    // red zone below rsp, which `asm!` allows without `nostack`, laid out
    // as a saved frame's (MXCSR the default, see above, and the x87 word
    // as it is); nothing touches the abandoned stack after the switch. The
    // block never returns, so the registers it restores for the resumed
    // context (rbx and rbp among them) are nobody else's.
    unsafe {
        asm!(
            "mov dword ptr [rsp - 8], {mxcsr}",
            "fnstcw [rsp - 4]",
            "lea rax, [rsp - 8]",
            "mov rsp, rsi",
            restore_theirs!(),
            "pop rcx",
            "jmp rcx",
            mxcsr = const MXCSR_DEFAULT,
            in("rsi") to,
            options(noreturn),
        )
    }
}

/// Whether MXCSR's control bits are the defaults (for a debug check of
/// [`exit_to`]'s precondition).
pub(crate) fn mxcsr_controls_are_default() -> bool {
    let mut v = 0u32;
    // SAFETY: stmxcsr only stores the register into `v`.
    unsafe { asm!("stmxcsr [{}]", in(reg) &mut v, options(nostack)) };
    v & 0xFFC0 == MXCSR_DEFAULT & 0xFFC0
}

/// The switch body entered by a `call` and left by `pop rcx; jmp rcx`: the
/// form [`switch`] replaced, for the benchmark only.
///
/// # Safety
///
/// As for [`switch`].
#[cfg(feature = "bench-internals")]
#[unsafe(naked)]
pub(crate) unsafe extern "sysv64" fn switch_called(save: *mut *mut u8, to: *mut u8) {
    switch_asm!("pop rcx", "jmp rcx")
}

/// The switch body entered by a `call` and left by a plain `ret`: the
/// textbook form, for the benchmark only.
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
/// aligned (both set up by [`init_stack`]). Pushes a null return address and
/// jumps to the entry function, which never returns (see the module docs:
/// no return-stack entry is made, and backtraces end at the entry).
#[unsafe(naked)]
unsafe extern "sysv64" fn trampoline() -> ! {
    naked_asm!("mov rdi, r12", "push 0", "jmp rbx")
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
