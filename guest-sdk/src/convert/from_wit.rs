//! WIT → model. Takes the WIT values by value so strings move instead of being copied.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use xrm_model::{
    AliasedValue, ColumnSet, ConditionExpression, ConditionOperator, Entity, EntityCollection, EntityReference, Fault,
    FilterExpression, JoinOperator, LinkEntity, LogicalOperator, OrderExpression, PagingInfo, ParameterValue,
    Parameters, PrincipalAccess, Query, QueryByAttribute, QueryExpression, Response, Uuid, Value,
};

use crate::bindings::xrm::plugin::execution_context as wit_context;
use crate::bindings::xrm::plugin::types as wit;
use crate::context::ContextInfo;

pub(crate) fn uuid(g: wit::Guid) -> Uuid {
    Uuid::from_u64_pair(g.high, g.low)
}

/// A time outside chrono's range (which no host sends) falls back to the Unix epoch rather than failing.
pub(crate) fn datetime(d: wit::Datetime) -> DateTime<Utc> {
    DateTime::from_timestamp(d.seconds, d.nanoseconds).unwrap_or_default()
}

pub(crate) fn reference(r: wit::EntityReference) -> EntityReference {
    let key_attributes = super::batch::from_keys(r.key_attributes);
    EntityReference { logical_name: r.logical_name, id: uuid(r.id), name: r.name, key_attributes }
}

pub(crate) fn value(v: wit::Value) -> Value {
    match v {
        wit::Value::Null => Value::Null,
        wit::Value::Text(s) => Value::Text(s),
        wit::Value::Integer(n) => Value::Integer(n),
        wit::Value::Bigint(n) => Value::BigInt(n),
        wit::Value::Double(n) => Value::Double(n),
        wit::Value::Boolean(b) => Value::Boolean(b),
        wit::Value::Decimal(s) => Value::Decimal(s),
        wit::Value::Money(s) => Value::Money(s),
        wit::Value::Datetime(t) => Value::DateTime(datetime(t)),
        wit::Value::Guid(g) => Value::Guid(uuid(g)),
        wit::Value::Choice(n) => Value::Choice(n),
        wit::Value::Choices(ns) => Value::Choices(ns),
        wit::Value::Lookup(r) => Value::Lookup(reference(r)),
        wit::Value::Entities(parties) => parties_value(parties),
        wit::Value::Aliased(a) => {
            Value::Aliased(AliasedValue::new(a.entity_logical_name, a.attribute_logical_name, plain_value(a.value)))
        }
    }
}

fn plain_value(v: wit::PlainValue) -> Value {
    match v {
        wit::PlainValue::Null => Value::Null,
        wit::PlainValue::Text(s) => Value::Text(s),
        wit::PlainValue::Integer(n) => Value::Integer(n),
        wit::PlainValue::Bigint(n) => Value::BigInt(n),
        wit::PlainValue::Double(n) => Value::Double(n),
        wit::PlainValue::Boolean(b) => Value::Boolean(b),
        wit::PlainValue::Decimal(s) => Value::Decimal(s),
        wit::PlainValue::Money(s) => Value::Money(s),
        wit::PlainValue::Datetime(t) => Value::DateTime(datetime(t)),
        wit::PlainValue::Guid(g) => Value::Guid(uuid(g)),
        wit::PlainValue::Choice(n) => Value::Choice(n),
        wit::PlainValue::Choices(ns) => Value::Choices(ns),
        wit::PlainValue::Lookup(r) => Value::Lookup(reference(r)),
        wit::PlainValue::Entities(parties) => parties_value(parties),
    }
}

fn parties_value(parties: Vec<wit::NestedEntity>) -> Value {
    Value::EntityCollection(
        parties
            .into_iter()
            .map(|e| Entity {
                logical_name: e.logical_name,
                id: e.id.map(uuid),
                attributes: super::batch::from_keys(e.attributes),
                key_attributes: xrm_model::KeyAttributes::new(),
                formatted_values: BTreeMap::new(),
            })
            .collect(),
    )
}

/// A column listed twice keeps its last value, as a `Dictionary` assignment would.
pub(crate) fn entity(e: wit::Entity) -> Entity {
    let attributes = e.attributes.into_iter().map(|a| (a.name, value(a.value))).collect();
    let key_attributes = super::batch::from_keys(e.key_attributes);
    let formatted_values = e.formatted_values.into_iter().collect();
    Entity { logical_name: e.logical_name, id: e.id.map(uuid), attributes, key_attributes, formatted_values }
}

pub(crate) fn collection(c: wit::EntityCollection) -> EntityCollection {
    EntityCollection {
        entity_name: c.entity_name,
        entities: c.entities.into_iter().map(entity).collect(),
        more_records: c.more_records,
        paging_cookie: c.paging_cookie,
        total_record_count: c.total_record_count,
        total_record_count_limit_exceeded: c.total_record_count_limit_exceeded,
    }
}

