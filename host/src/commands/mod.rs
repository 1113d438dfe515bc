//! The subcommands of the `xrm-sandbox` binary: each reads its arguments, calls the library and returns the
//! process's exit code.

pub mod import;
pub mod init;
pub mod run;
pub mod schema;
pub mod serve;
pub mod test;

/// Exit codes, fixed by the runner's contract (the README's "Exit codes").
pub mod exit {
    /// Everything ran and passed.
    pub const PASSED: u8 = 0;
    /// Something ran and failed.
    pub const FAILED: u8 = 1;
    /// The input was refused before anything ran.
    pub const INVALID_INPUT: u8 = 2;
    /// The filter (and partition) selected no case, and `--no-tests` is `fail` (cargo-nextest's code for it).
    pub const NO_TESTS: u8 = 4;
}
