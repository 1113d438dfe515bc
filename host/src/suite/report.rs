//! The human form of results: the execution tree of a case, its traces, and the reporter's lines.

use std::fmt::Write as _;

use xrm_model::Fault;

use super::check::Aliases;
use super::runner::{CaseResult, RunStats};
use crate::pipeline::{Event, TraceRecord};

fn outcome(o: &Option<Result<(), Fault>>, aliases: &Aliases) -> String {
    match o {
        Some(Ok(())) => "ok".into(),
        Some(Err(f)) => format!("failed {}: {}", f.code_hex(), aliases.humanize(&f.message)),
        None => "did not finish".into(),
    }
}

fn stage_name(stage: i32) -> &'static str {
    match stage {
        10 => "PreValidation",
        20 => "PreOperation",
        30 => "MainOperation",
        40 => "PostOperation",
        _ => "stage",
    }
}

/// The execution tree: each request with the user it ran as, the steps it ran with their `UserId` and
/// `InitiatingUserId`, and under each step the calls it made.
pub fn tree(events: &[Event], aliases: &Aliases) -> String {
    let mut out = String::new();
    // A step's calls are one level below it; requests at depth d sit below steps at depth d - 1.
    for e in events {
        match e {
            Event::Request { depth, message, table, caller, initiating, via, impersonator, outcome: o } => {
                let indent = "  ".repeat((2 * (*depth - 1)).max(0) as usize);
                let via = via.map(|v| format!(" via CreateOrganizationService({v})")).unwrap_or_default();
                let by = impersonator.map(|i| format!(" impersonated by {}", aliases.name_of(i))).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{indent}{message} {table} as {}{via}{by} (initiating {}, depth {depth}): {}",
                    aliases.name_of(*caller),
                    aliases.name_of(*initiating),
                    outcome(o, aliases)
                );
            }
            Event::Step {
                depth,
                stage,
                mode,
                name,
                plugin,
                user_id,
                initiating_user_id,
                in_transaction,
                outcome: o,
                duration,
            } => {
                let indent = "  ".repeat((2 * (*depth - 1) + 1).max(0) as usize);
                let _ = writeln!(
                    out,
                    "{indent}{} ({stage}{}) step {name:?} [{plugin}] UserId={} InitiatingUserId={}{}: {} in {:.1} ms",
                    stage_name(*stage),
                    if *mode == 1 { ", async" } else { "" },
                    aliases.name_of(*user_id),
                    aliases.name_of(*initiating_user_id),
                    if *in_transaction { ", in transaction" } else { "" },
                    outcome(o, aliases),
                    duration.as_secs_f64() * 1000.0
                );
            }
        }
    }
    out
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
pub struct HumanReporter {
    /// Prints the execution tree of passing cases too.
    pub verbose: bool,
}

impl HumanReporter {
    pub fn case(&self, r: &CaseResult) -> String {
        let status = if r.passed { "PASS" } else { "FAIL" };
        let mut out = format!("{status:>6} [{:>8.3}s] {}\n", r.duration.as_secs_f64(), r.id());
        if !r.passed {
            for f in &r.failures {
                let _ = writeln!(out, "         {f}");
            }
        }
        if !r.passed || self.verbose {
            for line in r.tree.lines() {
                let _ = writeln!(out, "         | {line}");
            }
        }
        if !r.passed && !r.traces.is_empty() {
            for line in r.traces.lines() {
                let _ = writeln!(out, "         : {line}");
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
