//! `Upsert` (PIPE-17): creates the record, or updates it when its id or alternate key names one that exists,
//! through the pipeline of the operation it became.

use std::sync::Arc;

use xrm_model::{Entity, EntityReference, Fault, ParameterValue, Request, Response, Uuid, Value, codes, messages};

use crate::org::Organization;
use crate::pipeline::CaseState;
use crate::pipeline::frame::{Call, Frame, run};
use crate::pipeline::keys;
use crate::store::Store;

/// Upsert's core operation: its Target created or updated, `RecordCreated` and `Target` in the response.
pub(in crate::pipeline) fn run_upsert(frame: &mut Frame, state: &mut CaseState) -> Result<(), Fault> {
    let target = frame
        .request
        .target_entity()
        .cloned()
        .ok_or_else(|| Fault::new(codes::INVALID_ARGUMENT, "the Upsert request needs an entity Target"))?;
    let response = apply(frame, state, target)?;
    if let Some(ParameterValue::Value(Value::Lookup(r))) = response.results.get(messages::TARGET) {
        frame.primary_id = r.id;
        frame.post_record = state.store.data().get(&frame.table, r.id).cloned();
    }
    frame.output.extend(response.results);
    Ok(())
}

/// Creates or updates one record as Upsert does: the record its id or key names is updated (with that id),
/// else a record is created with the key's values as columns. The Create or Update runs as a child pipeline of
/// `frame`'s, so the steps of the operation the Upsert became run [choice]: same calling user and Depth, in
/// its transaction, with the Upsert's context as `ParentContext`.
pub(in crate::pipeline) fn apply(frame: &Frame, state: &mut CaseState, mut target: Entity) -> Result<Response, Fault> {
    let existing = existing(frame.org(), state.store.data(), &target)?;
    let request = match existing {
        Some(id) => {
            target.id = Some(id);
            Request::update(target.clone())
        }
        None => {
            keys::copy_keys_into_columns(&mut target);
            Request::create(target.clone())
        }
    };
    let response = run(frame.pipeline, state, child_call(frame), request)?;
    let id = match (existing, response.results.get(messages::ID)) {
        (Some(id), _) => id,
        (None, Some(ParameterValue::Value(Value::Guid(id)))) => *id,
        (None, _) => return Err(Fault::new(codes::INVALID_ARGUMENT, "the Create of an Upsert gave no id")),
    };
    let reference = EntityReference::new(target.logical_name, id);
    Ok(Response::new(messages::UPSERT)
        .with(messages::RECORD_CREATED, existing.is_none())
        .with(messages::TARGET, Value::Lookup(reference)))
}

/// The id of the record an Upsert's target names, if it exists: by its id, else by its key attributes.
pub(in crate::pipeline) fn existing(org: &Organization, store: &Store, target: &Entity) -> Result<Option<Uuid>, Fault> {
    let table = org.require_table(&target.logical_name)?;
    match target.id {
        Some(id) => Ok(store.contains(&table.logical_name, id).then_some(id)),
        None if target.key_attributes.is_empty() => Ok(None),
        None => keys::find(org, store, &table.logical_name, &target.key_attributes),
    }
}

/// The call of the Create or Update an Upsert becomes: the Upsert's caller, at its depth, in its transaction.
fn child_call(frame: &Frame) -> Call {
    let call = &frame.call;
    Call {
        caller: call.caller,
        initiating: call.initiating,
        depth: call.depth,
        correlation_id: call.correlation_id,
        parent: Some(Arc::new(frame.base_context(30, call.caller, true))),
        in_transaction: true,
        tag: call.tag.clone(),
        via: None,
        impersonator: call.impersonator,
        authenticated: call.authenticated,
        user_agent: call.user_agent.clone(),
    }
}
