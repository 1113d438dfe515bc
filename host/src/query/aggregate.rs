//! FetchXML aggregates (QRY-6): `aggregate="true"` on `<fetch>`, each `<attribute>` an aggregate (`count`,
//! `countcolumn`, `sum`, `avg`, `min`, `max`) or a `groupby` (with `dategrouping` on a date), each with its
//! `alias`. The rows are those the query would return (the security filter applied to every row and every
//! linked row), read by the same engine; they are folded into one record per group as they stream by, so memory
//! is the number of groups. Reading more rows than the organization's `aggregateQueryRecordLimit` fails.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use chrono::{DateTime, Datelike, FixedOffset, Offset, Utc};
use rust_decimal::Decimal;
use xrm_model::json::value_to_json;
use xrm_model::{AliasedValue, Entity, Fault, PagingInfo, QueryExpression, Value, codes};

use super::exec::{self, Flow};
use super::filter::{cell, compare};
use super::formatted::{self, Formatter};
use super::plan::Plan;
use super::{Caller, invalid, unknown_column};
use crate::org::ColumnType;
use crate::store::{IndexKey, Store};

/// An aggregate function of FetchXML's `aggregate` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Count,
    CountColumn,
    Sum,
    Avg,
    Min,
    Max,
}

impl Function {
    pub const ALL: [(Function, &'static str); 6] = [
        (Function::Count, "count"),
        (Function::CountColumn, "countcolumn"),
        (Function::Sum, "sum"),
        (Function::Avg, "avg"),
        (Function::Min, "min"),
        (Function::Max, "max"),
    ];

    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(f, _)| *f == self).map_or("count", |(_, n)| n)
    }
}

/// FetchXML's `dategrouping`: the part of a date a group-by column groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateGrouping {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl DateGrouping {
    pub const ALL: [(DateGrouping, &'static str); 5] = [
        (DateGrouping::Day, "day"),
        (DateGrouping::Week, "week"),
        (DateGrouping::Month, "month"),
        (DateGrouping::Quarter, "quarter"),
        (DateGrouping::Year, "year"),
    ];

    /// The part of `t`, in the users' time zone (QRY-2): the day of the month, the week of the year (weeks
    /// begin on Sunday, week 1 holds 1 January), the month, the quarter or the year.
    fn part(self, t: DateTime<Utc>, zone: FixedOffset) -> i32 {
        let local = t.with_timezone(&zone).date_naive();
        match self {
            DateGrouping::Day => local.day() as i32,
            DateGrouping::Week => {
                let first = local.with_ordinal(1).unwrap_or(local);
                let offset = first.weekday().num_days_from_sunday() as i32;
                (local.ordinal0() as i32 + offset) / 7 + 1
            }
            DateGrouping::Month => local.month() as i32,
            DateGrouping::Quarter => (local.month0() / 3 + 1) as i32,
            DateGrouping::Year => local.year(),
        }
    }
}

/// What an `<attribute>` of an aggregate query computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Aggregate { function: Function, distinct: bool },
    GroupBy(Option<DateGrouping>),
}

/// An `<attribute>` of an aggregate query: its table (the alias of its link-entity; `None` for the root), its
/// column, its alias and what it computes.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub entity: Option<String>,
    pub column: String,
    pub alias: String,
    pub kind: Kind,
    /// FetchXML's `usertimezone` (default true): a date grouping reads the date in the user's time zone, or
    /// in UTC when false.
    pub user_time_zone: bool,
}

/// An aggregate query's columns and its orders (by alias, descending or not).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Aggregate {
    pub columns: Vec<Column>,
    pub orders: Vec<(String, bool)>,
}

/// The fault of an aggregate reading more rows than the limit.
pub const LIMIT_EXCEEDED: &str = "AggregateQueryRecordLimit exceeded. Cannot perform this operation.";

/// A column bound to its table: the node, the table's logical name and the column's type.
struct Bound<'a> {
    node: usize,
    table: &'a str,
    ty: &'a ColumnType,
    spec: &'a Column,
}

/// The running value of an aggregate column within a group.
#[derive(Clone)]
enum Acc {
    /// `count`: the rows.
    Count(usize),
    /// `countcolumn`: the rows where the column is not empty.
    CountColumn(usize),
    Distinct(HashSet<String>),
    Sum {
        total: Decimal,
        float: f64,
        n: usize,
    },
    /// The least (or, `max`, the greatest) value so far.
    Best {
        best: Option<Value>,
        max: bool,
    },
}

