//! Model → WIT.

use chrono::{DateTime, Utc};
use xrm_model::{
    ColumnSet, ConditionExpression, ConditionOperator, Entity, EntityCollection, EntityReference, Fault,
    FilterExpression, JoinOperator, LinkEntity, LogicalOperator, OrderExpression, PagingInfo, ParameterValue,
    Parameters, PrincipalAccess, Query, QueryExpression, Request, Uuid, Value, codes,
};

use super::index;
use crate::bindings::xrm::plugin::types as wit;

/// `high` holds bytes 0..8 and `low` bytes 8..16, each big-endian: exactly `Uuid::as_u64_pair`.
pub(crate) fn guid(id: Uuid) -> wit::Guid {
    let (high, low) = id.as_u64_pair();
    wit::Guid { high, low }
}

pub(crate) fn datetime(t: &DateTime<Utc>) -> wit::Datetime {
    wit::Datetime { seconds: t.timestamp(), nanoseconds: t.timestamp_subsec_nanos() }
}

pub(crate) fn reference(r: &EntityReference) -> wit::EntityReference {
    wit::EntityReference {
        logical_name: r.logical_name.clone(),
        id: guid(r.id),
        name: r.name.clone(),
        key_attributes: super::batch::keys(&r.key_attributes),
    }
}

pub(crate) fn value(v: &Value) -> wit::Value {
    match v {
        Value::Aliased(a) => wit::Value::Aliased(wit::AliasedValue {
            entity_logical_name: a.entity_logical_name.clone(),
            attribute_logical_name: a.attribute_logical_name.clone(),
            value: plain_value(a.value.unaliased()),
        }),
        v => match plain_value(v) {
            wit::PlainValue::Null => wit::Value::Null,
            wit::PlainValue::Text(s) => wit::Value::Text(s),
            wit::PlainValue::Integer(n) => wit::Value::Integer(n),
            wit::PlainValue::Bigint(n) => wit::Value::Bigint(n),
            wit::PlainValue::Double(n) => wit::Value::Double(n),
            wit::PlainValue::Boolean(b) => wit::Value::Boolean(b),
            wit::PlainValue::Decimal(s) => wit::Value::Decimal(s),
            wit::PlainValue::Money(s) => wit::Value::Money(s),
            wit::PlainValue::Datetime(t) => wit::Value::Datetime(t),
            wit::PlainValue::Guid(g) => wit::Value::Guid(g),
            wit::PlainValue::Choice(n) => wit::Value::Choice(n),
            wit::PlainValue::Choices(ns) => wit::Value::Choices(ns),
            wit::PlainValue::Lookup(r) => wit::Value::Lookup(r),
            wit::PlainValue::Entities(parties) => wit::Value::Entities(parties),
        },
    }
}

/// A value as the inside of an aliased value; an aliased value gives the value it carries.
fn plain_value(v: &Value) -> wit::PlainValue {
    match v {
        Value::Null => wit::PlainValue::Null,
        Value::Text(s) => wit::PlainValue::Text(s.clone()),
        Value::Integer(n) => wit::PlainValue::Integer(*n),
        Value::BigInt(n) => wit::PlainValue::Bigint(*n),
        Value::Double(n) => wit::PlainValue::Double(*n),
        Value::Boolean(b) => wit::PlainValue::Boolean(*b),
        Value::Decimal(s) => wit::PlainValue::Decimal(s.clone()),
        Value::Money(s) => wit::PlainValue::Money(s.clone()),
        Value::DateTime(t) => wit::PlainValue::Datetime(datetime(t)),
        Value::Guid(id) => wit::PlainValue::Guid(guid(*id)),
        Value::Choice(n) => wit::PlainValue::Choice(*n),
        Value::Choices(ns) => wit::PlainValue::Choices(ns.clone()),
        Value::Lookup(r) => wit::PlainValue::Lookup(reference(r)),
        Value::EntityCollection(parties) => wit::PlainValue::Entities(
            parties
                .iter()
                .map(|e| wit::NestedEntity {
                    logical_name: e.logical_name.clone(),
                    id: e.id.map(guid),
                    attributes: super::batch::keys(&e.attributes),
                })
                .collect(),
        ),
        Value::Aliased(a) => plain_value(&a.value),
    }
}

pub(crate) fn entity(e: &Entity) -> wit::Entity {
    let attributes =
        e.attributes.iter().map(|(name, v)| wit::Attribute { name: name.clone(), value: value(v) }).collect();
    let key_attributes = super::batch::keys(&e.key_attributes);
    let formatted_values = e.formatted_values.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    wit::Entity {
        logical_name: e.logical_name.clone(),
        id: e.id.map(guid),
        attributes,
        key_attributes,
        formatted_values,
    }
}

