//! The bulk messages (PIPE-17): `CreateMultiple`, `UpdateMultiple` and `UpsertMultiple` write every target
//! in the request's one transaction, all or nothing; `frame`'s merged pipeline runs the steps of the bulk and
//! the single message around them.

use xrm_model::{Entity, Fault, ParameterValue, Request, Uuid, codes, messages};

use super::upsert;
use crate::deadline;
use crate::pipeline::frame::Frame;
use crate::pipeline::{CaseState, core};

/// A bulk request's targets, refused before any step runs when they cannot be written: none at all, one of
/// another table than the collection's [choice], or an UpdateMultiple target without id or key.
pub(in crate::pipeline) fn check_targets(request: &Request, table: &str) -> Result<(), Fault> {
    let invalid = |text: String| Err(Fault::new(codes::INVALID_ARGUMENT, text));
    let Some(ParameterValue::EntityCollection(targets)) = request.parameter(messages::TARGETS) else {
        return invalid(format!("the {} request needs Targets, an entity collection", request.message));
    };
    if targets.entities.is_empty() {
        return invalid(format!("the {} request needs at least one entity in Targets", request.message));
    }
    for (i, target) in targets.entities.iter().enumerate() {
        if target.logical_name != table {
            let other = &target.logical_name;
            return invalid(format!(
                "every entity of Targets must be of the table `{table}`: Targets[{i}] is `{other}`"
            ));
        }
        if request.message == messages::UPDATE_MULTIPLE && target.id.is_none() {
            return invalid(format!("Targets[{i}] of UpdateMultiple needs an id or the values of an alternate key"));
        }
    }
    Ok(())
}

/// CreateMultiple's core operation: each target created, their ids in `Ids`.
pub(in crate::pipeline) fn create_multiple(frame: &mut Frame, state: &mut CaseState) -> Result<(), Fault> {
    let (org, user, on_behalf) = (frame.org(), frame.call.caller, frame.call.impersonator);
    let now = state.clock.now();
    let store = state.store.data_mut();
    let mut ids = Vec::with_capacity(frame.targets().len());
    let mut records = Vec::with_capacity(frame.targets().len());
    for target in frame.targets().to_vec() {
        deadline::check()?;
        let id = core::create(org, store, user, on_behalf, target, now)?;
        ids.push(id);
        records.push(store.get(&frame.table, id).cloned());
    }
    frame.post_records = records;
    frame.output.insert(messages::IDS.into(), ParameterValue::Guids(ids));
    Ok(())
}

/// UpdateMultiple's core operation: each target updated.
pub(in crate::pipeline) fn update_multiple(frame: &mut Frame, state: &mut CaseState) -> Result<(), Fault> {
    let (org, user, on_behalf) = (frame.org(), frame.call.caller, frame.call.impersonator);
    let now = state.clock.now();
    let store = state.store.data_mut();
    let mut records = Vec::with_capacity(frame.targets().len());
    for target in frame.targets().to_vec() {
        deadline::check()?;
        let id = target.id.unwrap_or_default();
        core::update(org, store, user, on_behalf, target, now)?;
        records.push(store.get(&frame.table, id).cloned());
    }
    frame.post_records = records;
    Ok(())
}

/// UpsertMultiple's core operation: each target upserted as `Upsert` does (through the pipeline of the Create
/// or Update it becomes), each target's `UpsertResponse` in `Results`.
pub(in crate::pipeline) fn upsert_multiple(frame: &mut Frame, state: &mut CaseState) -> Result<(), Fault> {
    let mut results = Vec::with_capacity(frame.targets().len());
    let mut records = Vec::with_capacity(frame.targets().len());
    for target in frame.targets().to_vec() {
        deadline::check()?;
        let response = upsert::apply(frame, state, target)?;
        let id = match response.results.get(messages::TARGET) {
            Some(ParameterValue::Value(xrm_model::Value::Lookup(r))) => r.id,
            _ => Uuid::nil(),
        };
        records.push(state.store.data().get(&frame.table, id).cloned());
        results.push(response);
    }
    frame.post_records = records;
    frame.output.insert(messages::RESULTS.into(), ParameterValue::Responses(results));
    Ok(())
}

/// The targets of a bulk request as single requests, for the checks each would pass (SEC-5).
pub(in crate::pipeline) fn as_single(request: &Request) -> Vec<Request> {
    let single = messages::merged_with(&request.message).unwrap_or_default();
    let targets: &[Entity] = match request.parameter(messages::TARGETS) {
        Some(ParameterValue::EntityCollection(c)) => &c.entities,
        _ => &[],
    };
    targets.iter().map(|t| Request::new(single).with(messages::TARGET, t.clone())).collect()
}
