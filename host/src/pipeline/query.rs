//! RetrieveMultiple over the store: QueryExpression conditions, filters, orders, top and paging on one table.

use std::cmp::Ordering;

use xrm_model::{
    ConditionExpression, ConditionOperator as Op, Entity, EntityCollection, Fault, FilterExpression, LogicalOperator,
    Query, QueryExpression, Uuid, Value, codes,
};

use super::core;
use crate::org::{Organization, Table};
use crate::store::Store;

/// Who runs the query: the user `eq-userid` and `eq-businessid` stand for, and which rows they may read.
pub struct Caller<'a> {
    pub user: Uuid,
    pub business_unit: Uuid,
    /// Whether the caller may read a row (SEC-6): rows it may not read are left out, never an error.
    pub readable: &'a dyn Fn(&Entity) -> bool,
}

fn not_supported(what: &str) -> Fault {
    Fault::new(codes::INVALID_ARGUMENT, format!("{what} is not supported yet"))
}

pub fn retrieve_multiple(
    org: &Organization,
    store: &Store,
    query: &Query,
    caller: &Caller,
) -> Result<EntityCollection, Fault> {
    let q = match query {
        Query::Expression(q) => q,
        Query::FetchXml(_) => return Err(not_supported("FetchXML")),
    };
    if !q.link_entities.is_empty() {
        return Err(not_supported("a QueryExpression with link-entities"));
    }
    let table = core::table(org, &q.entity_name)?;
    core::check_columns(table, &q.column_set)?;
    check_filter(table, &q.criteria)?;
    let mut rows: Vec<&Entity> = Vec::new();
    for row in store.rows(&table.logical_name) {
        if (caller.readable)(row) && matches_filter(row, &q.criteria, caller) {
            rows.push(row);
        }
    }
    sort(&mut rows, q)?;
    let (rows, more_records) = page(rows, q);
    Ok(EntityCollection {
        entity_name: table.logical_name.clone(),
        entities: rows.into_iter().map(|r| core::project(table, r, &q.column_set)).collect(),
        more_records,
        paging_cookie: None,
    })
}

fn check_filter(table: &Table, f: &FilterExpression) -> Result<(), Fault> {
    for c in &f.conditions {
        if c.entity_name.is_some() {
            return Err(not_supported("a condition on a link-entity"));
        }
        if !table.columns.contains_key(&c.attribute_name) {
            return Err(Fault::new(
                codes::UNKNOWN_ATTRIBUTE,
                format!("'{}' entity doesn't contain attribute with Name = '{}'", table.logical_name, c.attribute_name),
            ));
        }
    }
    f.filters.iter().try_for_each(|child| check_filter(table, child))
}

fn matches_filter(row: &Entity, f: &FilterExpression, caller: &Caller) -> bool {
    let mut results = f
        .conditions
        .iter()
        .map(|c| matches_condition(row, c, caller))
        .chain(f.filters.iter().map(|child| matches_filter(row, child, caller)));
    match f.filter_operator {
        LogicalOperator::And => results.all(|r| r),
        LogicalOperator::Or => f.is_empty() || results.any(|r| r),
    }
}

fn matches_condition(row: &Entity, c: &ConditionExpression, caller: &Caller) -> bool {
    let value = row.get(&c.attribute_name).unwrap_or(&Value::Null);
    let first = c.values.first();
    let cmp = |v: Option<&Value>| v.and_then(|v| compare(value, v));
    match c.operator {
        Op::Null => value.is_null(),
        Op::NotNull => !value.is_null(),
        _ if value.is_null() => matches!(
            c.operator,
            Op::NotEqual
                | Op::NotIn
                | Op::NotLike
                | Op::NotBeginWith
                | Op::NotEndWith
                | Op::NotBetween
                | Op::NotEqualUserId
                | Op::NotEqualBusinessId
        ),
        Op::Equal => cmp(first) == Some(Ordering::Equal),
        Op::NotEqual => cmp(first) != Some(Ordering::Equal),
        Op::GreaterThan => cmp(first) == Some(Ordering::Greater),
        Op::GreaterEqual => matches!(cmp(first), Some(Ordering::Greater | Ordering::Equal)),
        Op::LessThan => cmp(first) == Some(Ordering::Less),
        Op::LessEqual => matches!(cmp(first), Some(Ordering::Less | Ordering::Equal)),
        Op::In => c.values.iter().any(|v| compare(value, v) == Some(Ordering::Equal)),
        Op::NotIn => !c.values.iter().any(|v| compare(value, v) == Some(Ordering::Equal)),
        Op::Between | Op::NotBetween => {
            let inside = matches!(cmp(first), Some(Ordering::Greater | Ordering::Equal))
                && matches!(cmp(c.values.get(1)), Some(Ordering::Less | Ordering::Equal));
            inside == (c.operator == Op::Between)
        }
        Op::Like | Op::NotLike => like(value, first, |p| p.to_owned()) == (c.operator == Op::Like),
        Op::BeginsWith | Op::NotBeginWith => like(value, first, |p| format!("{p}%")) == (c.operator == Op::BeginsWith),
        Op::EndsWith | Op::NotEndWith => like(value, first, |p| format!("%{p}")) == (c.operator == Op::EndsWith),
        Op::EqualUserId | Op::NotEqualUserId => {
            (compare(value, &Value::Guid(caller.user)) == Some(Ordering::Equal)) == (c.operator == Op::EqualUserId)
        }
        Op::EqualBusinessId | Op::NotEqualBusinessId => {
            (compare(value, &Value::Guid(caller.business_unit)) == Some(Ordering::Equal))
                == (c.operator == Op::EqualBusinessId)
        }
    }
}

