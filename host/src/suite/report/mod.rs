//! Rendering results. A case's log becomes a list of [`Node`]s with aliases in place of GUIDs, which every
//! form renders: the plain-text tree and lines of the terminal ([`HumanReporter`]), JUnit XML ([`junit`]) and
//! the HTML execution report ([`html`]).

pub mod html;
pub mod junit;

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};

use anstyle::{AnsiColor, Style};
use xrm_model::Fault;

use super::check::Aliases;
use super::runner::{CaseResult, RunStats};
use super::{Event as RunEvent, Suite};
use crate::pipeline::{Event, Session, TraceRecord};
use crate::sandbox::HttpOutcome;

/// One node of a case's execution tree, ready to show: users by alias, faults as text.
#[derive(Debug, Clone)]
pub struct Node {
    /// Nesting in the tree: a request at depth d sits at 2(d - 1), its steps one below, their calls below them.
    pub level: usize,
    /// The pipeline depth (`context.Depth`).
    pub depth: i32,
    pub kind: NodeKind,
    pub outcome: Outcome,
    pub duration: Duration,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    /// A top-level request, or a service call a plug-in made.
    Request {
        message: String,
        table: String,
        /// The user the request ran as (the effective user of a service call).
        caller: String,
        initiating: String,
        /// How the plug-in asked for its service: `CreateOrganizationService(…)`'s argument.
        via: Option<&'static str>,
        /// The user impersonating the caller from outside (IMP-6).
        impersonator: Option<String>,
        /// The columns of the record it sent (its `Target`).
        sent: Vec<String>,
        /// The records its own operation wrote.
        written: Vec<Written>,
    },
    /// The case ran its queued asynchronous jobs (`runasync`); the job steps that follow are its children.
    RunAsync { jobs: usize },
    /// A step's execution: its plug-in, as `UserId`, on behalf of `InitiatingUserId`.
    Step {
        stage: i32,
        asynchronous: bool,
        name: String,
        plugin: String,
        user_id: String,
        initiating_user_id: String,
        in_transaction: bool,
        trace: String,
    },
    /// An HTTP request a step's plug-in sent (BOX-6), and what answered it.
    Http {
        method: String,
        url: String,
        /// The user the step ran as.
        user_id: String,
        /// The stub that answered (its place in the suite and its pattern), if one did.
        answered_by: Option<String>,
        status: Option<u16>,
        /// Bytes of the request body, if it was sent whole.
        body_bytes: Option<usize>,
    },
}

/// A record a request wrote, ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// `created`, `updated` or `deleted`.
    pub action: &'static str,
    pub table: String,
    /// The record's alias, or its id.
    pub record: String,
    /// The columns written and their values as JSON (aliases for known ids); none for a delete.
    pub columns: Vec<(String, String)>,
    /// Undone by the rollback of the transaction it was written in (PIPE-10).
    pub rolled_back: bool,
}

impl Written {
    /// `created account @acme (name, ownerid, …)`, with `, rolled back` when it was undone.
    pub fn line(&self) -> String {
        let columns: Vec<&str> = self.columns.iter().map(|(c, _)| c.as_str()).collect();
        let columns = if columns.is_empty() { String::new() } else { format!(" ({})", columns.join(", ")) };
        let undone = if self.rolled_back { " — rolled back" } else { "" };
        format!("{} {} {}{columns}{undone}", self.action, self.table, self.record)
    }

    /// The same with each column's value: `name = "Contoso"`, one per line below the record.
    pub fn detailed(&self) -> String {
        let undone = if self.rolled_back { " — rolled back" } else { "" };
        let mut out = format!("{} {} {}{undone}\n", self.action, self.table, self.record);
        for (column, value) in &self.columns {
            let _ = writeln!(out, "  {column} = {value}");
        }
        out
    }
}

