//! Every failure of the Web API as the platform answers it: a status and `{"error": {"code": "0x…", "message":
//! "…"}}` in `application/json`, never an empty body.

use hyper::StatusCode;
use serde_json::json;
use xrm_model::{Fault, codes};

/// The code of a URL the server cannot read or does not serve: an unknown entity set, a malformed query
/// option, a path it does not support yet. The platform's code for "Resource not found for the segment".
pub const BAD_URL: u32 = 0x8006_0888;
/// The code of a request body that is not the record the URL names: not JSON, an unknown column, a value of
/// the wrong type. The platform's "Error identified in Payload provided by the user".
pub const BAD_PAYLOAD: u32 = 0x8004_8d19;
/// The code of a failure of the server itself (a bug): the platform's "An unexpected error occurred".
pub const UNEXPECTED: u32 = 0x8004_0216;
/// The code of a request without a known caller (no token, or a token naming no user) [choice]: the
/// platform's own 401 comes from Entra ID with no body; the sandbox answers in the Web API's error shape with
/// PrivilegeDenied, the code of "you may not do this".
pub const UNAUTHENTICATED: u32 = codes::PRIVILEGE_DENIED;

/// A failure with its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }

    /// 400: a URL, header or query option that cannot be read.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, BAD_URL, message)
    }

    /// 400: a body that is not the record the URL names.
    pub fn bad_payload(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, BAD_PAYLOAD, message)
    }

    /// 404: an entity set or path segment the organization does not have.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, BAD_URL, message)
    }

    /// 501: a path or feature of the Web API the sandbox does not serve (yet), named.
    pub fn not_supported(what: impl std::fmt::Display) -> Self {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            BAD_URL,
            format!("{what} is not supported by xrm-sandbox serve (docs/serve.md lists what is)"),
        )
    }

    /// 401: no caller.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, UNAUTHENTICATED, message)
    }

    /// A pipeline fault with the status the platform gives its code.
    pub fn from_fault(fault: &Fault) -> Self {
        ApiError::new(status_of(fault.code), fault.code, fault.message.clone())
    }

    /// The error's JSON body.
    pub fn body(&self) -> String {
        json!({ "error": { "code": format!("{:#010x}", self.code), "message": self.message } }).to_string()
    }
}

impl From<Fault> for ApiError {
    fn from(fault: Fault) -> Self {
        ApiError::from_fault(&fault)
    }
}

/// The status of a fault: 403 for a missing privilege or access right, 404 for a missing record, 412 for a
/// duplicate (a conflict), 500 for a plug-in that crashed, timed out or broke the sandbox, 400 for the rest
/// (an InvalidPluginExecutionException, an invalid argument, an unknown column, …).
pub fn status_of(code: u32) -> StatusCode {
    match code {
        codes::PRIVILEGE_DENIED | codes::ACCESS_DENIED | codes::USER_DISABLED => StatusCode::FORBIDDEN,
        codes::OBJECT_DOES_NOT_EXIST => StatusCode::NOT_FOUND,
        codes::DUPLICATE_RECORD | codes::DUPLICATE_KEY => StatusCode::PRECONDITION_FAILED,
        codes::PLUGIN_FAULT | codes::PLUGIN_TIMEOUT | codes::SANDBOX_WORKER_NOT_AVAILABLE => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::BAD_REQUEST,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_take_the_platforms_statuses() {
        assert_eq!(status_of(codes::PLUGIN_ABORTED), StatusCode::BAD_REQUEST);
        assert_eq!(status_of(codes::PRIVILEGE_DENIED), StatusCode::FORBIDDEN);
        assert_eq!(status_of(codes::OBJECT_DOES_NOT_EXIST), StatusCode::NOT_FOUND);
        assert_eq!(status_of(codes::DUPLICATE_RECORD), StatusCode::PRECONDITION_FAILED);
        assert_eq!(status_of(codes::PLUGIN_FAULT), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn the_body_is_the_platforms_error_shape() {
        let e = ApiError::from_fault(&Fault::new(codes::PLUGIN_ABORTED, "no"));
        assert_eq!(e.body(), r#"{"error":{"code":"0x80040265","message":"no"}}"#);
    }
}