pub(crate) fn column_set(c: wit::ColumnSet) -> ColumnSet {
    match c {
        wit::ColumnSet::AllColumns => ColumnSet::AllColumns,
        wit::ColumnSet::Columns(cols) => ColumnSet::Columns(cols),
    }
}

pub(crate) fn query(q: wit::Query) -> Query {
    match q {
        wit::Query::Expression(e) => Query::Expression(query_expression(e)),
        wit::Query::FetchXml(x) => Query::FetchXml(x),
        wit::Query::ByAttribute(b) => Query::ByAttribute(QueryByAttribute {
            entity_name: b.entity_name,
            column_set: column_set(b.column_set),
            attributes: b.attributes,
            values: b.values.into_iter().map(value).collect(),
            orders: b.orders.into_iter().map(order).collect(),
            top_count: b.top_count,
            page_info: b.page_info.map(paging_info),
        }),
    }
}

fn paging_info(p: wit::PagingInfo) -> PagingInfo {
    PagingInfo {
        page_number: p.page_number,
        count: p.count,
        paging_cookie: p.paging_cookie,
        return_total_record_count: p.return_total_record_count,
    }
}

/// Rebuilds the nested query from the WIT arena. Each arena slot is taken at most once, so an index that is
/// out of range, repeated or part of a cycle is dropped instead of looping or failing.
pub(crate) fn query_expression(q: wit::QueryExpression) -> QueryExpression {
    let parents: Vec<Option<u32>> = q.link_entities.iter().map(|l| l.parent).collect();
    let mut tree = Tree {
        filters: q.filters.into_iter().map(Some).collect(),
        links: q.link_entities.into_iter().map(Some).collect(),
        parents,
    };
    let criteria = q.criteria.and_then(|at| tree.filter(at)).unwrap_or_default();
    let link_entities = tree.children(None);
    QueryExpression {
        entity_name: q.entity_name,
        column_set: column_set(q.column_set),
        criteria,
        link_entities,
        orders: q.orders.into_iter().map(order).collect(),
        top_count: q.top_count,
        page_info: q.page_info.map(paging_info),
        distinct: q.distinct,
    }
}

struct Tree {
    filters: Vec<Option<wit::FilterExpression>>,
    links: Vec<Option<wit::LinkEntity>>,
    parents: Vec<Option<u32>>,
}

impl Tree {
    fn filter(&mut self, at: u32) -> Option<FilterExpression> {
        let f = self.filters.get_mut(usize::try_from(at).ok()?)?.take()?;
        Some(FilterExpression {
            filter_operator: match f.filter_operator {
                wit::LogicalOperator::And => LogicalOperator::And,
                wit::LogicalOperator::Or => LogicalOperator::Or,
            },
            conditions: f.conditions.into_iter().map(condition).collect(),
            filters: f.filters.into_iter().filter_map(|child| self.filter(child)).collect(),
        })
    }

    /// The link-entities whose parent is `parent`, in arena order.
    fn children(&mut self, parent: Option<u32>) -> Vec<LinkEntity> {
        let positions: Vec<usize> = (0..self.parents.len()).filter(|&i| self.parents.get(i) == Some(&parent)).collect();
        positions.into_iter().filter_map(|at| self.link(at)).collect()
    }

    fn link(&mut self, at: usize) -> Option<LinkEntity> {
        let l = self.links.get_mut(at)?.take()?;
        let link_criteria = l.criteria.and_then(|c| self.filter(c)).unwrap_or_default();
        Some(LinkEntity {
            link_from_attribute_name: l.link_from_attribute_name,
            link_to_entity_name: l.link_to_entity_name,
            link_to_attribute_name: l.link_to_attribute_name,
            join_operator: match l.join_operator {
                wit::JoinOperator::Inner => JoinOperator::Inner,
                wit::JoinOperator::LeftOuter => JoinOperator::LeftOuter,
            },
            entity_alias: l.entity_alias,
            columns: column_set(l.columns),
            link_criteria,
            link_entities: self.children(Some(super::index(at))),
        })
    }
}

fn condition(c: wit::ConditionExpression) -> ConditionExpression {
    ConditionExpression {
        entity_name: c.entity_name,
        attribute_name: c.attribute_name,
        operator: condition_operator(c.operator),
        values: c.values.into_iter().map(value).collect(),
    }
}

fn order(o: wit::OrderExpression) -> OrderExpression {
    OrderExpression { attribute_name: o.attribute_name, descending: o.descending, entity_name: o.entity_name }
}