/// The records of `changes`, with aliases for the ids the case knows.
pub fn written(changes: &[crate::store::Change], rolled_back: bool, aliases: &Aliases) -> Vec<Written> {
    use crate::store::ChangeKind;
    changes
        .iter()
        .map(|c| Written {
            action: match c.kind {
                ChangeKind::Created => "created",
                ChangeKind::Updated => "updated",
                ChangeKind::Deleted => "deleted",
            },
            table: c.table.clone(),
            record: aliases.name_of(c.id),
            columns: c
                .columns
                .iter()
                .map(|col| {
                    let value = c.record.attributes.get(col).map_or(xrm_model::Value::Null, Clone::clone);
                    (col.clone(), aliases.humanize(&xrm_model::json::value_to_json(&value).to_string()))
                })
                .collect(),
            rolled_back,
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed {
        code: String,
        message: String,
    },
    /// The node was cut short: the case stopped (a host failure) before it finished.
    Unfinished,
}

impl Outcome {
    fn of(o: &Option<Result<(), Fault>>, aliases: &Aliases) -> Self {
        match o {
            Some(Ok(())) => Outcome::Ok,
            Some(Err(f)) => Outcome::Failed { code: f.code_hex(), message: aliases.humanize(&f.message) },
            None => Outcome::Unfinished,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Ok => f.write_str("ok"),
            Outcome::Failed { code, message } => write!(f, "failed {code}: {message}"),
            Outcome::Unfinished => f.write_str("did not finish"),
        }
    }
}

/// The platform's name of a stage.
pub fn stage_name(stage: i32) -> &'static str {
    match stage {
        10 => "PreValidation",
        20 => "PreOperation",
        30 => "MainOperation",
        40 => "PostOperation",
        _ => "stage",
    }
}

/// The execution tree of a case's log, with aliases in place of GUIDs.
pub fn nodes(events: &[Event], aliases: &Aliases) -> Vec<Node> {
    events.iter().map(|e| node(e, aliases)).collect()
}

fn node(e: &Event, aliases: &Aliases) -> Node {
    match e {
        Event::Request {
            depth,
            message,
            table,
            caller,
            initiating,
            via,
            impersonator,
            sent,
            written: changes,
            rolled_back,
            outcome,
            duration,
            ..
        } => Node {
            level: (2 * (*depth - 1)).max(0) as usize,
            depth: *depth,
            kind: NodeKind::Request {
                message: message.clone(),
                table: table.clone(),
                caller: aliases.name_of(*caller),
                initiating: aliases.name_of(*initiating),
                via: *via,
                impersonator: impersonator.map(|i| aliases.name_of(i)),
                sent: sent.clone(),
                written: written(changes, *rolled_back, aliases),
            },
            outcome: Outcome::of(outcome, aliases),
            duration: *duration,
        },
        Event::Step {
            depth,
            stage,
            mode,
            name,
            plugin,
            user_id,
            initiating_user_id,
            in_transaction,
            outcome,
            duration,
            trace,
        } => Node {
            level: (2 * (*depth - 1) + 1).max(0) as usize,
            depth: *depth,
            kind: NodeKind::Step {
                stage: *stage,
                asynchronous: *mode == 1,
                name: name.clone(),
                plugin: plugin.clone(),
                user_id: aliases.name_of(*user_id),
                initiating_user_id: aliases.name_of(*initiating_user_id),
                in_transaction: *in_transaction,
                trace: aliases.humanize(trace),
            },
            outcome: Outcome::of(outcome, aliases),
            duration: *duration,
        },
        Event::Http { depth, method, url, user_id, outcome, body_bytes, duration } => http_node(
            *depth,
            NodeKind::Http {
                method: method.clone(),
                url: url.clone(),
                user_id: aliases.name_of(*user_id),
                answered_by: None,
                status: None,
                body_bytes: *body_bytes,
            },
            outcome,
            *duration,
        ),
        Event::RunAsync { jobs } => Node {
            level: 0,
            depth: 0,
            kind: NodeKind::RunAsync { jobs: *jobs },
            outcome: Outcome::Ok,
            duration: Duration::ZERO,
        },
    }
}

/// A request sits one level below the step that sent it, where that step's service calls sit.
fn http_node(depth: i32, mut kind: NodeKind, outcome: &HttpOutcome, duration: Duration) -> Node {
    let failed = |code: &str, message: String| Outcome::Failed { code: code.into(), message };
    let outcome = match outcome {
        HttpOutcome::Answered { source, status } => {
            if let NodeKind::Http { answered_by, status: s, .. } = &mut kind {
                *answered_by = Some(source.clone());
                *s = Some(*status);
            }
            Outcome::Ok
        }
        HttpOutcome::Denied(why) => failed("denied", why.clone()),
        HttpOutcome::Refused(why) => failed("connection refused", why.clone()),
        other @ HttpOutcome::TimedOut { source, .. } | other @ HttpOutcome::TimeLimit { source } => {
            if let NodeKind::Http { answered_by, .. } = &mut kind {
                *answered_by = Some(source.clone());
            }
            failed("timeout", other.describe())
        }
    };
    Node { level: (2 * depth).max(0) as usize, depth, kind, outcome, duration }
}

impl Node {
    /// The node's line in the text tree (without indentation).
    pub fn line(&self) -> String {
        match &self.kind {
            NodeKind::RunAsync { jobs } => {
                format!("runasync: {jobs} queued asynchronous job{}", if *jobs == 1 { "" } else { "s" })
            }
            NodeKind::Request { message, table, caller, initiating, via, impersonator, .. } => {
                let via = via.map(|v| format!(" via CreateOrganizationService({v})")).unwrap_or_default();
                let by = impersonator.as_ref().map(|i| format!(" impersonated by {i}")).unwrap_or_default();
                format!(
                    "{message} {table} as {caller}{via}{by} (initiating {initiating}, depth {}): {}",
                    self.depth, self.outcome
                )
            }
            NodeKind::Step {
                stage, asynchronous, name, plugin, user_id, initiating_user_id, in_transaction, ..
            } => {
                format!(
                    "{} ({stage}{}) step {name:?} [{plugin}] UserId={user_id} InitiatingUserId={initiating_user_id}{}: {} in {:.1} ms",
                    stage_name(*stage),
                    if *asynchronous { ", async" } else { "" },
                    if *in_transaction { ", in transaction" } else { "" },
                    self.outcome,
                    self.duration.as_secs_f64() * 1000.0
                )
            }
            NodeKind::Http { method, url, user_id, answered_by, status, body_bytes } => {
                let body = body_bytes.map(|n| format!(", {n}-byte body")).unwrap_or_default();
                let answer = match (status, answered_by) {
                    (Some(status), Some(stub)) => format!("{status} from stub {stub}"),
                    _ => self.outcome.to_string(),
                };
                format!(
                    "HTTP {method} {url} as {user_id}{body}: {answer} in {:.1} ms",
                    self.duration.as_secs_f64() * 1000.0
                )
            }
        }
    }
}

/// The execution tree as indented text: each request with the user it ran as, the columns it sent and the
/// records it wrote, the steps it ran with their `UserId` and `InitiatingUserId`, under each step the calls it
/// made; the asynchronous jobs under the `runasync` that ran them.
pub fn tree(nodes: &[Node]) -> String {
    let mut out = String::new();
    for n in nodes {
        let indent = "  ".repeat(n.level);
        let _ = writeln!(out, "{indent}{}", n.line());
        if let NodeKind::Request { sent, written, .. } = &n.kind {
            if !sent.is_empty() {
                let _ = writeln!(out, "{indent}  sent: {}", sent.join(", "));
            }
            for w in written {
                let _ = writeln!(out, "{indent}  wrote: {}", w.line());
            }
        }
    }
    out
}

/// What a session did, for a report: its nodes, the tree as text (closed by what the full log left out), and
/// the traces.
pub fn rendered(session: &Session, aliases: &Aliases) -> (Vec<Node>, String, String) {
    let nodes = nodes(session.log(), aliases);
    let tree = tree(&nodes) + &dropped(session.log_dropped());
    (nodes, tree, traces(session.traces(), aliases))
}

/// The line that closes a tree whose log was full, saying how much is missing.
fn dropped(events: usize) -> String {
    if events == 0 {
        return String::new();
    }
    format!("… and {events} more requests and steps, not logged (a case logs {})\n", crate::pipeline::MAX_LOG_EVENTS)
}

/// The trace text of each step that ran, headed by the step.
pub fn traces(records: &[TraceRecord], aliases: &Aliases) -> String {
    let mut out = String::new();
    for r in records.iter().filter(|r| !r.text.is_empty() || r.exception.is_some()) {
        let _ = writeln!(out, "--- trace of {:?} (stage {}, depth {}) ---", r.step, r.stage, r.depth);
        out.push_str(&aliases.humanize(&r.text));
        if !r.text.ends_with('\n') && !r.text.is_empty() {
            out.push('\n');
        }
        if let Some(e) = &r.exception {
            let _ = writeln!(out, "exception: {}", aliases.humanize(e));
        }
    }
    out
}

/// Writes results as plain lines: one per case, details of failures, and the closing count.
#[derive(Debug, Clone, Copy, Default)]
pub struct HumanReporter {
    /// Prints the execution tree of passing cases too.
    pub verbose: bool,
    /// Prints nothing for passing cases.
    pub quiet: bool,
    /// Marks PASS and FAIL with ANSI colours (the caller decides: a terminal, and `NO_COLOR` unset).
    pub color: bool,
}

const PASS: Style = AnsiColor::Green.on_default().bold();
const FAIL: Style = AnsiColor::Red.on_default().bold();
const DIM: Style = Style::new().dimmed();

impl HumanReporter {
    fn paint(&self, style: Style, text: &str) -> String {
        if self.color { format!("{style}{text}{style:#}") } else { text.to_owned() }
    }

    /// The lines of one case: a status line, and for a failure what went wrong, the tree and the traces.
    pub fn case(&self, r: &CaseResult) -> String {
        if r.passed && self.quiet {
            return String::new();
        }
        let status = if r.passed { self.paint(PASS, "  PASS") } else { self.paint(FAIL, "  FAIL") };
        let mut out = format!("{status} [{:>8.3}s] {}\n", r.duration.as_secs_f64(), r.id());
        if !r.passed {
            for f in &r.failures {
                let _ = writeln!(out, "         {f}");
            }
        }
        if !r.passed || self.verbose {
            for line in r.tree.lines() {
                let _ = writeln!(out, "         {} {line}", self.paint(DIM, "|"));
            }
        }
        if !r.passed && !r.traces.is_empty() {
            for line in r.traces.lines() {
                let _ = writeln!(out, "         {} {line}", self.paint(DIM, ":"));
            }
        }
        out
    }

    /// A case that was not run after an earlier failure (`--fail-fast`).
    pub fn skipped(&self, id: &str) -> String {
        if self.quiet { String::new() } else { format!("  SKIP [  -.---s] {id}\n") }
    }

    /// After the summary line: the failed cases again, each with its first failure, so a long run's end
    /// says what to look at. Empty when none failed.
    pub fn recap(&self, failed: &[(String, String)]) -> String {
        if failed.is_empty() {
            return String::new();
        }
        let mut out = format!("{}:\n", self.paint(FAIL, "Failed cases"));
        for (id, first) in failed {
            let _ = writeln!(out, "  {id}");
            if !first.is_empty() {
                let _ = writeln!(out, "      {first}");
            }
        }
        out
    }

    /// `N passed, N failed` (`, N skipped` when some were not run): the closing line CI tools read.
    pub fn summary(stats: &RunStats) -> String {
        let mut line = format!("{} passed, {} failed", stats.passed, stats.failed);
        if stats.skipped > 0 {
            let _ = write!(line, ", {} skipped", stats.skipped);
        }
        line
    }
}

/// A whole run as the file reports see it: every result, in the order of the suites and their cases
/// (whatever order the cases finished in).
pub struct Collected {
    suites: Vec<(String, PathBuf, Vec<String>)>,
    finished: HashMap<(PathBuf, String), CaseResult>,
    skipped: HashSet<(PathBuf, String)>,
    started: DateTime<Utc>,
    clock: Instant,
    /// The run's wall time, set by [`Collected::finish`].
    pub duration: Duration,
    /// The errors that refused the input (exit 2): nothing ran, and the reports show them as failed tests.
    pub input_errors: Vec<crate::input::FileError>,
}

/// One suite's part of a run.
pub struct SuiteReport<'c> {
    pub name: String,
    pub file: String,
    pub finished: Vec<&'c CaseResult>,
    pub skipped: Vec<String>,
}

