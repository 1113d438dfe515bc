//! One request run on its own, for exploring ("what happens if alice creates an account?"): the response and
//! the execution tree, without a suite or expectations.

use std::sync::Arc;

use serde_json::Value as Json;
use xrm_model::json::{Path as JsonPath, Reader, response_to_json};

use super::Header;
use super::check::Aliases;
use super::report::{self, Node};
use super::runner::impersonation;
use crate::pipeline::{Pipeline, Session};

/// How a client names the user it acts for (IMP-6), and the user (a GUID or `@alias`) it names.
#[derive(Debug, Clone)]
pub enum OnBehalfOf {
    CallerId(String),
    CallerObjectId(String),
    MscrmCallerId(String),
}

/// What one request did.
#[derive(Debug, Clone)]
pub struct Explored {
    /// The response's output parameters as JSON, or the fault as `0x…: message`.
    pub response: Result<Json, String>,
    pub nodes: Vec<Node>,
    /// The execution tree as indented text.
    pub tree: String,
    /// The trace text of the steps that ran (as the organization's trace-log setting keeps it).
    pub traces: String,
}

/// Runs `request` (formats.md's request JSON, aliases allowed) as `as_user` on a fresh session of `pipeline`.
/// An error is input that cannot be read (an unknown alias, a malformed request).
pub fn explore(
    pipeline: Arc<Pipeline>,
    as_user: &str,
    on_behalf_of: Option<&OnBehalfOf>,
    request: &Json,
) -> Result<Explored, String> {
    let org = pipeline.org().clone();
    let aliases = Aliases::new(&org);
    let resolve = |a: &str| aliases.resolve(a);
    let reader = Reader::new(&resolve);
    let caller = reader.guid_text(as_user, &JsonPath::Root("as")).map_err(|e| e.to_string())?;
    let request = reader.request(request, &JsonPath::Root("request")).map_err(|e| e.to_string())?;
    let mut session = Session::new(pipeline);
    let result = match on_behalf_of {
        None => session.execute(caller, request, None),
        Some(header) => {
            let (header, text) = match header {
                OnBehalfOf::CallerId(t) => (Header::CallerId, t),
                OnBehalfOf::CallerObjectId(t) => (Header::CallerObjectId, t),
                OnBehalfOf::MscrmCallerId(t) => (Header::MscrmCallerId, t),
            };
            let on_behalf_of = impersonation(header, text, &session, &aliases)?;
            session.execute_impersonating(caller, on_behalf_of, request, None)
        }
    };
    let response =
        result.map(|r| response_to_json(&r)).map_err(|f| format!("{}: {}", f.code_hex(), aliases.humanize(&f.message)));
    let nodes = report::nodes(session.log(), &aliases);
    let tree = report::tree(&nodes) + &report::dropped(session.log_dropped());
    Ok(Explored { response, tree, nodes, traces: report::traces(session.traces(), &aliases) })
}
