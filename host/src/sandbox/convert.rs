//! Conversions between the model types and the generated WIT types, both ways.

use chrono::{DateTime, Utc};
use xrm_model as m;

use super::bindings::xrm::plugin::types as w;

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
    w::EntityReference { logical_name: r.logical_name.clone(), id: guid(r.id), name: r.name.clone() }
}

pub fn from_reference(r: w::EntityReference) -> m::EntityReference {
    m::EntityReference { logical_name: r.logical_name, id: uuid(r.id), name: r.name }
}

pub fn value(v: &m::Value) -> w::Value {
    match v {
        m::Value::Null => w::Value::Null,
        m::Value::Text(s) => w::Value::Text(s.clone()),
        m::Value::Integer(n) => w::Value::Integer(*n),
        m::Value::BigInt(n) => w::Value::Bigint(*n),
        m::Value::Double(n) => w::Value::Double(*n),
        m::Value::Boolean(b) => w::Value::Boolean(*b),
        m::Value::Decimal(s) => w::Value::Decimal(s.clone()),
        m::Value::Money(s) => w::Value::Money(s.clone()),
        m::Value::DateTime(t) => w::Value::Datetime(datetime(*t)),
        m::Value::Guid(g) => w::Value::Guid(guid(*g)),
        m::Value::Choice(n) => w::Value::Choice(*n),
        m::Value::Choices(ns) => w::Value::Choices(ns.clone()),
        m::Value::Lookup(r) => w::Value::Lookup(reference(r)),
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
    }
}

pub fn entity(e: &m::Entity) -> w::Entity {
    w::Entity {
        logical_name: e.logical_name.clone(),
        id: e.id.map(guid),
        attributes: e.attributes.iter().map(|(name, v)| w::Attribute { name: name.clone(), value: value(v) }).collect(),
    }
}

pub fn from_entity(e: w::Entity) -> m::Entity {
    m::Entity {
        logical_name: e.logical_name,
        id: e.id.map(uuid),
        attributes: e.attributes.into_iter().map(|a| (a.name, from_value(a.value))).collect(),
    }
}

pub fn collection(c: &m::EntityCollection) -> w::EntityCollection {
    w::EntityCollection {
        entity_name: c.entity_name.clone(),
        entities: c.entities.iter().map(entity).collect(),
        more_records: c.more_records,
        paging_cookie: c.paging_cookie.clone(),
    }
}

pub fn from_collection(c: w::EntityCollection) -> m::EntityCollection {
    m::EntityCollection {
        entity_name: c.entity_name,
        entities: c.entities.into_iter().map(from_entity).collect(),
        more_records: c.more_records,
        paging_cookie: c.paging_cookie,
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
    w::Fault { code: f.code, message: f.message.clone() }
}

pub fn from_fault(f: w::Fault) -> m::Fault {
    m::Fault { code: f.code, message: f.message }
}

pub fn parameter_value(p: &m::ParameterValue) -> w::ParameterValue {
    match p {
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
    }
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
    })
}

pub fn parameters(ps: &m::Parameters) -> Vec<w::Parameter> {
    ps.iter().map(|(name, v)| w::Parameter { name: name.clone(), value: parameter_value(v) }).collect()
}

pub fn from_parameters(ps: Vec<w::Parameter>) -> Result<m::Parameters, m::Fault> {
    ps.into_iter().map(|p| Ok((p.name, from_parameter_value(p.value)?))).collect()
}

pub fn from_request(r: w::Request) -> Result<m::Request, m::Fault> {
    Ok(m::Request { message: r.message_name, parameters: from_parameters(r.parameters)? })
}

pub fn response(r: &m::Response) -> w::Response {
    w::Response { message_name: r.message.clone(), results: parameters(&r.results) }
}

const OPERATORS: [(w::ConditionOperator, m::ConditionOperator); 22] = {
    use m::ConditionOperator as M;
    use w::ConditionOperator as W;
    [
        (W::Equal, M::Equal),
        (W::NotEqual, M::NotEqual),
        (W::GreaterThan, M::GreaterThan),
        (W::GreaterEqual, M::GreaterEqual),
        (W::LessThan, M::LessThan),
        (W::LessEqual, M::LessEqual),
        (W::Like, M::Like),
        (W::NotLike, M::NotLike),
        (W::In, M::In),
        (W::NotIn, M::NotIn),
        (W::Null, M::Null),
        (W::NotNull, M::NotNull),
        (W::BeginsWith, M::BeginsWith),
        (W::NotBeginWith, M::NotBeginWith),
        (W::EndsWith, M::EndsWith),
        (W::NotEndWith, M::NotEndWith),
        (W::Between, M::Between),
        (W::NotBetween, M::NotBetween),
        (W::EqualUserId, M::EqualUserId),
        (W::NotEqualUserId, M::NotEqualUserId),
        (W::EqualBusinessId, M::EqualBusinessId),
        (W::NotEqualBusinessId, M::NotEqualBusinessId),
    ]
};

