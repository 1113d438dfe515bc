//! The integration tests, one binary: each module is one area (the sandbox, the CLI, the runner, …). One binary
//! instead of one per file links wasmtime and cranelift once, which is most of a fresh build's time.
//!
//! Tests that measure time or memory take [`exclusive`], so the other heavy tests do not run beside them;
//! those that read the process's own memory run in a child process of their own ([`in_child`]).

// Test code: a broken expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod batches;
mod cli;
mod cli_runs;
mod docs;
mod hostile;
mod identity;
mod identity_matrix;
mod import;
mod import_solution;
mod init;
mod library;
mod runner;
mod sandbox;
mod schema;
mod security_model;
mod serve;
mod serve_clients;
mod soak;
mod transactions;
mod validation;

use std::process::Command;
use std::sync::{Mutex, MutexGuard};

/// A Debian tool a check needs (xmllint, chromium); `None` (with a note) when it is missing and the run does not
/// require it (`XRM_SANDBOX_REQUIRE_TOOLS`).
pub fn runner_tool(name: &str) -> Option<std::path::PathBuf> {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("XRM_SANDBOX_REQUIRE_TOOLS").is_none(),
            "`{name}` is required (XRM_SANDBOX_REQUIRE_TOOLS is set) but not installed"
        );
        eprintln!("note: `{name}` is not installed; skipping the check that needs it");
    }
    found
}

/// Held by the tests that measure time or memory, and by those that load every core: one of them at a time.
pub fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Set in a child process started by [`in_child`]: the test it names does its real work only there.
pub const CHILD: &str = "XRM_SANDBOX_TEST_CHILD";

/// Whether this process is the child that runs `test` (its full path, such as `soak::soak_…`).
pub fn is_child(test: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|t| t == test)
}

/// Runs the test `test` (its full path) alone in a child process of this binary, so that no other test shares
/// the process whose memory it reads; returns its output, after checking that it ran and passed.
pub fn in_child(test: &str) -> String {
    let _one = exclusive();
    let exe = std::env::current_exe().expect("the test binary");
    let out = Command::new(exe)
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(CHILD, test)
        .output()
        .expect("the child test runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "the child test ran: {text}");
    text
}
