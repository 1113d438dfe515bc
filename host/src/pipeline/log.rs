//! What happened in a case, in order: requests, the steps they ran and the service calls those made, each
//! with the users it ran as; and the trace-log records of PIPE-13.

use std::time::Duration;

use chrono::{DateTime, Utc};
use xrm_model::{Entity, Fault, Uuid, Value};

use crate::sandbox::HttpOutcome;

/// One node of the execution tree; `depth` nests calls under the step that made them.
#[derive(Debug, Clone)]
pub enum Event {
    /// A request: the top-level one, or a service call from a plug-in (`via` is how the plug-in asked for
    /// its service: `null`, `empty`, `UserId`, `InitiatingUserId` or `user`).
    Request {
        depth: i32,
        message: String,
        table: String,
        caller: Uuid,
        initiating: Uuid,
        via: Option<&'static str>,
        /// The user impersonating the caller from outside (IMP-6), if any.
        impersonator: Option<Uuid>,
        /// Whether the request ran inside its parent's transaction (else it owned one, or none).
        in_transaction: bool,
        /// The columns of the record the request sent (its `Target`), in the order sent.
        sent: Vec<String>,
        /// The records the request's own operation wrote (its plug-ins' writes are their own requests).
        written: Vec<crate::store::Change>,
        /// Whether what it wrote was undone by the rollback of the transaction it ran in (PIPE-10).
        rolled_back: bool,
        outcome: Option<Result<(), Fault>>,
        /// From the start of the request to its end, the steps and calls it ran included.
        duration: Duration,
    },
    /// A step's execution.
    Step {
        depth: i32,
        stage: i32,
        mode: i32,
        name: String,
        plugin: String,
        user_id: Uuid,
        initiating_user_id: Uuid,
        in_transaction: bool,
        outcome: Option<Result<(), Fault>>,
        duration: Duration,
        /// What the plug-in wrote to its tracing service (the last 10 KB), whatever the trace-log setting.
        trace: String,
    },
    /// An HTTP request a step's plug-in sent, and what answered it (BOX-6).
    Http {
        depth: i32,
        method: String,
        url: String,
        /// The user the step ran as.
        user_id: Uuid,
        outcome: HttpOutcome,
        /// Bytes of the request body, if it was sent whole.
        body_bytes: Option<usize>,
        duration: Duration,
    },
    /// The case ran its queued asynchronous jobs (`runasync`): the job steps logged after it are its.
    RunAsync {
        /// How many jobs were queued when it started.
        jobs: usize,
    },
}

impl Event {
    /// Its estimated bytes, counted against the case's memory budget (BOX-5); a step's trace is counted when
    /// it is written into the event.
    pub(crate) fn bytes(&self) -> i64 {
        let text = match self {
            Event::Request { message, table, sent, .. } => {
                message.len() + table.len() + sent.iter().map(String::len).sum::<usize>()
            }
            Event::Step { name, plugin, trace, .. } => name.len() + plugin.len() + trace.len(),
            Event::Http { method, url, .. } => method.len() + url.len(),
            Event::RunAsync { .. } => 0,
        };
        i64::try_from(256 + text).unwrap_or(i64::MAX)
    }

    pub fn depth(&self) -> i32 {
        match self {
            Event::Request { depth, .. } | Event::Step { depth, .. } | Event::Http { depth, .. } => *depth,
            Event::RunAsync { .. } => 0,
        }
    }
}

/// Marks what the requests from `from` on wrote inside the transaction of the request logged at `from` as
/// rolled back: that request and the requests below it that ran in its transaction, not those that owned a
/// transaction of their own (a PreValidation step's calls, for one).
pub(in crate::pipeline) fn mark_rolled_back(log: &mut [Event], from: usize) {
    // For each depth, whether the latest request at that depth ran in the rolled-back transaction.
    let mut inside: Vec<bool> = Vec::new();
    for (i, event) in log.iter_mut().enumerate().skip(from) {
        let Event::Request { depth, in_transaction, written, rolled_back, .. } = event else { continue };
        let depth = usize::try_from(*depth).unwrap_or(0);
        let here = i == from || (*in_transaction && depth > 0 && inside.get(depth - 1).copied().unwrap_or(false));
        inside.resize(depth + 1, false);
        inside[depth] = here;
        if here && !written.is_empty() {
            *rolled_back = true;
        }
    }
}

/// The longest text of a written record the log keeps, in bytes.
const SHOWN_TEXT: usize = 256;

