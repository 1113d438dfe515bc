//! How an execution failed, mapped to the platform's codes (PIPE-12).

use std::fmt::Write as _;

use wasmtime::Trap;
use xrm_model::{Fault, codes};

use super::bindings::exports::xrm::plugin::plugin as export;
use super::convert;

/// Why an execution failed, as the sandbox saw it.
pub enum RunError {
    /// The execution trapped or could not start: a fault, the time limit or the memory limit.
    Trap(wasmtime::Error),
    /// The plug-in returned an error.
    Plugin(export::PluginError),
}

/// The kind of failure, for reports and for the asynchronous service's retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// InvalidPluginExecutionException (0x80040265).
    Aborted,
    /// InvalidPluginExecutionException asking the asynchronous service to retry.
    Retry,
    /// A service call's fault passed through unchanged.
    PassedThrough,
    /// A trap, panic or other failure of the plug-in (0x80040224).
    Fault,
    /// The time limit (0x80044172).
    Timeout,
    /// The memory limit, or the sandbox could not run the plug-in (0x8004418d).
    Memory,
}

/// A failed execution: what the caller sees, and its kind.
#[derive(Debug, Clone)]
pub struct PluginFailure {
    pub kind: FailureKind,
    pub fault: Fault,
}

/// Maps a failure to its platform code, adding the detail of a fault to the trace (PIPE-12, PIPE-13).
pub fn classify(err: RunError, memory_refused: bool, plugin: &str, trace: &mut String) -> PluginFailure {
    let (kind, fault) = match err {
        RunError::Plugin(export::PluginError::Fault(f)) => (FailureKind::PassedThrough, convert::from_fault(f)),
        RunError::Plugin(export::PluginError::InvalidPluginExecution(e)) => {
            let kind =
                if e.status == export::OperationStatus::Retry { FailureKind::Retry } else { FailureKind::Aborted };
            (kind, Fault::new(codes::PLUGIN_ABORTED, e.message))
        }
        RunError::Trap(trap) => {
            let detail = format!("{trap:?}");
            let _ = write!(trace, "{}{detail}", if trace.is_empty() || trace.ends_with('\n') { "" } else { "\n" });
            trap_failure(&trap, memory_refused, plugin)
        }
    };
    // BOX-5: a plug-in's message is kept to 64 KB, saying so, before the log, trace records, the caller's
    // fault (and the plug-in that made the call, and its caller, …) and the terminal copy it.
    PluginFailure { kind, fault: crate::budget::bounded(fault) }
}

fn trap_failure(trap: &wasmtime::Error, memory_refused: bool, plugin: &str) -> (FailureKind, Fault) {
    if trap.downcast_ref::<Trap>() == Some(&Trap::Interrupt) || trap.downcast_ref::<super::host::TimeLimit>().is_some()
    {
        let message = format!("The plug-in execution failed because the plug-in `{plugin}` exceeded the time limit");
        return (FailureKind::Timeout, Fault::new(codes::PLUGIN_TIMEOUT, message));
    }
    if memory_refused {
        let message = format!("The plug-in `{plugin}` exceeded its memory limit: the sandbox worker is not available");
        return (FailureKind::Memory, Fault::new(codes::SANDBOX_WORKER_NOT_AVAILABLE, message));
    }
    let what = match (trap.downcast_ref::<Trap>(), trap.downcast_ref::<wasmtime_wasi::I32Exit>()) {
        (Some(Trap::StackOverflow), _) => "overflowed its stack".to_owned(),
        // Rust keeps large locals on a stack in linear memory; overflowing it reads below address 0.
        (Some(Trap::MemoryOutOfBounds), _) => {
            "trapped: out of bounds memory access (its stack in linear memory overflowed, or a bad pointer)".to_owned()
        }
        (Some(t), _) => format!("trapped: {t}"),
        (None, Some(exit)) => format!("exited its process (status {}) instead of returning", exit.0),
        (None, None) => format!("failed: {}", first_line(trap)),
    };
    let message = format!("Unexpected exception from plug-in `{plugin}`: it {what}");
    (FailureKind::Fault, Fault::new(codes::PLUGIN_FAULT, message))
}

/// The first line of the error's root cause: the outer layers are wasmtime's backtrace context.
fn first_line(e: &wasmtime::Error) -> String {
    e.root_cause().to_string().lines().next().unwrap_or_default().to_owned()
}

/// A one-line reason why a component does not match the plug-in interface (BOX-4).
pub fn describe_link_error(e: &wasmtime::Error) -> String {
    let text = format!("{e:#}");
    let version = super::version::VERSION;
    if text.contains("xrm:plugin/plugin") && text.contains("export") {
        return format!("does not export `xrm:plugin/plugin@{version}` with `execute` as this host expects: {text}");
    }
    format!("does not match the plug-in interface `{}`: {text}", super::version::package())
}
