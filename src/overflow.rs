//! Stack overflow reports for fibers.
//!
//! A fiber that runs off the low end of its stack touches its guard page
//! (see `stack.rs`) and the kernel raises SIGSEGV (or SIGBUS). Without help
//! that is a bare crash. This module installs, once per process, a handler
//! that runs on an alternate signal stack (the faulting stack is unusable):
//!
//! ```text
//!  fault at addr ──> handler (on the sigaltstack of this worker thread)
//!                      │
//!                      ├─ addr inside the guard of this thread's running fiber?
//!                      │     yes: write "fiber '<name>' has overflowed its
//!                      │          stack (<N> bytes)" to stderr, abort()
//!                      │
//!                      └─ no: not ours. Hand it to the previous handler
//!                            (std's thread-overflow report, a debugger's,
//!                            ...) or, if that was SIG_DFL, restore the
//!                            default action and return so the fault
//!                            re-triggers and kills the process as usual.
//! ```
//!
//! The running fiber is found the way fiber code finds it: this thread's
//! worker and its `current` task (or the detached record, handoff.rs),
//! through a locator the scheduler hands over at install
//! (`current::running_fiber`). Nothing is written per switch for this: the
//! switch path only sets `Worker::current`, which it needs anyway.
//! Everything the handler does is async-signal-safe: reads of plain memory,
//! `write(2)`, `sigaction(2)` and `abort(3)`.

use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::stack::page_size;

/// What the handler needs to know about the fiber running on this thread.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RunningFiber {
    /// Guard page range `[lo, hi)`; `(0, 0)` when no fiber runs.
    pub(crate) guard: (usize, usize),
    /// Usable stack bytes.
    pub(crate) size: usize,
    /// Fiber id.
    pub(crate) id: u64,
    /// Fiber name bytes (valid while the fiber runs), or null.
    pub(crate) name: *const u8,
    pub(crate) name_len: usize,
}

impl RunningFiber {
    pub(crate) const NONE: RunningFiber = RunningFiber {
        guard: (0, 0),
        size: 0,
        id: 0,
        name: core::ptr::null(),
        name_len: 0,
    };
}

/// How the handler finds the fiber running on the faulting thread: the
/// scheduler's answer (`current::running_fiber`), given at install. A plain
/// function pointer, read with one relaxed load; the function it points at
/// only reads thread-locals and the running task, which is
/// async-signal-safe (nothing is allocated, locked or initialised).
static LOCATE: AtomicUsize = AtomicUsize::new(0);

/// The fiber running on this thread, as the installed locator sees it.
fn running() -> RunningFiber {
    match LOCATE.load(Ordering::Relaxed) {
        0 => RunningFiber::NONE,
        // SAFETY: only `install_handler` stores here, and it stores a
        // `fn() -> RunningFiber`.
        f => unsafe { core::mem::transmute::<usize, fn() -> RunningFiber>(f)() },
    }
}

static INSTALL: Once = Once::new();
/// The handlers that were in place before ours, for SIGSEGV and SIGBUS.
static mut PREVIOUS: [core::mem::MaybeUninit<libc::sigaction>; 2] = [
    core::mem::MaybeUninit::uninit(),
    core::mem::MaybeUninit::uninit(),
];

/// Install the process-wide handler (once).
pub(crate) fn install_handler(locate: fn() -> RunningFiber) {
    INSTALL.call_once(|| {
        LOCATE.store(locate as usize, Ordering::Relaxed);
        for (i, sig) in [libc::SIGSEGV, libc::SIGBUS].into_iter().enumerate() {
            // SAFETY: `action` is fully initialised before use; `PREVIOUS[i]`
            // is written only here, inside `call_once`, before the handler
            // that reads it is installed, so no read can race the write.
            unsafe {
                let mut action: libc::sigaction = core::mem::zeroed();
                action.sa_sigaction = handler as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut action.sa_mask);
                let prev = &raw mut PREVIOUS[i];
                libc::sigaction(sig, &action, (*prev).as_mut_ptr());
            }
        }
    });
}

/// An alternate signal stack for the current thread, removed on drop.
///
/// Only made when the thread has none yet (std gives its own threads one).
#[derive(Debug)]
pub(crate) struct AltStack {
    mapping: Option<(*mut libc::c_void, usize)>,
}

