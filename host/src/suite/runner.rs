//! Running cases: each on a fresh session of its suite's pipeline, many at once on a thread pool, each
//! result sent to the caller's callback as it finishes.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use xrm_model::json::{Path as JsonPath, Reader};
use xrm_model::{Fault, ParameterValue, Response, Uuid, Value, messages};

use super::check::{self, Aliases};
use super::http::CaseHttp;
use super::{Action, Case, OnBehalfOf, RequestAction, Suite, report};
use crate::pipeline::{Impersonation, RequestOptions, Session};
use crate::threads;

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Cases run at once; default: the number of cores.
    pub jobs: usize,
    /// Runs only cases whose `suite::case` name contains this text (a rule id such as `IMP-4` works).
    pub filter: Option<String>,
    /// Stops starting cases after the first failure.
    pub fail_fast: bool,
    /// Runs only this machine's share of the selected cases (CI sharding).
    pub partition: Option<Partition>,
}

/// Shard `index` of `count` (both from 1, as in `--partition 2/3`): the selected cases, in file and case
/// order, are dealt round-robin to `count` shards, so every case runs on exactly one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub index: usize,
    pub count: usize,
}

impl Partition {
    /// Whether the `n`th selected case (from 0) belongs to this shard.
    pub fn contains(&self, n: usize) -> bool {
        n % self.count == self.index - 1
    }
}

impl std::str::FromStr for Partition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("expected k/n with 1 <= k <= n, such as 1/3; found `{s}`");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Partition { index, count })
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        let jobs = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        RunOptions { jobs, filter: None, fail_fast: false, partition: None }
    }
}

/// The outcome of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub suite: String,
    /// The suite's file.
    pub file: PathBuf,
    pub case: String,
    pub passed: bool,
    /// Each way the case failed: what was expected and what came out.
    pub failures: Vec<String>,
    pub duration: Duration,
    /// The execution tree: requests, steps and service calls with the users they ran as.
    pub nodes: Vec<report::Node>,
    /// The same tree as indented text.
    pub tree: String,
    /// The trace text of the steps that ran.
    pub traces: String,
}

impl CaseResult {
    pub fn id(&self) -> String {
        format!("{}::{}", self.suite, self.case)
    }
}

