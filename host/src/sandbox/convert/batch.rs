//! Conversions of what PIPE-17 and KEY-1 add to the interface: key attributes, and the requests and responses
//! inside batches, which WIT carries one level deep (`inner-*`) since its types cannot hold themselves.

use xrm_model as m;

use super::{from_parameter_value, from_value, guid, parameter_value, uuid, value};
use crate::sandbox::bindings::xrm::plugin::types as w;

pub fn keys(keys: &m::KeyAttributes) -> Vec<w::KeyAttribute> {
    keys.iter().map(|(name, v)| w::KeyAttribute { name: name.clone(), value: key_value(v) }).collect()
}

/// A key's value (or a party's column); a lookup keeps only the record it points to ([`w::KeyLookup`]), and a
/// value no key column holds (choices, party lists) is empty; an aliased value gives the value it carries.
fn key_value(v: &m::Value) -> w::KeyValue {
    match value(v.unaliased()) {
        w::Value::Null | w::Value::Choices(_) | w::Value::Entities(_) | w::Value::Aliased(_) => w::KeyValue::Null,
        w::Value::Text(s) => w::KeyValue::Text(s),
        w::Value::Integer(n) => w::KeyValue::Integer(n),
        w::Value::Bigint(n) => w::KeyValue::Bigint(n),
        w::Value::Double(n) => w::KeyValue::Double(n),
        w::Value::Boolean(b) => w::KeyValue::Boolean(b),
        w::Value::Decimal(s) => w::KeyValue::Decimal(s),
        w::Value::Money(s) => w::KeyValue::Money(s),
        w::Value::Datetime(t) => w::KeyValue::Datetime(t),
        w::Value::Guid(g) => w::KeyValue::Guid(g),
        w::Value::Choice(n) => w::KeyValue::Choice(n),
        w::Value::Lookup(r) => w::KeyValue::Lookup(w::KeyLookup { logical_name: r.logical_name, id: r.id }),
    }
}

pub fn from_keys(keys: Vec<w::KeyAttribute>) -> m::KeyAttributes {
    keys.into_iter().map(|k| (k.name, from_key_value(k.value))).collect()
}

fn from_key_value(v: w::KeyValue) -> m::Value {
    from_value(match v {
        w::KeyValue::Null => w::Value::Null,
        w::KeyValue::Text(s) => w::Value::Text(s),
        w::KeyValue::Integer(n) => w::Value::Integer(n),
        w::KeyValue::Bigint(n) => w::Value::Bigint(n),
        w::KeyValue::Double(n) => w::Value::Double(n),
        w::KeyValue::Boolean(b) => w::Value::Boolean(b),
        w::KeyValue::Decimal(s) => w::Value::Decimal(s),
        w::KeyValue::Money(s) => w::Value::Money(s),
        w::KeyValue::Datetime(t) => w::Value::Datetime(t),
        w::KeyValue::Guid(g) => w::Value::Guid(g),
        w::KeyValue::Choice(n) => w::Value::Choice(n),
        w::KeyValue::Lookup(l) => w::Value::Lookup(w::EntityReference {
            logical_name: l.logical_name,
            id: l.id,
            name: None,
            key_attributes: Vec::new(),
        }),
    })
}

/// The batch kinds of a parameter value; `None` for the other kinds.
pub fn batch_value(p: &m::ParameterValue) -> Option<Result<w::ParameterValue, m::Fault>> {
    Some(match p {
        m::ParameterValue::Metadata(md) => Ok(w::ParameterValue::Metadata(super::metadata::metadata(md))),
        m::ParameterValue::Guids(ids) => Ok(w::ParameterValue::Guids(ids.iter().copied().map(guid).collect())),
        m::ParameterValue::Requests(rs) => {
            batch(w::BatchKind::Requests, rs.iter().map(|r| message(&r.message, &r.parameters)).collect())
        }
        m::ParameterValue::Responses(rs) => {
            batch(w::BatchKind::Responses, rs.iter().map(|r| message(&r.message, &r.results)).collect())
        }
        m::ParameterValue::ExecuteMultipleSettings(s) => {
            Ok(w::ParameterValue::ExecuteMultipleSettings(w::ExecuteMultipleSettings {
                continue_on_error: s.continue_on_error,
                return_responses: s.return_responses,
            }))
        }
        m::ParameterValue::ExecuteMultipleResponses(items) => response_items(items),
        _ => return None,
    })
}

