//! Comparing what came out with what a case expects: responses, records and traces. Expected values may
//! use aliases, which stand for their GUIDs.

use std::collections::HashMap;

use serde_json::{Map, Value as Json};
use xrm_model::json::{self, Path as JsonPath, Reader};
use xrm_model::{Fault, Response, Uuid, Value};

use super::{Assert, Expect, JobAssert, JobStatus, RecordAssert, TraceAssert};
use crate::org::Organization;
use crate::pipeline::Session;
use crate::store::Store;

/// `"0x80040220"` (or plain hex) as a code.
pub fn parse_code(text: &str) -> Option<u32> {
    let hex = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
    u32::from_str_radix(hex, 16).ok()
}

/// The aliases of a running case: the organization's and those its actions saved.
pub struct Aliases<'o> {
    org: &'o Organization,
    pub saved: HashMap<String, Uuid>,
}

impl<'o> Aliases<'o> {
    pub fn new(org: &'o Organization) -> Self {
        Aliases { org, saved: HashMap::new() }
    }

    pub fn resolve(&self, alias: &str) -> Option<Uuid> {
        self.saved.get(alias).copied().or_else(|| self.org.alias(alias))
    }

    /// `@alice` for a GUID that has an alias, else the GUID.
    pub fn name_of(&self, id: Uuid) -> String {
        let saved = self.saved.iter().find(|(_, v)| **v == id).map(|(k, _)| k.as_str());
        match saved.or_else(|| self.org.alias_of(id)) {
            Some(alias) => format!("@{alias}"),
            None => id.to_string(),
        }
    }

