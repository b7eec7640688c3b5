//! Hooks for `benches/switch.rs`: the raw context switch, outside any
//! runtime. Not part of the public API (hidden, may change at any time).

use crate::arch::{self, Context};
use crate::stack::Stack;

struct Pair {
    main: Context,
    other: Context,
    form: SwitchForm,
}

/// Which form of the raw switch a [`SwitchPair`] uses (see the `arch`
/// module's docs, "Entering without `call`, leaving without `ret`").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchForm {
    /// The runtime's: pushed resume address, `jmp` in, `pop; jmp` out.
    JmpIn,
    /// Entered by `call`, left by `pop; jmp`.
    CallPopJmp,
    /// Entered by `call`, left by `ret`.
    CallRet,
}

/// One switch in `form`.
///
/// # Safety
///
/// As for `arch::switch`.
#[inline(always)]
unsafe fn switch_in(form: SwitchForm, save: *mut *mut u8, to: *mut u8) {
    // SAFETY: the caller's contract, which is every form's.
    unsafe {
        match form {
            SwitchForm::JmpIn => arch::switch(save, to),
            SwitchForm::CallPopJmp => arch::switch_called(save, to),
            SwitchForm::CallRet => arch::switch_ret(save, to),
        }
    }
}

/// Two contexts bouncing control back and forth with the raw switch.
///
/// # Examples
///
/// ```
/// use heddle::__bench::{SwitchForm, SwitchPair};
/// let mut b = SwitchPair::new(SwitchForm::JmpIn);
/// for _ in 0..1000 {
///     b.round_trip();
/// }
/// assert_eq!(b.round_trips(), 1000);
/// ```
pub struct SwitchPair {
    pair: Box<Pair>,
    _stack: Stack,
    trips: u64,
}

impl std::fmt::Debug for SwitchPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwitchPair")
            .field("form", &self.pair.form)
            .finish()
    }
}

/// The other context's body: switch back, forever.
///
/// # Safety
///
/// `arg` is the `Pair` owned by a live `SwitchPair`.
unsafe extern "sysv64" fn bounce(arg: *mut u8) -> ! {
    let pair = arg.cast::<Pair>();
    loop {
        // SAFETY: the SwitchPair keeps `pair` and our stack alive while it
        // can resume us, and `main` holds the context that resumed us.
        unsafe { switch_in((*pair).form, (*pair).other.slot(), (*pair).main.rsp()) }
    }
}

impl SwitchPair {
    /// A pair whose switches take `form`.
    pub fn new(form: SwitchForm) -> SwitchPair {
        let stack = Stack::map_single(64 * 1024).expect("map a bench stack");
        let mut pair = Box::new(Pair {
            main: Context::empty(),
            other: Context::empty(),
            form,
        });
        let arg: *mut Pair = &mut *pair;
        // SAFETY: the stack top is page-aligned and the stack lives as long
        // as the SwitchPair; `bounce` never returns.
        pair.other = unsafe { arch::init_stack(stack.top(), bounce, arg.cast()) };
        SwitchPair {
            pair,
            _stack: stack,
            trips: 0,
        }
    }

    /// Switch to the other context and back.
    pub fn round_trip(&mut self) {
        let p: *mut Pair = &mut *self.pair;
        // SAFETY: `other` holds a context saved by its last switch (or the
        // fresh frame), resumed only here; `bounce` switches straight back.
        unsafe { switch_in((*p).form, (*p).main.slot(), (*p).other.rsp()) }
        self.trips += 1;
    }

    /// `n` round trips in a loop inside one function, so no `ret` runs
    /// between switches (the textbook measurement of the switch alone).
    #[inline(never)]
    pub fn round_trips_in_loop(&mut self, n: u64) {
        let p: *mut Pair = &mut *self.pair;
        for _ in 0..n {
            // SAFETY: as in `round_trip`.
            unsafe { switch_in((*p).form, (*p).main.slot(), (*p).other.rsp()) }
        }
        self.trips += n;
    }

    /// Round trips made so far.
    pub fn round_trips(&self) -> u64 {
        self.trips
    }
}