struct Group {
    key: Vec<Value>,
    accs: Vec<Acc>,
}

/// Runs an aggregate query: one record per group, ordered by the query's orders, then by its group-by
/// values; `top` or a page of them.
pub(super) fn run(
    plan: &Plan,
    store: &Store,
    caller: &Caller,
    q: &QueryExpression,
    spec: &Aggregate,
    limit: usize,
    formatter: &Formatter,
) -> Result<(Vec<Entity>, bool), Fault> {
    let bound = bind(plan, spec)?;
    let zone = caller.calendar.zone;
    let fresh: Vec<Acc> = bound.iter().filter_map(|b| start(b.spec.kind)).collect();
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<Vec<Option<IndexKey>>, usize> = HashMap::new();
    let utc = Utc.fix();
    let group_by: Vec<(&Bound, Option<DateGrouping>, FixedOffset)> = bound
        .iter()
        .filter_map(|b| match b.spec.kind {
            Kind::GroupBy(grouping) => Some((b, grouping, if b.spec.user_time_zone { zone } else { utc })),
            Kind::Aggregate { .. } => None,
        })
        .collect();
    let aggregates: Vec<&Bound> = bound.iter().filter(|b| matches!(b.spec.kind, Kind::Aggregate { .. })).collect();
    // The row's group, found by its values' index keys: values that compare equal group together, as an index
    // files them (a lookup by its id, text without regard to case, whole numbers whatever their type). The
    // keys are built in one buffer, and a group's values copied only when it is new.
    let mut signature: Vec<Option<IndexKey>> = Vec::with_capacity(group_by.len());
    let mut rows = 0usize;
    exec::run(plan, store, caller, None, &mut |row| {
        rows += 1;
        if rows > limit {
            return Err(Fault::new(codes::AGGREGATE_QUERY_RECORD_LIMIT, LIMIT_EXCEEDED));
        }
        signature.clear();
        signature.extend(group_by.iter().map(|(b, g, z)| group_key(cell(row, b.node, &b.spec.column), *g, *z)));
        let at = match index.get(signature.as_slice()) {
            Some(&at) => at,
            None => {
                let key = group_by.iter().map(|(b, g, z)| group_value(cell(row, b.node, &b.spec.column), *g, *z));
                groups.push(Group { key: key.collect(), accs: fresh.clone() });
                index.insert(signature.clone(), groups.len() - 1);
                groups.len() - 1
            }
        };
        for (acc, b) in groups[at].accs.iter_mut().zip(&aggregates) {
            add(acc, cell(row, b.node, &b.spec.column));
        }
        Ok(Flow::Continue)
    })?;
    if groups.is_empty() && group_by.is_empty() {
        // Without group-by columns, an aggregate has one row even over no rows (a count of 0).
        groups.push(Group { key: Vec::new(), accs: fresh });
    }
    let mut records: Vec<(Vec<Value>, Entity)> =
        groups.into_iter().map(|g| (g.key.clone(), record(plan, &bound, g, formatter))).collect();
    let value_of = |e: &Entity, alias: &str| e.get(alias).map_or(Value::Null, |v| v.unaliased().clone());
    records.sort_by(|(ka, a), (kb, b)| {
        for (alias, descending) in &spec.orders {
            let ord = nulls_first(&value_of(a, alias), &value_of(b, alias));
            let ord = if *descending { ord.reverse() } else { ord };
            if ord.is_ne() {
                return ord;
            }
        }
        ka.iter().zip(kb).map(|(x, y)| nulls_first(x, y)).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
    });
    let records: Vec<Entity> = records.into_iter().map(|(_, e)| e).collect();
    Ok(window(records, q.top_count, q.page_info.as_ref()))
}

/// Nulls sort first, as in SQL Server.
fn nulls_first(x: &Value, y: &Value) -> Ordering {
    y.is_null().cmp(&x.is_null()).then_with(|| compare(x, y).unwrap_or(Ordering::Equal))
}

