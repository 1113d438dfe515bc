//! Suites: files of cases (requests by users and what must come out), loaded and checked up front, then run
//! case by case, each on its own copy of the organization, in parallel. The runner prints nothing: it emits
//! [`Event`]s to a callback and returns [`RunStats`]; reporters render them.

mod check;
mod file;
pub mod report;
mod runner;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value as Json};

use crate::input::FileError;
use crate::pipeline::Pipeline;
pub use runner::{CaseResult, Event, RunOptions, RunStats, run, run_case};

/// A loaded suite, ready to run.
pub struct Suite {
    pub name: String,
    pub file: PathBuf,
    pub pipeline: Arc<Pipeline>,
    pub cases: Vec<Case>,
}

impl Suite {
    /// Loads a suite file, with its organization, registrations and plug-ins (built if named by crate).
    pub fn load(path: &Path) -> Result<Suite, FileError> {
        file::load(path)
    }
}

pub struct Case {
    pub name: String,
    actions: Vec<Action>,
}

enum Action {
    Request(Box<RequestAction>),
    /// Runs every queued asynchronous job, and the jobs they queue, to completion.
    RunAsync,
    Assert(Assert),
}

struct RequestAction {
    as_user: String,
    /// External impersonation (IMP-6): which header, and the user (or Entra object id) it names.
    on_behalf_of: Option<(Header, String)>,
    tag: Option<String>,
    /// Read when the action runs, once the ids saved by earlier actions are known.
    request: Json,
    save: Option<String>,
    expect: Expect,
}

/// The ways a client names the user it acts for; named as the platform names them.
#[derive(Debug, Clone, Copy)]
#[allow(clippy::enum_variant_names)]
enum Header {
    CallerId,
    CallerObjectId,
    MscrmCallerId,
}

#[derive(Default)]
struct Expect {
    /// `None`: the request must succeed.
    error: Option<ExpectedError>,
    output: Option<Map<String, Json>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct ExpectedError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    contains: Option<String>,
}

struct Assert {
    records: Vec<RecordAssert>,
    traces: Vec<TraceAssert>,
    jobs: Vec<JobAssert>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobAssert {
    #[serde(default)]
    step: Option<String>,
    #[serde(default)]
    status: Option<JobStatus>,
    #[serde(default)]
    contains: Option<String>,
    #[serde(default)]
    attempts: Option<i32>,
    #[serde(default)]
    count: Option<usize>,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
enum JobStatus {
    Succeeded,
    Failed,
    Waiting,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordAssert {
    #[serde(rename = "@logicalname")]
    table: String,
    #[serde(default, rename = "where")]
    filter: Map<String, Json>,
    #[serde(default)]
    count: Option<usize>,
    #[serde(default)]
    columns: Option<Map<String, Json>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TraceAssert {
    #[serde(default)]
    step: Option<String>,
    #[serde(default)]
    contains: Option<String>,
    #[serde(default)]
    count: Option<usize>,
    #[serde(default)]
    absent: bool,
}

/// Finds the suite files under the paths given: files as they are, folders searched for `*.json` files that
/// are suites (they have `cases`).
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, FileError> {
    let mut found = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut found)?;
        } else if path.exists() {
            found.push(path.clone());
        } else {
            return Err(FileError::new(path, "", "no such file or folder"));
        }
    }
    Ok(found)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), FileError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| FileError::new(dir, "", format!("cannot read the folder: {e}")))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            walk(&path, found)?;
        } else if path.extension().is_some_and(|e| e == "json") && is_suite(&path) {
            found.push(path);
        }
    }
    Ok(())
}

fn is_suite(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str::<Json>(&text).ok())
        .is_some_and(|json| json.get("cases").is_some())
}