/// What the runner tells its caller, in this order: `Started` once, then one `CaseFinished` or `CaseSkipped`
/// per selected case.
pub enum Event {
    /// The run starts: how many cases it will report on.
    Started {
        cases: usize,
    },
    CaseFinished(Box<CaseResult>),
    /// A selected case not run, after an earlier failure with `fail_fast`.
    CaseSkipped {
        suite: String,
        file: PathBuf,
        case: String,
    },
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunStats {
    pub passed: usize,
    pub failed: usize,
    /// Cases not run: filtered out, in another partition, or after a failure with `fail_fast`.
    pub skipped: usize,
}

/// The cases to run, as (suite, case) indices: those the filter names, then this partition's share of them.
fn select(suites: &[Suite], options: &RunOptions, stats: &mut RunStats) -> Vec<(usize, usize)> {
    let mut selected = Vec::new();
    let mut matching = 0;
    for (s, suite) in suites.iter().enumerate() {
        for (c, case) in suite.cases.iter().enumerate() {
            let id = format!("{}::{}", suite.name, case.name);
            let wanted = options.filter.as_ref().is_none_or(|f| id.contains(f.as_str()));
            let here = wanted && options.partition.is_none_or(|p| p.contains(matching));
            matching += usize::from(wanted);
            if here {
                selected.push((s, c));
            } else {
                stats.skipped += 1;
            }
        }
    }
    selected
}

/// Runs every selected case of `suites` and returns the counts; `on_event` sees each result as it comes.
pub fn run(suites: Vec<Suite>, options: &RunOptions, mut on_event: impl FnMut(Event)) -> RunStats {
    let mut stats = RunStats::default();
    let selected = select(&suites, options, &mut stats);
    on_event(Event::Started { cases: selected.len() });
    let stop = AtomicBool::new(false);
    let work = |&(s, c): &(usize, usize)| {
        let result = (!stop.load(Ordering::Relaxed)).then(|| run_case_here(&suites[s], &suites[s].cases[c]));
        // The worker raises the flag itself, so no case starts after a failure it could have seen.
        if options.fail_fast && result.as_ref().is_some_and(|r| !r.passed) {
            stop.store(true, Ordering::Relaxed);
        }
        (s, c, result)
    };
    let mut report = |(s, c, result): (usize, usize, Option<CaseResult>)| match result {
        Some(r) => {
            if r.passed {
                stats.passed += 1;
            } else {
                stats.failed += 1;
            }
            on_event(Event::CaseFinished(Box::new(r)));
        }
        None => {
            stats.skipped += 1;
            on_event(skipped(&suites[s], &suites[s].cases[c]));
        }
    };
    if !threads::pool(options.jobs, &selected, work, &mut report) {
        // Without a pool, each case still gets a thread of its own, one at a time.
        tracing::warn!("cannot start the case pool; running cases one at a time");
        for &(s, c) in &selected {
            let skip = options.fail_fast && stop.load(Ordering::Relaxed);
            let result = (!skip).then(|| run_case(&suites[s], &suites[s].cases[c]));
            if options.fail_fast && result.as_ref().is_some_and(|r| !r.passed) {
                stop.store(true, Ordering::Relaxed);
            }
            report((s, c, result));
        }
    }
    stats
}

fn skipped(suite: &Suite, case: &Case) -> Event {
    Event::CaseSkipped { suite: suite.name.clone(), file: suite.file.clone(), case: case.name.clone() }
}

/// Runs one case on a fresh session, on a thread of its own with room for nested plug-ins.
pub fn run_case(suite: &Suite, case: &Case) -> CaseResult {
    threads::on_case_thread("xrm-sandbox-case", || run_case_here(suite, case))
        .unwrap_or_else(|e| failed(suite, case, e))
}

fn failed(suite: &Suite, case: &Case, why: String) -> CaseResult {
    CaseResult {
        suite: suite.name.clone(),
        file: suite.file.clone(),
        case: case.name.clone(),
        passed: false,
        failures: vec![why],
        duration: Duration::ZERO,
        nodes: Vec::new(),
        tree: String::new(),
        traces: String::new(),
    }
}

/// Runs one case on this thread, which must be a case thread ([`threads`]); a panic of the host becomes the
/// case's failure, never the run's.
fn run_case_here(suite: &Suite, case: &Case) -> CaseResult {
    let started = Instant::now();
    let mut session = Session::new(suite.pipeline.clone());
    let stubs = case.http.iter().chain(&suite.http).cloned().collect();
    let (http, transport) = CaseHttp::shared(stubs);
    session.set_http(transport);
    let org = suite.pipeline.org().clone();
    let mut aliases = Aliases::new(&org);
    let outcome = catch_unwind(AssertUnwindSafe(|| run_actions(case, &mut session, &mut aliases, &http)));
    let failures =
        outcome.unwrap_or_else(|panic| vec![format!("the host panicked: {}", threads::panic_message(&*panic))]);
    let (nodes, tree, traces) = report::rendered(&session, &aliases);
    CaseResult {
        suite: suite.name.clone(),
        file: suite.file.clone(),
        case: case.name.clone(),
        passed: failures.is_empty(),
        failures,
        duration: started.elapsed(),
        nodes,
        tree,
        traces,
    }
}

/// Runs the actions in order, stopping at the first that fails (later ones build on it).
fn run_actions(case: &Case, session: &mut Session, aliases: &mut Aliases, http: &Mutex<CaseHttp>) -> Vec<String> {
    for (i, action) in case.actions.iter().enumerate() {
        let failures = match action {
            Action::Request(r) => request(r, session, aliases),
            Action::RunAsync => match session.run_async() {
                Ok(_) => Vec::new(),
                Err(fault) => vec![format!("runasync: {}", aliases.humanize(&fault.to_string()))],
            },
            Action::Assert(a) => {
                let mut failures = check::assert(a, session, aliases);
                if let Some(h) = &a.http {
                    let http = http.lock().unwrap_or_else(PoisonError::into_inner);
                    failures.extend(super::http::check(h, &http, aliases));
                }
                failures
            }
            Action::Clock(at) => {
                session.set_clock(*at);
                Vec::new()
            }
            Action::Advance(period) => session.advance_clock(period).err().into_iter().collect(),
        };
        if !failures.is_empty() {
            return failures.into_iter().map(|f| format!("action {i}: {f}")).collect();
        }
    }
    Vec::new()
}

fn request(r: &RequestAction, session: &mut Session, aliases: &mut Aliases) -> Vec<String> {
    let options = RequestOptions { tag: r.tag.clone(), user_agent: r.user_agent.clone() };
    let (target, result) = match send(session, aliases, &r.as_user, r.on_behalf_of.as_ref(), &r.request, options) {
        Ok(sent) => sent,
        Err(e) => return vec![e],
    };
    if let (Some(name), Ok(response)) = (&r.save, &result)
        && let Some(id) = created_id(response).or(target)
    {
        aliases.saved.insert(name.clone(), id);
    }
    check::response(&r.expect, &result, aliases)
}

/// Reads the calling user and the request (with the aliases known now) and runs it, through external
/// impersonation if asked. Gives the request's target id with its outcome; `Err` is input that cannot be read.
pub(super) fn send(
    session: &mut Session,
    aliases: &Aliases,
    as_user: &str,
    on_behalf_of: Option<&OnBehalfOf>,
    request: &Json,
    options: RequestOptions,
) -> Result<(Option<Uuid>, Result<Response, Fault>), String> {
    let resolve = |a: &str| aliases.resolve(a);
    let reader = Reader::new(&resolve);
    let read = |e: xrm_model::json::JsonError| format!("cannot read the request: {e}");
    let caller = reader.guid_text(as_user, &JsonPath::Root("as")).map_err(read)?;
    let request = reader.request(request, &JsonPath::Root("request")).map_err(read)?;
    let target = request.target_reference().map(|t| t.id);
    let on_behalf_of = match on_behalf_of {
        None => None,
        Some(header) => Some(impersonation(header, session, &reader)?),
    };
    let result = session.send(caller, on_behalf_of, request, options);
    Ok((target, result))
}

/// The header's user: `callerobjectid` takes an Entra object id, or `@alias` for that user's object id.
fn impersonation(header: &OnBehalfOf, session: &Session, reader: &Reader) -> Result<Impersonation, String> {
    let (OnBehalfOf::CallerId(text) | OnBehalfOf::CallerObjectId(text) | OnBehalfOf::MscrmCallerId(text)) = header;
    let id = reader.guid_text(text, &JsonPath::Root("caller")).map_err(|e| e.to_string())?;
    Ok(match header {
        OnBehalfOf::CallerId(_) => Impersonation::CallerId(id),
        OnBehalfOf::MscrmCallerId(_) => Impersonation::MscrmCallerId(id),
        OnBehalfOf::CallerObjectId(_) if text.starts_with('@') => {
            let user = session.pipeline().org().user(id).ok_or_else(|| format!("`{text}` is not a user"))?;
            let object = user.aad_object_id.ok_or_else(|| format!("`{text}` has no azureactivedirectoryobjectid"))?;
            Impersonation::CallerObjectId(object)
        }
        OnBehalfOf::CallerObjectId(_) => Impersonation::CallerObjectId(id),
    })
}

/// The id a response gives: Create's `id`, or the record an Upsert created or updated.
fn created_id(response: &Response) -> Option<Uuid> {
    match (response.results.get(messages::ID), response.results.get(messages::TARGET)) {
        (Some(ParameterValue::Value(Value::Guid(id))), _) => Some(*id),
        (None, Some(ParameterValue::Value(Value::Lookup(r)))) if response.message == messages::UPSERT => Some(r.id),
        _ => None,
    }
}