/// The batch kinds of a WIT parameter value ([`super::from_parameter_value`] reads the others).
pub fn from_batch_value(p: w::ParameterValue) -> Result<m::ParameterValue, m::Fault> {
    match p {
        w::ParameterValue::Metadata(md) => Ok(m::ParameterValue::Metadata(super::metadata::from_metadata(md))),
        w::ParameterValue::Guids(ids) => Ok(m::ParameterValue::Guids(ids.into_iter().map(uuid).collect())),
        w::ParameterValue::Batch(b) => from_batch(b),
        w::ParameterValue::ExecuteMultipleSettings(s) => {
            Ok(m::ParameterValue::ExecuteMultipleSettings(m::ExecuteMultipleSettings {
                continue_on_error: s.continue_on_error,
                return_responses: s.return_responses,
            }))
        }
        // The other kinds go through `from_parameter_value`, which sends only these here.
        _ => Err(m::Fault::new(m::codes::INVALID_ARGUMENT, "an unknown kind of parameter")),
    }
}

/// A parameter inside a batch: any kind but the batch kinds, which do not nest.
fn inner_value(p: &m::ParameterValue) -> Result<w::InnerValue, m::Fault> {
    Ok(match parameter_value(p)? {
        w::ParameterValue::Value(v) => w::InnerValue::Value(v),
        w::ParameterValue::Entity(e) => w::InnerValue::Entity(e),
        w::ParameterValue::EntityCollection(c) => w::InnerValue::EntityCollection(c),
        w::ParameterValue::EntityReferences(rs) => w::InnerValue::EntityReferences(rs),
        w::ParameterValue::ColumnSet(c) => w::InnerValue::ColumnSet(c),
        w::ParameterValue::Query(q) => w::InnerValue::Query(q),
        w::ParameterValue::Relationship(r) => w::InnerValue::Relationship(r),
        w::ParameterValue::PrincipalAccess(pa) => w::InnerValue::PrincipalAccess(pa),
        w::ParameterValue::Guids(ids) => w::InnerValue::Guids(ids),
        w::ParameterValue::Metadata(md) => w::InnerValue::Metadata(md),
        _ => return Err(nested()),
    })
}

fn from_inner_value(p: w::InnerValue) -> Result<m::ParameterValue, m::Fault> {
    from_parameter_value(match p {
        w::InnerValue::Value(v) => w::ParameterValue::Value(v),
        w::InnerValue::Entity(e) => w::ParameterValue::Entity(e),
        w::InnerValue::EntityCollection(c) => w::ParameterValue::EntityCollection(c),
        w::InnerValue::EntityReferences(rs) => w::ParameterValue::EntityReferences(rs),
        w::InnerValue::ColumnSet(c) => w::ParameterValue::ColumnSet(c),
        w::InnerValue::Query(q) => w::ParameterValue::Query(q),
        w::InnerValue::Relationship(r) => w::ParameterValue::Relationship(r),
        w::InnerValue::PrincipalAccess(pa) => w::ParameterValue::PrincipalAccess(pa),
        w::InnerValue::Guids(ids) => w::ParameterValue::Guids(ids),
        w::InnerValue::Metadata(md) => w::ParameterValue::Metadata(md),
    })
}

fn inner_parameters(ps: &m::Parameters) -> Result<Vec<w::InnerParameter>, m::Fault> {
    ps.iter().map(|(name, v)| Ok(w::InnerParameter { name: name.clone(), value: inner_value(v)? })).collect()
}

fn from_inner_parameters(ps: Vec<w::InnerParameter>) -> Result<m::Parameters, m::Fault> {
    ps.into_iter().map(|p| Ok((p.name, from_inner_value(p.value)?))).collect()
}

