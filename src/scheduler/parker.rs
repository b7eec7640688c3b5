//! A one-token parker for OS threads: idle workers and plain threads that
//! block on a fiber-aware primitive.
//!
//! | token | `park()`                      | `unpark()`                    |
//! |-------|-------------------------------|-------------------------------|
//! | false | sleeps until the token is set | sets it, wakes the sleeper    |
//! | true  | consumes it, returns at once  | no change (tokens don't stack)|
//!
//! The token lives under the mutex, so an `unpark` that comes before the
//! `park` is never lost: `park` sees the token and returns.

use std::time::{Duration, Instant};

use crate::loom::{Condvar, Mutex, wait_timeout};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Parker {
    token: Mutex<bool>,
    cv: Condvar,
}

impl Parker {
    pub(crate) fn new() -> Self {
        Parker {
            token: Mutex::new(false),
            cv: Condvar::new(),
        }
    }

    /// Sleep until the token is set, then consume it.
    pub(crate) fn park(&self) {
        let mut token = self.token.lock();
        while !*token {
            self.cv.wait(&mut token);
        }
        *token = false;
    }

    /// Like [`park`](Self::park) but gives up at `deadline`. Returns whether
    /// the token was consumed.
    pub(crate) fn park_until(&self, deadline: Instant) -> bool {
        let mut token = self.token.lock();
        while !*token {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            if wait_timeout(&self.cv, &mut token, deadline - now) && !*token {
                return false; // timed out (at once, under loom)
            }
        }
        *token = false;
        true
    }

    /// Set the token and wake the sleeper, if any.
    pub(crate) fn unpark(&self) {
        let mut token = self.token.lock();
        *token = true;
        drop(token);
        self.cv.notify_one();
    }
}

/// Park for at most `timeout`, or forever when `None`. Returns whether the
/// token was consumed.
pub(crate) fn park_timeout(parker: &Parker, timeout: Option<Duration>) -> bool {
    match timeout {
        None => {
            parker.park();
            true
        }
        Some(t) => parker.park_until(Instant::now() + t),
    }
}