/// Compares a stored value with a query value, across the types a condition may mix (text against a lookup's
/// id, an integer against a choice or money); text compares case-insensitively, as the platform's collation.
pub fn compare(stored: &Value, wanted: &Value) -> Option<Ordering> {
    use Value::*;
    let id = |v: &Value| match v {
        Guid(g) => Some(*g),
        Lookup(r) => Some(r.id),
        Text(t) => Uuid::parse_str(t).ok(),
        _ => None,
    };
    let number = |v: &Value| match v {
        Integer(n) | Choice(n) => Some(f64::from(*n)),
        // INVARIANT: comparison only; the precision lost past 2^53 does not change an order of plain values.
        BigInt(n) => Some(*n as f64),
        Double(n) => Some(*n),
        Decimal(s) | Money(s) => s.parse().ok(),
        Text(s) => s.parse().ok(),
        _ => None,
    };
    match (stored, wanted) {
        (Text(a), Text(b)) => Some(a.to_lowercase().cmp(&b.to_lowercase())),
        (Boolean(a), Boolean(b)) => Some(a.cmp(b)),
        (DateTime(a), DateTime(b)) => Some(a.cmp(b)),
        (DateTime(a), Text(b)) => xrm_model::json::parse_datetime(b).map(|b| a.cmp(&b)),
        (Guid(_) | Lookup(_), _) | (_, Guid(_) | Lookup(_)) => Some(id(stored)?.cmp(&id(wanted)?)),
        (Choices(a), Integer(b) | Choice(b)) => Some(if a.contains(b) { Ordering::Equal } else { Ordering::Less }),
        _ => number(stored)?.partial_cmp(&number(wanted)?),
    }
}

/// SQL `LIKE` with `%` and `_`, case-insensitive.
fn like(value: &Value, pattern: Option<&Value>, shape: impl Fn(&str) -> String) -> bool {
    let (Value::Text(text), Some(Value::Text(p))) = (value, pattern) else { return false };
    let pattern: Vec<char> = shape(p).to_lowercase().chars().collect();
    let text: Vec<char> = text.to_lowercase().chars().collect();
    like_match(&text, &pattern)
}

fn like_match(text: &[char], pattern: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('%', rest)) => (0..=text.len()).any(|i| like_match(&text[i..], rest)),
        Some(('_', rest)) => !text.is_empty() && like_match(&text[1..], rest),
        Some((c, rest)) => text.first() == Some(c) && like_match(&text[1..], rest),
    }
}

fn sort(rows: &mut [&Entity], q: &QueryExpression) -> Result<(), Fault> {
    if q.orders.iter().any(|o| o.entity_name.is_some()) {
        return Err(not_supported("an order on a link-entity"));
    }
    rows.sort_by(|a, b| {
        for o in &q.orders {
            let (va, vb) =
                (a.get(&o.attribute_name).unwrap_or(&Value::Null), b.get(&o.attribute_name).unwrap_or(&Value::Null));
            // Nulls sort first, as in SQL Server.
            let ord = match (va.is_null(), vb.is_null()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
                _ => compare(va, vb).unwrap_or(Ordering::Equal),
            };
            let ord = if o.descending { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    });
    Ok(())
}

fn page<'a>(rows: Vec<&'a Entity>, q: &QueryExpression) -> (Vec<&'a Entity>, bool) {
    if let Some(top) = q.top_count {
        let top = top as usize;
        return (rows.into_iter().take(top).collect(), false);
    }
    match &q.page_info {
        Some(p) if p.count > 0 => {
            let start = (p.page_number.max(1) as usize - 1) * p.count as usize;
            let more = rows.len() > start + p.count as usize;
            (rows.into_iter().skip(start).take(p.count as usize).collect(), more)
        }
        _ => (rows, false),
    }
}
