//! The one place that names `std::sync`, parking_lot or loom.
//!
//! Normally this re-exports std atomics and parking_lot locks. Under
//! `--cfg loom` it re-exports loom's model-checked versions with the same API,
//! so the protocol code in `scheduler/` and `join.rs` is the code loom checks.
//! The small wrappers give both the parking_lot calling convention (`lock()`
//! returns the guard, `Condvar::wait` takes `&mut guard`) and loom-style
//! `UnsafeCell::with`/`with_mut` accessors.

#[cfg(not(loom))]
mod imp {
    pub(crate) use parking_lot::{Condvar, Mutex, MutexGuard};
    pub(crate) use std::sync::Arc;
    pub(crate) use std::sync::atomic::{
        AtomicBool, AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering, fence,
    };

    /// `UnsafeCell` with loom's closure-based accessors.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            UnsafeCell(core::cell::UnsafeCell::new(value))
        }
        #[allow(dead_code)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }

    /// Wait on `cv` for at most `timeout`; true if it timed out.
    pub(crate) fn wait_timeout<T>(
        cv: &Condvar,
        guard: &mut MutexGuard<'_, T>,
        timeout: std::time::Duration,
    ) -> bool {
        cv.wait_for(guard, timeout).timed_out()
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::Arc;
    pub(crate) use loom::sync::atomic::{
        AtomicBool, AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering, fence,
    };

    /// loom's mutex with parking_lot's `lock()` signature.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);
    pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap()
        }
    }

    /// loom's condvar with parking_lot's `wait(&mut guard)` signature.
    #[derive(Debug, Default)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Condvar(loom::sync::Condvar::new())
        }
        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            // loom's wait consumes the guard and hands it back; swap it through
            // a temporary so callers keep parking_lot's `&mut guard` form.
            replace_with(guard, |g| self.0.wait(g).unwrap());
        }
        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }
        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    /// loom has no clock, and its own `wait_timeout` never times out. A timed
    /// wait is modelled as one whose time is already up: it returns at once,
    /// timed out, which is a legal outcome of any timed wait. So every
    /// timeout path runs in the models (the notified path is the untimed
    /// `wait`'s).
    pub(crate) fn wait_timeout<T>(
        _cv: &Condvar,
        _guard: &mut MutexGuard<'_, T>,
        _timeout: std::time::Duration,
    ) -> bool {
        loom::thread::yield_now();
        true
    }

    fn replace_with<T>(slot: &mut T, f: impl FnOnce(T) -> T) {
        struct AbortOnUnwind;
        impl Drop for AbortOnUnwind {
            fn drop(&mut self) {
                std::process::abort();
            }
        }
        let bomb = AbortOnUnwind;
        // SAFETY: `slot` is read out and written back before anyone can observe
        // it. If `f` unwound, the slot would be dropped twice, so `bomb` aborts
        // the process on unwind instead.
        unsafe {
            let old = core::ptr::read(slot);
            core::ptr::write(slot, f(old));
        }
        core::mem::forget(bomb);
    }
}

pub(crate) use imp::*;
