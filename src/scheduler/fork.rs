//! The fiber side of fork-join jobs (job.rs): offering a job, taking it
//! back, and moving a switching-out fiber's queued jobs off its stack.

use super::current::current;
use super::job::JobRef;
use super::worker::Worker;

/// Offer `job` to thieves on `w`, the worker of the calling fiber, and
/// wake a sleeping worker to take it (sleep.rs's posting protocol, fence
/// included: an `a` that waits for its `b` to run on another worker must
/// not wait on a lost wake-up).
#[inline]
pub(crate) fn offer(w: &Worker, job: JobRef) {
    w.jobs.push(job);
    w.shared.sleep.notify_work_from_worker();
}

/// After `a`, in the fiber that offered the job at `data` and has not
/// switched out since: take it back. True if we have it (run `b` inline);
/// false if a thief took it (wait for its latch).
pub(crate) fn take_back(data: *const ()) -> bool {
    let w = current();
    // SAFETY: an attached fiber that has not switched out since `offer`
    // runs on the worker it offered on, whose loop is live.
    let w = unsafe { &*w };
    match w.jobs.pop() {
        Some(j) if j.is(data) => true,
        None => false,
        Some(_) => {
            // Joins nest within a fiber, and a switching-out fiber empties
            // the deque: another job on top is a broken invariant, and
            // dropping it would leave its joiner waiting for good.
            eprintln!("heddle: fatal: a join found another fiber's job on its worker");
            std::process::abort();
        }
    }
}

/// The running fiber of `w` is about to switch out (or hand `w` off) with
/// jobs still queued: move each off its stack (job.rs), so that the deque
/// is empty when `w` runs another fiber.
#[cold]
pub(crate) fn convert_pending(w: &Worker) {
    while let Some(job) = w.jobs.pop() {
        // SAFETY: we are the fiber that queued every job in `w`'s deque
        // (job.rs's invariant), and just popped this one.
        unsafe { job.convert() };
    }
}
