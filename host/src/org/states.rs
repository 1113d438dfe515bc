//! The state (`statecode`) and status (`statuscode`) options of tables: the built-in tables' real pairs, and
//! the pair every new custom table gets unless it declares its own (STATE-1).
//!
//! The values, labels and default statuses are the platform's, as its table definitions list them.

use std::collections::BTreeMap;

use xrm_model::{Entity, Fault, Uuid, Value, codes};

use super::metadata::{ColumnMeta, Options, StateOption, StatusOption};
use super::tables::Table;

/// A state: value, label, default status.
type State = (i32, &'static str, i32);
/// A status: value, label, the state it belongs to.
type Status = (i32, &'static str, i32);

/// Active (1) and Inactive (2), the pairs of account, contact and every new custom table.
const ACTIVE_INACTIVE: (&[State], &[Status]) =
    (&[(0, "Active", 1), (1, "Inactive", 2)], &[(1, "Active", 0), (2, "Inactive", 1)]);

/// The pairs of each built-in table that has them.
fn builtin(table: &str) -> Option<(&'static [State], &'static [Status])> {
    Some(match table {
        "account" | "contact" => ACTIVE_INACTIVE,
        "lead" => (
            &[(0, "Open", 1), (1, "Qualified", 3), (2, "Disqualified", 4)],
            &[
                (1, "New", 0),
                (2, "Contacted", 0),
                (3, "Qualified", 1),
                (4, "Lost", 2),
                (5, "Cannot Contact", 2),
                (6, "No Longer Interested", 2),
                (7, "Canceled", 2),
            ],
        ),
        "opportunity" => (
            &[(0, "Open", 1), (1, "Won", 3), (2, "Lost", 4)],
            &[(1, "In Progress", 0), (2, "On Hold", 0), (3, "Won", 1), (4, "Canceled", 2), (5, "Out-Sold", 2)],
        ),
        "task" => (
            &[(0, "Open", 2), (1, "Completed", 5), (2, "Canceled", 6)],
            &[
                (2, "Not Started", 0),
                (3, "In Progress", 0),
                (4, "Waiting on someone else", 0),
                (5, "Completed", 1),
                (6, "Canceled", 2),
                (7, "Deferred", 0),
            ],
        ),
        "email" => (
            &[(0, "Open", 1), (1, "Completed", 2), (2, "Canceled", 5)],
            &[
                (1, "Draft", 0),
                (2, "Completed", 1),
                (3, "Sent", 1),
                (4, "Received", 1),
                (5, "Canceled", 2),
                (6, "Pending Send", 1),
                (7, "Sending", 1),
                (8, "Failed", 0),
            ],
        ),
        "appointment" => (
            &[(0, "Open", 1), (1, "Completed", 3), (2, "Canceled", 4), (3, "Scheduled", 5)],
            &[
                (1, "Free", 0),
                (2, "Tentative", 0),
                (3, "Completed", 1),
                (4, "Canceled", 2),
                (5, "Busy", 3),
                (6, "Out of Office", 3),
            ],
        ),
        "phonecall" => (
            &[(0, "Open", 1), (1, "Completed", 2), (2, "Canceled", 3)],
            &[(1, "Open", 0), (2, "Made", 1), (3, "Canceled", 2), (4, "Received", 1)],
        ),
        "letter" => (
            &[(0, "Open", 2), (1, "Completed", 4), (2, "Canceled", 5)],
            &[(1, "Open", 0), (2, "Draft", 0), (3, "Received", 1), (4, "Sent", 1), (5, "Canceled", 2)],
        ),
        "fax" => (
            &[(0, "Open", 1), (1, "Completed", 2), (2, "Canceled", 5)],
            &[(1, "Open", 0), (2, "Completed", 1), (3, "Sent", 1), (4, "Received", 1), (5, "Canceled", 2)],
        ),
        _ => return None,
    })
}

/// Gives a built-in table its state/status pairs, when it has any.
pub(super) fn apply_builtin(table: &mut Table) {
    if let Some((states, statuses)) = builtin(&table.logical_name) {
        let state_label = if table.primary_id == "activityid" { "Activity Status" } else { "Status" };
        set(table, state_label, states, statuses);
    }
}

/// A new custom table gets Active/Inactive, as the platform creates it, unless it declared a State or Status
/// column of its own.
pub(super) fn apply_default(table: &mut Table) {
    let declared = table.column_meta.values().any(|m| matches!(m.options, Options::State(_) | Options::Status(_)));
    if !declared {
        set(table, "Status", ACTIVE_INACTIVE.0, ACTIVE_INACTIVE.1);
    }
}

fn set(table: &mut Table, state_label: &str, states: &[State], statuses: &[Status]) {
    let states: BTreeMap<i32, StateOption> = states
        .iter()
        .map(|(v, label, default)| (*v, StateOption { label: (*label).to_owned(), default_status: Some(*default) }))
        .collect();
    let statuses: BTreeMap<i32, StatusOption> = statuses
        .iter()
        .map(|(v, label, state)| (*v, StatusOption { label: (*label).to_owned(), state: *state }))
        .collect();
    let meta = |name: &str, options| ColumnMeta {
        display_name: Some(name.to_owned()),
        required_level: super::RequiredLevel::None,
        options,
        global_choice: None,
    };
    table.column_meta.insert("statecode".into(), meta(state_label, Options::State(states)));
    table.column_meta.insert("statuscode".into(), meta("Status Reason", Options::Status(statuses)));
}

impl Table {
    /// The options of the table's `statecode`, when it has any.
    pub fn states(&self) -> Option<&BTreeMap<i32, StateOption>> {
        match &self.column_meta("statecode")?.options {
            Options::State(states) if !states.is_empty() => Some(states),
            _ => None,
        }
    }

    /// The options of the table's `statuscode`, when it has any.
    pub fn statuses(&self) -> Option<&BTreeMap<i32, StatusOption>> {
        match &self.column_meta("statuscode")?.options {
            Options::Status(statuses) if !statuses.is_empty() => Some(statuses),
            _ => None,
        }
    }

    /// The status a record takes in `state` when none is given: the state's default status, else its first
    /// status; `None` when the table lists neither.
    pub fn default_status(&self, state: i32) -> Option<i32> {
        let declared = self.states().and_then(|s| s.get(&state)).and_then(|s| s.default_status);
        declared.or_else(|| self.statuses()?.iter().find(|(_, s)| s.state == state).map(|(v, _)| *v))
    }

    /// Settles `statecode` and `statuscode` of a write: `changes` is a Create's record (`current` none) or an
    /// Update's changes to `current`. A missing or `-1` status becomes the state's default when the state is set;
    /// a pair the table does not allow is refused with the platform's `0x80048408`.
    pub fn settle_state(&self, id: Uuid, current: Option<&Entity>, changes: &mut Entity) -> Result<(), Fault> {
        let table = self;
        let given_state = option(changes.get("statecode"));
        let raw_status = option(changes.get("statuscode"));
        let given_status = raw_status.filter(|s| *s != -1);
        let creating = current.is_none();
        if !creating && given_state.is_none() && raw_status.is_none() {
            return Ok(());
        }
        let state = given_state.or_else(|| option(current.and_then(|c| c.get("statecode")))).unwrap_or(0);
        if let Some(states) = table.states()
            && !states.contains_key(&state)
        {
            return Err(Fault::new(
                codes::INVALID_STATE_OR_STATUS,
                format!("{state} is not a valid state code on {} with Id {id}.", table.logical_name),
            ));
        }
        let status = match given_status {
            Some(status) => Some(status),
            None if creating || given_state.is_some() || raw_status == Some(-1) => table.default_status(state),
            None => option(current.and_then(|c| c.get("statuscode"))),
        };
        if let (Some(status), Some(statuses)) = (status, table.statuses())
            && statuses.get(&status).is_none_or(|s| s.state != state)
        {
            return Err(Fault::new(
                codes::INVALID_STATE_OR_STATUS,
                format!(
                    "{status} is not a valid status code for state code {} on {} with Id {id}.",
                    state_name(table, state),
                    table.logical_name
                ),
            ));
        }
        changes.set("statecode", Value::Choice(state));
        match status {
            Some(status) => {
                changes.set("statuscode", Value::Choice(status));
            }
            // No pairs to take a default from: `-1` is not stored as a status.
            None => {
                changes.attributes.remove("statuscode");
            }
        }
        Ok(())
    }
}

/// A choice value's number; `None` when absent or empty.
fn option(value: Option<&Value>) -> Option<i32> {
    match value? {
        Value::Choice(n) | Value::Integer(n) => Some(*n),
        _ => None,
    }
}

/// The state as the platform's messages name it: `AccountState.Active`, `TaskState.Open`.
fn state_name(table: &Table, state: i32) -> String {
    let label = table.states().and_then(|s| s.get(&state)).map(|s| s.label.as_str()).unwrap_or_default();
    let invariant: String = label.chars().filter(char::is_ascii_alphanumeric).collect();
    format!("{}State.{invariant}", table.schema_name)
}