/// The records a request wrote, as the log keeps them for the tree and the report: a copy with long texts cut,
/// counted against the case's budget. The log lives as long as the case, so it must not hold the records
/// themselves: a later delete or a rollback gives them back to the store while the log would keep them
/// alive, uncounted (BOX-5).
pub(in crate::pipeline) fn shown(mut changes: Vec<crate::store::Change>) -> Vec<crate::store::Change> {
    let mut bytes = 0;
    let long = |value: &Value| matches!(value, Value::Text(text) if text.len() > SHOWN_TEXT);
    for change in &mut changes {
        // A record without long texts is shared with the store, not copied: the log still counts its size as
        // its own, so a record only the log keeps alive (deleted or rolled back later) stays counted.
        if change.record.attributes.values().any(long) {
            let mut record = Entity::clone(&change.record);
            for value in record.attributes.values_mut() {
                if let Value::Text(text) = value
                    && text.len() > SHOWN_TEXT
                {
                    let cut = (0..=SHOWN_TEXT).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
                    *text = format!("{}… ({} bytes)", &text[..cut], text.len());
                }
            }
            change.record = std::sync::Arc::new(record);
        }
        bytes += crate::budget::size::entity(&change.record);
    }
    crate::budget::add(i64::try_from(bytes).unwrap_or(i64::MAX));
    changes
}

/// A `plugintracelog` record (PIPE-13).
#[derive(Debug, Clone)]
pub struct TraceRecord {
    pub id: Uuid,
    pub type_name: String,
    pub step: String,
    pub step_id: Uuid,
    pub message: String,
    pub primary_entity: String,
    pub mode: i32,
    pub stage: i32,
    pub depth: i32,
    pub correlation_id: Uuid,
    pub request_id: Uuid,
    pub configuration: Option<String>,
    pub text: String,
    pub exception: Option<String>,
    pub started: DateTime<Utc>,
    pub duration: Duration,
    pub user_id: Uuid,
    pub initiating_user_id: Uuid,
}

impl TraceRecord {
    /// The record as a `plugintracelog` row.
    pub fn to_entity(&self) -> Entity {
        let mut e = Entity::with_id("plugintracelog", self.id);
        e.set("typename", self.type_name.clone())
            .set("messagename", self.message.clone())
            .set("primaryentity", self.primary_entity.clone())
            .set("mode", Value::Choice(self.mode))
            .set("operationtype", Value::Choice(1))
            .set("depth", self.depth)
            .set("correlationid", self.correlation_id)
            .set("requestid", self.request_id)
            .set("pluginstepid", self.step_id)
            .set("messageblock", self.text.clone())
            .set("performanceexecutionstarttime", self.started)
            .set("performanceexecutionduration", i32::try_from(self.duration.as_millis()).unwrap_or(i32::MAX));
        if let Some(config) = &self.configuration {
            e.set("configuration", config.clone());
        }
        if let Some(exception) = &self.exception {
            e.set("exceptiondetails", exception.clone());
        }
        e
    }
}

/// The trace text a trace-log record keeps: its last 10 KB (PIPE-13).
pub const TRACE_TEXT_LIMIT: usize = 10 * 1024;

/// The last `TRACE_TEXT_LIMIT` bytes of `text`, cut at a character boundary.
pub fn keep_tail(text: &str) -> String {
    if text.len() <= TRACE_TEXT_LIMIT {
        return text.to_owned();
    }
    let from = text.len() - TRACE_TEXT_LIMIT;
    let start = (from..text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
    text[start..].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_13_trace_text_keeps_its_last_10_kb_at_a_character_boundary() {
        assert_eq!(keep_tail("short"), "short");
        let long = format!("{}{}", "é".repeat(8 * 1024), "the end");
        let kept = keep_tail(&long);
        assert!(kept.len() <= TRACE_TEXT_LIMIT && kept.len() > TRACE_TEXT_LIMIT - 4);
        assert!(kept.ends_with("the end"));
        assert!(kept.starts_with('é'), "cut between characters, never inside one");
    }

    #[test]
    fn box_5_the_log_keeps_a_cut_copy_of_written_records_not_the_records() {
        let mut big = Entity::with_id("task", Uuid::from_u128(1));
        big.set("description", "é".repeat(100_000)).set("subject", "short");
        let record = std::sync::Arc::new(big);
        let change = crate::store::Change {
            table: "task".into(),
            id: Uuid::from_u128(1),
            kind: crate::store::ChangeKind::Created,
            columns: vec!["description".into(), "subject".into()],
            record: record.clone(),
        };
        let kept = shown(vec![change]);
        assert_eq!(std::sync::Arc::strong_count(&record), 1, "the log holds no reference to the stored record");
        let Some(Value::Text(description)) = kept[0].record.attributes.get("description") else { panic!() };
        assert!(description.len() < SHOWN_TEXT + 32 && description.ends_with("… (200000 bytes)"), "{description}");
        assert_eq!(kept[0].record.attributes.get("subject"), Some(&Value::Text("short".into())));
    }
}
