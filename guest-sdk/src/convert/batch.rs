//! Key attributes and the requests and responses inside batches, both ways: WIT carries a batch's requests
//! and responses one level deep (`inner-*`), since its types cannot hold themselves.

use xrm_model::{ExecuteMultipleResponseItem, ExecuteMultipleSettings, Fault, KeyAttributes, ParameterValue, Request};
use xrm_model::{Parameters, Response, Value, codes};

use super::{from_wit, to_wit};
use crate::bindings::xrm::plugin::types as wit;

pub(crate) fn keys(keys: &KeyAttributes) -> Vec<wit::KeyAttribute> {
    keys.iter().map(|(name, v)| wit::KeyAttribute { name: name.clone(), value: key_value(v) }).collect()
}

/// A key's value; a lookup keeps only the record it points to, and a value no key column holds (choices) is
/// empty; an aliased value gives the value it carries.
fn key_value(v: &Value) -> wit::KeyValue {
    match to_wit::value(v.unaliased()) {
        wit::Value::Null | wit::Value::Choices(_) | wit::Value::Entities(_) | wit::Value::Aliased(_) => {
            wit::KeyValue::Null
        }
        wit::Value::Text(s) => wit::KeyValue::Text(s),
        wit::Value::Integer(n) => wit::KeyValue::Integer(n),
        wit::Value::Bigint(n) => wit::KeyValue::Bigint(n),
        wit::Value::Double(n) => wit::KeyValue::Double(n),
        wit::Value::Boolean(b) => wit::KeyValue::Boolean(b),
        wit::Value::Decimal(s) => wit::KeyValue::Decimal(s),
        wit::Value::Money(s) => wit::KeyValue::Money(s),
        wit::Value::Datetime(t) => wit::KeyValue::Datetime(t),
        wit::Value::Guid(g) => wit::KeyValue::Guid(g),
        wit::Value::Choice(n) => wit::KeyValue::Choice(n),
        wit::Value::Lookup(r) => wit::KeyValue::Lookup(wit::KeyLookup { logical_name: r.logical_name, id: r.id }),
    }
}

pub(crate) fn from_keys(keys: Vec<wit::KeyAttribute>) -> KeyAttributes {
    keys.into_iter().map(|k| (k.name, from_key_value(k.value))).collect()
}

fn from_key_value(v: wit::KeyValue) -> Value {
    from_wit::value(match v {
        wit::KeyValue::Null => wit::Value::Null,
        wit::KeyValue::Text(s) => wit::Value::Text(s),
        wit::KeyValue::Integer(n) => wit::Value::Integer(n),
        wit::KeyValue::Bigint(n) => wit::Value::Bigint(n),
        wit::KeyValue::Double(n) => wit::Value::Double(n),
        wit::KeyValue::Boolean(b) => wit::Value::Boolean(b),
        wit::KeyValue::Decimal(s) => wit::Value::Decimal(s),
        wit::KeyValue::Money(s) => wit::Value::Money(s),
        wit::KeyValue::Datetime(t) => wit::Value::Datetime(t),
        wit::KeyValue::Guid(g) => wit::Value::Guid(g),
        wit::KeyValue::Choice(n) => wit::Value::Choice(n),
        wit::KeyValue::Lookup(l) => wit::Value::Lookup(wit::EntityReference {
            logical_name: l.logical_name,
            id: l.id,
            name: None,
            key_attributes: Vec::new(),
        }),
    })
}

/// The batch kinds of a parameter value; `None` for the other kinds.
pub(crate) fn batch_value(p: &ParameterValue) -> Option<Result<wit::ParameterValue, Fault>> {
    Some(match p {
        ParameterValue::Metadata(md) => Ok(wit::ParameterValue::Metadata(super::metadata::metadata(md))),
        ParameterValue::Guids(ids) => Ok(wit::ParameterValue::Guids(ids.iter().copied().map(to_wit::guid).collect())),
        ParameterValue::Requests(rs) => {
            batch(wit::BatchKind::Requests, rs.iter().map(|r| message(&r.message, &r.parameters)).collect())
        }
        ParameterValue::Responses(rs) => {
            batch(wit::BatchKind::Responses, rs.iter().map(|r| message(&r.message, &r.results)).collect())
        }
        ParameterValue::ExecuteMultipleSettings(s) => {
            Ok(wit::ParameterValue::ExecuteMultipleSettings(wit::ExecuteMultipleSettings {
                continue_on_error: s.continue_on_error,
                return_responses: s.return_responses,
            }))
        }
        ParameterValue::ExecuteMultipleResponses(items) => response_items(items),
        _ => return None,
    })
}

/// The batch kinds of a WIT parameter value ([`from_wit::parameter_value`] reads the others).
pub(crate) fn from_batch_value(p: wit::ParameterValue) -> ParameterValue {
    match p {
        wit::ParameterValue::Metadata(md) => ParameterValue::Metadata(super::metadata::from_metadata(md)),
        wit::ParameterValue::Guids(ids) => ParameterValue::Guids(ids.into_iter().map(from_wit::uuid).collect()),
        wit::ParameterValue::Batch(b) => from_batch(b),
        wit::ParameterValue::ExecuteMultipleSettings(s) => {
            ParameterValue::ExecuteMultipleSettings(ExecuteMultipleSettings {
                continue_on_error: s.continue_on_error,
                return_responses: s.return_responses,
            })
        }
        // The other kinds go through `from_wit::parameter_value`, which sends only these here.
        _ => ParameterValue::Value(Value::Null),
    }
}