pub(crate) fn collection(c: &EntityCollection) -> wit::EntityCollection {
    wit::EntityCollection {
        entity_name: c.entity_name.clone(),
        entities: c.entities.iter().map(entity).collect(),
        more_records: c.more_records,
        paging_cookie: c.paging_cookie.clone(),
        total_record_count: c.total_record_count,
        total_record_count_limit_exceeded: c.total_record_count_limit_exceeded,
    }
}

pub(crate) fn column_set(c: &ColumnSet) -> wit::ColumnSet {
    match c {
        ColumnSet::AllColumns => wit::ColumnSet::AllColumns,
        ColumnSet::Columns(cols) => wit::ColumnSet::Columns(cols.clone()),
    }
}

pub(crate) fn relationship(schema_name: &str) -> wit::Relationship {
    wit::Relationship { schema_name: schema_name.to_owned() }
}

pub(crate) fn query(q: &Query) -> wit::Query {
    match q {
        Query::Expression(e) => wit::Query::Expression(query_expression(e)),
        Query::FetchXml(x) => wit::Query::FetchXml(x.clone()),
        Query::ByAttribute(b) => wit::Query::ByAttribute(wit::QueryByAttribute {
            entity_name: b.entity_name.clone(),
            column_set: column_set(&b.column_set),
            attributes: b.attributes.clone(),
            values: b.values.iter().map(value).collect(),
            orders: b.orders.iter().map(order).collect(),
            top_count: b.top_count,
            page_info: b.page_info.as_ref().map(paging_info),
        }),
    }
}

fn paging_info(p: &PagingInfo) -> wit::PagingInfo {
    wit::PagingInfo {
        page_number: p.page_number,
        count: p.count,
        paging_cookie: p.paging_cookie.clone(),
        return_total_record_count: p.return_total_record_count,
    }
}

/// Flattens the model's nested filters and link-entities into the WIT arena, parents before children.
pub(crate) fn query_expression(q: &QueryExpression) -> wit::QueryExpression {
    let mut arena = Arena::default();
    let criteria = arena.criteria(&q.criteria);
    for link in &q.link_entities {
        arena.push_link(link, None);
    }
    wit::QueryExpression {
        entity_name: q.entity_name.clone(),
        column_set: column_set(&q.column_set),
        criteria,
        filters: arena.filters,
        link_entities: arena.links,
        orders: q.orders.iter().map(order).collect(),
        top_count: q.top_count,
        page_info: q.page_info.as_ref().map(paging_info),
        distinct: q.distinct,
    }
}

#[derive(Default)]
struct Arena {
    filters: Vec<wit::FilterExpression>,
    links: Vec<wit::LinkEntity>,
}

impl Arena {
    /// A query's or link's criteria: none when empty, which filters nothing either way.
    fn criteria(&mut self, f: &FilterExpression) -> Option<u32> {
        (!f.is_empty()).then(|| self.push_filter(f))
    }

    fn push_filter(&mut self, f: &FilterExpression) -> u32 {
        let at = self.filters.len();
        self.filters.push(wit::FilterExpression {
            filter_operator: logical_operator(f.filter_operator),
            conditions: f.conditions.iter().map(condition).collect(),
            filters: Vec::new(),
        });
        let children: Vec<u32> = f.filters.iter().map(|child| self.push_filter(child)).collect();
        if let Some(slot) = self.filters.get_mut(at) {
            slot.filters = children;
        }
        index(at)
    }

    fn push_link(&mut self, l: &LinkEntity, parent: Option<u32>) {
        let criteria = self.criteria(&l.link_criteria);
        let at = index(self.links.len());
        self.links.push(wit::LinkEntity {
            parent,
            link_from_attribute_name: l.link_from_attribute_name.clone(),
            link_to_entity_name: l.link_to_entity_name.clone(),
            link_to_attribute_name: l.link_to_attribute_name.clone(),
            join_operator: match l.join_operator {
                JoinOperator::LeftOuter => wit::JoinOperator::LeftOuter,
                // The service refuses the other link types before converting (`unsendable`).
                _ => wit::JoinOperator::Inner,
            },
            entity_alias: l.entity_alias.clone(),
            columns: column_set(&l.columns),
            criteria,
        });
        for child in &l.link_entities {
            self.push_link(child, Some(at));
        }
    }
}

fn logical_operator(op: LogicalOperator) -> wit::LogicalOperator {
    match op {
        LogicalOperator::And => wit::LogicalOperator::And,
        LogicalOperator::Or => wit::LogicalOperator::Or,
    }
}

fn condition(c: &ConditionExpression) -> wit::ConditionExpression {
    wit::ConditionExpression {
        entity_name: c.entity_name.clone(),
        attribute_name: c.attribute_name.clone(),
        operator: condition_operator(c.operator),
        values: c.values.iter().map(value).collect(),
    }
}

fn order(o: &OrderExpression) -> wit::OrderExpression {
    wit::OrderExpression {
        attribute_name: o.attribute_name.clone(),
        descending: o.descending,
        entity_name: o.entity_name.clone(),
    }
}