/// `top`, or the page asked for, and whether more records follow it.
fn window(mut records: Vec<Entity>, top: Option<u32>, page: Option<&PagingInfo>) -> (Vec<Entity>, bool) {
    if let Some(top) = top {
        records.truncate(top as usize);
        return (records, false);
    }
    match page.filter(|p| p.count > 0) {
        Some(p) => {
            let count = p.count as usize;
            let start = (p.page_number.max(1) as usize - 1).saturating_mul(count).min(records.len());
            let end = start.saturating_add(count).min(records.len());
            let more = records.len() > end;
            (records.drain(start..end).collect(), more)
        }
        None => (records, false),
    }
}

/// Binds each column to its table and checks that its function fits its type.
fn bind<'a>(plan: &'a Plan, spec: &'a Aggregate) -> Result<Vec<Bound<'a>>, Fault> {
    let mut seen = HashSet::new();
    let mut bound = Vec::with_capacity(spec.columns.len());
    for c in &spec.columns {
        let node = plan.node_of(c.entity.as_deref(), None)?;
        let table = plan.nodes[node].table;
        let ty = table.columns.get(&c.column).ok_or_else(|| unknown_column(table, &c.column))?;
        if !seen.insert(c.alias.as_str()) {
            return Err(invalid(format!("The column alias '{}' is used more than once in the query", c.alias)));
        }
        let numeric = matches!(
            ty,
            ColumnType::Integer | ColumnType::BigInt | ColumnType::Decimal | ColumnType::Double | ColumnType::Money
        );
        let fits = match c.kind {
            Kind::Aggregate { function: Function::Sum | Function::Avg, .. } => numeric,
            Kind::Aggregate { function: Function::Min | Function::Max, .. } => numeric || *ty == ColumnType::DateTime,
            Kind::GroupBy(Some(_)) => *ty == ColumnType::DateTime,
            Kind::Aggregate { .. } | Kind::GroupBy(None) => true,
        };
        if !fits {
            let what = match c.kind {
                Kind::Aggregate { function, .. } => format!("the aggregate '{}'", function.name()),
                Kind::GroupBy(_) => "a dategrouping".to_owned(),
            };
            return Err(invalid(format!(
                "The column '{}.{}' (alias '{}') is of type {ty}: {what} does not apply to it",
                table.logical_name, c.column, c.alias
            )));
        }
        bound.push(Bound { node, table: &table.logical_name, ty, spec: c });
    }
    Ok(bound)
}

fn start(kind: Kind) -> Option<Acc> {
    Some(match kind {
        Kind::GroupBy(_) => return None,
        Kind::Aggregate { function: Function::CountColumn, distinct: true } => Acc::Distinct(HashSet::new()),
        Kind::Aggregate { function: Function::Count, .. } => Acc::Count(0),
        Kind::Aggregate { function: Function::CountColumn, .. } => Acc::CountColumn(0),
        Kind::Aggregate { function: Function::Sum | Function::Avg, .. } => {
            Acc::Sum { total: Decimal::ZERO, float: 0.0, n: 0 }
        }
        Kind::Aggregate { function, .. } => Acc::Best { best: None, max: function == Function::Max },
    })
}

/// A group-by column's value: the column's own, or the part of a date its grouping names.
fn group_value(v: &Value, grouping: Option<DateGrouping>, zone: FixedOffset) -> Value {
    match (grouping, v) {
        (Some(g), Value::DateTime(t)) => Value::Integer(g.part(*t, zone)),
        (Some(_), _) => Value::Null,
        (None, v) => v.clone(),
    }
}

/// The index key of a group-by column's value ([`group_value`]) without copying it.
fn group_key(v: &Value, grouping: Option<DateGrouping>, zone: FixedOffset) -> Option<IndexKey> {
    match (grouping, v) {
        (Some(g), Value::DateTime(t)) => Some(IndexKey::Number(i64::from(g.part(*t, zone)))),
        (Some(_), _) => None,
        (None, v) => IndexKey::of(v),
    }
}

