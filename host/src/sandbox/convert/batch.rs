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
            rs.iter().map(inner_request).collect::<Result<_, _>>().map(w::ParameterValue::Requests)
        }
        m::ParameterValue::Responses(rs) => {
            rs.iter().map(inner_response).collect::<Result<_, _>>().map(w::ParameterValue::Responses)
        }
        m::ParameterValue::ExecuteMultipleSettings(s) => {
            Ok(w::ParameterValue::ExecuteMultipleSettings(w::ExecuteMultipleSettings {
                continue_on_error: s.continue_on_error,
                return_responses: s.return_responses,
            }))
        }
        m::ParameterValue::ExecuteMultipleResponses(items) => {
            items.iter().map(response_item).collect::<Result<_, _>>().map(w::ParameterValue::ExecuteMultipleResponses)
        }
        _ => return None,
    })
}

/// The batch kinds of a WIT parameter value ([`super::from_parameter_value`] reads the others).
pub fn from_batch_value(p: w::ParameterValue) -> Result<m::ParameterValue, m::Fault> {
    match p {
        w::ParameterValue::Metadata(md) => Ok(m::ParameterValue::Metadata(super::metadata::from_metadata(md))),
        w::ParameterValue::Guids(ids) => Ok(m::ParameterValue::Guids(ids.into_iter().map(uuid).collect())),
        w::ParameterValue::Requests(rs) => {
            rs.into_iter().map(from_inner_request).collect::<Result<_, _>>().map(m::ParameterValue::Requests)
        }
        w::ParameterValue::Responses(rs) => {
            rs.into_iter().map(from_inner_response).collect::<Result<_, _>>().map(m::ParameterValue::Responses)
        }
        w::ParameterValue::ExecuteMultipleSettings(s) => {
            Ok(m::ParameterValue::ExecuteMultipleSettings(m::ExecuteMultipleSettings {
                continue_on_error: s.continue_on_error,
                return_responses: s.return_responses,
            }))
        }
        w::ParameterValue::ExecuteMultipleResponses(items) => items
            .into_iter()
            .map(from_response_item)
            .collect::<Result<_, _>>()
            .map(m::ParameterValue::ExecuteMultipleResponses),
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

fn inner_request(r: &m::Request) -> Result<w::InnerRequest, m::Fault> {
    Ok(w::InnerRequest { message_name: r.message.clone(), parameters: inner_parameters(&r.parameters)? })
}

fn from_inner_request(r: w::InnerRequest) -> Result<m::Request, m::Fault> {
    Ok(m::Request { message: r.message_name, parameters: from_inner_parameters(r.parameters)? })
}

fn inner_response(r: &m::Response) -> Result<w::InnerResponse, m::Fault> {
    Ok(w::InnerResponse { message_name: r.message.clone(), results: inner_parameters(&r.results)? })
}

fn from_inner_response(r: w::InnerResponse) -> Result<m::Response, m::Fault> {
    Ok(m::Response { message: r.message_name, results: from_inner_parameters(r.results)? })
}

fn response_item(item: &m::ExecuteMultipleResponseItem) -> Result<w::ExecuteMultipleResponseItem, m::Fault> {
    Ok(w::ExecuteMultipleResponseItem {
        request_index: item.request_index,
        response: item.response.as_ref().map(inner_response).transpose()?,
        fault: item.fault.as_ref().map(super::fault),
    })
}

fn from_response_item(item: w::ExecuteMultipleResponseItem) -> Result<m::ExecuteMultipleResponseItem, m::Fault> {
    Ok(m::ExecuteMultipleResponseItem {
        request_index: item.request_index,
        response: item.response.map(from_inner_response).transpose()?,
        fault: item.fault.map(super::from_fault),
    })
}

fn nested() -> m::Fault {
    m::Fault::new(
        m::codes::INVALID_ARGUMENT,
        "a request or response inside a batch cannot itself hold requests or responses: batches do not nest",
    )
}
