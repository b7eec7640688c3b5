//! Loom models of the wait queue's protocol (see the parent module's docs).
use super::*;
use crate::loom::{Arc, Mutex as LoomMutex};
use loom::thread;

/// A waker that records who was woken.
struct Recorder(u32, Arc<LoomMutex<Vec<u32>>>);
impl Wake for Recorder {
    fn wake(self) {
        self.1.lock().push(self.0);
    }
}

/// A waiter's register step (which the runtime runs only after the
/// fiber's context is saved) races a notifier that makes the condition
/// true: the waiter either sees the condition at registration or is
/// woken exactly once; never both, never neither.
#[test]
fn register_races_notify() {
    loom::model(|| {
        let q: Arc<WaitQueue<bool, Recorder>> = Arc::new(WaitQueue::new(false));
        let woken = Arc::new(LoomMutex::new(Vec::new()));
        let q2 = q.clone();
        let notifier = thread::spawn(move || {
            q2.update(|ready, w| {
                *ready = true;
                w.wake_all();
            })
        });
        let mut out = None;
        let registered = q
            .register(
                RECEIVERS,
                Recorder(1, woken.clone()),
                &mut |ready: &mut bool, _: &mut Wakeups<'_, Recorder>| ready.then_some(()),
                &mut out,
            )
            .is_ok();
        notifier.join().unwrap();
        let woken = woken.lock().clone();
        if registered {
            assert_eq!(vec![1], woken);
            assert!(out.is_none());
        } else {
            assert!(woken.is_empty());
            assert_eq!(Some(()), out);
        }
    });
}

/// Two waiters, one permit handed out twice: each waiter gets through
/// exactly once (counting semaphore over the wait queue).
#[test]
fn two_waiters_two_permits() {
    loom::model(|| {
        let q: Arc<WaitQueue<u32, Recorder>> = Arc::new(WaitQueue::new(0));
        let woken = Arc::new(LoomMutex::new(Vec::new()));
        let mut took = 0;
        let waiters: Vec<_> = (0..2)
            .map(|i| {
                let (q, woken) = (q.clone(), woken.clone());
                thread::spawn(move || {
                    let mut out = None;
                    let mut take = |permits: &mut u32, _: &mut Wakeups<'_, Recorder>| {
                        (*permits > 0).then(|| *permits -= 1)
                    };
                    q.register(RECEIVERS, Recorder(i, woken), &mut take, &mut out)
                        .is_err()
                })
            })
            .collect();
        for _ in 0..2 {
            q.update(|permits, w| {
                *permits += 1;
                w.wake_one();
            });
        }
        for h in waiters {
            if h.join().unwrap() {
                took += 1;
            }
        }
        // Every waiter that queued was woken (no lost wake-up), and the
        // permits it will take on its retry are still there.
        let woken = woken.lock().len() as u32;
        let left = q.update(|permits, _| *permits);
        assert_eq!(2 - took, woken);
        assert_eq!(2 - took, left);
    });
}