impl Collected {
    /// Starts collecting the results of `suites` (call before handing them to the runner).
    pub fn new(suites: &[Suite]) -> Self {
        let suites =
            suites.iter().map(|s| (s.name.clone(), s.file.clone(), s.cases.iter().map(|c| c.name.clone()).collect()));
        Collected {
            suites: suites.collect(),
            finished: HashMap::new(),
            skipped: HashSet::new(),
            started: Utc::now(),
            clock: Instant::now(),
            duration: Duration::ZERO,
            input_errors: Vec::new(),
        }
    }

    /// A run refused before it started: its reports show each file in error as a failed test.
    pub fn refused(errors: &crate::input::FileErrors) -> Self {
        Collected { input_errors: errors.iter().cloned().collect(), ..Collected::new(&[]) }
    }

    /// The files in error, in the order first named, each with its errors.
    pub fn input_errors_by_file(&self) -> Vec<(String, Vec<&crate::input::FileError>)> {
        let mut by_file: Vec<(String, Vec<&crate::input::FileError>)> = Vec::new();
        for e in &self.input_errors {
            let file = e.file.display().to_string();
            match by_file.iter_mut().find(|(f, _)| *f == file) {
                Some((_, errors)) => errors.push(e),
                None => by_file.push((file, vec![e])),
            }
        }
        by_file
    }

