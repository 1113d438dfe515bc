//! SetState (STATE-2): the state, and the status or the state's default. The pairs themselves are checked on
//! every write, SetState's included, by the table (`Table::settle_state`, STATE-1).

use xrm_model::{Entity, EntityReference, Value};

/// The change SetState makes: the state, and the status unless none (or `-1`) was given (STATE-2).
pub fn set_state_change(target: &EntityReference, state: Value, status: Option<Value>) -> Entity {
    let mut change = Entity::with_id(target.logical_name.clone(), target.id);
    change.set("statecode", state);
    if let Some(status) = status {
        change.set("statuscode", status);
    }
    change
}