impl AltStack {
    /// Make sure this thread has an alternate signal stack.
    pub(crate) fn ensure() -> AltStack {
        // SAFETY: querying the current altstack writes only into `old`.
        let has_one = unsafe {
            let mut old: libc::stack_t = core::mem::zeroed();
            libc::sigaltstack(core::ptr::null(), &mut old) == 0
                && old.ss_flags & libc::SS_DISABLE == 0
        };
        if has_one {
            return AltStack { mapping: None };
        }
        let page = page_size();
        let size = libc::SIGSTKSZ.max(64 * 1024);
        // SAFETY: a fresh anonymous mapping; the first page becomes a guard.
        unsafe {
            let p = libc::mmap(
                core::ptr::null_mut(),
                size + page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if p == libc::MAP_FAILED {
                return AltStack { mapping: None }; // best effort: overflow then crashes plainly
            }
            libc::mprotect(p, page, libc::PROT_NONE);
            let st = libc::stack_t {
                ss_sp: p.cast::<u8>().add(page).cast(),
                ss_flags: 0,
                ss_size: size,
            };
            libc::sigaltstack(&st, core::ptr::null_mut());
            AltStack {
                mapping: Some((p, size + page)),
            }
        }
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        if let Some((p, len)) = self.mapping.take() {
            // SAFETY: disable the altstack before unmapping it; this thread is
            // not inside a signal handler (it is exiting its worker loop).
            unsafe {
                let st = libc::stack_t {
                    ss_sp: core::ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: 0,
                };
                libc::sigaltstack(&st, core::ptr::null_mut());
                libc::munmap(p, len);
            }
        }
    }
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let running = running();
    let (lo, hi) = running.guard;
    if lo <= addr && addr < hi {
        report_and_abort(&running);
    }
    // Not a fiber overflow: hand over to whoever was there before us.
    let i = if sig == libc::SIGSEGV { 0 } else { 1 };
    // SAFETY: PREVIOUS was initialised before this handler was installed and
    // is never written again.
    let prev = unsafe { (&raw const PREVIOUS[i]).read().assume_init() };
    let h = prev.sa_sigaction;
    if h == libc::SIG_DFL || h == libc::SIG_IGN {
        // Restore the default action; returning re-executes the faulting
        // instruction, which now kills the process with the signal.
        // SAFETY: resetting a signal disposition is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = core::mem::zeroed();
            action.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &action, core::ptr::null_mut());
        }
    } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: with SA_SIGINFO, sa_sigaction is a three-argument handler.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { core::mem::transmute(h) };
        f(sig, info, ctx);
    } else {
        // SAFETY: without SA_SIGINFO, sa_sigaction is a one-argument handler.
        let f: extern "C" fn(libc::c_int) = unsafe { core::mem::transmute(h) };
        f(sig);
    }
}

/// Bytes of a fiber's name the overflow report prints before cutting it.
/// With the fixed text and a 20-digit size, the report stays within its
/// 512-byte buffer.
const REPORT_NAME_MAX: usize = 256;

fn report_and_abort(f: &RunningFiber) -> ! {
    let mut buf = [0u8; 512];
    let mut w = Writer {
        buf: &mut buf,
        len: 0,
    };
    w.put(b"\nfiber '");
    if f.name.is_null() {
        w.put(b"#");
        w.num(f.id);
    } else {
        // SAFETY: the worker points `name` at the running fiber's name, which
        // lives as long as that fiber, and the fiber is running.
        let name = unsafe { core::slice::from_raw_parts(f.name, f.name_len) };
        // Cut a long name, never the sentence: the buffer keeps room for
        // the rest of the report. (A cut may split a UTF-8 character;
        // these are raw bytes to stderr.)
        if name.len() > REPORT_NAME_MAX {
            w.put(&name[..REPORT_NAME_MAX]);
            w.put(b"...");
        } else {
            w.put(name);
        }
    }
    w.put(b"' has overflowed its stack (");
    w.num(f.size as u64);
    w.put(b" bytes)\nfatal runtime error: stack overflow, aborting\n");
    // SAFETY: write(2) and abort(3) are async-signal-safe.
    unsafe {
        libc::write(libc::STDERR_FILENO, w.buf.as_ptr().cast(), w.len);
        libc::abort();
    }
}

/// Formatting into a fixed buffer, without allocating (signal context).
struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn put(&mut self, s: &[u8]) {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }
    fn num(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.put(&digits[i..]);
    }
}