/// A parameter inside a batch: any kind but the batch kinds, which do not nest.
fn inner_value(p: &ParameterValue) -> Result<wit::InnerValue, Fault> {
    Ok(match to_wit::parameter_value(p)? {
        wit::ParameterValue::Value(v) => wit::InnerValue::Value(v),
        wit::ParameterValue::Entity(e) => wit::InnerValue::Entity(e),
        wit::ParameterValue::EntityCollection(c) => wit::InnerValue::EntityCollection(c),
        wit::ParameterValue::EntityReferences(rs) => wit::InnerValue::EntityReferences(rs),
        wit::ParameterValue::ColumnSet(c) => wit::InnerValue::ColumnSet(c),
        wit::ParameterValue::Query(q) => wit::InnerValue::Query(q),
        wit::ParameterValue::Relationship(r) => wit::InnerValue::Relationship(r),
        wit::ParameterValue::PrincipalAccess(pa) => wit::InnerValue::PrincipalAccess(pa),
        wit::ParameterValue::Guids(ids) => wit::InnerValue::Guids(ids),
        wit::ParameterValue::Metadata(md) => wit::InnerValue::Metadata(md),
        _ => return Err(nested()),
    })
}

fn from_inner_value(p: wit::InnerValue) -> ParameterValue {
    from_wit::parameter_value(match p {
        wit::InnerValue::Value(v) => wit::ParameterValue::Value(v),
        wit::InnerValue::Entity(e) => wit::ParameterValue::Entity(e),
        wit::InnerValue::EntityCollection(c) => wit::ParameterValue::EntityCollection(c),
        wit::InnerValue::EntityReferences(rs) => wit::ParameterValue::EntityReferences(rs),
        wit::InnerValue::ColumnSet(c) => wit::ParameterValue::ColumnSet(c),
        wit::InnerValue::Query(q) => wit::ParameterValue::Query(q),
        wit::InnerValue::Relationship(r) => wit::ParameterValue::Relationship(r),
        wit::InnerValue::PrincipalAccess(pa) => wit::ParameterValue::PrincipalAccess(pa),
        wit::InnerValue::Guids(ids) => wit::ParameterValue::Guids(ids),
        wit::InnerValue::Metadata(md) => wit::ParameterValue::Metadata(md),
    })
}

fn inner_parameters(ps: &Parameters) -> Result<Vec<wit::InnerParameter>, Fault> {
    ps.iter().map(|(name, v)| Ok(wit::InnerParameter { name: name.clone(), value: inner_value(v)? })).collect()
}

fn from_inner_parameters(ps: Vec<wit::InnerParameter>) -> Parameters {
    ps.into_iter().map(|p| (p.name, from_inner_value(p.value))).collect()
}

fn message(name: &str, parameters: &Parameters) -> Result<wit::InnerMessage, Fault> {
    Ok(wit::InnerMessage { message_name: name.to_owned(), parameters: inner_parameters(parameters)? })
}

fn batch(kind: wit::BatchKind, messages: Result<Vec<wit::InnerMessage>, Fault>) -> Result<wit::ParameterValue, Fault> {
    Ok(wit::ParameterValue::Batch(wit::Batch { kind, messages: messages?, items: Vec::new() }))
}

/// The items of an `ExecuteMultiple` response: each response goes to the batch's messages, named by its index.
fn response_items(items: &[ExecuteMultipleResponseItem]) -> Result<wit::ParameterValue, Fault> {
    let mut messages = Vec::new();
    let mut wit_items = Vec::with_capacity(items.len());
    for item in items {
        let response = match &item.response {
            Some(r) => {
                messages.push(message(&r.message, &r.results)?);
                Some(u32::try_from(messages.len() - 1).unwrap_or(u32::MAX))
            }
            None => None,
        };
        let fault = item.fault.as_ref().map(to_wit::fault);
        wit_items.push(wit::ExecuteMultipleResponseItem { request_index: item.request_index, response, fault });
    }
    let kind = wit::BatchKind::ExecuteMultipleResponses;
    Ok(wit::ParameterValue::Batch(wit::Batch { kind, messages, items: wit_items }))
}

fn from_batch(b: wit::Batch) -> ParameterValue {
    let messages = b.messages.into_iter().map(|msg| (msg.message_name, from_inner_parameters(msg.parameters)));
    match b.kind {
        wit::BatchKind::Requests => {
            ParameterValue::Requests(messages.map(|(message, parameters)| Request { message, parameters }).collect())
        }
        wit::BatchKind::Responses => {
            ParameterValue::Responses(messages.map(|(message, results)| Response { message, results }).collect())
        }
        wit::BatchKind::ExecuteMultipleResponses => {
            let mut responses: Vec<Option<Response>> =
                messages.map(|(message, results)| Some(Response { message, results })).collect();
            // The host names each response once; an index it did not send would read as no response.
            let items = b.items.into_iter().map(|item| ExecuteMultipleResponseItem {
                request_index: item.request_index,
                response: item.response.and_then(|at| responses.get_mut(at as usize).and_then(Option::take)),
                fault: item.fault.map(from_wit::fault),
            });
            ParameterValue::ExecuteMultipleResponses(items.collect())
        }
    }
}

fn nested() -> Fault {
    Fault::new(
        codes::INVALID_ARGUMENT,
        "a request or response inside a batch cannot itself hold requests or responses: batches do not nest",
    )
}
