//! Conversions between the model types and the generated WIT types, both ways.

mod batch;
mod metadata;
mod query;

use chrono::{DateTime, Utc};
use xrm_model as m;

use super::bindings::xrm::plugin::types as w;
pub use query::{from_query, query};

pub fn guid(id: m::Uuid) -> w::Guid {
    let (high, low) = id.as_u64_pair();
    w::Guid { high, low }
}

pub fn uuid(g: w::Guid) -> m::Uuid {
    m::Uuid::from_u64_pair(g.high, g.low)
}

pub fn datetime(t: DateTime<Utc>) -> w::Datetime {
    w::Datetime { seconds: t.timestamp(), nanoseconds: t.timestamp_subsec_nanos() }
}

pub fn from_datetime(t: w::Datetime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.seconds, t.nanoseconds).unwrap_or_default()
}

pub fn reference(r: &m::EntityReference) -> w::EntityReference {
    w::EntityReference {
        logical_name: r.logical_name.clone(),
        id: guid(r.id),
        name: r.name.clone(),
        key_attributes: batch::keys(&r.key_attributes),
    }
}

pub fn from_reference(r: w::EntityReference) -> m::EntityReference {
    m::EntityReference {
        logical_name: r.logical_name,
        id: uuid(r.id),
        name: r.name,
        key_attributes: batch::from_keys(r.key_attributes),
    }
}

pub fn value(v: &m::Value) -> w::Value {
    match v {
        m::Value::Aliased(a) => w::Value::Aliased(w::AliasedValue {
            entity_logical_name: a.entity_logical_name.clone(),
            attribute_logical_name: a.attribute_logical_name.clone(),
            value: plain_value(a.value.unaliased()),
        }),
        v => match plain_value(v) {
            w::PlainValue::Null => w::Value::Null,
            w::PlainValue::Text(s) => w::Value::Text(s),
            w::PlainValue::Integer(n) => w::Value::Integer(n),
            w::PlainValue::Bigint(n) => w::Value::Bigint(n),
            w::PlainValue::Double(n) => w::Value::Double(n),
            w::PlainValue::Boolean(b) => w::Value::Boolean(b),
            w::PlainValue::Decimal(s) => w::Value::Decimal(s),
            w::PlainValue::Money(s) => w::Value::Money(s),
            w::PlainValue::Datetime(t) => w::Value::Datetime(t),
            w::PlainValue::Guid(g) => w::Value::Guid(g),
            w::PlainValue::Choice(n) => w::Value::Choice(n),
            w::PlainValue::Choices(ns) => w::Value::Choices(ns),
            w::PlainValue::Lookup(r) => w::Value::Lookup(r),
            w::PlainValue::Entities(parties) => w::Value::Entities(parties),
        },
    }
}

/// A value as the inside of an aliased value (QRY-10); an aliased value gives the value it carries.
fn plain_value(v: &m::Value) -> w::PlainValue {
    match v {
        m::Value::Null => w::PlainValue::Null,
        m::Value::Text(s) => w::PlainValue::Text(s.clone()),
        m::Value::Integer(n) => w::PlainValue::Integer(*n),
        m::Value::BigInt(n) => w::PlainValue::Bigint(*n),
        m::Value::Double(n) => w::PlainValue::Double(*n),
        m::Value::Boolean(b) => w::PlainValue::Boolean(*b),
        m::Value::Decimal(s) => w::PlainValue::Decimal(s.clone()),
        m::Value::Money(s) => w::PlainValue::Money(s.clone()),
        m::Value::DateTime(t) => w::PlainValue::Datetime(datetime(*t)),
        m::Value::Guid(g) => w::PlainValue::Guid(guid(*g)),
        m::Value::Choice(n) => w::PlainValue::Choice(*n),
        m::Value::Choices(ns) => w::PlainValue::Choices(ns.clone()),
        m::Value::Lookup(r) => w::PlainValue::Lookup(reference(r)),
        m::Value::EntityCollection(parties) => w::PlainValue::Entities(
            parties
                .iter()
                .map(|e| w::NestedEntity {
                    logical_name: e.logical_name.clone(),
                    id: e.id.map(guid),
                    attributes: batch::keys(&e.attributes),
                })
                .collect(),
        ),
        m::Value::Aliased(a) => plain_value(&a.value),
    }
}