    /// Keeps what `event` says about a case (the result itself, not a copy).
    pub fn record(&mut self, event: RunEvent) {
        match event {
            RunEvent::Started { .. } => {}
            RunEvent::CaseFinished(r) => {
                self.finished.insert((r.file.clone(), r.case.clone()), *r);
            }
            RunEvent::CaseSkipped { file, case, .. } => {
                self.skipped.insert((file, case));
            }
        }
    }

    pub fn finish(&mut self) {
        self.duration = self.clock.elapsed();
    }

    /// The suites that ran at least one case, each with its cases in file order.
    pub fn suites(&self) -> Vec<SuiteReport<'_>> {
        let mut out = Vec::new();
        for (name, file, cases) in &self.suites {
            let key = |c: &String| (file.clone(), c.clone());
            let finished: Vec<&CaseResult> = cases.iter().filter_map(|c| self.finished.get(&key(c))).collect();
            let skipped: Vec<String> = cases.iter().filter(|c| self.skipped.contains(&key(c))).cloned().collect();
            if !finished.is_empty() || !skipped.is_empty() {
                out.push(SuiteReport { name: name.clone(), file: file.display().to_string(), finished, skipped });
            }
        }
        out
    }

    /// (cases reported, failed, skipped after a failure); each file in error counts as a failed test.
    pub fn stats(&self) -> (usize, usize, usize) {
        let refused = self.input_errors_by_file().len();
        let failed = self.finished.values().filter(|r| !r.passed).count() + refused;
        (self.finished.len() + self.skipped.len() + refused, failed, self.skipped.len())
    }

    /// When the run started, as ISO 8601 (what JUnit's `timestamp` holds).
    pub fn timestamp(&self) -> String {
        self.started.to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}