fn message(name: &str, parameters: &m::Parameters) -> Result<w::InnerMessage, m::Fault> {
    Ok(w::InnerMessage { message_name: name.to_owned(), parameters: inner_parameters(parameters)? })
}

fn batch(kind: w::BatchKind, messages: Result<Vec<w::InnerMessage>, m::Fault>) -> Result<w::ParameterValue, m::Fault> {
    Ok(w::ParameterValue::Batch(w::Batch { kind, messages: messages?, items: Vec::new() }))
}

/// The items of an `ExecuteMultiple` response: each response goes to the batch's messages, named by its index.
fn response_items(items: &[m::ExecuteMultipleResponseItem]) -> Result<w::ParameterValue, m::Fault> {
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
        let fault = item.fault.as_ref().map(super::fault);
        wit_items.push(w::ExecuteMultipleResponseItem { request_index: item.request_index, response, fault });
    }
    let kind = w::BatchKind::ExecuteMultipleResponses;
    Ok(w::ParameterValue::Batch(w::Batch { kind, messages, items: wit_items }))
}

fn from_batch(b: w::Batch) -> Result<m::ParameterValue, m::Fault> {
    let messages = b.messages.into_iter().map(|msg| Ok((msg.message_name, from_inner_parameters(msg.parameters)?)));
    let messages = messages.collect::<Result<Vec<_>, m::Fault>>()?;
    Ok(match b.kind {
        w::BatchKind::Requests => m::ParameterValue::Requests(
            messages.into_iter().map(|(message, parameters)| m::Request { message, parameters }).collect(),
        ),
        w::BatchKind::Responses => m::ParameterValue::Responses(
            messages.into_iter().map(|(message, results)| m::Response { message, results }).collect(),
        ),
        w::BatchKind::ExecuteMultipleResponses => {
            let mut responses: Vec<Option<m::Response>> =
                messages.into_iter().map(|(message, results)| Some(m::Response { message, results })).collect();
            let items = b.items.into_iter().map(|item| {
                let response = match item.response {
                    // Each response belongs to one item.
                    Some(at) => Some(responses.get_mut(at as usize).and_then(Option::take).ok_or_else(|| {
                        m::Fault::new(
                            m::codes::INVALID_ARGUMENT,
                            format!("an ExecuteMultiple response item names message {at}, which its batch does not hold (or another item took)"),
                        )
                    })?),
                    None => None,
                };
                Ok(m::ExecuteMultipleResponseItem {
                    request_index: item.request_index,
                    response,
                    fault: item.fault.map(super::from_fault),
                })
            });
            m::ParameterValue::ExecuteMultipleResponses(items.collect::<Result<_, m::Fault>>()?)
        }
    })
}

fn nested() -> m::Fault {
    m::Fault::new(
        m::codes::INVALID_ARGUMENT,
        "a request or response inside a batch cannot itself hold requests or responses: batches do not nest",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items() -> m::ParameterValue {
        let created = m::Response::new("Create").with("id", m::Value::Guid(m::Uuid::from_u128(7)));
        let failed = m::Fault::new(m::codes::INVALID_ARGUMENT, "no");
        m::ParameterValue::ExecuteMultipleResponses(vec![
            m::ExecuteMultipleResponseItem { request_index: 0, response: None, fault: Some(failed) },
            m::ExecuteMultipleResponseItem { request_index: 1, response: Some(created), fault: None },
        ])
    }

    #[test]
    fn execute_multiple_items_cross_with_their_responses_by_index() {
        let Some(Ok(w::ParameterValue::Batch(b))) = batch_value(&items()) else { panic!("a batch") };
        assert_eq!((b.messages.len(), b.items[0].response, b.items[1].response), (1, None, Some(0)));
        assert_eq!(from_batch(b).unwrap(), items());
    }

    #[test]
    fn an_item_naming_a_message_its_batch_does_not_hold_is_refused() {
        let Some(Ok(w::ParameterValue::Batch(mut b))) = batch_value(&items()) else { panic!("a batch") };
        b.items[0].response = Some(0);
        let fault = from_batch(b).unwrap_err();
        assert!(fault.message.contains("names message 0"), "{}", fault.message);
    }
}