pub fn from_value(v: w::Value) -> m::Value {
    match v {
        w::Value::Null => m::Value::Null,
        w::Value::Text(s) => m::Value::Text(s),
        w::Value::Integer(n) => m::Value::Integer(n),
        w::Value::Bigint(n) => m::Value::BigInt(n),
        w::Value::Double(n) => m::Value::Double(n),
        w::Value::Boolean(b) => m::Value::Boolean(b),
        w::Value::Decimal(s) => m::Value::Decimal(s),
        w::Value::Money(s) => m::Value::Money(s),
        w::Value::Datetime(t) => m::Value::DateTime(from_datetime(t)),
        w::Value::Guid(g) => m::Value::Guid(uuid(g)),
        w::Value::Choice(n) => m::Value::Choice(n),
        w::Value::Choices(ns) => m::Value::Choices(ns),
        w::Value::Lookup(r) => m::Value::Lookup(from_reference(r)),
        w::Value::Entities(parties) => from_parties(parties),
        w::Value::Aliased(a) => m::Value::Aliased(m::AliasedValue::new(
            a.entity_logical_name,
            a.attribute_logical_name,
            from_plain_value(a.value),
        )),
    }
}

fn from_plain_value(v: w::PlainValue) -> m::Value {
    match v {
        w::PlainValue::Null => m::Value::Null,
        w::PlainValue::Text(s) => m::Value::Text(s),
        w::PlainValue::Integer(n) => m::Value::Integer(n),
        w::PlainValue::Bigint(n) => m::Value::BigInt(n),
        w::PlainValue::Double(n) => m::Value::Double(n),
        w::PlainValue::Boolean(b) => m::Value::Boolean(b),
        w::PlainValue::Decimal(s) => m::Value::Decimal(s),
        w::PlainValue::Money(s) => m::Value::Money(s),
        w::PlainValue::Datetime(t) => m::Value::DateTime(from_datetime(t)),
        w::PlainValue::Guid(g) => m::Value::Guid(uuid(g)),
        w::PlainValue::Choice(n) => m::Value::Choice(n),
        w::PlainValue::Choices(ns) => m::Value::Choices(ns),
        w::PlainValue::Lookup(r) => m::Value::Lookup(from_reference(r)),
        w::PlainValue::Entities(parties) => from_parties(parties),
    }
}

fn from_parties(parties: Vec<w::NestedEntity>) -> m::Value {
    m::Value::EntityCollection(
        parties
            .into_iter()
            .map(|e| m::Entity {
                logical_name: e.logical_name,
                id: e.id.map(uuid),
                attributes: batch::from_keys(e.attributes),
                key_attributes: m::KeyAttributes::new(),
                formatted_values: std::collections::BTreeMap::new(),
            })
            .collect(),
    )
}

pub fn entity(e: &m::Entity) -> w::Entity {
    w::Entity {
        key_attributes: batch::keys(&e.key_attributes),
        logical_name: e.logical_name.clone(),
        id: e.id.map(guid),
        attributes: e.attributes.iter().map(|(name, v)| w::Attribute { name: name.clone(), value: value(v) }).collect(),
        formatted_values: e.formatted_values.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    }
}

pub fn from_entity(e: w::Entity) -> m::Entity {
    m::Entity {
        key_attributes: batch::from_keys(e.key_attributes),
        logical_name: e.logical_name,
        id: e.id.map(uuid),
        attributes: e.attributes.into_iter().map(|a| (a.name, from_value(a.value))).collect(),
        formatted_values: e.formatted_values.into_iter().collect(),
    }
}

pub fn collection(c: &m::EntityCollection) -> w::EntityCollection {
    w::EntityCollection {
        entity_name: c.entity_name.clone(),
        entities: c.entities.iter().map(entity).collect(),
        more_records: c.more_records,
        paging_cookie: c.paging_cookie.clone(),
        total_record_count: c.total_record_count,
        total_record_count_limit_exceeded: c.total_record_count_limit_exceeded,
    }
}

pub fn from_collection(c: w::EntityCollection) -> m::EntityCollection {
    m::EntityCollection {
        entity_name: c.entity_name,
        entities: c.entities.into_iter().map(from_entity).collect(),
        more_records: c.more_records,
        paging_cookie: c.paging_cookie,
        total_record_count: c.total_record_count,
        total_record_count_limit_exceeded: c.total_record_count_limit_exceeded,
    }
}

pub fn column_set(c: &m::ColumnSet) -> w::ColumnSet {
    match c {
        m::ColumnSet::AllColumns => w::ColumnSet::AllColumns,
        m::ColumnSet::Columns(cols) => w::ColumnSet::Columns(cols.clone()),
    }
}