fn operator(op: m::ConditionOperator) -> w::ConditionOperator {
    OPERATORS.iter().find(|(_, mo)| *mo == op).map_or(w::ConditionOperator::Equal, |(wo, _)| *wo)
}

fn from_operator(op: w::ConditionOperator) -> m::ConditionOperator {
    OPERATORS.iter().find(|(wo, _)| *wo == op).map_or(m::ConditionOperator::Equal, |(_, mo)| *mo)
}

fn logical(op: m::LogicalOperator) -> w::LogicalOperator {
    match op {
        m::LogicalOperator::And => w::LogicalOperator::And,
        m::LogicalOperator::Or => w::LogicalOperator::Or,
    }
}

fn join(op: m::JoinOperator) -> w::JoinOperator {
    match op {
        m::JoinOperator::Inner => w::JoinOperator::Inner,
        m::JoinOperator::LeftOuter => w::JoinOperator::LeftOuter,
    }
}

pub fn query(q: &m::Query) -> w::Query {
    match q {
        m::Query::FetchXml(x) => w::Query::FetchXml(x.clone()),
        m::Query::Expression(e) => w::Query::Expression(Flattener::default().query(e)),
    }
}

/// Flattens the model's nested filters and link-entities into the WIT arena lists.
#[derive(Default)]
struct Flattener {
    filters: Vec<w::FilterExpression>,
    links: Vec<w::LinkEntity>,
}

impl Flattener {
    fn query(mut self, q: &m::QueryExpression) -> w::QueryExpression {
        let criteria = self.filter(&q.criteria);
        for link in &q.link_entities {
            self.link(link, None);
        }
        w::QueryExpression {
            entity_name: q.entity_name.clone(),
            column_set: column_set(&q.column_set),
            criteria: Some(criteria),
            filters: self.filters,
            link_entities: self.links,
            orders: q
                .orders
                .iter()
                .map(|o| w::OrderExpression {
                    attribute_name: o.attribute_name.clone(),
                    descending: o.descending,
                    entity_name: o.entity_name.clone(),
                })
                .collect(),
            top_count: q.top_count,
            page_info: q.page_info.as_ref().map(|p| w::PagingInfo {
                page_number: p.page_number,
                count: p.count,
                paging_cookie: p.paging_cookie.clone(),
            }),
            distinct: q.distinct,
        }
    }

    fn filter(&mut self, f: &m::FilterExpression) -> u32 {
        let children = f.filters.iter().map(|child| self.filter(child)).collect();
        let conditions = f
            .conditions
            .iter()
            .map(|c| w::ConditionExpression {
                entity_name: c.entity_name.clone(),
                attribute_name: c.attribute_name.clone(),
                operator: operator(c.operator),
                values: c.values.iter().map(value).collect(),
            })
            .collect();
        self.filters.push(w::FilterExpression {
            filter_operator: logical(f.filter_operator),
            conditions,
            filters: children,
        });
        index(self.filters.len() - 1)
    }

    fn link(&mut self, l: &m::LinkEntity, parent: Option<u32>) {
        let criteria = (!l.link_criteria.is_empty()).then(|| self.filter(&l.link_criteria));
        self.links.push(w::LinkEntity {
            parent,
            link_from_attribute_name: l.link_from_attribute_name.clone(),
            link_to_entity_name: l.link_to_entity_name.clone(),
            link_to_attribute_name: l.link_to_attribute_name.clone(),
            join_operator: join(l.join_operator),
            entity_alias: l.entity_alias.clone(),
            columns: column_set(&l.columns),
            criteria,
        });
        let me = index(self.links.len() - 1);
        for child in &l.link_entities {
            self.link(child, Some(me));
        }
    }
}

fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// How deep a plug-in's filters and link-entities may nest: the host rebuilds them recursively.
const MAX_QUERY_DEPTH: usize = 64;

/// Rebuilds the model's nested query from the WIT arena; out-of-range or cyclic indexes are dropped, and a
/// query nested deeper than the host reads is refused.
pub fn from_query(q: w::Query) -> Result<m::Query, m::Fault> {
    match q {
        w::Query::FetchXml(x) => Ok(m::Query::FetchXml(x)),
        w::Query::Expression(e) if nesting(&e) > MAX_QUERY_DEPTH => Err(m::Fault::new(
            m::codes::INVALID_ARGUMENT,
            format!("the query's filters or link-entities nest deeper than {MAX_QUERY_DEPTH} levels"),
        )),
        w::Query::Expression(e) => Ok(m::Query::Expression(from_expression(&e))),
    }
}

