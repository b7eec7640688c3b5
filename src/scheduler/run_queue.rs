//! Run queues: where Ready fibers wait for a worker.
//!
//! - Each worker owns a FIFO [`LocalQueue`]: it pushes and pops at its own
//!   end, so its Ready fibers run round-robin. Other workers hold a
//!   [`Stealer`] for it and take about half its fibers at once
//!   (`steal_batch_and_pop`).
//! - One [`Injector`] per runtime takes fibers spawned or woken from outside
//!   any worker of that runtime.
//!
//! Hand-off rule (DESIGN.md invariant 2): a fiber is pushed to any of these
//! only after `switch` has saved its context and the worker is back on its
//! own stack, or before it ever ran. Whoever pops it may resume it at once on
//! another thread, so nothing may touch the fiber after the push.
//!
//! Normally these are crossbeam-deque's lock-free queues. crossbeam-deque has
//! no loom support, so under `cfg(loom)` they are a mutex-backed stand-in
//! with the same API and the same FIFO / steal-half behaviour.

#[cfg(not(loom))]
pub(crate) use crossbeam_deque::{Injector, Steal, Stealer, Worker as LocalQueue};

#[cfg(loom)]
pub(crate) use self::model::{Injector, LocalQueue, Steal, Stealer};

#[cfg(loom)]
mod model {
    use crate::loom::{Arc, Mutex};
    use std::collections::VecDeque;

    /// Result of a steal, as in crossbeam-deque.
    #[derive(Debug)]
    pub(crate) enum Steal<T> {
        Empty,
        Success(T),
        #[allow(dead_code)]
        Retry,
    }

    #[derive(Debug)]
    pub(crate) struct LocalQueue<T>(Arc<Mutex<VecDeque<T>>>);
    #[derive(Debug)]
    pub(crate) struct Stealer<T>(Arc<Mutex<VecDeque<T>>>);
    #[derive(Debug)]
    pub(crate) struct Injector<T>(Mutex<VecDeque<T>>);

    impl<T> LocalQueue<T> {
        pub(crate) fn new_fifo() -> Self {
            LocalQueue(Arc::new(Mutex::new(VecDeque::new())))
        }
        pub(crate) fn stealer(&self) -> Stealer<T> {
            Stealer(self.0.clone())
        }
        pub(crate) fn push(&self, t: T) {
            self.0.lock().push_back(t);
        }
        pub(crate) fn pop(&self) -> Option<T> {
            self.0.lock().pop_front()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
        pub(crate) fn len(&self) -> usize {
            self.0.lock().len()
        }
    }

    fn steal_half<T>(from: &mut VecDeque<T>, dest: &LocalQueue<T>) -> Steal<T> {
        let Some(first) = from.pop_front() else {
            return Steal::Empty;
        };
        let extra = from.len() / 2;
        let mut d = dest.0.lock();
        for _ in 0..extra {
            d.push_back(from.pop_front().expect("counted"));
        }
        Steal::Success(first)
    }

    impl<T> Stealer<T> {
        pub(crate) fn steal_batch_and_pop(&self, dest: &LocalQueue<T>) -> Steal<T> {
            steal_half(&mut self.0.lock(), dest)
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
    }

    impl<T> Injector<T> {
        pub(crate) fn new() -> Self {
            Injector(Mutex::new(VecDeque::new()))
        }
        pub(crate) fn push(&self, t: T) {
            self.0.lock().push_back(t);
        }
        pub(crate) fn steal_batch_and_pop(&self, dest: &LocalQueue<T>) -> Steal<T> {
            steal_half(&mut self.0.lock(), dest)
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
    }
}
