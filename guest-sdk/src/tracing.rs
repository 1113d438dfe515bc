//! `ITracingService`.

use crate::bindings::xrm::plugin::tracing_service as wit;

/// `ITracingService`: lines written here end up in the execution's `plugintracelog` record (PIPE-13).
///
/// The [`trace!`](crate::trace) macro formats and writes in one go. Whatever the plug-in prints to stdout or
/// stderr lands in the same trace text.
///
/// ```no_run
/// # use xrm_sandbox_guest::PluginContext;
/// # fn f(context: &PluginContext) {
/// let tracing = context.tracing();
/// tracing.trace("validating the account");
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TracingService {
    _private: (),
}

impl TracingService {
    pub(crate) fn new() -> Self {
        TracingService { _private: () }
    }

    /// Writes one line to the trace.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// context.tracing().trace(&format!("depth {}", context.depth()));
    /// # }
    /// ```
    pub fn trace(&self, message: &str) {
        wit::trace(message);
    }
}

/// Writes a `format!`-style line through the tracing service.
///
/// ```no_run
/// use xrm_sandbox_guest::{PluginContext, trace};
///
/// fn log(context: &PluginContext) {
///     trace!("UserId={} InitiatingUserId={}", context.user_id(), context.initiating_user_id());
/// }
/// ```
#[macro_export]
macro_rules! trace {
    ($($arg:tt)*) => {
        $crate::__private::trace(&::std::format!($($arg)*))
    };
}
