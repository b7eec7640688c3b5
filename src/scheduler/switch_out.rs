//! How a fiber switches back to a loop frame: to its worker's loop with a
//! [`Transition`] for it to act on (`suspend`), or, detached, to its old
//! thread's loop frame (`go_home`, handoff.rs).
//!
//! ```text
//!  fiber stack                          loop frame (worker_loop.rs run_task)
//!  ───────────                          ─────────────────────────────────────
//!  w.transition = t
//!  switch(save into task.ctx, ────────> resumes after its switch into the fiber:
//!         resume w.ctx)                 the fiber's context is now saved;
//!                                       acts on t (worker_loop.rs)
//!  <──── some worker's run_task switches into task.ctx again, maybe on
//!        another thread: nothing read before the switch is reused after it
//! ```

use super::current::{self, GoHome, current};
use super::fork;
use super::worker::Transition;
use crate::arch;

/// In a fiber: switch back to the worker with `transition`. Returns when the
/// fiber is resumed, possibly on another worker's thread.
pub(super) fn suspend(transition: Transition) {
    let w = current();
    assert!(!w.is_null(), "heddle: suspend called outside a fiber");
    // SAFETY: `w` is the live Worker of this thread (CURRENT is set for its
    // whole loop). Everything read through it is read before the switch.
    unsafe {
        let w = &*w;
        let task = w
            .current
            .get()
            .expect("heddle: suspend called outside a fiber");
        if !w.jobs.is_empty() {
            // Jobs of ours still queued: off our stack first (job.rs).
            fork::convert_pending(w);
        }
        w.transition.set(transition);
        let worker_rsp = (*w.ctx.get()).rsp();
        // SAFETY: the worker's context was saved by its switch into us and
        // is resumed only here; our ctx slot lives in our Task, which stays
        // alive while we are suspended.
        arch::switch((*task.as_ptr()).ctx.slot(), worker_rsp);
        // Resumed, maybe on another thread: `w` is stale from here on.
    }
}

/// "Go home", step 1: on the detached fiber's thread, switch back to the
/// old loop frame. Returns (for `Rejoin`) once a worker resumes the fiber,
/// attached again; never returns for `Finished`.
pub(crate) fn go_home(why: GoHome) {
    let d = current::detached_raw();
    assert!(!d.is_null(), "go_home without a detached fiber");
    // SAFETY: the record is live (see `detached`); the fiber's task stays
    // alive while the fiber runs, and its context slot is written by this
    // switch and read only by whoever resumes the fiber, after the old
    // loop frame published it. `home` was saved by that frame's switch
    // into this fiber and has not been resumed since.
    unsafe {
        (*d).why.set(why);
        arch::switch((*(*d).task).ctx.slot(), (*d).home);
    }
    // Resumed by some worker, attached again (and maybe on another thread).
}