/// Adds a row's value to an aggregate; nulls count only for `count`, which counts rows.
fn add(acc: &mut Acc, v: &Value) {
    match acc {
        Acc::Count(n) => *n += 1,
        Acc::CountColumn(_) | Acc::Distinct(_) | Acc::Sum { .. } | Acc::Best { .. } if v.is_null() => {}
        Acc::CountColumn(n) => *n += 1,
        Acc::Distinct(seen) => {
            seen.insert(value_to_json(v).to_string());
        }
        Acc::Sum { total, float, n } => {
            *n += 1;
            match v {
                Value::Double(d) => *float += d,
                Value::Integer(i) => *total += Decimal::from(*i),
                Value::BigInt(i) => *total += Decimal::from(*i),
                Value::Decimal(s) | Value::Money(s) => *total += Decimal::from_str(s).unwrap_or_default(),
                _ => {}
            }
        }
        Acc::Best { best, max } => {
            let wanted = if *max { Ordering::Greater } else { Ordering::Less };
            if best.as_ref().is_none_or(|b| compare(v, b) == Some(wanted)) {
                *best = Some(v.clone());
            }
        }
    }
}

/// The record of a group: each column's value as an `AliasedValue` under its alias, with its formatted value
/// (QRY-7) under the alias too: a count with thousands separators, a group's value and a sum, average, minimum
/// or maximum as the column's own values are formatted (a lookup's name, money with the base currency's
/// symbol); a date grouping's number has none.
fn record(plan: &Plan, bound: &[Bound], group: Group, formatter: &Formatter) -> Entity {
    let mut out = Entity::new(plan.nodes[0].table.logical_name.clone());
    let mut keys = group.key.into_iter();
    let mut accs = group.accs.into_iter();
    for b in bound {
        let (value, text) = match b.spec.kind {
            Kind::GroupBy(grouping) => {
                let value = keys.next().unwrap_or(Value::Null);
                let text = grouping.is_none().then(|| formatted(plan, b, &value, formatter)).flatten();
                (value, text)
            }
            Kind::Aggregate { function: function @ (Function::Count | Function::CountColumn), .. } => {
                let value = finish(accs.next(), function, b.ty);
                let text = match &value {
                    Value::Integer(n) => Some(formatted::grouped(&n.to_string())),
                    _ => None,
                };
                (value, text)
            }
            Kind::Aggregate { function, .. } => {
                let value = finish(accs.next(), function, b.ty);
                let text = formatted(plan, b, &value, formatter);
                (value, text)
            }
        };
        if !value.is_null() {
            if let Some(text) = text {
                out.formatted_values.insert(b.spec.alias.clone(), text);
            }
            out.attributes.insert(
                b.spec.alias.clone(),
                Value::Aliased(AliasedValue::new(b.table, b.spec.column.as_str(), value)),
            );
        }
    }
    out
}

/// A value formatted as its column's values are, as if on a record with no currency of its own.
fn formatted(plan: &Plan, b: &Bound, value: &Value, formatter: &Formatter) -> Option<String> {
    let table = plan.nodes[b.node].table;
    formatter.value(table, &Entity::new(table.logical_name.clone()), &b.spec.column, value)
}

fn finish(acc: Option<Acc>, function: Function, ty: &ColumnType) -> Value {
    let count = |n: usize| Value::Integer(i32::try_from(n).unwrap_or(i32::MAX));
    match acc {
        Some(Acc::Count(n) | Acc::CountColumn(n)) => count(n),
        Some(Acc::Distinct(seen)) => count(seen.len()),
        Some(Acc::Sum { n: 0, .. }) | None => Value::Null,
        Some(Acc::Sum { total, float, n }) => match (function, ty) {
            (Function::Sum, ColumnType::Integer) => i32::try_from(total)
                .map_or_else(|_| Value::BigInt(i64::try_from(total).unwrap_or(i64::MAX)), Value::Integer),
            (Function::Sum, ColumnType::BigInt) => Value::BigInt(i64::try_from(total).unwrap_or(i64::MAX)),
            (Function::Sum, ColumnType::Money) => Value::Money(total.to_string()),
            (Function::Sum, ColumnType::Decimal) => Value::Decimal(total.to_string()),
            (Function::Sum, _) => Value::Double(float),
            (_, ColumnType::Double) => Value::Double(float / n as f64),
            (_, ty) => {
                let mean = total / Decimal::from(n);
                match ty {
                    ColumnType::Money => Value::Money(mean.round_dp(2).to_string()),
                    _ => Value::Decimal(mean.round_dp(10).normalize().to_string()),
                }
            }
        },
        Some(Acc::Best { best, .. }) => best.unwrap_or(Value::Null),
    }
}

#[cfg(test)]
mod tests;