pub(crate) fn condition_operator(op: ConditionOperator) -> wit::ConditionOperator {
    use ConditionOperator as M;
    use wit::ConditionOperator as W;
    match op {
        M::Equal => W::Equal,
        M::NotEqual => W::NotEqual,
        M::GreaterThan => W::GreaterThan,
        M::GreaterEqual => W::GreaterEqual,
        M::LessThan => W::LessThan,
        M::LessEqual => W::LessEqual,
        M::Like => W::Like,
        M::NotLike => W::NotLike,
        M::In => W::In,
        M::NotIn => W::NotIn,
        M::Null => W::Null,
        M::NotNull => W::NotNull,
        M::BeginsWith => W::BeginsWith,
        M::NotBeginWith => W::NotBeginWith,
        M::EndsWith => W::EndsWith,
        M::NotEndWith => W::NotEndWith,
        M::Between => W::Between,
        M::NotBetween => W::NotBetween,
        M::EqualUserId => W::EqualUserId,
        M::NotEqualUserId => W::NotEqualUserId,
        M::EqualBusinessId => W::EqualBusinessId,
        M::NotEqualBusinessId => W::NotEqualBusinessId,
        // The date, multi-select and hierarchy operators have no form in this version of the interface: the
        // service refuses a query holding one before converting it (`unsendable_operator`).
        _ => W::Equal,
    }
}

/// Whether the interface can carry the operator.
pub(crate) fn sendable(op: ConditionOperator) -> bool {
    ConditionOperator::ALL.iter().position(|(o, _, _)| *o == op).is_some_and(|i| i < 22)
}

/// What in the query the interface cannot carry yet (send such a query as FetchXML): a condition operator or
/// a link type, named as FetchXML names it.
pub(crate) fn unsendable_operator(q: &Query) -> Option<String> {
    fn in_filter(f: &xrm_model::FilterExpression) -> Option<String> {
        let own = f.conditions.iter().map(|c| c.operator).find(|op| !sendable(*op));
        own.map(|op| format!("condition operator '{}'", op.fetch_name()))
            .or_else(|| f.filters.iter().find_map(in_filter))
    }
    fn in_links(links: &[xrm_model::LinkEntity]) -> Option<String> {
        links.iter().find_map(|l| {
            let join = match l.join_operator {
                JoinOperator::Inner | JoinOperator::LeftOuter => None,
                other => Some(format!("link type '{}'", other.fetch_name())),
            };
            join.or_else(|| in_filter(&l.link_criteria)).or_else(|| in_links(&l.link_entities))
        })
    }
    match q {
        Query::Expression(e) => in_filter(&e.criteria).or_else(|| in_links(&e.link_entities)),
        Query::FetchXml(_) | Query::ByAttribute(_) => None,
    }
}

fn principal_access(pa: &PrincipalAccess) -> wit::PrincipalAccess {
    wit::PrincipalAccess { principal: reference(&pa.principal), access_mask: pa.access_mask }
}

/// A parameter value for the host; `Err` for a batch kind nested inside a batch, which WIT cannot carry.
pub(crate) fn parameter_value(p: &ParameterValue) -> Result<wit::ParameterValue, Fault> {
    if let Some(batch) = super::batch::batch_value(p) {
        return batch;
    }
    Ok(match p {
        ParameterValue::Value(v) => wit::ParameterValue::Value(value(v)),
        ParameterValue::Entity(e) => wit::ParameterValue::Entity(entity(e)),
        ParameterValue::EntityCollection(c) => wit::ParameterValue::EntityCollection(collection(c)),
        ParameterValue::EntityReferences(refs) => {
            wit::ParameterValue::EntityReferences(refs.iter().map(reference).collect())
        }
        ParameterValue::ColumnSet(c) => wit::ParameterValue::ColumnSet(column_set(c)),
        ParameterValue::Query(q) => wit::ParameterValue::Query(query(q)),
        ParameterValue::Relationship(name) => wit::ParameterValue::Relationship(relationship(name)),
        ParameterValue::PrincipalAccess(pa) => wit::ParameterValue::PrincipalAccess(principal_access(pa)),
        // The batch kinds, above.
        _ => return Err(Fault::new(codes::INVALID_ARGUMENT, "an unknown kind of parameter")),
    })
}

pub(crate) fn parameters(params: &Parameters) -> Result<Vec<wit::Parameter>, Fault> {
    params.iter().map(|(name, v)| Ok(wit::Parameter { name: name.clone(), value: parameter_value(v)? })).collect()
}

pub(crate) fn request(r: &Request) -> Result<wit::Request, Fault> {
    Ok(wit::Request { message_name: r.message.clone(), parameters: parameters(&r.parameters)? })
}

pub(crate) fn fault(f: &Fault) -> wit::Fault {
    wit::Fault { code: f.code, message: f.message.clone(), faulted_request_index: f.faulted_request_index }
}