pub(crate) fn condition_operator(op: wit::ConditionOperator) -> ConditionOperator {
    use ConditionOperator as M;
    use wit::ConditionOperator as W;
    match op {
        W::Equal => M::Equal,
        W::NotEqual => M::NotEqual,
        W::GreaterThan => M::GreaterThan,
        W::GreaterEqual => M::GreaterEqual,
        W::LessThan => M::LessThan,
        W::LessEqual => M::LessEqual,
        W::Like => M::Like,
        W::NotLike => M::NotLike,
        W::In => M::In,
        W::NotIn => M::NotIn,
        W::Null => M::Null,
        W::NotNull => M::NotNull,
        W::BeginsWith => M::BeginsWith,
        W::NotBeginWith => M::NotBeginWith,
        W::EndsWith => M::EndsWith,
        W::NotEndWith => M::NotEndWith,
        W::Between => M::Between,
        W::NotBetween => M::NotBetween,
        W::EqualUserId => M::EqualUserId,
        W::NotEqualUserId => M::NotEqualUserId,
        W::EqualBusinessId => M::EqualBusinessId,
        W::NotEqualBusinessId => M::NotEqualBusinessId,
    }
}

pub(crate) fn parameter_value(p: wit::ParameterValue) -> ParameterValue {
    match p {
        wit::ParameterValue::Value(v) => ParameterValue::Value(value(v)),
        wit::ParameterValue::Entity(e) => ParameterValue::Entity(entity(e)),
        wit::ParameterValue::EntityCollection(c) => ParameterValue::EntityCollection(collection(c)),
        wit::ParameterValue::EntityReferences(refs) => {
            ParameterValue::EntityReferences(refs.into_iter().map(reference).collect())
        }
        wit::ParameterValue::ColumnSet(c) => ParameterValue::ColumnSet(column_set(c)),
        wit::ParameterValue::Query(q) => ParameterValue::Query(query(q)),
        wit::ParameterValue::Relationship(r) => ParameterValue::Relationship(r.schema_name),
        wit::ParameterValue::PrincipalAccess(pa) => ParameterValue::PrincipalAccess(PrincipalAccess {
            principal: reference(pa.principal),
            access_mask: pa.access_mask,
        }),
        batch => super::batch::from_batch_value(batch),
    }
}

/// A parameter listed twice keeps its last value.
pub(crate) fn parameters(params: Vec<wit::Parameter>) -> Parameters {
    params.into_iter().map(|p| (p.name, parameter_value(p.value))).collect()
}

pub(crate) fn response(r: wit::Response) -> Response {
    Response { message: r.message_name, results: parameters(r.results) }
}

pub(crate) fn fault(f: wit::Fault) -> Fault {
    Fault { code: f.code, message: f.message, faulted_request_index: f.faulted_request_index }
}

/// Images by alias.
pub(crate) fn images(images: Vec<wit_context::EntityImage>) -> BTreeMap<String, Entity> {
    images.into_iter().map(|i| (i.alias, entity(i.entity))).collect()
}

pub(crate) fn context_info(i: wit_context::ContextInfo) -> ContextInfo {
    ContextInfo {
        message_name: i.message_name,
        primary_entity_name: i.primary_entity_name,
        primary_entity_id: uuid(i.primary_entity_id),
        secondary_entity_name: i.secondary_entity_name,
        stage: i.stage,
        mode: i.mode,
        depth: i.depth,
        user_id: uuid(i.user_id),
        initiating_user_id: uuid(i.initiating_user_id),
        business_unit_id: uuid(i.business_unit_id),
        organization_id: uuid(i.organization_id),
        organization_name: i.organization_name,
        correlation_id: uuid(i.correlation_id),
        request_id: i.request_id.map(uuid),
        operation_id: uuid(i.operation_id),
        operation_created_on: datetime(i.operation_created_on),
        is_in_transaction: i.is_in_transaction,
        is_executing_offline: i.is_executing_offline,
        isolation_mode: i.isolation_mode,
        owning_extension: reference(i.owning_extension),
    }
}

pub(crate) fn identity_info(i: wit_context::IdentityInfo) -> crate::identity::IdentityInfo {
    crate::identity::IdentityInfo {
        user_azure_active_directory_object_id: uuid(i.user_azure_active_directory_object_id),
        initiating_user_azure_active_directory_object_id: uuid(i.initiating_user_azure_active_directory_object_id),
        initiating_user_application_id: uuid(i.initiating_user_application_id),
        is_application_user: i.is_application_user,
        authenticated_user_id: uuid(i.authenticated_user_id),
        is_portals_client_call: i.is_portals_client_call,
        portals_contact_id: uuid(i.portals_contact_id),
        initiating_user_agent: i.initiating_user_agent,
        environment_id: i.environment_id,
        tenant_id: uuid(i.tenant_id),
    }
}
