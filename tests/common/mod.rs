//! Helpers shared by the integration tests: a runtime of N workers, the
//! text of a panic payload, a watchdog that turns a hang into a failure,
//! waiting for a dump line, and a re-exec harness for tests whose subject
//! must abort or change process-wide state.
//!
//! Each test binary compiles this module on its own and uses only part of
//! it, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::any::Any;
use std::process::Command;

/// A runtime with `n` workers and default stacks.
pub(crate) fn rt(n: usize) -> heddle::Runtime {
    heddle::Builder::new().workers(n).build().unwrap()
}

/// The message of a panic payload (`&str` or `String`), or `"<non-string>"`.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "<non-string>".into())
}

/// Run `f` on a thread of its own and fail, rather than hang, if it has not
/// finished within a minute: a lost wake-up or a starved waiter shows as a
/// failure naming `what`.
pub(crate) fn within_a_minute<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{what}: not done after a minute"))
}

/// Poll `rt.dump()` until it contains `line` (20 s at most); the last
/// dump if it never did. Callers release the fiber they looked for
/// before they check the result: a failed check that left it blocked
/// would hang the runtime's drop instead of failing the test.
pub(crate) fn wait_for_dump_line(rt: &heddle::Runtime, line: &str) -> Result<(), String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let text = rt.dump();
        if text.contains(line) {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(format!("never shown as {line:?}:\n{text}"));
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// What a re-executed child did.
#[derive(Debug)]
pub(crate) struct ChildOutcome {
    /// The signal that ended it, if one did.
    pub(crate) signal: Option<i32>,
    /// Its exit code, if it exited.
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// The environment variable that tells a re-executed test binary which
/// child role to play.
pub(crate) const ROLE: &str = "HEDDLE_TEST_CHILD_ROLE";

/// The role this process was re-executed for, if any. Call it first thing
/// in the test named as `entry` in [`run_child`]:
///
/// ```ignore
/// #[test]
/// fn child_entry() {
///     match common::child_role().as_deref() {
///         Some("overflow") => overflow_child(),
///         _ => {}
///     }
/// }
/// ```
///
/// A child turns core dumps off for itself first: it is about to crash on
/// purpose, and a core file per test run helps nobody.
pub(crate) fn child_role() -> Option<String> {
    let role = std::env::var(ROLE).ok()?;
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit with a valid struct; it only affects this process.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) };
    Some(role)
}

/// Re-execute this test binary running only the test `entry`, with
/// `role` in [`ROLE`] and `env` added, and wait for it (rayon's trick).
/// A child still running after two minutes is killed and the test fails:
/// a hang must never stall the suite.
pub(crate) fn run_child(entry: &str, role: &str, env: &[(&str, &str)]) -> ChildOutcome {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", entry, "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("child {entry} ({role}) did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    ChildOutcome {
        signal: out.status.signal(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Number of threads in this process (from `/proc/self/task`).
pub(crate) fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// What the process holds (`/proc`): the same code the `million` example
/// reports with.
#[allow(unused_imports)]
pub(crate) use heddle_workloads::{mappings, status_bytes};

/// Recurse without end, 256 bytes of stack a frame: a stack overflow.
#[inline(never)]
pub(crate) fn recurse(depth: u64) -> u64 {
    let buf = std::hint::black_box([depth as u8; 256]);
    if depth == u64::MAX {
        return 0;
    }
    recurse(depth + 1) + buf[7] as u64
}
