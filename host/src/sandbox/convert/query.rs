//! Queries between the model's nested form and the WIT form, whose filters and link-entities are flat lists
//! that refer to each other by index (WIT types cannot nest themselves).
//!
//! A plug-in sends the flat form, and may send any indexes it likes (the SDK never does, the raw interface
//! can): a filter naming itself a million times, cycles, indexes past the end. The host rebuilds the tree only
//! from a flat form that describes one, refuses anything else with a fault naming the index, and does work
//! linear in what was sent, checking the execution's deadline as it goes (BOX-5).

use std::fmt;

use xrm_model as m;

use super::super::bindings::xrm::plugin::types as w;
use super::{column_set, from_column_set, from_value, value};
use crate::deadline::Meter;

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
        // The other link types have no form in this version of the interface yet (QRY-3): a plug-in sees them
        // as inner joins.
        _ => w::JoinOperator::Inner,
    }
}

pub fn query(q: &m::Query) -> w::Query {
    match q {
        m::Query::FetchXml(x) => w::Query::FetchXml(x.clone()),
        m::Query::Expression(e) => w::Query::Expression(Flattener::default().query(e)),
        m::Query::ByAttribute(b) => w::Query::ByAttribute(w::QueryByAttribute {
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

fn order(o: &m::OrderExpression) -> w::OrderExpression {
    w::OrderExpression {
        attribute_name: o.attribute_name.clone(),
        descending: o.descending,
        entity_name: o.entity_name.clone(),
    }
}

fn from_order(o: w::OrderExpression) -> m::OrderExpression {
    m::OrderExpression { attribute_name: o.attribute_name, descending: o.descending, entity_name: o.entity_name }
}

fn paging_info(p: &m::PagingInfo) -> w::PagingInfo {
    w::PagingInfo {
        page_number: p.page_number,
        count: p.count,
        paging_cookie: p.paging_cookie.clone(),
        return_total_record_count: p.return_total_record_count,
    }
}

fn from_paging_info(p: w::PagingInfo) -> m::PagingInfo {
    m::PagingInfo {
        page_number: p.page_number,
        count: p.count,
        paging_cookie: p.paging_cookie,
        return_total_record_count: p.return_total_record_count,
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
            orders: q.orders.iter().map(order).collect(),
            top_count: q.top_count,
            page_info: q.page_info.as_ref().map(paging_info),
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

/// How deep a plug-in's filters, and its link-entities, may nest: the model's query is a tree that the host
/// and the query engine walk recursively.
const MAX_QUERY_DEPTH: usize = 64;

/// Rebuilds the model's nested query from the WIT arena. The arena must describe trees: every index in range,
/// each filter named in one place only (the query's criteria, a link-entity's criteria or one filter's
/// `filters`), no cycle of filters or of link-entity parents, nothing nested deeper than [`MAX_QUERY_DEPTH`].
/// Anything else is refused with a fault naming the index. A filter named nowhere is left out.
pub fn from_query(q: w::Query) -> Result<m::Query, m::Fault> {
    match q {
        w::Query::FetchXml(x) => Ok(m::Query::FetchXml(x)),
        w::Query::Expression(e) => from_expression(e).map(m::Query::Expression),
        w::Query::ByAttribute(b) => Ok(m::Query::ByAttribute(m::QueryByAttribute {
            entity_name: b.entity_name,
            column_set: from_column_set(b.column_set),
            attributes: b.attributes,
            values: b.values.into_iter().map(from_value).collect(),
            orders: b.orders.into_iter().map(from_order).collect(),
            top_count: b.top_count,
            page_info: b.page_info.map(from_paging_info),
        })),
    }
}

fn malformed(what: String) -> m::Fault {
    m::Fault::new(m::codes::INVALID_ARGUMENT, format!("The query is malformed: {what}"))
}

/// Where a filter is named.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    Criteria,
    LinkCriteria(usize),
    Child(usize),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Criteria => write!(f, "the query's `criteria`"),
            Place::LinkCriteria(l) => write!(f, "link-entity {l}'s `criteria`"),
            Place::Child(p) => write!(f, "filter {p}'s `filters`"),
        }
    }
}

fn from_expression(q: w::QueryExpression) -> Result<m::QueryExpression, m::Fault> {
    let mut meter = Meter::new();
    let places = filter_places(&q, &mut meter)?;
    check_filter_trees(&q, &places, &mut meter)?;
    let (roots, children) = link_trees(&q.link_entities, &mut meter)?;
    let mut arena = Arena {
        filters: q.filters.into_iter().map(Some).collect(),
        links: q.link_entities.into_iter().map(Some).collect(),
        children,
        meter,
    };
    let criteria = q.criteria.map(|i| arena.filter(i as usize)).transpose()?.unwrap_or_default();
    let link_entities = roots.into_iter().map(|j| arena.link(j)).collect::<Result<_, _>>()?;
    Ok(m::QueryExpression {
        entity_name: q.entity_name,
        column_set: from_column_set(q.column_set),
        criteria,
        link_entities,
        orders: q.orders.into_iter().map(from_order).collect(),
        top_count: q.top_count,
        page_info: q.page_info.map(from_paging_info),
        distinct: q.distinct,
    })
}

/// The one place each filter is named in; an index out of range or a filter named twice is refused.
fn filter_places(q: &w::QueryExpression, meter: &mut Meter) -> Result<Vec<Option<Place>>, m::Fault> {
    let count = q.filters.len();
    let mut places: Vec<Option<Place>> = vec![None; count];
    let mut name = |i: u32, at: Place| -> Result<(), m::Fault> {
        meter.tick()?;
        match places.get_mut(i as usize) {
            None => Err(malformed(format!("{at} names filter {i}, but the query has {count} filters"))),
            Some(Some(first)) => Err(malformed(format!(
                "filter {i} is named twice, in {first} and in {at}: each filter belongs to one place"
            ))),
            Some(slot) => {
                *slot = Some(at);
                Ok(())
            }
        }
    };
    if let Some(i) = q.criteria {
        name(i, Place::Criteria)?;
    }
    for (l, link) in q.link_entities.iter().enumerate() {
        if let Some(i) = link.criteria {
            name(i, Place::LinkCriteria(l))?;
        }
    }
    for (p, filter) in q.filters.iter().enumerate() {
        for &i in &filter.filters {
            name(i, Place::Child(p))?;
        }
    }
    Ok(places)
}

/// With each filter in one place, the filters form trees below the criteria and cycles apart from them: walks
/// each tree for its depth, then refuses the first filter that is its own ancestor.
fn check_filter_trees(q: &w::QueryExpression, places: &[Option<Place>], meter: &mut Meter) -> Result<(), m::Fault> {
    let mut stack: Vec<(usize, usize)> = places
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p, Some(Place::Criteria | Place::LinkCriteria(_))))
        .map(|(i, _)| (i, 1))
        .collect();
    while let Some((i, depth)) = stack.pop() {
        meter.tick()?;
        if depth > MAX_QUERY_DEPTH {
            return Err(malformed(format!(
                "filter {i} is nested {depth} levels deep; filters nest at most {MAX_QUERY_DEPTH} levels"
            )));
        }
        let children = q.filters.get(i).map_or(&[][..], |f| &f.filters[..]);
        stack.extend(children.iter().map(|&c| (c as usize, depth + 1)));
    }
    // Not reached from the criteria: below a filter named nowhere (left out), or on or below a cycle.
    let parent = |i: usize| match places.get(i) {
        Some(Some(Place::Child(p))) => Some(*p),
        _ => None,
    };
    match first_cycle(places.len(), parent, meter)? {
        Some(i) => {
            Err(malformed(format!("filter {i} is its own ancestor: the `filters` lists form a cycle through it")))
        }
        None => Ok(()),
    }
}

/// Walks up from every node by `parent`, each node once (a walk stops at a node an earlier walk passed);
/// `Some` names a node that is its own ancestor.
fn first_cycle(
    count: usize,
    parent: impl Fn(usize) -> Option<usize>,
    meter: &mut Meter,
) -> Result<Option<usize>, m::Fault> {
    #[derive(Clone, Copy, PartialEq)]
    enum Seen {
        No,
        OnThisWalk,
        Done,
    }
    let mut seen = vec![Seen::No; count];
    let mut walk = Vec::new();
    for start in 0..count {
        let mut i = start;
        let cycle = loop {
            match seen[i] {
                Seen::Done => break None,
                Seen::OnThisWalk => break Some(i),
                Seen::No => {
                    meter.tick()?;
                    seen[i] = Seen::OnThisWalk;
                    walk.push(i);
                    match parent(i) {
                        Some(p) if p < count => i = p,
                        _ => break None,
                    }
                }
            }
        };
        if cycle.is_some() {
            return Ok(cycle);
        }
        for j in walk.drain(..) {
            seen[j] = Seen::Done;
        }
    }
    Ok(None)
}

/// The link-entities as trees: the roots (no `parent`) and each one's children, in index order, as the query
/// lists them. A parent out of range, a cycle, or nesting deeper than [`MAX_QUERY_DEPTH`] is refused.
fn link_trees(links: &[w::LinkEntity], meter: &mut Meter) -> Result<(Vec<usize>, Vec<Vec<usize>>), m::Fault> {
    let count = links.len();
    let mut roots = Vec::new();
    let mut children = vec![Vec::new(); count];
    for (j, link) in links.iter().enumerate() {
        meter.tick()?;
        match link.parent.map(|p| p as usize) {
            None => roots.push(j),
            Some(p) if p < count => children[p].push(j),
            Some(p) => {
                return Err(malformed(format!(
                    "link-entity {j}'s `parent` names link-entity {p}, but the query has {count} link-entities"
                )));
            }
        }
    }
    let mut stack: Vec<(usize, usize)> = roots.iter().map(|&j| (j, 1)).collect();
    let mut reached = 0;
    while let Some((j, depth)) = stack.pop() {
        meter.tick()?;
        reached += 1;
        if depth > MAX_QUERY_DEPTH {
            return Err(malformed(format!(
                "link-entity {j} is nested {depth} levels deep; link-entities nest at most {MAX_QUERY_DEPTH} levels"
            )));
        }
        stack.extend(children[j].iter().map(|&c| (c, depth + 1)));
    }
    // Every link-entity has one parent or none, so one not reached from a root is on or below a cycle.
    if reached < count {
        let parent = |j: usize| links.get(j).and_then(|l| l.parent).map(|p| p as usize);
        if let Some(j) = first_cycle(count, parent, meter)? {
            return Err(malformed(format!(
                "link-entity {j} is its own ancestor: the `parent` indexes form a cycle through it"
            )));
        }
    }
    Ok((roots, children))
}

/// The checked arena, taken apart as the tree is built: each filter and link-entity is moved out once.
struct Arena {
    filters: Vec<Option<w::FilterExpression>>,
    links: Vec<Option<w::LinkEntity>>,
    children: Vec<Vec<usize>>,
    meter: Meter,
}

impl Arena {
    /// Recursion as deep as the checked nesting, [`MAX_QUERY_DEPTH`] at most.
    fn filter(&mut self, i: usize) -> Result<m::FilterExpression, m::Fault> {
        let Some(f) = self.filters.get_mut(i).and_then(Option::take) else {
            return Ok(m::FilterExpression::default());
        };
        let mut conditions = Vec::with_capacity(f.conditions.len());
        for c in f.conditions {
            self.meter.tick()?;
            conditions.push(m::ConditionExpression {
                entity_name: c.entity_name,
                attribute_name: c.attribute_name,
                operator: from_operator(c.operator),
                values: c.values.into_iter().map(from_value).collect(),
            });
        }
        let filters = f.filters.into_iter().map(|c| self.filter(c as usize)).collect::<Result<_, _>>()?;
        let filter_operator = match f.filter_operator {
            w::LogicalOperator::And => m::LogicalOperator::And,
            w::LogicalOperator::Or => m::LogicalOperator::Or,
        };
        Ok(m::FilterExpression { filter_operator, conditions, filters })
    }

    fn link(&mut self, j: usize) -> Result<m::LinkEntity, m::Fault> {
        self.meter.tick()?;
        let Some(l) = self.links.get_mut(j).and_then(Option::take) else {
            return Ok(m::LinkEntity::default());
        };
        let link_criteria = l.criteria.map(|c| self.filter(c as usize)).transpose()?.unwrap_or_default();
        let children = self.children.get_mut(j).map(std::mem::take).unwrap_or_default();
        let link_entities = children.into_iter().map(|c| self.link(c)).collect::<Result<_, _>>()?;
        Ok(m::LinkEntity {
            link_from_attribute_name: l.link_from_attribute_name,
            link_to_entity_name: l.link_to_entity_name,
            link_to_attribute_name: l.link_to_attribute_name,
            join_operator: match l.join_operator {
                w::JoinOperator::Inner => m::JoinOperator::Inner,
                w::JoinOperator::LeftOuter => m::JoinOperator::LeftOuter,
            },
            entity_alias: l.entity_alias,
            columns: from_column_set(l.columns),
            link_criteria,
            link_entities,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn filter(children: Vec<u32>) -> w::FilterExpression {
        w::FilterExpression { filter_operator: w::LogicalOperator::And, conditions: Vec::new(), filters: children }
    }

    fn link(parent: Option<u32>, criteria: Option<u32>) -> w::LinkEntity {
        w::LinkEntity {
            parent,
            link_from_attribute_name: "ownerid".into(),
            link_to_entity_name: "systemuser".into(),
            link_to_attribute_name: "systemuserid".into(),
            join_operator: w::JoinOperator::Inner,
            entity_alias: None,
            columns: w::ColumnSet::AllColumns,
            criteria,
        }
    }

    fn expression(criteria: Option<u32>, filters: Vec<w::FilterExpression>, links: Vec<w::LinkEntity>) -> w::Query {
        w::Query::Expression(w::QueryExpression {
            entity_name: "account".into(),
            column_set: w::ColumnSet::AllColumns,
            criteria,
            filters,
            link_entities: links,
            orders: Vec::new(),
            top_count: None,
            page_info: None,
            distinct: false,
        })
    }

    /// A chain of `depth` filters, each the only child of the one before.
    fn chain(depth: usize) -> w::Query {
        let filters = (0..depth).map(|i| filter(if i + 1 < depth { vec![index(i + 1)] } else { Vec::new() })).collect();
        expression(Some(0), filters, Vec::new())
    }

    fn refused(q: w::Query) -> String {
        let fault = from_query(q).expect_err("refused");
        assert_eq!(fault.code, m::codes::INVALID_ARGUMENT, "{}", fault.message);
        fault.message
    }

    #[test]
    fn box_5_a_query_nested_too_deep_is_refused_naming_the_filter() {
        assert!(from_query(chain(MAX_QUERY_DEPTH)).is_ok());
        let message = refused(chain(100_000));
        assert!(message.contains("filter 64 is nested 65 levels deep"), "{message}");
    }

    #[test]
    fn box_5_a_filter_naming_itself_a_million_times_is_refused_at_the_first_repeat() {
        let started = Instant::now();
        let message = refused(expression(Some(0), vec![filter(vec![0; 1_000_000])], Vec::new()));
        assert!(started.elapsed() < Duration::from_millis(200), "{:?}", started.elapsed());
        assert_eq!(
            message,
            "The query is malformed: filter 0 is named twice, in the query's `criteria` and in filter 0's `filters`: \
             each filter belongs to one place"
        );
    }

    #[test]
    fn box_5_a_child_listed_twice_or_out_of_range_is_refused_naming_both() {
        let message = refused(expression(Some(0), vec![filter(vec![1, 1]), filter(Vec::new())], Vec::new()));
        assert!(message.contains("filter 1 is named twice, in filter 0's `filters` and in filter 0's `filters`"));
        let message = refused(expression(Some(0), vec![filter(vec![9])], Vec::new()));
        assert!(message.contains("filter 0's `filters` names filter 9, but the query has 1 filters"), "{message}");
        let message = refused(expression(Some(3), Vec::new(), Vec::new()));
        assert!(message.contains("the query's `criteria` names filter 3, but the query has 0 filters"), "{message}");
        let message = refused(expression(None, Vec::new(), vec![link(None, Some(2))]));
        assert!(message.contains("link-entity 0's `criteria` names filter 2"), "{message}");
        let message = refused(expression(Some(0), vec![filter(Vec::new())], vec![link(None, Some(0))]));
        assert!(message.contains("in the query's `criteria` and in link-entity 0's `criteria`"), "{message}");
    }

    #[test]
    fn box_5_cycles_of_filters_are_refused_naming_a_filter_on_them() {
        // Reached from the criteria, a cycle names a filter twice.
        let message = refused(expression(Some(0), vec![filter(vec![1]), filter(vec![0])], Vec::new()));
        assert!(message.contains("filter 0 is named twice, in the query's `criteria` and in filter 1's"), "{message}");
        // Apart from it, the filters are each their own ancestor.
        let message = refused(expression(None, vec![filter(vec![1]), filter(vec![2]), filter(vec![0])], Vec::new()));
        assert!(message.contains("filter 0 is its own ancestor"), "{message}");
        let message = refused(expression(None, vec![filter(Vec::new()), filter(vec![1])], Vec::new()));
        assert!(message.contains("filter 1 is its own ancestor"), "{message}");
    }

    #[test]
    fn box_5_link_parents_out_of_range_or_in_a_cycle_are_refused_naming_the_link() {
        let message = refused(expression(None, Vec::new(), vec![link(None, None), link(Some(7), None)]));
        assert!(message.contains("link-entity 1's `parent` names link-entity 7, but the query has 2"), "{message}");
        let message =
            refused(expression(None, Vec::new(), vec![link(None, None), link(Some(2), None), link(Some(1), None)]));
        assert!(message.contains("link-entity 1 is its own ancestor"), "{message}");
        let message = refused(expression(None, Vec::new(), vec![link(Some(0), None)]));
        assert!(message.contains("link-entity 0 is its own ancestor"), "{message}");
        let deep = (0..70_u32).map(|j| link(j.checked_sub(1), None)).collect();
        let message = refused(expression(None, Vec::new(), deep));
        assert!(message.contains("link-entity 64 is nested 65 levels deep"), "{message}");
    }

    #[test]
    fn box_5_a_filter_named_nowhere_is_left_out() {
        let q = expression(None, vec![filter(vec![1]), filter(Vec::new())], Vec::new());
        let Ok(m::Query::Expression(e)) = from_query(q) else { panic!("converts") };
        assert_eq!(e.criteria, m::FilterExpression::default());
    }

    #[test]
    fn box_5_a_hundred_thousand_sibling_link_entities_convert_in_linear_time() {
        let query = expression(None, Vec::new(), (0..100_000).map(|_| link(None, None)).collect());
        // Linear takes well under a second here even unoptimised on a busy machine; quadratic, as the alias
        // checks were, took minutes: under a 30 s deadline it would be cut, and the conversion would fail.
        let _deadline = crate::deadline::Scope::enter(Instant::now() + Duration::from_secs(30));
        let Ok(m::Query::Expression(e)) = from_query(query) else { panic!("converts before the deadline") };
        assert_eq!(e.link_entities.len(), 100_000);
    }

    #[test]
    fn box_5_the_conversion_stops_at_the_executions_deadline() {
        let _past = crate::deadline::Scope::enter(Instant::now());
        let fault = from_query(chain(1_000)).expect_err("stopped");
        assert_eq!(fault.code, m::codes::PLUGIN_TIMEOUT);
    }

    #[test]
    fn a_query_survives_the_round_trip_through_the_arena() {
        let condition = |name: &str| m::ConditionExpression {
            entity_name: None,
            attribute_name: name.into(),
            operator: m::ConditionOperator::Like,
            values: vec![m::Value::Text("a%".into())],
        };
        let nested = m::FilterExpression {
            filter_operator: m::LogicalOperator::Or,
            conditions: vec![condition("b")],
            filters: vec![m::FilterExpression { conditions: vec![condition("c")], ..Default::default() }],
        };
        let leaf = m::LinkEntity { entity_alias: Some("leaf".into()), ..Default::default() };
        let linked = m::LinkEntity {
            link_to_entity_name: "contact".into(),
            entity_alias: Some("c".into()),
            link_criteria: nested.clone(),
            link_entities: vec![leaf.clone(), leaf],
            ..Default::default()
        };
        let original = m::QueryExpression {
            entity_name: "account".into(),
            criteria: m::FilterExpression {
                conditions: vec![condition("a")],
                filters: vec![nested],
                ..Default::default()
            },
            link_entities: vec![linked.clone(), linked],
            top_count: Some(3),
            ..Default::default()
        };
        let back = from_query(query(&m::Query::Expression(original.clone())));
        assert_eq!(back, Ok(m::Query::Expression(original)));
    }

    /// QRY-8 and QRY-9: a QueryByAttribute, and a paging info asking for the total record count, cross whole.
    #[test]
    fn qry_8_a_query_by_attribute_survives_the_round_trip() {
        let original: m::Query = m::QueryByAttribute::new("contact")
            .with_attribute_value("lastname", "Baker")
            .with_attribute_value("parentcustomerid", m::Value::Null)
            .with_columns(["fullname"])
            .with_order("fullname", true)
            .with_page_info(m::PagingInfo { return_total_record_count: true, ..Default::default() })
            .into();
        assert_eq!(from_query(query(&original)), Ok(original));
    }
}