    /// Replaces every known `@alias` in `text` by its GUID, lower-case hyphenated.
    pub fn substitute(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find('@') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')).unwrap_or(after.len());
            // The longest prefix that is an alias wins, so `@bob-2` can stand next to `@bob`.
            let hit = (1..=len).rev().find_map(|n| self.resolve(&after[..n]).map(|id| (n, id)));
            match hit {
                Some((n, id)) => {
                    out.push_str(&id.to_string());
                    rest = &after[n..];
                }
                None => {
                    out.push('@');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// Replaces the aliases in every GUID (and names in messages) of `text` the other way: for reports.
    pub fn humanize(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (alias, id) in self
            .saved
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .chain(self.org.aliases.iter().map(|(k, v)| (k.as_str(), *v)))
        {
            out = out.replace(&id.to_string(), &format!("@{alias}"));
        }
        out
    }
}

/// Checks a request's result against its expectation; each failure is one message.
pub fn response(expect: &Expect, result: &Result<Response, Fault>, aliases: &Aliases) -> Vec<String> {
    let mut failures = Vec::new();
    match (&expect.error, result) {
        (None, Err(f)) => {
            failures.push(format!("expected success, got error {}: {}", f.code_hex(), aliases.humanize(&f.message)))
        }
        (Some(want), Ok(_)) => failures.push(format!("expected an error{}, got success", describe_error(want))),
        (Some(want), Err(f)) => {
            if let Some(code) = want.code.as_deref().and_then(parse_code)
                && code != f.code
            {
                failures.push(format!(
                    "expected error {code:#010x}, got {}: {}",
                    f.code_hex(),
                    aliases.humanize(&f.message)
                ));
            }
            if let Some(text) = &want.contains
                && !f.message.contains(&aliases.substitute(text))
            {
                failures.push(format!(
                    "expected the error message to contain {text:?}, got {:?}",
                    aliases.humanize(&f.message)
                ));
            }
            if want.faultedrequestindex.is_some() && want.faultedrequestindex != f.faulted_request_index {
                let got = f.faulted_request_index.map_or_else(|| "none".to_owned(), |i| i.to_string());
                let want = want.faultedrequestindex.unwrap_or_default();
                failures.push(format!("expected the fault of request {want} (FaultedRequestIndex), got {got}"));
            }
        }
        (None, Ok(_)) => {}
    }
    if let (Some(output), Ok(r)) = (&expect.output, result) {
        let actual = json::response_to_json(r);
        for (name, want) in output {
            let got = actual.get(name).unwrap_or(&Json::Null);
            if !matches(want, got, aliases) {
                failures.push(format!("output `{name}`: expected {want}, got {}", aliases.humanize(&got.to_string())));
            }
        }
    }
    failures
}

fn describe_error(e: &super::ExpectedError) -> String {
    let index = e.faultedrequestindex.map(|i| format!(" at request {i}")).unwrap_or_default();
    let error = match (&e.code, &e.contains) {
        (Some(c), Some(t)) => format!(" {c} containing {t:?}"),
        (Some(c), None) => format!(" {c}"),
        (None, Some(t)) => format!(" containing {t:?}"),
        (None, None) => String::new(),
    };
    error + &index
}

/// Checks an `assert` action against the case's store and trace log, reading as SYSTEM (everything).
pub fn assert(a: &Assert, session: &mut Session, aliases: &Aliases) -> Vec<String> {
    let store = session.store().clone();
    let mut failures = Vec::new();
    for r in &a.records {
        failures.extend(records(r, &store, aliases));
    }
    for t in &a.traces {
        failures.extend(traces(t, session, aliases));
    }
    for j in &a.jobs {
        failures.extend(jobs(j, &store, aliases));
    }
    failures
}

/// A job's status as `assert.jobs` names it, from its `asyncoperation` row.
fn job_status(row: &xrm_model::Entity) -> Option<JobStatus> {
    match row.get("statuscode") {
        Some(Value::Choice(30)) => Some(JobStatus::Succeeded),
        Some(Value::Choice(31)) => Some(JobStatus::Failed),
        Some(Value::Choice(10)) => Some(JobStatus::Waiting),
        _ => None,
    }
}

fn jobs(j: &JobAssert, store: &Store, aliases: &Aliases) -> Vec<String> {
    let needle = j.contains.as_deref().map(|c| aliases.substitute(c));
    let text = |row: &xrm_model::Entity, col: &str| match row.get(col) {
        Some(Value::Text(t)) => t.clone(),
        _ => String::new(),
    };
    let selected: Vec<_> = store
        .rows("asyncoperation")
        .filter(|row| j.step.as_ref().is_none_or(|s| text(row, "name") == *s))
        .filter(|row| j.status.is_none_or(|s| job_status(row) == Some(s)))
        .filter(|row| needle.as_ref().is_none_or(|n| text(row, "message").contains(n.as_str())))
        .collect();
    let what = format!(
        "jobs{}{}{}",
        j.step.as_ref().map(|s| format!(" of step {s:?}")).unwrap_or_default(),
        j.status.map(|s| format!(" {s:?}")).unwrap_or_default(),
        j.contains.as_ref().map(|c| format!(" with an error containing {c:?}")).unwrap_or_default()
    );
    let mut failures = Vec::new();
    match j.count {
        Some(n) if selected.len() != n => failures.push(format!("expected {n} {what}, found {}", selected.len())),
        None if selected.is_empty() => {
            let all: Vec<String> = store
                .rows("asyncoperation")
                .map(|r| format!("{} {:?} {:?}", text(r, "name"), job_status(r), text(r, "message")))
                .collect();
            failures.push(format!("expected {what}, found none (jobs: {})", aliases.humanize(&all.join("; "))));
        }
        _ => {}
    }
    if let Some(attempts) = j.attempts {
        for row in &selected {
            let done = match row.get("retrycount") {
                Some(Value::Integer(n)) => n + 1,
                _ => 0,
            };
            if done != attempts {
                failures.push(format!("{what}: expected {attempts} attempts, found {done}"));
            }
        }
    }
    failures
}

fn records(r: &RecordAssert, store: &Store, aliases: &Aliases) -> Vec<String> {
    let rows: Vec<Json> = store
        .rows(&r.table)
        .map(|e| json::entity_to_json(e))
        .filter(|row| r.filter.iter().all(|(col, want)| matches(want, row.get(col).unwrap_or(&Json::Null), aliases)))
        .collect();
    let what = format!("{} where {}", r.table, Json::Object(r.filter.clone()));
    let mut failures = Vec::new();
    if let Some(count) = r.count
        && rows.len() != count
    {
        failures.push(format!("records {what}: expected {count}, found {}", rows.len()));
    }
    if let Some(columns) = &r.columns {
        if rows.is_empty() && r.count.is_none() {
            failures.push(format!("records {what}: expected rows to check columns on, found none"));
        }
        for row in &rows {
            for (col, want) in columns {
                let got = row.get(col).unwrap_or(&Json::Null);
                if !matches(want, got, aliases) {
                    failures.push(format!(
                        "records {what}: column `{col}` expected {want}, got {}",
                        aliases.humanize(&got.to_string())
                    ));
                }
            }
        }
    }
    failures
}

fn traces(t: &TraceAssert, session: &Session, aliases: &Aliases) -> Vec<String> {
    let needle = t.contains.as_deref().map(|c| aliases.substitute(c));
    let found = session
        .traces()
        .iter()
        .filter(|r| t.step.as_ref().is_none_or(|s| *s == r.step))
        .filter(|r| needle.as_ref().is_none_or(|n| r.text.contains(n.as_str())))
        .count();
    let what = format!(
        "a trace{}{}",
        t.step.as_ref().map(|s| format!(" of step {s:?}")).unwrap_or_default(),
        t.contains.as_ref().map(|c| format!(" containing {c:?}")).unwrap_or_default()
    );
    match (t.absent, t.count) {
        (true, _) if found > 0 => vec![format!("expected no {what}, found {found}")],
        (false, Some(n)) if found != n => vec![format!("expected {n} of {what}, found {found}")],
        (false, None) if found == 0 => vec![format!("expected {what}, found none")],
        _ => Vec::new(),
    }
}

/// Whether an actual JSON value (as the model writes values) matches an expected one: objects by subset,
/// ids by id whichever form they take, numbers by value, text after alias substitution. An aliased value
/// (QRY-10) matches `{"@aliased": …}` with its table, column and value, and a plain expected value by the value
/// it holds.
pub fn matches(want: &Json, got: &Json, aliases: &Aliases) -> bool {
    if let Some(inner) = got.get("@aliased").and_then(|a| a.get("value"))
        && want.get("@aliased").is_none()
        && !want.is_null()
    {
        return matches(want, inner, aliases);
    }
    match (want, got) {
        (Json::Null, got) => got.is_null(),
        (Json::Object(w), _) if is_typed(w) => {
            typed(want, aliases).zip(typed(got, aliases)).is_some_and(|(a, b)| same_value(&a, &b))
        }
        (Json::Object(w), Json::Object(g)) => {
            w.iter().all(|(k, v)| matches(v, g.get(k).unwrap_or(&Json::Null), aliases))
        }
        (Json::Array(w), Json::Array(g)) => w.len() == g.len() && w.iter().zip(g).all(|(a, b)| matches(a, b, aliases)),
        (Json::String(s), Json::Object(_)) => {
            let want = Reader::new(&|a| aliases.resolve(a)).guid_text(s, &JsonPath::Root(""));
            match (want, typed(got, aliases)) {
                (Ok(id), Some(v)) => id_of(&v) == Some(id),
                (Err(_), Some(v)) => v.to_string() == aliases.substitute(s),
                _ => false,
            }
        }
        (Json::String(s), Json::String(g)) => aliases.substitute(s).eq_ignore_ascii_case(g) || s == g,
        (Json::Number(_), Json::Object(_)) => {
            typed(got, aliases).is_some_and(|v| same_value(&Value::Double(want.as_f64().unwrap_or(f64::NAN)), &v))
        }
        (Json::Number(a), Json::Number(b)) => a.as_f64() == b.as_f64(),
        _ => want == got,
    }
}

fn is_typed(obj: &Map<String, Json>) -> bool {
    obj.keys().any(|k| k.starts_with('@') && k != "@logicalname" && k != "@id" && k != "@formatted")
}

fn typed(v: &Json, aliases: &Aliases) -> Option<Value> {
    Reader::new(&|a| aliases.resolve(a)).value(v, &JsonPath::Root("")).ok()
}

fn id_of(v: &Value) -> Option<Uuid> {
    match v {
        Value::Guid(g) => Some(*g),
        Value::Lookup(r) => Some(r.id),
        _ => None,
    }
}

/// Values equal as the platform compares them: lookups by id, numbers by value; aliased values by their table,
/// column and value.
fn same_value(a: &Value, b: &Value) -> bool {
    if let (Value::Aliased(x), Value::Aliased(y)) = (a, b) {
        return x.entity_logical_name == y.entity_logical_name
            && x.attribute_logical_name == y.attribute_logical_name
            && same_value(&x.value, &y.value);
    }
    if let (Some(x), Some(y)) = (id_of(a), id_of(b)) {
        return x == y;
    }
    crate::query::compare(a, b) == Some(std::cmp::Ordering::Equal)
}