/// The deepest nesting of filters and of link-entities, walked without recursion and at most once per node.
fn nesting(q: &w::QueryExpression) -> usize {
    let mut deepest = 0;
    let mut budget = q.filters.len() + q.link_entities.len();
    let mut stack: Vec<(u32, usize)> = q.criteria.map(|i| (i, 1)).into_iter().collect();
    stack.extend(q.link_entities.iter().filter_map(|l| l.criteria.map(|c| (c, 1))));
    while let Some((i, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        if budget == 0 || depth > MAX_QUERY_DEPTH {
            break;
        }
        budget -= 1;
        if let Some(f) = q.filters.get(i as usize) {
            stack.extend(f.filters.iter().map(|&child| (child, depth + 1)));
        }
    }
    for l in &q.link_entities {
        let mut depth = 1;
        let mut parent = l.parent;
        while let Some(p) = parent {
            depth += 1;
            if depth > MAX_QUERY_DEPTH {
                break;
            }
            parent = q.link_entities.get(p as usize).and_then(|l| l.parent);
        }
        deepest = deepest.max(depth);
    }
    deepest
}

fn from_expression(q: &w::QueryExpression) -> m::QueryExpression {
    let budget = &mut (q.filters.len() + q.link_entities.len());
    m::QueryExpression {
        entity_name: q.entity_name.clone(),
        column_set: from_column_set(q.column_set.clone()),
        criteria: q.criteria.map(|i| from_filter(q, i, budget)).unwrap_or_default(),
        link_entities: from_links(q, None, budget),
        orders: q
            .orders
            .iter()
            .map(|o| m::OrderExpression {
                attribute_name: o.attribute_name.clone(),
                descending: o.descending,
                entity_name: o.entity_name.clone(),
            })
            .collect(),
        top_count: q.top_count,
        page_info: q.page_info.as_ref().map(|p| m::PagingInfo {
            page_number: p.page_number,
            count: p.count,
            paging_cookie: p.paging_cookie.clone(),
        }),
        distinct: q.distinct,
    }
}

/// `budget` bounds the number of nodes visited, so a plug-in's cyclic indexes cannot loop the host.
fn from_filter(q: &w::QueryExpression, i: u32, budget: &mut usize) -> m::FilterExpression {
    let Some(f) = q.filters.get(i as usize).filter(|_| *budget > 0) else {
        return m::FilterExpression::default();
    };
    *budget -= 1;
    m::FilterExpression {
        filter_operator: match f.filter_operator {
            w::LogicalOperator::And => m::LogicalOperator::And,
            w::LogicalOperator::Or => m::LogicalOperator::Or,
        },
        conditions: f
            .conditions
            .iter()
            .map(|c| m::ConditionExpression {
                entity_name: c.entity_name.clone(),
                attribute_name: c.attribute_name.clone(),
                operator: from_operator(c.operator),
                values: c.values.iter().cloned().map(from_value).collect(),
            })
            .collect(),
        filters: f.filters.iter().map(|&child| from_filter(q, child, budget)).collect(),
    }
}

fn from_links(q: &w::QueryExpression, parent: Option<u32>, budget: &mut usize) -> Vec<m::LinkEntity> {
    let mut out = Vec::new();
    for (i, l) in q.link_entities.iter().enumerate() {
        if l.parent != parent || *budget == 0 {
            continue;
        }
        *budget -= 1;
        out.push(m::LinkEntity {
            link_from_attribute_name: l.link_from_attribute_name.clone(),
            link_to_entity_name: l.link_to_entity_name.clone(),
            link_to_attribute_name: l.link_to_attribute_name.clone(),
            join_operator: match l.join_operator {
                w::JoinOperator::Inner => m::JoinOperator::Inner,
                w::JoinOperator::LeftOuter => m::JoinOperator::LeftOuter,
            },
            entity_alias: l.entity_alias.clone(),
            columns: from_column_set(l.columns.clone()),
            link_criteria: l.criteria.map(|c| from_filter(q, c, budget)).unwrap_or_default(),
            link_entities: from_links(q, Some(index(i)), budget),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(depth: usize) -> w::Query {
        let filters = (0..depth)
            .map(|i| w::FilterExpression {
                filter_operator: w::LogicalOperator::And,
                conditions: Vec::new(),
                filters: if i + 1 < depth { vec![index(i + 1)] } else { Vec::new() },
            })
            .collect();
        w::Query::Expression(w::QueryExpression {
            entity_name: "account".into(),
            column_set: w::ColumnSet::AllColumns,
            criteria: Some(0),
            filters,
            link_entities: Vec::new(),
            orders: Vec::new(),
            top_count: None,
            page_info: None,
            distinct: false,
        })
    }

    #[test]
    fn a_query_nested_too_deep_is_refused_rather_than_read_recursively() {
        assert!(from_query(chain(MAX_QUERY_DEPTH)).is_ok());
        let err = from_query(chain(100_000)).unwrap_err();
        assert_eq!(err.code, m::codes::INVALID_ARGUMENT);
    }

    #[test]
    fn a_cyclic_filter_index_ends() {
        let mut q = chain(2);
        if let w::Query::Expression(e) = &mut q {
            e.filters[1].filters = vec![0];
        }
        // Each node is visited at most once: the cycle is cut, the conversion ends.
        let Ok(m::Query::Expression(e)) = from_query(q) else { panic!("a cyclic query converts") };
        assert!(e.criteria.filters[0].filters[0].is_empty(), "the third visit finds the budget spent");
    }
}
