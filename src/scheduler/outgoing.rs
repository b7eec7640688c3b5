//! The slot a switching-out fiber leaves itself in, for whoever runs next
//! on its worker's thread to settle (transition.rs).
//!
//! | step | who                          | what                                   |
//! |------|------------------------------|----------------------------------------|
//! | 1    | the fiber switching out      | [`Outgoing::leave`]: itself and its transition |
//! | 2    | the same, in `switch`        | its context is saved                   |
//! | 3    | the context that runs next   | [`Outgoing::take`], then publishes it (a queue, a wait slot) or retires it |
//!
//! All three happen on one thread, in this order (the switch is
//! single-threaded); the publication in step 3 is what lets another
//! thread see the fiber, and it comes after step 2. The slot holds at most
//! one fiber: every switch is followed by a take before the next leave.
//! The loom model below runs steps 1-3 with the real run queue against a
//! thief that resumes what it steals.

use core::cell::Cell;

/// See the module docs. `T` is the fiber (a task pointer), `A` what it
/// asked for (a `Transition`).
pub(crate) struct Outgoing<T, A> {
    slot: Cell<Option<(T, A)>>,
}

impl<T, A> core::fmt::Debug for Outgoing<T, A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Outgoing").finish_non_exhaustive()
    }
}

impl<T, A> Outgoing<T, A> {
    pub(crate) const fn new() -> Self {
        Outgoing {
            slot: Cell::new(None),
        }
    }

    /// Step 1: `fiber` is about to switch out, asking for `asked`.
    #[inline]
    pub(crate) fn leave(&self, fiber: T, asked: A) {
        let earlier = self.slot.replace(Some((fiber, asked)));
        debug_assert!(earlier.is_none(), "a fiber left without being settled");
    }

    /// Whether a fiber has left and asked for something `is` holds of
    /// (false when none has left). For rare paths: it moves the entry out
    /// and back.
    pub(crate) fn asked(&self, is: impl FnOnce(&A) -> bool) -> bool {
        let entry = self.slot.take();
        let answer = entry.as_ref().is_some_and(|(_, asked)| is(asked));
        self.slot.set(entry);
        answer
    }

    /// Step 3: the fiber that switched out, if one did, with its
    /// transition. Its context is saved: the caller runs after its switch.
    #[inline]
    pub(crate) fn take(&self) -> Option<(T, A)> {
        self.slot.take()
    }
}

#[cfg(all(test, loom))]
mod tests {
    use super::*;
    use crate::loom::{Arc, UnsafeCell};
    use crate::scheduler::run_queue::{RunQueue, Steal};
    use loom::thread;

    /// A fiber as far as the hand-off goes: its saved context.
    struct Fiber {
        ctx: UnsafeCell<usize>,
    }
    const NOT_SAVED: usize = 0;
    const SAVED: usize = 1;

    /// A fiber yields straight to the next fiber of its worker, which
    /// publishes it to the yielded queue; a thief on another thread
    /// steals it and resumes it (reads its context). The thief must only
    /// ever see a saved context, and never touch it while the switch
    /// writes it.
    ///
    /// Mutation tried: publishing the fiber before its switch (steps 3
    /// and 2 swapped, a fiber that queues itself before switching out):
    /// loom reports the thief's read racing the switch's write of `ctx`.
    #[test]
    fn a_fiber_is_published_after_its_switch() {
        loom::model(|| {
            let queue = RunQueue::<Arc<Fiber>>::new();
            let stealer = queue.stealer();
            let a = Arc::new(Fiber {
                ctx: UnsafeCell::new(NOT_SAVED),
            });
            let thief = thread::spawn(move || {
                let own = RunQueue::new();
                if let Steal::Success(f) = stealer.steal_into(&own) {
                    // Resuming it: the switch reads the saved context.
                    let ctx = f.ctx.with(|c| unsafe { *c });
                    assert_eq!(ctx, SAVED, "resumed a fiber before its context was saved");
                }
            });
            let outgoing = Outgoing::new();
            // Fiber A yields: step 1. (`switching` is the switch's own
            // hold on A's context slot.)
            let switching = a.clone();
            outgoing.leave(a, ());
            // Step 2: the switch saves A's context.
            switching.ctx.with_mut(|c| unsafe { *c = SAVED });
            drop(switching);
            let (fiber, ()) = outgoing.take().expect("A left");
            // Step 3, in fiber B right after the switch: publish A.
            queue.push_yielded(fiber);
            thief.join().unwrap();
        });
    }
}
