use std::fmt;

/// An error as the platform reports it: an HRESULT and a message; from `ExecuteTransaction`, also the index of
/// the request that failed (`ExecuteTransactionFault.FaultedRequestIndex`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: u32,
    pub message: String,
    pub faulted_request_index: Option<u32>,
}

impl Fault {
    pub fn new(code: u32, message: impl Into<String>) -> Self {
        Fault { code, message: message.into(), faulted_request_index: None }
    }

    /// The fault of request `index` of an `ExecuteTransaction`.
    pub fn at_request(self, index: u32) -> Self {
        Fault { faulted_request_index: Some(index), ..self }
    }

    /// The code as the platform writes it: `0x80040220`.
    pub fn code_hex(&self) -> String {
        format!("{:#010x}", self.code)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code_hex(), self.message)
    }
}

impl std::error::Error for Fault {}

/// The platform's error codes that the sandbox returns.
pub mod codes {
    /// PrivilegeDenied: the user lacks a privilege.
    pub const PRIVILEGE_DENIED: u32 = 0x8004_0220;
    /// The user is disabled or not in a business unit.
    pub const USER_DISABLED: u32 = 0x8004_0225;
    /// A record (or user) does not exist.
    pub const OBJECT_DOES_NOT_EXIST: u32 = 0x8004_0217;
    /// IsvUnExpected: a plug-in faulted.
    pub const PLUGIN_FAULT: u32 = 0x8004_0224;
    /// IsvAborted: a plug-in threw InvalidPluginExecutionException.
    pub const PLUGIN_ABORTED: u32 = 0x8004_0265;
    /// A failed call inside the transaction was swallowed by a plug-in.
    pub const NO_ACTIVE_TRANSACTION: u32 = 0x8004_0251;
    /// The plug-in exceeded its execution time limit.
    pub const PLUGIN_TIMEOUT: u32 = 0x8004_4172;
    /// The plug-in exceeded its memory limit or crashed the sandbox.
    pub const SANDBOX_WORKER_NOT_AVAILABLE: u32 = 0x8004_418d;
    /// The pipeline went deeper than the organization's maximum depth.
    pub const INFINITE_LOOP: u32 = 0x8004_4182;
    /// Missing access right on a record.
    pub const ACCESS_DENIED: u32 = 0x8004_8306;
    /// A column the table does not have.
    pub const UNKNOWN_ATTRIBUTE: u32 = 0x8004_1103;
    /// An invalid argument (wrong type, missing parameter, unknown message).
    pub const INVALID_ARGUMENT: u32 = 0x8004_0203;
    /// A record with this id already exists.
    pub const DUPLICATE_RECORD: u32 = 0x8004_0237;
    /// A state the table does not have, or a status that is not one of the state's (STATE-1).
    pub const INVALID_STATE_OR_STATUS: u32 = 0x8004_8408;
    /// DuplicateRecordEntityKey: another record has the same values for an alternate key.
    pub const DUPLICATE_KEY: u32 = 0x8006_0892;
    /// A security role given to an access team, which holds none (ORG-4).
    pub const ACCESS_TEAM_ROLE: u32 = 0x8004_8331;
    /// EntityKeyNotDefined: key attributes that are not one of the table's alternate keys.
    pub const KEY_NOT_DEFINED: u32 = 0x8006_0890;
    /// AggregateQueryRecordLimit exceeded: an aggregate query read more rows than the limit (QRY-6).
    pub const AGGREGATE_QUERY_RECORD_LIMIT: u32 = 0x8004_E023;
}
