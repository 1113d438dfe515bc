//! The threads host work runs on: every suite case, every command of the binary and every library entry that
//! runs plug-ins does so on a thread with a case's stack and outside any async runtime (BOX-5).
//!
//! One setup for `test`, `run`, `import`, the library and the tests, so that a plug-in behaves the same in all
//! of them: nested plug-ins share their thread's stack, which a case's stack has room for, and a plug-in that
//! sleeps or reads a clock is served by the sandbox's own runtime, which has timers (wasmtime-wasi uses the
//! caller's runtime instead when the thread is inside one, and that runtime may have none).

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A case thread's stack: nested plug-ins run on the thread that runs the case, each with up to
/// 1 MiB of WebAssembly stack and the host's frames between them, for up to 50 levels
/// (`maxDepth`). The pages are only reserved until touched.
pub const CASE_STACK: usize = 256 << 20;

thread_local! {
    /// Set on the threads this module starts.
    static CASE_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is a case thread outside any async runtime: where plug-ins may run.
pub fn here_is_a_case_thread() -> bool {
    CASE_THREAD.get() && tokio::runtime::Handle::try_current().is_err()
}

/// Runs `f` here if this is a case thread ([`here_is_a_case_thread`]), else on a new one.
pub fn on_a_case_thread<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, String> {
    match here_is_a_case_thread() {
        true => Ok(f()),
        false => on_case_thread("xrm-sandbox-case", f),
    }
}

/// Runs `f` on a new thread with a case's stack and waits for it. `Err` says why it could not run or how it
/// panicked.
pub fn on_case_thread<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> Result<T, String> {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new().name(name.to_owned()).stack_size(CASE_STACK);
        let f = || {
            CASE_THREAD.set(true);
            catch_unwind(AssertUnwindSafe(f))
        };
        match thread.spawn_scoped(scope, f) {
            Ok(handle) => match handle.join() {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(panic)) | Err(panic) => Err(format!("the host panicked: {}", panic_message(&*panic))),
            },
            Err(e) => Err(format!("cannot start a thread: {e}")),
        }
    })
}

/// Runs `work` on each of `items` with up to `jobs` threads of a case's stack, handing each result to `done`
/// on the calling thread as it comes. Returns `false`, having run nothing, when no thread could start.
pub fn pool<I: Sync, T: Send>(
    jobs: usize,
    items: &[I],
    work: impl Fn(&I) -> T + Sync,
    mut done: impl FnMut(T),
) -> bool {
    let next = AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let mut started = 0;
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            let (tx, next, work) = (tx.clone(), &next, &work);
            let thread = std::thread::Builder::new().name("xrm-sandbox-case".into()).stack_size(CASE_STACK);
            let spawned = thread.spawn_scoped(scope, move || {
                CASE_THREAD.set(true);
                while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if tx.send(work(item)).is_err() {
                        return;
                    }
                }
            });
            started += usize::from(spawned.is_ok());
        }
        drop(tx);
        if started == 0 {
            return false;
        }
        rx.iter().for_each(&mut done);
        true
    })
}

/// The text of a panic's payload.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<String>(), panic.downcast_ref::<&str>()) {
        (Some(s), _) => s.clone(),
        (None, Some(s)) => (*s).to_owned(),
        (None, None) => "(no message)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_runs_every_item_once_and_hands_back_each_result() {
        let items: Vec<u32> = (0..100).collect();
        let mut seen = Vec::new();
        assert!(pool(3, &items, |i| i * 2, |r| seen.push(r)));
        seen.sort_unstable();
        assert_eq!(seen, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert!(pool(4, &[] as &[u32], |i| *i, |_| unreachable!()));
    }

    #[test]
    fn a_case_thread_reports_a_panic_as_an_error() {
        assert_eq!(on_case_thread("t", || 7), Ok(7));
        #[allow(clippy::panic)]
        let err = on_case_thread("t", || -> u8 { panic!("boom") }).unwrap_err();
        assert!(err.contains("boom"), "{err}");
    }

    #[test]
    fn a_case_thread_is_outside_any_async_runtime() {
        assert_eq!(on_case_thread("t", || tokio::runtime::Handle::try_current().is_err()), Ok(true));
        assert_eq!(on_case_thread("t", here_is_a_case_thread), Ok(true));
        assert!(!here_is_a_case_thread(), "a test's own thread is not one");
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let inside = runtime.block_on(async { on_a_case_thread(here_is_a_case_thread) });
        assert_eq!(inside, Ok(true), "inside a runtime, the work moves to a case thread");
    }
}
