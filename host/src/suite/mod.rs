//! Suites: files of cases (requests by users and what must come out), loaded and checked up front, then run
//! case by case, each on its own copy of the organization, in parallel. The runner prints nothing: it emits
//! [`Event`]s to a callback and returns [`RunStats`]; reporters render them.

mod check;
mod discover;
mod explore;
mod file;
mod http;
pub mod report;
mod runner;
mod validate;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value as Json};

use crate::input::FileErrors;
pub use crate::pipeline::Pipeline;
pub use discover::{Found, Skipped, discover, find, looks_like_a_suite};
pub use explore::{Explored, check_request, explore};
pub use file::load_pipeline;
pub(crate) use file::{RegistrationsFile, SuiteFile};
pub use http::{Stub as HttpStub, load_stub_file};
pub use runner::{CaseResult, Event, Partition, RunOptions, RunStats, run, run_case};

/// A loaded suite, ready to run.
pub struct Suite {
    pub name: String,
    pub file: PathBuf,
    pub pipeline: Arc<Pipeline>,
    pub cases: Vec<Case>,
    /// The suite's HTTP stubs (BOX-6), tried after each case's own.
    http: Vec<http::Stub>,
}

impl Suite {
    /// Loads a suite file, with its organization, registrations and plug-ins (built if named by crate).
    pub fn load(path: &Path) -> Result<Suite, FileErrors> {
        file::load(path)
    }

    /// A suite given as JSON (the suite file's format): `path` names it in errors, and the paths in it are
    /// relative to `path`'s folder.
    pub fn from_json(path: &Path, json: Json) -> Result<Suite, FileErrors> {
        file::from_json(path, json)
    }
}

pub struct Case {
    pub name: String,
    actions: Vec<Action>,
    /// The case's HTTP stubs, tried before the suite's.
    http: Vec<http::Stub>,
}

enum Action {
    Request(Box<RequestAction>),
    /// Runs every queued asynchronous job, and the jobs they queue, to completion.
    RunAsync,
    Assert(Assert),
    /// Sets the case's clock (QRY-2).
    Clock(chrono::DateTime<chrono::Utc>),
    /// Moves the case's clock by an ISO 8601 duration (QRY-2).
    Advance(crate::clock::Period),
}

struct RequestAction {
    as_user: String,
    /// External impersonation (IMP-6).
    on_behalf_of: Option<OnBehalfOf>,
    tag: Option<String>,
    /// The client's user agent: `InitiatingUserAgent` of the contexts (IMP-11).
    user_agent: Option<String>,
    /// Read when the action runs, once the ids saved by earlier actions are known.
    request: Json,
    save: Option<String>,
    expect: Expect,
}

/// How a client names the user it acts for (IMP-6), as the platform names the header, and the user (a GUID
/// or `@alias`; for `CallerObjectId`, an Entra object id or the `@alias` of the user who has it) it names.
#[derive(Debug, Clone)]
#[allow(clippy::enum_variant_names)]
pub enum OnBehalfOf {
    CallerId(String),
    CallerObjectId(String),
    MscrmCallerId(String),
}

#[derive(Default)]
struct Expect {
    /// `None`: the request must succeed.
    error: Option<ExpectedError>,
    output: Option<Map<String, Json>>,
}

/// The failure a request must end with; `{}` accepts any failure.
#[derive(Deserialize, JsonSchema, Default, Clone)]
#[serde(deny_unknown_fields)]
struct ExpectedError {
    /// The error code, such as `"0x80040220"`.
    #[serde(default)]
    #[schemars(regex(pattern = r"^(0[xX])?[0-9A-Fa-f]+$"))]
    code: Option<String>,
    /// Text the error message must contain; `@alias` stands for its GUID.
    #[serde(default)]
    contains: Option<String>,
    /// For an ExecuteTransaction: the index of the request that failed (`FaultedRequestIndex`).
    #[serde(default)]
    faultedrequestindex: Option<u32>,
}

struct Assert {
    records: Vec<RecordAssert>,
    traces: Vec<TraceAssert>,
    jobs: Vec<JobAssert>,
    http: Option<http::HttpAssert>,
}

/// Asynchronous jobs (`asyncoperation`) that must exist.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct JobAssert {
    /// The step whose jobs are checked (default: any step).
    #[serde(default)]
    step: Option<String>,
    /// The status each selected job must have.
    #[serde(default)]
    status: Option<JobStatus>,
    /// Text the job's error message must contain; `@alias` stands for its GUID.
    #[serde(default)]
    contains: Option<String>,
    /// How many times the job must have run.
    #[serde(default)]
    attempts: Option<i32>,
    /// How many jobs must match.
    #[serde(default)]
    count: Option<usize>,
}

/// An asynchronous job's status.
#[derive(Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
enum JobStatus {
    /// The job ran to completion.
    Succeeded,
    /// The job failed for good (after its retries).
    Failed,
    /// The job is queued: it has not run yet, or waits to be retried.
    Waiting,
}

/// Records of a table, selected by column values, and what they must hold.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RecordAssert {
    /// The table's logical name.
    #[serde(rename = "@logicalname")]
    table: String,
    /// Selects the rows whose columns equal these values (default: every row).
    #[serde(default, rename = "where")]
    #[schemars(with = "std::collections::BTreeMap<String, crate::schema::ValueForm>")]
    filter: Map<String, Json>,
    /// How many rows the selection must have.
    #[serde(default)]
    count: Option<usize>,
    /// Values each selected row must have; null means the column is empty.
    #[serde(default)]
    #[schemars(with = "Option<std::collections::BTreeMap<String, crate::schema::ValueForm>>")]
    columns: Option<Map<String, Json>>,
}

/// Trace log text a step wrote (or must not have written).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TraceAssert {
    /// The step whose traces are searched (default: any step).
    #[serde(default)]
    step: Option<String>,
    /// Text a trace must contain; `@alias` stands for its GUID.
    #[serde(default)]
    contains: Option<String>,
    /// How many traces must match.
    #[serde(default)]
    count: Option<usize>,
    /// Whether the matching trace must not exist.
    #[serde(default)]
    absent: bool,
}

/// Loads every suite under the paths given (see [`find`]); the errors of every file in error together.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Suite>, FileErrors> {
    let found = find(paths)?;
    let mut errors = found.errors;
    let suites: Vec<Suite> = found.files.iter().filter_map(|f| errors.take(Suite::load(f))).collect();
    errors.or(suites)
}