pub fn from_column_set(c: w::ColumnSet) -> m::ColumnSet {
    match c {
        w::ColumnSet::AllColumns => m::ColumnSet::AllColumns,
        w::ColumnSet::Columns(cols) => m::ColumnSet::Columns(cols),
    }
}

pub fn fault(f: &m::Fault) -> w::Fault {
    w::Fault { code: f.code, message: f.message.clone(), faulted_request_index: f.faulted_request_index }
}

pub fn from_fault(f: w::Fault) -> m::Fault {
    m::Fault { code: f.code, message: f.message, faulted_request_index: f.faulted_request_index }
}

/// A parameter value for the plug-in; `Err` for a batch kind nested inside a batch, which WIT cannot carry.
pub fn parameter_value(p: &m::ParameterValue) -> Result<w::ParameterValue, m::Fault> {
    if let Some(batch) = batch::batch_value(p) {
        return batch;
    }
    Ok(match p {
        m::ParameterValue::Value(v) => w::ParameterValue::Value(value(v)),
        m::ParameterValue::Entity(e) => w::ParameterValue::Entity(entity(e)),
        m::ParameterValue::EntityCollection(c) => w::ParameterValue::EntityCollection(collection(c)),
        m::ParameterValue::EntityReferences(rs) => {
            w::ParameterValue::EntityReferences(rs.iter().map(reference).collect())
        }
        m::ParameterValue::ColumnSet(c) => w::ParameterValue::ColumnSet(column_set(c)),
        m::ParameterValue::Query(q) => w::ParameterValue::Query(query(q)),
        m::ParameterValue::Relationship(name) => {
            w::ParameterValue::Relationship(w::Relationship { schema_name: name.clone() })
        }
        m::ParameterValue::PrincipalAccess(pa) => w::ParameterValue::PrincipalAccess(w::PrincipalAccess {
            principal: reference(&pa.principal),
            access_mask: pa.access_mask,
        }),
        // The batch kinds, above.
        _ => return Err(m::Fault::new(m::codes::INVALID_ARGUMENT, "an unknown kind of parameter")),
    })
}

pub fn from_parameter_value(p: w::ParameterValue) -> Result<m::ParameterValue, m::Fault> {
    Ok(match p {
        w::ParameterValue::Value(v) => m::ParameterValue::Value(from_value(v)),
        w::ParameterValue::Entity(e) => m::ParameterValue::Entity(from_entity(e)),
        w::ParameterValue::EntityCollection(c) => m::ParameterValue::EntityCollection(from_collection(c)),
        w::ParameterValue::EntityReferences(rs) => {
            m::ParameterValue::EntityReferences(rs.into_iter().map(from_reference).collect())
        }
        w::ParameterValue::ColumnSet(c) => m::ParameterValue::ColumnSet(from_column_set(c)),
        w::ParameterValue::Query(q) => m::ParameterValue::Query(from_query(q)?),
        w::ParameterValue::Relationship(r) => m::ParameterValue::Relationship(r.schema_name),
        w::ParameterValue::PrincipalAccess(pa) => m::ParameterValue::PrincipalAccess(m::PrincipalAccess {
            principal: from_reference(pa.principal),
            access_mask: pa.access_mask,
        }),
        batch => batch::from_batch_value(batch)?,
    })
}

/// A context's parameters for the plug-in. INVARIANT: a context holds no batch kind nested in a batch (no step
/// runs on a batch, and what plug-ins store came through WIT, one level deep), so none is left out.
pub fn parameters(ps: &m::Parameters) -> Vec<w::Parameter> {
    ps.iter()
        .filter_map(|(name, v)| Some(w::Parameter { name: name.clone(), value: parameter_value(v).ok()? }))
        .collect()
}

pub fn from_parameters(ps: Vec<w::Parameter>) -> Result<m::Parameters, m::Fault> {
    ps.into_iter().map(|p| Ok((p.name, from_parameter_value(p.value)?))).collect()
}

pub fn from_request(r: w::Request) -> Result<m::Request, m::Fault> {
    Ok(m::Request { message: r.message_name, parameters: from_parameters(r.parameters)? })
}

/// A service call's response; `Err` when it holds a batch's response nested in a batch's (an
/// ExecuteTransaction's responses inside an ExecuteMultiple's), which WIT cannot carry.
pub fn response(r: &m::Response) -> Result<w::Response, m::Fault> {
    let results = r.results.iter().map(|(name, v)| Ok(w::Parameter { name: name.clone(), value: parameter_value(v)? }));
    Ok(w::Response { message_name: r.message.clone(), results: results.collect::<Result<_, m::Fault>>()? })
}
