//! How a plug-in fails.

use std::fmt;

use xrm_model::Fault;

use crate::bindings::exports::xrm::plugin::plugin as wit;
use crate::convert::to_wit;

/// The `OperationStatus` an [`PluginError::InvalidPluginExecution`] carries: what the platform does next.
///
/// ```
/// use xrm_sandbox_guest::{OperationStatus, PluginError};
///
/// let error = PluginError::with_status("try again later", OperationStatus::Retry);
/// assert_eq!(error, PluginError::retry("try again later"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OperationStatus {
    /// The operation failed (the default, as for `new InvalidPluginExecutionException(message)`).
    #[default]
    Failed,
    /// The operation was canceled.
    Canceled,
    /// An asynchronous step asks to be run again (PIPE-11: up to 4 attempts in all).
    Retry,
    /// The operation is suspended.
    Suspended,
    /// The operation succeeded.
    Succeeded,
}

/// Why a plug-in failed: the error [`Plugin::execute`](crate::Plugin::execute) returns.
///
/// Return [`PluginError::invalid`] for a business rule, as `throw new InvalidPluginExecutionException(…)`
/// would: the caller sees `0x80040265` with your message. Let a service call's [`Fault`] pass through with
/// `?` and the caller sees that call's own code and message (PIPE-12).
///
/// ```no_run
/// use xrm_sandbox_guest::{Entity, PluginContext, PluginError};
///
/// fn check(context: &PluginContext) -> Result<(), PluginError> {
///     let target = context.target_entity().ok_or_else(|| PluginError::invalid("no Target"))?;
///     if !target.contains("name") {
///         return Err(PluginError::invalid("an account needs a name"));
///     }
///     // A failed call ends the plug-in with that call's fault, unchanged.
///     context.service_factory().create_organization_service(None).create(&Entity::new("task"))?;
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum PluginError {
    /// `InvalidPluginExecutionException`: the caller sees `0x80040265` (IsvAborted) with `message`.
    InvalidPluginExecution {
        /// The text the caller sees.
        message: String,
        /// What the platform does next; [`OperationStatus::Retry`] asks for an asynchronous retry.
        status: OperationStatus,
    },
    /// A service call's fault, passed through unchanged: the caller sees its code and message.
    Fault(Fault),
}

impl PluginError {
    /// An `InvalidPluginExecutionException` with status [`OperationStatus::Failed`].
    ///
    /// ```
    /// use xrm_sandbox_guest::PluginError;
    ///
    /// let error = PluginError::invalid("credit limit exceeded");
    /// assert_eq!(error.to_string(), "credit limit exceeded");
    /// ```
    pub fn invalid(message: impl Into<String>) -> Self {
        PluginError::with_status(message, OperationStatus::Failed)
    }

    /// An `InvalidPluginExecutionException` with status [`OperationStatus::Retry`]: an asynchronous step
    /// asks the asynchronous service to run it again.
    ///
    /// ```
    /// use xrm_sandbox_guest::{OperationStatus, PluginError};
    ///
    /// let error = PluginError::retry("busy");
    /// assert!(matches!(error, PluginError::InvalidPluginExecution { status: OperationStatus::Retry, .. }));
    /// ```
    pub fn retry(message: impl Into<String>) -> Self {
        PluginError::with_status(message, OperationStatus::Retry)
    }

    /// An `InvalidPluginExecutionException` with any status.
    ///
    /// ```
    /// use xrm_sandbox_guest::{OperationStatus, PluginError};
    ///
    /// let error = PluginError::with_status("not now", OperationStatus::Canceled);
    /// assert!(matches!(error, PluginError::InvalidPluginExecution { .. }));
    /// ```
    pub fn with_status(message: impl Into<String>, status: OperationStatus) -> Self {
        PluginError::InvalidPluginExecution { message: message.into(), status }
    }
}

/// Lets `?` on a service call end the plug-in with the call's fault, unchanged.
///
/// ```
/// use xrm_sandbox_guest::{Fault, PluginError, codes};
///
/// let fault = Fault::new(codes::PRIVILEGE_DENIED, "missing prvCreateActivity");
/// assert_eq!(PluginError::from(fault.clone()), PluginError::Fault(fault));
/// ```
impl From<Fault> for PluginError {
    fn from(fault: Fault) -> Self {
        PluginError::Fault(fault)
    }
}

/// The message of an `InvalidPluginExecution`; `0x…: message` for a fault.
impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginError::InvalidPluginExecution { message, .. } => f.write_str(message),
            PluginError::Fault(fault) => fault.fmt(f),
        }
    }
}

impl std::error::Error for PluginError {}

pub(crate) fn to_wit_error(error: PluginError) -> wit::PluginError {
    match error {
        PluginError::InvalidPluginExecution { message, status } => {
            wit::PluginError::InvalidPluginExecution(wit::InvalidPluginExecution {
                message,
                status: status_to_wit(status),
            })
        }
        PluginError::Fault(fault) => wit::PluginError::Fault(to_wit::fault(&fault)),
    }
}

fn status_to_wit(status: OperationStatus) -> wit::OperationStatus {
    match status {
        OperationStatus::Failed => wit::OperationStatus::Failed,
        OperationStatus::Canceled => wit::OperationStatus::Canceled,
        OperationStatus::Retry => wit::OperationStatus::Retry,
        OperationStatus::Suspended => wit::OperationStatus::Suspended,
        OperationStatus::Succeeded => wit::OperationStatus::Succeeded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_reach_the_host_unchanged() {
        let retry = to_wit_error(PluginError::retry("busy"));
        let want = wit::InvalidPluginExecution { message: "busy".into(), status: wit::OperationStatus::Retry };
        assert_eq!(retry, wit::PluginError::InvalidPluginExecution(want));
        let fault = Fault::new(0x8004_0220, "denied");
        let passed = to_wit_error(PluginError::from(fault));
        assert_eq!(
            passed,
            wit::PluginError::Fault(crate::bindings::xrm::plugin::types::Fault {
                code: 0x8004_0220,
                message: "denied".into(),
                faulted_request_index: None,
            })
        );
    }
}
