//! One request run on its own, for exploring ("what happens if alice creates an account?"): the response and
//! the execution tree, without a suite or expectations.

use std::sync::Arc;

use serde_json::Value as Json;
use xrm_model::json::{JsonError, Path as JsonPath, Reader, response_to_json};

use super::OnBehalfOf;
use super::check::Aliases;
use super::http::{CaseHttp, Stub as HttpStub};
use super::report::{self, Node, Written};
use super::runner::send;
use super::validate::Known;
use crate::pipeline::{Pipeline, Session};

/// What one request did.
#[derive(Debug, Clone)]
pub struct Explored {
    /// The response's output parameters as JSON (aliases in place of the ids the organization names), or the
    /// fault as `0x…: message`.
    pub response: Result<Json, String>,
    /// Every record the request wrote, its plug-ins' writes included, as the store holds them after it.
    pub written: Vec<Written>,
    pub nodes: Vec<Node>,
    /// The execution tree as indented text.
    pub tree: String,
    /// The trace text of the steps that ran (as the organization's trace-log setting keeps it).
    pub traces: String,
}

/// Runs `request` (formats.md's request JSON, aliases allowed) as `as_user` on a fresh session of `pipeline`,
/// the plug-ins' HTTP requests answered by `stubs` (BOX-6). An error is input that cannot be read (an unknown
/// alias, a malformed request).
pub fn explore(
    pipeline: Arc<Pipeline>,
    as_user: &str,
    on_behalf_of: Option<&OnBehalfOf>,
    request: &Json,
    stubs: Vec<HttpStub>,
) -> Result<Explored, String> {
    let org = pipeline.org().clone();
    let aliases = Aliases::new(&org);
    let mut session = Session::new(pipeline);
    let before = session.store().clone();
    session.set_http(CaseHttp::shared(stubs).1);
    let (_, result) = send(&mut session, &aliases, as_user, on_behalf_of, request, Default::default())?;
    let humanized = |json: Json| serde_json::from_str(&aliases.humanize(&json.to_string())).unwrap_or(json);
    let response = result
        .map(|r| humanized(response_to_json(&r)))
        .map_err(|f| format!("{}: {}", f.code_hex(), aliases.humanize(&f.message)));
    // The trace log's own rows are the traces, shown apart.
    let changes: Vec<_> =
        session.store().changes(&before).into_iter().filter(|c| c.table != "plugintracelog").collect();
    let written = report::written(&changes, false, &aliases);
    let (nodes, tree, traces) = report::rendered(&session, &aliases);
    Ok(Explored { response, written, nodes, tree, traces })
}

/// Checks `request` (formats.md's request JSON) against `pipeline`'s organization as a suite's request is
/// checked when the suite loads: its shape, aliases, messages, tables, columns and values, in bulk `targets`,
/// batch `requests` and record parameters too, each problem with its JSON path inside the request and the form
/// to write (`{"@option": 2}` for a choice).
pub fn check_request(pipeline: &Pipeline, request: &Json) -> Result<(), Vec<JsonError>> {
    let org = pipeline.org();
    let unknown = std::cell::RefCell::new(Vec::new());
    let resolve = |alias: &str| org.alias(alias);
    let reader = Reader::noting_unknown(&resolve, &unknown);
    let saved = std::collections::HashMap::new();
    let known = Known { org, steps: &[], saved: &saved };
    let mut problems = match reader.request(request, &JsonPath::Root("")) {
        Ok(read) => {
            let mut problems: Vec<JsonError> = unknown.borrow().iter().map(|u| known.unknown_alias(u)).collect();
            problems.extend(known.request(request, &read, ""));
            problems
        }
        Err(e) => vec![e],
    };
    // Paths inside the request start at its root: `target.industrycode`, not `.target.industrycode`.
    for p in &mut problems {
        p.path = p.path.trim_start_matches('.').to_owned();
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}
