//! Hooks for `benches/switch.rs`: the raw context switch, outside any
//! runtime. Not part of the public API (hidden, may change at any time).

use crate::arch::{self, Context};
use crate::stack::Stack;

struct Pair {
    main: Context,
    other: Context,
    use_ret: bool,
}

/// Two contexts bouncing control back and forth with the raw switch.
///
/// # Examples
///
/// ```
/// let mut b = heddle::__bench::SwitchPair::new(false);
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
            .field("use_ret", &self.pair.use_ret)
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
        unsafe {
            if (*pair).use_ret {
                arch::switch_ret((*pair).other.slot(), (*pair).main.rsp());
            } else {
                arch::switch((*pair).other.slot(), (*pair).main.rsp());
            }
        }
    }
}

impl SwitchPair {
    /// A pair whose switches end in `ret` (`use_ret`) or in `pop; jmp`.
    pub fn new(use_ret: bool) -> SwitchPair {
        let stack = Stack::map_single(64 * 1024).expect("map a bench stack");
        let mut pair = Box::new(Pair {
            main: Context::empty(),
            other: Context::empty(),
            use_ret,
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
        unsafe {
            if (*p).use_ret {
                arch::switch_ret((*p).main.slot(), (*p).other.rsp());
            } else {
                arch::switch((*p).main.slot(), (*p).other.rsp());
            }
        }
        self.trips += 1;
    }

    /// `n` round trips in a loop inside one function, so no `ret` runs
    /// between switches (the textbook measurement of the switch alone).
    #[inline(never)]
    pub fn round_trips_in_loop(&mut self, n: u64) {
        let p: *mut Pair = &mut *self.pair;
        for _ in 0..n {
            // SAFETY: as in `round_trip`.
            unsafe {
                if (*p).use_ret {
                    arch::switch_ret((*p).main.slot(), (*p).other.rsp());
                } else {
                    arch::switch((*p).main.slot(), (*p).other.rsp());
                }
            }
        }
        self.trips += n;
    }

    /// Round trips made so far.
    pub fn round_trips(&self) -> u64 {
        self.trips
    }
}
